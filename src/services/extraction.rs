//! Scanned papers become text: every attachment whose type carries text gets a background job,
//! one per stored blob (a scan uploaded twice is read once). Plain text, Word and OFD are read
//! in process; a PDF gives its text layer (pdftotext), and its pages without one, like images,
//! are read by tesseract, page by page, at most one engine process per core. Jobs live in the
//! catalog, so they survive a restart (finished pages are kept, so a long job goes on where it
//! was); a failure is retried a few times, a damaged or hostile file fails at once with its
//! reason. The text is a derived object in the store (`extracted/<sha256>/<engine>.json`),
//! sealed like its source; search, packages, `verify`, reindex and restores read that object,
//! never the engine again.

use std::time::Duration;

use bytes::Bytes;
use chrono::Utc;
use futures::{StreamExt, TryStreamExt};
use serde::Serialize;
use serde_json::json;
use tokio::sync::{Notify, OnceCell, Semaphore};
use utoipa::ToSchema;

use super::events::{ExtractionNotice, Notice};
use super::reading::facts;
use super::sealed::StoredBlobRef;
use super::verify::BadObject;
use super::{Henji, ServiceError, ServiceResult, now, stamp};
use crate::domain::access;
use crate::domain::extract::{self, ExtractedText, JobState, PageText, TEXT_FORMAT, TextSource, Unreadable};
use crate::domain::ids::Sha256Digest;
use crate::domain::people::Principal;
use crate::domain::sealing::{self, BlobRole, Place};
use crate::resources::blob_store::{text_path, texts_folder};
use crate::resources::catalog::Conn;
use crate::resources::catalog::documents as doc_rows;
use crate::resources::catalog::extraction::{self as rows, JobEnd, JobRow};
use crate::resources::engines::{self, EngineError, Input};

/// Attempts of a job that failed for a passing reason (an engine timed out or is missing).
const MAX_ATTEMPTS: i64 = 3;
/// Sources held in memory while their pages are read; larger ones are streamed from the store
/// for each engine run.
const IN_MEMORY: u64 = 64 * 1024 * 1024;
/// Files larger than this are not read for text.
const MAX_SOURCE: u64 = 2 * 1024 * 1024 * 1024;
/// A PDF page whose text layer has fewer letters than this is a scan.
const TEXT_LAYER_MIN: usize = 8;
/// How often an idle worker looks at the queue when nothing wakes it.
const IDLE: Duration = Duration::from_secs(2);

/// How text is extracted; `serve`'s flags.
#[derive(Clone, Debug)]
pub struct ExtractionSettings {
    /// Jobs at once, and engine processes at once: one per core.
    pub workers: usize,
    /// tesseract's language model (Debian's `tesseract-ocr-chi-sim`).
    pub language: String,
    /// A folder of tesseract models to use instead of the system's.
    pub models: Option<std::path::PathBuf>,
    /// tesseract's page segmentation: 6 (a single block) reads 公文 pages best (STACK.md).
    pub psm: u8,
    /// Scanned PDF pages are rendered at this resolution for OCR: chi_sim reads 公文 body
    /// sizes better at 200 dpi than at 300, and faster (benches/README.md, extraction).
    pub dpi: u32,
}

impl ExtractionSettings {
    fn ocr(&self) -> engines::Ocr<'_> {
        engines::Ocr { language: &self.language, models: self.models.as_deref(), psm: self.psm }
    }
}

impl Default for ExtractionSettings {
    fn default() -> Self {
        Self { workers: std::thread::available_parallelism().map(|n| n.get()).unwrap_or(2), language: "chi_sim".into(), models: None, psm: 6, dpi: 200 }
    }
}

/// The queue's wake-up call and the engines' share of the cores.
#[derive(Debug)]
pub struct Extraction {
    settings: ExtractionSettings,
    wake: Notify,
    engines: Semaphore,
    versions: OnceCell<EngineVersions>,
}

#[derive(Clone, Debug)]
struct EngineVersions {
    ocr: String,
    pdf: String,
}

impl Extraction {
    pub fn new(settings: ExtractionSettings) -> Self {
        Self { engines: Semaphore::new(settings.workers.max(1)), settings, wake: Notify::new(), versions: OnceCell::new() }
    }
}

