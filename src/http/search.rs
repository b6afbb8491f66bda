//! Routes for search (API.md "Search") and rebuilding the index.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::error::{ApiResult, Problem};
use super::extract::{ApiQuery, CurrentUser};
use crate::domain::people::Classification;
use crate::services::Henji;
use crate::services::search::{SearchAnswer, SearchRequest};

pub fn router() -> OpenApiRouter<Henji> {
    OpenApiRouter::new().routes(routes!(search)).routes(routes!(reindex))
}

#[derive(Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
struct SearchQuery {
    /// The query: words (AND), `OR`, `NOT`/`-word`, `"phrases"`, `title:`/`body:`/`fields:`/
    /// `attachments:` prefixes; a run of CJK characters matches as a contiguous substring.
    q: Option<String>,
    kind: Option<String>,
    department: Option<String>,
    state: Option<String>,
    classification: Option<String>,
    year: Option<String>,
    archived: Option<String>,
    /// `head` (default). `all` (every revision's body) is not offered yet.
    #[serde(rename = "in")]
    within: Option<String>,
    /// Default 20, at most 100.
    limit: Option<String>,
    offset: Option<String>,
}

fn number<T: std::str::FromStr>(field: &str, value: Option<&str>) -> ApiResult<Option<T>> {
    value.map(|v| v.parse().map_err(|_| Problem::invalid(field, format!("{v:?} is not a whole number")))).transpose()
}

/// Documents the caller may read that match `q`, best first, with facets.
#[utoipa::path(get, path = "/api/v1/search", tag = "search", security(("bearer" = [])), params(SearchQuery),
    responses((status = 200, body = SearchAnswer), (status = 400, body = Problem), (status = 422, body = Problem), (status = 503, body = Problem)))]
async fn search(State(henji): State<Henji>, user: CurrentUser, ApiQuery(p): ApiQuery<SearchQuery>) -> ApiResult<Json<SearchAnswer>> {
    let q = p.q.filter(|q| !q.trim().is_empty()).ok_or_else(|| Problem::bad_request("q is required: the words to search for"))?;
    match p.within.as_deref() {
        None | Some("head") => {}
        Some("all") => return Err(Problem::invalid("in", "searching every revision (in=all) is not offered yet; the head revision is searched")),
        Some(_) => return Err(Problem::invalid("in", "expected `head` or `all`")),
    }
    let classification = p.classification.as_deref().map(|c| c.parse::<Classification>().map_err(|e| Problem::invalid("classification", e.to_string()))).transpose()?;
    let archived = match p.archived.as_deref() {
        None => None,
        Some("true") => Some(true),
        Some("false") => Some(false),
        Some(_) => return Err(Problem::invalid("archived", "expected `true` or `false`")),
    };
    let limit: Option<usize> = number("limit", p.limit.as_deref())?;
    let request = SearchRequest {
        q,
        kind: p.kind,
        department: p.department,
        state: p.state,
        classification,
        year: number("year", p.year.as_deref())?,
        archived,
        limit: limit.unwrap_or(20).clamp(1, 100),
        offset: number("offset", p.offset.as_deref())?.unwrap_or(0),
    };
    Ok(Json(henji.search(&user.principal, &request).await?))
}

#[derive(Serialize, ToSchema)]
struct ReindexStarted {
    status: &'static str,
}

/// Rebuild the search index from the catalog and the object store, in the background
/// (administrators). `/healthz` says `degraded` until it is done.
#[utoipa::path(post, path = "/api/v1/admin/reindex", tag = "search", security(("bearer" = [])),
    responses((status = 202, body = ReindexStarted), (status = 403, body = Problem)))]
async fn reindex(State(henji): State<Henji>, user: CurrentUser) -> ApiResult<(StatusCode, Json<ReindexStarted>)> {
    henji.request_reindex(&user.principal).await?;
    Ok((StatusCode::ACCEPTED, Json(ReindexStarted { status: "rebuilding" })))
}
