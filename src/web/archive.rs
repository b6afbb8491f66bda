//! 归档 and the archive: archiving a finished document, the list of records filtered by
//! department, year, retention and expiry, the BagIt package, and disposal (销毁).

use axum::extract::{Form, Path, Query, State};
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;

use super::desk::chrome;
use super::pages::{ArchivePage, IntoPage};
use super::{PageError, Viewer};
use crate::domain::archive::Retention;
use crate::services::archive::{ArchiveQuery, ArchiveRequest};
use crate::services::{Henji, ServiceError};

const PAGE: i64 = 100;

#[derive(Deserialize, Default)]
pub struct ArchiveParams {
    department: Option<String>,
    year: Option<String>,
    retention: Option<String>,
    expired: Option<String>,
    cursor: Option<String>,
    notice: Option<String>,
}

pub async fn page(State(henji): State<Henji>, viewer: Viewer, Query(p): Query<ArchiveParams>) -> Result<Response, PageError> {
    let department = p.department.clone().filter(|d| !d.is_empty());
    let year = match p.year.as_deref().filter(|y| !y.is_empty()) {
        Some(y) => Some(y.parse::<i64>().map_err(|_| ServiceError::invalid("year", "a year such as 2026"))?),
        None => None,
    };
    let retention = match p.retention.as_deref().filter(|r| !r.is_empty()) {
        Some(r) => Some(Retention::parse(r).ok_or_else(|| ServiceError::invalid("retention", "permanent, 30y or 10y"))?),
        None => None,
    };
    let expired = p.expired.as_deref() == Some("true");
    let query = ArchiveQuery { department: department.clone(), year, retention, expired, cursor: p.cursor.clone(), limit: PAGE + 1 };
    let mut records = henji.list_archive(&viewer.principal, &query).await?;
    let next = (records.len() as i64 > PAGE).then(|| {
        records.truncate(PAGE as usize);
        let mut q = url::form_urlencoded::Serializer::new(String::new());
        for (k, v) in [("department", department.clone().unwrap_or_default()), ("year", p.year.clone().unwrap_or_default()), ("retention", p.retention.clone().unwrap_or_default())] {
            q.append_pair(k, &v);
        }
        if expired {
            q.append_pair("expired", "true");
        }
        q.append_pair("cursor", &records.last().map(|r| r.archive_no.clone()).unwrap_or_default());
        format!("/archive?{}", q.finish())
    });
    let notice = match p.notice.as_deref() {
        Some("disposed") => Some("已销毁。".to_owned()),
        _ => None,
    };
    let page = ArchivePage {
        chrome: chrome(&henji, &viewer, "archive").await?,
        departments: henji.list_departments("", 500).await?,
        department: department.unwrap_or_default(),
        year: p.year.unwrap_or_default(),
        retention: p.retention.unwrap_or_default(),
        expired,
        records,
        next,
        notice,
    };
    Ok(page.into_page())
}

#[derive(Deserialize)]
pub struct ArchiveForm {
    #[serde(rename = "_csrf", default)]
    csrf: String,
    retention: Retention,
    #[serde(default)]
    category: String,
}

/// 归档: the document gets the next archive number and becomes read-only.
pub async fn archive_document(State(henji): State<Henji>, viewer: Viewer, Path(id): Path<String>, Form(form): Form<ArchiveForm>) -> Result<Response, PageError> {
    viewer.check_csrf(Some(&form.csrf))?;
    let category = Some(form.category.trim().to_owned()).filter(|c| !c.is_empty());
    henji.archive_document(&viewer.principal, &id, ArchiveRequest { retention: form.retention, category }).await?;
    Ok(Redirect::to(&format!("/documents/{id}?notice=archived")).into_response())
}

/// The record's BagIt package, streamed.
pub async fn package(State(henji): State<Henji>, viewer: Viewer, Path(archive_no): Path<String>) -> Result<Response, PageError> {
    let stream = henji.archive_package(&viewer.principal, &archive_no, None).await?;
    Ok(crate::http::archive::package_response(&archive_no, stream))
}

#[derive(Deserialize)]
pub struct DisposeForm {
    #[serde(rename = "_csrf", default)]
    csrf: String,
    reason: String,
}

/// 销毁 of a record past its retention (administrators).
pub async fn dispose(State(henji): State<Henji>, viewer: Viewer, Path(archive_no): Path<String>, Form(form): Form<DisposeForm>) -> Result<Response, PageError> {
    viewer.check_csrf(Some(&form.csrf))?;
    henji.dispose(&viewer.principal, &archive_no, &form.reason).await?;
    Ok(Redirect::to("/archive?notice=disposed").into_response())
}
