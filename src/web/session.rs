//! Signing in and out of the desk, the session cookie, and the CSRF token every form carries.
//!
//! The cookie holds the same session token the API's bearer header does (`POST
//! /api/v1/sessions`), so a session is one thing whichever way it is used. The CSRF token is
//! derived from the session token (SHA-256 with a label), so a page can show it and a forger,
//! who cannot read the cookie or the page, cannot make it. Before sign-in a random
//! `henji_signin` cookie plays that part for the sign-in form.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::extract::{ConnectInfo, Form, FromRequestParts, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, header};
use axum::response::{IntoResponse, Redirect, Response};
use rand::RngCore;
use serde::Deserialize;
use sha2::{Digest, Sha256};

use super::PageError;
use super::pages::{IntoPage, SignIn};
use crate::domain::people::Principal;
use crate::services::Henji;

pub const SESSION_COOKIE: &str = "henji_session";
const SIGNIN_COOKIE: &str = "henji_signin";

/// The person looking at a page: who they are, their session, and the CSRF token their forms
/// must carry.
pub struct Viewer {
    pub principal: Arc<Principal>,
    pub csrf: String,
    token: String,
}

impl Viewer {
    /// A state-changing request must present this session's token (form field `_csrf` or
    /// header `X-CSRF-Token`).
    pub fn check_csrf(&self, presented: Option<&str>) -> Result<(), PageError> {
        if presented.is_some_and(|p| same(p.as_bytes(), self.csrf.as_bytes())) { Ok(()) } else { Err(PageError::Csrf) }
    }

    pub fn token(&self) -> &str {
        &self.token
    }
}

/// Compares without stopping at the first difference.
fn same(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

pub fn csrf_for(session_token: &str) -> String {
    let digest = Sha256::digest(format!("henji-csrf\0{session_token}").as_bytes());
    hex::encode(&digest[..16])
}

/// The value of a cookie in the request.
pub fn cookie<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v)
}

/// The CSRF token of a request's header, for requests made by the desk's script.
pub fn csrf_header(headers: &HeaderMap) -> Option<&str> {
    headers.get("x-csrf-token").and_then(|v| v.to_str().ok())
}

impl FromRequestParts<Henji> for Viewer {
    type Rejection = PageError;

    async fn from_request_parts(parts: &mut Parts, henji: &Henji) -> Result<Self, PageError> {
        let sign_in = || PageError::SignIn { next: parts.uri.path_and_query().map(|p| p.as_str().to_owned()).unwrap_or_else(|| "/".into()) };
        let Some(token) = cookie(&parts.headers, SESSION_COOKIE).filter(|t| !t.is_empty() && t.len() <= 256).map(str::to_owned) else {
            return Err(sign_in());
        };
        match henji.authenticate(&token).await {
            Ok(principal) => Ok(Viewer { principal, csrf: csrf_for(&token), token }),
            Err(crate::services::ServiceError::Unauthenticated(_)) => Err(sign_in()),
            Err(e) => Err(e.into()),
        }
    }
}

/// Whether the browser reached us over TLS (directly, or through a proxy that says so): then
/// cookies are `Secure`.
fn over_tls(headers: &HeaderMap) -> bool {
    let forwarded = headers.get("x-forwarded-proto").and_then(|v| v.to_str().ok()).is_some_and(|p| p.eq_ignore_ascii_case("https"));
    forwarded || headers.get(header::FORWARDED).and_then(|v| v.to_str().ok()).is_some_and(|f| f.to_ascii_lowercase().contains("proto=https"))
}

fn set_cookie(name: &str, value: &str, max_age: i64, secure: bool) -> HeaderValue {
    let secure = if secure { "; Secure" } else { "" };
    HeaderValue::from_str(&format!("{name}={value}; Path=/; HttpOnly; SameSite=Strict; Max-Age={max_age}{secure}")).unwrap_or_else(|_| HeaderValue::from_static(""))
}

