//! Search: keeping the index in step with the catalog, and answering queries within the
//! caller's reach.
//!
//! The index follows the audit log, which records every write in the same transaction as the
//! write itself: a follower task reads the events after the index's watermark every
//! `FOLLOW_EVERY`, re-indexes the documents they name and commits with the new watermark. So
//! an answered write is searchable within about a second, a restart catches up on whatever it
//! missed, and no write path has to know about the index.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicI64, AtomicU8, Ordering};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use serde::Serialize;
use utoipa::ToSchema;

use super::keys::INDEX_KEY_OWNER;
use super::sealed::SealedFields;
use super::{Henji, ServiceError, ServiceResult};
use crate::domain::access::{self, ReadScope};
use crate::domain::manifest::AttachmentRef;
use crate::domain::people::{Classification, DocumentState, Principal};
use crate::domain::sealing::SecretKey;
use crate::domain::search::{self as query_language, QueryError};
use crate::resources::catalog::audit as audit_rows;
use crate::resources::catalog::documents::{self as rows, DocumentRow};
use crate::resources::catalog::routing as opinion_rows;
use crate::resources::search::{IndexQuery, IndexResults, IndexedDocument, SearchError, SearchIndex};

const FOLLOW_EVERY: Duration = Duration::from_millis(200);
/// Audit events read per follower step, each step ending in a commit: large enough that a
/// follower catching up does not flush (and later merge) a segment every few documents.
const FOLLOW_BATCH: i64 = 2_000;
/// The sealed index commits when it changed, and else this often to keep its watermark close
/// (a start re-indexes from the lower of the two watermarks), and once more when the writes
/// stop (`Indexes::settle`).
const SEALED_COMMIT_AT_LEAST_EVERY: Duration = Duration::from_secs(30);
/// Documents read from the catalog at a time during a rebuild (which commits once, at the end).
const REBUILD_BATCH: i64 = 500;
/// Texts longer than this are indexed up to here (a body, or one attachment).
const MAX_INDEXED_TEXT: u64 = 16 * 1024 * 1024;
/// Deep pages cost as much as all the pages before them.
pub const MAX_OFFSET: usize = 10_000;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub enum SearchStatus {
    /// Not opened (a command-line tool that does not search).
    Closed = 0,
    Ready = 1,
    Rebuilding = 2,
    /// The index could not be opened or created; the reason is in the log.
    Failed = 3,
}

/// The search index and its state, shared by every request.
#[derive(Debug)]
pub struct SearchEngine {
    dir: PathBuf,
    index: RwLock<Option<Arc<Indexes>>>,
    status: AtomicU8,
    /// The last audit event whose change is in the index (committed or about to be).
    watermark: AtomicI64,
    /// One indexing job at a time: the follower's step or a rebuild.
    work: tokio::sync::Mutex<()>,
    /// A new index is being built beside the one that answers (`/healthz` says rebuilding).
    replacing: std::sync::atomic::AtomicBool,
}

/// The plain index and the sealed one, opened and replaced together.
#[derive(Debug)]
struct Indexes {
    plain: SearchIndex,
    sealed: SearchIndex,
}

impl Indexes {
    fn open(dir: &Path, key: Arc<SecretKey>) -> Result<Self, SearchError> {
        let plain = SearchIndex::open(dir)?;
        Ok(Self { sealed: SearchIndex::open_sealed(&sealed_dir(dir), key)?, plain })
    }

    /// Both anew (the sealed folder lives inside the plain one, which `create` empties).
    fn create(dir: &Path, key: Arc<SecretKey>) -> Result<Self, SearchError> {
        let plain = SearchIndex::create(dir)?;
        Ok(Self { sealed: SearchIndex::create_sealed(&sealed_dir(dir), key)?, plain })
    }

    fn apply(&self, id: &str, doc: Option<&(IndexedDocument, Option<IndexedDocument>)>) -> Result<(), SearchError> {
        match doc {
            Some((plain, sealed)) => {
                self.plain.upsert(plain)?;
                match sealed {
                    Some(s) => self.sealed.upsert(s)?,
                    None => self.sealed.remove(id),
                }
            }
            None => {
                self.plain.remove(id);
                self.sealed.remove(id);
            }
        }
        Ok(())
    }

