//! In-memory caches on the read path, so that a hot read (a revision body, say) costs no SQL.
//!
//! Revisions, blobs and traces are immutable, so those entries can never be stale. Sessions,
//! document access facts and people's names and colours do change; every service that changes
//! them invalidates them here.
//! This holds for one henji process per catalog; several nodes on one catalog would need a
//! shared invalidation (or these two caches switched off).

use std::collections::HashSet;
use std::num::NonZeroUsize;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use lru::LruCache;

use super::sealed::StoredBlobRef;
use crate::domain::access::{DocumentFacts, RouteAccess};
use crate::domain::ids::Sha256Digest;
use crate::domain::people::{Classification, DocumentState, Principal};
use crate::domain::traces::TraceSpan;

/// Bodies up to this size are kept in memory, up to half the cache budget of them in all.
pub const CACHED_BODY_MAX: u64 = 64 * 1024;
/// What the byte-weighed caches may hold together unless `--cache-mib` says otherwise: half
/// for bodies (by size, not count: they vary from bytes to the 64 KiB limit), a quarter for
/// computed traces (by span text), a quarter for rendered ones (JSON, HTML, .docx).
pub const DEFAULT_CACHE_BYTES: usize = 256 * 1024 * 1024;
const SESSION_ENTRIES: usize = 10_000;
const DOCUMENT_ENTRIES: usize = 50_000;
const REVISION_ENTRIES: usize = 100_000;

/// A trace is known by its document and its (from, to) revisions; `from` is "" for empty.
pub type TraceKey = (String, String, String);

/// A rendered trace: document, `from` as asked (a revision id, `empty`, or "" for the first
/// revision, which never changes), `to` resolved to a revision id, the output, and the people
/// epoch its legend was drawn in.
pub type RenderedKey = (String, String, String, u8, u64);

/// What the access rules need to know about a document, owned.
#[derive(Clone, Debug)]
pub struct AccessFacts {
    pub department: String,
    pub classification: Classification,
    pub deleted: bool,
    pub state: DocumentState,
    /// Changes with every revision; `add_revision` forgets the entry.
    pub head_revision: String,
    /// Changes with every route action and distribution, which forget the entry.
    pub route: Arc<RouteAccess>,
}

impl AccessFacts {
    pub fn facts(&self) -> DocumentFacts<'_> {
        DocumentFacts { department: &self.department, classification: self.classification, state: self.state, deleted: self.deleted, route: &self.route }
    }
}

pub struct Caches {
    sessions: Mutex<LruCache<String, (Arc<Principal>, String)>>,
    documents: Mutex<LruCache<String, AccessFacts>>,
    revision_bodies: Mutex<LruCache<(String, String), Option<StoredBlobRef>>>,
    bodies: Mutex<WeighedLru<Sha256Digest, CachedBody>>,
    traces: Mutex<WeighedLru<TraceKey, Arc<Vec<TraceSpan>>>>,
    /// Plain and gzipped.
    rendered: Mutex<WeighedLru<RenderedKey, (Bytes, Option<Bytes>)>>,
    /// Department codes seen in the catalog. Departments are never deleted, so a code once
    /// found stays valid; one not found is asked again.
    departments: Mutex<HashSet<String>>,
    /// Bumped by every forget, so that an entry read from the catalog before an invalidation
    /// is not put back after it (see `put_session` and `put_document`).
    sessions_generation: AtomicU64,
    documents_generation: AtomicU64,
    /// Bumped whenever a name, colour or department name changes, which retires every
    /// rendered legend at once.
    people_epoch: AtomicU64,
}

/// A body in memory: as text when it is UTF-8, so that the text's readers (snippets, the
/// search follower, traces) neither check it nor copy it again; validating and copying cached
/// bodies was about a tenth of the server's time under a search load.
#[derive(Clone)]
pub enum CachedBody {
    Text(Arc<str>),
    /// Not UTF-8, or too large to be kept and so not checked.
    Binary(Bytes),
}

impl CachedBody {
    pub fn into_bytes(self) -> Bytes {
        match self {
            CachedBody::Text(text) => text_bytes(text),
            CachedBody::Binary(bytes) => bytes,
        }
    }
}

/// Lends a text to `Bytes` without copying it.
struct TextBytes(Arc<str>);

/// `text` as bytes, sharing its memory.
pub fn text_bytes(text: Arc<str>) -> Bytes {
    Bytes::from_owner(TextBytes(text))
}

impl AsRef<[u8]> for TextBytes {
    fn as_ref(&self) -> &[u8] {
        self.0.as_bytes()
    }
}

/// An LRU bounded by the total weight of its values rather than their number.
struct WeighedLru<K: std::hash::Hash + Eq, V> {
    entries: LruCache<K, (V, usize)>,
    weight: usize,
    max_weight: usize,
}

impl<K: std::hash::Hash + Eq, V: Clone> WeighedLru<K, V> {
    fn new(max_weight: usize) -> Self {
        Self { entries: LruCache::unbounded(), weight: 0, max_weight }
    }

    fn get(&mut self, key: &K) -> Option<V> {
        self.entries.get(key).map(|(v, _)| v.clone())
    }

