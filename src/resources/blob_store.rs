//! The object store: blobs under their SHA-256, revision manifests beside them. The layout is
//! self-describing, so the store alone tells every document's history:
//!
//! ```text
//! henji.json                              what this store is
//! blobs/sha256/ab/cd/<64 hex>             content, written once (create-if-absent)
//! revisions/<document id>/<revision>.json canonical revision manifests
//! staging/<ulid>                          large uploads while they are hashed (transient)
//! ```

use std::sync::Arc;

use bytes::{Bytes, BytesMut};
use futures::stream::BoxStream;
use futures::{StreamExt, TryStreamExt};
use object_store::aws::{AmazonS3Builder, AmazonS3ConfigKey, S3CopyIfNotExists};
use object_store::local::LocalFileSystem;
use object_store::path::Path;
use object_store::prefix::PrefixStore;
use object_store::{ObjectStore, ObjectStoreExt, PutMode, PutOptions, PutPayload, WriteMultipart};
use sha2::{Digest as _, Sha256};

use super::durability::{Durability, ObjectBarrier, TrackedLocal};
use crate::domain::ids::{DocumentId, RevisionId, Sha256Digest};

/// Uploads up to this size are hashed in memory and written with one create-if-absent put;
/// larger ones stream to `staging/` in parts and are then copied into place.
pub const INLINE_LIMIT: usize = 8 * 1024 * 1024;
const PART_SIZE: usize = 8 * 1024 * 1024;
const PARTS_IN_FLIGHT: usize = 2;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("unsupported store URL {0:?}: use file:///path or s3://bucket/prefix")]
    BadUrl(String),
    #[error("object {0} not found")]
    NotFound(String),
    #[error("object store: {0}")]
    Backend(#[from] object_store::Error),
    #[error("object store: {0}")]
    Io(#[from] std::io::Error),
}

pub type StoreResult<T> = Result<T, StoreError>;

/// What a walk over many objects hands out: batches of (object, outcome for it).
pub type Batches<T> = BoxStream<'static, Vec<(Path, StoreResult<T>)>>;

/// A blob that is now in the store.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct StoredBlob {
    pub digest: Sha256Digest,
    pub size: u64,
    /// The same bytes were already stored; nothing new was written.
    pub deduplicated: bool,
}

#[derive(Clone, Debug)]
pub struct BlobStore {
    store: Arc<dyn ObjectStore>,
    /// The same store when it is a local folder, for the places that read every file of a
    /// folder and gain from walking it directly (see `walk_local`).
    local: Option<Arc<LocalFileSystem>>,
    /// Flushes this store's writes to stable storage (see `resources::durability`).
    barrier: ObjectBarrier,
    description: String,
}

pub fn blob_path(digest: &Sha256Digest) -> Path {
    let hex = digest.to_hex();
    Path::from(format!("blobs/sha256/{}/{}/{}", &hex[0..2], &hex[2..4], hex))
}

pub fn manifest_path(document: &DocumentId, revision: &RevisionId) -> Path {
    Path::from(format!("revisions/{document}/{revision}.json"))
}