    fn clear(&self) -> Result<(), SearchError> {
        self.plain.clear()?;
        self.sealed.clear()
    }

    /// The sealed index first: a crash between the two leaves the plain watermark behind,
    /// so the follower redoes the step.
    fn commit(&self, watermark: i64) -> Result<(), SearchError> {
        self.sealed.commit_if_changed(watermark, SEALED_COMMIT_AT_LEAST_EVERY)?;
        self.plain.commit(watermark)
    }

    /// Whether `settle` has a commit to make.
    fn unsettled(&self, watermark: i64) -> bool {
        self.sealed.needs_commit(watermark, SEALED_COMMIT_AT_LEAST_EVERY) || self.plain.needs_commit(watermark, Duration::ZERO)
    }

    /// Once writes stop: records `watermark` in both indexes, the sealed one when its
    /// `SEALED_COMMIT_AT_LEAST_EVERY` is due (else it would stay as far behind as the last
    /// writes it skipped, and every start would re-index them).
    fn settle(&self, watermark: i64) -> Result<(), SearchError> {
        self.sealed.commit_if_changed(watermark, SEALED_COMMIT_AT_LEAST_EVERY)?;
        self.plain.commit_if_changed(watermark, Duration::ZERO)
    }
}

fn sealed_dir(dir: &Path) -> PathBuf {
    dir.join("sealed")
}

/// A folder next to the index's (`index.next`, `index.old`).
fn beside(dir: &Path, what: &str) -> PathBuf {
    let mut name = dir.file_name().unwrap_or_default().to_os_string();
    name.push(format!(".{what}"));
    dir.with_file_name(name)
}

/// Puts the index built in `next` where `dir` is, the old one aside in `dir.old`. A crash
/// between the two renames leaves no index at `dir`, which the next start rebuilds.
fn swap_folders(dir: &Path, next: &Path) -> std::io::Result<()> {
    let old = beside(dir, "old");
    if old.exists() {
        std::fs::remove_dir_all(&old)?;
    }
    std::fs::rename(dir, &old)?;
    std::fs::rename(next, dir)?;
    match dir.parent() {
        Some(parent) => std::fs::File::open(parent)?.sync_all(),
        None => Ok(()),
    }
}

/// Removes `folders`, trying again for a second: Linux keeps an old file open for a search
/// still reading it, but a late write of the old index's last merge can make one pass fail
/// with "not empty". Returns those still there.
fn remove_folders(folders: &[PathBuf]) -> Vec<String> {
    let mut attempts = 0;
    loop {
        let left: Vec<&PathBuf> = folders.iter().filter(|d| d.exists() && std::fs::remove_dir_all(d).is_err()).collect();
        attempts += 1;
        if left.is_empty() || attempts == 20 {
            return left.iter().map(|d| d.display().to_string()).collect();
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Indexing memory of each index unless `--index-memory-mib` says otherwise.
pub use crate::resources::search::DEFAULT_WRITER_MEMORY as DEFAULT_INDEX_MEMORY;

impl SearchEngine {
    pub fn new(dir: PathBuf) -> Self {
        Self { dir, index: RwLock::new(None), status: AtomicU8::new(SearchStatus::Closed as u8), watermark: AtomicI64::new(0), work: tokio::sync::Mutex::new(()), replacing: Default::default() }
    }

    pub fn status(&self) -> SearchStatus {
        match self.status.load(Ordering::Acquire) {
            1 => SearchStatus::Ready,
            2 => SearchStatus::Rebuilding,
            3 => SearchStatus::Failed,
            _ => SearchStatus::Closed,
        }
    }

    fn set_status(&self, s: SearchStatus) {
        self.status.store(s as u8, Ordering::Release);
    }

    fn index(&self) -> Option<Arc<Indexes>> {
        self.index.read().unwrap_or_else(|e| e.into_inner()).clone()
    }

    fn set_index(&self, index: Arc<Indexes>) {
        *self.index.write().unwrap_or_else(|e| e.into_inner()) = Some(index);
    }
}

impl From<SearchError> for ServiceError {
    fn from(e: SearchError) -> Self {
        ServiceError::Internal(e.to_string())
    }
}

impl From<QueryError> for ServiceError {
    fn from(e: QueryError) -> Self {
        ServiceError::BadQuery(e.to_string())
    }
}

/// `GET /api/v1/search` after its parameters are parsed.
#[derive(Clone, Debug, Default)]
pub struct SearchRequest {
    pub q: String,
    pub kind: Option<String>,
    pub department: Option<String>,
    pub state: Option<String>,
    pub classification: Option<Classification>,
    pub year: Option<u64>,
    pub archived: Option<bool>,
    pub limit: usize,
    pub offset: usize,
}

#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct SearchHit {
    pub document: String,
    pub title: String,
    pub score: f32,
    /// Matches in `<mark>`, everything else HTML-escaped.
    pub snippet: String,
    pub kind: String,
    pub department: String,
    pub created_at: String,
    /// Where the snippet comes from when it is an attachment's text (a scan, a PDF …).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub found_in: Option<FoundIn>,
}

/// An attachment and the page of it a hit was found on.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct FoundIn {
    pub attachment: String,
    pub sha256: String,
    pub page: u32,
}

#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct SearchFacets {
    pub kind: BTreeMap<String, u64>,
    pub department: BTreeMap<String, u64>,
    pub year: BTreeMap<String, u64>,
}

