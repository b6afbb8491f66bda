//! A tantivy `Directory` whose files are sealed at rest: every file tantivy writes is sealed
//! whole (AES-256-GCM under the index's data key, its name bound in) before it reaches the disk,
//! and opening the directory opens every file into memory. Tantivy never sees the difference;
//! the disk never sees plaintext. Holds the sealed index (sensitive fields and classified
//! content), which is small next to the plain one, so keeping it in memory is cheap.

use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use tantivy::directory::error::{DeleteError, LockError, OpenReadError, OpenWriteError};
use tantivy::directory::{AntiCallToken, Directory, DirectoryLock, FileHandle, Lock, RamDirectory, TerminatingWrite, WatchCallback, WatchHandle, WritePtr};

use crate::domain::sealing::{self, Place, SecretKey};

const PARTIAL_SUFFIX: &str = ".partial";

#[derive(Clone)]
pub struct SealedDirectory {
    files: RamDirectory,
    root: PathBuf,
    key: Arc<SecretKey>,
}

impl std::fmt::Debug for SealedDirectory {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "SealedDirectory({})", self.root.display())
    }
}

/// A file of the folder does not open under the key: altered, or sealed under another key.
#[derive(Debug, thiserror::Error)]
pub enum SealedDirError {
    #[error("sealed index file {0} does not open: altered, or sealed under another key")]
    DoesNotOpen(String),
    #[error("sealed index folder: {0}")]
    Io(#[from] io::Error),
}

impl SealedDirectory {
    /// Opens every file under `root` into memory (creating `root` if missing).
    pub fn open(root: &Path, key: Arc<SecretKey>) -> Result<Self, SealedDirError> {
        std::fs::create_dir_all(root)?;
        let files = RamDirectory::create();
        for entry in std::fs::read_dir(root)? {
            let entry = entry?;
            let name = entry.file_name().to_string_lossy().into_owned();
            if !entry.file_type()?.is_file() {
                continue;
            }
            if name.ends_with(PARTIAL_SUFFIX) {
                // Left by a crash before its rename; never part of a commit.
                std::fs::remove_file(entry.path())?;
                continue;
            }
            let sealed = std::fs::read(entry.path())?;
            let plain = sealing::open(&key, &Place::IndexFile { name: &name }, &sealed).map_err(|_| SealedDirError::DoesNotOpen(name.clone()))?;
            files.atomic_write(Path::new(&name), &plain)?;
        }
        Ok(Self { files, root: root.to_owned(), key })
    }

    /// Seals `data` to `<root>/<name>`: written beside, synced, renamed into place.
    fn persist(&self, path: &Path, data: &[u8]) -> io::Result<()> {
        let name = path.to_str().filter(|n| !n.contains('/') && !n.contains('\\')).ok_or_else(|| io::Error::other(format!("unexpected index file name {}", path.display())))?;
        let sealed = sealing::seal(&self.key, &Place::IndexFile { name }, data);
        let partial = self.root.join(format!("{name}{PARTIAL_SUFFIX}"));
        let mut file = std::fs::File::create(&partial)?;
        file.write_all(&sealed)?;
        file.sync_all()?;
        std::fs::rename(&partial, self.root.join(name))
    }
}

impl Directory for SealedDirectory {
    fn get_file_handle(&self, path: &Path) -> Result<Arc<dyn FileHandle>, OpenReadError> {
        self.files.get_file_handle(path)
    }

    fn delete(&self, path: &Path) -> Result<(), DeleteError> {
        self.files.delete(path)?;
        match std::fs::remove_file(self.root.join(path)) {
            Err(e) if e.kind() != io::ErrorKind::NotFound => Err(DeleteError::IoError { io_error: Arc::new(e), filepath: path.to_owned() }),
            _ => Ok(()),
        }
    }

    fn exists(&self, path: &Path) -> Result<bool, OpenReadError> {
        self.files.exists(path)
    }

    fn open_write(&self, path: &Path) -> Result<WritePtr, OpenWriteError> {
        if self.files.exists(path).unwrap_or(false) {
            return Err(OpenWriteError::FileAlreadyExists(path.to_owned()));
        }
        Ok(BufWriter::new(Box::new(SealedWriter { directory: self.clone(), path: path.to_owned(), buffer: Vec::new() })))
    }

    fn atomic_read(&self, path: &Path) -> Result<Vec<u8>, OpenReadError> {
        self.files.atomic_read(path)
    }

    fn atomic_write(&self, path: &Path, data: &[u8]) -> io::Result<()> {
        self.persist(path, data)?;
        self.files.atomic_write(path, data)
    }

    fn sync_directory(&self) -> io::Result<()> {
        std::fs::File::open(&self.root)?.sync_all()
    }

    /// Locks live in memory: one process opens this folder (the plain index beside it holds
    /// the file lock that keeps a second process out).
    fn acquire_lock(&self, lock: &Lock) -> Result<DirectoryLock, LockError> {
        self.files.acquire_lock(lock)
    }

    fn watch(&self, watch_callback: WatchCallback) -> tantivy::Result<WatchHandle> {
        self.files.watch(watch_callback)
    }
}

/// Gathers a file in memory and seals it to disk when tantivy says it is complete.
struct SealedWriter {
    directory: SealedDirectory,
    path: PathBuf,
    buffer: Vec<u8>,
}

impl Write for SealedWriter {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.buffer.extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl TerminatingWrite for SealedWriter {
    fn terminate_ref(&mut self, _: AntiCallToken) -> io::Result<()> {
        let data = std::mem::take(&mut self.buffer);
        self.directory.persist(&self.path, &data)?;
        self.directory.files.atomic_write(&self.path, &data)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn files_are_sealed_on_disk_and_open_again() {
        let dir = tempfile::tempdir().unwrap();
        let key = Arc::new(SecretKey::generate());
        let d = SealedDirectory::open(dir.path(), key.clone()).unwrap();
        let mut w = d.open_write(Path::new("seg.idx")).unwrap();
        w.write_all("机密正文 marker-7781".as_bytes()).unwrap();
        w.into_inner().map_err(|e| e.into_error()).unwrap().terminate().unwrap();
        d.atomic_write(Path::new("meta.json"), b"{\"marker-7781\":1}").unwrap();
        for entry in std::fs::read_dir(dir.path()).unwrap() {
            let bytes = std::fs::read(entry.unwrap().path()).unwrap();
            assert!(!bytes.windows(11).any(|w| w == b"marker-7781"));
        }
        let again = SealedDirectory::open(dir.path(), key).unwrap();
        assert_eq!(again.atomic_read(Path::new("meta.json")).unwrap(), b"{\"marker-7781\":1}");
        let slice = again.open_read(Path::new("seg.idx")).unwrap();
        assert_eq!(slice.read_bytes().unwrap().as_slice(), "机密正文 marker-7781".as_bytes());
        assert!(matches!(SealedDirectory::open(dir.path(), Arc::new(SecretKey::generate())), Err(SealedDirError::DoesNotOpen(_))));
        // A file renamed over another does not open under the other's name.
        std::fs::copy(dir.path().join("seg.idx"), dir.path().join("meta.json")).unwrap();
        assert!(SealedDirectory::open(dir.path(), Arc::new(SecretKey::from_slice(d.key.expose()).unwrap())).is_err());
    }
}
