//! 管理: departments, users (roles, clearance, password resets), fixity, key status, and for
//! auditors the audit log with the verification of its hash chain. Each section shows what the
//! viewer's roles open; each form is checked again by its service.

use axum::extract::{Form, Path, Query, State};
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;

use super::desk::chrome;
use super::forms::FormPairs;
use super::pages::{AdminPage, AdminUser, IntoPage, Zh, color_class};
use super::{PageError, Viewer};
use crate::domain::people::{Classification, Role};
use crate::services::audit::{AuditQuery, ChainReport};
use crate::services::people::{NewUser, UserChange};
use crate::services::{Henji, ServiceError};

const AUDIT_PAGE: i64 = 50;

#[derive(Deserialize, Default)]
pub struct AdminParams {
    audit_before: Option<i64>,
    notice: Option<String>,
}

pub async fn page(State(henji): State<Henji>, viewer: Viewer, Query(p): Query<AdminParams>) -> Result<Response, PageError> {
    let who = &viewer.principal;
    let chrome = chrome(&henji, &viewer, "admin").await?;
    if !chrome.menu.admin && !chrome.menu.audit {
        return Err(ServiceError::Forbidden("administrators and auditors only".into()).into());
    }
    let mut page = AdminPage {
        departments: vec![],
        users: vec![],
        fixity: vec![],
        keys: vec![],
        audit: vec![],
        audit_next: None,
        chain_ok: true,
        chain_events: 0,
        chain_bad: 0,
        roles: Role::ALL.iter().map(|r| (r.as_str(), r.zh())).collect(),
        clearances: Classification::ALL.iter().map(|c| (c.as_str(), c.zh())).collect(),
        notice: p.notice.as_deref().and_then(notice_text).map(str::to_owned),
        chrome,
    };
    if page.chrome.menu.admin {
        page.departments = henji.list_departments("", 500).await?;
        page.users = henji
            .list_users("", 500)
            .await?
            .into_iter()
            .map(|u| AdminUser { color_class: color_class(&u.color), role_words: u.roles.iter().map(|r| r.as_str()).collect(), user: u })
            .collect();
        page.fixity = henji.fixity_runs(who, 20).await?;
        page.keys = henji.key_status(who).await?;
    }
    if page.chrome.menu.audit {
        let query = AuditQuery { newest_before: Some(p.audit_before.unwrap_or(i64::MAX)), limit: AUDIT_PAGE + 1, ..Default::default() };
        let mut events = henji.list_audit(who, &query).await?;
        if events.len() as i64 > AUDIT_PAGE {
            events.truncate(AUDIT_PAGE as usize);
            page.audit_next = events.last().map(|e| e.seq);
        }
        page.audit = events;
        match henji.check_audit_chain(who).await? {
            ChainReport::Intact { events } => page.chain_events = events,
            ChainReport::Broken { first_bad_seq } => {
                page.chain_ok = false;
                page.chain_bad = first_bad_seq;
            }
        }
    }
    Ok(page.into_page())
}

fn notice_text(key: &str) -> Option<&'static str> {
    Some(match key {
        "department" => "部门已建立。",
        "user" => "用户已建立。",
        "updated" => "用户已更新。",
        "fixity" => "完整性检查已完成。",
        _ => return None,
    })
}

#[derive(Deserialize)]
pub struct DepartmentForm {
    #[serde(rename = "_csrf", default)]
    csrf: String,
    code: String,
    name: String,
}

pub async fn create_department(State(henji): State<Henji>, viewer: Viewer, Form(form): Form<DepartmentForm>) -> Result<Response, PageError> {
    viewer.check_csrf(Some(&form.csrf))?;
    henji.create_department(&viewer.principal, form.code.trim(), &form.name).await?;
    Ok(Redirect::to("/admin?notice=department#departments").into_response())
}

fn roles_of(form: &FormPairs) -> Result<Vec<Role>, ServiceError> {
    form.all("roles").iter().map(|r| r.parse::<Role>().map_err(|e| ServiceError::invalid("roles", e.to_string()))).collect()
}

fn clearance_of(form: &FormPairs) -> Result<Option<Classification>, ServiceError> {
    form.text("clearance").map(|c| c.parse::<Classification>().map_err(|e| ServiceError::invalid("clearance", e.to_string()))).transpose()
}

pub async fn create_user(State(henji): State<Henji>, viewer: Viewer, Form(pairs): Form<Vec<(String, String)>>) -> Result<Response, PageError> {
    let form = FormPairs(pairs);
    viewer.check_csrf(form.get("_csrf"))?;
    let new = NewUser {
        username: form.text("username").unwrap_or_default(),
        display_name: form.text("display_name").unwrap_or_default(),
        password: form.get("password").unwrap_or("").to_owned(),
        department: form.text("department").unwrap_or_default(),
        roles: roles_of(&form)?,
        clearance: clearance_of(&form)?.unwrap_or(Classification::Internal),
    };
    henji.create_user(&viewer.principal, new).await?;
    Ok(Redirect::to("/admin?notice=user#users").into_response())
}

pub async fn update_user(State(henji): State<Henji>, viewer: Viewer, Path(username): Path<String>, Form(pairs): Form<Vec<(String, String)>>) -> Result<Response, PageError> {
    let form = FormPairs(pairs);
    viewer.check_csrf(form.get("_csrf"))?;
    let change = UserChange { display_name: form.text("display_name"), roles: Some(roles_of(&form)?), clearance: clearance_of(&form)?, password: form.text("password") };
    henji.update_user(&viewer.principal, &username, change).await?;
    Ok(Redirect::to("/admin?notice=updated#users").into_response())
}

#[derive(Deserialize)]
pub struct CsrfOnly {
    #[serde(rename = "_csrf", default)]
    csrf: String,
}

pub async fn run_fixity(State(henji): State<Henji>, viewer: Viewer, Form(form): Form<CsrfOnly>) -> Result<Response, PageError> {
    viewer.check_csrf(Some(&form.csrf))?;
    henji.run_fixity(&viewer.principal, "web").await?;
    Ok(Redirect::to("/admin?notice=fixity#fixity").into_response())
}