#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct SearchAnswer {
    pub total: usize,
    pub hits: Vec<SearchHit>,
    pub facets: SearchFacets,
}

impl Henji {
    /// Opens the index (or, if it is missing or unreadable, creates it and rebuilds it in the
    /// background) and starts following the catalog. For `serve`.
    pub async fn start_search(&self) {
        let key = match self.ensure_data_key(INDEX_KEY_OWNER).await {
            Ok(key) => key,
            Err(e) => {
                tracing::error!(error = %e, "search is off: the sealed index's key is not available");
                self.search.set_status(SearchStatus::Failed);
                return;
            }
        };
        tokio::task::spawn_blocking(crate::resources::search::tokenizers::warm);
        let dir = self.search.dir.clone();
        let opened = tokio::task::spawn_blocking(move || Indexes::open(&dir, key)).await;
        match opened {
            Ok(Ok(index)) => {
                if let Err(e) = index.plain.preload(&self.search.dir) {
                    // Only the first searches after a reboot are slower without it.
                    tracing::warn!(error = %e, "search index not preloaded");
                }
                let watermark = index.plain.watermark().unwrap_or(0).min(index.sealed.watermark().unwrap_or(0));
                self.search.watermark.store(watermark, Ordering::Release);
                self.search.set_index(Arc::new(index));
                self.search.set_status(SearchStatus::Ready);
                tracing::info!(documents = self.search.index().map_or(0, |i| i.plain.document_count()), watermark, "search index opened");
            }
            Ok(Err(e @ SearchError::Locked(_))) => {
                tracing::error!(error = %e, "search is off in this process");
                self.search.set_status(SearchStatus::Failed);
            }
            Ok(Err(e)) => {
                if self.search.dir.exists() {
                    tracing::warn!(error = %e, dir = %self.search.dir.display(), "search index unreadable; rebuilding it");
                } else {
                    tracing::info!(dir = %self.search.dir.display(), "creating the search index");
                }
                let henji = self.clone();
                self.search.set_status(SearchStatus::Rebuilding);
                self.spawn_background(async move {
                    if let Err(e) = henji.rebuild_search(true).await {
                        tracing::error!(error = %e, "search index rebuild failed");
                        henji.search.set_status(SearchStatus::Failed);
                    }
                });
            }
            Err(e) => {
                tracing::error!(error = %e, "search index could not be opened");
                self.search.set_status(SearchStatus::Failed);
            }
        }
        // Not cut short by spawn_background: a step in flight finishes (its index commit
        // included) and the loop ends before the next.
        let henji = self.clone();
        self.background_tasks().spawn(async move { henji.follow_catalog().await });
    }

    async fn follow_catalog(&self) {
        let mut behind = false;
        loop {
            if !behind {
                tokio::select! {
                    _ = tokio::time::sleep(FOLLOW_EVERY) => {}
                    _ = self.stopping().cancelled() => return,
                }
            }
            if self.stopping().is_cancelled() {
                return;
            }
            if self.search.status() != SearchStatus::Ready {
                behind = false;
                continue;
            }
            let _work = self.search.work.lock().await;
            behind = self.follow_step().await.unwrap_or_else(|e| {
                tracing::warn!(error = %e, "search index update failed; retrying");
                false
            });
        }
    }

