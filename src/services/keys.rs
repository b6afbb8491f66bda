//! Keys at work: each document's data key (DEK), wrapped by the active key-encryption key (KEK)
//! and unwrapped on demand; rotation re-wraps every DEK without touching content; destroying a
//! DEK makes everything it sealed unreadable for good (crypto-shredding, 销毁).

use std::num::NonZeroUsize;
use std::sync::{Arc, Mutex, RwLock};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use lru::LruCache;
use serde::Serialize;
use serde_json::json;

use super::{Henji, ServiceError, ServiceResult, now};
use crate::domain::access;
use crate::domain::people::Principal;
use crate::domain::sealing::{self, Place, SecretKey};
use crate::resources::catalog::keys::{self as rows, DataKeyRow};
use crate::resources::catalog::{Catalog, CatalogResult};
use crate::resources::keyring::{Keyring, KeyringError};

/// The owner of the sealed search index's data key.
pub const INDEX_KEY_OWNER: &str = "index";
const CACHED_KEYS: usize = 100_000;
/// Re-wrapped keys per transaction during rotation.
const ROTATION_BATCH: i64 = 2_000;
const KEY_CHECK_TEXT: &[u8] = b"henji key check";

/// The keyring (absent for keyless administration such as `henji verify`) and the unwrapped
/// data keys in use.
pub struct KeyService {
    keyring: RwLock<Option<Keyring>>,
    unwrapped: Mutex<LruCache<String, Arc<SecretKey>>>,
}

impl std::fmt::Debug for KeyService {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("KeyService(..)")
    }
}

impl KeyService {
    pub fn new(keyring: Option<Keyring>) -> Self {
        Self { keyring: RwLock::new(keyring), unwrapped: Mutex::new(LruCache::new(NonZeroUsize::new(CACHED_KEYS).unwrap_or(NonZeroUsize::MIN))) }
    }

    fn with_keyring<T>(&self, f: impl FnOnce(&Keyring) -> ServiceResult<T>) -> ServiceResult<T> {
        let guard = self.keyring.read().map_err(|_| ServiceError::Internal("keyring lock poisoned".into()))?;
        match guard.as_ref() {
            Some(ring) => f(ring),
            None => Err(ServiceError::Unavailable("no keys were given (HENJI_KEYS or HENJI_KEY_FILE); sealed content cannot be read or written".into())),
        }
    }

    fn cached(&self, owner: &str) -> Option<Arc<SecretKey>> {
        self.unwrapped.lock().ok()?.get(owner).cloned()
    }

    fn remember(&self, owner: &str, key: Arc<SecretKey>) {
        if let Ok(mut c) = self.unwrapped.lock() {
            c.put(owner.to_owned(), key);
        }
    }

    fn forget(&self, owner: &str) {
        if let Ok(mut c) = self.unwrapped.lock() {
            c.pop(owner);
        }
    }

    /// A fresh data key for `owner`, wrapped by the active key, as the row to store.
    pub fn new_data_key(&self, owner: &str) -> ServiceResult<(Arc<SecretKey>, DataKeyRow)> {
        let dek = SecretKey::generate();
        let row = self.wrap(owner, &dek, None)?;
        Ok((Arc::new(dek), row))
    }

    /// The data key of `owner` wrapped by key-encryption key `kek_id`, or by the active one.
    pub fn wrap(&self, owner: &str, dek: &SecretKey, kek_id: Option<&str>) -> ServiceResult<DataKeyRow> {
        self.with_keyring(|ring| {
            let (kek_id, kek) = match kek_id {
                Some(id) => (id, ring.get(id).ok_or_else(|| ServiceError::invalid("transfer_key", format!("key {id:?} is not in this installation's keyring")))?),
                None => ring.active(),
            };
            let wrapped = sealing::seal(kek, &Place::DataKey { document: owner, kek: kek_id }, dek.expose());
            Ok(DataKeyRow { owner: owner.to_owned(), kek_id: kek_id.to_owned(), wrapped: B64.encode(wrapped), created_at: now(), destroyed_at: None })
        })
    }

