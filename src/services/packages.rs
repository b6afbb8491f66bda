//! Archive packages: each archive record as a BagIt bag (RFC 8493) inside a zip, streamed.
//!
//! A bag is planned first (small generated files in memory, bodies and attachments as
//! references), then written entry by entry into a streaming zip whose output is handed on in
//! chunks as it is produced: memory stays bounded by one chunk and the largest generated file,
//! whatever the size of the attachments, and `henji export` writes many bags in one zip the
//! same way.

use std::io::Write;
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use futures::StreamExt;
use futures::stream::BoxStream;
use sha2::{Digest, Sha256};
use tokio::sync::mpsc;
use zip::write::{SimpleFileOptions, StreamWriter};
use zip::{CompressionMethod, ZipWriter};

use super::archive::ArchiveRecordView;
use super::package_format::{PACKAGE_FORMAT, PackageAttachment, PackageMetadata, PackageOpinion, PackageRevision, PackageSealing, PackageText, PackageTrail, SEALING_FILE, SEALING_FORMAT, SealedFile};
use super::sealed::StoredBlobRef;
use super::traces::{TraceOutput, TraceStart};
use super::{Henji, ServiceError, ServiceResult, now};
use crate::domain::bagit::{self, BagInfo};
use crate::domain::ids::{DocumentId, RevisionId};
use crate::domain::manifest::RevisionManifest;
use crate::domain::people::Principal;
use crate::domain::sealing::{BLOB_HEADER_BYTES, BlobRole};
use crate::resources::catalog::archive::ArchiveRow;
use crate::resources::catalog::documents as doc_rows;
use crate::resources::catalog::keys as key_rows;
use super::opinions::OPINION_BASE;

/// Output is handed on in pieces of about this size.
const CHUNK: usize = 256 * 1024;
/// Pieces in flight between the writer and the reader.
const IN_FLIGHT: usize = 8;
/// Handwriting images are read whole (they are at most this big).
const MAX_INK: u64 = 32 * 1024 * 1024;
/// Where a payload file's bytes come from.
pub enum EntrySource {
    Bytes(Bytes),
    /// A body or attachment, streamed from the store (and opened, if sealed).
    Blob { blob: StoredBlobRef, size: u64 },
}

pub struct BagEntry {
    /// Below the bag's folder, e.g. `data/attachments/附件一.pdf`.
    pub path: String,
    pub source: EntrySource,
}

/// Everything one bag will hold.
pub struct BagPlan {
    pub archive_no: String,
    pub document: String,
    pub entries: Vec<BagEntry>,
    /// Tag files beyond the four every bag has.
    pub tags: Vec<(String, Bytes)>,
}

/// A bag to write: planned already, or planned when the writer gets to it.
pub enum Bag {
    Planned(BagPlan),
    Record(Box<ArchiveRow>),
}

/// A `Write` whose bytes are collected for the async side to send on.
#[derive(Clone, Default)]
struct Spool(Arc<Mutex<Vec<u8>>>);

impl Spool {
    fn take(&self) -> Vec<u8> {
        std::mem::take(&mut *self.0.lock().unwrap_or_else(|e| e.into_inner()))
    }

    fn len(&self) -> usize {
        self.0.lock().unwrap_or_else(|e| e.into_inner()).len()
    }
}

impl Write for Spool {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap_or_else(|e| e.into_inner()).extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

fn zip_error(e: impl std::fmt::Display) -> ServiceError {
    ServiceError::Internal(format!("writing the package: {e}"))
}

/// The reader went away (a closed connection): stop quietly.
struct Gone;

/// Writes bags into one zip, sending its bytes on as they are made.
struct PackageWriter {
    zip: ZipWriter<StreamWriter<Spool>>,
    spool: Spool,
    tx: mpsc::Sender<ServiceResult<Bytes>>,
}

impl PackageWriter {
    fn new(tx: mpsc::Sender<ServiceResult<Bytes>>) -> Self {
        let spool = Spool::default();
        Self { zip: ZipWriter::new_stream(spool.clone()), spool, tx }
    }