    /// Re-indexes the documents named by the audit events after the watermark. Returns whether
    /// there may be more (the step was full).
    async fn follow_step(&self) -> ServiceResult<bool> {
        let Some(index) = self.search.index() else { return Ok(false) };
        let after = self.search.watermark.load(Ordering::Acquire);
        let events = audit_rows::document_events_after(&mut *self.catalog.read().await?, after, FOLLOW_BATCH).await?;
        let full = events.len() as i64 >= FOLLOW_BATCH;
        let Some(last) = events.last().map(|e| e.0) else {
            if index.unsettled(after) {
                tokio::task::spawn_blocking(move || index.settle(after)).await.map_err(|e| ServiceError::Internal(format!("indexing failed: {e}")))??;
            }
            return Ok(false);
        };
        // Reads of classified documents are audited too; they change nothing.
        let changed: BTreeSet<String> = events.into_iter().filter(|(_, _, action)| !action.ends_with(".read")).map(|(_, id, _)| id).collect();
        if !changed.is_empty() {
            let batch = self.indexed_documents(&changed.into_iter().collect::<Vec<_>>()).await?;
            tokio::task::spawn_blocking(move || -> Result<(), SearchError> {
                for (id, doc) in batch {
                    index.apply(&id, doc.as_ref())?;
                }
                index.commit(last)
            })
            .await
            .map_err(|e| ServiceError::Internal(format!("indexing failed: {e}")))??;
        }
        self.search.watermark.store(last, Ordering::Release);
        Ok(full)
    }

    /// Rebuilds the index from the catalog and the object store. `fresh`: throw the folder
    /// away first (it was missing or unreadable). Returns the number of documents indexed.
    pub(super) async fn rebuild_search(&self, fresh: bool) -> ServiceResult<u64> {
        let _work = self.search.work.lock().await;
        let key = self.ensure_data_key(INDEX_KEY_OWNER).await?;
        if !fresh && self.search.status() == SearchStatus::Ready && self.search.index().is_some() {
            return self.rebuild_beside(key).await;
        }
        self.search.set_status(SearchStatus::Rebuilding);
        let index = match (fresh, self.search.index()) {
            (false, Some(index)) => index,
            (false, None) => {
                let dir = self.search.dir.clone();
                // Unreadable: made anew. In use by another process: left alone.
                let opened = tokio::task::spawn_blocking(move || match Indexes::open(&dir, key.clone()) {
                    Err(SearchError::Locked(why)) => Err(SearchError::Locked(why)),
                    Err(_) => Indexes::create(&dir, key),
                    ok => ok,
                })
                    .await
                    .map_err(|e| ServiceError::Internal(e.to_string()))??;
                Arc::new(opened)
            }
            (true, _) => {
                let dir = self.search.dir.clone();
                Arc::new(tokio::task::spawn_blocking(move || Indexes::create(&dir, key)).await.map_err(|e| ServiceError::Internal(e.to_string()))??)
            }
        };
        self.search.set_index(index.clone());
        let count = self.fill_index(&index).await?;
        self.search.set_status(SearchStatus::Ready);
        tracing::info!(documents = count, "search index rebuilt");
        Ok(count)
    }

