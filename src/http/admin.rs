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
use crate::domain::access;
use crate::domain::audit::AuditEvent;
use crate::domain::ids::DocumentId;
use crate::resources::catalog::audit::EventFilter;
use crate::services::audit::ChainReport;
use crate::services::fixity::{FixityRow, FixityRun};
use crate::services::{Henji, ServiceError, clamp_limit};

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
    if let Some(d) = &q.document {
        d.parse::<DocumentId>().map_err(|e| Problem::bad_request(format!("document: {e}")))?;
    }
    let since = match &q.since {
        Some(s) => Some(
            chrono::DateTime::parse_from_rfc3339(s)
                .map_err(|_| Problem::bad_request("since must be an RFC 3339 time"))?
                .with_timezone(&chrono::Utc)
                .to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
        ),
        None => None,
    };
    let after_seq = match q.cursor.as_deref() {
        None | Some("") => 0,
        Some(c) => c.parse().map_err(|_| Problem::bad_request("cursor must come from next_cursor"))?,
    };
    let filter = EventFilter { document: q.document.as_deref(), user: q.user.as_deref(), since: since.as_deref(), after_seq, limit: limit + 1 };
    let events = henji.list_audit(&user.principal, filter).await?;
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
    access::check_audit_reader(&user.principal).map_err(|d| ServiceError::from_denied(d, "audit"))?;
    Ok(Json(match henji.verify_audit_chain().await? {
        ChainReport::Intact { events } => AuditVerification { ok: true, events: Some(events), first_bad_seq: None },
        ChainReport::Broken { first_bad_seq } => AuditVerification { ok: false, events: None, first_bad_seq: Some(first_bad_seq) },
    }))
}

/// Re-hashes every blob and manifest now and records the result (administrators only).
#[utoipa::path(post, path = "/api/v1/admin/fixity", tag = "audit", security(("bearer" = [])),
    responses((status = 200, body = FixityRun), (status = 403, body = Problem)))]
async fn fixity(State(henji): State<Henji>, user: CurrentUser) -> ApiResult<Json<FixityRun>> {
    access::check_admin(&user.principal).map_err(|d| ServiceError::from_denied(d, "fixity"))?;
    Ok(Json(henji.run_fixity("api").await?))
}

/// The recorded fixity checks, newest first (scheduled ones included).
#[utoipa::path(get, path = "/api/v1/admin/fixity", tag = "audit", security(("bearer" = [])), params(super::ListQuery),
    responses((status = 200, body = Page<FixityRow>), (status = 403, body = Problem)))]
async fn fixity_runs(State(henji): State<Henji>, user: CurrentUser, ApiQuery(q): ApiQuery<super::ListQuery>) -> ApiResult<Json<Page<FixityRow>>> {
    access::check_admin(&user.principal).map_err(|d| ServiceError::from_denied(d, "fixity"))?;
    let items = henji.fixity_runs(crate::services::clamp_limit(q.limit, 50, 500)).await?;
    Ok(Json(Page { items, next_cursor: None }))
}