    async fn send(&mut self, all: bool) -> Result<(), Gone> {
        if all || self.spool.len() >= CHUNK {
            let bytes = self.spool.take();
            if !bytes.is_empty() {
                self.tx.send(Ok(Bytes::from(bytes))).await.map_err(|_| Gone)?;
            }
        }
        Ok(())
    }

    fn start(&mut self, path: &str, stored: bool, size: u64) -> ServiceResult<()> {
        let method = if stored { CompressionMethod::Stored } else { CompressionMethod::Deflated };
        // Past 4 GiB a zip entry needs ZIP64 fields, which a stream must announce up front.
        let options = SimpleFileOptions::default().compression_method(method).large_file(size >= u64::from(u32::MAX) - (1 << 20));
        self.zip.start_file(path, options).map_err(zip_error)
    }

    /// One file whose bytes are at hand; returns its SHA-256.
    async fn small(&mut self, path: &str, bytes: &[u8]) -> Result<ServiceResult<String>, Gone> {
        if let Err(e) = self.start(path, false, bytes.len() as u64) {
            return Ok(Err(e));
        }
        for piece in bytes.chunks(CHUNK) {
            if let Err(e) = self.zip.write_all(piece) {
                return Ok(Err(zip_error(e)));
            }
            self.send(false).await?;
        }
        Ok(Ok(hex::encode(Sha256::digest(bytes))))
    }

    /// Writes one bag below `root/`.
    async fn bag(&mut self, henji: &Henji, who: &Principal, root: &str, plan: BagPlan) -> Result<ServiceResult<()>, Gone> {
        let mut payload: Vec<(String, String)> = Vec::with_capacity(plan.entries.len());
        let mut octets = 0u64;
        let tag = |name: &str| format!("{root}/{name}");
        let bagit_digest = match self.small(&tag(bagit::BAGIT), bagit::BAGIT_TXT.as_bytes()).await? {
            Ok(d) => d,
            Err(e) => return Ok(Err(e)),
        };
        for entry in plan.entries {
            let path = format!("{root}/{}", entry.path);
            let digest = match entry.source {
                EntrySource::Bytes(bytes) => {
                    octets += bytes.len() as u64;
                    match self.small(&path, &bytes).await? {
                        Ok(d) => d,
                        Err(e) => return Ok(Err(e)),
                    }
                }
                EntrySource::Blob { blob, size } => match self.blob(henji, who, &plan.document, &path, &blob, size).await? {
                    Ok((d, n)) => {
                        octets += n;
                        d
                    }
                    Err(e) => return Ok(Err(e)),
                },
            };
            payload.push((entry.path, digest));
        }
        let info = BagInfo {
            source_organization: henji.settings.organization.clone(),
            bagging_date: now()[..10].to_owned(),
            payload_bytes: octets,
            payload_files: payload.len() as u64,
            external_identifier: plan.archive_no.clone(),
            extra: vec![("Bag-Software-Agent".into(), format!("henji {}", env!("CARGO_PKG_VERSION"))), ("Internal-Sender-Identifier".into(), plan.document.clone())],
        };
        let mut tags = vec![(bagit::BAGIT.to_owned(), bagit_digest)];
        let standard = [(bagit::MANIFEST.to_owned(), Bytes::from(bagit::manifest(&payload))), (bagit::BAG_INFO.to_owned(), Bytes::from(info.render()))];
        for (name, bytes) in standard.into_iter().chain(plan.tags) {
            match self.small(&tag(&name), &bytes).await? {
                Ok(d) => tags.push((name, d)),
                Err(e) => return Ok(Err(e)),
            }
        }
        if let Err(e) = self.small(&tag(bagit::TAG_MANIFEST), bagit::manifest(&tags).as_bytes()).await? {
            return Ok(Err(e));
        }
        Ok(Ok(()))
    }

