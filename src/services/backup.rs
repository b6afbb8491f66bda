//! Backup and restore (数据备份恢复) to a second object store, kept physically apart: a folder
//! or a bucket on another S3 server.
//!
//! A backup holds the content-addressed objects (`blobs/`, `revisions/`) and, per backup, one
//! consistent snapshot of the catalog: a generation, `catalog/generations/<UTC time>/` with
//! `catalog.db` and `backup.json`; the newest `keep` are kept, and `restore --at TIME` picks
//! the newest at or before a time. Objects never change under their names, so a backup copies
//! only names the target lacks: a second backup right after the first copies nothing but its
//! snapshot. Blobs a disposal deleted are deleted from the backup too, with every older
//! generation (which still names them), so a restore never brings back disposed content (nor
//! a destroyed data key). Key-encryption keys are never in a backup: they are kept apart, and
//! a restore of sealed data needs them. Each backup anchors the audit chain's head as its
//! snapshot holds it (`audit/anchors/`, and `audit_head` in its `backup.json`); a restore
//! brings the anchors up to that head along, so `verify` tells a restored chain cut short.

use std::collections::HashMap;
use std::path::Path;
use std::time::Instant;

use bytes::Bytes;
use futures::TryStreamExt;
use object_store::path::Path as StorePath;
use serde::Serialize;

use super::setup::{self, OpenMode, StorageConfig};
use super::{Henji, ServiceError, ServiceResult, now};
use crate::domain::access;
use crate::domain::ids::Sha256Digest;
use crate::domain::people::Principal;
use crate::resources::blob_store::{ANCHORS, BlobStore};
use crate::resources::catalog::documents::disposed_blobs;

/// Where each backup's catalog snapshot and description go, under its time.
const GENERATIONS: &str = "catalog/generations";
const SNAPSHOT: &str = "catalog.db";
const DESCRIPTION: &str = "backup.json";
/// Where backups before generations put their one snapshot.
const LEGACY: &str = "catalog";
/// Generations kept when the caller does not say.
pub const DEFAULT_KEEP: usize = 7;
/// The object folders a backup copies.
const CONTENT: [&str; 3] = ["blobs", "revisions", "extracted"];

#[derive(Clone, Debug, Default, Serialize)]
pub struct CopyReport {
    pub objects_copied: u64,
    pub bytes_copied: u64,
    /// Objects the target held already.
    pub objects_present: u64,
}

#[derive(Clone, Debug, Default, Serialize)]
pub struct BackupReport {
    /// Where the backup went (no credentials).
    pub target: String,
    pub copy: CopyReport,
    /// Disposed blobs deleted from the backup.
    pub disposed_removed: u64,
    pub catalog_bytes: u64,
    /// This backup's generation (its UTC time), and how many older ones were removed.
    pub generation: String,
    pub generations_removed: usize,
    pub seconds: f64,
}

fn generation_file(generation: &str, file: &str) -> StorePath {
    StorePath::from(format!("{GENERATIONS}/{generation}/{file}"))
}

/// A generation's name: its UTC time, so that names sort as times do.
fn generation_name(t: chrono::DateTime<chrono::Utc>) -> String {
    t.format("%Y%m%dT%H%M%S%.3fZ").to_string()
}

/// The generations in `store`, oldest first.
async fn generations(store: &BlobStore) -> ServiceResult<Vec<String>> {
    let mut names = std::collections::BTreeSet::new();
    let mut listed = store.list(GENERATIONS);
    while let Some((path, _)) = listed.try_next().await? {
        if let Some(name) = path.as_ref().strip_prefix(GENERATIONS).and_then(|rest| rest.trim_start_matches('/').split('/').next()) {
            names.insert(name.to_owned());
        }
    }
    Ok(names.into_iter().collect())
}

/// Every object under the content folders of `store`, with its size.
async fn listing(store: &BlobStore) -> ServiceResult<HashMap<StorePath, u64>> {
    let mut out = HashMap::new();
    for prefix in CONTENT {
        let mut list = store.list(prefix);
        while let Some((path, size)) = list.try_next().await? {
            out.insert(path, size);
        }
    }
    Ok(out)
}

