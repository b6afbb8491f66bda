//! The audit chain: every event carries the hash of the one before it, so editing, removing or
//! reordering any stored event breaks verification at that event.

use serde::{Deserialize, Serialize};
use serde_json::Value;
use sha2::{Digest as _, Sha256};

use super::canonical::{to_canonical_bytes, write_canonical_string};
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

/// One stored audit event as the catalog holds it, `detail` still in its stored JSON text: the
/// chain is checked on these, so the usual case parses nothing.
#[derive(Clone, Debug)]
pub struct StoredEvent {
    pub seq: i64,
    pub at: String,
    pub user: Option<String>,
    pub action: String,
    pub object: String,
    pub detail_json: String,
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
    let link = Link { prev_hash, seq, at, user, action, object };
    link.digest(&to_canonical_bytes(detail)).to_hex()
}

/// The columns an event's hash covers, but for its detail.
struct Link<'a> {
    prev_hash: &'a str,
    seq: i64,
    at: &'a str,
    user: Option<&'a str>,
    action: &'a str,
    object: &'a str,
}

impl Link<'_> {
    /// The digest of the canonical JSON object of these columns and `canonical_detail`, written
    /// straight into the hasher: keys in code-point order, as `to_canonical_bytes` sorts them
    /// (the test `the_hash_is_of_the_canonical_object` holds the two together).
    fn digest(&self, canonical_detail: &[u8]) -> Sha256Digest {
        let mut hasher = Sha256::new();
        let string = |key: &[u8], value: &str, hasher: &mut Sha256| {
            hasher.update(key);
            write_canonical_string(value, &mut Hashing(hasher));
        };
        string(b"{\"action\":", self.action, &mut hasher);
        string(b",\"at\":", self.at, &mut hasher);
        hasher.update(b",\"detail\":");
        hasher.update(canonical_detail);
        string(b",\"object\":", self.object, &mut hasher);
        string(b",\"prev_hash\":", self.prev_hash, &mut hasher);
        hasher.update(b",\"seq\":");
        hasher.update(self.seq.to_string().as_bytes());
        match self.user {
            Some(user) => string(b",\"user\":", user, &mut hasher),
            None => hasher.update(b",\"user\":null"),
        }
        hasher.update(b"}");
        Sha256Digest::from_hasher(hasher)
    }
}

/// Feeds what a writer is given to a hasher (sha2 0.11 has no `io::Write` of its own).
struct Hashing<'a>(&'a mut Sha256);

impl std::io::Write for Hashing<'_> {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0.update(bytes);
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
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
    ///
    /// The event's detail text is hashed as it is first: henji stores the canonical form, so a
    /// match proves the event intact (short of a SHA-256 collision). Only when that fails is
    /// the text parsed and hashed in canonical form, which accepts a catalog that spells the
    /// same JSON another way (a PostgreSQL `jsonb` column would) and still fails an event
    /// whose content was changed.
    pub fn check_stored(&mut self, e: &StoredEvent) -> Result<(), i64> {
        let Ok(stored) = e.hash.parse::<Sha256Digest>() else {
            return Err(e.seq);
        };
        let link = Link { prev_hash: &e.prev_hash, seq: e.seq, at: &e.at, user: e.user.as_deref(), action: &e.action, object: &e.object };
        let intact = link.digest(e.detail_json.as_bytes()) == stored || {
            // Text that is not JSON at all was hashed as a string, if ever it was.
            let detail = serde_json::from_str(&e.detail_json).unwrap_or_else(|_| Value::String(e.detail_json.clone()));
            link.digest(&to_canonical_bytes(&detail)) == stored
        };
        self.accept(e.seq, &e.prev_hash, &e.hash, intact)
    }

    fn accept(&mut self, seq: i64, prev_hash: &str, hash: &str, intact: bool) -> Result<(), i64> {
        let seq_ok = self.expected_seq.is_none_or(|s| s == seq);
        if !seq_ok || prev_hash != self.expected_prev || !intact {
            return Err(seq);
        }
        self.expected_prev.clear();
        self.expected_prev.push_str(hash);
        self.expected_seq = Some(seq + 1);
        self.checked += 1;
        Ok(())
    }
}

/// 锚点: the head of the chain written outside the catalog (into the object store and every
/// backup). Removing the newest events leaves a chain that checks; the anchor does not.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChainAnchor {
    pub format: String,
    pub seq: i64,
    pub hash: String,
    pub at: String,
}

pub const ANCHOR_FORMAT: &str = "henji/audit-anchor/1";

impl ChainAnchor {
    pub fn new(seq: i64, hash: String, at: String) -> Self {
        Self { format: ANCHOR_FORMAT.into(), seq, hash, at }
    }

