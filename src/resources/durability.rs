//! 落盘 (durability): when a write is answered, what it wrote is on stable storage.
//!
//! Objects of a local store are flushed in groups, not one by one: every write is counted, and a
//! flush makes every write counted before it durable with one `syncfs` on the store's file
//! system, shared by everyone who asked while it ran. The catalog flushes before a write
//! transaction begins (whose rows name objects written before it) and commits with
//! `synchronous=FULL`; so a row never names an object a power cut could take, and the answer
//! comes after both. An S3 PUT is durable when it completes.

use std::fmt;
use std::path::PathBuf;
use std::str::FromStr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use async_trait::async_trait;
use futures::stream::BoxStream;
use futures::StreamExt;
use object_store::local::LocalFileSystem;
use object_store::path::Path;
use object_store::{
    CopyOptions, GetOptions, GetResult, ListResult, MultipartUpload, ObjectMeta, ObjectStore, PutMultipartOptions, PutOptions, PutPayload, PutResult, RenameOptions, UploadPart,
};

/// How far a write has gone when it is answered.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Durability {
    /// On stable storage: objects flushed in groups, the catalog commit synced (the default).
    #[default]
    Durable,
    /// Handed to the operating system: survives a crash of the process, not of the machine.
    Os,
    /// As `Durable`, but every object file and its folder is fsynced as it is written: the
    /// naive way, kept as the peer that `cargo bench --bench foundation` measures against.
    EachFile,
}

impl Durability {
    pub const NAMES: [&str; 3] = ["durable", "os", "each-file"];

    /// Whether the catalog syncs its log at every commit.
    pub fn syncs_commits(self) -> bool {
        self != Durability::Os
    }
}

impl FromStr for Durability {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "durable" => Ok(Durability::Durable),
            "os" => Ok(Durability::Os),
            "each-file" => Ok(Durability::EachFile),
            _ => Err(format!("{s:?} is not one of {}", Durability::NAMES.join(", "))),
        }
    }
}

impl fmt::Display for Durability {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let i = match self {
            Durability::Durable => 0,
            Durability::Os => 1,
            Durability::EachFile => 2,
        };
        f.write_str(Durability::NAMES[i])
    }
}

#[derive(Debug)]
struct Group {
    /// Any file of the store's file system; `syncfs` flushes the whole file system.
    root: std::fs::File,
    written: AtomicU64,
    synced: AtomicU64,
    /// One `syncfs` at a time; who waits here is covered by the next one.
    turn: tokio::sync::Mutex<()>,
}

/// The flush of a local object store's writes; a no-op for stores that need none.
#[derive(Clone, Debug, Default)]
pub struct ObjectBarrier(Option<Arc<Group>>);

impl ObjectBarrier {
    fn on(root: &std::path::Path) -> std::io::Result<Self> {
        let root = std::fs::File::open(root)?;
        Ok(Self(Some(Arc::new(Group { root, written: AtomicU64::new(0), synced: AtomicU64::new(0), turn: Default::default() }))))
    }

    /// Every object write finished before this call is on stable storage when it returns.
    pub async fn flush(&self) -> std::io::Result<()> {
        let Some(group) = &self.0 else { return Ok(()) };
        let wanted = group.written.load(Ordering::SeqCst);
        if group.synced.load(Ordering::SeqCst) >= wanted {
            return Ok(());
        }
        let _turn = group.turn.lock().await;
        // The flush that ran while this one waited may have covered it.
        if group.synced.load(Ordering::SeqCst) >= wanted {
            return Ok(());
        }
        // Read before the flush starts: every write counted so far has finished.
        let covers = group.written.load(Ordering::SeqCst);
        let g = group.clone();
        tokio::task::spawn_blocking(move || rustix::fs::syncfs(&g.root)).await.map_err(std::io::Error::other)??;
        group.synced.fetch_max(covers, Ordering::SeqCst);
        Ok(())
    }

    fn wrote(&self) {
        if let Some(group) = &self.0 {
            group.written.fetch_add(1, Ordering::SeqCst);
        }
    }
}

/// A local folder store that counts its writes for the barrier (`Durable`) or fsyncs each one
/// (`EachFile`). Reads and listings pass straight through.
#[derive(Debug)]
pub struct TrackedLocal {
    inner: Arc<LocalFileSystem>,
    mode: Durability,
    barrier: ObjectBarrier,
}

impl TrackedLocal {
    /// The store over `inner` (rooted at `root`) and the barrier that flushes its writes.
    pub fn new(inner: Arc<LocalFileSystem>, root: &std::path::Path, mode: Durability) -> std::io::Result<(Self, ObjectBarrier)> {
        let barrier = if mode == Durability::Durable { ObjectBarrier::on(root)? } else { ObjectBarrier::default() };
        Ok((Self { inner, mode, barrier: barrier.clone() }, barrier))
    }

    async fn written(&self, location: &Path) -> object_store::Result<()> {
        let file = self.inner.path_to_filesystem(location)?;
        written(self.mode, &self.barrier, file).await
    }
}

/// After `file` was put in place: counted for the next flush (`Durable`), or fsynced with its
/// folder now (`EachFile`).
async fn written(mode: Durability, barrier: &ObjectBarrier, file: PathBuf) -> object_store::Result<()> {
    match mode {
        Durability::Durable => barrier.wrote(),
        Durability::Os => {}
        Durability::EachFile => {
            tokio::task::spawn_blocking(move || {
                std::fs::File::open(&file)?.sync_all()?;
                match file.parent() {
                    Some(folder) => std::fs::File::open(folder)?.sync_all(),
                    None => Ok(()),
                }
            })
            .await
            .map_err(std::io::Error::other)
            .and_then(|synced| synced)
            .map_err(|source| object_store::Error::Generic { store: "local", source: Box::new(source) })?;
        }
    }
    Ok(())
}

