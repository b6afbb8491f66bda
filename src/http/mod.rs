//! The HTTP API (API.md), an access layer: it parses, authenticates, calls one service and maps
//! its answer or error to JSON or a problem document; it decides nothing itself. Every route is
//! listed in `router()`.

use std::sync::Arc;
use std::time::Instant;

use axum::Json;
use axum::extract::{DefaultBodyLimit, MatchedPath, Request, State};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use axum::http::{HeaderValue, header};
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::set_header::SetResponseHeaderLayer;
use tower_http::trace::TraceLayer;
use utoipa::openapi::security::{Http, HttpAuthScheme, SecurityScheme};
use utoipa::{IntoParams, OpenApi, ToSchema};
use utoipa_axum::router::OpenApiRouter;

use crate::services::Henji;
use crate::telemetry::{RequestLabels, RouteLabels, method_label};

pub mod admin;
pub mod archive;
pub mod documents;
pub mod error;
pub mod extract;
pub mod kinds;
pub mod ops;
pub mod people;
pub mod routing;
pub mod search;
pub mod traces;

use error::Problem;

/// `{"items": [...], "next_cursor": ...}`, the envelope of every list.
#[derive(Serialize, ToSchema)]
pub struct Page<T> {
    pub items: Vec<T>,
    pub next_cursor: Option<String>,
}

impl<T> Page<T> {
    /// `items` was fetched with one extra row to learn whether another page follows.
    pub fn from_items(mut items: Vec<T>, limit: i64, key: impl Fn(&T) -> String) -> Self {
        let more = items.len() as i64 > limit;
        items.truncate(limit.max(0) as usize);
        let next_cursor = if more { items.last().map(key) } else { None };
        Self { items, next_cursor }
    }

    pub fn map<U>(self, f: impl FnMut(T) -> U) -> Page<U> {
        Page { items: self.items.into_iter().map(f).collect(), next_cursor: self.next_cursor }
    }
}

/// `limit` (default 50, clamped to 500) and `cursor` (from `next_cursor`).
#[derive(Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ListQuery {
    pub limit: Option<i64>,
    pub cursor: Option<String>,
}

#[derive(OpenApi)]
#[openapi(
    info(title = "henji", description = "Official documents as content-addressed revisions: traces, search, encryption at rest and archive packages."),
    components(schemas(Problem)),
    modifiers(&BearerAuth)
)]
struct ApiDoc;

struct BearerAuth;

impl utoipa::Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme("bearer", SecurityScheme::Http(Http::new(HttpAuthScheme::Bearer)));
    }
}

/// Every route of the service, and the OpenAPI document generated from them.
pub fn router(henji: Henji, max_body: usize) -> axum::Router {
    let (api, openapi) = OpenApiRouter::with_openapi(ApiDoc::openapi())
        .merge(people::router())
        .merge(documents::router())
        .merge(traces::router())
        .merge(routing::router())
        .merge(archive::router())
        .merge(search::router())
        .merge(kinds::router())
        .merge(admin::router())
        .merge(ops::router())
        .split_for_parts();
    let openapi = Arc::new(openapi);
    let routes = api.merge(crate::web::router()).route(
        "/api/v1/openapi.json",
        axum::routing::get(move || {
            let doc = openapi.clone();
            async move { Json(doc.as_ref().clone()) }
        }),
    )
    .fallback(|| async { Problem::not_found("no such route; see /api/v1/openapi.json") })
    .method_not_allowed_fallback(|| async {
        Problem::new(axum::http::StatusCode::METHOD_NOT_ALLOWED, "method-not-allowed", "Method not allowed", "this route does not take that method")
    })
    // Per route, inside the router: only there is the matched route template (`MatchedPath`)
    // known, and metrics are labelled by it.
    .layer(middleware::from_fn_with_state(henji.clone(), record_metrics))
    .with_state(henji);
    // Around the router as a whole: `Router::layer` would box each layer around every route,
    // and every request would clone those boxes.
    let around = tower::ServiceBuilder::new()
        // Every answer, the API's and the errors' too, is never sniffed, framed or shown as a
        // page that runs anything; the desk's pages set their own policy first.
        .layer(SetResponseHeaderLayer::if_not_present(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff")))
        .layer(SetResponseHeaderLayer::if_not_present(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY")))
        .layer(SetResponseHeaderLayer::if_not_present(header::CONTENT_SECURITY_POLICY, HeaderValue::from_static("default-src 'none'; frame-ancestors 'none'")))
        .layer(SetResponseHeaderLayer::if_not_present(header::REFERRER_POLICY, HeaderValue::from_static("no-referrer")))
        .layer(CatchPanicLayer::custom(|_| Problem::internal().into_response()))
        // Spans name the path, never the query string: a search query may quote classified text.
        .layer(TraceLayer::new_for_http().make_span_with(|req: &axum::http::Request<axum::body::Body>| {
            tracing::debug_span!("request", method = %req.method(), path = %req.uri().path())
        }))
        .layer(axum::Extension(archive::BodyLimit(max_body)))
        .layer(DefaultBodyLimit::max(max_body))
        .service(routes);
    axum::Router::new().fallback_service(around)
}

/// Counts and times every request by its route template (never by its raw path, which would
/// put ids and query text into the metrics).
async fn record_metrics(State(henji): State<Henji>, req: Request, next: Next) -> Response {
    let started = Instant::now();
    let method = method_label(req.method());
    let route = req.extensions().get::<MatchedPath>().map(|p| p.as_str().to_owned()).unwrap_or_else(|| "unmatched".into());
    let response = next.run(req).await;
    let status = response.status().as_u16();
    let metrics = henji.metrics();
    metrics.requests.get_or_create(&RequestLabels { method: method.clone(), route: route.clone(), status }).inc();
    metrics.latency.get_or_create(&RouteLabels { method, route }).observe(started.elapsed().as_secs_f64());
    response
}
