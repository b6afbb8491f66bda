//! Files on their way in: hashed while they are written, bodies checked as UTF-8 text on the
//! fly, sealed chunk by chunk when the document is classified, nothing held whole in memory.

use std::sync::Arc;

use bytes::Bytes;
use sha2::{Digest as _, Sha256};
use tokio::sync::mpsc;

use super::{Henji, ServiceError, ServiceResult, cache};
use crate::domain::ids::Sha256Digest;
use crate::domain::manifest::{AttachmentRef, BodyRef};
use crate::domain::sealing::{BlobRole, BlobSealer, Place, SecretKey};
use crate::domain::text::Utf8Counter;
use crate::resources::blob_store::{BlobWriter, StoredBlob};

/// The name and media type of a body; bodies are always UTF-8 text.
pub const BODY_NAME: &str = "body.txt";
pub const BODY_MEDIA_TYPE: &str = "text/plain; charset=utf-8";

/// Longest attachment name kept; names longer than this are cut at a character boundary.
const MAX_NAME_CHARS: usize = 255;

/// Where the files of a classified document are sealed: its data key and the base revision.
#[derive(Clone, Debug)]
pub struct UploadSealing {
    pub key: Arc<SecretKey>,
    pub document: String,
    pub base: String,
}

impl UploadSealing {
    fn sealer(&self, role: BlobRole) -> BlobSealer {
        BlobSealer::new(&self.key, &Place::Blob { document: &self.document, base: &self.base, role })
    }
}

/// Past this many bytes a file is sealed on a thread of its own (see `SealingPipe`); below it,
/// handing chunks between threads would cost more than sealing them in place.
const PIPE_AFTER: u64 = 1024 * 1024;

enum Sealing {
    Inline(BlobSealer),
    Piped(SealingPipe),
}

pub struct Upload {
    writer: BlobWriter,
    /// With the base it binds, when the file is sealed.
    sealer: Option<(Sealing, String)>,
    plain_size: u64,
    text: Option<Utf8Counter>,
    /// The request path of this part, for error messages (`body`, `attachment.2`).
    field: String,
    name: String,
    media_type: String,
}

/// A file that is now in the object store.
#[derive(Clone, Debug)]
pub struct UploadedFile {
    /// What is in the store: the sealed bytes when `sealed_base` is set.
    pub blob: StoredBlob,
    pub plain_size: u64,
    pub sealed_base: Option<String>,
    pub chars: Option<u64>,
    pub name: String,
    pub media_type: String,
}

impl UploadedFile {
    pub fn body_ref(&self) -> BodyRef {
        BodyRef { sha256: self.blob.digest, size: self.plain_size, chars: self.chars.unwrap_or(0), sealed_base: self.sealed_base.clone() }
    }

    pub fn attachment_ref(&self) -> AttachmentRef {
        AttachmentRef { name: self.name.clone(), media_type: self.media_type.clone(), size: self.plain_size, sha256: self.blob.digest, sealed_base: self.sealed_base.clone() }
    }
}

impl Henji {
    pub fn body_upload(&self, sealing: Option<&UploadSealing>) -> Upload {
        Upload {
            writer: self.blobs.writer(),
            sealer: sealing.map(|s| (Sealing::Inline(s.sealer(BlobRole::Body)), s.base.clone())),
            plain_size: 0,
            text: Some(Utf8Counter::default()),
            field: "body".into(),
            name: BODY_NAME.into(),
            media_type: BODY_MEDIA_TYPE.into(),
        }
    }

    pub fn attachment_upload(&self, sealing: Option<&UploadSealing>, index: usize, name: Option<&str>, media_type: Option<&str>) -> ServiceResult<Upload> {
        let field = format!("attachment.{index}");
        let name = clean_file_name(name.unwrap_or("")).unwrap_or_else(|| format!("attachment-{}", index + 1));
        let media_type = match media_type {
            Some(m) if is_media_type(m) => m.to_owned(),
            Some(_) => return Err(ServiceError::invalid(field, "the part's Content-Type is not a media type")),
            None => "application/octet-stream".to_owned(),
        };
        let sealer = sealing.map(|s| (Sealing::Inline(s.sealer(BlobRole::Attachment)), s.base.clone()));
        Ok(Upload { writer: self.blobs.writer(), sealer, plain_size: 0, text: None, field, name, media_type })
    }

