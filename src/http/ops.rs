//! Operations: health, metrics, and the OpenAPI document.

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::services::Henji;

pub fn router() -> OpenApiRouter<Henji> {
    OpenApiRouter::new().routes(routes!(healthz)).routes(routes!(metrics))
}

#[derive(Serialize, ToSchema)]
pub struct Health {
    status: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    catalog: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    store: Option<&'static str>,
    /// `rebuilding` or `failed` when search is not available; the rest works.
    #[serde(skip_serializing_if = "Option::is_none")]
    search: Option<&'static str>,
}

/// 200 `{"status":"ok"}`, or `{"status":"degraded","search":"rebuilding"}` while the search
/// index is rebuilt; 503 when the catalog or the object store does not answer.
#[utoipa::path(get, path = "/healthz", tag = "operations", responses((status = 200, body = Health), (status = 503, body = Health)))]
async fn healthz(State(henji): State<Henji>) -> (StatusCode, Json<Health>) {
    let catalog_ok = henji.catalog.ping().await.is_ok();
    let store_ok = henji.blobs.ping().await.is_ok();
    let search = henji.search_health();
    if catalog_ok && store_ok {
        let status = if search.is_some() { "degraded" } else { "ok" };
        return (StatusCode::OK, Json(Health { status, catalog: None, store: None, search }));
    }
    let state = |ok: bool| Some(if ok { "ok" } else { "unreachable" });
    (StatusCode::SERVICE_UNAVAILABLE, Json(Health { status: "unavailable", catalog: state(catalog_ok), store: state(store_ok), search }))
}

/// Prometheus text format.
#[utoipa::path(get, path = "/metrics", tag = "operations", responses((status = 200, content_type = "text/plain", body = String)))]
async fn metrics(State(henji): State<Henji>) -> Response {
    let mut response = henji.metrics.render().into_response();
    response
        .headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static("application/openmetrics-text; version=1.0.0; charset=utf-8"));
    response
}