    /// A body or attachment, streamed and hashed; a plain blob must hash to its own name.
    async fn blob(&mut self, henji: &Henji, who: &Principal, document: &str, path: &str, blob: &StoredBlobRef, size: u64) -> Result<ServiceResult<(String, u64)>, Gone> {
        let mut stream = match henji.blob_stream(who, document, blob).await {
            Ok(s) => s,
            Err(e) => return Ok(Err(e)),
        };
        if let Err(e) = self.start(path, true, size) {
            return Ok(Err(e));
        }
        let mut hasher = Sha256::new();
        let mut written = 0u64;
        while let Some(chunk) = stream.next().await {
            let chunk = match chunk {
                Ok(c) => c,
                Err(e) => return Ok(Err(e)),
            };
            hasher.update(&chunk);
            written += chunk.len() as u64;
            if let Err(e) = self.zip.write_all(&chunk) {
                return Ok(Err(zip_error(e)));
            }
            self.send(false).await?;
        }
        let digest = hex::encode(hasher.finalize());
        if blob.sealed.is_none() && digest != blob.digest.to_hex() {
            return Ok(Err(ServiceError::Integrity(format!("blob {} does not match its digest", blob.digest))));
        }
        Ok(Ok((digest, written)))
    }

    async fn finish(self) -> Result<ServiceResult<()>, Gone> {
        let PackageWriter { zip, spool, tx } = self;
        if let Err(e) = zip.finish() {
            return Ok(Err(zip_error(e)));
        }
        let rest = spool.take();
        if !rest.is_empty() {
            tx.send(Ok(Bytes::from(rest))).await.map_err(|_| Gone)?;
        }
        Ok(Ok(()))
    }
}

/// A file name safe inside `data/attachments/`: the stored name without path separators, made
/// unique among the names already used.
fn unique_name(name: &str, used: &mut std::collections::BTreeSet<String>) -> String {
    let clean: String = name.chars().map(|c| if c == '/' || c == '\\' || c.is_control() { '_' } else { c }).collect();
    let clean = if clean.is_empty() || clean == "." || clean == ".." { "attachment".to_owned() } else { clean };
    let (stem, ext) = match clean.rfind('.') {
        Some(i) if i > 0 => (clean[..i].to_owned(), clean[i..].to_owned()),
        _ => (clean.clone(), String::new()),
    };
    let mut candidate = clean;
    let mut n = 2;
    while !used.insert(candidate.clone()) {
        candidate = format!("{stem} ({n}){ext}");
        n += 1;
    }
    candidate
}

fn json_bytes(v: &impl serde::Serialize) -> ServiceResult<Bytes> {
    serde_json::to_vec_pretty(v).map(Bytes::from).map_err(|e| ServiceError::Internal(format!("package metadata: {e}")))
}

impl Henji {
    /// What the bag of an archive record holds, for a caller who may read it. A record with
    /// sealed content carries its data key wrapped by `transfer_kek` (a key of this keyring that
    /// the receiving installation holds too), or else by the key that wraps it here.
    pub(super) async fn bag_plan(&self, who: &Principal, record: &ArchiveRow, transfer_kek: Option<&str>) -> ServiceResult<BagPlan> {
        if record.disposed_at.is_some() {
            return Err(ServiceError::Gone(format!("archive record {} was disposed of; its content is gone for good", record.archive_no)));
        }
        let document = self.get_document(who, &record.document_id).await?;
        let mut entries = Vec::new();
        let (revisions, attachments) = self.revision_entries(record, &mut entries).await?;

        let traces = self.render_trace(who, &record.document_id, TraceOutput::Html, Some(TraceStart::Empty), None).await?;
        entries.push(BagEntry { path: "data/traces.html".into(), source: EntrySource::Bytes(traces.bytes) });
        let (opinions, inks_sealed) = self.opinion_entries(who, &record.document_id, document.classification.is_classified(), &mut entries).await?;
        entries.push(BagEntry { path: "data/opinions.json".into(), source: EntrySource::Bytes(json_bytes(&opinions)?) });
        let route = match self.get_route(who, &record.document_id).await {
            Ok(r) => Some(r),
            Err(ServiceError::NotFound(_)) => None,
            Err(e) => return Err(e),
        };
        let trail = PackageTrail { route, trail: self.trail(who, &record.document_id).await? };
        entries.push(BagEntry { path: "data/trail.json".into(), source: EntrySource::Bytes(json_bytes(&trail)?) });

        let classification = document.classification;
        let metadata = PackageMetadata {
            format: PACKAGE_FORMAT.into(),
            archive: ArchiveRecordView::from_row(record.clone(), &now())?,
            document,
            body: revisions.last().and_then(|r| r.body.clone()),
            revisions,
            attachments,
            traces: "data/traces.html".into(),
            opinions: "data/opinions.json".into(),
            trail: "data/trail.json".into(),
        };
        entries.push(BagEntry { path: "data/metadata.json".into(), source: EntrySource::Bytes(json_bytes(&metadata)?) });
        let sealed_blobs = entries.iter().filter_map(|e| match &e.source {
            EntrySource::Blob { blob, .. } if blob.sealed.is_some() => Some((e.path.clone(), blob.clone())),
            _ => None,
        });
        let sealed_blobs: Vec<(String, StoredBlobRef)> = sealed_blobs.chain(inks_sealed).collect();
        let tags = match self.package_sealing(&record.document_id, sealed_blobs, transfer_kek).await? {
            Some(sealing) => vec![(SEALING_FILE.to_owned(), json_bytes(&sealing)?)],
            None => Vec::new(),
        };
        self.audit_if_classified(who, &record.document_id, classification, "package.read", || format!("archive/{}", record.archive_no)).await?;
        Ok(BagPlan { archive_no: record.archive_no.clone(), document: record.document_id.clone(), entries, tags })
    }

