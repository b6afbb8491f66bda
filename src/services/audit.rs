//! Appending to and reading the audit chain.

use serde_json::Value;

use super::{Henji, ServiceError, ServiceResult};
use crate::domain::access;
use crate::domain::audit::{AuditEvent, ChainVerifier};
use crate::domain::people::Principal;
use crate::resources::catalog::Conn;
use crate::resources::catalog::audit::{self as audit_log, EventFilter, NewEvent};

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

    pub async fn list_audit(&self, who: &Principal, filter: EventFilter<'_>) -> ServiceResult<Vec<AuditEvent>> {
        access::check_audit_reader(who).map_err(|d| ServiceError::from_denied(d, "audit"))?;
        Ok(audit_log::list(&mut *self.catalog.reader().acquire().await?, &filter).await?)
    }

    /// Walks the chain page by page, so memory stays flat however long the log is.
    pub async fn verify_audit_chain(&self) -> ServiceResult<ChainReport> {
        let mut verifier = ChainVerifier::default();
        let mut after = 0;
        loop {
            let page = audit_log::chain_page(&mut *self.catalog.reader().acquire().await?, after, 1000).await?;
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
}