    /// A data key wrapped somewhere else (carried by an archive package), opened with this
    /// installation's keyring.
    pub fn unwrap_carried(&self, owner: &str, kek_id: &str, wrapped: &str) -> ServiceResult<SecretKey> {
        self.unwrap_row(&DataKeyRow { owner: owner.to_owned(), kek_id: kek_id.to_owned(), wrapped: wrapped.to_owned(), created_at: String::new(), destroyed_at: None })
    }

    fn unwrap_row(&self, row: &DataKeyRow) -> ServiceResult<SecretKey> {
        self.with_keyring(|ring| {
            let kek = ring.get(&row.kek_id).ok_or_else(|| ServiceError::Unavailable(format!("the data key of {} is wrapped by key {:?}, which is not in the keyring", row.owner, row.kek_id)))?;
            let damaged = || ServiceError::Integrity(format!("the wrapped data key of {} does not open with key {:?}", row.owner, row.kek_id));
            let wrapped = B64.decode(&row.wrapped).map_err(|_| damaged())?;
            let raw = sealing::open(kek, &Place::DataKey { document: &row.owner, kek: &row.kek_id }, &wrapped).map_err(|_| damaged())?;
            SecretKey::from_slice(&raw).map_err(|_| damaged())
        })
    }

    pub fn has_keyring(&self) -> bool {
        self.keyring.read().map(|k| k.is_some()).unwrap_or(false)
    }
}