    fn pop(&mut self, key: &K) {
        if let Some((_, w)) = self.entries.pop(key) {
            self.weight -= w;
        }
    }

    fn put(&mut self, key: K, value: V, weight: usize) {
        if weight > self.max_weight {
            return;
        }
        if let Some((_, old)) = self.entries.put(key, (value, weight)) {
            self.weight -= old;
        }
        self.weight += weight;
        while self.weight > self.max_weight {
            match self.entries.pop_lru() {
                Some((_, (_, w))) => self.weight -= w,
                None => break,
            }
        }
    }
}

impl std::fmt::Debug for Caches {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Caches")
    }
}

fn lru<K: std::hash::Hash + Eq, V>(n: usize) -> Mutex<LruCache<K, V>> {
    Mutex::new(LruCache::new(NonZeroUsize::new(n).unwrap_or(NonZeroUsize::MIN)))
}

/// A poisoned lock only means another request panicked while holding it; the cache is still
/// a valid map, so it is used as it is.
fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl Default for Caches {
    fn default() -> Self {
        Self::with_budget(DEFAULT_CACHE_BYTES)
    }
}

impl Caches {
    /// Caches whose byte-weighed parts hold at most `bytes` together (see
    /// `DEFAULT_CACHE_BYTES`); the entry-counted ones are small beside them.
    pub fn with_budget(bytes: usize) -> Self {
        Self {
            sessions: lru(SESSION_ENTRIES),
            documents: lru(DOCUMENT_ENTRIES),
            revision_bodies: lru(REVISION_ENTRIES),
            bodies: Mutex::new(WeighedLru::new(bytes / 2)),
            traces: Mutex::new(WeighedLru::new(bytes / 4)),
            rendered: Mutex::new(WeighedLru::new(bytes / 4)),
            departments: Mutex::new(HashSet::new()),
            sessions_generation: AtomicU64::new(0),
            documents_generation: AtomicU64::new(0),
            people_epoch: AtomicU64::new(0),
        }
    }

    /// The principal behind a token digest, if cached and not expired at `now`.
    pub fn session(&self, token_digest: &str, now: &str) -> Option<Arc<Principal>> {
        let mut sessions = lock(&self.sessions);
        match sessions.get(token_digest) {
            Some((p, expires)) if expires.as_str() > now => Some(p.clone()),
            Some(_) => {
                sessions.pop(token_digest);
                None
            }
            None => None,
        }
    }

    /// Read this before looking a session up in the catalog, and hand it to `put_session`.
    pub fn session_generation(&self) -> u64 {
        self.sessions_generation.load(Ordering::Acquire)
    }

    /// Caches a session read from the catalog, unless a session was forgotten since the read
    /// began: a logout racing with a request must not leave the revoked token cached.
    pub fn put_session(&self, token_digest: String, principal: Arc<Principal>, expires_at: String, generation: u64) {
        let mut sessions = lock(&self.sessions);
        if self.sessions_generation.load(Ordering::Acquire) == generation {
            sessions.put(token_digest, (principal, expires_at));
        }
    }

    pub fn forget_session(&self, token_digest: &str) {
        let mut sessions = lock(&self.sessions);
        self.sessions_generation.fetch_add(1, Ordering::AcqRel);
        sessions.pop(token_digest);
    }

    /// After a user changes (name, colour, password), every cached session of theirs goes, and
    /// every rendered legend.
    pub fn forget_user(&self, user_id: &str) {
        self.people_changed();
        let mut sessions = lock(&self.sessions);
        self.sessions_generation.fetch_add(1, Ordering::AcqRel);
        let keys: Vec<String> = sessions.iter().filter(|(_, (p, _))| p.id == user_id).map(|(k, _)| k.clone()).collect();
        for k in keys {
            sessions.pop(&k);
        }
    }

    pub fn document(&self, id: &str) -> Option<AccessFacts> {
        lock(&self.documents).get(id).cloned()
    }

    /// Read this before looking a document up in the catalog, and hand it to `put_document`.
    pub fn document_generation(&self) -> u64 {
        self.documents_generation.load(Ordering::Acquire)
    }

    /// Caches facts read from the catalog unless a document was forgotten since the read
    /// began (a deletion or a new head racing with the read).
    pub fn put_document(&self, id: String, facts: AccessFacts, generation: u64) {
        let mut documents = lock(&self.documents);
        if self.documents_generation.load(Ordering::Acquire) == generation {
            documents.put(id, facts);
        }
    }

    pub fn forget_document(&self, id: &str) {
        let mut documents = lock(&self.documents);
        self.documents_generation.fetch_add(1, Ordering::AcqRel);
        documents.pop(id);
    }

    /// `Some(None)`: the revision exists and has no body.
    pub fn revision_body(&self, document: &str, revision: &str) -> Option<Option<StoredBlobRef>> {
        lock(&self.revision_bodies).get(&(document.to_owned(), revision.to_owned())).cloned()
    }

    pub fn put_revision_body(&self, document: String, revision: String, body: Option<StoredBlobRef>) {
        lock(&self.revision_bodies).put((document, revision), body);
    }

