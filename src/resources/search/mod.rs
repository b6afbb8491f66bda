//! The search index (tantivy) in the data directory. Derived data: everything in it can be
//! rebuilt from the catalog and the object store (`henji reindex`).
//!
//! Each text (title, body, registration fields, attachment text) is indexed as a `gram` field
//! for recall, a `char` field for one-character queries and a `seg` field for ranking (see
//! `tokenizers`). Kind, department, state,
//! classification, year and archived are raw fields for filters and facets; the
//! classification rank is what the caller's clearance is compared with, inside the query.
//! The commit payload records how far through the audit log (the catalog's change feed) the
//! index is, so a restart catches up on what it missed.
//!
//! A search collects every match unscored (the total and the facets count them all), then
//! ranks them by the BM25 scores of the query's words (`ranking`).
//!
//! There are two indexes of this schema. The plain one (memory-mapped files) holds everything
//! that is not sealed. The sealed one (`sealed_dir`, files sealed at rest) holds the whole text
//! of every document that has sealed content (sensitive fields, or a classified body and
//! attachments); such a document is in the plain index too, with only its unsealed text and
//! marked as a `twin`, and a search leaves twins out of the plain results (the sealed index
//! answers for them, inside the same permission clauses).

pub mod adjacent;
pub mod any_term;
mod facets;
mod positions;
mod preload;
pub mod ranking;
pub mod sealed_dir;
pub mod tokenizers;
#[cfg(test)]
mod test_words;

use std::collections::BTreeMap;
use std::ops::Bound;
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tantivy::query::{AllQuery, BooleanQuery, EmptyQuery, Occur, PhraseQuery, Query as TantivyQuery, QueryClone, RangeQuery, TermQuery, TermSetQuery};
use tantivy::indexer::LogMergePolicy;
use tantivy::schema::{Field, FieldType, IndexRecordOption, STORED, STRING, Schema, TextFieldIndexing, TextOptions, Value};
use tantivy::{Index, IndexReader, IndexWriter, ReloadPolicy, Searcher, TantivyDocument, Term};

use crate::domain::access::ReadScope;
use crate::domain::sealing::SecretKey;
use crate::domain::search::{Query, SearchField};
use adjacent::AdjacentPairQuery;
use any_term::AnyTermQuery;
use facets::{FacetCache, FacetCollector};
use ranking::{MatchedDocs, best_matches};
use sealed_dir::{SealedDirError, SealedDirectory};
use tokenizers::{CHARS, GRAM, GRAM_QUERY, SEG};