    /// Every revision's manifest (checked against its id), each distinct body, and each
    /// attachment once under its own name.
    async fn revision_entries(&self, record: &ArchiveRow, entries: &mut Vec<BagEntry>) -> ServiceResult<(Vec<PackageRevision>, Vec<PackageAttachment>)> {
        let doc_id: DocumentId = record.document_id.parse().map_err(|_| ServiceError::Internal(format!("archive record {}: document id", record.archive_no)))?;
        let mut revisions = Vec::new();
        let mut attachments = Vec::new();
        let mut bodies_seen = std::collections::BTreeMap::new();
        let mut attachments_seen = std::collections::BTreeMap::new();
        let mut names = std::collections::BTreeSet::new();
        let mut after = 0;
        loop {
            let rows = doc_rows::revisions(&mut *self.catalog.read().await?, &record.document_id, after, 500).await?;
            let Some(last) = rows.last().map(|r| r.seq) else { break };
            for row in rows {
                let rev: RevisionId = row.id.parse().map_err(|_| ServiceError::Internal(format!("revision id {:?}", row.id)))?;
                let bytes = self.blobs.get_manifest(&doc_id, &rev).await?;
                if RevisionId::of_manifest(&bytes) != rev {
                    return Err(ServiceError::Integrity(format!("manifest of revision {rev} does not match its id")));
                }
                let manifest = RevisionManifest::parse(&bytes).map_err(|e| ServiceError::Integrity(format!("revision {rev}: {e}")))?;
                let manifest_path = format!("data/revisions/{:04}-{rev}.json", row.seq);
                entries.push(BagEntry { path: manifest_path.clone(), source: EntrySource::Bytes(bytes) });
                let body_path = match &manifest.body {
                    Some(body) => {
                        let path = bodies_seen.entry(body.sha256).or_insert_with(|| format!("data/revisions/{:04}-{rev}.txt", row.seq)).clone();
                        if !entries.iter().any(|e| e.path == path) {
                            let blob = StoredBlobRef::new(body.sha256, BlobRole::Body, body.sealed_base.as_deref());
                            entries.push(BagEntry { path: path.clone(), source: EntrySource::Blob { blob, size: body.size } });
                        }
                        Some(path)
                    }
                    None => None,
                };
                for a in &manifest.attachments {
                    if attachments_seen.contains_key(&a.sha256) {
                        continue;
                    }
                    let path = format!("data/attachments/{}", unique_name(&a.name, &mut names));
                    attachments_seen.insert(a.sha256, path.clone());
                    let blob = StoredBlobRef::new(a.sha256, BlobRole::Attachment, a.sealed_base.as_deref());
                    entries.push(BagEntry { path: path.clone(), source: EntrySource::Blob { blob, size: a.size } });
                    attachments.push(PackageAttachment { name: a.name.clone(), media_type: a.media_type.clone(), size: a.size, stored_sha256: a.sha256.to_hex(), path, first_revision: rev.to_string(), text: None });
                }
                revisions.push(PackageRevision {
                    seq: row.seq,
                    id: rev.to_string(),
                    parent: row.parent,
                    author: row.author,
                    created_at: row.created_at,
                    note: row.note,
                    manifest: manifest_path,
                    body: body_path,
                    attachments: manifest.attachments.iter().map(|a| attachments_seen.get(&a.sha256).cloned()).collect(),
                });
            }
            after = last;
        }
        // Each attachment's text beside it.
        let texts = self.texts_of(&attachments.iter().map(|a| a.stored_sha256.clone()).collect::<Vec<_>>()).await?;
        for a in &mut attachments {
            let Some((_, text)) = texts.get(&a.stored_sha256) else { continue };
            let file_name = a.path.rsplit('/').next().unwrap_or(&a.name);
            let path = format!("data/attachments/{}", unique_name(&format!("{file_name}.txt"), &mut names));
            let joined = text.pages.iter().map(|p| p.text.as_str()).collect::<Vec<_>>().join("\u{c}");
            entries.push(BagEntry { path: path.clone(), source: EntrySource::Bytes(Bytes::from(joined)) });
            a.text = Some(PackageText { path, engine: text.engine.clone(), pages: text.pages.len() });
        }
        Ok((revisions, attachments))
    }