/// Copies every content object of `from` that `to` lacks. Blobs go through a hashing writer,
/// so a damaged one is caught on the way, never copied under its name.
pub async fn copy_objects(from: &BlobStore, to: &BlobStore) -> ServiceResult<CopyReport> {
    let present = listing(to).await?;
    let mut report = CopyReport::default();
    for (path, size) in listing(from).await? {
        if present.get(&path) == Some(&size) {
            report.objects_present += 1;
            continue;
        }
        let name = path.to_string();
        let mut stream = from.get_path(&path).await?;
        if name.starts_with("blobs/") {
            let expected: Option<Sha256Digest> = path.filename().and_then(|f| f.parse().ok());
            let mut writer = to.writer();
            while let Some(chunk) = stream.try_next().await? {
                writer.write(chunk).await?;
            }
            let stored = writer.finish().await?;
            if Some(stored.digest) != expected {
                return Err(ServiceError::Integrity(format!("{name} does not match its digest; run henji verify on the source")));
            }
        } else {
            let mut bytes = Vec::with_capacity(size as usize);
            while let Some(chunk) = stream.try_next().await? {
                bytes.extend_from_slice(&chunk);
            }
            to.put_path(&path, Bytes::from(bytes)).await?;
        }
        report.objects_copied += 1;
        report.bytes_copied += size;
    }
    Ok(report)
}

/// What a restore did, and what `henji verify` found afterwards.
#[derive(Clone, Debug, Serialize)]
pub struct RestoreReport {
    pub source: String,
    pub catalog_bytes: u64,
    pub copy: CopyReport,
    pub documents_indexed: u64,
    /// The generation restored (its UTC time; `catalog` for a backup made before generations).
    pub generation: String,
    /// The first bad object `verify` found, and why; `None`: clean.
    pub first_bad: Option<(String, String)>,
    pub seconds: f64,
}

/// A backup target or source from its URL (`file:///path`, `s3://bucket/prefix`).
async fn store_at(url: &str, create: bool) -> ServiceResult<BlobStore> {
    let store = BlobStore::open(url).map_err(|e| ServiceError::invalid("url", e.to_string()))?;
    if create {
        store.initialise().await?;
    }
    Ok(store)
}

/// Rebuilds an installation from the backup at `from_url` into the empty data directory of
/// `config`: the catalog snapshot, every object, the search index; then verifies it all.
pub async fn restore(config: &StorageConfig, from_url: &str, at: Option<chrono::DateTime<chrono::Utc>>) -> ServiceResult<RestoreReport> {
    let started = Instant::now();
    let source = store_at(from_url, false).await?;
    let catalog_file = config.catalog_file().map_err(|e| ServiceError::invalid("catalog", e.to_string()))?;
    let kept = generations(&source).await?;
    let chosen = match at {
        None => kept.last().cloned(),
        Some(at) => kept.iter().rev().find(|g| **g <= generation_name(at)).cloned(),
    };
    let folder = match (&chosen, at, kept.first()) {
        (Some(g), _, _) => format!("{GENERATIONS}/{g}"),
        (None, Some(at), Some(oldest)) => return Err(ServiceError::invalid("at", format!("no backup at or before {}; the oldest kept is {oldest}", super::stamp(at)))),
        (None, _, _) => LEGACY.to_owned(),
    };
    let description: serde_json::Value = match source.get_path_bytes(&StorePath::from(format!("{folder}/{DESCRIPTION}"))).await {
        Ok(bytes) => serde_json::from_slice(&bytes).unwrap_or_default(),
        Err(_) => serde_json::Value::Null,
    };
    let catalog_bytes = restore_catalog(&source, &StorePath::from(format!("{folder}/{SNAPSHOT}")), &catalog_file).await?;
    let (henji, _) = setup::open(config, OpenMode::Existing).await.map_err(|e| ServiceError::Internal(e.to_string()))?;
    let copy = copy_objects(&source, &henji.blobs).await?;
    // The backups' anchors up to this snapshot's head come along to be checked; later ones
    // belong to later generations.
    let head = description["audit_head"]["seq"].as_i64().unwrap_or(0);
    let mut anchors = source.list(ANCHORS);
    while let Some((path, _)) = anchors.try_next().await? {
        let bytes = source.get_path_bytes(&path).await?;
        let seq = serde_json::from_slice::<crate::domain::audit::ChainAnchor>(&bytes).map(|a| a.seq).unwrap_or(i64::MAX);
        if seq <= head {
            henji.blobs.put_path(&path, bytes).await?;
        }
    }
    henji.blobs.flush().await?;
    let documents_indexed = henji.rebuild_search(true).await?;
    let report = henji.verify().await?;
    henji.close().await;
    Ok(RestoreReport {
        source: source.describe().to_owned(),
        generation: chosen.unwrap_or_else(|| LEGACY.to_owned()),
        catalog_bytes,
        copy,
        documents_indexed,
        first_bad: report.bad.first().map(|b| (b.object.clone(), b.problem.clone())),
        seconds: started.elapsed().as_secs_f64(),
    })
}