#[derive(Debug, thiserror::Error)]
pub enum SearchError {
    #[error("search index: {0}")]
    Tantivy(#[from] tantivy::TantivyError),
    #[error("search index folder: {0}")]
    Io(#[from] std::io::Error),
    #[error("search index: {0}")]
    Schema(String),
    #[error("the search index is in use by another process (a running server?): {0}")]
    Locked(String),
    #[error(transparent)]
    Sealed(#[from] SealedDirError),
}

pub type SearchResult<T> = Result<T, SearchError>;

/// What is indexed of one document.
#[derive(Clone, Debug, Default)]
pub struct IndexedDocument {
    pub id: String,
    pub title: String,
    pub body: String,
    pub fields: String,
    pub attachments: String,
    /// Opinion texts (批示意见).
    pub opinions: String,
    pub kind: String,
    pub department: String,
    pub state: String,
    pub classification: String,
    pub classification_rank: u64,
    pub year: u64,
    pub archived: bool,
    pub created_at: String,
    /// The sealed index holds this document whole; the plain one only its unsealed part.
    pub twin: bool,
}

/// A search: the parsed query, the caller's reach and the filters.
#[derive(Clone, Debug)]
pub struct IndexQuery<'a> {
    pub query: &'a Query,
    /// What the caller may read (domain::access), rendered as the query's permission clause.
    pub scope: &'a ReadScope<'a>,
    /// The documents the scope's route and distribution clauses bring in, as the catalog lists
    /// them (the index does not know routes).
    pub routed: &'a [String],
    pub kind: Option<&'a str>,
    pub department: Option<&'a str>,
    pub state: Option<&'a str>,
    pub classification: Option<&'a str>,
    pub year: Option<u64>,
    pub archived: Option<bool>,
    pub limit: usize,
    pub offset: usize,
    /// Leave out documents the sealed index answers for.
    pub skip_twins: bool,
}

#[derive(Clone, Debug, PartialEq)]
pub struct IndexHit {
    pub id: String,
    pub title: String,
    pub kind: String,
    pub department: String,
    pub classification: String,
    pub created_at: String,
    pub score: f32,
}

#[derive(Clone, Debug, Default, PartialEq)]
pub struct Facets {
    pub kind: BTreeMap<String, u64>,
    pub department: BTreeMap<String, u64>,
    pub year: BTreeMap<String, u64>,
}

impl Facets {
    /// Adds `other`'s counts to these (segments of one index, or the plain and sealed indexes).
    pub fn add(&mut self, other: Facets) {
        for (mine, theirs) in [(&mut self.kind, other.kind), (&mut self.department, other.department), (&mut self.year, other.year)] {
            for (k, n) in theirs {
                *mine.entry(k).or_default() += n;
            }
        }
    }
}

#[derive(Clone, Debug)]
pub struct IndexResults {
    pub total: usize,
    pub hits: Vec<IndexHit>,
    pub facets: Facets,
}

#[derive(Clone, Copy)]
struct TextPair {
    gram: Field,
    seg: Field,
    chars: Field,
}

#[derive(Clone, Copy)]
struct Fields {
    id: Field,
    title: TextPair,
    body: TextPair,
    fields: TextPair,
    attachments: TextPair,
    opinions: TextPair,
    kind: Field,
    department: Field,
    state: Field,
    classification: Field,
    rank: Field,
    year: Field,
    archived: Field,
    created_at: Field,
    twin: Field,
}

fn schema() -> Schema {
    let mut b = Schema::builder();
    // Phrases are matched on the gram fields only, so only they keep positions.
    let text = |tokenizer: &str, record: IndexRecordOption, stored: bool| {
        let options = TextOptions::default().set_indexing_options(TextFieldIndexing::default().set_tokenizer(tokenizer).set_index_option(record));
        if stored { options.set_stored() } else { options }
    };
    b.add_text_field("id", STRING | STORED);
    for (name, stored) in [("title", true), ("body", false), ("fields", false), ("attachments", false), ("opinions", false)] {
        b.add_text_field(&format!("{name}_gram"), text(GRAM, IndexRecordOption::WithFreqsAndPositions, stored));
        b.add_text_field(&format!("{name}_seg"), text(SEG, IndexRecordOption::WithFreqs, false));
        b.add_text_field(&format!("{name}_char"), text(CHARS, IndexRecordOption::Basic, false));
    }
    for name in ["kind", "department", "state", "classification"] {
        b.add_text_field(name, (STRING | STORED).set_fast("raw"));
    }
    b.add_u64_field("rank", tantivy::schema::INDEXED | tantivy::schema::FAST);
    b.add_u64_field("year", tantivy::schema::INDEXED | tantivy::schema::FAST);
    b.add_u64_field("archived", tantivy::schema::INDEXED);
    b.add_text_field("created_at", STORED);
    b.add_u64_field("twin", tantivy::schema::INDEXED);
    b.build()
}

impl Fields {
    /// The fields of `schema`, checked against what this code writes: an index made by another
    /// version is refused (and rebuilt), not misread.
    fn of(schema: &Schema) -> SearchResult<Self> {
        let expected = self::schema();
        for (_, entry) in expected.fields() {
            let found = schema.get_field(entry.name()).map_err(|_| SearchError::Schema(format!("field {} is missing", entry.name())))?;
            let found_type: &FieldType = schema.get_field_entry(found).field_type();
            if found_type != entry.field_type() {
                return Err(SearchError::Schema(format!("field {} has another type", entry.name())));
            }
        }
        let f = |name: &str| schema.get_field(name).map_err(|_| SearchError::Schema(format!("field {name} is missing")));
        let pair = |name: &str| -> SearchResult<TextPair> { Ok(TextPair { gram: f(&format!("{name}_gram"))?, seg: f(&format!("{name}_seg"))?, chars: f(&format!("{name}_char"))? }) };
        Ok(Self {
            id: f("id")?,
            title: pair("title")?,
            body: pair("body")?,
            fields: pair("fields")?,
            attachments: pair("attachments")?,
            opinions: pair("opinions")?,
            kind: f("kind")?,
            department: f("department")?,
            state: f("state")?,
            classification: f("classification")?,
            rank: f("rank")?,
            year: f("year")?,
            archived: f("archived")?,
            created_at: f("created_at")?,
            twin: f("twin")?,
        })
    }

    fn text(&self, field: SearchField) -> TextPair {
        match field {
            SearchField::Title => self.title,
            SearchField::Body => self.body,
            SearchField::Fields => self.fields,
            SearchField::Attachments => self.attachments,
            SearchField::Opinions => self.opinions,
        }
    }
}

pub struct SearchIndex {
    index: Index,
    /// The index's files, for the position reads of `AdjacentPairQuery`.
    positions: Arc<dyn tantivy::Directory>,
    writer: Mutex<IndexWriter>,
    reader: IndexReader,
    fields: Fields,
    /// Something was added or deleted since the last commit.
    changed: AtomicBool,
    last_commit: Mutex<Instant>,
    /// The watermark of the last commit (what a restart resumes from).
    committed: AtomicI64,
    facets: FacetCache,
}

impl std::fmt::Debug for SearchIndex {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SearchIndex")
    }
}

/// The indexing memory budget of each index, shared by tantivy's indexing threads; a thread
/// flushes its segment when its share is used up. Only a rebuild (which commits once, at the
/// end) fills it: the follower commits after every step of at most 2,000 documents, and
/// tantivy takes the memory as a segment grows, not up front; a smaller budget makes a
/// rebuild flush and merge again many small segments.
pub const DEFAULT_WRITER_MEMORY: usize = 512 * 1024 * 1024;

/// The budget the indexes opened from now on get (`--index-memory-mib`); one per process,
/// set once at start, before any index opens.
static WRITER_MEMORY: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(DEFAULT_WRITER_MEMORY);

pub fn set_writer_memory(bytes: usize) {
    // tantivy refuses less than 15 MB a thread.
    WRITER_MEMORY.store(bytes.max(64 << 20), std::sync::atomic::Ordering::Relaxed);
}

fn writer_memory() -> usize {
    WRITER_MEMORY.load(std::sync::atomic::Ordering::Relaxed)
}

/// A two-bigram substring whose bigrams are each in at least 1/`DENSE` of all documents is
/// matched by `AdjacentPairQuery`, which reads positions lazily but cannot skip through
/// postings; rarer pairs by tantivy's phrase query, which can.
const DENSE: u64 = 8;

impl SearchIndex {
    /// Opens the index in `dir`; an index that is missing, unreadable or of another schema is
    /// an error (the caller rebuilds).
    pub fn open(dir: &Path) -> SearchResult<Self> {
        let index = Index::open_in_dir(dir)?;
        Self::ready(index)
    }

