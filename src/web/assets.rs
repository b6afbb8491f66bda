//! The desk's stylesheet and script, compiled into the binary and served under names that
//! carry a digest of their content, so a browser may keep them for good; and the colour
//! classes of a trace's legend, since no page carries an inline style.

use std::sync::LazyLock;

use axum::extract::{Path, RawQuery};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use sha2::{Digest, Sha256};

use crate::domain::traces::html::legend_css as legend_rules;

const APP_CSS: &str = include_str!("assets/app.css");
const APP_JS: &str = include_str!("assets/app.js");
const FAVICON: &str = include_str!("assets/favicon.svg");

struct Asset {
    name: String,
    body: &'static str,
    media_type: &'static str,
}

fn named(stem: &str, ext: &str, body: &'static str, media_type: &'static str) -> Asset {
    let digest = Sha256::digest(body.as_bytes());
    Asset { name: format!("{stem}-{}.{ext}", &hex::encode(digest)[..12]), body, media_type }
}

static ASSETS: LazyLock<[Asset; 3]> = LazyLock::new(|| {
    [named("app", "css", APP_CSS, "text/css; charset=utf-8"), named("app", "js", APP_JS, "text/javascript; charset=utf-8"), named("favicon", "svg", FAVICON, "image/svg+xml")]
});

pub fn css_name() -> &'static str {
    &ASSETS[0].name
}

pub fn js_name() -> &'static str {
    &ASSETS[1].name
}

pub fn favicon_name() -> &'static str {
    &ASSETS[2].name
}

const FOREVER: &str = "public, max-age=31536000, immutable";

pub async fn asset(Path(name): Path<String>) -> Response {
    match ASSETS.iter().find(|a| a.name == name) {
        Some(a) => ([(header::CONTENT_TYPE, a.media_type), (header::CACHE_CONTROL, FOREVER)], a.body).into_response(),
        None => (StatusCode::NOT_FOUND, "no such asset").into_response(),
    }
}

/// `/assets/legend.css?c=C62828.1565C0…`: `.aN` and `.swN` for the N-th colour.
pub async fn legend_css(RawQuery(query): RawQuery) -> Response {
    let colors: Vec<String> = query
        .as_deref()
        .and_then(|q| q.strip_prefix("c="))
        .unwrap_or("")
        .split('.')
        .take(256)
        .map(|c| format!("#{c}"))
        .collect();
    let refs: Vec<&str> = colors.iter().map(String::as_str).collect();
    let mut response = legend_rules(&refs).into_response();
    response.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("text/css; charset=utf-8"));
    response.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static(FOREVER));
    response
}

/// The address of the stylesheet for these legend colours (`#RRGGBB`).
pub fn legend_href(colors: &[String]) -> String {
    let list: Vec<&str> = colors.iter().map(|c| c.trim_start_matches('#')).collect();
    format!("/assets/legend.css?c={}", list.join("."))
}
