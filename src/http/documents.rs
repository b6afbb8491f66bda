//! Routes for documents, revisions and blobs. Create and revise take JSON or multipart (`meta`
//! first, then `body` and `attachment` parts, streamed into the object store as they arrive).

use axum::Json;
use axum::body::Body;
use axum::extract::multipart::{Field, Multipart, MultipartError};
use axum::extract::{FromRequest, Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use futures::TryStreamExt;
use serde::Deserialize;
use serde::de::DeserializeOwned;
use utoipa::IntoParams;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::error::{ApiResult, Problem};
use super::extract::{ApiPath, ApiQuery, CurrentUser, body_rejection, content_type, is_json, parse_json};
use super::{ListQuery, Page};
use crate::domain::people::DocumentState;
use crate::services::documents::{BlobContent, BlobDownload, CreateDocument, DocumentQuery, DocumentView, ReviseDocument, RevisionView};
use crate::services::extraction::AttachmentText;
use crate::services::uploads::{Upload, UploadSealing, UploadedFile};
use crate::services::{Henji, clamp_limit};

pub fn router() -> OpenApiRouter<Henji> {
    OpenApiRouter::new()
        .routes(routes!(create_document, list_documents))
        .routes(routes!(get_document, delete_document))
        .routes(routes!(add_revision, list_revisions))
        .routes(routes!(get_revision))
        .routes(routes!(get_revision_body))
        .routes(routes!(get_blob))
        .routes(routes!(attachment_text))
        .routes(routes!(retry_attachment_text))
}

/// The largest `meta` part; metadata is small, and a huge one is a mistake or an attack.
const MAX_META: usize = 1024 * 1024;

/// A request body: JSON alone, or multipart with files.
enum Incoming<M> {
    Json(M),
    Multipart(M, Multipart),
}

async fn incoming<M: DeserializeOwned>(henji: &Henji, req: Request) -> ApiResult<Incoming<M>> {
    let ct = content_type(req.headers()).map(str::to_owned);
    if is_json(ct.as_deref()) {
        let bytes = axum::body::Bytes::from_request(req, henji).await.map_err(body_rejection)?;
        return Ok(Incoming::Json(parse_json(&bytes)?));
    }
    if ct.as_deref().is_some_and(|c| c.to_ascii_lowercase().starts_with("multipart/form-data")) {
        let mut multipart = Multipart::from_request(req, henji).await.map_err(|e| Problem::bad_request(e.body_text()))?;
        let first = multipart.next_field().await.map_err(multipart_problem)?;
        let Some(field) = first.filter(|f| f.name() == Some("meta")) else {
            return Err(Problem::invalid("meta", "the first part must be `meta`, the JSON description"));
        };
        let bytes = read_small_field(field, MAX_META).await?;
        return Ok(Incoming::Multipart(parse_json(&bytes)?, multipart));
    }
    Err(Problem::unsupported_media_type("expected application/json or multipart/form-data"))
}

pub(crate) fn multipart_problem(e: MultipartError) -> Problem {
    if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
        Problem::too_large("the request body is larger than the configured limit")
    } else {
        Problem::bad_request(format!("malformed multipart body: {}", e.body_text()))
    }
}

pub(crate) async fn read_small_field(mut field: Field<'_>, max: usize) -> ApiResult<Vec<u8>> {
    let name = field.name().unwrap_or("").chars().take(32).collect::<String>();
    let mut out = Vec::new();
    while let Some(chunk) = field.chunk().await.map_err(multipart_problem)? {
        if out.len() + chunk.len() > max {
            return Err(Problem::too_large(format!("the {name} part is larger than {max} bytes")));
        }
        out.extend_from_slice(&chunk);
    }
    Ok(out)
}

/// The files of a multipart request.
struct Files {
    body: Option<UploadedFile>,
    attachments: Vec<UploadedFile>,
}

