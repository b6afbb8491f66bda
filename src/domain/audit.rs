//! The audit chain: every event carries the hash of the one before it, so editing, removing or
//! reordering any stored event breaks verification at that event.

use serde::Serialize;
use serde_json::{Value, json};

use super::canonical::to_canonical_bytes;
use super::ids::Sha256Digest;

/// The `prev_hash` of the first event.
pub const GENESIS_HASH: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// One stored audit event, as the API shows it.
#[derive(Clone, Debug, PartialEq, Serialize, utoipa::ToSchema)]
pub struct AuditEvent {
    pub seq: i64,
    pub at: String,
    pub user: Option<String>,
    pub action: String,
    pub object: String,
    pub detail: Value,
    pub prev_hash: String,
    pub hash: String,
}

/// The hash of an event: SHA-256 over the canonical JSON of every column but `hash`.
pub fn event_hash(
    prev_hash: &str,
    seq: i64,
    at: &str,
    user: Option<&str>,
    action: &str,
    object: &str,
    detail: &Value,
) -> String {
    let body = json!({
        "prev_hash": prev_hash,
        "seq": seq,
        "at": at,
        "user": user,
        "action": action,
        "object": object,
        "detail": detail,
    });
    Sha256Digest::of(&to_canonical_bytes(&body)).to_hex()
}

/// Walks events in `seq` order; a verifier feeds them one at a time so the whole log never has
/// to be in memory.
#[derive(Debug)]
pub struct ChainVerifier {
    expected_prev: String,
    expected_seq: Option<i64>,
    pub checked: u64,
}

impl Default for ChainVerifier {
    fn default() -> Self {
        Self { expected_prev: GENESIS_HASH.to_owned(), expected_seq: None, checked: 0 }
    }
}

impl ChainVerifier {
    /// `Err(seq)` names the first event that does not fit the chain.
    pub fn check(&mut self, e: &AuditEvent) -> Result<(), i64> {
        let seq_ok = self.expected_seq.is_none_or(|s| s == e.seq);
        let recomputed = event_hash(&e.prev_hash, e.seq, &e.at, e.user.as_deref(), &e.action, &e.object, &e.detail);
        if !seq_ok || e.prev_hash != self.expected_prev || recomputed != e.hash {
            return Err(e.seq);
        }
        self.expected_prev = e.hash.clone();
        self.expected_seq = Some(e.seq + 1);
        self.checked += 1;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chain(n: i64) -> Vec<AuditEvent> {
        let mut prev = GENESIS_HASH.to_owned();
        (1..=n)
            .map(|seq| {
                let detail = json!({"n": seq});
                let at = format!("2026-11-23T09:00:{seq:02}.000Z");
                let hash = event_hash(&prev, seq, &at, Some("admin"), "document.create", "document/X", &detail);
                let e = AuditEvent { seq, at, user: Some("admin".into()), action: "document.create".into(), object: "document/X".into(), detail, prev_hash: prev.clone(), hash: hash.clone() };
                prev = hash;
                e
            })
            .collect()
    }

    #[test]
    fn an_intact_chain_verifies() {
        let mut v = ChainVerifier::default();
        for e in chain(5) {
            v.check(&e).unwrap();
        }
        assert_eq!(v.checked, 5);
    }

    #[test]
    fn an_edited_event_fails_at_that_event() {
        let mut events = chain(5);
        events[2].detail = json!({"n": 99});
        let mut v = ChainVerifier::default();
        let bad = events.iter().find_map(|e| v.check(e).err());
        assert_eq!(bad, Some(3));
    }

    #[test]
    fn a_removed_event_fails_at_the_next() {
        let mut events = chain(5);
        events.remove(1);
        let mut v = ChainVerifier::default();
        let bad = events.iter().find_map(|e| v.check(e).err());
        assert_eq!(bad, Some(3));
    }
}