/// The text extracted from a blob by `engine` (`extracted/ab/cd/<hex>/<engine>.json`), or one
/// page of it while it is being read (`…/<engine>/0001.json`).
pub fn text_path(source_hex: &str, engine: &str, page: Option<u32>) -> Path {
    let engine: String = engine.chars().map(|c| if c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_') { c } else { '_' }).collect();
    let folder = texts_folder(source_hex);
    match page {
        None => Path::from(format!("{folder}/{engine}.json")),
        Some(p) => Path::from(format!("{folder}/{engine}/{p:04}.json")),
    }
}

/// Where the audit chain's head is anchored when it stands at event `seq`.
pub fn anchor_path(seq: i64) -> Path {
    Path::from(format!("{ANCHORS}/{seq:020}.json"))
}

/// The folder of audit anchors.
pub const ANCHORS: &str = "audit/anchors";

/// Where every text extracted from a blob lives (to delete them with it).
pub fn texts_folder(source_hex: &str) -> String {
    match source_hex.get(..4) {
        Some(h) => format!("extracted/{}/{}/{source_hex}", &h[..2], &h[2..]),
        None => format!("extracted/{source_hex}"),
    }
}

const MARKER: &str = "henji.json";

impl BlobStore {
    /// `file:///abs/path` or `s3://bucket[/prefix]` (endpoint, region and credentials from the
    /// standard `AWS_*` variables).
    pub fn open(url: &str) -> StoreResult<Self> {
        Self::open_with(url, std::iter::empty())
    }

    /// As `open`, with S3 options (`aws_endpoint`, `aws_allow_http`, …) that override the
    /// environment; used where several stores live in one process.
    pub fn open_with(url: &str, options: impl IntoIterator<Item = (String, String)>) -> StoreResult<Self> {
        Self::open_with_durability(url, options, Durability::default())
    }

    /// As `open_with`, with the writes of a local folder made `durability` durable.
    pub fn open_with_durability(url: &str, options: impl IntoIterator<Item = (String, String)>, durability: Durability) -> StoreResult<Self> {
        let parsed = url::Url::parse(url).map_err(|_| StoreError::BadUrl(url.to_owned()))?;
        match parsed.scheme() {
            "file" => {
                let dir = parsed.to_file_path().map_err(|_| StoreError::BadUrl(url.to_owned()))?;
                std::fs::create_dir_all(&dir)?;
                let local = Arc::new(LocalFileSystem::new_with_prefix(&dir)?.with_automatic_cleanup(true));
                let (store, barrier) = TrackedLocal::new(local.clone(), &dir, durability)?;
                Ok(Self { store: Arc::new(store), local: Some(local), barrier, description: url.to_owned() })
            }
            "s3" => {
                let bucket = parsed.host_str().ok_or_else(|| StoreError::BadUrl(url.to_owned()))?;
                let mut builder = AmazonS3Builder::from_env();
                for (key, value) in options {
                    let key: AmazonS3ConfigKey = key.parse()?;
                    builder = builder.with_config(key, value);
                }
                let s3 = builder
                    .with_bucket_name(bucket)
                    // Native S3 (and moto) complete a multipart copy only if the target is absent.
                    .with_copy_if_not_exists(S3CopyIfNotExists::Multipart)
                    // A store that is down is said within seconds (503), not after the default
                    // three minutes of retries with a clerk waiting.
                    .with_retry(object_store::RetryConfig { max_retries: 3, retry_timeout: std::time::Duration::from_secs(10), ..Default::default() })
                    .build()?;
                let prefix = parsed.path().trim_matches('/');
                let store: Arc<dyn ObjectStore> = if prefix.is_empty() {
                    Arc::new(s3)
                } else {
                    Arc::new(PrefixStore::new(s3, prefix))
                };
                // A completed PUT is durable on S3; there is nothing to flush.
                Ok(Self { store, local: None, barrier: ObjectBarrier::default(), description: url.to_owned() })
            }
            _ => Err(StoreError::BadUrl(url.to_owned())),
        }
    }

    pub fn describe(&self) -> &str {
        &self.description
    }

    /// What flushes this store's writes; the catalog runs it before it commits.
    pub fn barrier(&self) -> ObjectBarrier {
        self.barrier.clone()
    }

    /// Every write finished so far is on stable storage when this returns.
    pub async fn flush(&self) -> StoreResult<()> {
        Ok(self.barrier.flush().await?)
    }

    /// Writes the marker that says what this store is (once) and proves the store is writable.
    pub async fn initialise(&self) -> StoreResult<()> {
        let marker = serde_json::json!({
            "format": "henji/store/1",
            "blobs": "blobs/sha256/<first 2 hex>/<next 2 hex>/<sha256 hex>",
            "revisions": "revisions/<document id>/<revision id>.json (canonical JSON; revision id = SHA-256 of the file)",
        });
        let opts = PutOptions { mode: PutMode::Create, ..Default::default() };
        match self.store.put_opts(&Path::from(MARKER), PutPayload::from(marker.to_string()), opts).await {
            Ok(_) | Err(object_store::Error::AlreadyExists { .. }) => Ok(()),
            Err(e) => Err(e.into()),
        }
    }

    /// For `/healthz`: the store answers.
    pub async fn ping(&self) -> StoreResult<()> {
        self.store.head(&Path::from(MARKER)).await?;
        Ok(())
    }

    pub fn writer(&self) -> BlobWriter {
        BlobWriter {
            store: self.clone(),
            hasher: Some(Sha256::new()),
            size: 0,
            buffer: BytesMut::new(),
            upload: None,
        }
    }

    /// Stores bytes already in memory.
    pub async fn put_bytes(&self, bytes: Bytes) -> StoreResult<StoredBlob> {
        let mut w = self.writer();
        w.write(bytes).await?;
        w.finish().await
    }

    pub async fn exists(&self, digest: &Sha256Digest) -> StoreResult<bool> {
        match self.store.head(&blob_path(digest)).await {
            Ok(_) => Ok(true),
            Err(object_store::Error::NotFound { .. }) => Ok(false),
            Err(e) => Err(e.into()),
        }
    }

    /// The blob as a stream of chunks, with its size.
    pub async fn get(&self, digest: &Sha256Digest) -> StoreResult<(u64, BoxStream<'static, StoreResult<Bytes>>)> {
        let result = self.store.get(&blob_path(digest)).await.map_err(|e| not_found(e, digest))?;
        let size = result.meta.size;
        Ok((size, result_stream(result)))
    }

    /// The first `len` bytes of a blob (the header of a sealed one).
    pub async fn get_head(&self, digest: &Sha256Digest, len: u64) -> StoreResult<Bytes> {
        self.store.get_range(&blob_path(digest), 0..len).await.map_err(|e| not_found(e, digest))
    }

    /// A whole blob; only for blobs known to be small (text bodies bounded by the body limit).
    pub async fn get_bytes(&self, digest: &Sha256Digest) -> StoreResult<Bytes> {
        let result = self.store.get(&blob_path(digest)).await.map_err(|e| not_found(e, digest))?;
        Ok(result.bytes().await?)
    }

    /// Manifests are immutable; writing the same one twice is fine, a different one under the
    /// same name cannot happen because the name is the digest of the bytes.
    pub async fn put_manifest(&self, document: &DocumentId, revision: &RevisionId, bytes: Vec<u8>) -> StoreResult<()> {
        let opts = PutOptions { mode: PutMode::Create, ..Default::default() };
        match self.store.put_opts(&manifest_path(document, revision), PutPayload::from(bytes), opts).await {
            Ok(_) | Err(object_store::Error::AlreadyExists { .. }) => Ok(()),
            Err(e) => Err(e.into()),
        }
    }

    /// Writes an audit anchor (once: anchors never change, so a store that forbids
    /// overwriting keeps them safe).
    pub async fn put_anchor(&self, seq: i64, bytes: Vec<u8>) -> StoreResult<()> {
        let opts = PutOptions { mode: PutMode::Create, ..Default::default() };
        match self.store.put_opts(&anchor_path(seq), PutPayload::from(bytes), opts).await {
            Ok(_) | Err(object_store::Error::AlreadyExists { .. }) => Ok(()),
            Err(e) => Err(e.into()),
        }
    }

    /// Only for a manifest that no catalog row refers to (the loser of a race).
    /// Deletes a blob (archive disposal); a blob already gone is not an error.
    pub async fn delete(&self, digest: &Sha256Digest) -> StoreResult<()> {
        match self.store.delete(&blob_path(digest)).await {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
            Err(e) => Err(e.into()),
        }
    }

    pub async fn delete_manifest(&self, document: &DocumentId, revision: &RevisionId) -> StoreResult<()> {
        self.store.delete(&manifest_path(document, revision)).await?;
        Ok(())
    }

    pub async fn get_manifest(&self, document: &DocumentId, revision: &RevisionId) -> StoreResult<Bytes> {
        let path = manifest_path(document, revision);
        let result = self.store.get(&path).await.map_err(|e| match e {
            object_store::Error::NotFound { .. } => StoreError::NotFound(path.to_string()),
            e => e.into(),
        })?;
        Ok(result.bytes().await?)
    }

    /// Every object under `prefix` (`blobs/`, `revisions/`), as store paths.
    pub fn list(&self, prefix: &str) -> BoxStream<'static, StoreResult<(Path, u64)>> {
        self.store
            .list(Some(&Path::from(prefix)))
            .map_ok(|m| (m.location, m.size))
            .map_err(StoreError::from)
            .boxed()
    }

    /// Overwrites an object as it is; for repair tools and tests that damage a store on purpose.
    pub async fn put_path(&self, path: &Path, bytes: Bytes) -> StoreResult<()> {
        self.store.put(path, PutPayload::from(bytes)).await?;
        Ok(())
    }

    /// Uploads a local file to `path` part by part (a catalog snapshot for a backup).
    pub async fn put_file(&self, path: &Path, local: &std::path::Path) -> StoreResult<u64> {
        use tokio::io::AsyncReadExt;
        let mut file = tokio::fs::File::open(local).await?;
        let mut upload = WriteMultipart::new_with_chunk_size(self.store.put_multipart(path).await?, PART_SIZE);
        let mut total = 0u64;
        let mut buf = vec![0u8; 1 << 20];
        loop {
            let n = match file.read(&mut buf).await {
                Ok(n) => n,
                Err(e) => {
                    let _ = upload.abort().await;
                    return Err(e.into());
                }
            };
            if n == 0 {
                break;
            }
            total += n as u64;
            upload.wait_for_capacity(PARTS_IN_FLIGHT).await?;
            upload.write(&buf[..n]);
        }
        upload.finish().await?;
        Ok(total)
    }

    /// Downloads `path` into a local file, streamed.
    pub async fn get_file(&self, path: &Path, local: &std::path::Path) -> StoreResult<u64> {
        use tokio::io::AsyncWriteExt;
        let mut stream = self.get_path(path).await?;
        let mut file = tokio::fs::File::create(local).await?;
        let mut total = 0u64;
        while let Some(chunk) = stream.try_next().await? {
            total += chunk.len() as u64;
            file.write_all(&chunk).await?;
        }
        file.sync_all().await?;
        Ok(total)
    }

    /// Deletes any object (a disposed blob in a backup).
    pub async fn delete_path(&self, path: &Path) -> StoreResult<()> {
        match self.store.delete(path).await {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
            Err(e) => Err(e.into()),
        }
    }

    /// A whole object known to be small, in one read.
    pub async fn get_path_bytes(&self, path: &Path) -> StoreResult<Bytes> {
        Ok(self.store.get(path).await?.bytes().await?)
    }

    /// Every blob re-hashed, in batches: (path, SHA-256 and size) each.
    pub fn hash_all_blobs(&self) -> Batches<(Sha256Digest, u64)> {
        if let Some(walks) = self.walk_local(BLOBS, 1, hash_file) {
            return walks;
        }
        self.in_listed_groups(BLOBS, |store, listed| async move {
            let mut out = Vec::with_capacity(listed.len());
            for (path, size) in listed {
                let outcome = if size <= SMALL_OBJECT {
                    store.get_path_bytes(&path).await.map(|bytes| (Sha256Digest::of(&bytes), bytes.len() as u64))
                } else {
                    store.hash_large(&path).await
                };
                out.push((path, outcome));
            }
            out
        })
    }

    /// Every revision manifest read whole, in batches.
    pub fn read_all_manifests(&self) -> Batches<Vec<u8>> {
        if let Some(walks) = self.walk_local(REVISIONS, 64, |path, _| std::fs::read(path)) {
            return walks;
        }
        self.in_listed_groups(REVISIONS, |store, listed| async move {
            let mut out = Vec::with_capacity(listed.len());
            for (path, _) in listed {
                let outcome = store.get_path_bytes(&path).await.map(|bytes| bytes.to_vec());
                out.push((path, outcome));
            }
            out
        })
    }

    /// SHA-256 and size of a large object, the next pieces fetched while one is hashed.
    async fn hash_large(&self, path: &Path) -> StoreResult<(Sha256Digest, u64)> {
        let mut stream = self.get_path(path).await?;
        let (tx, mut rx) = tokio::sync::mpsc::channel(4);
        tokio::spawn(async move {
            while let Some(chunk) = stream.next().await {
                let failed = chunk.is_err();
                if tx.send(chunk).await.is_err() || failed {
                    break;
                }
            }
        });
        let (mut hasher, mut size) = (Sha256::new(), 0u64);
        while let Some(chunk) = rx.recv().await {
            let chunk = chunk?;
            size += chunk.len() as u64;
            hasher.update(&chunk);
        }
        Ok((Sha256Digest::from_hasher(hasher), size))
    }

    /// The objects under `prefix` as listed, in groups of `LISTED_GROUP` handed to `each` as a
    /// task each (so the work runs on both cores), two at a time; a listing error is an
    /// outcome named by the prefix.
    fn in_listed_groups<T, F, Fut>(&self, prefix: &'static str, each: F) -> Batches<T>
    where
        T: Send + 'static,
        F: Fn(BlobStore, Vec<(Path, u64)>) -> Fut + Send + 'static,
        Fut: std::future::Future<Output = Vec<(Path, StoreResult<T>)>> + Send + 'static,
    {
        let store = self.clone();
        self.list(prefix)
            .chunks(LISTED_GROUP)
            .map(move |entries| {
                let (listed, failed): (Vec<_>, Vec<_>) = entries.into_iter().partition(Result::is_ok);
                let work = each(store.clone(), listed.into_iter().flatten().collect());
                async move {
                    let mut out: Vec<_> = failed.into_iter().filter_map(Result::err).map(|e| (Path::from(prefix), Err(e))).collect();
                    match tokio::spawn(work).await {
                        Ok(done) => out.extend(done),
                        Err(e) => out.push((Path::from(prefix), Err(StoreError::Io(std::io::Error::other(e.to_string()))))),
                    }
                    out
                }
            })
            .buffer_unordered(2)
            .boxed()
    }

    /// `f` applied to every file under `prefix` of a local folder (`None` for another store),
    /// walked directly: one blocking call per `folders` top-level folders (`blobs/sha256/ab`,
    /// `revisions/<document>`), two calls at a time, one reused buffer per call. Per file,
    /// listing through object_store (a stat each), a task and a fresh buffer cost more than
    /// reading a few kilobytes.
    fn walk_local<T: Send + 'static>(&self, prefix: &'static str, folders: usize, f: fn(&std::path::Path, &mut [u8]) -> std::io::Result<T>) -> Option<Batches<T>> {
        let local = self.local.clone()?;
        let root = local.path_to_filesystem(&Path::from(prefix)).ok()?;
        let top = tokio::task::spawn_blocking(move || match std::fs::read_dir(&root) {
            Ok(entries) => entries.filter_map(Result::ok).map(|e| e.path()).collect::<Vec<_>>(),
            Err(_) => Vec::new(),
        });
        let walks = futures::stream::once(top)
            .flat_map(move |found| futures::stream::iter(found.unwrap_or_default().chunks(folders).map(<[_]>::to_vec).collect::<Vec<_>>()))
            .map(move |tops| {
                tokio::task::spawn_blocking(move || {
                    // One read buffer per call: zeroing 1 MiB per folder (a manifest has a
                    // folder of its own) took a tenth of verify's time.
                    let mut buf = vec![0u8; LOCAL_READ as usize];
                    tops.iter().flat_map(|top| walk_tree(prefix, top, f, &mut buf)).collect::<Vec<_>>()
                })
            })
            .buffer_unordered(2)
            .map(move |batch| batch.unwrap_or_else(|e| vec![(Path::from(prefix), Err(StoreError::Io(std::io::Error::other(e.to_string()))))]));
        Some(walks.boxed())
    }

    /// Raw access for verification and tests.
    pub async fn get_path(&self, path: &Path) -> StoreResult<BoxStream<'static, StoreResult<Bytes>>> {
        let result = self.store.get(path).await?;
        Ok(result_stream(result))
    }
}

