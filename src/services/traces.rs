//! Traces (痕迹) of a document: load the revision texts of a range, attribute every change
//! (domain `traces`), and name the people behind the marks.
//!
//! Revisions are immutable, so the attributed spans of a (from, to) pair never change and are
//! cached by that pair. The rendered outputs (JSON, HTML, .docx) are cached too, keyed also by
//! the people epoch, which moves whenever a name, colour or department changes, so a legend
//! is never stale.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use serde::Serialize;
use utoipa::ToSchema;

use super::cache::CachedBody;
use super::reading::parse_document_id;
use super::sealed::StoredBlobRef;
use super::{Henji, ServiceError, ServiceResult};
use crate::domain::access;
use crate::domain::ids::RevisionId;
use crate::domain::palette;
use crate::domain::people::Principal;
use crate::domain::traces::report::{LegendEntry, MarkRevision, TraceReport};
use crate::domain::traces::{SpanOp, TraceSpan, attribute, docx, html};
use crate::resources::catalog::documents::{self as rows, DocumentRow, RevisionRow};
use crate::resources::catalog::people as people_rows;

/// Past this, diffs get coarser so that a pathological pair (a complete rewrite of a long
/// text) still answers promptly; the result stays exact.
pub const DIFF_BUDGET: Duration = Duration::from_millis(150);

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

/// The forms a trace is delivered in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TraceOutput {
    Json,
    Html,
    CleanJson,
    CleanHtml,
    Docx,
}

impl TraceOutput {
    pub fn media_type(self) -> &'static str {
        match self {
            Self::Json | Self::CleanJson => "application/json",
            Self::Html | Self::CleanHtml => "text/html; charset=utf-8",
            Self::Docx => docx::MEDIA_TYPE,
        }
    }

    fn is_clean(self) -> bool {
        matches!(self, Self::CleanJson | Self::CleanHtml)
    }
}

/// A trace ready to send.
#[derive(Debug)]
pub struct RenderedTrace {
    pub document: String,
    pub output: TraceOutput,
    pub bytes: Bytes,
    /// The same bytes gzipped, for clients that accept it (not for .docx, already deflated).
    pub gzip: Option<Bytes>,
}

/// Rendered text outputs are this long or longer before they are worth gzipping.
const GZIP_FROM: usize = 1024;

/// The JSON of `GET /api/v1/documents/{id}/traces`.
#[derive(Serialize, ToSchema)]
pub struct TracesJson<'a> {
    document: &'a str,
    /// A revision id, or `empty`.
    from: &'a str,
    to: &'a str,
    authors: Vec<AuthorJson<'a>>,
    spans: Vec<SpanJson<'a>>,
}

#[derive(Serialize, ToSchema)]
struct AuthorJson<'a> {
    user: &'a str,
    display_name: &'a str,
    department: &'a str,
    color: &'a str,
    revisions: Vec<RevisionRef<'a>>,
}

#[derive(Serialize, ToSchema)]
struct RevisionRef<'a> {
    id: &'a str,
    created_at: &'a str,
}

#[derive(Serialize, ToSchema)]
struct SpanJson<'a> {
    text: &'a str,
    op: SpanOp,
    #[serde(skip_serializing_if = "Option::is_none")]
    author: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    revision: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    deleted_by: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    deleted_in: Option<&'a str>,
}

