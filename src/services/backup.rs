//! Backup and restore (数据备份恢复) to a second object store, kept physically apart: a folder
//! or a bucket on another S3 server.
//!
//! A backup holds the content-addressed objects (`blobs/`, `revisions/`) and one consistent
//! snapshot of the catalog (`catalog/catalog.db`, replaced by each backup). Objects never change
//! under their names, so a backup copies only names the target lacks: a second backup right
//! after the first copies nothing but the snapshot. Blobs a disposal deleted are deleted from
//! the backup too, and only the newest snapshot is kept, so a restore never brings back
//! disposed content (nor a destroyed data key). Key-encryption keys are never in a backup:
//! they are kept apart, and a restore of sealed data needs them.

use std::collections::HashMap;
use std::path::Path;
use std::time::Instant;

use bytes::Bytes;
use futures::TryStreamExt;
use object_store::path::Path as StorePath;
use serde::Serialize;

use super::{Henji, ServiceError, ServiceResult, now};
use crate::domain::ids::Sha256Digest;
use crate::resources::blob_store::BlobStore;
use crate::resources::catalog::documents::disposed_blobs;

const SNAPSHOT: &str = "catalog/catalog.db";
const DESCRIPTION: &str = "catalog/backup.json";
/// The object folders a backup copies.
const CONTENT: [&str; 2] = ["blobs", "revisions"];

#[derive(Clone, Debug, Default, Serialize)]
pub struct CopyReport {
    pub objects_copied: u64,
    pub bytes_copied: u64,
    /// Objects the target held already.
    pub objects_present: u64,
}

#[derive(Clone, Debug, Default, Serialize)]
pub struct BackupReport {
    pub copy: CopyReport,
    /// Disposed blobs deleted from the backup.
    pub disposed_removed: u64,
    pub catalog_bytes: u64,
    pub seconds: f64,
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

impl Henji {
    /// Backs this installation up into `target`. `scratch` is a local folder for the catalog
    /// snapshot on its way (it is removed afterwards).
    pub async fn backup_to(&self, target: &BlobStore, scratch: &Path) -> ServiceResult<BackupReport> {
        let started = Instant::now();
        // The snapshot first: every object a catalog row refers to was written before the row,
        // so the objects copied after it include everything the snapshot needs.
        let snapshot = scratch.join(format!("henji-snapshot-{}.db", ulid::Ulid::new()));
        self.catalog.snapshot_into(&snapshot).await?;
        let result = async {
            let copy = copy_objects(&self.blobs, target).await?;
            let mut disposed_removed = 0;
            for hex in disposed_blobs(&mut *self.catalog.reader().acquire().await?).await? {
                if let Ok(digest) = hex.parse::<Sha256Digest>()
                    && !self.blobs.exists(&digest).await?
                    && target.exists(&digest).await?
                {
                    target.delete(&digest).await?;
                    disposed_removed += 1;
                }
            }
            let catalog_bytes = target.put_file(&StorePath::from(SNAPSHOT), &snapshot).await?;
            let description = serde_json::json!({"format": "henji-backup/1", "created_at": now(), "objects_copied": copy.objects_copied, "catalog_bytes": catalog_bytes});
            target.put_path(&StorePath::from(DESCRIPTION), Bytes::from(description.to_string())).await?;
            Ok::<_, ServiceError>(BackupReport { copy, disposed_removed, catalog_bytes, seconds: 0.0 })
        }
        .await;
        let _ = tokio::fs::remove_file(&snapshot).await;
        let mut report = result?;
        report.seconds = started.elapsed().as_secs_f64();
        Ok(report)
    }
}

/// Puts the backup's catalog snapshot at `catalog_file` (which must not exist yet).
pub async fn restore_catalog(source: &BlobStore, catalog_file: &Path) -> ServiceResult<u64> {
    if catalog_file.exists() {
        return Err(ServiceError::Conflict(format!("{} exists: restore goes into an empty data directory", catalog_file.display())));
    }
    if let Some(dir) = catalog_file.parent() {
        tokio::fs::create_dir_all(dir).await.map_err(|e| ServiceError::Internal(format!("{}: {e}", dir.display())))?;
    }
    let partial = catalog_file.with_extension("db.partial");
    let bytes = source.get_file(&StorePath::from(SNAPSHOT), &partial).await.map_err(|e| ServiceError::Internal(format!("the backup has no catalog snapshot ({SNAPSHOT}): {e}")))?;
    tokio::fs::rename(&partial, catalog_file).await.map_err(|e| ServiceError::Internal(format!("{}: {e}", catalog_file.display())))?;
    Ok(bytes)
}