/// Streams every remaining part into the object store. A bad part stops the request; blobs
/// already written are unreferenced and harmless.
async fn store_parts(henji: &Henji, sealing: Option<&UploadSealing>, mut multipart: Multipart, inline_body: bool) -> ApiResult<Files> {
    let mut files = Files { body: None, attachments: vec![] };
    while let Some(field) = multipart.next_field().await.map_err(multipart_problem)? {
        let name = field.name().unwrap_or("").to_owned();
        let upload = match name.as_str() {
            "body" if files.body.is_some() || inline_body => return Err(Problem::invalid("body", "give the body once: either meta.body.text or one `body` part")),
            "body" => henji.body_upload(sealing),
            "attachment" => henji.attachment_upload(sealing, files.attachments.len(), field.file_name(), field.content_type())?,
            other => return Err(Problem::invalid(other.chars().take(64).collect::<String>(), "unknown part; expected `body` or `attachment`")),
        };
        let file = stream_part(henji, upload, field).await?;
        if name == "body" {
            files.body = Some(file);
        } else {
            files.attachments.push(file);
        }
    }
    Ok(files)
}

/// One file part into the object store as it arrives (hashed, and sealed when `upload` seals).
pub(crate) async fn stream_part(henji: &Henji, mut upload: Upload, mut field: Field<'_>) -> ApiResult<UploadedFile> {
    loop {
        match field.chunk().await {
            Ok(Some(chunk)) => {
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
    Ok(henji.finish_upload(upload).await?)
}

/// The body (given inline in the JSON, or as a `body` part) and the attachments, stored.
async fn receive_files(henji: &Henji, sealing: Option<UploadSealing>, multipart: Option<Multipart>, inline_body: Option<String>) -> ApiResult<Files> {
    let sealing = sealing.as_ref();
    let mut files = match multipart {
        Some(mp) => store_parts(henji, sealing, mp, inline_body.is_some()).await?,
        None => Files { body: None, attachments: vec![] },
    };
    if let Some(text) = inline_body {
        files.body = Some(henji.store_text_body(sealing, &text).await?);
    }
    Ok(files)
}

/// Register a document with its first revision.
#[utoipa::path(post, path = "/api/v1/documents", tag = "documents", security(("bearer" = [])),
    request_body(content(
        (CreateDocument = "application/json"),
        (Object = "multipart/form-data")
    )),
    responses((status = 201, body = DocumentView), (status = 400, body = Problem), (status = 403, body = Problem), (status = 413, body = Problem),
        (status = 415, body = Problem), (status = 422, body = Problem)))]
async fn create_document(State(henji): State<Henji>, user: CurrentUser, req: Request) -> ApiResult<(StatusCode, Json<DocumentView>)> {
    let who = &user.principal;
    let (meta, multipart) = match incoming::<CreateDocument>(&henji, req).await? {
        Incoming::Json(m) => (m, None),
        Incoming::Multipart(m, mp) => (m, Some(mp)),
    };
    let mut prepared = henji.prepare_document(who, meta).await?;
    let files = receive_files(&henji, prepared.upload_sealing(), multipart, prepared.inline_body.take()).await?;
    let view = henji.create_document(who, prepared, files.body, files.attachments).await?;
    Ok((StatusCode::CREATED, Json(view)))
}

#[derive(Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct DocumentListQuery {
    kind: Option<String>,
    state: Option<DocumentState>,
    department: Option<String>,
    archived: Option<bool>,
    limit: Option<i64>,
    cursor: Option<String>,
}

/// The documents the caller may see, oldest first.
#[utoipa::path(get, path = "/api/v1/documents", tag = "documents", security(("bearer" = [])), params(DocumentListQuery),
    responses((status = 200, body = Page<DocumentView>), (status = 400, body = Problem)))]
async fn list_documents(State(henji): State<Henji>, user: CurrentUser, ApiQuery(q): ApiQuery<DocumentListQuery>) -> ApiResult<Json<Page<DocumentView>>> {
    let limit = clamp_limit(q.limit, 50, 500);
    let query = DocumentQuery { kind: q.kind, state: q.state, department: q.department, archived: q.archived, cursor: q.cursor, limit: limit + 1 };
    let docs = henji.list_documents(&user.principal, &query).await?;
    Ok(Json(Page::from_items(docs, limit, |d| d.id.clone())))
}