    /// Reads the committed segments' files (in `dir`, where the index was opened from) into
    /// the page cache in the background (`preload`): for a server about to answer searches,
    /// not for a rebuild about to replace them.
    pub fn preload(&self, dir: &Path) -> SearchResult<()> {
        preload::start(dir, segment_files(&self.index)?);
        Ok(())
    }

    /// Opens the sealed index in `dir` (every file opened into memory under `key`).
    pub fn open_sealed(dir: &Path, key: Arc<SecretKey>) -> SearchResult<Self> {
        let directory = SealedDirectory::open(dir, key)?;
        Self::ready(Index::open(directory)?)
    }

    /// A new, empty sealed index in `dir`, replacing whatever was there.
    pub fn create_sealed(dir: &Path, key: Arc<SecretKey>) -> SearchResult<Self> {
        if dir.exists() {
            std::fs::remove_dir_all(dir)?;
        }
        let directory = SealedDirectory::open(dir, key)?;
        Self::ready(Index::create(directory, schema(), tantivy::IndexSettings::default())?)
    }

    /// A new, empty index in `dir`, replacing whatever was there.
    pub fn create(dir: &Path) -> SearchResult<Self> {
        if dir.exists() {
            std::fs::remove_dir_all(dir)?;
        }
        std::fs::create_dir_all(dir)?;
        let index = Index::create_in_dir(dir, schema())?;
        Self::ready(index)
    }

    fn ready(mut index: Index) -> SearchResult<Self> {
        // One query searches its segments on all cores: a search that must read many matches
        // (a common character, a phrase of common words) is the one a user waits for, and
        // segments are independent. Under many concurrent searches the pool simply stays busy.
        index.set_default_multithread_executor()?;
        for (name, analyzer) in tokenizers::analyzers() {
            index.tokenizers().register(name, analyzer);
        }
        let fields = Fields::of(&index.schema())?;
        let writer: IndexWriter = index.writer(writer_memory()).map_err(|e| match e {
            tantivy::TantivyError::LockFailure(..) => SearchError::Locked(e.to_string()),
            other => SearchError::Tantivy(other),
        })?;
        writer.set_merge_policy(Box::new(merge_policy()));
        let reader = index.reader_builder().reload_policy(ReloadPolicy::Manual).doc_store_cache_num_blocks(DOC_STORE_CACHE_BLOCKS).try_into()?;
        let committed = AtomicI64::new(committed_watermark(&index)?);
        // Built now so that the first searches after a start do not wait for them; jieba's
        // dictionary is loaded by the service in the background (`tokenizers::warm`).
        let facets = FacetCache::default();
        facets.warm(&reader.searcher())?;
        Ok(Self {
            positions: Arc::new(index.directory().clone()),
            index,
            writer: Mutex::new(writer),
            reader,
            fields,
            changed: AtomicBool::new(false),
            last_commit: Mutex::new(Instant::now()),
            committed,
            facets,
        })
    }

    /// The writer, for a change: the next `commit_if_changed` commits.
    fn writer(&self) -> std::sync::MutexGuard<'_, IndexWriter> {
        self.changed.store(true, Ordering::Release);
        // A panic while indexing leaves the writer usable: uncommitted work is simply redone.
        self.writer.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// How far through the audit log the committed index is.
    pub fn watermark(&self) -> SearchResult<i64> {
        committed_watermark(&self.index)
    }

    pub fn upsert(&self, d: &IndexedDocument) -> SearchResult<()> {
        let f = &self.fields;
        let mut doc = TantivyDocument::default();
        doc.add_text(f.id, &d.id);
        for (pair, text) in [(f.title, &d.title), (f.body, &d.body), (f.fields, &d.fields), (f.attachments, &d.attachments), (f.opinions, &d.opinions)] {
            doc.add_text(pair.gram, text);
            doc.add_text(pair.seg, text);
            doc.add_text(pair.chars, text);
        }
        doc.add_text(f.kind, &d.kind);
        doc.add_text(f.department, &d.department);
        doc.add_text(f.state, &d.state);
        doc.add_text(f.classification, &d.classification);
        doc.add_u64(f.rank, d.classification_rank);
        doc.add_u64(f.year, d.year);
        doc.add_u64(f.archived, d.archived as u64);
        doc.add_text(f.created_at, &d.created_at);
        doc.add_u64(f.twin, d.twin as u64);
        let writer = self.writer();
        writer.delete_term(Term::from_field_text(f.id, &d.id));
        writer.add_document(doc)?;
        Ok(())
    }