/// `GET /api/v1/documents/{id}/attachments/{sha256}/text`.
#[derive(Clone, Debug, Serialize, ToSchema)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum AttachmentText {
    Queued { pages_done: i64, pages: i64 },
    Running { pages_done: i64, pages: i64 },
    Done { engine: String, pages: Vec<TextPage> },
    Failed { reason: String },
    Unsupported {},
}

#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct TextPage {
    pub page: u32,
    pub text: String,
}

/// Where the reading of one attachment stands.
#[derive(Clone, Debug)]
pub struct TextProgress {
    pub status: JobState,
    pub pages_done: i64,
    pub pages: i64,
    /// Why it failed (or why the last attempt did, while it is queued again).
    pub reason: Option<String>,
}

impl AttachmentText {
    /// Still being read: the API answers 202.
    pub fn pending(&self) -> bool {
        matches!(self, AttachmentText::Queued { .. } | AttachmentText::Running { .. })
    }
}

/// An attachment as a document stores it: what its job needs to find and read it.
pub(super) struct StoredAttachment<'a> {
    pub document: &'a str,
    pub sha256: &'a str,
    pub name: &'a str,
    pub media_type: &'a str,
    /// Where it was sealed, when it is.
    pub sealed_base: Option<&'a str>,
}

/// Why a job did not finish.
enum JobError {
    /// The file itself: damaged, encrypted, hostile. Reading it again will not help.
    Unreadable(String),
    /// Something passing (a timeout, an engine missing, the store): tried again later.
    Passing(String),
}

impl From<ServiceError> for JobError {
    fn from(e: ServiceError) -> Self {
        match e {
            ServiceError::Integrity(why) | ServiceError::Gone(why) => JobError::Unreadable(why),
            other => JobError::Passing(other.to_string()),
        }
    }
}

impl From<EngineError> for JobError {
    fn from(e: EngineError) -> Self {
        match e {
            EngineError::Failed { .. } | EngineError::TooMuchOutput { .. } => JobError::Unreadable(e.to_string()),
            EngineError::Missing(_) | EngineError::TimedOut { .. } | EngineError::Io { .. } => JobError::Passing(e.to_string()),
        }
    }
}

impl From<Unreadable> for JobError {
    fn from(e: Unreadable) -> Self {
        JobError::Unreadable(e.0)
    }
}

/// Where a job reads its file from: memory, or the store again for each run.
struct Source {
    henji: Henji,
    document: String,
    blob: StoredBlobRef,
    bytes: Option<Bytes>,
}

impl Source {
    async fn input(&self) -> Result<Input, JobError> {
        if let Some(b) = &self.bytes {
            return Ok(Input::Bytes(b.clone()));
        }
        let (_, stream) = self.henji.plaintext_stream(None, &self.document, &self.blob).await?;
        Ok(Input::Stream(stream.map(|r| r.map_err(|e| std::io::Error::other(e.to_string()))).boxed()))
    }
}

impl Henji {
    /// Queues a job for an attachment whose type carries text, inside the transaction that
    /// stores it; nothing if the blob has one already (whatever document it came in).
    pub(super) async fn queue_extraction(&self, conn: &mut Conn, file: &StoredAttachment<'_>, at: &str) -> ServiceResult<bool> {
        if extract::text_source(file.media_type, file.name).is_none() {
            return Ok(false);
        }
        let job = JobRow {
            sha256: file.sha256.to_owned(),
            document_id: file.document.to_owned(),
            name: file.name.to_owned(),
            media_type: file.media_type.to_owned(),
            sealed_base: file.sealed_base.map(str::to_owned),
            state: JobState::Queued,
            engine: None,
            pages: 0,
            pages_done: 0,
            attempts: 0,
            not_before: at.to_owned(),
            reason: None,
            text_sha256: None,
            created_at: at.to_owned(),
            updated_at: at.to_owned(),
        };
        let queued = rows::enqueue(conn, &job).await?;
        if queued {
            self.metrics.extraction_jobs.inc();
        }
        Ok(queued)
    }

    /// Workers wake when jobs were queued (after their transaction committed).
    pub(super) fn wake_extraction(&self) {
        self.extraction.wake.notify_waiters();
    }

