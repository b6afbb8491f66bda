//! Users, departments and sessions in the catalog.

use sqlx::FromRow;

use super::{CatalogResult, Conn};
use crate::domain::people::Classification;

#[derive(Clone, Debug, FromRow)]
pub struct UserRow {
    pub id: String,
    pub username: String,
    pub display_name: String,
    pub password_hash: String,
    pub department: String,
    pub roles: String,
    pub clearance: Classification,
    pub color: String,
    pub created_at: String,
}

#[derive(Clone, Debug, FromRow)]
pub struct DepartmentRow {
    pub code: String,
    pub name: String,
    pub created_at: String,
}

const USER_COLUMNS: &str = "id, username, display_name, password_hash, department, roles, clearance, color, created_at";
/// The same columns, qualified for the join with sessions.
const USER_COLUMNS_U: &str = "u.id, u.username, u.display_name, u.password_hash, u.department, u.roles, u.clearance, u.color, u.created_at";

pub async fn insert_department(conn: &mut Conn, d: &DepartmentRow) -> CatalogResult<()> {
    sqlx::query("INSERT INTO departments (code, name, created_at) VALUES ($1, $2, $3)")
        .bind(&d.code)
        .bind(&d.name)
        .bind(&d.created_at)
        .execute(&mut conn.0)
        .await
        .map(|_| ())
}

pub async fn department_exists(conn: &mut Conn, code: &str) -> CatalogResult<bool> {
    let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM departments WHERE code = $1").bind(code).fetch_one(&mut conn.0).await?;
    Ok(n > 0)
}

pub async fn list_departments(conn: &mut Conn, after: &str, limit: i64) -> CatalogResult<Vec<DepartmentRow>> {
    sqlx::query_as("SELECT code, name, created_at FROM departments WHERE code > $1 ORDER BY code LIMIT $2")
        .bind(after)
        .bind(limit)
        .fetch_all(&mut conn.0)
        .await
}

pub async fn insert_user(conn: &mut Conn, u: &UserRow) -> CatalogResult<()> {
    sqlx::query(
        "INSERT INTO users (id, username, display_name, password_hash, department, roles, clearance, color, created_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
    )
    .bind(&u.id)
    .bind(&u.username)
    .bind(&u.display_name)
    .bind(&u.password_hash)
    .bind(&u.department)
    .bind(&u.roles)
    .bind(u.clearance)
    .bind(&u.color)
    .bind(&u.created_at)
    .execute(&mut conn.0)
    .await
    .map(|_| ())
}

pub async fn count_users(conn: &mut Conn) -> CatalogResult<i64> {
    sqlx::query_scalar("SELECT COUNT(*) FROM users").fetch_one(&mut conn.0).await
}

pub async fn user_by_username(conn: &mut Conn, username: &str) -> CatalogResult<Option<UserRow>> {
    sqlx::query_as(sqlx::AssertSqlSafe(format!("SELECT {USER_COLUMNS} FROM users WHERE username = $1")))
        .bind(username)
        .fetch_optional(&mut conn.0)
        .await
}

pub async fn list_users(conn: &mut Conn, after: &str, limit: i64) -> CatalogResult<Vec<UserRow>> {
    sqlx::query_as(sqlx::AssertSqlSafe(format!("SELECT {USER_COLUMNS} FROM users WHERE username > $1 ORDER BY username LIMIT $2")))
        .bind(after)
        .bind(limit)
        .fetch_all(&mut conn.0)
        .await
}

/// What an administrator changes of a user: roles, clearance, name and, on a reset, the password.
pub async fn update_user_admin(conn: &mut Conn, id: &str, roles: &str, clearance: Classification, display_name: &str, password_hash: &str) -> CatalogResult<()> {
    sqlx::query("UPDATE users SET roles = $1, clearance = $2, display_name = $3, password_hash = $4 WHERE id = $5")
        .bind(roles)
        .bind(clearance)
        .bind(display_name)
        .bind(password_hash)
        .bind(id)
        .execute(&mut conn.0)
        .await
        .map(|_| ())
}

/// Every open session of a user ends (after a password reset).
pub async fn revoke_sessions_of(conn: &mut Conn, user_id: &str, at: &str) -> CatalogResult<()> {
    sqlx::query("UPDATE sessions SET revoked_at = $1 WHERE user_id = $2 AND revoked_at IS NULL").bind(at).bind(user_id).execute(&mut conn.0).await.map(|_| ())
}

pub async fn update_user_profile(conn: &mut Conn, id: &str, display_name: &str, color: &str, password_hash: &str) -> CatalogResult<()> {
    sqlx::query("UPDATE users SET display_name = $1, color = $2, password_hash = $3 WHERE id = $4")
        .bind(display_name)
        .bind(color)
        .bind(password_hash)
        .bind(id)
        .execute(&mut conn.0)
        .await
        .map(|_| ())
}

pub async fn insert_session(conn: &mut Conn, token_hash: &str, user_id: &str, created_at: &str, expires_at: &str) -> CatalogResult<()> {
    sqlx::query("INSERT INTO sessions (token_hash, user_id, created_at, expires_at) VALUES ($1, $2, $3, $4)")
        .bind(token_hash)
        .bind(user_id)
        .bind(created_at)
        .bind(expires_at)
        .execute(&mut conn.0)
        .await
        .map(|_| ())
}

/// A live session's user and when the session expires.
#[derive(Clone, Debug, FromRow)]
pub struct SessionUser {
    #[sqlx(flatten)]
    pub user: UserRow,
    pub expires_at: String,
}

/// The user behind a live token: not revoked, not expired at `now`.
pub async fn user_by_session(conn: &mut Conn, token_hash: &str, now: &str) -> CatalogResult<Option<SessionUser>> {
    sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {USER_COLUMNS_U}, s.expires_at FROM sessions s JOIN users u ON u.id = s.user_id
         WHERE s.token_hash = $1 AND s.revoked_at IS NULL AND s.expires_at > $2"
    )))
    .bind(token_hash)
    .bind(now)
    .fetch_optional(&mut conn.0)
    .await
}

pub async fn revoke_session(conn: &mut Conn, token_hash: &str, now: &str) -> CatalogResult<()> {
    sqlx::query("UPDATE sessions SET revoked_at = $1 WHERE token_hash = $2 AND revoked_at IS NULL")
        .bind(now)
        .bind(token_hash)
        .execute(&mut conn.0)
        .await
        .map(|_| ())
}

pub async fn department_name(conn: &mut Conn, code: &str) -> CatalogResult<Option<String>> {
    sqlx::query_scalar("SELECT name FROM departments WHERE code = $1").bind(code).fetch_optional(&mut conn.0).await
}

/// Everyone in a department, by username (to resolve a route template's `{role, department}`).
pub async fn users_in_department(conn: &mut Conn, code: &str) -> CatalogResult<Vec<UserRow>> {
    sqlx::query_as(sqlx::AssertSqlSafe(format!("SELECT {USER_COLUMNS} FROM users WHERE department = $1 ORDER BY username")))
        .bind(code)
        .fetch_all(&mut conn.0)
        .await
}