    /// Deletes the document `id`. An id the index cannot hold is left alone, so that deleting
    /// what was never there (most documents, from the sealed index) is no change to commit.
    pub fn remove(&self, id: &str) {
        if self.may_hold(id) {
            self.writer().delete_term(Term::from_field_text(self.fields.id, id));
        }
    }

    pub fn clear(&self) -> SearchResult<()> {
        self.writer().delete_all_documents()?;
        Ok(())
    }

    /// Makes everything added so far durable and searchable, recording `watermark`.
    pub fn commit(&self, watermark: i64) -> SearchResult<()> {
        {
            let mut writer = self.writer();
            let mut prepared = writer.prepare_commit()?;
            prepared.set_payload(&watermark.to_string());
            prepared.commit()?;
            self.changed.store(false, Ordering::Release);
            self.committed.store(watermark, Ordering::Release);
        }
        *self.last_commit.lock().unwrap_or_else(|e| e.into_inner()) = Instant::now();
        self.reader.reload()?;
        // The commit stands either way; a search that needs the codes builds them (or reports why not).
        if let Err(e) = self.facets.warm(&self.reader.searcher()) {
            tracing::warn!(error = %e, "search: facet codes of the new segments not built");
        }
        Ok(())
    }

    /// Commits if anything changed, or else only to move the watermark on to `watermark` once
    /// `every` has passed since the last commit. A commit costs file writes and fsyncs even
    /// when nothing changed; an index that changes rarely (the sealed one) then lags behind in
    /// watermark by at most `every` while writes go on, and catches up once they stop if this
    /// is called then too (`needs_commit`): its lag is what a restart re-indexes.
    pub fn commit_if_changed(&self, watermark: i64, every: Duration) -> SearchResult<()> {
        if self.needs_commit(watermark, every) { self.commit(watermark) } else { Ok(()) }
    }

    /// Whether `commit_if_changed` would commit now (without touching a file).
    pub fn needs_commit(&self, watermark: i64, every: Duration) -> bool {
        let due = || self.last_commit.lock().unwrap_or_else(|e| e.into_inner()).elapsed() >= every;
        self.changed.load(Ordering::Acquire) || (self.committed.load(Ordering::Acquire) < watermark && due())
    }

    /// Whether the index may hold the document `id`: it has uncommitted changes (which this
    /// cannot see into), or its committed segments have (or had, until they merge) the id.
    fn may_hold(&self, id: &str) -> bool {
        if self.changed.load(Ordering::Acquire) {
            return true;
        }
        let term = Term::from_field_text(self.fields.id, id);
        self.reader.searcher().doc_freq(&term).map_or(true, |n| n > 0)
    }

    /// Closes the index once the merges under way have finished and the files they replaced
    /// are gone, so the folder holds just the live segments (what a size measures).
    pub fn close(self) -> SearchResult<()> {
        let writer = self.writer.into_inner().unwrap_or_else(|e| e.into_inner());
        writer.wait_merging_threads()?;
        let writer: IndexWriter = self.index.writer(writer_memory())?;
        writer.garbage_collect_files().wait()?;
        Ok(())
    }

    pub fn document_count(&self) -> u64 {
        self.reader.searcher().num_docs()
    }

    pub fn search(&self, q: &IndexQuery<'_>) -> SearchResult<IndexResults> {
        let f = &self.fields;
        let searcher = self.reader.searcher();
        let scope = self.scope(q);
        let mut ranking = Vec::new();
        let Some(matching) = self.build(&searcher, &scope, q.query, &mut ranking)? else {
            return Ok(IndexResults { total: 0, hits: vec![], facets: Facets::default() });
        };
        let query = BooleanQuery::new(vec![(Occur::Must, matching), (Occur::Must, Box::new(scope))]);
        self.facets.keep_only(&searcher);
        let (facets, matched) = searcher.search(&query, &(FacetCollector { cache: &self.facets }, MatchedDocs))?;
        let total = matched.iter().map(|(_, docs)| docs.len()).sum();
        let top = best_matches(&searcher, ranking, matched, q.offset, q.limit.max(1))?;
        let mut hits = Vec::with_capacity(top.len());
        for (score, address) in top {
            let doc: TantivyDocument = searcher.doc(address)?;
            let text = |field: Field| doc.get_first(field).and_then(|v| v.as_str()).unwrap_or_default().to_owned();
            hits.push(IndexHit {
                id: text(f.id),
                title: text(f.title.gram),
                kind: text(f.kind),
                department: text(f.department),
                classification: text(f.classification),
                created_at: text(f.created_at),
                score,
            });
        }
        Ok(IndexResults { total, hits, facets })
    }

