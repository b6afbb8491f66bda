//! Routes for traces (痕迹): JSON spans, a self-contained HTML page, the clean text, and a Word
//! document with real tracked changes (API.md "Traces").

use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use utoipa::IntoParams;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::error::{ApiResult, Problem};
use super::extract::{ApiPath, ApiQuery, CurrentUser};
use crate::services::Henji;
use crate::services::traces::{RenderedTrace, TraceOutput, TraceStart, TracesJson};

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

/// Every reviewer's insertions and deletions between `from` and `to`, or the clean text.
#[utoipa::path(get, path = "/api/v1/documents/{id}/traces", tag = "traces", security(("bearer" = [])), params(("id" = String, Path), TracesQuery),
    responses(
        (status = 200, description = "JSON spans (`view=clean`: `{document, to, text}`) or an HTML page", content(
            (TracesJson = "application/json"),
            (String = "text/html; charset=utf-8")
        )),
        (status = 404, body = Problem), (status = 422, body = Problem)))]
async fn get_traces(
    State(henji): State<Henji>,
    user: CurrentUser,
    ApiPath(id): ApiPath<String>,
    ApiQuery(q): ApiQuery<TracesQuery>,
    headers: HeaderMap,
) -> ApiResult<Response> {
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
    let output = match (clean, html) {
        (false, false) => TraceOutput::Json,
        (false, true) => TraceOutput::Html,
        (true, false) => TraceOutput::CleanJson,
        (true, true) => TraceOutput::CleanHtml,
    };
    let trace = henji.render_trace(&user.principal, &id, output, start(q.from), q.to.as_deref()).await?;
    Ok(respond(trace, accepts_gzip(&headers)))
}

/// The traces as a Word document whose marks are tracked changes: "accept all" gives `to`,
/// "reject all" gives `from`.
#[utoipa::path(get, path = "/api/v1/documents/{id}/traces.docx", tag = "traces", security(("bearer" = [])), params(("id" = String, Path), RangeQuery),
    responses((status = 200, content_type = "application/vnd.openxmlformats-officedocument.wordprocessingml.document", body = Vec<u8>),
        (status = 404, body = Problem), (status = 422, body = Problem)))]
async fn get_traces_docx(State(henji): State<Henji>, user: CurrentUser, ApiPath(id): ApiPath<String>, ApiQuery(q): ApiQuery<RangeQuery>) -> ApiResult<Response> {
    let trace = henji.render_trace(&user.principal, &id, TraceOutput::Docx, start(q.from), q.to.as_deref()).await?;
    Ok(respond(trace, false))
}

/// Whether `Accept-Encoding` allows gzip (`gzip` or `*`, without `q=0`).
fn accepts_gzip(headers: &HeaderMap) -> bool {
    headers.get_all(header::ACCEPT_ENCODING).iter().filter_map(|v| v.to_str().ok()).flat_map(|v| v.split(',')).any(|item| {
        let mut parts = item.split(';').map(str::trim);
        let coding = parts.next().unwrap_or("");
        let refused = parts.any(|p| p.strip_prefix("q=").is_some_and(|q| q.parse::<f32>().is_ok_and(|q| q == 0.0)));
        (coding.eq_ignore_ascii_case("gzip") || coding == "*") && !refused
    })
}

fn respond(trace: RenderedTrace, gzip: bool) -> Response {
    let compressed = trace.gzip.is_some();
    let mut response = match trace.gzip {
        Some(z) if gzip => {
            let mut r = z.into_response();
            r.headers_mut().insert(header::CONTENT_ENCODING, HeaderValue::from_static("gzip"));
            r
        }
        _ => trace.bytes.into_response(),
    };
    let headers = response.headers_mut();
    if compressed {
        headers.insert(header::VARY, HeaderValue::from_static("accept-encoding"));
    }
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(trace.output.media_type()));
    headers.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    match trace.output {
        // The page is document text; it needs its inline style and nothing else.
        TraceOutput::Html | TraceOutput::CleanHtml => {
            headers.insert(header::CONTENT_SECURITY_POLICY, HeaderValue::from_static("default-src 'none'; style-src 'unsafe-inline'"));
        }
        TraceOutput::Docx => {
            if let Ok(v) = HeaderValue::from_str(&format!("attachment; filename=\"traces-{}.docx\"", trace.document)) {
                headers.insert(header::CONTENT_DISPOSITION, v);
            }
        }
        TraceOutput::Json | TraceOutput::CleanJson => {}
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gzip_is_taken_only_when_offered() {
        let with = |v: &str| {
            let mut h = HeaderMap::new();
            h.insert(header::ACCEPT_ENCODING, HeaderValue::from_str(v).unwrap());
            accepts_gzip(&h)
        };
        assert!(with("gzip") && with("br, gzip;q=0.8") && with("*") && with("GZIP"));
        assert!(!with("br") && !with("gzip;q=0") && !with("identity") && !accepts_gzip(&HeaderMap::new()));
    }
}
