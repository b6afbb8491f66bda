//! Traces (痕迹) of a document: load the revision texts of a range, attribute every change
//! (domain `traces`), and name the people behind the marks.
//!
//! Revisions are immutable, so the attributed spans of a (from, to) pair never change and are
//! cached by that pair. People can change their name or colour, so the legend is looked up on
//! every request and never cached.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::{Henji, ServiceError, ServiceResult};
use crate::domain::ids::{RevisionId, Sha256Digest};
use crate::domain::palette;
use crate::domain::people::Principal;
use crate::domain::traces::report::{LegendEntry, MarkRevision, TraceReport};
use crate::domain::traces::{TraceSpan, attribute};
use crate::resources::catalog::documents::{self as rows, DocumentRow, RevisionRow};
use crate::resources::catalog::people as people_rows;

/// Past this, diffs get coarser so that a pathological pair (a complete rewrite of a long
/// text) still answers promptly; the result stays exact.
const DIFF_BUDGET: Duration = Duration::from_millis(150);

/// Traces are drawn in memory; all the texts of one range together may hold this much.
const MAX_TRACED_TEXT: u64 = 64 * 1024 * 1024;

/// Where a trace starts: the empty text, or a revision.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TraceStart {
    Empty,
    Revision(String),
}

/// The attributed spans of a range with the people and revisions behind them.
#[derive(Debug)]
pub struct ComputedTrace {
    pub document: String,
    pub title: String,
    /// `None`: from the empty text.
    pub from: Option<String>,
    pub to: String,
    pub legend: Vec<LegendEntry>,
    pub revisions: Vec<MarkRevision>,
    pub spans: Arc<Vec<TraceSpan>>,
}

impl ComputedTrace {
    pub fn report(&self) -> TraceReport<'_> {
        TraceReport {
            document: &self.document,
            title: &self.title,
            from: self.from.as_deref(),
            to: &self.to,
            legend: &self.legend,
            revisions: &self.revisions,
            spans: &self.spans,
        }
    }
}

/// The merged text of a revision (清稿).
#[derive(Debug)]
pub struct CleanText {
    pub document: String,
    pub title: String,
    pub to: String,
    pub text: Arc<str>,
}

/// A range resolved against the document's revisions, oldest first.
struct Range {
    revisions: Vec<RevisionRow>,
    /// `None`: from the empty text.
    from: Option<usize>,
    to: usize,
}

impl Range {
    /// The revisions whose texts form the chain: `from` (if any), then each one up to `to`.
    fn chain(&self) -> &[RevisionRow] {
        &self.revisions[self.from.unwrap_or(0)..=self.to]
    }

    /// The revisions that can carry marks: those after `from`.
    fn marking(&self) -> &[RevisionRow] {
        &self.revisions[self.from.map_or(0, |f| f + 1)..=self.to]
    }
}

impl Henji {
    /// The traces of `from`..`to` (defaults: the first revision and the head).
    pub async fn traces(&self, who: &Principal, id: &str, from: Option<TraceStart>, to: Option<&str>) -> ServiceResult<ComputedTrace> {
        let row = self.readable_document(who, id).await?;
        let range = self.resolve_range(&row, from.unwrap_or(TraceStart::Revision(String::new())), to).await?;
        self.audit_classified_read(who, &row, "traces.read", format!("document/{}/traces", row.id)).await?;

        let from_id = range.from.map(|f| range.revisions[f].id.clone());
        let to_id = range.revisions[range.to].id.clone();
        let key = (row.id.clone(), from_id.clone().unwrap_or_default(), to_id.clone());
        let spans = match self.caches.trace(&key) {
            Some(spans) => spans,
            None => {
                let spans = Arc::new(self.attribute_range(&range).await?);
                self.caches.put_trace(key, spans.clone());
                spans
            }
        };
        let (legend, revisions) = self.legend(range.marking()).await?;
        Ok(ComputedTrace { document: row.id, title: row.title, from: from_id, to: to_id, legend, revisions, spans })
    }

    /// The text of `to` (default: the head) alone.
    pub async fn clean_text(&self, who: &Principal, id: &str, to: Option<&str>) -> ServiceResult<CleanText> {
        let row = self.readable_document(who, id).await?;
        let range = self.resolve_range(&row, TraceStart::Empty, to).await?;
        self.audit_classified_read(who, &row, "traces.read", format!("document/{}/traces", row.id)).await?;
        let revision = &range.revisions[range.to];
        let text = self.revision_text(revision, MAX_TRACED_TEXT).await?;
        Ok(CleanText { document: row.id, title: row.title, to: revision.id.clone(), text })
    }

