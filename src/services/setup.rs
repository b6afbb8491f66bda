//! Opening an installation: the data directory, catalog, object store and kinds; on the first
//! start, the administrator.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use rand::RngCore;
use serde_json::Value;

use super::people::NewUser;
use super::keys::{KeyCheckError, KeyService, check_keyring, record_key_checks};
use super::search::SearchEngine;
use super::{Henji, ServiceError, ServiceSettings, Shared};
use crate::domain::kinds::{KindError, KindRegistry};
use crate::domain::people::{Classification, Principal, Role};
use crate::domain::route_templates::{RouteTemplate, TemplateRegistry};
use crate::resources::blob_store::{BlobStore, StoreError};
use crate::resources::catalog::documents::blob_totals;
use crate::resources::catalog::people::count_users;
use crate::resources::catalog::{Catalog, OpenError};
pub use crate::resources::durability::Durability;
use crate::resources::keyring::{KeySource, Keyring, KeyringError};
use crate::telemetry::Metrics;

/// The built-in kinds, embedded so the binary works from any directory.
pub const BUILTIN_KINDS: &[(&str, &str)] = &[
    ("incoming", include_str!("../../schemas/incoming.json")),
    ("outgoing", include_str!("../../schemas/outgoing.json")),
    ("customer-file", include_str!("../../schemas/customer-file.json")),
];

/// The built-in route templates.
pub const BUILTIN_ROUTES: &[(&str, &str)] = &[
    ("incoming", include_str!("../../schemas/routes/incoming.json")),
    ("outgoing", include_str!("../../schemas/routes/outgoing.json")),
];

/// Where an installation keeps its state.
#[derive(Clone, Debug)]
pub struct StorageConfig {
    pub data_dir: PathBuf,
    pub store: Option<String>,
    pub catalog: Option<String>,
    pub schemas: Option<PathBuf>,
    /// The search index folder; default `<data-dir>/index`.
    pub index: Option<PathBuf>,
    /// `HENJI_KEYS`: key-encryption keys given inline.
    pub keys: Option<String>,
    /// `HENJI_KEY_FILE`; default `<data-dir>/keys/master.key`.
    pub key_file: Option<PathBuf>,
    /// What a 2xx promises about power loss.
    pub durability: Durability,
}

impl StorageConfig {
    pub fn store_url(&self) -> Result<String, SetupError> {
        match &self.store {
            Some(url) => Ok(url.clone()),
            None => {
                let dir = absolute(&self.data_dir.join("objects"))?;
                url::Url::from_directory_path(&dir).map(|u| u.to_string()).map_err(|_| SetupError::Path(dir))
            }
        }
    }

    pub fn index_dir(&self) -> PathBuf {
        self.index.clone().unwrap_or_else(|| self.data_dir.join("index"))
    }

    pub fn default_key_file(&self) -> PathBuf {
        self.data_dir.join("keys").join("master.key")
    }

    pub fn catalog_url(&self) -> Result<String, SetupError> {
        match &self.catalog {
            Some(url) => Ok(url.clone()),
            None => Ok(format!("sqlite://{}", absolute(&self.data_dir.join("catalog.db"))?.display())),
        }
    }

    /// The SQLite file behind the catalog URL (for a restore, which puts it in place).
    pub fn catalog_file(&self) -> Result<PathBuf, SetupError> {
        let url = self.catalog_url()?;
        let path = url.strip_prefix("sqlite://").map(|p| p.split('?').next().unwrap_or(p)).filter(|p| !p.is_empty());
        path.map(PathBuf::from).ok_or_else(|| SetupError::Path(PathBuf::from(url)))
    }
}

fn absolute(p: &Path) -> Result<PathBuf, SetupError> {
    std::path::absolute(p).map_err(|_| SetupError::Path(p.to_owned()))
}