    /// Starts the workers (for `serve`): jobs a stopped process left running are queued again,
    /// attachments stored before extraction existed get their jobs, then one worker per core.
    pub async fn start_extraction(&self) {
        match self.catalog.begin_write().await {
            Ok(mut tx) => {
                let requeued = rows::requeue_running(&mut tx, &now()).await;
                match (requeued, tx.commit().await) {
                    (Ok(n), Ok(())) if n > 0 => tracing::info!(jobs = n, "extraction: jobs left running go on"),
                    (Err(e), _) | (_, Err(e)) => tracing::warn!(error = %e, "extraction: jobs left running were not queued again"),
                    _ => {}
                }
            }
            Err(e) => tracing::warn!(error = %e, "extraction: the catalog is not writable"),
        }
        if let Err(e) = self.engine_versions().await {
            let why = match e {
                JobError::Unreadable(w) | JobError::Passing(w) => w,
            };
            tracing::warn!(reason = %why, "extraction: scans and PDFs wait until the engines are installed (README: Scans to text)");
        }
        let henji = self.clone();
        self.spawn_background(async move {
            if let Err(e) = henji.queue_missing_jobs().await {
                tracing::warn!(error = %e, "extraction: earlier attachments were not queued");
            }
        });
        // A worker stopped in the middle of a job leaves it running; the next start queues it
        // again and it goes on from its last page.
        for _ in 0..self.extraction.settings.workers.max(1) {
            let henji = self.clone();
            self.spawn_background(async move { henji.extraction_worker().await });
        }
    }

    /// Every attachment of a live document that carries text and has no job gets one.
    async fn queue_missing_jobs(&self) -> ServiceResult<()> {
        let mut after = String::new();
        let mut queued = 0;
        loop {
            let ids = doc_rows::live_document_ids(&mut *self.catalog.read().await?, &after, 500).await?;
            let Some(last) = ids.last().cloned() else { break };
            let documents = doc_rows::documents(&mut *self.catalog.read().await?, &ids).await?;
            let at = now();
            let mut tx = self.catalog.begin_write().await?;
            for d in &documents {
                let attachments: Vec<crate::domain::manifest::AttachmentRef> = serde_json::from_str(&d.attachments).unwrap_or_default();
                for a in attachments {
                    let file = StoredAttachment { document: &d.id, sha256: &a.sha256.to_hex(), name: &a.name, media_type: &a.media_type, sealed_base: a.sealed_base.as_deref() };
                    if self.queue_extraction(&mut tx, &file, &at).await? {
                        queued += 1;
                    }
                }
            }
            tx.commit().await?;
            after = last;
        }
        if queued > 0 {
            tracing::info!(jobs = queued, "extraction: queued the text of earlier attachments");
            self.wake_extraction();
        }
        Ok(())
    }

    async fn extraction_worker(&self) {
        loop {
            // Listening before looking: a job queued between the look and the wait still wakes.
            let woken = self.extraction.wake.notified();
            tokio::pin!(woken);
            woken.as_mut().enable();
            let claimed = async {
                let mut tx = self.catalog.begin_write().await?;
                let job = rows::claim_next(&mut tx, &now()).await?;
                tx.commit().await?;
                Ok::<_, ServiceError>(job)
            }
            .await;
            match claimed {
                Ok(Some(job)) => self.run_job(job).await,
                Ok(None) => {
                    let _ = tokio::time::timeout(IDLE, woken).await;
                }
                Err(e) => {
                    tracing::warn!(error = %e, "extraction: the queue could not be read");
                    tokio::time::sleep(IDLE).await;
                }
            }
        }
    }