    pub fn department_known(&self, code: &str) -> bool {
        lock(&self.departments).contains(code)
    }

    pub fn put_department(&self, code: &str) {
        lock(&self.departments).insert(code.to_owned());
    }

    pub fn body(&self, digest: &Sha256Digest) -> Option<CachedBody> {
        lock(&self.bodies).get(digest)
    }

    /// Drops a body from memory (its blob was deleted by a disposal).
    pub fn forget_body(&self, digest: &Sha256Digest) {
        lock(&self.bodies).pop(digest);
    }

    /// Keeps a body that is small enough, and returns it as kept: as text if it is UTF-8.
    pub fn put_body(&self, digest: Sha256Digest, bytes: Bytes) -> CachedBody {
        if bytes.len() as u64 > CACHED_BODY_MAX {
            return CachedBody::Binary(bytes);
        }
        let body = match std::str::from_utf8(&bytes) {
            Ok(text) => CachedBody::Text(Arc::from(text)),
            Err(_) => CachedBody::Binary(bytes),
        };
        self.keep_body(digest, body.clone());
        body
    }

    /// `put_body` for a body already known to be text.
    pub fn put_text_body(&self, digest: Sha256Digest, text: Arc<str>) {
        if text.len() as u64 <= CACHED_BODY_MAX {
            self.keep_body(digest, CachedBody::Text(text));
        }
    }

    fn keep_body(&self, digest: Sha256Digest, body: CachedBody) {
        let weight = match &body {
            CachedBody::Text(text) => text.len(),
            CachedBody::Binary(bytes) => bytes.len(),
        };
        lock(&self.bodies).put(digest, body, weight);
    }

    pub fn trace(&self, key: &TraceKey) -> Option<Arc<Vec<TraceSpan>>> {
        lock(&self.traces).get(key)
    }

    pub fn put_trace(&self, key: TraceKey, spans: Arc<Vec<TraceSpan>>) {
        let weight = spans.iter().map(|s| s.text.len() + std::mem::size_of::<TraceSpan>()).sum();
        lock(&self.traces).put(key, spans, weight);
    }

    pub fn rendered(&self, key: &RenderedKey) -> Option<(Bytes, Option<Bytes>)> {
        lock(&self.rendered).get(key)
    }

    pub fn put_rendered(&self, key: RenderedKey, value: (Bytes, Option<Bytes>)) {
        let weight = value.0.len() + value.1.as_ref().map_or(0, Bytes::len);
        lock(&self.rendered).put(key, value, weight);
    }

    pub fn people_epoch(&self) -> u64 {
        self.people_epoch.load(Ordering::Acquire)
    }

    /// A name, colour or department name changed.
    pub fn people_changed(&self) {
        self.people_epoch.fetch_add(1, Ordering::AcqRel);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn digest(n: u8) -> Sha256Digest {
        Sha256Digest::of(&[n])
    }

    #[test]
    fn a_text_body_is_kept_as_text_and_lent_as_bytes() {
        let caches = Caches::default();
        let CachedBody::Text(text) = caches.put_body(digest(1), Bytes::from("年度预算 budget")) else { panic!("kept as text") };
        assert_eq!(&*text, "年度预算 budget");
        let Some(CachedBody::Text(cached)) = caches.body(&digest(1)) else { panic!("cached as text") };
        assert!(Arc::ptr_eq(&text, &cached), "the same text, not a copy");
        assert_eq!(caches.body(&digest(1)).expect("cached").into_bytes(), Bytes::from("年度预算 budget"));
    }

    #[test]
    fn a_binary_body_is_kept_as_bytes_only() {
        let caches = Caches::default();
        caches.put_body(digest(2), Bytes::from_static(&[0xff, 0xfe, 0x00]));
        let Some(CachedBody::Binary(bytes)) = caches.body(&digest(2)) else { panic!("cached as bytes") };
        assert_eq!(bytes, Bytes::from_static(&[0xff, 0xfe, 0x00]));
        caches.forget_body(&digest(2));
        assert!(caches.body(&digest(2)).is_none());
    }

    #[test]
    fn bodies_are_bounded_by_their_total_size() {
        let caches = Caches::default();
        let body = Bytes::from(vec![b'a'; CACHED_BODY_MAX as usize]);
        let fit = DEFAULT_CACHE_BYTES / 2 / CACHED_BODY_MAX as usize;
        for n in 0..=fit {
            caches.put_body(Sha256Digest::of(&n.to_be_bytes()), body.clone());
        }
        assert!(caches.body(&Sha256Digest::of(&0usize.to_be_bytes())).is_none(), "the least recently used went");
        assert!(caches.body(&Sha256Digest::of(&fit.to_be_bytes())).is_some());
        assert!(lock(&caches.bodies).weight <= DEFAULT_CACHE_BYTES / 2);
        let too_large = Bytes::from(vec![b'a'; CACHED_BODY_MAX as usize + 1]);
        caches.put_body(digest(3), too_large);
        assert!(caches.body(&digest(3)).is_none());
    }
}
