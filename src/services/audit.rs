//! Appending to and reading the audit chain.

use serde_json::Value;

use super::{Henji, ServiceError, ServiceResult};
use crate::domain::access;
use crate::domain::audit::{AuditEvent, ChainAnchor, ChainVerifier};
use crate::domain::ids::DocumentId;
use crate::domain::people::Principal;
use crate::resources::catalog::Conn;
use crate::resources::blob_store::{ANCHORS, BlobStore};
use crate::resources::catalog::audit::{self as audit_log, EventFilter, NewEvent};
use futures::TryStreamExt;

/// `GET /api/v1/audit`: which events, from where.
#[derive(Clone, Debug, Default)]
pub struct AuditQuery {
    /// Only events about this document.
    pub document: Option<String>,
    /// Only events by this username.
    pub user: Option<String>,
    /// Only events at or after this RFC 3339 time.
    pub since: Option<String>,
    /// After this sequence number (the previous page's last).
    pub after_seq: i64,
    /// Instead: newest first, below this sequence number.
    pub newest_before: Option<i64>,
    pub limit: i64,
}

/// The result of walking the whole chain.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ChainReport {
    Intact { events: u64 },
    Broken { first_bad_seq: i64 },
}

impl Henji {
    /// Records an event inside the caller's write transaction.
    #[allow(clippy::too_many_arguments)]
    pub(crate) async fn audit(
        &self,
        conn: &mut Conn,
        at: &str,
        who: &Principal,
        action: &str,
        object: String,
        document_id: Option<String>,
        detail: Value,
    ) -> ServiceResult<()> {
        self.audit_as(conn, at, Some(&who.username), action, object, document_id, detail).await
    }

    #[allow(clippy::too_many_arguments)]
    pub(crate) async fn audit_as(
        &self,
        conn: &mut Conn,
        at: &str,
        user: Option<&str>,
        action: &str,
        object: String,
        document_id: Option<String>,
        detail: Value,
    ) -> ServiceResult<()> {
        audit_log::append(conn, NewEvent { at, user, action, object, document_id, detail }).await?;
        self.metrics.audit_events.inc();
        Ok(())
    }

    pub async fn list_audit(&self, who: &Principal, q: &AuditQuery) -> ServiceResult<Vec<AuditEvent>> {
        access::check_audit_reader(who).map_err(|d| ServiceError::from_denied(d, "audit"))?;
        if let Some(d) = &q.document {
            d.parse::<DocumentId>().map_err(|e| ServiceError::BadRequest(format!("document: {e}")))?;
        }
        let since = match &q.since {
            Some(s) => Some(super::stamp(
                chrono::DateTime::parse_from_rfc3339(s).map_err(|_| ServiceError::BadRequest("since must be an RFC 3339 time".into()))?.with_timezone(&chrono::Utc),
            )),
            None => None,
        };
        let filter = EventFilter { document: q.document.as_deref(), user: q.user.as_deref(), since: since.as_deref(), after_seq: q.after_seq, newest_before: q.newest_before, limit: q.limit };
        Ok(audit_log::list(&mut *self.catalog.read().await?, &filter).await?)
    }

    /// Re-computes the hash chain (auditors and administrators).
    pub async fn check_audit_chain(&self, who: &Principal) -> ServiceResult<ChainReport> {
        access::check_audit_reader(who).map_err(|d| ServiceError::from_denied(d, "audit"))?;
        self.verify_audit_chain().await
    }

    /// Walks the chain page by page, so memory stays flat however long the log is.
    pub(super) async fn verify_audit_chain(&self) -> ServiceResult<ChainReport> {
        let mut verifier = ChainVerifier::default();
        let mut after = 0;
        loop {
            let page = audit_log::chain_page(&mut *self.catalog.read().await?, after, 1000).await?;
            let Some(last) = page.last() else { break };
            after = last.seq;
            for e in &page {
                if let Err(seq) = verifier.check_stored(e) {
                    return Ok(ChainReport::Broken { first_bad_seq: seq });
                }
            }
        }
        Ok(ChainReport::Intact { events: verifier.checked })
    }

    /// Writes the chain's head into the object store (and flushes it), unless it is there
    /// already; returns it (`None` while the chain is empty).
    pub(super) async fn anchor_chain(&self) -> ServiceResult<Option<ChainAnchor>> {
        let Some((seq, hash)) = audit_log::head(&mut *self.catalog.read().await?).await? else { return Ok(None) };
        let anchor = ChainAnchor::new(seq, hash, super::now());
        write_anchor(&self.blobs, &anchor).await?;
        Ok(Some(anchor))
    }

    /// Anchors the chain every `interval` while it grows, and once more when the service stops
    /// (before the catalog closes: the task ends by itself).
    pub fn schedule_anchoring(&self, interval: std::time::Duration) {
        let henji = self.clone();
        self.background_tasks().spawn(async move {
            let mut anchored = 0;
            let mut ticker = tokio::time::interval(interval);
            ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                let stopping = tokio::select! {
                    _ = henji.stopping().cancelled() => true,
                    _ = ticker.tick() => false,
                };
                let head = match henji.catalog.read().await {
                    Ok(mut conn) => audit_log::last_seq(&mut conn).await.unwrap_or(0),
                    Err(_) => 0,
                };
                if head > anchored {
                    match henji.anchor_chain().await {
                        Ok(a) => anchored = a.map_or(0, |a| a.seq),
                        Err(e) => tracing::warn!(error = %e, "could not anchor the audit chain"),
                    }
                }
                if stopping {
                    break;
                }
            }
        });
    }

    /// Every anchor in the object store against the catalog's chain: one problem per anchor
    /// the chain no longer holds, as (anchor, problem).
    pub(super) async fn verify_anchors(&self) -> ServiceResult<Vec<(String, String)>> {
        let mut conn = self.catalog.read().await?;
        let last_seq = audit_log::last_seq(&mut conn).await?;
        let mut bad = vec![];
        let mut listed = self.blobs.list(ANCHORS);
        while let Some((path, _)) = listed.try_next().await? {
            let bytes = self.blobs.get_path_bytes(&path).await?;
            match serde_json::from_slice::<ChainAnchor>(&bytes) {
                Ok(anchor) => {
                    let stored = audit_log::hash_at(&mut conn, anchor.seq).await?;
                    if let Err(problem) = anchor.check(stored.as_deref(), last_seq) {
                        bad.push((path.to_string(), problem));
                    }
                }
                Err(e) => bad.push((path.to_string(), format!("not an audit anchor: {e}"))),
            }
        }
        Ok(bad)
    }
}

/// Writes `anchor` into `store` and flushes it.
pub(super) async fn write_anchor(store: &BlobStore, anchor: &ChainAnchor) -> ServiceResult<()> {
    let bytes = serde_json::to_vec(anchor).map_err(|e| ServiceError::Internal(e.to_string()))?;
    store.put_anchor(anchor.seq, bytes).await?;
    store.flush().await?;
    Ok(())
}