/// The sign-in page, with a fresh sign-in token (cookie and hidden field alike).
pub fn sign_in_page(headers: &HeaderMap, next: &str, message: Option<String>, username: String) -> Response {
    let existing = cookie(headers, SIGNIN_COOKIE).filter(|v| v.len() == 32 && v.bytes().all(|b| b.is_ascii_hexdigit())).map(str::to_owned);
    let token = existing.unwrap_or_else(|| {
        let mut raw = [0u8; 16];
        rand::rng().fill_bytes(&mut raw);
        hex::encode(raw)
    });
    let page = SignIn { css: super::assets::css_name(), csrf: token.clone(), next: safe_next(next).to_owned(), message, username };
    let mut response = page.into_page();
    response.headers_mut().append(header::SET_COOKIE, set_cookie(SIGNIN_COOKIE, &token, 3600, over_tls(headers)));
    response
}

/// Only a path of this site is a place to go after sign-in.
fn safe_next(next: &str) -> &str {
    if next.starts_with('/') && !next.starts_with("//") && !next.contains('\\') { next } else { "/" }
}

#[derive(Deserialize)]
pub struct SignInForm {
    username: String,
    password: String,
    #[serde(default)]
    next: String,
    #[serde(rename = "_csrf", default)]
    csrf: String,
}

pub async fn login(State(henji): State<Henji>, ConnectInfo(peer): ConnectInfo<SocketAddr>, headers: HeaderMap, Form(form): Form<SignInForm>) -> Result<Response, PageError> {
    let expected = cookie(&headers, SIGNIN_COOKIE).unwrap_or("");
    if expected.is_empty() || !same(expected.as_bytes(), form.csrf.as_bytes()) {
        return Err(PageError::Csrf);
    }
    match henji.login(&form.username, &form.password, Some(peer.ip())).await {
        Ok((token, _)) => {
            let mut response = Redirect::to(safe_next(&form.next)).into_response();
            let ttl = henji.settings().session_ttl.num_seconds();
            let secure = over_tls(&headers);
            response.headers_mut().append(header::SET_COOKIE, set_cookie(SESSION_COOKIE, &token, ttl, secure));
            response.headers_mut().append(header::SET_COOKIE, set_cookie(SIGNIN_COOKIE, "", 0, secure));
            Ok(response)
        }
        Err(crate::services::ServiceError::Unauthenticated(_)) => {
            let mut page = sign_in_page(&headers, &form.next, Some("用户名或密码不正确".into()), form.username);
            *page.status_mut() = axum::http::StatusCode::UNAUTHORIZED;
            Ok(page)
        }
        Err(crate::services::ServiceError::TooManyAttempts(seconds)) => {
            let mut page = sign_in_page(&headers, &form.next, Some(format!("登录失败次数过多，请 {seconds} 秒后再试")), form.username);
            *page.status_mut() = axum::http::StatusCode::TOO_MANY_REQUESTS;
            page.headers_mut().insert(header::RETRY_AFTER, seconds.into());
            Ok(page)
        }
        Err(e) => Err(e.into()),
    }
}

#[derive(Deserialize)]
pub struct CsrfForm {
    #[serde(rename = "_csrf", default)]
    csrf: String,
}

pub async fn logout(State(henji): State<Henji>, viewer: Viewer, headers: HeaderMap, Form(form): Form<CsrfForm>) -> Result<Response, PageError> {
    viewer.check_csrf(Some(&form.csrf))?;
    henji.logout(&viewer.principal, viewer.token()).await?;
    let mut response = Redirect::to("/").into_response();
    response.headers_mut().append(header::SET_COOKIE, set_cookie(SESSION_COOKIE, "", 0, over_tls(&headers)));
    Ok(response)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_and_cookies() {
        let a = csrf_for("token-a");
        assert_eq!(a.len(), 32);
        assert_ne!(a, csrf_for("token-b"));
        let mut h = HeaderMap::new();
        h.insert(header::COOKIE, HeaderValue::from_static("x=1; henji_session=abc; y=2"));
        assert_eq!(cookie(&h, SESSION_COOKIE), Some("abc"));
        assert_eq!(cookie(&h, "z"), None);
        assert_eq!(safe_next("//evil.example/"), "/");
        assert_eq!(safe_next("https://evil.example/"), "/");
        assert_eq!(safe_next("/inbox?done=true"), "/inbox?done=true");
        assert!(same(b"abc", b"abc") && !same(b"abc", b"abd") && !same(b"ab", b"abc"));
    }
}