impl fmt::Display for TrackedLocal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({})", self.inner, self.mode)
    }
}

#[async_trait]
impl ObjectStore for TrackedLocal {
    async fn put_opts(&self, location: &Path, payload: PutPayload, opts: PutOptions) -> object_store::Result<PutResult> {
        let put = self.inner.put_opts(location, payload, opts).await?;
        self.written(location).await?;
        Ok(put)
    }

    async fn put_multipart_opts(&self, location: &Path, opts: PutMultipartOptions) -> object_store::Result<Box<dyn MultipartUpload>> {
        let upload = self.inner.put_multipart_opts(location, opts).await?;
        let file = self.inner.path_to_filesystem(location)?;
        Ok(Box::new(TrackedUpload { upload, file, mode: self.mode, barrier: self.barrier.clone() }))
    }

    async fn get_opts(&self, location: &Path, options: GetOptions) -> object_store::Result<GetResult> {
        self.inner.get_opts(location, options).await
    }

    async fn get_ranges(&self, location: &Path, ranges: &[std::ops::Range<u64>]) -> object_store::Result<Vec<bytes::Bytes>> {
        self.inner.get_ranges(location, ranges).await
    }

    fn delete_stream(&self, locations: BoxStream<'static, object_store::Result<Path>>) -> BoxStream<'static, object_store::Result<Path>> {
        // A deletion that a power cut undoes brings back an object nothing names; it is flushed
        // with the next group all the same.
        let barrier = self.barrier.clone();
        self.inner
            .delete_stream(locations)
            .inspect(move |deleted| {
                if deleted.is_ok() {
                    barrier.wrote();
                }
            })
            .boxed()
    }

    fn list(&self, prefix: Option<&Path>) -> BoxStream<'static, object_store::Result<ObjectMeta>> {
        self.inner.list(prefix)
    }

    fn list_with_offset(&self, prefix: Option<&Path>, offset: &Path) -> BoxStream<'static, object_store::Result<ObjectMeta>> {
        self.inner.list_with_offset(prefix, offset)
    }

    async fn list_with_delimiter(&self, prefix: Option<&Path>) -> object_store::Result<ListResult> {
        self.inner.list_with_delimiter(prefix).await
    }

    async fn copy_opts(&self, from: &Path, to: &Path, options: CopyOptions) -> object_store::Result<()> {
        self.inner.copy_opts(from, to, options).await?;
        self.written(to).await
    }

    async fn rename_opts(&self, from: &Path, to: &Path, options: RenameOptions) -> object_store::Result<()> {
        self.inner.rename_opts(from, to, options).await?;
        self.written(to).await
    }
}

/// A multipart upload that counts (or fsyncs) its object once it is complete.
#[derive(Debug)]
struct TrackedUpload {
    upload: Box<dyn MultipartUpload>,
    file: PathBuf,
    mode: Durability,
    barrier: ObjectBarrier,
}

#[async_trait]
impl MultipartUpload for TrackedUpload {
    fn put_part(&mut self, data: PutPayload) -> UploadPart {
        self.upload.put_part(data)
    }

    async fn complete(&mut self) -> object_store::Result<PutResult> {
        let put = self.upload.complete().await?;
        written(self.mode, &self.barrier, self.file.clone()).await?;
        Ok(put)
    }

    async fn abort(&mut self) -> object_store::Result<()> {
        self.upload.abort().await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for name in Durability::NAMES {
            assert_eq!(name.parse::<Durability>().unwrap().to_string(), name);
        }
        assert!("fast".parse::<Durability>().unwrap_err().contains("durable, os, each-file"));
    }

    /// A flush covers the writes before it and only costs a `syncfs` when there were some.
    #[tokio::test]
    async fn a_flush_covers_what_was_written_before_it() {
        let dir = tempfile::tempdir().unwrap();
        let local = Arc::new(LocalFileSystem::new_with_prefix(dir.path()).unwrap());
        let (store, barrier) = TrackedLocal::new(local, dir.path(), Durability::Durable).unwrap();
        let group = barrier.0.clone().unwrap();
        store.put_opts(&Path::from("a/b"), PutPayload::from_static(b"x"), PutOptions::default()).await.unwrap();
        assert_eq!(group.written.load(Ordering::SeqCst), 1);
        assert_eq!(group.synced.load(Ordering::SeqCst), 0);
        barrier.flush().await.unwrap();
        assert_eq!(group.synced.load(Ordering::SeqCst), 1);
        store.copy_opts(&Path::from("a/b"), &Path::from("a/c"), CopyOptions::default()).await.unwrap();
        let mut upload = store.put_multipart_opts(&Path::from("a/d"), PutMultipartOptions::default()).await.unwrap();
        upload.put_part(PutPayload::from_static(b"part")).await.unwrap();
        assert_eq!(group.written.load(Ordering::SeqCst), 2, "an unfinished upload is not counted");
        upload.complete().await.unwrap();
        let flushes: Vec<_> = (0..8).map(|_| barrier.flush()).collect();
        futures::future::try_join_all(flushes).await.unwrap();
        assert_eq!(group.synced.load(Ordering::SeqCst), 3);
    }
}
