//! The sign-in page and the desk (个人桌面), the inbox (待办/已办) with its live updates, and
//! the frame every page shares.

use std::convert::Infallible;

use axum::extract::{Form, FromRequestParts, Query, Request, State};
use axum::http::{HeaderValue, header};
use axum::response::sse::{Event, Sse};
use axum::response::{IntoResponse, Redirect, Response};
use futures::Stream;
use serde::Deserialize;

use super::pages::{Chrome, Desk, Inbox, InboxRows, IntoPage, color_class};
use super::session::sign_in_page;
use super::{PageError, Viewer, assets};
use crate::domain::palette::PALETTE;
use crate::services::Henji;
use crate::services::people::ProfileChange;
use crate::services::routing::InboxQuery;

/// Tasks a page lists at most.
const INBOX_PAGE: i64 = 200;

/// The frame of a page for `viewer`: the menu their roles open, their 待办 count.
pub async fn chrome(henji: &Henji, viewer: &Viewer, here: &'static str) -> Result<Chrome, PageError> {
    let who = &viewer.principal;
    let todo = henji.pending_count(who).await?;
    Ok(Chrome {
        display_name: who.display_name.clone(),
        department: who.department.clone(),
        color: who.color.clone(),
        color_class: color_class(&who.color),
        csrf: viewer.csrf.clone(),
        css: assets::css_name(),
        js: assets::js_name(),
        menu: henji.menu(who),
        here,
        todo,
        kinds: henji.kinds().iter().map(|k| (k.name.clone(), k.title.clone())).collect(),
    })
}

#[derive(Deserialize)]
pub struct NextQuery {
    next: Option<String>,
}

/// `/`: the sign-in page, or the desk once signed in.
pub async fn home(State(henji): State<Henji>, req: Request) -> Result<Response, PageError> {
    let (mut parts, _) = req.into_parts();
    let viewer = match Viewer::from_request_parts(&mut parts, &henji).await {
        Ok(v) => v,
        Err(PageError::SignIn { .. }) => {
            let next = Query::<NextQuery>::try_from_uri(&parts.uri).ok().and_then(|q| q.0.next).unwrap_or_else(|| "/".into());
            return Ok(sign_in_page(&parts.headers, &next, None, String::new()));
        }
        Err(e) => return Err(e),
    };
    let summary = henji.desk(&viewer.principal).await?;
    let palette = PALETTE.iter().map(|c| (color_class(c), *c)).collect();
    Ok(Desk { chrome: chrome(&henji, &viewer, "desk").await?, summary, palette }.into_page())
}

#[derive(Deserialize)]
pub struct ColorForm {
    color: String,
    #[serde(rename = "_csrf", default)]
    csrf: String,
}

/// Choosing one's colour in the traces.
pub async fn set_color(State(henji): State<Henji>, viewer: Viewer, Form(form): Form<ColorForm>) -> Result<Response, PageError> {
    viewer.check_csrf(Some(&form.csrf))?;
    henji.update_profile(&viewer.principal, ProfileChange { color: Some(form.color), ..Default::default() }).await?;
    Ok(Redirect::to("/").into_response())
}

#[derive(Deserialize, Default)]
pub struct InboxParams {
    #[serde(default)]
    done: bool,
    #[serde(default)]
    overdue: bool,
}

pub async fn inbox(State(henji): State<Henji>, viewer: Viewer, Query(p): Query<InboxParams>) -> Result<Response, PageError> {
    let items = henji.inbox(&viewer.principal, &InboxQuery { done: p.done, overdue: p.overdue, offset: 0, limit: INBOX_PAGE }).await?;
    Ok(Inbox { chrome: chrome(&henji, &viewer, "inbox").await?, items, done: p.done, overdue: p.overdue }.into_page())
}

/// The 待办 rows alone, for the live update; `X-Todo-Count` carries the count for the menu.
pub async fn inbox_rows(State(henji): State<Henji>, viewer: Viewer) -> Result<Response, PageError> {
    let items = henji.inbox(&viewer.principal, &InboxQuery { done: false, overdue: false, offset: 0, limit: INBOX_PAGE }).await?;
    let count = henji.pending_count(&viewer.principal).await?;
    let mut response = InboxRows { items, done: false }.into_page();
    response.headers_mut().insert("x-todo-count", HeaderValue::from(count));
    Ok(response)
}

/// The viewer's live events (the API's stream, for a cookie session).
pub async fn events(State(henji): State<Henji>, viewer: Viewer) -> Sse<impl Stream<Item = Result<Event, Infallible>>> {
    crate::http::routing::sse(&henji, &viewer.principal)
}

/// Answers for the desk's script in JSON, and a redirect for a plain form.
pub fn wants_json(headers: &axum::http::HeaderMap) -> bool {
    headers.get(header::ACCEPT).and_then(|v| v.to_str().ok()).is_some_and(|a| a.contains("application/json"))
}
