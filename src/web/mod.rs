//! The web desk (办公桌面): server-rendered pages in Chinese for clerks, leaders and
//! archivists, served at `/` beside the API. Another access layer: each handler reads the
//! request, calls the services (the same ones the API calls), and renders a template; it
//! decides nothing the API does not decide the same way. What a person may do on a page
//! (which buttons show) is asked of the services too.
//!
//! Security: a session cookie (`HttpOnly`, `SameSite=Strict`, `Secure` behind TLS) backed by
//! the API's sessions; every state-changing request carries a CSRF token; every answer sends a
//! strict Content-Security-Policy (no inline script or style, no framing) and authenticated
//! pages are never cached.

use axum::Router;
use axum::extract::Request;
use axum::http::{HeaderValue, header};
use axum::middleware::{self, Next};
use axum::response::Response;
use axum::routing::{get, post};

use crate::services::Henji;

mod admin;
mod archive;
mod assets;
mod desk;
mod documents;
mod error;
mod forms;
mod pages;
mod search;
mod session;

pub use error::PageError;
pub use session::Viewer;

/// Every page and form of the desk.
pub fn router() -> Router<Henji> {
    Router::new()
        .route("/", get(desk::home))
        .route("/login", post(session::login))
        .route("/logout", post(session::logout))
        .route("/me/color", post(desk::set_color))
        .route("/inbox", get(desk::inbox))
        .route("/inbox/rows", get(desk::inbox_rows))
        .route("/events", get(desk::events))
        .route("/documents/new", get(documents::register_form).post(documents::register))
        .route("/documents/{id}", get(documents::page))
        .route("/documents/{id}/revise", post(documents::revise))
        .route("/documents/{id}/opinions", post(documents::add_opinion))
        .route("/documents/{id}/route", post(documents::start_route))
        .route("/documents/{id}/act", post(documents::act))
        .route("/documents/{id}/archive", post(archive::archive_document))
        .route("/documents/{id}/print", get(documents::print))
        .route("/documents/{id}/traces.docx", get(documents::traces_docx))
        .route("/files/{id}/{sha256}", get(documents::file))
        .route("/files/{id}/{sha256}/thumbnail", get(documents::thumbnail))
        .route("/files/{id}/{sha256}/text", get(documents::attachment_text))
        .route("/documents/{id}/attachments/{sha256}/retry", post(documents::retry_text))
        .route("/search", get(search::page))
        .route("/archive", get(archive::page))
        .route("/archive/{archive_no}/package", get(archive::package))
        .route("/archive/{archive_no}/dispose", post(archive::dispose))
        .route("/admin", get(admin::page))
        .route("/admin/departments", post(admin::create_department))
        .route("/admin/users", post(admin::create_user))
        .route("/admin/users/{username}", post(admin::update_user))
        .route("/admin/fixity", post(admin::run_fixity))
        .route("/assets/legend.css", get(assets::legend_css))
        .route("/assets/{name}", get(assets::asset))
        .layer(middleware::from_fn(security_headers))
}

/// The policy every desk answer carries: scripts and styles from this server's files only, no
/// plugins, no framing by anyone (files shown inline are framed by our own pages only).
const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' blob: data:; connect-src 'self'; \
    frame-src 'self'; form-action 'self'; base-uri 'none'; object-src 'none'; frame-ancestors 'none'";
const CSP_FILES: &str = "default-src 'none'; img-src 'self'; frame-ancestors 'self'";

async fn security_headers(req: Request, next: Next) -> Response {
    let file = req.uri().path().starts_with("/files/");
    let mut response = next.run(req).await;
    let headers = response.headers_mut();
    let (csp, frame) = if file { (CSP_FILES, "SAMEORIGIN") } else { (CSP, "DENY") };
    headers.insert(header::CONTENT_SECURITY_POLICY, HeaderValue::from_static(csp));
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static(frame));
    headers.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    headers.insert(header::REFERRER_POLICY, HeaderValue::from_static("same-origin"));
    // Pages and files name documents, some classified: none is kept by a browser or proxy,
    // except the assets, which say otherwise themselves.
    if !headers.contains_key(header::CACHE_CONTROL) {
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
    response
}