    /// What the caller may read and the filters asked for, as one clause: who may see what is
    /// part of the query, so counts, facets and pages agree with it.
    fn scope(&self, q: &IndexQuery<'_>) -> BooleanQuery {
        let f = &self.fields;
        let mut clauses: Vec<(Occur, Box<dyn TantivyQuery>)> = Vec::new();
        let max_rank = q.scope.clearance.rank().max(0) as u64;
        clauses.push((Occur::Must, Box::new(RangeQuery::new(Bound::Unbounded, Bound::Included(Term::from_field_u64(f.rank, max_rank))))));
        let exact = |field: Field, value: &str| -> Box<dyn TantivyQuery> { Box::new(TermQuery::new(Term::from_field_text(field, value), IndexRecordOption::Basic)) };
        if let Some(d) = q.scope.department {
            let mut reach: Vec<(Occur, Box<dyn TantivyQuery>)> = vec![(Occur::Should, exact(f.department, d))];
            if !q.routed.is_empty() {
                let ids = q.routed.iter().map(|id| Term::from_field_text(f.id, id));
                reach.push((Occur::Should, Box::new(TermSetQuery::new(ids))));
            }
            if q.scope.archived_anywhere {
                reach.push((Occur::Should, Box::new(TermQuery::new(Term::from_field_u64(f.archived, 1), IndexRecordOption::Basic))));
            }
            clauses.push((Occur::Must, Box::new(BooleanQuery::new(reach))));
        }
        for (field, value) in [(f.kind, q.kind), (f.department, q.department), (f.state, q.state), (f.classification, q.classification)] {
            if let Some(v) = value {
                clauses.push((Occur::Must, exact(field, v)));
            }
        }
        if let Some(year) = q.year {
            clauses.push((Occur::Must, Box::new(TermQuery::new(Term::from_field_u64(f.year, year), IndexRecordOption::Basic))));
        }
        if q.skip_twins {
            clauses.push((Occur::MustNot, Box::new(TermQuery::new(Term::from_field_u64(f.twin, 1), IndexRecordOption::Basic))));
        }
        if let Some(archived) = q.archived {
            clauses.push((Occur::Must, Box::new(TermQuery::new(Term::from_field_u64(f.archived, archived as u64), IndexRecordOption::Basic))));
        }
        BooleanQuery::new(clauses)
    }

    /// The tantivy query for what a query tree matches; `None` when it asks for nothing
    /// searchable (only punctuation, say). The words that rank its matches are added to
    /// `ranking` (none from under a NOT).
    fn build(&self, searcher: &Searcher, scope: &BooleanQuery, q: &Query, ranking: &mut Vec<Term>) -> SearchResult<Option<Box<dyn TantivyQuery>>> {
        Ok(match q {
            Query::Text { field, text } => self.text_query(searcher, scope, *field, text, ranking),
            Query::And(parts) => {
                let mut clauses = Vec::new();
                for part in parts {
                    match part {
                        Query::Not(inner) => {
                            if let Some(q) = self.build(searcher, scope, inner, &mut Vec::new())? {
                                clauses.push((Occur::MustNot, q));
                            }
                        }
                        other => {
                            if let Some(q) = self.build(searcher, scope, other, ranking)? {
                                clauses.push((Occur::Must, q));
                            }
                        }
                    }
                }
                if clauses.iter().all(|(o, _)| *o == Occur::MustNot) {
                    if clauses.is_empty() {
                        return Ok(None);
                    }
                    clauses.push((Occur::Must, Box::new(AllQuery)));
                }
                Some(Box::new(BooleanQuery::new(clauses)))
            }
            Query::Or(parts) => {
                let mut clauses = Vec::new();
                for part in parts {
                    if let Some(q) = self.build(searcher, scope, part, ranking)? {
                        clauses.push((Occur::Should, q));
                    }
                }
                (!clauses.is_empty()).then(|| Box::new(BooleanQuery::new(clauses)) as Box<dyn TantivyQuery>)
            }
            Query::Not(inner) => self.build(searcher, scope, inner, &mut Vec::new())?.map(|q| Box::new(BooleanQuery::new(vec![(Occur::Must, Box::new(AllQuery) as Box<dyn TantivyQuery>), (Occur::MustNot, q)])) as Box<dyn TantivyQuery>),
        })
    }