    /// Builds a new index in a folder beside the one that answers, which goes on answering
    /// (as it stood when the rebuild began) until the new one takes its place in one step.
    async fn rebuild_beside(&self, key: Arc<SecretKey>) -> ServiceResult<u64> {
        self.search.replacing.store(true, Ordering::Release);
        let next = beside(&self.search.dir, "next");
        let result = async {
            let (folder, k) = (next.clone(), key.clone());
            let built = Arc::new(tokio::task::spawn_blocking(move || Indexes::create(&folder, k)).await.map_err(|e| ServiceError::Internal(e.to_string()))??);
            let count = self.fill_index(&built).await?;
            // Its writer lets go of the folder before the folder moves.
            drop(built);
            let dir = self.search.dir.clone();
            let (folder, k) = (next.clone(), key.clone());
            let switched = tokio::task::spawn_blocking(move || -> Result<Indexes, SearchError> {
                swap_folders(&dir, &folder)?;
                Indexes::open(&dir, k)
            })
            .await
            .map_err(|e| ServiceError::Internal(e.to_string()))??;
            self.search.set_index(Arc::new(switched));
            Ok(count)
        }
        .await;
        // The folders go before health says the rebuild is over.
        let leftovers = [beside(&self.search.dir, "old"), next];
        let left = tokio::task::spawn_blocking(move || remove_folders(&leftovers)).await.unwrap_or_default();
        if !left.is_empty() {
            tracing::warn!(folders = ?left, "could not remove the folders of a rebuild; the next rebuild removes them");
        }
        self.search.replacing.store(false, Ordering::Release);
        if let Ok(count) = &result {
            tracing::info!(documents = count, "search index rebuilt beside the old one and switched");
        }
        result
    }

    /// Indexes every live document into `index`, from empty, and commits; the follower takes
    /// the changes after. Returns the number of documents.
    async fn fill_index(&self, index: &Arc<Indexes>) -> ServiceResult<u64> {
        // Changes after this point are in the audit log past `upto`; the follower takes them.
        let upto = audit_rows::last_seq(&mut *self.catalog.read().await?).await?;
        index.clear()?;
        let mut after = String::new();
        let mut count = 0u64;
        loop {
            let ids = rows::live_document_ids(&mut *self.catalog.read().await?, &after, REBUILD_BATCH).await?;
            let Some(last) = ids.last().cloned() else { break };
            let batch: Vec<_> = self.indexed_documents(&ids).await?.into_iter().filter_map(|(id, d)| Some((id, d?))).collect();
            count += batch.len() as u64;
            let index = index.clone();
            tokio::task::spawn_blocking(move || batch.iter().try_for_each(|(id, d)| index.apply(id, Some(d)))).await.map_err(|e| ServiceError::Internal(e.to_string()))??;
            after = last;
        }
        let committed = index.clone();
        tokio::task::spawn_blocking(move || committed.commit(upto)).await.map_err(|e| ServiceError::Internal(e.to_string()))??;
        self.search.watermark.store(upto, Ordering::Release);
        Ok(count)
    }

    /// Rebuilds the index now, in this process (`henji reindex`, administrators). Returns the
    /// number of documents indexed.
    pub async fn reindex(&self, who: &Principal) -> ServiceResult<u64> {
        access::check_admin(who).map_err(|d| ServiceError::from_denied(d, "search index"))?;
        self.rebuild_search(false).await
    }

    /// Starts a rebuild in the background (administrators: `POST /api/v1/admin/reindex`).
    pub async fn request_reindex(&self, who: &Principal) -> ServiceResult<()> {
        access::check_admin(who).map_err(|d| ServiceError::from_denied(d, "search index"))?;
        if self.search.status() == SearchStatus::Closed {
            return Err(ServiceError::Unavailable("search is not running in this process".into()));
        }
        let at = super::now();
        let mut tx = self.catalog.begin_write().await?;
        self.audit(&mut tx, &at, who, "search.reindex", "search".into(), None, serde_json::json!({})).await?;
        tx.commit().await?;
        let henji = self.clone();
        // Searches go on against the index there is; only a missing one leaves search dark.
        if self.search.index().is_none() {
            self.search.set_status(SearchStatus::Rebuilding);
        } else {
            self.search.replacing.store(true, Ordering::Release);
        }
        tokio::spawn(async move {
            if let Err(e) = henji.rebuild_search(false).await {
                tracing::error!(error = %e, "search index rebuild failed");
                henji.search.set_status(SearchStatus::Failed);
            }
        });
        Ok(())
    }

    /// What the indexes hold of each of `ids` (see `indexed_document`), `None` for one that is
    /// gone. The catalog is read once for the batch, not once per document.
    async fn indexed_documents(&self, ids: &[String]) -> ServiceResult<Vec<(String, Option<(IndexedDocument, Option<IndexedDocument>)>)>> {
        let (found, with_opinions) = {
            let mut conn = self.catalog.read().await?;
            (rows::documents(&mut conn, ids).await?, opinion_rows::with_opinions(&mut conn, ids).await?)
        };
        let mut found: BTreeMap<String, DocumentRow> = found.into_iter().map(|row| (row.id.clone(), row)).collect();
        let mut out = Vec::with_capacity(ids.len());
        for id in ids {
            let indexed = match found.remove(id) {
                Some(row) => self.indexed_document(row, with_opinions.contains(id)).await?,
                None => None,
            };
            out.push((id.clone(), indexed));
        }
        Ok(out)
    }