    async fn run_job(&self, job: JobRow) {
        let sha = job.sha256.clone();
        let outcome = self.read_text(&job).await;
        let at = now();
        let (state, reason, text_sha, not_before) = match &outcome {
            Ok(digest) => (JobState::Done, None, Some(digest.clone()), at.clone()),
            Err(JobError::Unreadable(why)) => (JobState::Failed, Some(why.clone()), None, at.clone()),
            Err(JobError::Passing(why)) if job.attempts < MAX_ATTEMPTS => {
                let later = stamp(Utc::now() + chrono::Duration::seconds(30 * job.attempts));
                (JobState::Queued, Some(why.clone()), None, later)
            }
            Err(JobError::Passing(why)) => (JobState::Failed, Some(format!("gave up after {} attempts: {why}", job.attempts)), None, at.clone()),
        };
        if let Some(why) = &reason {
            tracing::warn!(blob = %sha, state = state.as_str(), reason = %why, "extraction did not finish");
        }
        let ended = async {
            let mut tx = self.catalog.begin_write().await?;
            rows::end(&mut tx, &sha, &JobEnd { state, reason: reason.as_deref(), text_sha256: text_sha.as_deref(), not_before: &not_before, at: &at }).await?;
            // The documents that have it are indexed again by the search follower.
            if state == JobState::Done {
                for document in rows::documents_with(&mut tx, &sha).await? {
                    self.audit_as(&mut tx, &at, None, "attachment.text", format!("blob/{sha}"), Some(document), json!({"engine": job.engine})).await?;
                }
            }
            tx.commit().await?;
            Ok::<_, ServiceError>(())
        }
        .await;
        if let Err(e) = ended {
            tracing::error!(error = %e, blob = %sha, "extraction: the job's end was not recorded");
        }
        let pages = match (&outcome, self.job_row(&sha).await) {
            (_, Ok(Some(j))) => (j.pages_done, j.pages),
            _ => (0, 0),
        };
        self.announce_extraction(&job, state, pages.0, pages.1);
    }

    async fn job_row(&self, sha: &str) -> ServiceResult<Option<JobRow>> {
        Ok(rows::job(&mut *self.catalog.read().await?, sha).await?)
    }

    fn announce_extraction(&self, job: &JobRow, state: JobState, pages_done: i64, pages: i64) {
        self.notifier.publish(Notice::Extraction(ExtractionNotice { document: job.document_id.clone(), sha256: job.sha256.clone(), status: state, pages_done, pages }));
    }

    /// Reads the job's file, stores its text object, and returns that object's digest.
    async fn read_text(&self, job: &JobRow) -> Result<String, JobError> {
        let source = extract::text_source(&job.media_type, &job.name).ok_or_else(|| JobError::Unreadable("the file's type carries no text henji reads".into()))?;
        let digest: Sha256Digest = job.sha256.parse().map_err(|_| JobError::Unreadable("not a blob digest".into()))?;
        let blob = StoredBlobRef::new(digest, BlobRole::Attachment, job.sealed_base.as_deref());
        let (size, _) = self.plaintext_stream(None, &job.document_id, &blob).await?;
        if size > MAX_SOURCE {
            return Err(JobError::Unreadable(format!("the file is larger than {} MiB", MAX_SOURCE >> 20)));
        }
        let bytes = if size <= IN_MEMORY || !source.needs_engine() { Some(self.read_whole(&job.document_id, &blob, size).await?) } else { None };
        let src = Source { henji: self.clone(), document: job.document_id.clone(), blob, bytes };
        let versions = self.engine_versions().await?;
        let (engine, pages) = match source {
            TextSource::Pdf => self.read_pdf(job, &src, &versions).await?,
            TextSource::Image => {
                self.progress(job, 1, 0, &versions.ocr).await;
                let pages = self.ocr_image(&src).await?;
                (versions.ocr.clone(), pages)
            }
            in_process => {
                let bytes = src.bytes.clone().unwrap_or_default();
                let texts = tokio::task::spawn_blocking(move || extract::read_in_process(in_process, &bytes)).await.map_err(|e| JobError::Passing(e.to_string()))??;
                let engine = format!("henji-{}", env!("CARGO_PKG_VERSION"));
                (engine, texts.into_iter().enumerate().map(|(i, text)| PageText { page: i as u32 + 1, text, words: vec![] }).collect())
            }
        };
        self.progress(job, pages.len() as i64, pages.len() as i64, &engine).await;
        self.metrics.extraction_pages.inc_by(pages.len() as u64);
        let text = ExtractedText { format: TEXT_FORMAT.into(), source: job.sha256.clone(), engine: engine.clone(), pages };
        let stored = self.store_text(job, &text).await?;
        self.delete_page_parts(job, &engine, text.pages.len()).await;
        Ok(stored)
    }

