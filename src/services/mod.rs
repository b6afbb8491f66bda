//! Services: the use cases (register a document, add a revision, act on a route, archive,
//! search, verify the store) that combine the domain rules with the resources: the object
//! store, the catalog, the search index and the keyring. They are the only way in for the
//! access layers (API, web pages, command line): every method that acts on someone's behalf
//! takes the `Principal` and asks `domain::access` before it acts. Each returns a
//! `ServiceError`, which the access layer turns into a problem document, a page or an exit
//! code.

use std::sync::Arc;

use chrono::{SecondsFormat, Utc};

use crate::domain::access::Denied;
use crate::domain::kinds::KindRegistry;
use crate::resources::blob_store::{BlobStore, StoreError};
use crate::resources::catalog::Catalog;
use crate::telemetry::Metrics;

pub mod archive;
pub mod audit;
pub mod backup;
pub mod cache;
pub mod demo;
pub mod desk;
pub mod documents;
pub mod events;
pub mod export;
pub mod extraction;
pub mod fixity;
pub mod group_commit;
pub mod health;
pub mod import;
pub mod keys;
pub mod opinions;
pub mod package_format;
pub mod packages;
pub mod reading;
pub mod people;
pub mod routing;
pub mod sealed;
pub mod search;
pub mod setup;
pub mod traces;
pub mod uploads;
pub mod verify;

