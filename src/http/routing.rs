//! Routes for the official-document flow: routing, actions, the trail, the inbox, opinions and
//! the live event stream.

use std::convert::Infallible;
use std::time::Duration;

use axum::Json;
use axum::extract::multipart::{Field, Multipart};
use axum::extract::{FromRequest, Request, State};
use axum::http::StatusCode;
use axum::response::sse::{Event, KeepAlive, Sse};
use futures::{Stream, StreamExt};
use serde::Deserialize;
use utoipa::IntoParams;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::Page;
use super::documents::{multipart_problem, read_small_field};
use super::error::{ApiResult, Problem};
use super::extract::{ApiJson, ApiPath, ApiQuery, CurrentUser, body_rejection, content_type, is_json, parse_json};
use crate::domain::people::Principal;
use crate::domain::route_templates::RouteTemplate;
use crate::services::documents::DocumentView;
use crate::services::opinions::{OpinionView, PreparedOpinion, ink_signature_matches};
use crate::services::routing::{ActionRequest, InboxItem, InboxQuery, RouteRequest, RouteView, TrailEntry};
use crate::services::uploads::UploadedFile;
use crate::services::{Henji, clamp_limit};

pub fn router() -> OpenApiRouter<Henji> {
    OpenApiRouter::new()
        .routes(routes!(start_route, get_route))
        .routes(routes!(act))
        .routes(routes!(trail))
        .routes(routes!(inbox))
        .routes(routes!(add_opinion, list_opinions))
        .routes(routes!(list_templates))
        .routes(routes!(events))
}

/// Put the document on a route (inline steps or a template); it goes `in_review`.
#[utoipa::path(post, path = "/api/v1/documents/{id}/route", tag = "routes", security(("bearer" = [])), params(("id" = String, Path)),
    request_body = RouteRequest,
    responses((status = 201, body = RouteView), (status = 404, body = Problem), (status = 409, body = Problem), (status = 422, body = Problem)))]
async fn start_route(State(henji): State<Henji>, user: CurrentUser, ApiPath(id): ApiPath<String>, ApiJson(body): ApiJson<RouteRequest>) -> ApiResult<(StatusCode, Json<RouteView>)> {
    Ok((StatusCode::CREATED, Json(henji.start_route(&user.principal, &id, body).await?)))
}

/// The document's route: its steps as planned, status, current step, sign-off and distributions.
#[utoipa::path(get, path = "/api/v1/documents/{id}/route", tag = "routes", security(("bearer" = [])), params(("id" = String, Path)),
    responses((status = 200, body = RouteView), (status = 404, body = Problem)))]
async fn get_route(State(henji): State<Henji>, user: CurrentUser, ApiPath(id): ApiPath<String>) -> ApiResult<Json<RouteView>> {
    Ok(Json(henji.get_route(&user.principal, &id).await?))
}

/// Act on the document: approve, return, withdraw, forward, jump, sign or distribute.
#[utoipa::path(post, path = "/api/v1/documents/{id}/actions", tag = "routes", security(("bearer" = [])), params(("id" = String, Path)),
    request_body = ActionRequest,
    responses((status = 200, body = DocumentView), (status = 403, body = Problem), (status = 404, body = Problem), (status = 409, body = Problem), (status = 422, body = Problem)))]
async fn act(State(henji): State<Henji>, user: CurrentUser, ApiPath(id): ApiPath<String>, ApiJson(body): ApiJson<ActionRequest>) -> ApiResult<Json<DocumentView>> {
    Ok(Json(henji.act_on_document(&user.principal, &id, body).await?))
}

/// 办理轨迹: one record per assignee per pass through a step, steps not yet reached included.
#[utoipa::path(get, path = "/api/v1/documents/{id}/trail", tag = "routes", security(("bearer" = [])), params(("id" = String, Path)),
    responses((status = 200, body = Page<TrailEntry>), (status = 404, body = Problem)))]