    async fn read_whole(&self, document: &str, blob: &StoredBlobRef, size: u64) -> Result<Bytes, JobError> {
        let (_, mut stream) = self.plaintext_stream(None, document, blob).await?;
        let mut out = Vec::with_capacity(size as usize);
        while let Some(chunk) = stream.next().await {
            out.extend_from_slice(&chunk?);
        }
        Ok(Bytes::from(out))
    }

    async fn engine_versions(&self) -> Result<EngineVersions, JobError> {
        let settings = &self.extraction.settings;
        let found = self
            .extraction
            .versions
            .get_or_try_init(|| async {
                let tesseract = engines::version("tesseract", &["--version"]).await?;
                let pdftotext = engines::version("pdftotext", &["-v"]).await?;
                let installed = engines::ocr_languages(settings.models.as_deref()).await?;
                if let Some(missing) = settings.language.split('+').find(|l| !installed.iter().any(|i| i == l)) {
                    return Err(EngineError::Missing(format!("tesseract's language model {missing} (Debian: tesseract-ocr-{})", missing.replace('_', "-"))));
                }
                let number = |line: &str| line.split_whitespace().find(|w| w.chars().next().is_some_and(|c| c.is_ascii_digit())).unwrap_or("unknown").to_owned();
                // Texts are stored under the engine's name: other models are another engine.
                let models = settings.models.as_ref().and_then(|m| m.file_name()).map(|m| format!("-{}", m.to_string_lossy())).unwrap_or_default();
                Ok::<_, EngineError>(EngineVersions {
                    ocr: format!("tesseract-{}-{}{models}-psm{}", number(&tesseract), settings.language, settings.psm),
                    pdf: format!("pdftotext-{}", number(&pdftotext)),
                })
            })
            .await?;
        Ok(found.clone())
    }

    async fn progress(&self, job: &JobRow, pages: i64, done: i64, engine: &str) {
        let recorded = async {
            let mut tx = self.catalog.begin_write().await?;
            rows::set_progress(&mut tx, &job.sha256, pages, done, engine, &now()).await?;
            tx.commit().await?;
            Ok::<_, ServiceError>(())
        }
        .await;
        if let Err(e) = recorded {
            tracing::warn!(error = %e, "extraction: progress not recorded");
        }
        self.announce_extraction(job, JobState::Running, done, pages);
    }

    /// A PDF: the text layer of every page, and OCR of the pages that have none, side by
    /// side up to the core count; each page read is kept, so a restart goes on from there.
    async fn read_pdf(&self, job: &JobRow, src: &Source, versions: &EngineVersions) -> Result<(String, Vec<PageText>), JobError> {
        self.metrics.extraction_engine_runs.inc_by(2);
        // A PDF encrypted with an empty user password (copy protection) opens and is read.
        let info = engines::pdf_info(src.input().await?).await.map_err(|e| match e {
            EngineError::Failed { detail, .. } if detail.contains("password") => JobError::Unreadable("the PDF is encrypted: it opens only with its password".into()),
            other => other.into(),
        })?;
        if info.pages == 0 {
            return Err(JobError::Unreadable("the PDF has no pages".into()));
        }
        let layer = engines::pdf_text(src.input().await?).await?;
        let scanned: Vec<u32> = (1..=info.pages).filter(|p| layer.get(*p as usize - 1).is_none_or(|t| t.chars().filter(|c| c.is_alphanumeric()).count() < TEXT_LAYER_MIN)).collect();
        let engine = if scanned.is_empty() { versions.pdf.clone() } else { format!("{}+{}", versions.pdf, versions.ocr) };
        let mut pages: Vec<PageText> = (1..=info.pages).map(|p| PageText { page: p, text: layer.get(p as usize - 1).cloned().unwrap_or_default(), words: vec![] }).collect();
        let total = info.pages as i64;
        let mut done = total - scanned.len() as i64;
        // Pages read before a restart.
        let mut todo = Vec::new();
        for p in scanned {
            match self.load_page_part(job, &engine, p).await {
                Some(page) => {
                    pages[p as usize - 1] = page;
                    done += 1;
                }
                None => todo.push(p),
            }
        }
        self.progress(job, total, done, &engine).await;
        let dpi = self.extraction.settings.dpi;
        let mut running = futures::stream::iter(todo.into_iter().map(|p| async move {
            let _turn = self.extraction.engines.acquire().await.map_err(|e| JobError::Passing(e.to_string()))?;
            self.metrics.extraction_engine_runs.inc_by(2);
            let image = engines::pdf_page_image(src.input().await?, p, dpi).await?;
            let tsv = engines::ocr_tsv(Input::Bytes(Bytes::from(image)), &self.extraction.settings.ocr()).await?;
            Ok::<_, JobError>(extract::page_from_tsv(p, &tsv))
        }))
        .buffer_unordered(self.extraction.settings.workers.max(1));
        while let Some(page) = running.next().await {
            let page = page?;
            self.store_page_part(job, &engine, &page).await?;
            let p = page.page as usize;
            pages[p - 1] = page;
            done += 1;
            self.progress(job, total, done, &engine).await;
        }
        Ok((engine, pages))
    }

