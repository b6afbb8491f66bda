//! Routes for traces (痕迹): JSON spans, a self-contained HTML page, the clean text, and a Word
//! document with real tracked changes (API.md "Traces").

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::error::{ApiResult, Problem};
use super::extract::{ApiPath, ApiQuery, CurrentUser};
use crate::domain::traces::{SpanOp, docx, html};
use crate::services::Henji;
use crate::services::traces::{CleanText, ComputedTrace, TraceStart};

pub fn router() -> OpenApiRouter<Henji> {
    OpenApiRouter::new().routes(routes!(get_traces)).routes(routes!(get_traces_docx))
}

#[derive(Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
struct TracesQuery {
    /// `json` (default) or `html`.
    format: Option<String>,
    /// `traces` (default) or `clean`.
    view: Option<String>,
    /// A revision id, or `empty`; default: the first revision.
    from: Option<String>,
    /// A revision id; default: the head.
    to: Option<String>,
}

#[derive(Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
struct RangeQuery {
    from: Option<String>,
    to: Option<String>,
}

fn start(from: Option<String>) -> Option<TraceStart> {
    from.map(|f| if f == "empty" { TraceStart::Empty } else { TraceStart::Revision(f) })
}

#[derive(Serialize, ToSchema)]
struct TracesJson<'a> {
    document: &'a str,
    /// A revision id, or `empty`.
    from: &'a str,
    to: &'a str,
    authors: Vec<AuthorJson<'a>>,
    spans: Vec<SpanJson<'a>>,
}

#[derive(Serialize, ToSchema)]
struct AuthorJson<'a> {
    user: &'a str,
    display_name: &'a str,
    department: &'a str,
    color: &'a str,
    revisions: Vec<RevisionRef<'a>>,
}

#[derive(Serialize, ToSchema)]
struct RevisionRef<'a> {
    id: &'a str,
    created_at: &'a str,
}

#[derive(Serialize, ToSchema)]
struct SpanJson<'a> {
    text: &'a str,
    op: SpanOp,
    #[serde(skip_serializing_if = "Option::is_none")]
    author: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    revision: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    deleted_by: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    deleted_in: Option<&'a str>,
}

#[derive(Serialize, ToSchema)]
struct CleanJson<'a> {
    document: &'a str,
    to: &'a str,
    text: &'a str,
}

/// Every reviewer's insertions and deletions between `from` and `to`, or the clean text.
#[utoipa::path(get, path = "/api/v1/documents/{id}/traces", tag = "traces", security(("bearer" = [])), params(("id" = String, Path), TracesQuery),
    responses(
        (status = 200, description = "JSON spans (`view=clean`: `{document, to, text}`) or an HTML page", content(
            (TracesJson = "application/json"),
            (String = "text/html; charset=utf-8")
        )),
        (status = 404, body = Problem), (status = 422, body = Problem)))]
async fn get_traces(State(henji): State<Henji>, user: CurrentUser, ApiPath(id): ApiPath<String>, ApiQuery(q): ApiQuery<TracesQuery>) -> ApiResult<Response> {
    let html = match q.format.as_deref() {
        None | Some("json") => false,
        Some("html") => true,
        Some(_) => return Err(Problem::invalid("format", "expected `json` or `html`")),
    };
    let clean = match q.view.as_deref() {
        None | Some("traces") => false,
        Some("clean") => true,
        Some(_) => return Err(Problem::invalid("view", "expected `traces` or `clean`")),
    };
    if clean {
        let c = henji.clean_text(&user.principal, &id, q.to.as_deref()).await?;
        return Ok(if html { html_response(html::clean_page(&c.title, &c.to, &c.text)) } else { clean_json(&c) });
    }
    let trace = henji.traces(&user.principal, &id, start(q.from), q.to.as_deref()).await?;
    Ok(if html { html_response(html::traces_page(&trace.report())) } else { traces_json(&trace) })
}

/// The traces as a Word document whose marks are tracked changes: "accept all" gives `to`,
/// "reject all" gives `from`.
#[utoipa::path(get, path = "/api/v1/documents/{id}/traces.docx", tag = "traces", security(("bearer" = [])), params(("id" = String, Path), RangeQuery),
    responses((status = 200, content_type = "application/vnd.openxmlformats-officedocument.wordprocessingml.document", body = Vec<u8>),
        (status = 404, body = Problem), (status = 422, body = Problem)))]
async fn get_traces_docx(State(henji): State<Henji>, user: CurrentUser, ApiPath(id): ApiPath<String>, ApiQuery(q): ApiQuery<RangeQuery>) -> ApiResult<Response> {
    let trace = henji.traces(&user.principal, &id, start(q.from), q.to.as_deref()).await?;
    let document = trace.document.clone();
    // Deflating a long document is CPU work: off the async workers.
    let bytes = tokio::task::spawn_blocking(move || docx::traces_docx(&trace.report()))
        .await
        .map_err(|e| crate::services::ServiceError::Internal(format!("docx rendering failed: {e}")))?
        .map_err(|e| crate::services::ServiceError::Internal(format!("docx rendering failed: {e}")))?;
    let mut response = bytes.into_response();
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(docx::MEDIA_TYPE));
    if let Ok(v) = HeaderValue::from_str(&format!("attachment; filename=\"traces-{document}.docx\"")) {
        headers.insert(header::CONTENT_DISPOSITION, v);
    }
    Ok(response)
}

fn traces_json(t: &ComputedTrace) -> Response {
    let report = t.report();
    let authors = t
        .legend
        .iter()
        .enumerate()
        .map(|(i, e)| AuthorJson {
            user: &e.user,
            display_name: &e.display_name,
            department: &e.department,
            color: &e.color,
            revisions: report.revisions_of(i).map(|r| RevisionRef { id: &r.id, created_at: &r.created_at }).collect(),
        })
        .collect();
    let who = |position: Option<usize>| position.and_then(|p| report.mark(p)).map(|(r, e)| (e.user.as_str(), r.id.as_str()));
    let spans = t
        .spans
        .iter()
        .map(|s| {
            let (inserted, deleted) = (who(s.inserted_in), who(s.deleted_in));
            SpanJson {
                text: &s.text,
                op: s.op,
                author: inserted.map(|w| w.0),
                revision: inserted.map(|w| w.1),
                deleted_by: deleted.map(|w| w.0),
                deleted_in: deleted.map(|w| w.1),
            }
        })
        .collect();
    Json(TracesJson { document: &t.document, from: t.from.as_deref().unwrap_or("empty"), to: &t.to, authors, spans }).into_response()
}

fn clean_json(c: &CleanText) -> Response {
    Json(CleanJson { document: &c.document, to: &c.to, text: &c.text }).into_response()
}

fn html_response(page: String) -> Response {
    let mut response = page.into_response();
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("text/html; charset=utf-8"));
    // The page is document text; it needs its inline style and nothing else.
    headers.insert(header::CONTENT_SECURITY_POLICY, HeaderValue::from_static("default-src 'none'; style-src 'unsafe-inline'"));
    headers.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    response
}