/// Where blobs and revision manifests live in the store.
const BLOBS: &str = "blobs/sha256";
const REVISIONS: &str = "revisions";
/// Objects up to this size are read whole when hashed; larger ones stream.
const SMALL_OBJECT: u64 = 1 << 20;
/// Listed objects handed to one task.
const LISTED_GROUP: usize = 64;

/// `f` applied to every file under `top` (a folder or file directly below `prefix`), named as
/// the store names it. Files with `#` in their name are object_store's unfinished uploads,
/// which its listing skips as well.
fn walk_tree<T>(prefix: &str, top: &std::path::Path, f: fn(&std::path::Path, &mut [u8]) -> std::io::Result<T>, buf: &mut [u8]) -> Vec<(Path, StoreResult<T>)> {
    let mut out = Vec::new();
    let base = top.parent().map(std::path::Path::to_path_buf).unwrap_or_default();
    let name = |p: &std::path::Path| {
        let rel = p.strip_prefix(&base).unwrap_or(p).to_string_lossy().replace(std::path::MAIN_SEPARATOR, "/");
        Path::from(format!("{prefix}/{rel}"))
    };
    let mut pending = vec![top.to_path_buf()];
    while let Some(path) = pending.pop() {
        match std::fs::read_dir(&path) {
            Ok(entries) => {
                for entry in entries {
                    match entry {
                        Ok(e) if e.file_name().to_string_lossy().contains('#') => {}
                        // The directory entry says what it is: a file is opened once, not first
                        // tried as a folder.
                        Ok(e) if e.file_type().is_ok_and(|t| t.is_file()) => {
                            let file = e.path();
                            out.push((name(&file), f(&file, buf).map_err(StoreError::from)));
                        }
                        Ok(e) => pending.push(e.path()),
                        Err(e) => out.push((name(&path), Err(e.into()))),
                    }
                }
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotADirectory => out.push((name(&path), f(&path, buf).map_err(StoreError::from))),
            Err(e) => out.push((name(&path), Err(e.into()))),
        }
    }
    out
}

fn hash_file(path: &std::path::Path, buf: &mut [u8]) -> std::io::Result<(Sha256Digest, u64)> {
    use std::io::Read as _;
    let mut file = std::fs::File::open(path)?;
    let (mut hasher, mut size) = (Sha256::new(), 0u64);
    loop {
        match file.read(buf) {
            Ok(0) => return Ok((Sha256Digest::from_hasher(hasher), size)),
            Ok(n) => {
                hasher.update(&buf[..n]);
                size += n as u64;
            }
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
}

/// Local files are read 1 MiB at a time: object_store reads a local file 8 KiB per blocking
/// call, which held reads (verify, downloads, packages, backups) to about a sixth of what
/// SHA-256 and the disk can do.
const LOCAL_READ: u64 = 1 << 20;

fn result_stream(result: object_store::GetResult) -> BoxStream<'static, StoreResult<Bytes>> {
    #[cfg(unix)]
    if let object_store::GetResultPayload::File(file, _) = result.payload {
        use std::os::unix::fs::FileExt;
        let file = std::sync::Arc::new(file);
        let (start, end) = (result.range.start, result.range.end);
        return futures::stream::try_unfold(start, move |pos| {
            let file = file.clone();
            async move {
                if pos >= end {
                    return Ok(None);
                }
                let n = (end - pos).min(LOCAL_READ) as usize;
                let buf = tokio::task::spawn_blocking(move || -> std::io::Result<Vec<u8>> {
                    let mut buf = vec![0u8; n];
                    file.read_exact_at(&mut buf, pos)?;
                    Ok(buf)
                })
                .await
                .map_err(std::io::Error::other)??;
                Ok(Some((Bytes::from(buf), pos + n as u64)))
            }
        })
        .boxed();
    }
    result.into_stream().map_err(StoreError::from).boxed()
}

fn not_found(e: object_store::Error, digest: &Sha256Digest) -> StoreError {
    match e {
        object_store::Error::NotFound { .. } => StoreError::NotFound(blob_path(digest).to_string()),
        e => e.into(),
    }
}

/// Hashes while it writes. Small blobs stay in memory until `finish`; large ones go to
/// `staging/` part by part, so memory stays bounded whatever the upload's size.
pub struct BlobWriter {
    store: BlobStore,
    /// `None` once hashing was handed to whoever produces the bytes (`take_hasher`).
    hasher: Option<Sha256>,
    size: u64,
    buffer: BytesMut,
    upload: Option<(Path, WriteMultipart)>,
}

impl BlobWriter {
    pub async fn write(&mut self, chunk: Bytes) -> StoreResult<()> {
        if let Some(h) = self.hasher.as_mut() {
            h.update(&chunk);
        }
        self.size += chunk.len() as u64;
        if let Some((_, upload)) = self.upload.as_mut() {
            upload.wait_for_capacity(PARTS_IN_FLIGHT).await?;
            upload.put(chunk);
            return Ok(());
        }
        self.buffer.extend_from_slice(&chunk);
        if self.buffer.len() > INLINE_LIMIT {
            let staging = Path::from(format!("staging/{}", ulid::Ulid::new()));
            let multipart = self.store.store.put_multipart(&staging).await?;
            let mut upload = WriteMultipart::new_with_chunk_size(multipart, PART_SIZE);
            upload.put(self.buffer.split().freeze());
            self.buffer = BytesMut::new();
            self.upload = Some((staging, upload));
        }
        Ok(())
    }

    pub fn size(&self) -> u64 {
        self.size
    }

    /// Hands the hashing of everything written from now on to the caller, who sees the same
    /// bytes first (a sealing thread hashes while it seals, so the two cores share the work);
    /// the blob is then finished with `finish_with` and the caller's digest.
    pub fn take_hasher(&mut self) -> Sha256 {
        self.hasher.take().unwrap_or_default()
    }

    /// Puts the blob under its digest, unless those bytes are stored already.
    pub async fn finish(mut self) -> StoreResult<StoredBlob> {
        let hasher = self.hasher.take().ok_or_else(|| StoreError::Io(std::io::Error::other("the hash was handed off; finish with finish_with")))?;
        self.finish_with(Sha256Digest::from_hasher(hasher)).await
    }

    /// As `finish`, under a digest computed by whoever took the hasher.
    pub async fn finish_with(self, digest: Sha256Digest) -> StoreResult<StoredBlob> {
        let target = blob_path(&digest);
        let store = &self.store.store;
        let deduplicated = match self.upload {
            None => {
                let opts = PutOptions { mode: PutMode::Create, ..Default::default() };
                match store.put_opts(&target, PutPayload::from(self.buffer.freeze()), opts).await {
                    Ok(_) => false,
                    Err(object_store::Error::AlreadyExists { .. }) => true,
                    Err(e) => return Err(e.into()),
                }
            }
            Some((staging, upload)) => {
                upload.finish().await?;
                let outcome = match store.copy_if_not_exists(&staging, &target).await {
                    Ok(()) => Ok(false),
                    Err(object_store::Error::AlreadyExists { .. }) => Ok(true),
                    // A backend without an atomic conditional copy: the name is the digest,
                    // so a racing writer can only ever write the same bytes.
                    Err(object_store::Error::NotSupported { .. } | object_store::Error::NotImplemented { .. }) => {
                        if self.store.exists(&digest).await? {
                            Ok(true)
                        } else {
                            store.copy(&staging, &target).await.map(|_| false)
                        }
                    }
                    Err(e) => Err(e),
                };
                // Staging leftovers are harmless; a failed delete must not fail the upload.
                if let Err(e) = store.delete(&staging).await {
                    tracing::warn!(error = %e, path = %staging, "could not remove staging object");
                }
                outcome?
            }
        };
        Ok(StoredBlob { digest, size: self.size, deduplicated })
    }

    /// Gives up: nothing is left under `blobs/`.
    pub async fn abort(self) {
        if let Some((staging, upload)) = self.upload
            && let Err(e) = upload.abort().await
        {
            tracing::warn!(error = %e, path = %staging, "could not abort staging upload");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn temp_store() -> (tempfile::TempDir, BlobStore) {
        let dir = tempfile::tempdir().unwrap();
        let url = url::Url::from_directory_path(dir.path()).unwrap().to_string();
        (dir, BlobStore::open(&url).unwrap())
    }

    /// The direct walk of a local folder sees what object_store's listing sees: every blob
    /// under its own name, no unfinished upload.
    #[tokio::test]
    async fn the_local_walk_names_and_hashes_what_the_listing_lists() {
        let (dir, store) = temp_store();
        let mut stored = Vec::new();
        for text in ["甲", "乙", "丙"] {
            stored.push(store.put_bytes(Bytes::from(text.as_bytes().to_vec())).await.unwrap());
        }
        let first = blob_path(&stored[0].digest).to_string();
        std::fs::write(dir.path().join(format!("{first}#1")), b"half an upload").unwrap();
        let mut walked: Vec<(String, Sha256Digest, u64)> = Vec::new();
        let mut batches = store.hash_all_blobs();
        while let Some(batch) = batches.next().await {
            walked.extend(batch.into_iter().map(|(path, r)| {
                let (digest, size) = r.unwrap();
                (path.to_string(), digest, size)
            }));
        }
        walked.sort();
        let mut listed: Vec<(String, Sha256Digest, u64)> = store.list(BLOBS).map(|r| r.unwrap()).map(|(p, size)| (p.to_string(), p.filename().unwrap().parse().unwrap(), size)).collect().await;
        listed.sort();
        assert_eq!(walked, listed);
        assert_eq!(walked.len(), 3);
        let mut manifests = Vec::new();
        let mut batches = store.read_all_manifests();
        while let Some(batch) = batches.next().await {
            manifests.extend(batch);
        }
        assert!(manifests.is_empty(), "no revisions folder yet");
    }

    #[tokio::test]
    async fn same_bytes_are_stored_once() {
        let (_dir, store) = temp_store();
        let a = store.put_bytes(Bytes::from_static("正文".as_bytes())).await.unwrap();
        let b = store.put_bytes(Bytes::from_static("正文".as_bytes())).await.unwrap();
        assert_eq!(a.digest, b.digest);
        assert!(!a.deduplicated);
        assert!(b.deduplicated);
        assert_eq!(store.get_bytes(&a.digest).await.unwrap(), Bytes::from_static("正文".as_bytes()));
    }

    #[tokio::test]
    async fn large_blobs_stream_through_staging_and_deduplicate() {
        let (dir, store) = temp_store();
        let chunk = Bytes::from(vec![7u8; 1024 * 1024]);
        let mut expected = Sha256::new();
        let mut w = store.writer();
        for _ in 0..(INLINE_LIMIT / chunk.len() + 3) {
            expected.update(&chunk);
            w.write(chunk.clone()).await.unwrap();
        }
        let stored = w.finish().await.unwrap();
        assert_eq!(stored.digest, Sha256Digest::from_hasher(expected));
        assert!(!stored.deduplicated);
        let again = {
            let mut w = store.writer();
            for _ in 0..(INLINE_LIMIT / chunk.len() + 3) {
                w.write(chunk.clone()).await.unwrap();
            }
            w.finish().await.unwrap()
        };
        assert!(again.deduplicated);
        let staging = dir.path().join("staging");
        let left = std::fs::read_dir(&staging).map(|d| d.count()).unwrap_or(0);
        assert_eq!(left, 0, "staging is emptied");
    }
}