    /// An image: tesseract reads every page of it (a TIFF may hold several) in one run.
    async fn ocr_image(&self, src: &Source) -> Result<Vec<PageText>, JobError> {
        let _turn = self.extraction.engines.acquire().await.map_err(|e| JobError::Passing(e.to_string()))?;
        self.metrics.extraction_engine_runs.inc();
        let tsv = engines::ocr_tsv(src.input().await?, &self.extraction.settings.ocr()).await?;
        // Rows carry their page number; a multi-page TIFF is split by it.
        let mut by_page: std::collections::BTreeMap<u32, String> = std::collections::BTreeMap::new();
        let header = tsv.lines().next().unwrap_or("").to_owned();
        for row in tsv.lines().skip(1) {
            let page = row.split('\t').nth(1).and_then(|p| p.parse::<u32>().ok()).unwrap_or(1);
            let text = by_page.entry(page).or_insert_with(|| format!("{header}\n"));
            text.push_str(row);
            text.push('\n');
        }
        if by_page.is_empty() {
            return Ok(vec![PageText { page: 1, text: String::new(), words: vec![] }]);
        }
        Ok(by_page.iter().map(|(page, tsv)| extract::page_from_tsv(*page, tsv)).collect())
    }

    /// Seals `bytes` as the job's text when its source is sealed (bound to the document, its
    /// base and the text role).
    async fn seal_text(&self, job: &JobRow, bytes: Vec<u8>) -> Result<Vec<u8>, JobError> {
        match &job.sealed_base {
            Some(base) => {
                let key = self.data_key(&job.document_id).await?;
                Ok(sealing::seal(&key, &Place::Blob { document: &job.document_id, base, role: BlobRole::Text }, &bytes))
            }
            None => Ok(bytes),
        }
    }

    async fn open_text(&self, job: &JobRow, bytes: &[u8]) -> ServiceResult<Vec<u8>> {
        match &job.sealed_base {
            Some(base) => {
                let key = self.data_key(&job.document_id).await?;
                sealing::open(&key, &Place::Blob { document: &job.document_id, base, role: BlobRole::Text }, bytes).map_err(|_| ServiceError::Integrity(format!("the text of blob {} does not open", job.sha256)))
            }
            None => Ok(bytes.to_vec()),
        }
    }

    async fn store_text(&self, job: &JobRow, text: &ExtractedText) -> Result<String, JobError> {
        let json = serde_json::to_vec(text).map_err(|e| JobError::Passing(e.to_string()))?;
        let stored = self.seal_text(job, json).await?;
        let digest = Sha256Digest::of(&stored).to_hex();
        self.blobs.put_path(&text_path(&job.sha256, &text.engine, None), Bytes::from(stored)).await.map_err(|e| JobError::Passing(e.to_string()))?;
        Ok(digest)
    }

    async fn store_page_part(&self, job: &JobRow, engine: &str, page: &PageText) -> Result<(), JobError> {
        let json = serde_json::to_vec(page).map_err(|e| JobError::Passing(e.to_string()))?;
        let stored = self.seal_text(job, json).await?;
        self.blobs.put_path(&text_path(&job.sha256, engine, Some(page.page)), Bytes::from(stored)).await.map_err(|e| JobError::Passing(e.to_string()))
    }

    async fn load_page_part(&self, job: &JobRow, engine: &str, page: u32) -> Option<PageText> {
        let bytes = self.blobs.get_path_bytes(&text_path(&job.sha256, engine, Some(page))).await.ok()?;
        let plain = self.open_text(job, &bytes).await.ok()?;
        serde_json::from_slice(&plain).ok()
    }