    /// What the indexes hold of a document (plain, and sealed if it has sealed content), or
    /// `None` if it is deleted.
    ///
    /// Sensitive fields and a classified document's body and attachments go to the sealed
    /// index only; the plain one keeps the rest (of a classified document: title and the
    /// non-sensitive fields).
    async fn indexed_document(&self, row: DocumentRow, has_opinions: bool) -> ServiceResult<Option<(IndexedDocument, Option<IndexedDocument>)>> {
        if row.deleted_at.is_some() {
            return Ok(None);
        }
        let classification = row.classification;
        let sealed_fields = SealedFields::parse(&row.sealed_fields)?;
        let has_sealed = classification.is_classified() || sealed_fields.is_some();
        let plain_fields: serde_json::Map<String, serde_json::Value> = serde_json::from_str(&row.fields).unwrap_or_default();
        let mut plain = IndexedDocument {
            id: row.id.clone(),
            title: row.title.clone(),
            fields: field_text(&plain_fields),
            kind: row.kind.clone(),
            department: row.department.clone(),
            state: row.state.as_str().to_owned(),
            classification: row.classification.as_str().to_owned(),
            classification_rank: classification.rank().max(0) as u64,
            year: row.created_at.get(..4).and_then(|y| y.parse().ok()).unwrap_or(0),
            archived: row.state == DocumentState::Archived,
            created_at: row.created_at.clone(),
            twin: has_sealed,
            ..Default::default()
        };
        if !has_sealed {
            plain.body = self.head_text(&row.id, &row.head_revision).await?.to_string();
            plain.attachments = self.attachments_text(&row).await?;
            plain.opinions = if has_opinions { self.opinion_text(&row.id).await? } else { String::new() };
            return Ok(Some((plain, None)));
        }
        // Sealed content that does not open (altered, or its key shredded) is left out of the
        // index rather than stopping it; reading it reports the problem.
        let tolerate = |r: ServiceResult<String>, what: &str| match r {
            Ok(text) => text,
            Err(e) => {
                tracing::warn!(document = %row.id, error = %e, "{what} left out of the sealed index");
                String::new()
            }
        };
        let body = tolerate(self.head_text(&row.id, &row.head_revision).await.map(|t| t.to_string()), "body");
        let attachments = tolerate(self.attachments_text(&row).await, "attachments");
        let opinions = if has_opinions { tolerate(self.opinion_text(&row.id).await, "opinions") } else { String::new() };
        if !classification.is_classified() {
            plain.body = body.clone();
            plain.attachments = attachments.clone();
            plain.opinions = opinions.clone();
        }
        let mut whole = IndexedDocument { body, attachments, opinions, twin: false, ..plain.clone() };
        if let Some(sealed) = sealed_fields {
            let opened = self.open_sealed_fields(None, &row.id, &sealed.base, &sealed.values).await.map(|f| field_text(&f));
            whole.fields.push_str(&tolerate(opened, "sensitive fields"));
        }
        Ok(Some((plain, Some(whole))))
    }

    /// The head body as text through the read caches; empty if there is none, or if it is
    /// too long to index whole (the document is still found by its title and fields).
    async fn head_text(&self, id: &str, head: &str) -> ServiceResult<Arc<str>> {
        match self.body_digest(id, head).await? {
            Some(blob) => Ok(self.body_text(id, &blob, MAX_INDEXED_TEXT).await?.unwrap_or_else(|| Arc::from(""))),
            None => Ok(Arc::from("")),
        }
    }

