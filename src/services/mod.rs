//! Services: the use cases (register a document, add a revision, sign in, verify the store) that
//! combine the domain rules with the object store and the catalog. Each returns a
//! `ServiceError`, which the access layer turns into a problem document or an exit code.

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
pub mod documents;
pub mod events;
pub mod fixity;
pub mod group_commit;
pub mod import;
pub mod keys;
pub mod opinions;
pub mod packages;
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
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("catalog: {0}")]
    Catalog(#[from] sqlx::Error),
    /// A search query that cannot be understood.
    #[error("{0}")]
    BadQuery(String),
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
        }
    }
}

/// Settings the services need beyond their resources.
#[derive(Clone, Debug)]
pub struct ServiceSettings {
    pub session_ttl: chrono::Duration,
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
            fonds: "X001".into(),
            archive_pattern: crate::domain::archive::ArchivePattern::parse(crate::domain::archive::DEFAULT_PATTERN).unwrap_or_else(|e| unreachable!("the default pattern parses: {e}")),
            organization: "henji".into(),
        }
    }
}

/// Everything a use case needs, shared by every request. Cloning copies one pointer: axum
/// clones the state for every extractor and middleware of every request, and copying the
/// parts (a dozen reference counts, the settings' strings) showed in profiles of the hot
/// read path.
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
}

/// What a `Henji` shares.
#[derive(Clone, Debug)]
pub struct Shared {
    pub catalog: Catalog,
    pub blobs: BlobStore,
    pub kinds: Arc<KindRegistry>,
    pub metrics: Arc<Metrics>,
    pub caches: Arc<cache::Caches>,
    pub committer: group_commit::GroupCommitter,
    pub settings: ServiceSettings,
    pub search: Arc<search::SearchEngine>,
    pub keys: Arc<keys::KeyService>,
    pub templates: Arc<crate::domain::route_templates::TemplateRegistry>,
    pub notifier: Arc<events::Notifier>,
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