    async fn delete_page_parts(&self, job: &JobRow, engine: &str, pages: usize) {
        for p in 1..=pages as u32 {
            let _ = self.blobs.delete_path(&text_path(&job.sha256, engine, Some(p))).await;
        }
    }

    /// For `henji verify`: each finished job's text object is where the catalog says and hashes
    /// to the digest it recorded.
    pub(super) async fn verify_texts(&self) -> ServiceResult<(u64, Vec<BadObject>)> {
        let (mut checked, mut bad, mut after) = (0, Vec::new(), String::new());
        loop {
            let page = rows::done_after(&mut *self.catalog.read().await?, &after, 500).await?;
            let Some(last) = page.last() else { break };
            after = last.sha256.clone();
            for job in page {
                checked += 1;
                let path = text_path(&job.sha256, job.engine.as_deref().unwrap_or_default(), None);
                match self.blobs.get_path_bytes(&path).await {
                    Ok(bytes) if job.text_sha256.as_deref() == Some(Sha256Digest::of(&bytes).to_hex().as_str()) => {}
                    Ok(_) => bad.push(BadObject { object: path.to_string(), problem: "does not match the digest the catalog recorded".into() }),
                    Err(e) => bad.push(BadObject { object: path.to_string(), problem: format!("missing or unreadable: {e}") }),
                }
            }
        }
        Ok((checked, bad))
    }

    /// A disposed blob's texts go with it (after the disposal committed; the job row went in
    /// its transaction).
    pub(super) async fn delete_texts(&self, sha256: &str) -> ServiceResult<()> {
        let mut objects = self.blobs.list(&texts_folder(sha256));
        let mut paths = Vec::new();
        while let Some((path, _)) = objects.try_next().await? {
            paths.push(path);
        }
        for path in paths {
            self.blobs.delete_path(&path).await?;
        }
        Ok(())
    }

    /// The text of a finished job, checked against the digest the catalog recorded.
    pub(super) async fn stored_text(&self, job: &JobRow) -> ServiceResult<Option<ExtractedText>> {
        let (Some(engine), Some(expected)) = (&job.engine, &job.text_sha256) else { return Ok(None) };
        if job.state != JobState::Done {
            return Ok(None);
        }
        let bytes = self.blobs.get_path_bytes(&text_path(&job.sha256, engine, None)).await?;
        if Sha256Digest::of(&bytes).to_hex() != *expected {
            return Err(ServiceError::Integrity(format!("the text of blob {} does not match its digest", job.sha256)));
        }
        let plain = self.open_text(job, &bytes).await?;
        serde_json::from_slice(&plain).map(Some).map_err(|e| ServiceError::Integrity(format!("the text of blob {}: {e}", job.sha256)))
    }

    /// The finished texts of these attachments, by stored digest (for search and packages).
    pub(super) async fn texts_of(&self, digests: &[String]) -> ServiceResult<std::collections::HashMap<String, (String, ExtractedText)>> {
        let jobs = rows::jobs(&mut *self.catalog.read().await?, digests).await?;
        let mut out = std::collections::HashMap::new();
        for job in jobs.iter().filter(|j| j.state == JobState::Done) {
            if let Some(text) = self.stored_text(job).await? {
                out.insert(job.sha256.clone(), (job.name.clone(), text));
            }
        }
        Ok(out)
    }

    /// An attachment's text, for whoever may read the attachment: done, still being read
    /// (with progress), failed (with the reason), or of a type that carries no text.
    pub async fn attachment_text(&self, who: &Principal, id: &str, sha256: &str) -> ServiceResult<AttachmentText> {
        let (row, job) = self.attachment_job(who, id, sha256).await?;
        let answer = match job {
            None => AttachmentText::Unsupported {},
            Some(j) => match j.state {
                JobState::Queued => AttachmentText::Queued { pages_done: j.pages_done, pages: j.pages },
                JobState::Running => AttachmentText::Running { pages_done: j.pages_done, pages: j.pages },
                JobState::Failed => AttachmentText::Failed { reason: j.reason.clone().unwrap_or_default() },
                JobState::Unsupported => AttachmentText::Unsupported {},
                JobState::Done => {
                    let text = self.stored_text(&j).await?.ok_or_else(|| ServiceError::Integrity(format!("the text of blob {} is missing", j.sha256)))?;
                    self.audit_classified_read(who, &row, "text.read", format!("document/{}/attachments/{sha256}/text", row.id)).await?;
                    AttachmentText::Done { engine: text.engine, pages: text.pages.into_iter().map(|p| TextPage { page: p.page, text: p.text }).collect() }
                }
            },
        };
        Ok(answer)
    }