#[utoipa::path(get, path = "/api/v1/documents/{id}", tag = "documents", security(("bearer" = [])), params(("id" = String, Path, description = "document id (ULID)")),
    responses((status = 200, body = DocumentView), (status = 404, body = Problem)))]
async fn get_document(State(henji): State<Henji>, user: CurrentUser, ApiPath(id): ApiPath<String>) -> ApiResult<Json<DocumentView>> {
    Ok(Json(henji.get_document(&user.principal, &id).await?))
}

/// A tombstone (administrators only): the content stays until disposal; audited.
#[utoipa::path(delete, path = "/api/v1/documents/{id}", tag = "documents", security(("bearer" = [])), params(("id" = String, Path)),
    responses((status = 204), (status = 403, body = Problem), (status = 404, body = Problem)))]
async fn delete_document(State(henji): State<Henji>, user: CurrentUser, ApiPath(id): ApiPath<String>) -> ApiResult<StatusCode> {
    henji.delete_document(&user.principal, &id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Add a revision on top of `base_revision`; 409 if that is no longer the head.
#[utoipa::path(post, path = "/api/v1/documents/{id}/revisions", tag = "documents", security(("bearer" = [])), params(("id" = String, Path)),
    request_body(content(
        (ReviseDocument = "application/json"),
        (Object = "multipart/form-data")
    )),
    responses((status = 201, body = RevisionView), (status = 404, body = Problem), (status = 409, body = Problem), (status = 422, body = Problem)))]
async fn add_revision(State(henji): State<Henji>, user: CurrentUser, ApiPath(id): ApiPath<String>, req: Request) -> ApiResult<(StatusCode, Json<RevisionView>)> {
    let who = &user.principal;
    let (meta, multipart) = match incoming::<ReviseDocument>(&henji, req).await? {
        Incoming::Json(m) => (m, None),
        Incoming::Multipart(m, mp) => (m, Some(mp)),
    };
    let mut prepared = henji.prepare_revision(who, &id, meta).await?;
    let files = receive_files(&henji, prepared.upload_sealing(), multipart, prepared.inline_body.take()).await?;
    let view = henji.add_revision(who, prepared, files.body, files.attachments).await?;
    Ok((StatusCode::CREATED, Json(view)))
}

/// The history, oldest first.
#[utoipa::path(get, path = "/api/v1/documents/{id}/revisions", tag = "documents", security(("bearer" = [])), params(("id" = String, Path), ListQuery),
    responses((status = 200, body = Page<RevisionView>), (status = 404, body = Problem)))]
async fn list_revisions(State(henji): State<Henji>, user: CurrentUser, ApiPath(id): ApiPath<String>, ApiQuery(q): ApiQuery<ListQuery>) -> ApiResult<Json<Page<RevisionView>>> {
    let limit = clamp_limit(q.limit, 50, 500);
    let after = match q.cursor.as_deref() {
        None | Some("") => 0,
        Some(c) => c.parse::<i64>().map_err(|_| Problem::bad_request("cursor must come from next_cursor"))?,
    };
    let revs = henji.list_revisions(&user.principal, &id, after, limit + 1).await?;
    // The cursor is the position in the history, which the answer itself does not carry.
    Ok(Json(Page::from_items(revs, limit, |(seq, _)| seq.to_string()).map(|(_, r)| r)))
}

/// The manifest, as the exact canonical bytes whose SHA-256 is `rev`.
#[utoipa::path(get, path = "/api/v1/documents/{id}/revisions/{rev}", tag = "documents", security(("bearer" = [])),
    params(("id" = String, Path), ("rev" = String, Path, description = "revision id (64 hex)")),
    responses((status = 200, content_type = "application/json", body = Object), (status = 404, body = Problem)))]