/// The JSON of `GET /api/v1/documents/{id}/traces?view=clean`.
#[derive(Serialize, ToSchema)]
pub struct CleanJson<'a> {
    document: &'a str,
    to: &'a str,
    text: &'a str,
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
    /// A trace in the form asked for. The hot path: with warm caches this touches neither the
    /// catalog nor the store (but for the audit event a classified read leaves).
    pub async fn render_trace(&self, who: &Principal, id: &str, output: TraceOutput, from: Option<TraceStart>, to: Option<&str>) -> ServiceResult<RenderedTrace> {
        let doc = parse_document_id(id)?.to_string();
        let facts = self.access_facts(&doc).await?;
        access::check_read(who, &facts.facts())
            .map_err(|d| ServiceError::from_denied(d, "document"))?;
        // Ids are checked before any lookup, so a malformed one is a 422 cached or not.
        let to = match to {
            Some(t) => normalise_revision("to", t)?,
            None => facts.head_revision.clone(),
        };
        let from = match from {
            Some(TraceStart::Revision(r)) if !r.is_empty() => Some(TraceStart::Revision(normalise_revision("from", &r)?)),
            other => other,
        };
        let from_key = match (&from, output.is_clean()) {
            (_, true) | (None, _) => String::new(),
            (Some(TraceStart::Empty), _) => "empty".to_owned(),
            (Some(TraceStart::Revision(r)), _) => r.clone(),
        };
        let key = (doc.clone(), from_key, to.clone(), output as u8, self.caches.people_epoch());
        let (bytes, gzip) = match self.caches.rendered(&key) {
            Some(both) => both,
            None => {
                let bytes = self.render_uncached(who, &doc, output, from, &to).await?;
                let gzip = if output != TraceOutput::Docx && bytes.len() >= GZIP_FROM {
                    let plain = bytes.clone();
                    Some(tokio::task::spawn_blocking(move || gzip(&plain)).await.map_err(|e| ServiceError::Internal(format!("gzip failed: {e}")))??)
                } else {
                    None
                };
                self.caches.put_rendered(key, (bytes.clone(), gzip.clone()));
                (bytes, gzip)
            }
        };
        self.audit_if_classified(who, &doc, facts.classification, "traces.read", || format!("document/{doc}/traces")).await?;
        Ok(RenderedTrace { document: doc, output, bytes, gzip })
    }

    async fn render_uncached(&self, who: &Principal, doc: &str, output: TraceOutput, from: Option<TraceStart>, to: &str) -> ServiceResult<Bytes> {
        if output.is_clean() {
            let c = self.clean_text(who, doc, Some(to)).await?;
            return Ok(match output {
                TraceOutput::CleanHtml => Bytes::from(html::clean_page(&c.title, &c.to, &c.text)),
                _ => json_bytes(&CleanJson { document: &c.document, to: &c.to, text: &c.text })?,
            });
        }
        let trace = self.traces(who, doc, from, Some(to)).await?;
        match output {
            TraceOutput::Html => Ok(Bytes::from(html::traces_page(&trace.report()))),
            TraceOutput::Docx => {
                // Deflating a long document is CPU work: off the async workers.
                let bytes = tokio::task::spawn_blocking(move || docx::traces_docx(&trace.report()))
                    .await
                    .map_err(|e| ServiceError::Internal(format!("docx rendering failed: {e}")))?
                    .map_err(|e| ServiceError::Internal(format!("docx rendering failed: {e}")))?;
                Ok(Bytes::from(bytes))
            }
            _ => json_bytes(&traces_json(&trace)),
        }
    }

    /// The traces of `from`..`to` (defaults: the first revision and the head).
    pub(super) async fn traces(&self, who: &Principal, id: &str, from: Option<TraceStart>, to: Option<&str>) -> ServiceResult<ComputedTrace> {
        let row = self.readable_document(who, id).await?;
        let range = self.resolve_range(&row, from.unwrap_or(TraceStart::Revision(String::new())), to).await?;

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
    pub(super) async fn clean_text(&self, who: &Principal, id: &str, to: Option<&str>) -> ServiceResult<CleanText> {
        let row = self.readable_document(who, id).await?;
        let range = self.resolve_range(&row, TraceStart::Empty, to).await?;
        let revision = &range.revisions[range.to];
        let text = self.revision_text(revision, MAX_TRACED_TEXT).await?;
        Ok(CleanText { document: row.id, title: row.title, to: revision.id.clone(), text })
    }

    /// `from`/`to` as positions among the document's revisions; an empty `from` revision id
    /// means the first revision.
    async fn resolve_range(&self, row: &DocumentRow, from: TraceStart, to: Option<&str>) -> ServiceResult<Range> {
        let revisions = rows::revisions(&mut *self.catalog.read().await?, &row.id, 0, i64::MAX).await?;
        if revisions.is_empty() {
            return Err(ServiceError::Internal(format!("document {} has no revisions", row.id)));
        }
        let position = |field: &str, id: &str| -> ServiceResult<usize> {
            let id = normalise_revision(field, id)?;
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

    /// A revision's body as text, checked against its digest (and opened, if sealed); a
    /// revision without a body is the empty text. A body longer than `limit` bytes is refused
    /// before it is read.
    pub(super) async fn revision_text(&self, revision: &RevisionRow, limit: u64) -> ServiceResult<Arc<str>> {
        let Some(blob) = super::reading::body_blob(revision)? else { return Ok(Arc::from("")) };
        self.body_text(&revision.document_id, &blob, limit).await?.ok_or_else(|| {
            ServiceError::invalid("to", format!("the texts of this range exceed {} MiB; traces are drawn for less, so choose a shorter range", MAX_TRACED_TEXT >> 20))
        })
    }

    /// A body blob as text, kept if small; `None` if it is longer than `limit` bytes (then it
    /// is not read).
    pub(super) async fn body_text(&self, document: &str, blob: &StoredBlobRef, limit: u64) -> ServiceResult<Option<Arc<str>>> {
        // `small_body` has checked the digest (and the key), and a small body's UTF-8.
        match self.small_body(None, document, blob, limit).await? {
            None => Ok(None),
            Some(CachedBody::Text(text)) => Ok(Some(text)),
            Some(CachedBody::Binary(bytes)) => {
                let text = std::str::from_utf8(&bytes).map_err(|_| ServiceError::Integrity(format!("body blob {} is not UTF-8 text", blob.digest)))?;
                Ok(Some(Arc::from(text)))
            }
        }
    }

    /// The authors of the marking revisions in order of their first revision, each in a colour
    /// no one before them in the legend has.
    async fn legend(&self, marking: &[RevisionRow]) -> ServiceResult<(Vec<LegendEntry>, Vec<MarkRevision>)> {
        let mut conn = self.catalog.read().await?;
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

/// A revision id as the catalog spells it; a malformed one is a 422 naming `field`.
fn normalise_revision(field: &str, id: &str) -> ServiceResult<String> {
    let id: RevisionId = id.parse().map_err(|e: crate::domain::ids::IdError| ServiceError::invalid(field, e.to_string()))?;
    Ok(id.to_string())
}

fn gzip(bytes: &[u8]) -> ServiceResult<Bytes> {
    use std::io::Write;
    let mut encoder = flate2::write::GzEncoder::new(Vec::with_capacity(bytes.len() / 4), flate2::Compression::fast());
    encoder.write_all(bytes).and_then(|_| encoder.finish()).map(Bytes::from).map_err(|e| ServiceError::Internal(format!("gzip failed: {e}")))
}

fn json_bytes<T: Serialize>(value: &T) -> ServiceResult<Bytes> {
    serde_json::to_vec(value).map(Bytes::from).map_err(|e| ServiceError::Internal(format!("trace JSON: {e}")))
}

fn traces_json(t: &ComputedTrace) -> TracesJson<'_> {
    let report = t.report();
    let authors = t
        .legend
        .iter()
        .enumerate()
        .map(|(i, e)| AuthorJson {
            user: &e.user,
            display_name: &e.display_name,
            department: &e.department,
            color: &e.color,
            revisions: t.revisions.iter().filter(|r| r.author == i).map(|r| RevisionRef { id: &r.id, created_at: &r.created_at }).collect(),
        })
        .collect();
    let who = |position: Option<usize>| position.and_then(|p| report.mark(p)).map(|(r, e)| (e.user.as_str(), r.id.as_str()));
    let spans = t
        .spans
        .iter()
        .map(|s| {
            let (inserted, deleted) = (who(s.inserted_in), who(s.deleted_in));
            SpanJson {
                text: &s.text,
                op: s.op,
                author: inserted.map(|w| w.0),
                revision: inserted.map(|w| w.1),
                deleted_by: deleted.map(|w| w.0),
                deleted_in: deleted.map(|w| w.1),
            }
        })
        .collect();
    TracesJson { document: &t.document, from: t.from.as_deref().unwrap_or("empty"), to: &t.to, authors, spans }
}