    /// Where the reading of each of the document's attachments stands, without their text
    /// (nothing is read, so nothing is audited): for the document page.
    pub async fn text_progress(&self, who: &Principal, id: &str) -> ServiceResult<std::collections::HashMap<String, TextProgress>> {
        let row = self.readable_document(who, id).await?;
        let attachments: Vec<crate::domain::manifest::AttachmentRef> = serde_json::from_str(&row.attachments).unwrap_or_default();
        let digests: Vec<String> = attachments.iter().map(|a| a.sha256.to_hex()).collect();
        let jobs = rows::jobs(&mut *self.catalog.read().await?, &digests).await?;
        Ok(jobs.into_iter().map(|j| (j.sha256.clone(), TextProgress { status: j.state, pages_done: j.pages_done, pages: j.pages, reason: j.reason })).collect())
    }

    /// A failed extraction queued again (the document's clerks, administrators).
    pub async fn retry_extraction(&self, who: &Principal, id: &str, sha256: &str) -> ServiceResult<()> {
        let (row, route) = self.readable_document_with_access(who, id).await?;
        access::check_retry_extraction(who, &facts(&row, &route)).map_err(|d| ServiceError::from_denied(d, "document"))?;
        let (_, job) = self.attachment_job(who, id, sha256).await?;
        let job = job.ok_or_else(|| ServiceError::Conflict("the file's type carries no text; there is nothing to read again".into()))?;
        let at = now();
        let mut tx = self.catalog.begin_write().await?;
        if !rows::retry(&mut tx, &job.sha256, &at).await? {
            return Err(ServiceError::Conflict(format!("the extraction is {}, not failed", job.state.as_str())));
        }
        self.audit(&mut tx, &at, who, "attachment.text.retry", format!("blob/{}", job.sha256), Some(row.id.clone()), json!({})).await?;
        tx.commit().await?;
        self.wake_extraction();
        Ok(())
    }

    /// The document (if readable) and the job of its attachment `sha256` (404 if it has no
    /// such attachment).
    async fn attachment_job(&self, who: &Principal, id: &str, sha256: &str) -> ServiceResult<(doc_rows::DocumentRow, Option<JobRow>)> {
        let row = self.readable_document(who, id).await?;
        let digest: Sha256Digest = sha256.parse().map_err(|_| ServiceError::NotFound("attachment"))?;
        let hex = digest.to_hex();
        let mut conn = self.catalog.read().await?;
        let refs = doc_rows::blob_references(&mut conn, &hex).await?;
        let reference = refs.iter().find(|r| r.document_id == row.id && r.sealed_role.as_deref() != Some("body")).ok_or(ServiceError::NotFound("attachment"))?;
        let job = rows::job(&mut conn, &hex).await?;
        if job.is_none() && extract::text_source(&reference.media_type, &reference.name).is_some() {
            // Stored before extraction existed, and not yet queued by the start-up pass.
            drop(conn);
            let mut tx = self.catalog.begin_write().await?;
            let file = StoredAttachment { document: &row.id, sha256: &hex, name: &reference.name, media_type: &reference.media_type, sealed_base: reference.sealed_base.as_deref() };
            self.queue_extraction(&mut tx, &file, &now()).await?;
            tx.commit().await?;
            self.wake_extraction();
            return Ok((row, rows::job(&mut *self.catalog.read().await?, &hex).await?));
        }
        Ok((row, job))
    }

    /// Jobs per state (for tests and operators).
    pub async fn extraction_counts(&self, who: &Principal) -> ServiceResult<Vec<(JobState, i64)>> {
        access::check_admin(who).map_err(|d| ServiceError::from_denied(d, "extraction"))?;
        Ok(rows::counts(&mut *self.catalog.read().await?).await?)
    }
}
