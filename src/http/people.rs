//! Routes for signing in and out, the current user, users and departments.

use axum::Json;
use std::net::SocketAddr;

use axum::extract::{ConnectInfo, State};
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::error::{ApiResult, Problem};
use super::extract::{ApiJson, ApiPath, ApiQuery, CurrentUser};
use super::{ListQuery, Page};
use crate::domain::people::{Classification, Role};
use crate::services::people::{DepartmentView, NewUser, ProfileChange, UserChange, UserView};
use crate::services::{Henji, clamp_limit};

pub fn router() -> OpenApiRouter<Henji> {
    OpenApiRouter::new()
        .routes(routes!(create_session))
        .routes(routes!(delete_session))
        .routes(routes!(get_me, patch_me))
        .routes(routes!(create_user, list_users))
        .routes(routes!(update_user))
        .routes(routes!(create_department, list_departments))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LoginRequest {
    username: String,
    password: String,
}

#[derive(Serialize, ToSchema)]
pub struct SessionView {
    token: String,
    user: UserView,
}

/// Sign in. The answer is the same whether the user is unknown or the password wrong. After
/// 5 failures for a user name, or 30 from one address, within 5 minutes, attempts get 429
/// with `Retry-After` until the oldest failure is 5 minutes old.
#[utoipa::path(post, path = "/api/v1/sessions", tag = "people", request_body = LoginRequest,
    responses((status = 201, body = SessionView), (status = 401, body = Problem), (status = 422, body = Problem), (status = 429, body = Problem)))]
async fn create_session(State(henji): State<Henji>, ConnectInfo(peer): ConnectInfo<SocketAddr>, ApiJson(req): ApiJson<LoginRequest>) -> ApiResult<(StatusCode, Json<SessionView>)> {
    let (token, user) = henji.login(&req.username, &req.password, Some(peer.ip())).await?;
    Ok((StatusCode::CREATED, Json(SessionView { token, user })))
}

/// Sign out: the token stops working.
#[utoipa::path(delete, path = "/api/v1/sessions/current", tag = "people", security(("bearer" = [])),
    responses((status = 204), (status = 401, body = Problem)))]
async fn delete_session(State(henji): State<Henji>, user: CurrentUser) -> ApiResult<StatusCode> {
    henji.logout(&user.principal, &user.token).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[utoipa::path(get, path = "/api/v1/me", tag = "people", security(("bearer" = [])),
    responses((status = 200, body = UserView), (status = 401, body = Problem)))]
async fn get_me(user: CurrentUser) -> Json<UserView> {
    Json(UserView::from(user.principal.as_ref()))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PatchMe {
    /// One of the palette colours.
    color: Option<String>,
    display_name: Option<String>,
    password: Option<String>,
    current_password: Option<String>,
}

#[utoipa::path(patch, path = "/api/v1/me", tag = "people", security(("bearer" = [])), request_body = PatchMe,
    responses((status = 200, body = UserView), (status = 403, body = Problem), (status = 422, body = Problem)))]
async fn patch_me(State(henji): State<Henji>, user: CurrentUser, ApiJson(req): ApiJson<PatchMe>) -> ApiResult<Json<UserView>> {
    let change = ProfileChange { color: req.color, display_name: req.display_name, password: req.password, current_password: req.current_password };
    Ok(Json(henji.update_profile(&user.principal, change).await?))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateUser {
    username: String,
    display_name: String,
    password: String,
    department: String,
    roles: Vec<Role>,
    clearance: Classification,
}

/// Create a user (administrators only).
#[utoipa::path(post, path = "/api/v1/users", tag = "people", security(("bearer" = [])), request_body = CreateUser,
    responses((status = 201, body = UserView), (status = 403, body = Problem), (status = 409, body = Problem), (status = 422, body = Problem)))]
async fn create_user(State(henji): State<Henji>, user: CurrentUser, ApiJson(req): ApiJson<CreateUser>) -> ApiResult<(StatusCode, Json<UserView>)> {
    let new = NewUser { username: req.username, display_name: req.display_name, password: req.password, department: req.department, roles: req.roles, clearance: req.clearance };
    Ok((StatusCode::CREATED, Json(henji.create_user(&user.principal, new).await?)))
}

/// Change a user's roles, clearance, name, or reset their password (administrators only; a
/// reset ends the user's sessions).
#[utoipa::path(patch, path = "/api/v1/users/{username}", tag = "people", security(("bearer" = [])), params(("username" = String, Path)), request_body = UserChange,
    responses((status = 200, body = UserView), (status = 403, body = Problem), (status = 404, body = Problem), (status = 422, body = Problem)))]
async fn update_user(State(henji): State<Henji>, user: CurrentUser, ApiPath(username): ApiPath<String>, ApiJson(change): ApiJson<UserChange>) -> ApiResult<Json<UserView>> {
    Ok(Json(henji.update_user(&user.principal, &username, change).await?))
}

/// Every signed-in user may list users, to choose assignees.
#[utoipa::path(get, path = "/api/v1/users", tag = "people", security(("bearer" = [])), params(ListQuery),
    responses((status = 200, body = Page<UserView>), (status = 401, body = Problem)))]
async fn list_users(State(henji): State<Henji>, _user: CurrentUser, ApiQuery(q): ApiQuery<ListQuery>) -> ApiResult<Json<Page<UserView>>> {
    let limit = clamp_limit(q.limit, 50, 500);
    let users = henji.list_users(q.cursor.as_deref().unwrap_or(""), limit + 1).await?;
    Ok(Json(Page::from_items(users, limit, |u| u.username.clone())))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateDepartment {
    code: String,
    name: String,
}

/// Create a department (administrators only).
#[utoipa::path(post, path = "/api/v1/departments", tag = "people", security(("bearer" = [])), request_body = CreateDepartment,
    responses((status = 201, body = DepartmentView), (status = 403, body = Problem), (status = 409, body = Problem), (status = 422, body = Problem)))]
async fn create_department(State(henji): State<Henji>, user: CurrentUser, ApiJson(req): ApiJson<CreateDepartment>) -> ApiResult<(StatusCode, Json<DepartmentView>)> {
    Ok((StatusCode::CREATED, Json(henji.create_department(&user.principal, &req.code, &req.name).await?)))
}

#[utoipa::path(get, path = "/api/v1/departments", tag = "people", security(("bearer" = [])), params(ListQuery),
    responses((status = 200, body = Page<DepartmentView>), (status = 401, body = Problem)))]
async fn list_departments(State(henji): State<Henji>, _user: CurrentUser, ApiQuery(q): ApiQuery<ListQuery>) -> ApiResult<Json<Page<DepartmentView>>> {
    let limit = clamp_limit(q.limit, 50, 500);
    let items = henji.list_departments(q.cursor.as_deref().unwrap_or(""), limit + 1).await?;
    Ok(Json(Page::from_items(items, limit, |d| d.code.clone())))
}