    /// The opinions, each handwriting image as uploaded beside them; returns the opinions and
    /// the images that are sealed at rest (for the sealing record).
    async fn opinion_entries(&self, who: &Principal, document: &str, classified: bool, entries: &mut Vec<BagEntry>) -> ServiceResult<(Vec<PackageOpinion>, Vec<(String, StoredBlobRef)>)> {
        let mut opinions = Vec::new();
        let mut inks_sealed = Vec::new();
        let mut cursor = String::new();
        loop {
            let page = self.list_opinions(who, document, &cursor, 500).await?;
            let Some(last) = page.last().map(|o| o.id.clone()) else { break };
            for o in page {
                let mut ink_path = None;
                if let (Some(sha), Some(media)) = (&o.ink_sha256, &o.ink_media_type) {
                    let ext = match media.as_str() {
                        "image/png" => "png",
                        "image/jpeg" => "jpg",
                        _ => "svg",
                    };
                    let path = format!("data/opinions/{}.{ext}", o.id);
                    let digest = sha.parse().map_err(|_| ServiceError::Internal(format!("opinion {}: ink digest", o.id)))?;
                    let blob = StoredBlobRef::new(digest, BlobRole::Attachment, classified.then_some(OPINION_BASE));
                    let bytes = self.small_blob(Some(&who.username), document, &blob, MAX_INK).await?.ok_or_else(|| ServiceError::Internal(format!("opinion {}: ink too large", o.id)))?;
                    if blob.sealed.is_some() {
                        inks_sealed.push((path.clone(), blob));
                    }
                    entries.push(BagEntry { path: path.clone(), source: EntrySource::Bytes(bytes) });
                    ink_path = Some(path);
                }
                opinions.push(PackageOpinion { opinion: o, ink_path });
            }
            cursor = last;
        }
        Ok((opinions, inks_sealed))
    }

