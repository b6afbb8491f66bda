//! Signing in and out, the current user, and the administration of users and departments.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use argon2::Argon2;
use argon2::password_hash::phc::PasswordHash;
use argon2::password_hash::{PasswordHasher, PasswordVerifier};
use rand::RngCore;
use serde::Serialize;
use serde_json::json;
use utoipa::ToSchema;

use super::{Henji, ServiceError, ServiceResult, now};
use crate::domain::access;
use crate::domain::ids::Sha256Digest;
use crate::domain::palette;
use crate::domain::people::{Classification, Principal, Role, check_department_code, check_username};
use crate::domain::sign_in::{Failures, SignInLimits};
use crate::resources::catalog::audit::{self as audit_log, NewEvent};
use crate::resources::catalog::people::{self as rows, DepartmentRow, UserRow};
use crate::resources::catalog::is_unique_violation;

/// A user as the API shows one.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct UserView {
    pub id: String,
    pub username: String,
    pub display_name: String,
    pub department: String,
    pub roles: Vec<Role>,
    pub clearance: Classification,
    pub color: String,
}

impl From<&Principal> for UserView {
    fn from(p: &Principal) -> Self {
        Self {
            id: p.id.clone(),
            username: p.username.clone(),
            display_name: p.display_name.clone(),
            department: p.department.clone(),
            roles: p.roles.clone(),
            clearance: p.clearance,
            color: p.color.clone(),
        }
    }
}

#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct DepartmentView {
    pub code: String,
    pub name: String,
    pub created_at: String,
}

impl From<DepartmentRow> for DepartmentView {
    fn from(d: DepartmentRow) -> Self {
        Self { code: d.code, name: d.name, created_at: d.created_at }
    }
}

/// A new user, as an administrator or the command line describes one.
#[derive(Clone, Debug)]
pub struct NewUser {
    pub username: String,
    pub display_name: String,
    pub password: String,
    pub department: String,
    pub roles: Vec<Role>,
    pub clearance: Classification,
}

/// What an administrator changes of another user (`PATCH /api/v1/users/{username}`); absent
/// parts stay as they are.
#[derive(Clone, Debug, Default, serde::Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UserChange {
    pub display_name: Option<String>,
    pub roles: Option<Vec<Role>>,
    pub clearance: Option<Classification>,
    /// A new password (a reset): the user's open sessions end.
    pub password: Option<String>,
}

/// Changes a user makes to themselves.
#[derive(Clone, Debug, Default)]
pub struct ProfileChange {
    pub color: Option<String>,
    pub display_name: Option<String>,
    pub password: Option<String>,
    pub current_password: Option<String>,
}

pub fn principal_from_row(row: UserRow) -> ServiceResult<Principal> {
    let roles = row
        .roles
        .split(',')
        .filter(|r| !r.is_empty())
        .map(|r| r.parse::<Role>())
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| ServiceError::Integrity(format!("user {}: {e}", row.username)))?;
    let clearance = row.clearance;
    Ok(Principal {
        id: row.id,
        username: row.username,
        display_name: row.display_name,
        department: row.department,
        roles,
        clearance,
        color: row.color,
    })
}

/// Argon2id with a random salt; CPU-heavy, so it runs off the async threads.
pub async fn hash_password(password: String) -> ServiceResult<String> {
    tokio::task::spawn_blocking(move || {
        Argon2::default()
            .hash_password(password.as_bytes())
            .map(|h| h.to_string())
            .map_err(|e| ServiceError::Internal(format!("password hashing: {e}")))
    })
    .await
    .map_err(|e| ServiceError::Internal(e.to_string()))?
}

async fn password_matches(password: String, stored: String) -> bool {
    tokio::task::spawn_blocking(move || {
        PasswordHash::new(&stored)
            .map(|h| Argon2::default().verify_password(password.as_bytes(), &h).is_ok())
            .unwrap_or(false)
    })
    .await
    .unwrap_or(false)
}

/// Unknown usernames are checked against this, so that a wrong name takes as long as a wrong
/// password and the answer does not tell which one was wrong.
static DUMMY_HASH: tokio::sync::OnceCell<String> = tokio::sync::OnceCell::const_new();

fn token_digest(token: &str) -> String {
    Sha256Digest::of(token.as_bytes()).to_hex()
}

/// Recent failed sign-ins per user name and per address (see `domain::sign_in`), in memory:
/// a restart forgets them, which costs a guesser nothing a window would not.
#[derive(Debug, Default)]
pub struct SignInThrottle {
    failures: std::sync::Mutex<HashMap<Attempter, Failures>>,
}

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
enum Attempter {
    User(String),
    Address(IpAddr),
}