async fn get_revision(State(henji): State<Henji>, user: CurrentUser, ApiPath((id, rev)): ApiPath<(String, String)>) -> ApiResult<Response> {
    let bytes = henji.revision_manifest(&user.principal, &id, &rev).await?;
    let mut response = bytes.into_response();
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json; charset=utf-8"));
    if let Ok(etag) = HeaderValue::from_str(&format!("\"{rev}\"")) {
        headers.insert(header::ETAG, etag);
    }
    Ok(response)
}

#[utoipa::path(get, path = "/api/v1/documents/{id}/revisions/{rev}/body", tag = "documents", security(("bearer" = [])),
    params(("id" = String, Path), ("rev" = String, Path)),
    responses((status = 200, content_type = "text/plain; charset=utf-8", body = String), (status = 404, body = Problem)))]
async fn get_revision_body(State(henji): State<Henji>, user: CurrentUser, ApiPath((id, rev)): ApiPath<(String, String)>) -> ApiResult<Response> {
    let download = henji.revision_body(&user.principal, &id, &rev).await?;
    Ok(stream_response(download, None))
}

/// The bytes of a blob, streamed, if the caller may read a document that refers to it.
#[utoipa::path(get, path = "/api/v1/blobs/{sha256}", tag = "documents", security(("bearer" = [])), params(("sha256" = String, Path)),
    responses((status = 200, content_type = "application/octet-stream", body = Vec<u8>), (status = 404, body = Problem)))]
async fn get_blob(State(henji): State<Henji>, user: CurrentUser, ApiPath(sha256): ApiPath<String>) -> ApiResult<Response> {
    let download = henji.blob(&user.principal, &sha256).await?;
    Ok(stream_response(download, Some(&sha256)))
}

/// The text read from an attachment (OCR of scans, the text of PDFs, OFD and Word): 200 when
/// done (or failed, or unsupported), 202 with progress while it is being read.
#[utoipa::path(get, path = "/api/v1/documents/{id}/attachments/{sha256}/text", tag = "documents", security(("bearer" = [])),
    params(("id" = String, Path), ("sha256" = String, Path)),
    responses((status = 200, body = AttachmentText), (status = 202, body = AttachmentText), (status = 404, body = Problem)))]
async fn attachment_text(State(henji): State<Henji>, user: CurrentUser, ApiPath((id, sha256)): ApiPath<(String, String)>) -> ApiResult<(StatusCode, Json<AttachmentText>)> {
    let text = henji.attachment_text(&user.principal, &id, &sha256).await?;
    let status = if text.pending() { StatusCode::ACCEPTED } else { StatusCode::OK };
    Ok((status, Json(text)))
}

/// Reads a failed attachment's text again (the document's clerks, administrators).
#[utoipa::path(post, path = "/api/v1/documents/{id}/attachments/{sha256}/text/retry", tag = "documents", security(("bearer" = [])),
    params(("id" = String, Path), ("sha256" = String, Path)),
    responses((status = 202), (status = 403, body = Problem), (status = 404, body = Problem), (status = 409, body = Problem)))]
async fn retry_attachment_text(State(henji): State<Henji>, user: CurrentUser, ApiPath((id, sha256)): ApiPath<(String, String)>) -> ApiResult<StatusCode> {
    henji.retry_extraction(&user.principal, &id, &sha256).await?;
    Ok(StatusCode::ACCEPTED)
}

fn stream_response(download: BlobDownload, etag: Option<&str>) -> Response {
    let BlobDownload { size, media_type, name: _, content } = download;
    let body = match content {
        BlobContent::Whole(bytes) => Body::from(bytes),
        BlobContent::Stream(stream) => Body::from_stream(stream.map_err(|e| std::io::Error::other(e.to_string()))),
    };
    let mut response = Response::new(body);
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_str(&media_type).unwrap_or(HeaderValue::from_static("application/octet-stream")));
    headers.insert(header::CONTENT_LENGTH, HeaderValue::from(size));
    if let Some(tag) = etag.and_then(|t| HeaderValue::from_str(&format!("\"{t}\"")).ok()) {
        headers.insert(header::ETAG, tag);
    }
    headers.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    response
}
