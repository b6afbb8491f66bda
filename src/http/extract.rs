//! Extractors whose every rejection is a problem document: JSON bodies (400 malformed, 415 wrong
//! type, 422 a bad field with its path), queries and paths (400), and the signed-in user (401).

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::header;
use axum::http::request::Parts;
use serde::de::DeserializeOwned;

use super::error::Problem;
use crate::domain::people::Principal;
use crate::services::Henji;

/// A JSON body that must be `application/json`.
pub struct ApiJson<T>(pub T);

pub fn is_json(content_type: Option<&str>) -> bool {
    content_type.is_some_and(|ct| {
        let essence = ct.split(';').next().unwrap_or("").trim().to_ascii_lowercase();
        essence == "application/json" || (essence.starts_with("application/") && essence.ends_with("+json"))
    })
}

pub fn content_type(parts: &axum::http::HeaderMap) -> Option<&str> {
    parts.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok())
}

/// Parses JSON, naming the path of a value that does not fit (`fields.页数`, `roles.0`).
pub fn parse_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, Problem> {
    let mut de = serde_json::Deserializer::from_slice(bytes);
    let parsed = serde_path_to_error::deserialize::<_, T>(&mut de);
    match parsed {
        Ok(v) => {
            de.end().map_err(|e| Problem::bad_request(format!("malformed JSON: {}", strip_position(&e.to_string()))))?;
            Ok(v)
        }
        Err(e) => {
            // A value of the wrong shape is a 422 only in a body that is JSON at all: `[1,2`
            // fails as "a sequence where a struct was expected" before its syntax is seen.
            if let Err(syntax) = serde_json::from_slice::<serde::de::IgnoredAny>(bytes) {
                return Err(Problem::bad_request(format!("malformed JSON: {}", strip_position(&syntax.to_string()))));
            }
            let path = dotted_path(e.path());
            let inner = e.into_inner();
            match inner.classify() {
                serde_json::error::Category::Data => {
                    let message = inner.to_string();
                    // serde's path stops at the object for a missing field, and already names an
                    // unknown one.
                    let named = quoted_after(&message, "missing field `");
                    let field = match (path.as_str(), named) {
                        (".", Some(name)) => name,
                        (_, Some(name)) => format!("{path}.{name}"),
                        (".", None) => quoted_after(&message, "unknown field `").unwrap_or_else(|| "body".to_owned()),
                        (_, None) => path,
                    };
                    // serde's message may quote the offending value; only its shape is kept.
                    Err(Problem::invalid(field.clone(), format!("{field}: {}", describe_data_error(&inner.to_string()))))
                }
                _ => Err(Problem::bad_request(format!("malformed JSON: {}", strip_position(&inner.to_string())))),
            }
        }
    }
}

/// `steps.0.assignees`, as API.md names fields; `.` for the top level.
fn dotted_path(path: &serde_path_to_error::Path) -> String {
    use serde_path_to_error::Segment;
    let parts: Vec<String> = path
        .iter()
        .filter_map(|s| match s {
            Segment::Seq { index } => Some(index.to_string()),
            Segment::Map { key } => Some(key.clone()),
            Segment::Enum { variant } => Some(variant.clone()),
            Segment::Unknown => None,
        })
        .collect();
    if parts.is_empty() { ".".into() } else { parts.join(".") }
}

fn quoted_after(message: &str, marker: &str) -> Option<String> {
    let start = message.find(marker)? + marker.len();
    let rest = &message[start..];
    Some(rest[..rest.find('`')?].to_owned())
}

fn describe_data_error(message: &str) -> String {
    let m = strip_position(message);
    if let Some(i) = m.find("invalid type") {
        let rest = &m[i..];
        if let Some(exp) = rest.find("expected") {
            return format!("wrong type, {}", &rest[exp..]);
        }
        return "wrong type".into();
    }
    if m.starts_with("unknown variant") {
        return m.find("expected").map(|i| format!("unknown value, {}", &m[i..])).unwrap_or_else(|| "unknown value".into());
    }
    if m.starts_with("invalid value") {
        return m.find("expected").map(|i| format!("invalid value, {}", &m[i..])).unwrap_or_else(|| "invalid value".into());
    }
    m
}

fn strip_position(message: &str) -> String {
    match message.rfind(" at line ") {
        Some(i) => message[..i].to_owned(),
        None => message.to_owned(),
    }
}

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for ApiJson<T> {
    type Rejection = Problem;

    async fn from_request(req: Request, state: &S) -> Result<Self, Problem> {
        if !is_json(content_type(req.headers())) {
            return Err(Problem::unsupported_media_type("expected Content-Type: application/json"));
        }
        let bytes = Bytes::from_request(req, state).await.map_err(body_rejection)?;
        parse_json(&bytes).map(ApiJson)
    }
}

pub fn body_rejection(e: axum::extract::rejection::BytesRejection) -> Problem {
    if e.status() == axum::http::StatusCode::PAYLOAD_TOO_LARGE {
        Problem::too_large("the request body is larger than the configured limit")
    } else {
        Problem::bad_request(format!("could not read the request body: {e}"))
    }
}

/// Query parameters; a malformed query is a 400.
pub struct ApiQuery<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequestParts<S> for ApiQuery<T> {
    type Rejection = Problem;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Problem> {
        let query = parts.uri.query().unwrap_or("");
        serde_urlencoded::from_str(query).map(ApiQuery).map_err(|e| Problem::bad_request(format!("bad query: {e}")))
    }
}

/// Path parameters as raw strings; handlers validate ids before any lookup.
pub struct ApiPath<T>(pub T);

impl<T: DeserializeOwned + Send, S: Send + Sync> FromRequestParts<S> for ApiPath<T> {
    type Rejection = Problem;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Problem> {
        axum::extract::Path::<T>::from_request_parts(parts, state)
            .await
            .map(|p| ApiPath(p.0))
            .map_err(|e| Problem::bad_request(format!("bad path: {}", e.body_text())))
    }
}

/// The signed-in user and the token they came with.
pub struct CurrentUser {
    pub principal: Arc<Principal>,
    pub token: String,
}

impl FromRequestParts<Henji> for CurrentUser {
    type Rejection = Problem;

    async fn from_request_parts(parts: &mut Parts, henji: &Henji) -> Result<Self, Problem> {
        let header = parts.headers.get(header::AUTHORIZATION).ok_or_else(|| Problem::unauthorized("send Authorization: Bearer <token>; get a token from POST /api/v1/sessions"))?;
        let token = header
            .to_str()
            .ok()
            .and_then(|h| h.strip_prefix("Bearer ").or_else(|| h.strip_prefix("bearer ")))
            .map(str::trim)
            .filter(|t| !t.is_empty())
            .ok_or_else(|| Problem::unauthorized("the Authorization header must be: Bearer <token>"))?;
        let principal = henji.authenticate(token).await?;
        Ok(CurrentUser { principal, token: token.to_owned() })
    }
}