async fn trail(State(henji): State<Henji>, user: CurrentUser, ApiPath(id): ApiPath<String>) -> ApiResult<Json<Page<TrailEntry>>> {
    Ok(Json(Page { items: henji.trail(&user.principal, &id).await?, next_cursor: None }))
}

#[derive(Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct InboxParams {
    /// `false` (default): pending tasks (待办); `true`: handled ones (已办).
    done: Option<bool>,
    /// Only tasks past their due time (催办).
    overdue: Option<bool>,
    limit: Option<i64>,
    cursor: Option<String>,
}

/// 个人工作台: the caller's pending tasks, most urgent first, then oldest.
#[utoipa::path(get, path = "/api/v1/inbox", tag = "routes", security(("bearer" = [])), params(InboxParams),
    responses((status = 200, body = Page<InboxItem>), (status = 400, body = Problem)))]
async fn inbox(State(henji): State<Henji>, user: CurrentUser, ApiQuery(q): ApiQuery<InboxParams>) -> ApiResult<Json<Page<InboxItem>>> {
    let limit = clamp_limit(q.limit, 50, 500);
    let offset = match q.cursor.as_deref() {
        None | Some("") => 0,
        Some(c) => c.parse::<i64>().ok().filter(|n| *n >= 0).ok_or_else(|| Problem::bad_request("cursor must come from next_cursor"))?,
    };
    let query = InboxQuery { done: q.done.unwrap_or(false), overdue: q.overdue.unwrap_or(false), offset, limit: limit + 1 };
    let items = henji.inbox(&user.principal, &query).await?;
    // The inbox is ordered by urgency and time, not by a key, so the cursor is a position.
    let more = items.len() as i64 > limit;
    let mut page = Page::from_items(items, limit, |_| String::new());
    page.next_cursor = more.then(|| (offset + limit).to_string());
    Ok(Json(page))
}

/// Write an opinion (批示意见): JSON `{"text"}`, or multipart with a part `ink` (PNG, JPEG or
/// SVG, kept exactly as uploaded) and an optional part `text`.
#[utoipa::path(post, path = "/api/v1/documents/{id}/opinions", tag = "routes", security(("bearer" = [])), params(("id" = String, Path)),
    request_body(content((Object = "application/json"), (Object = "multipart/form-data"))),
    responses((status = 201, body = OpinionView), (status = 403, body = Problem), (status = 404, body = Problem), (status = 409, body = Problem), (status = 415, body = Problem), (status = 422, body = Problem)))]
async fn add_opinion(State(henji): State<Henji>, user: CurrentUser, ApiPath(id): ApiPath<String>, req: Request) -> ApiResult<(StatusCode, Json<OpinionView>)> {
    #[derive(Deserialize)]
    #[serde(deny_unknown_fields)]
    struct TextOpinion {
        text: String,
    }
    let who = &user.principal;
    let ct = content_type(req.headers()).map(str::to_owned);
    if is_json(ct.as_deref()) {
        let bytes = axum::body::Bytes::from_request(req, &henji).await.map_err(body_rejection)?;
        let body: TextOpinion = parse_json(&bytes)?;
        let prepared = henji.prepare_opinion(who, &id).await?;
        return Ok((StatusCode::CREATED, Json(henji.add_opinion(who, prepared, Some(body.text), None).await?)));
    }
    if !ct.as_deref().is_some_and(|c| c.to_ascii_lowercase().starts_with("multipart/form-data")) {
        return Err(Problem::unsupported_media_type("expected application/json or multipart/form-data"));
    }
    let mut multipart = Multipart::from_request(req, &henji).await.map_err(|e| Problem::bad_request(e.body_text()))?;
    let prepared = henji.prepare_opinion(who, &id).await?;
    let (mut text, mut ink): (Option<String>, Option<UploadedFile>) = (None, None);
    while let Some(field) = multipart.next_field().await.map_err(multipart_problem)? {
        match field.name().unwrap_or("") {
            "text" if text.is_none() => {
                let bytes = read_small_field(field, 64 * 1024).await?;
                text = Some(String::from_utf8(bytes).map_err(|_| Problem::invalid("text", "is not UTF-8"))?);
            }
            "ink" if ink.is_none() => ink = Some(receive_ink(&henji, &prepared, field).await?),
            other => return Err(Problem::invalid(other.chars().take(64).collect::<String>(), "unknown or repeated part; expected one `ink` and at most one `text`")),
        }
    }
    Ok((StatusCode::CREATED, Json(henji.add_opinion(who, prepared, text, ink).await?)))
}