    /// The text read from the document's attachments (scans, PDFs, OFD, Word, plain text),
    /// as the extraction jobs stored it; an attachment still being read is indexed again when
    /// its job finishes.
    async fn attachments_text(&self, row: &DocumentRow) -> ServiceResult<String> {
        let attachments: Vec<AttachmentRef> = serde_json::from_str(&row.attachments).unwrap_or_default();
        let digests: Vec<String> = attachments.iter().map(|a| a.sha256.to_hex()).collect();
        let texts = self.texts_of(&digests).await?;
        let mut out = String::new();
        for digest in &digests {
            if let Some((_, text)) = texts.get(digest) {
                let joined = text.searchable();
                let cut = joined.char_indices().nth(MAX_INDEXED_TEXT as usize / 3).map_or(joined.len(), |(i, _)| i);
                out.push_str(&joined[..cut]);
                out.push('\n');
            }
        }
        Ok(out)
    }

    /// Documents matching `req` that `who` may read, best first.
    pub async fn search(&self, who: &Principal, req: &SearchRequest) -> ServiceResult<SearchAnswer> {
        let query = query_language::parse(&req.q)?;
        if req.offset > MAX_OFFSET {
            return Err(ServiceError::invalid("offset", format!("at most {MAX_OFFSET}; narrow the search instead")));
        }
        let index = match (self.search.status(), self.search.index()) {
            (SearchStatus::Ready, Some(index)) => index,
            (SearchStatus::Rebuilding, _) => return Err(ServiceError::Unavailable("the search index is being rebuilt; try again shortly".into())),
            _ => return Err(ServiceError::Unavailable("search is not available; see /healthz".into())),
        };
        let routed = self.documents_routed_into(&ReadScope::of(who)).await?;
        let (reader, request, parsed) = (who.clone(), req.clone(), query.clone());
        let classification = request.classification.map(|c| c.as_str());
        let results = tokio::task::spawn_blocking(move || {
            // The same query and permission clauses on both indexes; a document with sealed
            // content is answered by the sealed index alone, so nothing is counted twice.
            let scope = ReadScope::of(&reader);
            let mut q = IndexQuery {
                query: &parsed,
                scope: &scope,
                routed: &routed,
                kind: request.kind.as_deref(),
                department: request.department.as_deref(),
                state: request.state.as_deref(),
                classification,
                year: request.year,
                archived: request.archived,
                limit: request.offset + request.limit,
                offset: 0,
                skip_twins: true,
            };
            let plain = index.plain.search(&q)?;
            q.skip_twins = false;
            let sealed = index.sealed.search(&q)?;
            Ok::<_, SearchError>(merge_results(plain, sealed, request.offset, request.limit))
        })
        .await
        .map_err(|e| ServiceError::Internal(format!("search failed: {e}")))??;

        let needles = query_language::positive_texts(&query);
        // A classified document's text is not shown in a list (reading it is audited).
        let shown: Vec<String> = results.hits.iter().filter(|hit| hit.classification.parse::<Classification>().is_ok_and(|c| !c.is_classified())).map(|hit| hit.id.clone()).collect();
        let sources = self.snippet_sources(&shown).await;
        let mut hits = Vec::with_capacity(results.hits.len());
        let mut in_attachments = Vec::new();
        for hit in results.hits {
            let text = sources.get(&hit.id).cloned().unwrap_or_else(|| Arc::from(hit.title.as_str()));
            let mut snippet = query_language::snippet(&text, &needles, 120);
            if !snippet.contains("<mark>") {
                if shown.contains(&hit.id) {
                    in_attachments.push(hit.id.clone());
                }
                snippet = query_language::snippet(&hit.title, &needles, 120);
            }
            hits.push(SearchHit { document: hit.id, title: hit.title, score: hit.score, snippet, kind: hit.kind, department: hit.department, created_at: hit.created_at, found_in: None });
        }
        // Matched in no body: the attachment and page it was found on, and the snippet there.
        for (id, (snippet, found_in)) in self.attachment_snippets(&in_attachments, &needles).await {
            if let Some(hit) = hits.iter_mut().find(|h| h.document == id) {
                hit.snippet = snippet;
                hit.found_in = Some(found_in);
            }
        }
        let f = results.facets;
        Ok(SearchAnswer { total: results.total, hits, facets: SearchFacets { kind: f.kind, department: f.department, year: f.year } })
    }