    /// A word or phrase: it must occur as a contiguous run in one of the fields (the `gram`
    /// fields decide); jieba's words for it (the `seg` fields) are added to `ranking`.
    fn text_query(&self, searcher: &Searcher, scope: &BooleanQuery, field: Option<SearchField>, text: &str, ranking: &mut Vec<Term>) -> Option<Box<dyn TantivyQuery>> {
        let grams = self.analyze(GRAM_QUERY, text);
        if grams.is_empty() {
            return None;
        }
        let words = self.analyze(SEG, text);
        let targets: Vec<SearchField> = field.map_or(SearchField::ALL.to_vec(), |f| vec![f]);
        let mut matches: Vec<(Occur, Box<dyn TantivyQuery>)> = Vec::new();
        let mut ranking_words: Vec<(Term, u64)> = Vec::new();
        let mut single_terms: Vec<Term> = Vec::new();
        for target in targets {
            let pair = self.fields.text(target);
            for (_, w) in &words {
                let term = Term::from_field_text(pair.seg, w);
                let n = searcher.doc_freq(&term).unwrap_or(0);
                ranking_words.push((term, n));
            }
            let doc_freq = |t: &Term| searcher.doc_freq(t).unwrap_or(0);
            // Each gram's frequency, asked once: `covering_bigrams` chooses by them, and so do
            // the choices below.
            let freqs: BTreeMap<&str, u64> = grams.iter().map(|(_, t)| (t.as_str(), doc_freq(&Term::from_field_text(pair.gram, t)))).collect();
            let terms: Vec<(usize, Term, u64)> = tokenizers::covering_bigrams(&grams, |t| freqs.get(t).copied().unwrap_or(0))
                .into_iter()
                .map(|(p, t)| {
                    let n = freqs.get(t.as_str()).copied().unwrap_or(0);
                    (p, Term::from_field_text(pair.gram, &t), n)
                })
                .collect();
            if let [(_, term, n)] = &terms[..] {
                match tokenizers::lone_character(&grams[0].1) {
                    Some(c) => {
                        let term = Term::from_field_text(pair.chars, c.encode_utf8(&mut [0; 4]));
                        if doc_freq(&term) > 0 {
                            single_terms.push(term);
                        }
                    }
                    None if *n > 0 => single_terms.push(term.clone()),
                    None => {}
                }
                continue;
            }
            let q: Box<dyn TantivyQuery> = if terms.iter().any(|(_, _, n)| *n == 0) {
                // No document has all of it in this field (attachments and opinions are empty
                // in most indexes): every segment is spared the branch and its copy of the
                // scope.
                continue;
            } else if let [(p, first, n1), (q, second, n2)] = &terms[..]
                && let Some(gap) = q.checked_sub(*p).and_then(|g| u32::try_from(g).ok()).filter(|g| *g > 0)
                && [n1, n2].iter().all(|n| **n >= searcher.num_docs() / DENSE)
            {
                Box::new(AdjacentPairQuery::new(pair.gram, first.clone(), second.clone(), gap, self.positions.clone()))
            } else {
                Box::new(PhraseQuery::new_with_offset(terms.into_iter().map(|(p, t, _)| (p, t)).collect()))
            };
            // The scope inside each phrase's branch as well as around the whole: a union of the
            // fields fills windows of 4,096 documents from every branch, so a branch that is
            // only the phrase checks positions in documents the caller cannot see; with the
            // scope beside it, its rarest clause (a department, say) picks the candidates.
            // Matching runs unscored (jieba's words rank, in `ranking`), so a phrase stops at
            // its first occurrence in a document instead of counting them all.
            let found = BooleanQuery::new(vec![(Occur::Must, q), (Occur::Must, scope.box_clone())]);
            matches.push((Occur::Should, Box::new(found)));
        }
        // A text of one term (a character, or two as one bigram) has no positions to check: its
        // term in every field is one bitset, and the scope around the whole query filters it.
        if !single_terms.is_empty() {
            matches.push((Occur::Should, Box::new(AnyTermQuery::new(single_terms))));
        }
        if matches.is_empty() {
            // Not an absent query (`None`): inside an AND it must still match nothing.
            return Some(Box::new(EmptyQuery));
        }
        ranking.extend(ranking_terms(ranking_words, searcher.num_docs()));
        Some(Box::new(BooleanQuery::new(matches)))
    }