/// Names and addresses remembered at most; past it, records with nothing left in their window
/// are dropped, so a flood of made-up names costs bounded memory.
const MAX_ATTEMPTERS: usize = 100_000;

impl SignInThrottle {
    /// A name longer than any valid one is still one attempter, but a bounded key.
    fn user(username: &str) -> Attempter {
        Attempter::User(username.chars().take(64).collect())
    }

    fn attempters(username: &str, from: Option<IpAddr>, limits: &SignInLimits) -> impl Iterator<Item = (Attempter, usize)> {
        std::iter::once((Self::user(username), limits.per_user)).chain(from.map(|a| (Attempter::Address(a), limits.per_address)))
    }

    fn wait(&self, username: &str, from: Option<IpAddr>, limits: &SignInLimits, now: Instant) -> Option<Duration> {
        let mut failures = self.failures.lock().unwrap_or_else(|p| p.into_inner());
        Self::attempters(username, from, limits).filter_map(|(who, limit)| failures.get_mut(&who)?.wait(now, limit, limits.window)).max()
    }

    fn failed(&self, username: &str, from: Option<IpAddr>, limits: &SignInLimits, now: Instant) {
        let mut failures = self.failures.lock().unwrap_or_else(|p| p.into_inner());
        if failures.len() >= MAX_ATTEMPTERS {
            failures.retain(|_, f| !f.is_spent(now, limits.window));
        }
        for (who, limit) in Self::attempters(username, from, limits) {
            failures.entry(who).or_default().record(now, limit, limits.window);
        }
    }

    /// A user who signs in starts afresh; the address keeps its count.
    fn succeeded(&self, username: &str) {
        self.failures.lock().unwrap_or_else(|p| p.into_inner()).remove(&Self::user(username));
    }
}

impl Henji {
    /// Signs in from `from` (the client's address, when known); returns the bearer token
    /// (shown once; only its digest is stored) and the user. After too many failures for the
    /// name or the address, attempts are refused unheard until the window lets them in.
    pub async fn login(&self, username: &str, password: &str, from: Option<IpAddr>) -> ServiceResult<(String, UserView)> {
        let limits = self.settings.sign_in_limits;
        if let Some(wait) = self.sign_ins.wait(username, from, &limits, Instant::now()) {
            tracing::warn!(address = ?from, "sign-in refused: too many failures");
            return Err(ServiceError::TooManyAttempts(wait.as_secs_f64().ceil() as u64));
        }
        let outcome = self.check_password_and_open_session(username, password).await;
        match &outcome {
            Err(ServiceError::Unauthenticated(_)) => self.sign_ins.failed(username, from, &limits, Instant::now()),
            Ok(_) => self.sign_ins.succeeded(username),
            Err(_) => {}
        }
        outcome
    }

    async fn check_password_and_open_session(&self, username: &str, password: &str) -> ServiceResult<(String, UserView)> {
        let row = rows::user_by_username(&mut *self.catalog.read().await?, username).await?;
        let stored = match &row {
            Some(r) => r.password_hash.clone(),
            None => DUMMY_HASH.get_or_try_init(|| hash_password("not a password".into())).await?.clone(),
        };
        let ok = password_matches(password.to_owned(), stored).await;
        let at = now();
        let mut tx = self.catalog.begin_write().await?;
        let Some(row) = row.filter(|_| ok) else {
            let known = check_username(username).is_ok();
            audit_log::append(
                &mut tx,
                NewEvent {
                    at: &at,
                    user: None,
                    action: "session.denied",
                    object: "session".into(),
                    document_id: None,
                    // Only a well-formed name is recorded: the field might hold a pasted password.
                    detail: json!({"username": if known { Some(username) } else { None }}),
                },
            )
            .await?;
            tx.commit().await?;
            self.metrics.audit_events.inc();
            return Err(ServiceError::Unauthenticated("wrong username or password"));
        };
        let principal = principal_from_row(row)?;
        let mut raw = [0u8; 32];
        rand::rng().fill_bytes(&mut raw);
        let token = format!("hj_{}", hex::encode(raw));
        let expires = (chrono::Utc::now() + self.settings.session_ttl).to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
        rows::insert_session(&mut tx, &token_digest(&token), &principal.id, &at, &expires).await?;
        audit_log::append(
            &mut tx,
            NewEvent { at: &at, user: Some(&principal.username), action: "session.create", object: format!("user/{}", principal.username), document_id: None, detail: json!({"expires_at": expires}) },
        )
        .await?;
        tx.commit().await?;
        self.metrics.audit_events.inc();
        Ok((token, UserView::from(&principal)))
    }