#[derive(Debug, thiserror::Error)]
pub enum ServiceError {
    /// Missing, or hidden from the caller: the two must look the same.
    #[error("{0} not found")]
    NotFound(&'static str),
    #[error("{0}")]
    Forbidden(String),
    #[error("{0}")]
    Conflict(String),
    /// A value that does not fit; `field` is its dotted request path.
    #[error("{field}: {detail}")]
    Invalid { field: String, detail: String },
    #[error("{0}")]
    Unauthenticated(&'static str),
    #[error("stored data failed an integrity check: {0}")]
    Integrity(String),
    /// The catalog names an object the store does not have (`henji verify` finds which).
    #[error("object {0} is missing from the store")]
    MissingObject(String),
    /// The object store did not answer or failed.
    #[error("{0}")]
    Storage(String),
    /// The disk under the object store or the catalog is full: nothing of the request is kept.
    #[error("{0}")]
    StorageFull(String),
    #[error("catalog: {0}")]
    Catalog(sqlx::Error),
    /// A body larger than the configured limit.
    #[error("{0}")]
    TooLarge(String),
    /// A request parameter that is malformed (not a value of the wrong kind: that is `Invalid`).
    #[error("{0}")]
    BadRequest(String),
    /// A search query that cannot be understood.
    #[error("{0}")]
    BadQuery(String),
    /// Too many failed sign-ins: another attempt is heard after this many seconds.
    #[error("too many failed sign-ins; try again in {0} s")]
    TooManyAttempts(u64),
    /// A part of the service is not available right now (the search index while it rebuilds).
    #[error("{0}")]
    Unavailable(String),
    /// Content that existed and was destroyed for good (a shredded data key).
    #[error("{0}")]
    Gone(String),
    #[error("{0}")]
    Internal(String),
}

pub type ServiceResult<T> = Result<T, ServiceError>;

impl ServiceError {
    pub fn invalid(field: impl Into<String>, detail: impl Into<String>) -> Self {
        Self::Invalid { field: field.into(), detail: detail.into() }
    }

    pub fn from_denied(d: Denied, what: &'static str) -> Self {
        match d {
            Denied::Hidden => Self::NotFound(what),
            Denied::Forbidden(why) => Self::Forbidden(why.to_owned()),
            Denied::Conflict(why) => Self::Conflict(why),
        }
    }
}

/// How often the audit chain's head is anchored in the object store while it grows.
pub const ANCHOR_INTERVAL: std::time::Duration = std::time::Duration::from_secs(60);

/// Settings the services need beyond their resources.
#[derive(Clone, Debug)]
pub struct ServiceSettings {
    pub session_ttl: chrono::Duration,
    pub sign_in_limits: crate::domain::sign_in::SignInLimits,
    /// 全宗号: the fonds code in archive numbers.
    pub fonds: String,
    pub archive_pattern: crate::domain::archive::ArchivePattern,
    /// `Source-Organization` of archive packages.
    pub organization: String,
}

impl Default for ServiceSettings {
    fn default() -> Self {
        Self {
            session_ttl: chrono::Duration::hours(12),
            sign_in_limits: Default::default(),
            fonds: "X001".into(),
            archive_pattern: crate::domain::archive::ArchivePattern::parse(crate::domain::archive::DEFAULT_PATTERN).unwrap_or_else(|e| unreachable!("the default pattern parses: {e}")),
            organization: "henji".into(),
        }
    }
}

/// Everything a use case needs, shared by every request. Cloning copies one pointer, since
/// axum clones the state for every extractor and middleware of every request.
#[derive(Clone, Debug)]
pub struct Henji(Arc<Shared>);

impl std::ops::Deref for Henji {
    type Target = Shared;
    fn deref(&self) -> &Shared {
        &self.0
    }
}

impl Henji {
    pub fn new(shared: Shared) -> Self {
        Self(Arc::new(shared))
    }

    /// The settings, to change before the service starts answering; a clone taken earlier
    /// keeps the settings it had.
    pub fn settings_mut(&mut self) -> &mut ServiceSettings {
        &mut Arc::make_mut(&mut self.0).settings
    }

    /// The read caches' memory (`--cache-mib`), to set before serving.
    pub fn set_cache_budget(&mut self, bytes: usize) {
        Arc::make_mut(&mut self.0).caches = Arc::new(cache::Caches::with_budget(bytes));
    }

    /// The search indexes' indexing memory each (`--index-memory-mib`), to set before search
    /// starts.
    pub fn set_index_memory(&self, bytes: usize) {
        crate::resources::search::set_writer_memory(bytes);
    }

    /// How text is extracted, to set before the workers start.
    pub fn set_extraction(&mut self, settings: extraction::ExtractionSettings) {
        Arc::make_mut(&mut self.0).extraction = Arc::new(extraction::Extraction::new(settings));
    }
}

/// What a `Henji` shares: the resources, private to the services.
#[derive(Clone, Debug)]
pub struct Shared {
    catalog: Catalog,
    blobs: BlobStore,
    kinds: Arc<KindRegistry>,
    metrics: Arc<Metrics>,
    caches: Arc<cache::Caches>,
    committer: group_commit::GroupCommitter,
    settings: ServiceSettings,
    search: Arc<search::SearchEngine>,
    keys: Arc<keys::KeyService>,
    templates: Arc<crate::domain::route_templates::TemplateRegistry>,
    notifier: Arc<events::Notifier>,
    extraction: Arc<extraction::Extraction>,
    background: Arc<Background>,
    sign_ins: Arc<people::SignInThrottle>,
}

/// The service's own tasks (the index follower, extraction workers, scheduled fixity checks):
/// stopped before the catalog closes, so that none of them meets a closed pool.
#[derive(Debug, Default)]
pub struct Background {
    stop: tokio_util::sync::CancellationToken,
    tasks: tokio_util::task::TaskTracker,
}

impl Henji {
    /// The document kinds (JSON Schemas) this installation knows.
    pub fn kinds(&self) -> &KindRegistry {
        &self.kinds
    }

    /// The route templates (`schemas/routes/`).
    pub fn route_templates(&self) -> &crate::domain::route_templates::TemplateRegistry {
        &self.templates
    }

    pub fn metrics(&self) -> &Metrics {
        &self.metrics
    }

    pub fn settings(&self) -> &ServiceSettings {
        &self.settings
    }

    /// Where the objects are kept, for the log and the console (no credentials).
    pub fn store_description(&self) -> &str {
        self.blobs.describe()
    }

    /// Runs `work` until it ends or the service closes, whichever comes first.
    pub(crate) fn spawn_background(&self, work: impl std::future::Future<Output = ()> + Send + 'static) {
        let stop = self.background.stop.clone();
        self.background.tasks.spawn(async move {
            tokio::select! {
                _ = stop.cancelled() => {}
                _ = work => {}
            }
        });
    }

    /// The tracker of the background tasks, for one that ends by itself between steps.
    pub(crate) fn background_tasks(&self) -> &tokio_util::task::TaskTracker {
        &self.background.tasks
    }

    /// Whether the service is closing (for a background loop to end between its steps).
    pub(crate) fn stopping(&self) -> &tokio_util::sync::CancellationToken {
        &self.background.stop
    }

    /// Stops the background tasks, waits for catalog work in flight, and closes the catalog.
    pub async fn close(&self) {
        self.background.stop.cancel();
        self.background.tasks.close();
        if tokio::time::timeout(std::time::Duration::from_secs(10), self.background.tasks.wait()).await.is_err() {
            tracing::warn!("background tasks still running after 10 s; closing the catalog under them");
        }
        if let Err(e) = self.blobs.flush().await {
            tracing::error!(error = %e, "could not flush the object store at shutdown");
        }
        self.catalog.close().await;
    }
}

impl From<sqlx::Error> for ServiceError {
    /// A stored word outside its vocabulary is damaged data, never a value to go on with; a
    /// full disk and a catalog another program holds locked are faults to say, not 500s.
    fn from(e: sqlx::Error) -> Self {
        match catalog_fault(&e) {
            Some(fault) => fault,
            None if crate::resources::catalog::is_unknown_word(&e) => ServiceError::Integrity(e.to_string()),
            None => ServiceError::Catalog(e),
        }
    }
}

/// What a failed catalog call means for the client, when it is a fault of the machine rather
/// than of henji: a full disk (507) or a catalog that stayed locked or unreachable (503).
pub fn catalog_fault(e: &sqlx::Error) -> Option<ServiceError> {
    use crate::resources::catalog::Fault;
    match crate::resources::catalog::fault(e)? {
        Fault::Full => Some(ServiceError::StorageFull("the disk under the catalog is full; nothing of this request was kept".into())),
        Fault::Busy => Some(ServiceError::Unavailable("the catalog is locked by another program; try again shortly".into())),
        Fault::Unreachable => Some(ServiceError::Unavailable("the catalog cannot be reached; try again shortly".into())),
    }
}

/// Whether an error, or one it was caused by, is a full disk (ENOSPC, or a quota).
pub fn is_disk_full(e: &(dyn std::error::Error + 'static)) -> bool {
    let mut next = Some(e);
    while let Some(err) = next {
        if let Some(io) = err.downcast_ref::<std::io::Error>()
            && (io.kind() == std::io::ErrorKind::StorageFull || io.kind() == std::io::ErrorKind::QuotaExceeded)
        {
            return true;
        }
        next = err.source();
    }
    false
}

impl From<StoreError> for ServiceError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::NotFound(path) => ServiceError::MissingObject(path),
            other if is_disk_full(&other) => ServiceError::StorageFull("the disk under the object store is full; nothing of this request was kept".into()),
            other => ServiceError::Storage(other.to_string()),
        }
    }
}

/// Times are stored as RFC 3339 UTC with milliseconds, so they sort as text.
pub fn now() -> String {
    stamp(Utc::now())
}

/// A time as the catalog and the API write it.
pub fn stamp(t: chrono::DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Millis, true)
}

/// Keyset pagination: the cursor is the last key of the previous page.
pub fn clamp_limit(limit: Option<i64>, default: i64, max: i64) -> i64 {
    limit.unwrap_or(default).clamp(1, max)
}