    /// Stores a text body given whole (JSON `body.text`), and keeps it in the body cache: the
    /// search follower reads it within a moment, and readers of a new revision soon after.
    pub async fn store_text_body(&self, sealing: Option<&UploadSealing>, text: &str) -> ServiceResult<UploadedFile> {
        let mut upload = self.body_upload(sealing);
        let text: Arc<str> = Arc::from(text);
        upload.write(cache::text_bytes(text.clone())).await?;
        let stored = self.finish_upload(upload).await?;
        self.caches.put_text_body(stored.blob.digest, text);
        Ok(stored)
    }

    pub async fn finish_upload(&self, mut upload: Upload) -> ServiceResult<UploadedFile> {
        let chars = match upload.text {
            Some(counter) => match counter.finish() {
                Ok(n) => Some(n),
                Err(e) => {
                    upload.writer.abort().await;
                    return Err(ServiceError::invalid(upload.field, e.to_string()));
                }
            },
            None => None,
        };
        let sealed_base = match upload.sealer {
            Some((Sealing::Inline(sealer), base)) => {
                for piece in sealer.finish() {
                    upload.writer.write(piece).await?;
                }
                Some(base)
            }
            Some((Sealing::Piped(pipe), base)) => {
                let digest = pipe.finish(&mut upload.writer).await?;
                let blob = upload.writer.finish_with(digest).await?;
                return Ok(self.uploaded(blob, upload.plain_size, Some(base), chars, upload.name, upload.media_type));
            }
            None => None,
        };
        let blob = upload.writer.finish().await?;
        Ok(self.uploaded(blob, upload.plain_size, sealed_base, chars, upload.name, upload.media_type))
    }

    fn uploaded(&self, blob: StoredBlob, plain_size: u64, sealed_base: Option<String>, chars: Option<u64>, name: String, media_type: String) -> UploadedFile {
        if blob.deduplicated {
            self.metrics.blobs_deduplicated.inc();
        }
        UploadedFile { blob, plain_size, sealed_base, chars, name, media_type }
    }
}

impl Upload {
    /// The request path this upload's errors name.
    pub fn set_field(&mut self, field: &str) {
        self.field = field.to_owned();
    }

    /// A chunk of the part; text that is not UTF-8 stops the upload before anything is stored.
    pub async fn write(&mut self, chunk: Bytes) -> ServiceResult<()> {
        if let Some(counter) = self.text.as_mut()
            && let Err(e) = counter.feed(&chunk)
        {
            return Err(ServiceError::invalid(self.field.clone(), e.to_string()));
        }
        self.plain_size += chunk.len() as u64;
        if self.plain_size > PIPE_AFTER
            && let Some((Sealing::Inline(_), _)) = &self.sealer
            && let Some((Sealing::Inline(sealer), base)) = self.sealer.take()
        {
            self.sealer = Some((Sealing::Piped(SealingPipe::start(sealer, self.writer.take_hasher())), base));
        }
        match self.sealer.as_mut() {
            Some((Sealing::Inline(sealer), _)) => {
                for piece in sealer.push(chunk) {
                    self.writer.write(piece).await?;
                }
            }
            Some((Sealing::Piped(pipe), _)) => pipe.push(chunk, &mut self.writer).await?,
            None => self.writer.write(chunk).await?,
        }
        Ok(())
    }

    pub async fn abort(self) {
        self.writer.abort().await;
    }
}

/// Seals (and hashes what it sealed) on a blocking thread while the request task goes on
/// receiving and writing: the two cores share the work that one does for a plain file.
struct SealingPipe {
    plain: Option<mpsc::Sender<Bytes>>,
    sealed: mpsc::Receiver<Bytes>,
    /// Gives the digest of everything the writer got, once the last piece is out.
    worker: Option<tokio::task::JoinHandle<Option<Sha256Digest>>>,
}