    /// The user behind a bearer token, if it is live.
    /// Shared, not copied: every request authenticates, and a principal is six allocations.
    pub async fn authenticate(&self, token: &str) -> ServiceResult<Arc<Principal>> {
        if token.len() > 256 {
            return Err(ServiceError::Unauthenticated("invalid or expired token"));
        }
        let digest = token_digest(token);
        let at = now();
        if let Some(p) = self.caches.session(&digest, &at) {
            return Ok(p);
        }
        let generation = self.caches.session_generation();
        let row = rows::user_by_session(&mut *self.catalog.read().await?, &digest, &at).await?;
        match row {
            Some(r) => {
                let principal = Arc::new(principal_from_row(r.user)?);
                self.caches.put_session(digest, principal.clone(), r.expires_at, generation);
                Ok(principal)
            }
            None => Err(ServiceError::Unauthenticated("invalid or expired token")),
        }
    }

    pub async fn logout(&self, who: &Principal, token: &str) -> ServiceResult<()> {
        let (at, digest) = (now(), token_digest(token));
        let mut tx = self.catalog.begin_write().await?;
        rows::revoke_session(&mut tx, &digest, &at).await?;
        self.audit(&mut tx, &at, who, "session.revoke", format!("user/{}", who.username), None, json!({})).await?;
        tx.commit().await?;
        self.caches.forget_session(&digest);
        Ok(())
    }

    pub async fn update_profile(&self, who: &Principal, change: ProfileChange) -> ServiceResult<UserView> {
        let mut row = rows::user_by_username(&mut *self.catalog.read().await?, &who.username)
            .await?
            .ok_or(ServiceError::NotFound("user"))?;
        if let Some(color) = &change.color {
            if !palette::is_palette_color(color) {
                return Err(ServiceError::invalid("color", format!("must be one of the palette colours: {}", palette::PALETTE.join(", "))));
            }
            row.color = color.to_uppercase();
        }
        if let Some(name) = &change.display_name {
            row.display_name = check_display_name(name)?;
        }
        let mut changed = vec![];
        if change.color.is_some() {
            changed.push("color");
        }
        if change.display_name.is_some() {
            changed.push("display_name");
        }
        if let Some(password) = change.password {
            let Some(current) = change.current_password else {
                return Err(ServiceError::invalid("current_password", "is required to set a new password"));
            };
            if !password_matches(current, row.password_hash.clone()).await {
                return Err(ServiceError::Forbidden("current_password is wrong".into()));
            }
            check_password(&password)?;
            row.password_hash = hash_password(password).await?;
            changed.push("password");
        }
        let at = now();
        let mut tx = self.catalog.begin_write().await?;
        rows::update_user_profile(&mut tx, &row.id, &row.display_name, &row.color, &row.password_hash).await?;
        self.audit(&mut tx, &at, who, "user.update", format!("user/{}", who.username), None, json!({"changed": changed})).await?;
        tx.commit().await?;
        self.caches.forget_user(&row.id);
        Ok(UserView::from(&principal_from_row(row)?))
    }

    /// Creates a user (administrators; the console).
    pub async fn create_user(&self, by: &Principal, new: NewUser) -> ServiceResult<UserView> {
        access::check_admin(by).map_err(|d| ServiceError::from_denied(d, "user"))?;
        check_username(&new.username).map_err(|why| ServiceError::invalid("username", why))?;
        let display_name = check_display_name(&new.display_name)?;
        check_password(&new.password)?;
        if new.roles.is_empty() {
            return Err(ServiceError::invalid("roles", "at least one role is required"));
        }
        let password_hash = hash_password(new.password).await?;
        let at = now();
        let mut tx = self.catalog.begin_write().await?;
        if !rows::department_exists(&mut tx, &new.department).await? {
            return Err(ServiceError::invalid("department", "no such department"));
        }
        let n = rows::count_users(&mut tx).await?;
        let mut roles: Vec<&str> = new.roles.iter().map(|r| r.as_str()).collect();
        roles.dedup();
        let row = UserRow {
            id: ulid::Ulid::new().to_string(),
            username: new.username.clone(),
            display_name,
            password_hash,
            department: new.department.clone(),
            roles: roles.join(","),
            clearance: new.clearance,
            color: palette::color_for_index(n as u64).to_owned(),
            created_at: at.clone(),
        };
        match rows::insert_user(&mut tx, &row).await {
            Err(e) if is_unique_violation(&e) => return Err(ServiceError::Conflict(format!("username {:?} is taken", new.username))),
            other => other?,
        }
        let detail = json!({"department": row.department, "roles": roles, "clearance": row.clearance});
        self.audit(&mut tx, &at, by, "user.create", format!("user/{}", row.username), None, detail).await?;
        tx.commit().await?;
        // An author a legend could not name before may now have a name.
        self.caches.people_changed();
        Ok(UserView::from(&principal_from_row(row)?))
    }