    /// `from`/`to` as positions among the document's revisions; an empty `from` revision id
    /// means the first revision.
    async fn resolve_range(&self, row: &DocumentRow, from: TraceStart, to: Option<&str>) -> ServiceResult<Range> {
        let revisions = rows::revisions(&mut *self.catalog.reader().acquire().await?, &row.id, 0, i64::MAX).await?;
        if revisions.is_empty() {
            return Err(ServiceError::Internal(format!("document {} has no revisions", row.id)));
        }
        let position = |field: &str, id: &str| -> ServiceResult<usize> {
            let id: RevisionId = id.parse().map_err(|e: crate::domain::ids::IdError| ServiceError::invalid(field, e.to_string()))?;
            let id = id.to_string();
            revisions.iter().position(|r| r.id == id).ok_or_else(|| ServiceError::invalid(field, "not a revision of this document"))
        };
        let to = match to {
            Some(id) => position("to", id)?,
            None => revisions.len() - 1,
        };
        let from = match from {
            TraceStart::Empty => None,
            TraceStart::Revision(id) if id.is_empty() => Some(0),
            TraceStart::Revision(id) => Some(position("from", &id)?),
        };
        if from.is_some_and(|f| f > to) {
            return Err(ServiceError::invalid("from", "comes after `to`; traces run forward in time"));
        }
        Ok(Range { revisions, from, to })
    }

    async fn attribute_range(&self, range: &Range) -> ServiceResult<Vec<TraceSpan>> {
        let mut texts: Vec<Arc<str>> = Vec::new();
        if range.from.is_none() {
            texts.push(Arc::from(""));
        }
        let mut loaded: HashMap<Option<String>, Arc<str>> = HashMap::new();
        let mut total = 0u64;
        for revision in range.chain() {
            let text = match loaded.get(&revision.body_sha256) {
                Some(t) => t.clone(),
                None => {
                    let t = self.revision_text(revision, MAX_TRACED_TEXT - total).await?;
                    total += t.len() as u64;
                    loaded.insert(revision.body_sha256.clone(), t.clone());
                    t
                }
            };
            texts.push(text);
        }
        // Attribution is CPU work of up to a few hundred milliseconds: off the async workers.
        tokio::task::spawn_blocking(move || {
            let chain: Vec<&str> = texts.iter().map(|t| &**t).collect();
            attribute(&chain, Some(Instant::now() + DIFF_BUDGET))
        })
        .await
        .map_err(|e| ServiceError::Internal(format!("trace computation failed: {e}")))
    }

    /// A revision's body as text, checked against its digest; a revision without a body is
    /// the empty text. A body longer than `limit` bytes is refused before it is read.
    async fn revision_text(&self, revision: &RevisionRow, limit: u64) -> ServiceResult<Arc<str>> {
        let Some(hex) = &revision.body_sha256 else { return Ok(Arc::from("")) };
        let digest: Sha256Digest = hex.parse().map_err(|_| ServiceError::Internal(format!("bad body digest in catalog for revision {}", revision.id)))?;
        let bytes = match self.caches.body(&digest) {
            Some(bytes) => bytes,
            None => {
                let (size, stream) = self.blobs.get(&digest).await?;
                if size > limit {
                    return Err(ServiceError::invalid("to", format!("the texts of this range exceed {} MiB; traces are drawn for less, so choose a shorter range", MAX_TRACED_TEXT >> 20)));
                }
                let chunks: Vec<bytes::Bytes> = futures::TryStreamExt::try_collect(stream).await?;
                let bytes = bytes::Bytes::from(chunks.concat());
                if Sha256Digest::of(&bytes) != digest {
                    return Err(ServiceError::Integrity(format!("blob {digest} does not match its digest")));
                }
                self.caches.put_body(digest, bytes.clone());
                bytes
            }
        };
        let text = std::str::from_utf8(&bytes).map_err(|_| ServiceError::Integrity(format!("the body of revision {} is not UTF-8 text", revision.id)))?;
        Ok(Arc::from(text))
    }

    /// The authors of the marking revisions in order of their first revision, each in a colour
    /// no one before them in the legend has.
    async fn legend(&self, marking: &[RevisionRow]) -> ServiceResult<(Vec<LegendEntry>, Vec<MarkRevision>)> {
        let mut conn = self.catalog.reader().acquire().await?;
        let mut legend: Vec<LegendEntry> = Vec::new();
        let mut own_colors: Vec<String> = Vec::new();
        let mut revisions = Vec::with_capacity(marking.len());
        for r in marking {
            let author = match legend.iter().position(|e| e.user == r.author) {
                Some(i) => i,
                None => {
                    let user = people_rows::user_by_username(&mut conn, &r.author).await?;
                    let (display_name, department, color) = match user {
                        Some(u) => (u.display_name, u.department, u.color),
                        // An author this installation does not know (an imported archive, say).
                        None => (r.author.clone(), String::new(), palette::color_for_index(legend.len() as u64).to_owned()),
                    };
                    let department_name = people_rows::department_name(&mut conn, &department).await?.unwrap_or_else(|| department.clone());
                    legend.push(LegendEntry { user: r.author.clone(), display_name, department, department_name, color: String::new() });
                    own_colors.push(color);
                    legend.len() - 1
                }
            };
            revisions.push(MarkRevision { id: r.id.clone(), author, created_at: r.created_at.clone() });
        }
        for (entry, color) in legend.iter_mut().zip(palette::legend_colors(own_colors.iter().map(String::as_str))) {
            entry.color = color;
        }
        Ok((legend, revisions))
    }
}