    /// Checks the anchor against the catalog's chain: `stored` is the hash the catalog holds
    /// for the anchored event (`None`: no such event), `last_seq` its newest event.
    pub fn check(&self, stored: Option<&str>, last_seq: i64) -> Result<(), String> {
        match stored {
            Some(hash) if hash == self.hash => Ok(()),
            Some(_) => Err(format!("audit event {} differs from the one anchored at {}: events were removed and others written in their place", self.seq, self.at)),
            None => Err(format!("the audit chain ends at event {last_seq}, but event {} was anchored at {}: the newest events were removed", self.seq, self.at)),
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn an_anchor_finds_removed_and_replaced_events() {
        let anchor = super::ChainAnchor::new(7, "ab".repeat(32), "2026-12-07T00:00:00.000Z".into());
        assert_eq!(anchor.check(Some(&"ab".repeat(32)), 9), Ok(()));
        assert!(anchor.check(None, 5).unwrap_err().contains("ends at event 5, but event 7"));
        assert!(anchor.check(Some(&"cd".repeat(32)), 7).unwrap_err().contains("differs"));
    }

    use serde_json::json;

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
            v.check_stored(&stored(&e)).unwrap();
        }
        assert_eq!(v.checked, 5);
    }

    #[test]
    fn an_edited_event_fails_at_that_event() {
        let mut events = chain(5);
        events[2].detail = json!({"n": 99});
        let mut v = ChainVerifier::default();
        let bad = events.iter().find_map(|e| v.check_stored(&stored(e)).err());
        assert_eq!(bad, Some(3));
    }

    #[test]
    fn a_removed_event_fails_at_the_next() {
        let mut events = chain(5);
        events.remove(1);
        let mut v = ChainVerifier::default();
        let bad = events.iter().find_map(|e| v.check_stored(&stored(e)).err());
        assert_eq!(bad, Some(3));
    }

    fn stored(e: &AuditEvent) -> StoredEvent {
        StoredEvent {
            seq: e.seq,
            at: e.at.clone(),
            user: e.user.clone(),
            action: e.action.clone(),
            object: e.object.clone(),
            detail_json: e.detail.to_string(),
            prev_hash: e.prev_hash.clone(),
            hash: e.hash.clone(),
        }
    }

    #[test]
    fn the_hash_is_of_the_canonical_object() {
        // The definition every stored chain was made with; the direct writer must match it.
        let reference = |prev: &str, seq: i64, at: &str, user: Option<&str>, action: &str, object: &str, detail: &Value| {
            let body = json!({"prev_hash": prev, "seq": seq, "at": at, "user": user, "action": action, "object": object, "detail": detail});
            Sha256Digest::of(&to_canonical_bytes(&body)).to_hex()
        };
        let detail = json!({"理由": "引号\"与\\反斜杠\n\u{0001}", "n": -1.5, "list": [1, null, true], "z": {"b": 2, "a": 1}});
        for (user, object, seq) in [(Some("王 秘书"), "document/01J…", 1), (None, "system", 9_007_199_254_740_993), (Some(""), "", 42)] {
            assert_eq!(
                event_hash(GENESIS_HASH, seq, "2026-11-30T08:00:00.000Z", user, "document.archive", object, &detail),
                reference(GENESIS_HASH, seq, "2026-11-30T08:00:00.000Z", user, "document.archive", object, &detail)
            );
        }
    }

    #[test]
    fn stored_events_verify_as_stored_or_respelled_and_fail_when_changed() {
        let events: Vec<StoredEvent> = chain(4).iter().map(stored).collect();
        let mut v = ChainVerifier::default();
        for e in &events {
            v.check_stored(e).unwrap();
        }
        assert_eq!(v.checked, 4);

        // The same JSON spelled another way (as a jsonb column gives it back) still verifies.
        let mut respelled = events.clone();
        respelled[1].detail_json = "{ \"n\" : 2 }".into();
        let mut v = ChainVerifier::default();
        assert!(respelled.iter().all(|e| v.check_stored(e).is_ok()));

        for edit in ["{\"n\":99}", "not json", "", "{\"n\":2,\"m\":0}"] {
            let mut edited = events.clone();
            edited[2].detail_json = edit.into();
            let mut v = ChainVerifier::default();
            assert_eq!(edited.iter().find_map(|e| v.check_stored(e).err()), Some(3), "{edit:?}");
        }
        let mut edited = events.clone();
        edited[0].hash = edited[0].hash.to_uppercase();
        let mut v = ChainVerifier::default();
        assert_eq!(edited.iter().find_map(|e| v.check_stored(e).err()), Some(1));
    }
}