    /// The head bodies snippets are cut from, by document: one catalog read for all the hits'
    /// heads, one for their body digests, the bodies concurrently (no SQL once the caches are
    /// warm). A body that cannot be read is left out: its hit shows the title instead.
    async fn snippet_sources(&self, ids: &[String]) -> HashMap<String, Arc<str>> {
        let heads: Vec<(String, String)> = match self.access_facts_of(ids).await {
            Ok(facts) => facts.into_iter().map(|(id, f)| (id, f.head_revision)).collect(),
            Err(e) => return snippets_unavailable(e),
        };
        let bodies = match self.body_digests(&heads).await {
            Ok(bodies) => bodies,
            Err(e) => return snippets_unavailable(e),
        };
        let reads = bodies.into_iter().filter_map(|((id, _), body)| Some((id, body?))).map(|(id, body)| async move {
            let text = self.body_text(&id, &body, MAX_INDEXED_TEXT).await.ok()??;
            Some((id, text))
        });
        futures::future::join_all(reads).await.into_iter().flatten().collect()
    }

    /// For hits not found in their body: the first page of an attachment's text that holds a
    /// word of the query, as a snippet, and where it is. Attachments that cannot be read now
    /// are passed over (the hit keeps its title).
    async fn attachment_snippets(&self, ids: &[String], needles: &[&str]) -> HashMap<String, (String, FoundIn)> {
        let mut out = HashMap::new();
        if ids.is_empty() {
            return out;
        }
        let rows = match self.catalog.read().await {
            Ok(mut conn) => rows::documents(&mut conn, ids).await.unwrap_or_default(),
            Err(_) => return out,
        };
        for row in rows {
            let attachments: Vec<AttachmentRef> = serde_json::from_str(&row.attachments).unwrap_or_default();
            let digests: Vec<String> = attachments.iter().map(|a| a.sha256.to_hex()).collect();
            let Ok(texts) = self.texts_of(&digests).await else { continue };
            'found: for digest in &digests {
                let Some((name, text)) = texts.get(digest) else { continue };
                for page in &text.pages {
                    let snippet = query_language::snippet(&page.searchable(), needles, 120);
                    if snippet.contains("<mark>") {
                        out.insert(row.id.clone(), (snippet, FoundIn { attachment: name.clone(), sha256: digest.clone(), page: page.page }));
                        break 'found;
                    }
                }
            }
        }
        out
    }

    /// For `/healthz`: `None` when search is fine or not running here.
    pub fn search_health(&self) -> Option<&'static str> {
        match self.search.status() {
            SearchStatus::Ready if self.search.replacing.load(Ordering::Acquire) => Some("rebuilding"),
            SearchStatus::Ready | SearchStatus::Closed => None,
            SearchStatus::Rebuilding => Some("rebuilding"),
            SearchStatus::Failed => Some("failed"),
        }
    }
}

/// Snippets fall back to titles when the catalog cannot be read; the answer still stands.
fn snippets_unavailable(e: ServiceError) -> HashMap<String, Arc<str>> {
    tracing::warn!(error = %e, "search: snippets shown from titles");
    HashMap::new()
}

/// The values of fields, one per line.
fn field_text(fields: &serde_json::Map<String, serde_json::Value>) -> String {
    let mut out = String::new();
    for value in fields.values() {
        match value {
            serde_json::Value::String(s) => out.push_str(s),
            serde_json::Value::Null => continue,
            other => out.push_str(&other.to_string()),
        }
        out.push('\n');
    }
    out
}

/// One page of the union of two disjoint result sets, best first. Each list comes in its
/// index's order; merging (rather than sorting) keeps that order among equal scores, so pages
/// never overlap.
fn merge_results(a: IndexResults, b: IndexResults, offset: usize, limit: usize) -> IndexResults {
    let mut hits = Vec::with_capacity(a.hits.len() + b.hits.len());
    let (mut x, mut y) = (a.hits.into_iter().peekable(), b.hits.into_iter().peekable());
    loop {
        let take_a = match (x.peek(), y.peek()) {
            (Some(p), Some(q)) => p.score >= q.score,
            (Some(_), None) => true,
            (None, Some(_)) => false,
            (None, None) => break,
        };
        hits.extend(if take_a { x.next() } else { y.next() });
    }
    let hits = hits.into_iter().skip(offset).take(limit).collect();
    let mut facets = a.facets;
    facets.add(b.facets);
    IndexResults { total: a.total + b.total, hits, facets }
}
