//! Routes for auditors and administrators: the audit trail, its verification, and fixity.

use axum::Json;
use axum::extract::State;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::Page;
use super::error::{ApiResult, Problem};
use super::extract::{ApiQuery, CurrentUser};
use crate::domain::audit::AuditEvent;
use crate::services::audit::{self, ChainReport};
use crate::services::fixity::{FixityRow, FixityRun};
use crate::services::{Henji, clamp_limit};

pub fn router() -> OpenApiRouter<Henji> {
    OpenApiRouter::new().routes(routes!(list_audit)).routes(routes!(verify_audit)).routes(routes!(fixity, fixity_runs))
}

#[derive(Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct AuditQuery {
    /// Only events about this document.
    document: Option<String>,
    /// Only events by this username.
    user: Option<String>,
    /// Only events at or after this RFC 3339 time.
    since: Option<String>,
    limit: Option<i64>,
    cursor: Option<String>,
}

/// The audit trail (auditors and administrators only).
#[utoipa::path(get, path = "/api/v1/audit", tag = "audit", security(("bearer" = [])), params(AuditQuery),
    responses((status = 200, body = Page<AuditEvent>), (status = 400, body = Problem), (status = 403, body = Problem)))]
async fn list_audit(State(henji): State<Henji>, user: CurrentUser, ApiQuery(q): ApiQuery<AuditQuery>) -> ApiResult<Json<Page<AuditEvent>>> {
    let limit = clamp_limit(q.limit, 50, 500);
    let after_seq = match q.cursor.as_deref() {
        None | Some("") => 0,
        Some(c) => c.parse().map_err(|_| Problem::bad_request("cursor must come from next_cursor"))?,
    };
    let query = audit::AuditQuery { document: q.document, user: q.user, since: q.since, after_seq, newest_before: None, limit: limit + 1 };
    let events = henji.list_audit(&user.principal, &query).await?;
    Ok(Json(Page::from_items(events, limit, |e| e.seq.to_string())))
}

#[derive(Serialize, ToSchema)]
pub struct AuditVerification {
    ok: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    events: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    first_bad_seq: Option<i64>,
}

/// Re-computes the hash chain: `{"ok":true,"events":n}` or `{"ok":false,"first_bad_seq":n}`.
#[utoipa::path(get, path = "/api/v1/audit/verify", tag = "audit", security(("bearer" = [])),
    responses((status = 200, body = AuditVerification), (status = 403, body = Problem)))]
async fn verify_audit(State(henji): State<Henji>, user: CurrentUser) -> ApiResult<Json<AuditVerification>> {
    Ok(Json(match henji.check_audit_chain(&user.principal).await? {
        ChainReport::Intact { events } => AuditVerification { ok: true, events: Some(events), first_bad_seq: None },
        ChainReport::Broken { first_bad_seq } => AuditVerification { ok: false, events: None, first_bad_seq: Some(first_bad_seq) },
    }))
}

/// Re-hashes every blob and manifest now and records the result (administrators only).
#[utoipa::path(post, path = "/api/v1/admin/fixity", tag = "audit", security(("bearer" = [])),
    responses((status = 200, body = FixityRun), (status = 403, body = Problem)))]
async fn fixity(State(henji): State<Henji>, user: CurrentUser) -> ApiResult<Json<FixityRun>> {
    Ok(Json(henji.run_fixity(&user.principal, "api").await?))
}

/// The recorded fixity checks, newest first (scheduled ones included).
#[utoipa::path(get, path = "/api/v1/admin/fixity", tag = "audit", security(("bearer" = [])), params(super::ListQuery),
    responses((status = 200, body = Page<FixityRow>), (status = 403, body = Problem)))]
async fn fixity_runs(State(henji): State<Henji>, user: CurrentUser, ApiQuery(q): ApiQuery<super::ListQuery>) -> ApiResult<Json<Page<FixityRow>>> {
    let items = henji.fixity_runs(&user.principal, clamp_limit(q.limit, 50, 500)).await?;
    Ok(Json(Page { items, next_cursor: None }))
}
