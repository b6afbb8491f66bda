//! Routes for the archive: archiving a document, listing records, packages and disposal.

use axum::Json;
use axum::body::Body;
use axum::extract::{Extension, Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::Response;
use futures::TryStreamExt;
use serde::Deserialize;
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::Page;
use super::error::{ApiResult, Problem};
use super::extract::{ApiJson, ApiPath, ApiQuery, CurrentUser, content_type};
use crate::domain::archive::Retention;
use crate::services::archive::{ArchiveQuery, ArchiveRecordView, ArchiveRequest};
use crate::services::{Henji, clamp_limit};

pub fn router() -> OpenApiRouter<Henji> {
    OpenApiRouter::new()
        .routes(routes!(archive_document))
        .routes(routes!(list_archive))
        .routes(routes!(get_record))
        .routes(routes!(get_package))
        .routes(routes!(dispose))
        .routes(routes!(import_package))
}

/// The largest request body, for routes that stream their body themselves.
#[derive(Clone, Copy, Debug)]
pub struct BodyLimit(pub usize);

/// Restore a package made by another installation: the zip as the body. Every digest is
/// checked before anything is written.
#[utoipa::path(post, path = "/api/v1/archive/import", tag = "archive", security(("bearer" = [])),
    request_body(content = Vec<u8>, content_type = "application/zip"),
    responses((status = 201, body = ArchiveRecordView), (status = 403, body = Problem), (status = 409, body = Problem), (status = 413, body = Problem), (status = 415, body = Problem), (status = 422, body = Problem)))]
async fn import_package(State(henji): State<Henji>, user: CurrentUser, Extension(limit): Extension<BodyLimit>, req: Request) -> ApiResult<(StatusCode, Json<ArchiveRecordView>)> {
    let ct = content_type(req.headers()).unwrap_or("").to_ascii_lowercase();
    if !(ct.starts_with("application/zip") || ct.starts_with("application/x-zip-compressed") || ct.starts_with("application/octet-stream")) {
        return Err(Problem::unsupported_media_type("send the package as application/zip"));
    }
    let mut records = henji.import_upload(&user.principal, req.into_body().into_data_stream(), limit.0).await?;
    let first = records.drain(..).next().ok_or_else(|| Problem::invalid("package", "holds no bag"))?;
    Ok((StatusCode::CREATED, Json(first)))
}

/// Archive the document (归档): it gets the next archive number and becomes read-only.
#[utoipa::path(post, path = "/api/v1/documents/{id}/archive", tag = "archive", security(("bearer" = [])), params(("id" = String, Path)),
    request_body = ArchiveRequest,
    responses((status = 201, body = ArchiveRecordView), (status = 403, body = Problem), (status = 404, body = Problem), (status = 409, body = Problem), (status = 422, body = Problem)))]
async fn archive_document(State(henji): State<Henji>, user: CurrentUser, ApiPath(id): ApiPath<String>, ApiJson(req): ApiJson<ArchiveRequest>) -> ApiResult<(StatusCode, Json<ArchiveRecordView>)> {
    Ok((StatusCode::CREATED, Json(henji.archive_document(&user.principal, &id, req).await?)))
}

#[derive(Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ArchiveListQuery {
    department: Option<String>,
    year: Option<i64>,
    retention: Option<Retention>,
    /// Only records past their retention period, not yet disposed of.
    expired: Option<bool>,
    limit: Option<i64>,
    cursor: Option<String>,
}

/// Archive records the caller may see, by archive number.
#[utoipa::path(get, path = "/api/v1/archive", tag = "archive", security(("bearer" = [])), params(ArchiveListQuery),
    responses((status = 200, body = Page<ArchiveRecordView>), (status = 400, body = Problem)))]
async fn list_archive(State(henji): State<Henji>, user: CurrentUser, ApiQuery(q): ApiQuery<ArchiveListQuery>) -> ApiResult<Json<Page<ArchiveRecordView>>> {
    let limit = clamp_limit(q.limit, 50, 500);
    let query = ArchiveQuery { department: q.department, year: q.year, retention: q.retention, expired: q.expired.unwrap_or(false), cursor: q.cursor, limit: limit + 1 };
    let items = henji.list_archive(&user.principal, &query).await?;
    Ok(Json(Page::from_items(items, limit, |r| r.archive_no.clone())))
}

#[utoipa::path(get, path = "/api/v1/archive/{archive_no}", tag = "archive", security(("bearer" = [])), params(("archive_no" = String, Path)),
    responses((status = 200, body = ArchiveRecordView), (status = 404, body = Problem)))]
async fn get_record(State(henji): State<Henji>, user: CurrentUser, ApiPath(archive_no): ApiPath<String>) -> ApiResult<Json<ArchiveRecordView>> {
    Ok(Json(henji.archive_record_view(&user.principal, &archive_no).await?))
}

#[derive(Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct PackageQuery {
    /// For a record with sealed content: the key-encryption key (an id of this installation's
    /// keyring, held by the receiving installation too) that wraps the document's data key in
    /// `henji-sealing.json`. By default, the key that wraps it here.
    transfer_key: Option<String>,
}

/// The record as a BagIt bag in a zip, streamed: body, attachments, every revision manifest,
/// the traces as HTML, opinions with their handwriting, the trail and the metadata.
#[utoipa::path(get, path = "/api/v1/archive/{archive_no}/package", tag = "archive", security(("bearer" = [])), params(("archive_no" = String, Path), PackageQuery),
    responses((status = 200, content_type = "application/zip", body = Vec<u8>), (status = 404, body = Problem), (status = 410, body = Problem), (status = 422, body = Problem)))]
async fn get_package(State(henji): State<Henji>, user: CurrentUser, ApiPath(archive_no): ApiPath<String>, ApiQuery(q): ApiQuery<PackageQuery>) -> ApiResult<Response> {
    let stream = henji.archive_package(&user.principal, &archive_no, q.transfer_key.as_deref()).await?;
    Ok(package_response(&archive_no, stream))
}

/// A package streamed as a download named after its archive number (the API's and the desk's).
pub(crate) fn package_response(archive_no: &str, stream: impl futures::Stream<Item = Result<bytes::Bytes, crate::services::ServiceError>> + Send + 'static) -> Response {
    let mut response = Response::new(Body::from_stream(stream.map_err(|e| std::io::Error::other(e.to_string()))));
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("application/zip"));
    if let Ok(v) = HeaderValue::from_str(&format!("attachment; filename=\"{archive_no}.zip\"")) {
        headers.insert(header::CONTENT_DISPOSITION, v);
    }
    response
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DisposeRequest {
    /// Why (the disposal decision, 销毁依据); kept in the record and the audit trail.
    reason: String,
}

/// 销毁: an administrator disposes of a record past its retention; its content can never be
/// read again, the record stays as a tombstone.
#[utoipa::path(post, path = "/api/v1/archive/{archive_no}/dispose", tag = "archive", security(("bearer" = [])), params(("archive_no" = String, Path)),
    request_body = DisposeRequest,
    responses((status = 200, body = ArchiveRecordView), (status = 403, body = Problem), (status = 404, body = Problem), (status = 409, body = Problem)))]
async fn dispose(State(henji): State<Henji>, user: CurrentUser, ApiPath(archive_no): ApiPath<String>, ApiJson(req): ApiJson<DisposeRequest>) -> ApiResult<Json<ArchiveRecordView>> {
    Ok(Json(henji.dispose(&user.principal, &archive_no, &req.reason).await?))
}