    /// What another installation needs to take in this document's sealed content; `None` when
    /// it has none (no data key).
    async fn package_sealing(&self, document: &str, sealed_blobs: Vec<(String, StoredBlobRef)>, transfer_kek: Option<&str>) -> ServiceResult<Option<PackageSealing>> {
        let Some(row) = key_rows::data_key(&mut *self.catalog.read().await?, document).await? else { return Ok(None) };
        let row = match transfer_kek {
            Some(kek) if kek != row.kek_id => self.keys.wrap(document, &*self.data_key(document).await?, Some(kek))?,
            // Checks the key is live (not shredded) and opens, before it is handed on as stored.
            _ => self.data_key(document).await.map(|_| row)?,
        };
        let mut files = Vec::with_capacity(sealed_blobs.len());
        for (path, blob) in sealed_blobs {
            let Some((role, base)) = blob.sealed else { continue };
            let header = self.blobs.get_head(&blob.digest, BLOB_HEADER_BYTES as u64).await?;
            files.push(SealedFile { path, sealed_sha256: blob.digest.to_hex(), role: role.as_str().to_owned(), base: base.to_string(), header: hex::encode(header) });
        }
        Ok(Some(PackageSealing { format: SEALING_FORMAT.to_owned(), document: document.to_owned(), kek: row.kek_id, wrapped_data_key: row.wrapped, files }))
    }

    /// A zip of the given bags (each in a folder named by its archive number), streamed.
    /// Records are planned one at a time as the writer gets to them.
    pub fn package_stream(&self, who: Principal, bags: Vec<Bag>, transfer_kek: Option<String>) -> BoxStream<'static, ServiceResult<Bytes>> {
        let (tx, rx) = mpsc::channel(IN_FLIGHT);
        let henji = self.clone();
        tokio::spawn(async move {
            let mut writer = PackageWriter::new(tx.clone());
            for bag in bags {
                let plan = match bag {
                    Bag::Planned(plan) => Ok(plan),
                    Bag::Record(record) => henji.bag_plan(&who, &record, transfer_kek.as_deref()).await,
                };
                let archive_no = plan.as_ref().map(|p| p.archive_no.clone()).unwrap_or_default();
                let result = match plan {
                    Ok(plan) => writer.bag(&henji, &who, &plan.archive_no.clone(), plan).await,
                    Err(e) => Ok(Err(e)),
                };
                match result {
                    Ok(Ok(())) => {}
                    Ok(Err(e)) => {
                        tracing::warn!(%archive_no, error = %e, "package failed");
                        let _ = tx.send(Err(e)).await;
                        return;
                    }
                    Err(Gone) => return,
                }
            }
            if let Ok(Err(e)) = writer.finish().await {
                let _ = tx.send(Err(e)).await;
            }
        });
        futures::stream::unfold(rx, |mut rx| async move { rx.recv().await.map(|item| (item, rx)) }).boxed()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn attachment_names_stay_inside_and_unique() {
        let mut used = std::collections::BTreeSet::new();
        assert_eq!(unique_name("附件一 预算表.xlsx", &mut used), "附件一 预算表.xlsx");
        assert_eq!(unique_name("附件一 预算表.xlsx", &mut used), "附件一 预算表 (2).xlsx");
        assert_eq!(unique_name("../../etc/passwd", &mut used), ".._.._etc_passwd");
        assert_eq!(unique_name("..", &mut used), "attachment");
    }
}