    /// (position, token) pairs of `text` under the named analyzer.
    fn analyze(&self, analyzer: &str, text: &str) -> Vec<(usize, String)> {
        let Some(mut analyzer) = self.index.tokenizers().get(analyzer) else { return vec![] };
        let mut stream = analyzer.token_stream(text);
        let mut out = Vec::new();
        while stream.advance() {
            let t = stream.token();
            out.push((t.position, t.text.clone()));
        }
        out
    }
}

/// Decompressed blocks of stored fields (about 16 KB each) a segment keeps. A page of hits
/// reads the id, title and the like of up to 20 documents, each in its own block of about a
/// hundred documents; with tantivy's default of 100 blocks a large segment's hits nearly
/// always decompressed their block again.
const DOC_STORE_CACHE_BLOCKS: usize = 1024;

/// tantivy's log merge policy, merging a level from 4 segments instead of 8, and a segment
/// more than a third deleted. Every search pays per segment (term lookups, one scorer per term
/// and field), so fewer segments at the price of merging each document a little more often.
fn merge_policy() -> LogMergePolicy {
    let mut policy = LogMergePolicy::default();
    policy.set_min_num_segments(4);
    policy.set_del_docs_ratio_before_merge(0.34);
    policy
}

/// The files of the index's committed segments, relative to its folder.
fn segment_files(index: &Index) -> SearchResult<Vec<std::path::PathBuf>> {
    use tantivy::index::SegmentComponent::{FastFields, FieldNorms, Positions, Postings, Store, Terms};
    let metas = index.searchable_segment_metas()?;
    Ok(metas.iter().flat_map(|m| [Terms, FieldNorms, FastFields, Postings, Positions, Store].map(|c| m.relative_path(c))).collect())
}

/// The watermark recorded by the index's last commit (0 for a new index).
fn committed_watermark(index: &Index) -> SearchResult<i64> {
    let metas = index.load_metas()?;
    Ok(metas.payload.and_then(|p| p.parse().ok()).unwrap_or(0))
}

/// Of a text's words in each field (`seg` terms and their document frequencies), those that
/// rank its matches: the ones in at most half of all documents. Words no document has rank
/// nothing and would only open postings in every segment. A word in more than half of them
/// scores nearly alike wherever it is (BM25's idf is under ln 2), yet its score is computed for
/// every document it is in: for a text of common characters, most of the search. If every
/// word is that common, each field's rarest word ranks alone.
fn ranking_terms(words: Vec<(Term, u64)>, num_docs: u64) -> Vec<Term> {
    let present: Vec<(Term, u64)> = words.into_iter().filter(|(_, n)| *n > 0).collect();
    let distinctive: Vec<Term> = present.iter().filter(|(_, n)| *n <= num_docs / 2).map(|(t, _)| t.clone()).collect();
    if !distinctive.is_empty() {
        return distinctive;
    }
    let mut rarest: BTreeMap<Field, (u64, Term)> = BTreeMap::new();
    for (term, n) in present {
        match rarest.get(&term.field()) {
            Some((m, _)) if *m <= n => {}
            _ => {
                rarest.insert(term.field(), (n, term));
            }
        }
    }
    rarest.into_values().map(|(_, t)| t).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::people::Classification;
    use crate::domain::search::parse;
    use tantivy::indexer::NoMergePolicy;

    fn document(id: &str, body: &str) -> IndexedDocument {
        IndexedDocument {
            id: id.into(),
            body: body.into(),
            kind: "incoming".into(),
            department: "BGS".into(),
            year: 2026,
            ..Default::default()
        }
    }

    fn found(index: &SearchIndex, q: &str) -> Vec<String> {
        let mut ids: Vec<String> = results(index, q).hits.into_iter().map(|h| h.id).collect();
        ids.sort();
        ids
    }

    /// `q` searched by a reader of every document.
    fn results(index: &SearchIndex, q: &str) -> IndexResults {
        let query = parse(q).unwrap();
        let scope = ReadScope { clearance: Classification::Public, department: None, username: "", distributed_to: "", archived_anywhere: false };
        let q = IndexQuery {
            query: &query,
            scope: &scope,
            routed: &[],
            kind: None,
            department: None,
            state: None,
            classification: None,
            year: None,
            archived: None,
            limit: 100,
            offset: 0,
            skip_twins: false,
        };
        index.search(&q).unwrap()
    }

    /// Facets count each segment's matches by the values cached for that segment: right over
    /// several segments, without the deleted, and after a merge makes new segments.
    #[test]
    fn facets_count_the_matches_of_every_segment() {
        let dir = tempfile::tempdir().unwrap();
        let index = SearchIndex::create(&dir.path().join("index")).unwrap();
        // Only this test merges: the policy would merge the same four segments in the
        // background, and whichever merge finished second would fail (CI failed so once).
        index.writer().set_merge_policy(Box::new(NoMergePolicy));
        let doc = |id: &str, kind: &str, department: &str, year: u64| IndexedDocument { kind: kind.into(), department: department.into(), year, ..document(id, "年度预算") };
        let counts = |pairs: &[(&str, u64)]| pairs.iter().map(|(k, n)| (k.to_string(), *n)).collect::<BTreeMap<_, _>>();
        let commits = [
            vec![doc("a", "incoming", "BGS", 2025), doc("b", "incoming", "CWB", 2026)],
            vec![doc("c", "outgoing", "BGS", 2026)],
            vec![doc("e", "outgoing", "CWB", 2024)],
        ];
        for (watermark, documents) in (1..).zip(&commits) {
            for d in documents {
                index.upsert(d).unwrap();
            }
            index.commit(watermark).unwrap();
        }
        // Each commit built its new segments' codes before any search asked for them.
        assert_eq!(index.facets.cached_segments(), index.reader.searcher().segment_readers().len());
        assert_eq!(results(&index, "预算").facets.kind, counts(&[("incoming", 2), ("outgoing", 2)]));

        // On a machine with more indexing threads, a and b may have been written to segments
        // of their own, and a's is then dropped whole: four segments either way.
        index.upsert(&doc("d", "outgoing", "GCB", 2026)).unwrap();
        index.remove("a");
        index.commit(4).unwrap();
        let r = results(&index, "预算");
        assert_eq!(r.total, 4);
        assert_eq!(r.facets.kind, counts(&[("incoming", 1), ("outgoing", 3)]));
        assert_eq!(r.facets.department, counts(&[("BGS", 1), ("CWB", 2), ("GCB", 1)]));
        assert_eq!(r.facets.year, counts(&[("2024", 1), ("2026", 3)]));

        let segments = index.reader.searcher().segment_readers().iter().map(|r| r.segment_id()).collect::<Vec<_>>();
        assert_eq!(segments.len(), 4, "{segments:?}");
        let mut writer = index.writer();
        futures::executor::block_on(writer.merge(&segments)).unwrap();
        writer.commit().unwrap();
        drop(writer);
        index.reader.reload().unwrap();
        assert_eq!(results(&index, "预算").facets.department, counts(&[("BGS", 1), ("CWB", 2), ("GCB", 1)]));
        assert_eq!(index.reader.searcher().segment_readers().len(), 1);
        assert_eq!(index.facets.cached_segments(), 1, "the merged segments are forgotten");
        drop(index);
        assert_eq!(SearchIndex::open(&dir.path().join("index")).unwrap().facets.cached_segments(), 1, "opening builds them too");
    }

    /// A server reads these into the page cache (`SearchIndex::preload`): every file of every
    /// committed segment, and nothing else.
    #[test]
    fn the_files_preloaded_are_those_of_the_committed_segments() {
        let dir = tempfile::tempdir().unwrap();
        let index = SearchIndex::create(&dir.path().join("index")).unwrap();
        index.upsert(&document("a", "年度预算")).unwrap();
        index.commit(1).unwrap();
        index.upsert(&document("b", "预算执行")).unwrap();
        let files = segment_files(&index.index).unwrap();
        let segments = index.reader.searcher().segment_readers().len();
        assert!(segments > 0);
        assert_eq!(files.len(), 6 * segments, "{files:?}");
        for f in &files {
            assert!(dir.path().join("index").join(f).is_file(), "{f:?}");
        }
        let on_disk = std::fs::read_dir(dir.path().join("index")).unwrap().filter_map(|e| e.ok()?.file_name().into_string().ok()).filter(|n| n.ends_with(".term")).count();
        assert_eq!(files.iter().filter(|f| f.extension() == Some("term".as_ref())).count(), on_disk);
    }

    /// Single characters and mixed Chinese and Latin runs, wherever they sit in a run of CJK
    /// text: the cases the bigram-per-character index must still find.
    #[test]
    fn characters_and_mixed_runs_are_found_wherever_they_sit() {
        let dir = tempfile::tempdir().unwrap();
        let index = SearchIndex::create(&dir.path().join("index")).unwrap();
        for (id, body) in [
            ("a", "2026年度预算编制"),
            ("b", "编制预算2026年"),
            ("c", "预算 年度 budget"),
            ("d", "请于2026年底前报送"),
            ("e", "算"),
            ("f", "全年2026预算"),
        ] {
            index.upsert(&document(id, body)).unwrap();
        }
        index.commit(1).unwrap();
        assert_eq!(found(&index, "年"), ["a", "b", "c", "d", "f"]);
        assert_eq!(found(&index, "算"), ["a", "b", "c", "e", "f"]);
        assert_eq!(found(&index, "度"), ["a", "c"]);
        assert_eq!(found(&index, "2026年"), ["a", "b", "d"]);
        assert_eq!(found(&index, "年2026"), ["f"]);
        assert_eq!(found(&index, "年2026预"), ["f"]);
        assert_eq!(found(&index, "算2026年"), ["b"]);
        assert_eq!(found(&index, "\"预算 年度\""), ["c"]);
        assert_eq!(found(&index, "\"年度 budgets\""), ["c"]);
        assert_eq!(found(&index, "预算编"), ["a"]);
        assert_eq!(found(&index, "年底"), ["d"]);
        assert_eq!(found(&index, "2026年 -编制"), ["d"]);
        // A text no document holds (in any field) matches nothing, also inside AND, and
        // excludes nothing after NOT.
        assert!(found(&index, "鑫").is_empty());
        assert!(found(&index, "预算 鑫").is_empty());
        assert!(found(&index, "预算 budgetary").is_empty());
        assert_eq!(found(&index, "预算 OR 鑫"), ["a", "b", "c", "f"]);
        assert_eq!(found(&index, "预算 -鑫鑫"), ["a", "b", "c", "f"]);
        assert!(found(&index, "title:预算").is_empty());
    }

    #[test]
    fn common_words_rank_only_when_no_word_is_rarer() {
        let (title, body) = (Field::from_field_id(1), Field::from_field_id(2));
        let term = |f: Field, w: &str| Term::from_field_text(f, w);
        // 100 documents: 预算 is distinctive in both fields; 的 is everywhere; 无 nowhere.
        let words = vec![(term(title, "的"), 90), (term(title, "预算"), 3), (term(title, "无"), 0), (term(body, "的"), 100), (term(body, "预算"), 50)];
        assert_eq!(ranking_terms(words, 100), vec![term(title, "预算"), term(body, "预算")]);
        // Only common words: each field's rarest.
        let words = vec![(term(title, "的"), 60), (term(title, "是"), 55), (term(body, "的"), 100), (term(body, "是"), 99), (term(body, "无"), 0)];
        assert_eq!(ranking_terms(words, 100), vec![term(title, "是"), term(body, "是")]);
        assert!(ranking_terms(vec![(term(body, "无"), 0)], 100).is_empty());
    }

    /// An index that did not change does not commit (its watermark stays) until `every` has
    /// passed, nor then when its watermark is already there; `may_hold` answers for committed
    /// documents and, while changes are pending, yes.
    #[test]
    fn an_unchanged_index_skips_commits_until_due() {
        let dir = tempfile::tempdir().unwrap();
        let index = SearchIndex::create(&dir.path().join("index")).unwrap();
        index.upsert(&document("a", "公文")).unwrap();
        assert!(index.may_hold("b"), "pending changes: cannot tell");
        index.commit_if_changed(1, Duration::from_secs(3600)).unwrap();
        assert_eq!(index.watermark().unwrap(), 1);
        assert!(index.may_hold("a"));
        assert!(!index.may_hold("b"));

        index.commit_if_changed(2, Duration::from_secs(3600)).unwrap();
        assert_eq!(index.watermark().unwrap(), 1, "nothing changed, not due");
        assert!(!index.needs_commit(2, Duration::from_secs(3600)));
        index.commit_if_changed(3, Duration::ZERO).unwrap();
        assert_eq!(index.watermark().unwrap(), 3, "due");
        assert!(!index.needs_commit(3, Duration::ZERO), "nothing changed, the watermark is there already");
        assert!(index.needs_commit(4, Duration::ZERO));

        index.remove("a");
        index.commit_if_changed(4, Duration::from_secs(3600)).unwrap();
        assert_eq!(index.watermark().unwrap(), 4, "a delete is a change");
        assert!(found(&index, "公文").is_empty());
    }
}