impl Henji {
    /// Backs this installation up into the store at `target_url` (administrators; the console).
    /// `scratch` is a local folder for the catalog snapshot on its way (removed afterwards).
    /// The newest `keep` generations (at least one) stay in the backup.
    pub async fn backup(&self, who: &Principal, target_url: &str, scratch: &Path, keep: usize) -> ServiceResult<BackupReport> {
        access::check_admin(who).map_err(|d| ServiceError::from_denied(d, "backup"))?;
        if keep == 0 {
            return Err(ServiceError::invalid("keep", "at least one generation is kept"));
        }
        let target = store_at(target_url, true).await?;
        self.backup_to(&target, scratch, keep).await
    }

    async fn backup_to(&self, target: &BlobStore, scratch: &Path, keep: usize) -> ServiceResult<BackupReport> {
        let started = Instant::now();
        let generation = generation_name(chrono::Utc::now());
        // The snapshot first: every object a catalog row refers to was written before the row,
        // so the objects copied after it include everything the snapshot needs.
        let snapshot = scratch.join(format!("henji-snapshot-{}.db", ulid::Ulid::new()));
        // The chain's head as it stands before the snapshot, which therefore holds it: anchored
        // here and in the backup, so a restore can tell a chain cut short.
        let anchor = self.anchor_chain().await?;
        self.catalog.snapshot_into(&snapshot).await?;
        let result = async {
            let copy = copy_objects(&self.blobs, target).await?;
            let mut disposed_removed = 0;
            for hex in disposed_blobs(&mut *self.catalog.read().await?).await? {
                if let Ok(digest) = hex.parse::<Sha256Digest>()
                    && !self.blobs.exists(&digest).await?
                    && target.exists(&digest).await?
                {
                    target.delete(&digest).await?;
                    disposed_removed += 1;
                }
            }
            let catalog_bytes = target.put_file(&generation_file(&generation, SNAPSHOT), &snapshot).await?;
            if let Some(anchor) = &anchor {
                super::audit::write_anchor(target, anchor).await?;
            }
            // The description says the backup is whole, so it lands after everything it describes.
            target.flush().await?;
            let description = serde_json::json!({"format": "henji-backup/1", "created_at": now(), "objects_copied": copy.objects_copied, "catalog_bytes": catalog_bytes, "audit_head": anchor});
            target.put_path(&generation_file(&generation, DESCRIPTION), Bytes::from(description.to_string())).await?;
            target.flush().await?;
            // Older generations go past `keep`, and all of them once disposed content left the
            // backup: they still name it.
            let older: Vec<String> = generations(target).await?.into_iter().filter(|g| *g < generation).collect();
            let removable = if disposed_removed > 0 { older.len() } else { (older.len() + 1).saturating_sub(keep) };
            for g in &older[..removable] {
                for file in [SNAPSHOT, DESCRIPTION] {
                    target.delete_path(&generation_file(g, file)).await?;
                }
            }
            for file in [SNAPSHOT, DESCRIPTION] {
                target.delete_path(&StorePath::from(format!("{LEGACY}/{file}"))).await?;
            }
            Ok::<_, ServiceError>(BackupReport { target: target.describe().to_owned(), copy, disposed_removed, catalog_bytes, generation: generation.clone(), generations_removed: removable, seconds: 0.0 })
        }
        .await;
        let _ = tokio::fs::remove_file(&snapshot).await;
        let mut report = result?;
        report.seconds = started.elapsed().as_secs_f64();
        Ok(report)
    }
}

/// Puts the backup's catalog snapshot `snapshot` at `catalog_file` (which must not exist yet).
async fn restore_catalog(source: &BlobStore, snapshot: &StorePath, catalog_file: &Path) -> ServiceResult<u64> {
    if catalog_file.exists() {
        return Err(ServiceError::Conflict(format!("{} exists: restore goes into an empty data directory", catalog_file.display())));
    }
    if let Some(dir) = catalog_file.parent() {
        tokio::fs::create_dir_all(dir).await.map_err(|e| ServiceError::Internal(format!("{}: {e}", dir.display())))?;
    }
    let partial = catalog_file.with_extension("db.partial");
    let bytes = source.get_file(snapshot, &partial).await.map_err(|e| ServiceError::Internal(format!("the backup has no catalog snapshot ({snapshot}): {e}")))?;
    tokio::fs::rename(&partial, catalog_file).await.map_err(|e| ServiceError::Internal(format!("{}: {e}", catalog_file.display())))?;
    Ok(bytes)
}