/// A handwriting image part, streamed in; its first bytes must be what its type says.
pub(crate) async fn receive_ink(henji: &Henji, prepared: &PreparedOpinion, mut field: Field<'_>) -> ApiResult<UploadedFile> {
    let media_type = field.content_type().map(str::to_owned);
    let mut upload = henji.ink_upload(prepared, media_type.as_deref())?;
    let mut first = true;
    loop {
        match field.chunk().await {
            Ok(Some(chunk)) => {
                if first && !ink_signature_matches(media_type.as_deref().unwrap_or(""), &chunk) {
                    upload.abort().await;
                    return Err(Problem::invalid("ink", "the image's bytes do not match its Content-Type (PNG, JPEG or SVG)"));
                }
                first = false;
                if let Err(e) = upload.write(chunk).await {
                    upload.abort().await;
                    return Err(e.into());
                }
            }
            Ok(None) => break,
            Err(e) => {
                upload.abort().await;
                return Err(multipart_problem(e));
            }
        }
    }
    if first {
        upload.abort().await;
        return Err(Problem::invalid("ink", "the image is empty"));
    }
    Ok(henji.finish_upload(upload).await?)
}

/// Opinions, oldest first; a handwriting image is fetched at `/api/v1/blobs/{ink_sha256}`.
#[utoipa::path(get, path = "/api/v1/documents/{id}/opinions", tag = "routes", security(("bearer" = [])), params(("id" = String, Path), super::ListQuery),
    responses((status = 200, body = Page<OpinionView>), (status = 404, body = Problem)))]
async fn list_opinions(State(henji): State<Henji>, user: CurrentUser, ApiPath(id): ApiPath<String>, ApiQuery(q): ApiQuery<super::ListQuery>) -> ApiResult<Json<Page<OpinionView>>> {
    let limit = clamp_limit(q.limit, 50, 500);
    let items = henji.list_opinions(&user.principal, &id, q.cursor.as_deref().unwrap_or(""), limit + 1).await?;
    Ok(Json(Page::from_items(items, limit, |o| o.id.clone())))
}

/// The route templates (`schemas/routes/`), with their steps and assignee selectors.
#[utoipa::path(get, path = "/api/v1/route-templates", tag = "routes", security(("bearer" = [])),
    responses((status = 200, body = Page<RouteTemplate>)))]
async fn list_templates(State(henji): State<Henji>, _user: CurrentUser) -> Json<Page<RouteTemplate>> {
    Json(Page { items: henji.route_templates().iter().cloned().collect(), next_cursor: None })
}

/// Server-sent events for the caller: `ready` once subscribed, then `task` whenever a task
/// arrives in their inbox (`{"document","title","urgency","step","received_at"}`), and
/// `resync` if the stream fell behind (reload the inbox).
#[utoipa::path(get, path = "/api/v1/events", tag = "routes", security(("bearer" = [])),
    responses((status = 200, content_type = "text/event-stream", body = String)))]
async fn events(State(henji): State<Henji>, user: CurrentUser) -> Sse<impl Stream<Item = Result<Event, Infallible>>> {
    sse(&henji, &user.principal)
}

/// The caller's live events as server-sent events (the API's and the web desk's).
pub(crate) fn sse(henji: &Henji, who: &Principal) -> Sse<impl Stream<Item = Result<Event, Infallible>> + use<>> {
    let events = henji.live_events(who).map(|e| Ok(Event::default().event(e.name).data(e.data.to_string())));
    Sse::new(events).keep_alive(KeepAlive::new().interval(Duration::from_secs(15)))
}