#[derive(Debug, thiserror::Error)]
pub enum SetupError {
    #[error("cannot use path {0}")]
    Path(PathBuf),
    #[error("cannot create data directory {path}: {source}")]
    DataDir { path: PathBuf, source: std::io::Error },
    #[error("no henji catalog at {0}; start `henji serve` once to create one")]
    NoCatalog(String),
    #[error(transparent)]
    Catalog(#[from] OpenError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Kind(#[from] KindError),
    #[error("schema file {path}: {detail}")]
    SchemaFile { path: PathBuf, detail: String },
    #[error(transparent)]
    Service(#[from] ServiceError),
    #[error(transparent)]
    Keys(#[from] KeyCheckError),
    #[error(transparent)]
    Keyring(#[from] KeyringError),
}

/// What a first start did, for the command line to say.
#[derive(Debug, Default)]
pub struct FirstStart {
    pub created_catalog: bool,
    /// Set when the administrator was created; the password only if it was generated.
    pub admin_created: bool,
    pub generated_admin_password: Option<String>,
    /// Set when no keys were given and a key file was generated.
    pub generated_key_file: Option<PathBuf>,
}

pub enum OpenMode {
    /// `serve`: create whatever is missing.
    Create { admin_password: Option<String> },
    /// `verify` and the administration commands: the installation must exist.
    Existing,
}

/// Opens (and on the first start creates) an installation.
pub async fn open(config: &StorageConfig, mode: OpenMode) -> Result<(Henji, FirstStart), SetupError> {
    let mut report = FirstStart::default();
    let creating = matches!(mode, OpenMode::Create { .. });
    let catalog_url = config.catalog_url()?;
    if creating {
        std::fs::create_dir_all(&config.data_dir).map_err(|source| SetupError::DataDir { path: config.data_dir.clone(), source })?;
        report.created_catalog = config.catalog.is_none() && !config.data_dir.join("catalog.db").exists();
    } else if config.catalog.is_none() && !config.data_dir.join("catalog.db").exists() {
        return Err(SetupError::NoCatalog(catalog_url));
    }
    let blobs = BlobStore::open_with_durability(&config.store_url()?, std::iter::empty(), config.durability)?;
    let catalog = Catalog::open(&catalog_url, creating, config.durability, blobs.barrier()).await?;
    // Keys are checked against the data before anything is written.
    let keyring = match load_keyring(config, &catalog, creating, &mut report).await {
        Ok(k) => k,
        Err(e) => {
            catalog.close().await;
            return Err(e);
        }
    };
    if creating || keyring.is_some() {
        if let Err(e) = check_keyring(&catalog, keyring.as_ref()).await {
            // Closing lets SQLite remove the log files it made for this look.
            catalog.close().await;
            return Err(e.into());
        }
    }
    if let Some(ring) = &keyring {
        record_key_checks(&catalog, ring).await.map_err(OpenError::from)?;
    }
    blobs.initialise().await?;
    let kinds = load_kinds(config.schemas.as_deref())?;
    let templates = load_route_templates(config.schemas.as_deref())?;
    let metrics = Metrics::default();
    let (count, bytes) = blob_totals(&mut *catalog.read().await.map_err(OpenError::from)?).await.map_err(OpenError::from)?;
    metrics.blobs_stored.set(count);
    metrics.bytes_stored.set(bytes);
    let committer = super::group_commit::GroupCommitter::start(catalog.clone(), blobs.barrier());
    let henji = Henji::new(Shared {
        committer, catalog, blobs, kinds: Arc::new(kinds), metrics: Arc::new(metrics), caches: Default::default(),
        settings: ServiceSettings::default(),
        search: Arc::new(SearchEngine::new(config.index_dir())),
        keys: Arc::new(KeyService::new(keyring)),
        templates: Arc::new(templates),
        notifier: Default::default(),
        extraction: Arc::new(crate::services::extraction::Extraction::new(Default::default())),
        background: Default::default(),
        sign_ins: Default::default(),
    });

    if let OpenMode::Create { admin_password } = mode {
        let users = count_users(&mut *henji.catalog.read().await.map_err(OpenError::from)?).await.map_err(OpenError::from)?;
        if users == 0 {
            let (password, generated) = match admin_password {
                Some(p) => (p, false),
                None => {
                    let mut raw = [0u8; 12];
                    rand::rng().fill_bytes(&mut raw);
                    (hex::encode(raw), true)
                }
            };
            match henji.create_department(&Principal::console(), "ADMIN", "系统管理").await {
                Ok(_) | Err(ServiceError::Conflict(_)) => {}
                Err(e) => return Err(e.into()),
            }
            henji
                .create_user(
                    &Principal::console(),
                    NewUser {
                        username: "admin".into(),
                        display_name: "系统管理员".into(),
                        password: password.clone(),
                        department: "ADMIN".into(),
                        roles: vec![Role::Admin],
                        clearance: Classification::Secret,
                    },
                )
                .await?;
            report.admin_created = true;
            report.generated_admin_password = generated.then_some(password);
        }
    }
    Ok((henji, report))
}

/// `HENJI_KEYS`, else `HENJI_KEY_FILE`, else the default key file; on the first start of an
/// installation with no sealed data and no keys, a generated key file. `None` only for
/// administration commands run without keys (`henji verify` needs none).
async fn load_keyring(config: &StorageConfig, catalog: &Catalog, creating: bool, report: &mut FirstStart) -> Result<Option<Keyring>, SetupError> {
    if let Some(text) = config.keys.as_deref().filter(|t| !t.trim().is_empty()) {
        return Ok(Some(Keyring::parse(text, KeySource::Environment)?));
    }
    if let Some(path) = &config.key_file {
        return Ok(Some(Keyring::from_file(path)?));
    }
    let default = config.default_key_file();
    if default.exists() {
        return Ok(Some(Keyring::from_file(&default)?));
    }
    if !creating {
        return Ok(None);
    }
    // Generating a key for an installation whose data is sealed already would hide the real
    // problem (the key went missing): the check in `open` stops that start instead.
    if check_keyring(catalog, None).await.is_err() {
        return Ok(None);
    }
    let ring = Keyring::generate_file(&default)?;
    report.generated_key_file = Some(default);
    Ok(Some(ring))
}

/// Built-in route templates, then every `*.json` in `<schemas>/routes/` (which may override them).
pub fn load_route_templates(dir: Option<&Path>) -> Result<TemplateRegistry, SetupError> {
    let mut registry = TemplateRegistry::default();
    for (name, text) in BUILTIN_ROUTES {
        let t = RouteTemplate::parse(name, text).map_err(|detail| SetupError::SchemaFile { path: PathBuf::from(format!("schemas/routes/{name}.json")), detail })?;
        registry.insert(t);
    }
    let Some(dir) = dir.map(|d| d.join("routes")).filter(|d| d.is_dir()) else { return Ok(registry) };
    let entries = std::fs::read_dir(&dir).map_err(|e| SetupError::SchemaFile { path: dir.clone(), detail: e.to_string() })?;
    let mut paths: Vec<PathBuf> = entries.filter_map(|e| e.ok().map(|e| e.path())).filter(|p| p.extension().is_some_and(|x| x == "json")).collect();
    paths.sort();
    for path in paths {
        let name = path.file_stem().and_then(|s| s.to_str()).unwrap_or_default().to_owned();
        let text = std::fs::read_to_string(&path).map_err(|e| SetupError::SchemaFile { path: path.clone(), detail: e.to_string() })?;
        registry.insert(RouteTemplate::parse(&name, &text).map_err(|detail| SetupError::SchemaFile { path: path.clone(), detail })?);
    }
    Ok(registry)
}

/// Built-in kinds, then every `*.json` in the schemas folder (which may override them).
pub fn load_kinds(dir: Option<&Path>) -> Result<KindRegistry, SetupError> {
    let mut texts: Vec<(String, String)> = BUILTIN_KINDS.iter().map(|(name, text)| ((*name).to_owned(), (*text).to_owned())).collect();
    if let Some(dir) = dir {
        let entries = std::fs::read_dir(dir).map_err(|e| SetupError::SchemaFile { path: dir.to_owned(), detail: e.to_string() })?;
        let mut paths: Vec<PathBuf> = entries.filter_map(|e| e.ok().map(|e| e.path())).filter(|p| p.extension().is_some_and(|x| x == "json")).collect();
        paths.sort();
        for path in paths {
            let name = path.file_stem().and_then(|s| s.to_str()).unwrap_or_default().to_owned();
            let text = std::fs::read_to_string(&path).map_err(|e| SetupError::SchemaFile { path: path.clone(), detail: e.to_string() })?;
            serde_json::from_str::<Value>(&text).map_err(|e| SetupError::SchemaFile { path: path.clone(), detail: e.to_string() })?;
            texts.push((name, text));
        }
    }
    Ok(KindRegistry::from_texts(texts.iter().map(|(n, t)| (n.clone(), t.as_str())))?)
}
