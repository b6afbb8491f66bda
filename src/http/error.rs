//! RFC 9457 problem documents. Every failure a client can see goes through `Problem`; internal
//! errors are logged here and reach the client only as a generic 500.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use utoipa::ToSchema;

use crate::services::ServiceError;

/// `application/problem+json`.
#[derive(Debug, Serialize, ToSchema)]
pub struct Problem {
    #[serde(rename = "type")]
    pub kind: String,
    pub title: &'static str,
    pub status: u16,
    pub detail: String,
    /// The dotted request path of the bad value (`fields.来文单位`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
    /// Seconds to wait before trying again (the `Retry-After` header of a 429).
    #[serde(skip)]
    pub retry_after: Option<u64>,
}

impl Problem {
    pub fn new(status: StatusCode, slug: &str, title: &'static str, detail: impl Into<String>) -> Self {
        Self { kind: format!("/problems/{slug}"), title, status: status.as_u16(), detail: detail.into(), field: None, retry_after: None }
    }

    pub fn bad_request(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "bad-request", "Bad request", detail)
    }

    pub fn invalid(field: impl Into<String>, detail: impl Into<String>) -> Self {
        let mut p = Self::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid-field", "Invalid value", detail);
        p.field = Some(field.into());
        p
    }

    pub fn unsupported_media_type(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::UNSUPPORTED_MEDIA_TYPE, "unsupported-media-type", "Unsupported media type", detail)
    }

    pub fn too_large(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::PAYLOAD_TOO_LARGE, "too-large", "Request body too large", detail)
    }

    pub fn not_found(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, "not-found", "Not found", detail)
    }

    pub fn unauthorized(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::UNAUTHORIZED, "unauthorized", "Authentication required", detail)
    }

    pub fn internal() -> Self {
        Self::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", "Internal error", "the server failed; the error is in its log")
    }
}

impl IntoResponse for Problem {
    fn into_response(self) -> Response {
        let status = StatusCode::from_u16(self.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let unauthorized = status == StatusCode::UNAUTHORIZED;
        let mut response = (status, serde_json::to_string(&self).unwrap_or_default()).into_response();
        let headers = response.headers_mut();
        headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("application/problem+json"));
        if unauthorized {
            headers.insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        if let Some(seconds) = self.retry_after {
            headers.insert(header::RETRY_AFTER, HeaderValue::from(seconds));
        }
        response
    }
}

impl From<ServiceError> for Problem {
    fn from(e: ServiceError) -> Self {
        match e {
            ServiceError::NotFound(what) => Problem::not_found(format!("no such {what}, or you may not see it")),
            ServiceError::Forbidden(why) => Problem::new(StatusCode::FORBIDDEN, "forbidden", "Forbidden", why),
            ServiceError::Conflict(why) => Problem::new(StatusCode::CONFLICT, "conflict", "Conflict", why),
            ServiceError::Invalid { field, detail } => {
                let message = format!("{field}: {detail}");
                Problem::invalid(field, message)
            }
            ServiceError::Unauthenticated(why) => Problem::unauthorized(why),
            ServiceError::BadRequest(why) => Problem::bad_request(why),
            ServiceError::TooLarge(why) => Problem::too_large(why),
            ServiceError::BadQuery(why) => Problem::new(StatusCode::BAD_REQUEST, "bad-query", "Bad search query", why),
            ServiceError::TooManyAttempts(seconds) => {
                let mut p = Problem::new(StatusCode::TOO_MANY_REQUESTS, "too-many-attempts", "Too many failed sign-ins", format!("too many failed sign-ins for this user or address; try again in {seconds} s"));
                p.retry_after = Some(seconds);
                p
            }
            ServiceError::Unavailable(why) => Problem::new(StatusCode::SERVICE_UNAVAILABLE, "unavailable", "Temporarily unavailable", why),
            ServiceError::Gone(why) => Problem::new(StatusCode::GONE, "destroyed", "Content destroyed", why),
            ServiceError::Integrity(what) => {
                tracing::error!(problem = %what, "integrity check failed");
                Problem::new(StatusCode::INTERNAL_SERVER_ERROR, "integrity", "Stored data failed an integrity check", what)
            }
            ServiceError::MissingObject(path) => {
                tracing::error!(%path, "catalog refers to a missing object");
                Problem::new(StatusCode::INTERNAL_SERVER_ERROR, "integrity", "Stored data failed an integrity check", "a stored object is missing; run `henji verify`")
            }
            ServiceError::StorageFull(why) => {
                tracing::error!(detail = %why, "disk full");
                Problem::new(StatusCode::INSUFFICIENT_STORAGE, "storage-full", "Storage full", why)
            }
            ServiceError::Storage(e) => {
                tracing::error!(error = %e, "object store failed");
                Problem::new(StatusCode::SERVICE_UNAVAILABLE, "storage-unavailable", "Storage unavailable", "the object store did not answer; try again")
            }
            other => {
                tracing::error!(error = %other, "request failed");
                Problem::internal()
            }
        }
    }
}

pub type ApiResult<T> = Result<T, Problem>;
