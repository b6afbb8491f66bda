//! Operations: health, metrics, and the OpenAPI document.

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::services::Henji;
use crate::services::health::Health;

pub fn router() -> OpenApiRouter<Henji> {
    OpenApiRouter::new().routes(routes!(healthz)).routes(routes!(metrics))
}

/// 200 `{"status":"ok"}`, or `{"status":"degraded","search":"rebuilding"}` while the search
/// index is rebuilt; 503 when the catalog or the object store does not answer.
#[utoipa::path(get, path = "/healthz", tag = "operations", responses((status = 200, body = Health), (status = 503, body = Health)))]
async fn healthz(State(henji): State<Henji>) -> (StatusCode, Json<Health>) {
    let health = henji.health().await;
    let status = if health.available() { StatusCode::OK } else { StatusCode::SERVICE_UNAVAILABLE };
    (status, Json(health))
}

/// Prometheus text format.
#[utoipa::path(get, path = "/metrics", tag = "operations", responses((status = 200, content_type = "text/plain", body = String)))]
async fn metrics(State(henji): State<Henji>) -> Response {
    let mut response = henji.metrics().render().into_response();
    response
        .headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static("application/openmetrics-text; version=1.0.0; charset=utf-8"));
    response
}
