//! Routes for document kinds: clients draw registration forms from these schemas.

use axum::Json;
use axum::extract::State;
use serde::Serialize;
use serde_json::Value;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::Page;
use super::error::{ApiResult, Problem};
use super::extract::{ApiPath, CurrentUser};
use crate::services::Henji;

pub fn router() -> OpenApiRouter<Henji> {
    OpenApiRouter::new().routes(routes!(list_kinds)).routes(routes!(get_kind))
}

#[derive(Serialize, ToSchema)]
pub struct KindSummary {
    kind: String,
    title: String,
}

#[utoipa::path(get, path = "/api/v1/kinds", tag = "kinds", security(("bearer" = [])),
    responses((status = 200, body = Page<KindSummary>), (status = 401, body = Problem)))]
async fn list_kinds(State(henji): State<Henji>, _user: CurrentUser) -> Json<Page<KindSummary>> {
    let items = henji.kinds().iter().map(|k| KindSummary { kind: k.name.clone(), title: k.title.clone() }).collect();
    Json(Page { items, next_cursor: None })
}

/// The kind's JSON Schema of the `fields` object, with `required`, titles and `x-sensitive`.
#[utoipa::path(get, path = "/api/v1/kinds/{kind}", tag = "kinds", security(("bearer" = [])), params(("kind" = String, Path)),
    responses((status = 200, body = Object), (status = 404, body = Problem)))]
async fn get_kind(State(henji): State<Henji>, _user: CurrentUser, ApiPath(kind): ApiPath<String>) -> ApiResult<Json<Value>> {
    let kind = henji.kinds().get(&kind).ok_or_else(|| Problem::not_found("no such kind"))?;
    Ok(Json(kind.schema.clone()))
}