impl SealingPipe {
    /// `hasher` has seen everything the writer got so far.
    fn start(mut sealer: BlobSealer, mut hasher: Sha256) -> Self {
        let (plain, mut chunks) = mpsc::channel::<Bytes>(8);
        let (pieces, sealed) = mpsc::channel::<Bytes>(8);
        let worker = tokio::task::spawn_blocking(move || {
            // A send fails only when the upload was dropped; then there is nothing left to do.
            let mut send = |piece: Bytes| {
                hasher.update(&piece);
                pieces.blocking_send(piece).is_ok()
            };
            while let Some(chunk) = chunks.blocking_recv() {
                for piece in sealer.push(chunk) {
                    if !send(piece) {
                        return None;
                    }
                }
            }
            for piece in sealer.finish() {
                if !send(piece) {
                    return None;
                }
            }
            Some(Sha256Digest::from_hasher(hasher))
        });
        Self { plain: Some(plain), sealed, worker: Some(worker) }
    }

    /// Hands a chunk to the sealer, writing sealed pieces as they come back meanwhile.
    async fn push(&mut self, chunk: Bytes, writer: &mut BlobWriter) -> ServiceResult<()> {
        let Self { plain, sealed, .. } = self;
        let plain = plain.as_ref().ok_or_else(|| ServiceError::Internal("sealing already finished".into()))?;
        let mut chunk = Some(chunk);
        while chunk.is_some() {
            tokio::select! {
                permit = plain.reserve() => {
                    let permit = permit.map_err(|_| ServiceError::Internal("the sealing thread stopped".into()))?;
                    permit.send(chunk.take().unwrap_or_default());
                }
                Some(piece) = sealed.recv() => writer.write(piece).await?,
            }
        }
        while let Ok(piece) = sealed.try_recv() {
            writer.write(piece).await?;
        }
        Ok(())
    }

    /// Writes the last pieces and gives the digest of all that was written.
    async fn finish(mut self, writer: &mut BlobWriter) -> ServiceResult<Sha256Digest> {
        drop(self.plain.take());
        while let Some(piece) = self.sealed.recv().await {
            writer.write(piece).await?;
        }
        let worker = self.worker.take().ok_or_else(|| ServiceError::Internal("sealing never started".into()))?;
        worker.await.map_err(|e| ServiceError::Internal(format!("sealing failed: {e}")))?.ok_or_else(|| ServiceError::Internal("sealing stopped early".into()))
    }
}

/// Keeps the last path component of a client's file name, without control characters.
fn clean_file_name(raw: &str) -> Option<String> {
    let last = raw.rsplit(['/', '\\']).next().unwrap_or("");
    let cleaned: String = last.chars().filter(|c| !c.is_control()).take(MAX_NAME_CHARS).collect();
    let cleaned = cleaned.trim().to_owned();
    if cleaned.is_empty() || cleaned == "." || cleaned == ".." { None } else { Some(cleaned) }
}

fn is_media_type(m: &str) -> bool {
    let essence = m.split(';').next().unwrap_or("").trim();
    let mut parts = essence.split('/');
    let ok = |s: Option<&str>| s.is_some_and(|s| !s.is_empty() && s.bytes().all(|b| b.is_ascii_alphanumeric() || b"!#$&-^_.+".contains(&b)));
    m.len() <= 255 && ok(parts.next()) && ok(parts.next()) && parts.next().is_none()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_names_lose_their_paths() {
        assert_eq!(clean_file_name("C:\\scans\\来文.pdf").as_deref(), Some("来文.pdf"));
        assert_eq!(clean_file_name("../../etc/passwd").as_deref(), Some("passwd"));
        assert_eq!(clean_file_name(".."), None);
        assert_eq!(clean_file_name(""), None);
    }

    #[test]
    fn media_types_are_checked() {
        assert!(is_media_type("application/pdf"));
        assert!(is_media_type("text/plain; charset=utf-8"));
        assert!(!is_media_type("pdf"));
        assert!(!is_media_type("a/b/c"));
    }
}