/// Why the keys given do not fit the data: the start stops before it writes anything.
#[derive(Debug, thiserror::Error)]
pub enum KeyCheckError {
    #[error("key {0:?} is not the key this installation's data was sealed with (its check value does not open); nothing was changed")]
    WrongKey(String),
    #[error("data keys are wrapped by key(s) {0} that the keyring does not hold; give them in HENJI_KEYS or HENJI_KEY_FILE; nothing was changed")]
    MissingKeys(String),
    #[error("this installation holds sealed data (keys {0}) but no keys were given: set HENJI_KEYS or HENJI_KEY_FILE; nothing was changed")]
    NoKeys(String),
    #[error(transparent)]
    Keyring(#[from] KeyringError),
    #[error("catalog: {0}")]
    Catalog(#[from] sqlx::Error),
}

/// Checks `keyring` against what the catalog knows, reading only.
pub async fn check_keyring(catalog: &Catalog, keyring: Option<&Keyring>) -> Result<(), KeyCheckError> {
    let mut conn = catalog.read().await?;
    let checks = rows::key_checks(&mut conn).await?;
    let in_use: Vec<String> = rows::keys_per_kek(&mut conn).await?.into_iter().map(|(k, _)| k).collect();
    let Some(ring) = keyring else {
        return if checks.is_empty() && in_use.is_empty() { Ok(()) } else { Err(KeyCheckError::NoKeys(checks.iter().map(|(k, _)| k.as_str()).collect::<Vec<_>>().join(", "))) };
    };
    for (id, value) in &checks {
        if let Some(key) = ring.get(id) {
            let ok = B64.decode(value).ok().and_then(|v| sealing::open(key, &Place::KeyCheck { kek: id }, &v).ok()).is_some_and(|p| p == KEY_CHECK_TEXT);
            if !ok {
                return Err(KeyCheckError::WrongKey(id.clone()));
            }
        }
    }
    let missing: Vec<&str> = in_use.iter().map(String::as_str).filter(|id| ring.get(id).is_none()).collect();
    if !missing.is_empty() {
        return Err(KeyCheckError::MissingKeys(missing.join(", ")));
    }
    Ok(())
}

/// Records a check value for every key of the keyring that has none yet.
pub async fn record_key_checks(catalog: &Catalog, keyring: &Keyring) -> CatalogResult<()> {
    store_key_checks(catalog, key_checks(keyring)).await
}

/// The check value of every key in the ring, sealed: (key id, base64). Computed apart from
/// storing, so that a caller holding the keyring's lock can let go before the catalog write.
fn key_checks(keyring: &Keyring) -> Vec<(String, String)> {
    keyring
        .ids()
        .filter_map(|id| keyring.get(id).map(|key| (id.to_owned(), B64.encode(sealing::seal(key, &Place::KeyCheck { kek: id }, KEY_CHECK_TEXT)))))
        .collect()
}

async fn store_key_checks(catalog: &Catalog, checks: Vec<(String, String)>) -> CatalogResult<()> {
    let mut tx = catalog.begin_write().await?;
    for (id, value) in &checks {
        rows::insert_key_check(&mut tx, id, value, &now()).await?;
    }
    tx.commit().await
}

/// One line of `henji keys status`.
#[derive(Clone, Debug, Serialize)]
pub struct KekStatus {
    pub kek: String,
    pub data_keys: i64,
    pub in_keyring: bool,
    pub active: bool,
}

#[derive(Clone, Debug, Default, Serialize)]
pub struct RotationReport {
    pub new_kek: String,
    pub rewrapped: u64,
}

impl Henji {
    /// The data key of `owner` (a document id, or the sealed index), unwrapped.
    pub async fn data_key(&self, owner: &str) -> ServiceResult<Arc<SecretKey>> {
        if let Some(key) = self.keys.cached(owner) {
            return Ok(key);
        }
        let row = rows::data_key(&mut *self.catalog.read().await?, owner).await?.ok_or_else(|| ServiceError::Integrity(format!("{owner} has sealed content but no data key")))?;
        if row.destroyed_at.is_some() {
            return Err(ServiceError::Gone(format!("the sealed content of {owner} was destroyed (its data key was shredded at {})", row.destroyed_at.unwrap_or_default())));
        }
        let key = match self.keys.unwrap_row(&row) {
            Ok(k) => Arc::new(k),
            Err(e) => {
                self.audit_integrity_failure(None, owner, &format!("data-key/{owner}")).await;
                return Err(e);
            }
        };
        self.keys.remember(owner, key.clone());
        Ok(key)
    }

    /// The data key of `owner`, created (and stored at once) if it has none yet.
    pub async fn ensure_data_key(&self, owner: &str) -> ServiceResult<Arc<SecretKey>> {
        if self.keys.cached(owner).is_some() || rows::data_key(&mut *self.catalog.read().await?, owner).await?.is_some() {
            return self.data_key(owner).await;
        }
        let (key, row) = self.keys.new_data_key(owner)?;
        let mut tx = self.catalog.begin_write().await?;
        let inserted = rows::insert_data_key(&mut tx, &row).await?;
        tx.commit().await?;
        if inserted {
            self.keys.remember(owner, key.clone());
            Ok(key)
        } else {
            self.data_key(owner).await
        }
    }

    /// A new data key for a document being created; the row goes into the create transaction.
    pub fn new_data_key(&self, owner: &str) -> ServiceResult<(Arc<SecretKey>, DataKeyRow)> {
        self.keys.new_data_key(owner)
    }

    pub(super) fn remember_data_key(&self, owner: &str, key: Arc<SecretKey>) {
        self.keys.remember(owner, key);
    }

    /// Something sealed did not open: that is worth an audit event of its own.
    pub(super) async fn audit_integrity_failure(&self, who: Option<&str>, document: &str, object: &str) {
        let at = now();
        let result = async {
            let mut tx = self.catalog.begin_write().await?;
            self.audit_as(&mut tx, &at, who, "integrity.failure", object.to_owned(), Some(document.to_owned()).filter(|d| d != INDEX_KEY_OWNER), json!({})).await?;
            tx.commit().await?;
            Ok::<_, ServiceError>(())
        }
        .await;
        if let Err(e) = result {
            tracing::error!(error = %e, object, "could not record an integrity failure");
        }
    }

    /// `henji keys rotate`: a new key-encryption key (added to the key file, or the last one of
    /// `HENJI_KEYS`) re-wraps every live data key. Content is not touched. Safe to run again
    /// after an interruption: it picks up the keys not yet re-wrapped.
    pub async fn rotate_keys(&self, who: &Principal, add_key: bool) -> ServiceResult<RotationReport> {
        access::check_admin(who).map_err(|d| ServiceError::from_denied(d, "keys"))?;
        let new_kek = {
            let mut guard = self.keys.keyring.write().map_err(|_| ServiceError::Internal("keyring lock poisoned".into()))?;
            let ring = guard.as_mut().ok_or_else(|| ServiceError::Unavailable("no keys were found (HENJI_KEYS, HENJI_KEY_FILE or <data-dir>/keys/master.key)".into()))?;
            if add_key {
                ring.add_to_file().map_err(|e| ServiceError::Unavailable(e.to_string()))?
            } else {
                ring.active().0.to_owned()
            }
        };
        let checks = self.keys.keyring.read().map_err(|_| ServiceError::Internal("keyring lock poisoned".into()))?.as_ref().map(key_checks);
        if let Some(checks) = checks {
            store_key_checks(&self.catalog, checks).await?;
        }
        let mut report = RotationReport { new_kek: new_kek.clone(), rewrapped: 0 };
        let mut after = String::new();
        loop {
            let batch = rows::keys_not_under(&mut *self.catalog.read().await?, &new_kek, &after, ROTATION_BATCH).await?;
            let Some(last) = batch.last() else { break };
            after = last.owner.clone();
            let mut rewrapped = Vec::with_capacity(batch.len());
            for row in &batch {
                let dek = self.keys.unwrap_row(row)?;
                let wrapped = self.keys.with_keyring(|ring| {
                    let kek = ring.get(&new_kek).ok_or_else(|| ServiceError::Internal(format!("key {new_kek:?} left the keyring")))?;
                    Ok(sealing::seal(kek, &Place::DataKey { document: &row.owner, kek: &new_kek }, dek.expose()))
                })?;
                rewrapped.push((row, B64.encode(wrapped)));
            }
            let mut tx = self.catalog.begin_write().await?;
            for (row, wrapped) in &rewrapped {
                if rows::rewrap(&mut tx, &row.owner, &row.kek_id, &new_kek, wrapped).await? {
                    report.rewrapped += 1;
                }
            }
            tx.commit().await?;
        }
        let at = now();
        let mut tx = self.catalog.begin_write().await?;
        self.audit(&mut tx, &at, who, "keys.rotate", format!("kek/{new_kek}"), None, json!({"rewrapped": report.rewrapped})).await?;
        tx.commit().await?;
        Ok(report)
    }

    /// `henji keys status`: which key-encryption key wraps how many data keys.
    /// Which key-encryption key wraps how many data keys, and which is active (administrators).
    pub async fn key_status(&self, who: &Principal) -> ServiceResult<Vec<KekStatus>> {
        access::check_admin(who).map_err(|d| ServiceError::from_denied(d, "keys"))?;
        let counts = rows::keys_per_kek(&mut *self.catalog.read().await?).await?;
        let guard = self.keys.keyring.read().map_err(|_| ServiceError::Internal("keyring lock poisoned".into()))?;
        let ring = guard.as_ref();
        let active = ring.map(|r| r.active().0.to_owned());
        let mut out: Vec<KekStatus> = counts
            .into_iter()
            .map(|(kek, n)| KekStatus { in_keyring: ring.is_some_and(|r| r.get(&kek).is_some()), active: active.as_deref() == Some(kek.as_str()), kek, data_keys: n })
            .collect();
        if let Some(r) = ring {
            for id in r.ids() {
                if !out.iter().any(|s| s.kek == id) {
                    out.push(KekStatus { kek: id.to_owned(), data_keys: 0, in_keyring: true, active: active.as_deref() == Some(id) });
                }
            }
        }
        Ok(out)
    }

    /// Crypto-shredding: destroys a document's data key, so its sealed content (body,
    /// attachments, sensitive fields) can never be opened again. Used by archive disposal.
    pub async fn destroy_data_key(&self, who: &Principal, document: &str, reason: &str) -> ServiceResult<bool> {
        access::check_dispose(who).map_err(|d| ServiceError::from_denied(d, "data key"))?;
        let at = now();
        let mut tx = self.catalog.begin_write().await?;
        let destroyed = rows::destroy(&mut tx, document, &at).await?;
        if destroyed {
            self.audit(&mut tx, &at, who, "data_key.destroy", format!("data-key/{document}"), Some(document.to_owned()), json!({"reason": reason})).await?;
        }
        tx.commit().await?;
        self.keys.forget(document);
        // The wrapped bytes must not survive in the write-ahead log or in free pages.
        self.catalog.scrub().await?;
        self.caches.forget_document(document);
        Ok(destroyed)
    }
}