    /// An administrator changes a user's roles, clearance, name or password.
    pub async fn update_user(&self, by: &Principal, username: &str, change: UserChange) -> ServiceResult<UserView> {
        access::check_admin(by).map_err(|d| ServiceError::from_denied(d, "user"))?;
        let row = rows::user_by_username(&mut *self.catalog.read().await?, username).await?.ok_or(ServiceError::NotFound("user"))?;
        let mut user = principal_from_row(row.clone())?;
        let mut changed = Vec::new();
        if let Some(name) = change.display_name {
            user.display_name = check_display_name(&name)?;
            changed.push("display_name");
        }
        if let Some(mut roles) = change.roles {
            if roles.is_empty() {
                return Err(ServiceError::invalid("roles", "at least one role is required"));
            }
            roles.sort();
            roles.dedup();
            user.roles = roles;
            changed.push("roles");
        }
        if let Some(c) = change.clearance {
            user.clearance = c;
            changed.push("clearance");
        }
        let password_hash = match change.password {
            Some(p) => {
                check_password(&p)?;
                changed.push("password");
                hash_password(p).await?
            }
            None => row.password_hash,
        };
        let roles: Vec<&str> = user.roles.iter().map(|r| r.as_str()).collect();
        let at = now();
        let mut tx = self.catalog.begin_write().await?;
        rows::update_user_admin(&mut tx, &user.id, &roles.join(","), user.clearance, &user.display_name, &password_hash).await?;
        if changed.contains(&"password") {
            rows::revoke_sessions_of(&mut tx, &user.id, &at).await?;
        }
        let detail = json!({"changed": changed, "roles": roles, "clearance": user.clearance});
        self.audit(&mut tx, &at, by, "user.update", format!("user/{}", user.username), None, detail).await?;
        tx.commit().await?;
        self.caches.forget_user(&user.id);
        Ok(UserView::from(&user))
    }

    pub async fn list_users(&self, after: &str, limit: i64) -> ServiceResult<Vec<UserView>> {
        let rows = rows::list_users(&mut *self.catalog.read().await?, after, limit).await?;
        rows.into_iter().map(|r| principal_from_row(r).map(|p| UserView::from(&p))).collect()
    }

    pub async fn create_department(&self, by: &Principal, code: &str, name: &str) -> ServiceResult<DepartmentView> {
        access::check_admin(by).map_err(|d| ServiceError::from_denied(d, "department"))?;
        check_department_code(code).map_err(|why| ServiceError::invalid("code", why))?;
        let name = name.trim();
        if name.is_empty() || name.chars().count() > 100 {
            return Err(ServiceError::invalid("name", "1 to 100 characters"));
        }
        let at = now();
        let row = DepartmentRow { code: code.to_owned(), name: name.to_owned(), created_at: at.clone() };
        let mut tx = self.catalog.begin_write().await?;
        match rows::insert_department(&mut tx, &row).await {
            Err(e) if is_unique_violation(&e) => return Err(ServiceError::Conflict(format!("department {code:?} exists"))),
            other => other?,
        }
        self.audit(&mut tx, &at, by, "department.create", format!("department/{code}"), None, json!({"name": name})).await?;
        tx.commit().await?;
        self.caches.people_changed();
        Ok(row.into())
    }

    pub async fn list_departments(&self, after: &str, limit: i64) -> ServiceResult<Vec<DepartmentView>> {
        let rows = rows::list_departments(&mut *self.catalog.read().await?, after, limit).await?;
        Ok(rows.into_iter().map(Into::into).collect())
    }
}

fn check_display_name(name: &str) -> ServiceResult<String> {
    let name = name.trim();
    if name.is_empty() || name.chars().count() > 100 || name.chars().any(char::is_control) {
        return Err(ServiceError::invalid("display_name", "1 to 100 printable characters"));
    }
    Ok(name.to_owned())
}

fn check_password(password: &str) -> ServiceResult<()> {
    if password.chars().count() < 8 || password.len() > 1024 {
        return Err(ServiceError::invalid("password", "8 to 1024 characters"));
    }
    Ok(())
}
