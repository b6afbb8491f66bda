//! Importing archive packages (`POST /api/v1/archive/import`, `henji import`): a bag made by
//! another installation is checked whole first (every payload and tag file against its
//! manifest, nothing missing, nothing extra, every revision id re-derived from its manifest),
//! and only then written: blobs, manifests, and one catalog transaction for the document, its
//! revisions, opinions, route and trail, distributions and the archive record.

use std::collections::{BTreeMap, BTreeSet};
use std::fs::File;
use std::io::Read;
use std::path::{Path, PathBuf};

use bytes::Bytes;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use tokio::sync::mpsc;
use zip::ZipArchive;

use super::archive::ArchiveRecordView;
use super::extraction::StoredAttachment;
use super::keys::KeyService;
use super::opinions::{OPINION_BASE, seal_opinion_text};
use super::uploads::{BODY_MEDIA_TYPE, BODY_NAME};
use super::package_format::{PACKAGE_FORMAT, PackageMetadata, PackageOpinion, PackageSealing, PackageTrail, SEALING_FILE, SEALING_FORMAT};
use super::sealed::{SealedFields, open_fields};
use super::{Henji, ServiceError, ServiceResult, now};
use crate::domain::archive;
use crate::domain::bagit;
use crate::domain::ids::{DocumentId, RevisionId, Sha256Digest};
use crate::domain::manifest::RevisionManifest;
use crate::domain::access;
use crate::domain::people::{DocumentState, Principal};
use crate::domain::sealing::{self, BlobRole, BlobSealer, Place, SecretKey};
use crate::resources::catalog::Conn;
use crate::resources::catalog::archive::{self as archive_rows, ArchiveRow};
use super::documents::revision_row;
use crate::resources::catalog::documents::{self as doc_rows, DocumentRow, NewBlobReference};
use crate::resources::catalog::keys as key_rows;
use crate::resources::catalog::people::{DepartmentRow, department_exists, insert_department};
use crate::resources::catalog::routing::{self as route_rows, OpinionRow, RouteRow, TaskRow};

/// Read from the zip in pieces of this size.
const PIECE: usize = 256 * 1024;
/// Generated files (metadata, manifests, opinions, trail) are read whole up to this size.
const MAX_SMALL: u64 = 64 * 1024 * 1024;

/// A bag read and checked, ready to write.
struct CheckedBag {
    root: String,
    metadata: PackageMetadata,
    /// Revisions in order: (manifest bytes, parsed).
    manifests: Vec<(RevisionId, Bytes, RevisionManifest)>,
    opinions: Vec<PackageOpinion>,
    trail: PackageTrail,
    /// Payload files holding blob content, by the digest the manifests name them by.
    blobs: BTreeMap<Sha256Digest, String>,
    /// The document's data key and how each sealed file was sealed, when it has sealed content.
    sealing: Option<CarriedSealing>,
}

/// Sealed content as a package carries it: the plaintext in the payload, and what it takes to
/// seal it again to the very bytes the manifests name.
struct CarriedSealing {
    key: SecretKey,
    /// By payload path.
    files: BTreeMap<String, SealSpec>,
}

struct SealSpec {
    digest: Sha256Digest,
    role: BlobRole,
    base: String,
    prefix: [u8; 8],
}

impl CarriedSealing {
    /// Reads `henji-sealing.json` and opens the data key it carries with this keyring.
    fn read(file: &str, bytes: &[u8], document: &DocumentId, keys: &KeyService) -> ServiceResult<Self> {
        let carried: PackageSealing = parse_json(file, bytes)?;
        if carried.format != SEALING_FORMAT || carried.document != document.to_string() {
            return Err(bad_file(file, format!("is not the {SEALING_FORMAT} record of document {document}")));
        }
        let key = keys.unwrap_carried(&carried.document, &carried.kek, &carried.wrapped_data_key).map_err(|e| {
            let why = match e {
                ServiceError::Unavailable(_) => format!("the document's data key is wrapped by key-encryption key {:?}, which this installation's keyring does not hold; add it to HENJI_KEYS or the key file (not last, or it becomes the active key) and import again", carried.kek),
                _ => format!("the document's data key does not open with this installation's key {:?}: the package was altered, or that id names another key here", carried.kek),
            };
            bad_file(file, why)
        })?;
        let mut files = BTreeMap::new();
        for f in carried.files {
            let digest = f.sealed_sha256.parse().map_err(|_| bad_file(file, format!("{}: sealed_sha256 is not a SHA-256 digest", f.path)))?;
            let role = BlobRole::parse(&f.role).ok_or_else(|| bad_file(file, format!("{}: role {:?} is not body or attachment", f.path, f.role)))?;
            let prefix = hex::decode(&f.header).ok().and_then(|h| sealing::blob_prefix(&h).ok()).ok_or_else(|| bad_file(file, format!("{}: header is not a sealed blob's header", f.path)))?;
            files.insert(f.path, SealSpec { digest, role, base: f.base, prefix });
        }
        Ok(Self { key, files })
    }

    fn sealer(&self, document: &str, spec: &SealSpec) -> BlobSealer {
        BlobSealer::with_prefix(&self.key, &Place::Blob { document, base: &spec.base, role: spec.role }, spec.prefix)
    }
}

fn bad_file(path: &str, detail: impl Into<String>) -> ServiceError {
    ServiceError::invalid(path, detail)
}

fn open_zip(path: &Path) -> ServiceResult<ZipArchive<File>> {
    let file = File::open(path).map_err(|e| ServiceError::Internal(format!("reading the package: {e}")))?;
    ZipArchive::new(file).map_err(|e| ServiceError::invalid("package", format!("not a readable zip: {e}")))
}

/// SHA-256 and size of one zip entry, read in pieces.
fn hash_entry(zip: &mut ZipArchive<File>, name: &str) -> ServiceResult<(String, u64)> {
    let mut hasher = Sha256::new();
    let total = read_entry(zip, name, |piece| hasher.update(piece))?;
    Ok((hex::encode(hasher.finalize()), total))
}

/// SHA-256 of a payload file as `sealer` seals it.
fn hash_sealed_entry(zip: &mut ZipArchive<File>, name: &str, mut sealer: BlobSealer) -> ServiceResult<Sha256Digest> {
    let mut hasher = Sha256::new();
    read_entry(zip, name, |piece| sealer.push(Bytes::copy_from_slice(piece)).iter().for_each(|p| hasher.update(p)))?;
    sealer.finish().iter().for_each(|p| hasher.update(p));
    Ok(Sha256Digest::from_hasher(hasher))
}

/// Feeds one zip entry to `f` in pieces; returns its size.
fn read_entry(zip: &mut ZipArchive<File>, name: &str, mut f: impl FnMut(&[u8])) -> ServiceResult<u64> {
    let mut entry = zip.by_name(name).map_err(|_| bad_file(name, "is listed in a manifest but missing from the package"))?;
    let mut buf = vec![0u8; PIECE];
    let mut total = 0u64;
    loop {
        let n = entry.read(&mut buf).map_err(|e| bad_file(name, format!("cannot be read from the zip: {e}")))?;
        if n == 0 {
            return Ok(total);
        }
        f(&buf[..n]);
        total += n as u64;
    }
}

fn read_small(zip: &mut ZipArchive<File>, name: &str) -> ServiceResult<Vec<u8>> {
    let entry = zip.by_name(name).map_err(|_| bad_file(name, "is missing from the package"))?;
    if entry.size() > MAX_SMALL {
        return Err(bad_file(name, "is too large for a file of its kind"));
    }
    let mut out = Vec::with_capacity(entry.size() as usize);
    entry.take(MAX_SMALL).read_to_end(&mut out).map_err(|e| bad_file(name, format!("cannot be read from the zip: {e}")))?;
    Ok(out)
}

fn parse_json<T: serde::de::DeserializeOwned>(name: &str, bytes: &[u8]) -> ServiceResult<T> {
    serde_json::from_slice(bytes).map_err(|e| bad_file(name, format!("is not what henji writes there: {e}")))
}

/// The names of every entry of the zip.
fn entry_names(zip: &ZipArchive<File>) -> ServiceResult<Vec<String>> {
    zip.file_names().map(|n| n.map(|n| n.into_owned()).map_err(|e| ServiceError::invalid("package", format!("a file name in the zip is unreadable: {e}")))).collect()
}

/// The folders at the top of the zip: one per bag.
pub fn bag_roots(zip_path: &Path) -> ServiceResult<Vec<String>> {
    let zip = open_zip(zip_path)?;
    let mut roots = BTreeSet::new();
    for name in entry_names(&zip)? {
        match name.split_once('/') {
            Some((root, _)) if !root.is_empty() => {
                roots.insert(root.to_owned());
            }
            _ => return Err(bad_file(&name, "a package holds bags in folders; this file is outside any")),
        }
    }
    if roots.is_empty() {
        return Err(ServiceError::invalid("package", "the zip is empty"));
    }
    Ok(roots.into_iter().collect())
}

/// The BagIt side of a bag, checked: the payload manifest, the tag manifest and bag-info.txt.
struct CheckedTags {
    /// Payload path → SHA-256.
    manifest: BTreeMap<String, String>,
    /// Tag file → SHA-256.
    tags: BTreeMap<String, String>,
    info: BTreeMap<String, String>,
}

/// Checks one bag completely; nothing is written. Runs on a blocking thread.
fn check_bag(zip_path: &Path, root: &str, keys: &KeyService) -> ServiceResult<CheckedBag> {
    let mut zip = open_zip(zip_path)?;
    let at = |p: &str| format!("{root}/{p}");
    let bag = check_tags(&mut zip, root)?;

    // The content: what henji wrote, and revision ids that re-derive.
    let meta_path = at("data/metadata.json");
    let metadata: PackageMetadata = parse_json(&meta_path, &read_small(&mut zip, &meta_path)?)?;
    if metadata.format != PACKAGE_FORMAT {
        return Err(bad_file(&meta_path, format!("format {:?} is not {PACKAGE_FORMAT}", metadata.format)));
    }
    if bag.info.get("External-Identifier") != Some(&metadata.archive.archive_no) || !archive::is_archive_number(&metadata.archive.archive_no) {
        return Err(bad_file(&at(bagit::BAG_INFO), "External-Identifier is not the archive number of metadata.json"));
    }
    let document: DocumentId = metadata.document.id.parse().map_err(|_| bad_file(&meta_path, "document.id is not a document id"))?;
    let sealing_path = at(SEALING_FILE);
    let sealing = match bag.tags.contains_key(SEALING_FILE) {
        true => Some(CarriedSealing::read(&sealing_path, &read_small(&mut zip, &sealing_path)?, &document, keys)?),
        false => None,
    };
    if metadata.document.classification.is_classified() && sealing.is_none() {
        return Err(bad_file(&sealing_path, "is missing: a classified record's content is sealed at rest, and the package must carry its data key"));
    }
    let (manifests, blobs) = check_revisions(&mut zip, root, &bag, &metadata, &document, sealing.as_ref())?;
    let opinions_path = at(&metadata.opinions);
    let opinions: Vec<PackageOpinion> = parse_json(&opinions_path, &read_small(&mut zip, &opinions_path)?)?;
    for o in &opinions {
        if let (Some(sha), Some(path)) = (&o.opinion.ink_sha256, &o.ink_path) {
            let sealed_as = sealing.as_ref().and_then(|s| s.files.get(path)).filter(|s| s.role == BlobRole::Attachment && s.base == OPINION_BASE).map(|s| s.digest.to_hex());
            if bag.manifest.get(path) != Some(sha) && sealed_as.as_ref() != Some(sha) {
                return Err(bad_file(&at(path), "is not the handwriting image its opinion names"));
            }
        }
    }
    // Every sealed file must seal again to the bytes it is named by; the payload manifest has
    // checked its plaintext already.
    if let Some(s) = &sealing {
        let doc = document.to_string();
        for (path, spec) in &s.files {
            if hash_sealed_entry(&mut zip, &at(path), s.sealer(&doc, spec))? != spec.digest {
                return Err(bad_file(&at(path), format!("does not seal again to blob {}: the package's sealing record or this file was altered", spec.digest)));
            }
        }
    }
    let trail_path = at(&metadata.trail);
    let trail: PackageTrail = parse_json(&trail_path, &read_small(&mut zip, &trail_path)?)?;
    Ok(CheckedBag { root: root.to_owned(), metadata, manifests, opinions, trail, blobs, sealing })
}

/// RFC 8493: tag files against the tag manifest first (a changed manifest must not be trusted
/// to check the payload), then every payload file against the manifest, nothing unlisted, and
/// Payload-Oxum.
fn check_tags(zip: &mut ZipArchive<File>, root: &str) -> ServiceResult<CheckedTags> {
    let at = |p: &str| format!("{root}/{p}");
    let bagit_txt = String::from_utf8(read_small(zip, &at(bagit::BAGIT))?).map_err(|_| bad_file(&at(bagit::BAGIT), "is not UTF-8"))?;
    if !bagit_txt.contains("BagIt-Version:") {
        return Err(bad_file(&at(bagit::BAGIT), "does not declare a BagIt version"));
    }
    let text = |zip: &mut ZipArchive<File>, name: &str| -> ServiceResult<String> {
        String::from_utf8(read_small(zip, &at(name))?).map_err(|_| bad_file(&at(name), "is not UTF-8"))
    };
    let manifest = bagit::parse_manifest(bagit::MANIFEST, &text(zip, bagit::MANIFEST)?).map_err(|e| bad_file(&at(bagit::MANIFEST), e.to_string()))?;
    let tags = bagit::parse_manifest(bagit::TAG_MANIFEST, &text(zip, bagit::TAG_MANIFEST)?).map_err(|e| bad_file(&at(bagit::TAG_MANIFEST), e.to_string()))?;
    for (path, digest) in &tags {
        let (found, _) = hash_entry(zip, &at(path))?;
        if &found != digest {
            return Err(bad_file(&at(path), "its SHA-256 does not match tagmanifest-sha256.txt"));
        }
    }
    for required in [bagit::BAGIT, bagit::MANIFEST, bagit::BAG_INFO] {
        if !tags.contains_key(required) {
            return Err(bad_file(&at(bagit::TAG_MANIFEST), format!("does not list {required}")));
        }
    }
    let mut octets = 0u64;
    for (path, digest) in &manifest {
        if !path.starts_with("data/") {
            return Err(bad_file(&at(bagit::MANIFEST), format!("lists {path:?}, outside data/")));
        }
        let (found, size) = hash_entry(zip, &at(path))?;
        if &found != digest {
            return Err(bad_file(&at(path), "its SHA-256 does not match manifest-sha256.txt"));
        }
        octets += size;
    }
    // Complete: every payload file is in the manifest.
    let prefix = at("data/");
    for name in entry_names(zip)? {
        if let Some(rest) = name.strip_prefix(&prefix)
            && !name.ends_with('/')
            && !manifest.contains_key(&format!("data/{rest}"))
        {
            return Err(bad_file(&name, "is in the payload but not in manifest-sha256.txt"));
        }
    }
    let info = bagit::parse_bag_info(&text(zip, bagit::BAG_INFO)?);
    if let Some(oxum) = info.get("Payload-Oxum") {
        let (bytes, files) = bagit::parse_oxum(oxum).map_err(|e| bad_file(&at(bagit::BAG_INFO), e.to_string()))?;
        if bytes != octets || files != manifest.len() as u64 {
            return Err(bad_file(&at(bagit::BAG_INFO), "Payload-Oxum does not match the payload"));
        }
    }
    Ok(CheckedTags { manifest, tags, info })
}

/// The revision chain: every manifest re-derives its id and continues the one before; every
/// blob it names is in the payload (plain: under its digest; sealed: as the sealing record
/// says). Returns the manifests in order and the payload file of each blob.
#[allow(clippy::type_complexity)]
fn check_revisions(
    zip: &mut ZipArchive<File>,
    root: &str,
    bag: &CheckedTags,
    metadata: &PackageMetadata,
    document: &DocumentId,
    sealing: Option<&CarriedSealing>,
) -> ServiceResult<(Vec<(RevisionId, Bytes, RevisionManifest)>, BTreeMap<Sha256Digest, String>)> {
    let at = |p: &str| format!("{root}/{p}");
    let (meta_path, sealing_path) = (at("data/metadata.json"), at(SEALING_FILE));
    let mut manifests = Vec::with_capacity(metadata.revisions.len());
    let mut blobs = BTreeMap::new();
    let mut parent: Option<RevisionId> = None;
    for r in &metadata.revisions {
        let path = at(&r.manifest);
        if !bag.manifest.contains_key(&r.manifest) {
            return Err(bad_file(&path, "is named by metadata.json but not in the payload"));
        }
        let bytes = Bytes::from(read_small(zip, &path)?);
        let id: RevisionId = r.id.parse().map_err(|_| bad_file(&meta_path, format!("revision {} is not a revision id", r.seq)))?;
        if RevisionId::of_manifest(&bytes) != id {
            return Err(bad_file(&path, "the revision id does not re-derive from the manifest"));
        }
        let m = RevisionManifest::parse(&bytes).map_err(|e| bad_file(&path, e.to_string()))?;
        if m.document != *document || m.parent != parent {
            return Err(bad_file(&path, "the manifest does not continue the document's history"));
        }
        if !m.sealed_fields.is_empty() {
            let sealing = sealing.ok_or_else(|| bad_file(&sealing_path, "is missing: the manifests hold sealed fields, and the package must carry their data key"))?;
            open_fields(&sealing.key, &document.to_string(), &m.seal_base(), &m.sealed_fields).map_err(|field| bad_file(&path, format!("sealed field {field:?} does not open with the carried data key")))?;
        }
        let mut sealed_blobs = Vec::new();
        if let (Some(body), Some(file)) = (&m.body, &r.body) {
            blobs.insert(body.sha256, file.clone());
            sealed_blobs.extend(body.sealed_base.as_ref().map(|base| (body.sha256, BlobRole::Body, base)));
        }
        for (a, file) in m.attachments.iter().zip(&r.attachments) {
            if let Some(file) = file {
                blobs.insert(a.sha256, file.clone());
                sealed_blobs.extend(a.sealed_base.as_ref().map(|base| (a.sha256, BlobRole::Attachment, base)));
            }
        }
        for digest in m.blobs() {
            let file = blobs.get(&digest).ok_or_else(|| bad_file(&path, format!("names blob {digest}, which the package does not hold")))?;
            match sealed_blobs.iter().find(|(d, _, _)| *d == digest) {
                // Sealed: checked by sealing it again (`check_bag`).
                Some((_, role, base)) => {
                    let spec = sealing.and_then(|s| s.files.get(file));
                    if !spec.is_some_and(|s| s.digest == digest && s.role == *role && s.base == **base) {
                        return Err(bad_file(&sealing_path, format!("does not say how {file} was sealed as blob {digest}")));
                    }
                }
                // A plain blob's name is the digest of its bytes, which the manifest has checked.
                None if bag.manifest.get(file) != Some(&digest.to_hex()) => return Err(bad_file(&at(file), format!("is not blob {digest}"))),
                None => {}
            }
        }
        parent = Some(id);
        manifests.push((id, bytes, m));
    }
    if parent.map(|p| p.to_string()) != Some(metadata.archive.head_revision.clone()) {
        return Err(bad_file(&meta_path, "archive.head_revision is not the last revision"));
    }
    Ok((manifests, blobs))
}

/// Streams one zip entry into the object store from a blocking reader thread, sealed on that
/// thread when a sealer is given.
async fn store_entry(henji: &Henji, zip_path: PathBuf, name: String, mut sealer: Option<BlobSealer>) -> ServiceResult<crate::resources::blob_store::StoredBlob> {
    let (tx, mut rx) = mpsc::channel::<ServiceResult<Bytes>>(4);
    let reader = tokio::task::spawn_blocking(move || {
        let result = (|| -> ServiceResult<()> {
            let mut zip = open_zip(&zip_path)?;
            let mut entry = zip.by_name(&name).map_err(|_| bad_file(&name, "is missing from the package"))?;
            loop {
                let mut buf = vec![0u8; PIECE];
                let n = entry.read(&mut buf).map_err(|e| bad_file(&name, format!("cannot be read: {e}")))?;
                let pieces = match (&mut sealer, n) {
                    (None, 0) => return Ok(()),
                    (None, _) => {
                        buf.truncate(n);
                        vec![Bytes::from(buf)]
                    }
                    (Some(_), 0) => sealer.take().map(BlobSealer::finish).unwrap_or_default(),
                    (Some(s), _) => {
                        buf.truncate(n);
                        s.push(Bytes::from(buf))
                    }
                };
                for piece in pieces {
                    if tx.blocking_send(Ok(piece)).is_err() {
                        return Ok(());
                    }
                }
                if n == 0 {
                    return Ok(());
                }
            }
        })();
        if let Err(e) = result {
            let _ = tx.blocking_send(Err(e));
        }
    });
    let mut writer = henji.blobs.writer();
    while let Some(piece) = rx.recv().await {
        match piece {
            Ok(bytes) => writer.write(bytes).await?,
            Err(e) => {
                writer.abort().await;
                return Err(e);
            }
        }
    }
    reader.await.map_err(|e| ServiceError::Internal(format!("reading the package: {e}")))?;
    Ok(writer.finish().await?)
}

/// A temporary file removed when dropped.
struct TempFile(PathBuf);

impl Drop for TempFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

impl Henji {
    /// Imports a package arriving as a stream (an HTTP body) of at most `limit` bytes: the
    /// caller's permission first, then the zip is spooled to a temporary file, then checked
    /// whole and written (`import_packages`).
    pub async fn import_upload<E: std::fmt::Display>(&self, who: &Principal, mut body: impl futures::Stream<Item = Result<Bytes, E>> + Unpin, limit: usize) -> ServiceResult<Vec<ArchiveRecordView>> {
        use futures::StreamExt;
        use tokio::io::AsyncWriteExt;
        access::check_import(who).map_err(|d| ServiceError::from_denied(d, "archive"))?;
        let temp = TempFile(std::env::temp_dir().join(format!("henji-import-{}.zip", ulid::Ulid::new())));
        let spool = |e: std::io::Error| ServiceError::Internal(format!("spooling the package: {e}"));
        let mut file = tokio::fs::File::create(&temp.0).await.map_err(spool)?;
        let mut size = 0usize;
        while let Some(chunk) = body.next().await {
            let chunk = chunk.map_err(|e| ServiceError::BadRequest(format!("the request body broke off: {e}")))?;
            size += chunk.len();
            if size > limit {
                return Err(ServiceError::TooLarge(format!("the package is larger than the configured limit of {limit} bytes")));
            }
            file.write_all(&chunk).await.map_err(spool)?;
        }
        file.flush().await.map_err(spool)?;
        drop(file);
        self.import_packages(who, &temp.0).await
    }

    /// Imports every bag of the zip at `zip_path`: all are checked before anything is written.
    pub async fn import_packages(&self, who: &Principal, zip_path: &Path) -> ServiceResult<Vec<ArchiveRecordView>> {
        access::check_import(who).map_err(|d| ServiceError::from_denied(d, "archive"))?;
        let path = zip_path.to_owned();
        let keys = self.keys.clone();
        let checked = tokio::task::spawn_blocking(move || -> ServiceResult<Vec<CheckedBag>> {
            bag_roots(&path)?.iter().map(|root| check_bag(&path, root, &keys)).collect()
        })
        .await
        .map_err(|e| ServiceError::Internal(format!("checking the package: {e}")))??;
        {
            let mut conn = self.catalog.read().await?;
            for bag in &checked {
                let no = &bag.metadata.archive.archive_no;
                if archive_rows::by_number(&mut conn, no).await?.is_some() {
                    return Err(ServiceError::Conflict(format!("archive number {no} exists here already")));
                }
                if doc_rows::document(&mut conn, &bag.metadata.document.id).await?.is_some() {
                    return Err(ServiceError::Conflict(format!("document {} exists here already", bag.metadata.document.id)));
                }
            }
        }
        let mut out = Vec::with_capacity(checked.len());
        for bag in checked {
            out.push(self.write_bag(who, zip_path, bag).await?);
        }
        Ok(out)
    }

    /// Blobs, then manifests, then one catalog transaction: a failure part-way leaves only
    /// unreferenced objects, never a catalog row pointing at nothing.
    async fn write_bag(&self, who: &Principal, zip_path: &Path, bag: CheckedBag) -> ServiceResult<ArchiveRecordView> {
        let document: DocumentId = bag.metadata.document.id.parse().map_err(|_| ServiceError::Internal("document id".into()))?;
        let (sizes, inks) = self.store_bag_blobs(zip_path, &bag).await?;
        // The data key is wrapped again by this installation's active key.
        let data_key = match &bag.sealing {
            Some(s) => Some(self.keys.wrap(&bag.metadata.document.id, &s.key, None)?),
            None => None,
        };
        for (id, bytes, _) in &bag.manifests {
            self.blobs.put_manifest(&document, id, bytes.to_vec()).await?;
        }
        let at = now();
        let mut tx = self.catalog.begin_write().await?;
        self.insert_departments_of(&mut tx, &bag, &at).await?;
        self.insert_document_of(&mut tx, &bag, data_key.as_ref(), &sizes, &at).await?;
        self.insert_opinions_of(&mut tx, &bag, &inks, &at).await?;
        insert_trail_of(&mut tx, &bag, &at).await?;
        let record = insert_archive_record_of(&mut tx, &bag).await?;
        let a = &bag.metadata.archive;
        let detail = json!({"archive_no": a.archive_no, "revisions": bag.manifests.len(), "head_revision": a.head_revision});
        self.audit(&mut tx, &at, who, "archive.import", format!("archive/{}", a.archive_no), Some(document.to_string()), detail).await?;
        match tx.commit().await {
            Err(e) if crate::resources::catalog::is_unique_violation(&e) => return Err(ServiceError::Conflict(format!("document {document} exists here already"))),
            other => other?,
        }
        if let Some(s) = bag.sealing {
            self.remember_data_key(&document.to_string(), std::sync::Arc::new(s.key));
        }
        self.wake_extraction();
        ArchiveRecordView::from_row(record, &at)
    }

    /// Every payload blob and handwriting image into the object store (sealed again where the
    /// record says). Returns each blob's stored size, and each opinion's stored ink.
    async fn store_bag_blobs(&self, zip_path: &Path, bag: &CheckedBag) -> ServiceResult<(BTreeMap<Sha256Digest, u64>, Vec<StoredInk>)> {
        let doc = &bag.metadata.document.id;
        let sealer = |file: &str| bag.sealing.as_ref().and_then(|s| s.files.get(file).map(|spec| s.sealer(doc, spec)));
        let mut sizes = BTreeMap::new();
        for (digest, file) in &bag.blobs {
            let stored = store_entry(self, zip_path.to_owned(), format!("{}/{file}", bag.root), sealer(file)).await?;
            if stored.digest != *digest {
                return Err(bad_file(file, "changed while it was being imported"));
            }
            sizes.insert(*digest, stored.size);
        }
        let mut inks = Vec::new();
        for o in &bag.opinions {
            if let (Some(path), Some(media)) = (&o.ink_path, &o.opinion.ink_media_type) {
                let stored = store_entry(self, zip_path.to_owned(), format!("{}/{path}", bag.root), sealer(path)).await?;
                if o.opinion.ink_sha256.as_deref() != Some(stored.digest.to_hex().as_str()) {
                    return Err(bad_file(path, "changed while it was being imported"));
                }
                inks.push(StoredInk { opinion: o.opinion.id.clone(), digest: stored.digest, size: stored.size, media_type: media.clone() });
            }
        }
        Ok((sizes, inks))
    }

    /// Departments the record names that this installation lacks are created (named by code).
    async fn insert_departments_of(&self, tx: &mut Conn, bag: &CheckedBag, at: &str) -> ServiceResult<()> {
        let m = &bag.metadata;
        let mut departments = vec![m.document.department.clone(), m.archive.department.clone()];
        if let Some(route) = &bag.trail.route {
            departments.extend(route.distributions.iter().map(|d| d.department.clone()));
        }
        for code in departments {
            if !department_exists(tx, &code).await? {
                crate::domain::people::check_department_code(&code).map_err(|e| bad_file("data/metadata.json", format!("department {code:?}: {e}")))?;
                insert_department(tx, &DepartmentRow { name: code.clone(), code, created_at: at.to_owned() }).await?;
            }
        }
        Ok(())
    }

    /// The document (archived), its data key, its revisions and the blobs they refer to.
    async fn insert_document_of(&self, tx: &mut Conn, bag: &CheckedBag, data_key: Option<&key_rows::DataKeyRow>, sizes: &BTreeMap<Sha256Digest, u64>, at: &str) -> ServiceResult<()> {
        let (m, doc) = (&bag.metadata, &bag.metadata.document);
        let (_, _, head) = bag.manifests.last().ok_or_else(|| bad_file("data/metadata.json", "lists no revisions"))?;
        let row = DocumentRow {
            id: doc.id.clone(),
            kind: doc.kind.clone(),
            title: doc.title.clone(),
            department: doc.department.clone(),
            classification: doc.classification,
            classification_rank: doc.classification.rank(),
            urgency: doc.urgency,
            state: DocumentState::Archived,
            fields: Value::Object(head.fields.clone()).to_string(),
            attachments: serde_json::to_string(&head.attachments).unwrap_or_else(|_| "[]".into()),
            head_revision: m.archive.head_revision.clone(),
            revision_count: bag.manifests.len() as i64,
            created_at: doc.created_at.clone(),
            created_by: doc.created_by.clone(),
            updated_at: doc.updated_at.clone(),
            deleted_at: None,
            deleted_by: None,
            sealed_fields: SealedFields::to_catalog(&head.sealed_fields, &head.seal_base()),
        };
        doc_rows::insert_document(tx, &row).await?;
        if let Some(key_row) = data_key {
            key_rows::insert_data_key(tx, key_row).await?;
        }
        for (i, (id, _, manifest)) in bag.manifests.iter().enumerate() {
            doc_rows::insert_revision(tx, &revision_row(&doc.id, i as i64 + 1, id, manifest)).await?;
            let body = manifest.body.iter().map(|b| (b.sha256, BODY_NAME, BODY_MEDIA_TYPE, b.sealed_base.as_deref().map(|base| (BlobRole::Body.as_str(), base))));
            let attachments = manifest.attachments.iter().map(|a| (a.sha256, a.name.as_str(), a.media_type.as_str(), a.sealed_base.as_deref().map(|base| (BlobRole::Attachment.as_str(), base))));
            for (digest, name, media_type, sealed) in body.chain(attachments) {
                let hex = digest.to_hex();
                let size = sizes.get(&digest).copied().unwrap_or(0) as i64;
                doc_rows::reference_blob(tx, &NewBlobReference { document_id: &doc.id, sha256: &hex, name, media_type, sealed }, size, at).await?;
            }
            for a in &manifest.attachments {
                let file = StoredAttachment { document: &doc.id, sha256: &a.sha256.to_hex(), name: &a.name, media_type: &a.media_type, sealed_base: a.sealed_base.as_deref() };
                self.queue_extraction(tx, &file, at).await?;
            }
        }
        Ok(())
    }

    /// The opinions, sealed here as they were there (a classified document's).
    async fn insert_opinions_of(&self, tx: &mut Conn, bag: &CheckedBag, inks: &[StoredInk], at: &str) -> ServiceResult<()> {
        let doc = &bag.metadata.document;
        let opinions_sealed = doc.classification.is_classified();
        for PackageOpinion { opinion: o, .. } in &bag.opinions {
            let text = match (&o.text, &bag.sealing) {
                (Some(t), Some(s)) if opinions_sealed => Some(seal_opinion_text(&s.key, &doc.id, &o.id, t)),
                (t, _) => t.clone(),
            };
            route_rows::insert_opinion(tx, &OpinionRow {
                id: o.id.clone(),
                document_id: doc.id.clone(),
                author: o.author.clone(),
                department: o.department.clone(),
                created_at: o.created_at.clone(),
                text,
                sealed: opinions_sealed,
                ink_sha256: o.ink_sha256.clone(),
                ink_media_type: o.ink_media_type.clone(),
            })
            .await?;
            if let Some(ink) = inks.iter().find(|i| i.opinion == o.id) {
                let hex = ink.digest.to_hex();
                let name = format!("opinion-{}-ink", o.id);
                let sealed = opinions_sealed.then_some((BlobRole::Attachment.as_str(), OPINION_BASE));
                doc_rows::reference_blob(tx, &NewBlobReference { document_id: &doc.id, sha256: &hex, name: &name, media_type: &ink.media_type, sealed }, ink.size as i64, at).await?;
            }
        }
        Ok(())
    }
}

/// A handwriting image of the package, stored.
struct StoredInk {
    opinion: String,
    digest: Sha256Digest,
    size: u64,
    media_type: String,
}

/// The route, its distributions and the trail, in the order they were written out (which is
/// the order they are read).
async fn insert_trail_of(tx: &mut Conn, bag: &CheckedBag, at: &str) -> ServiceResult<()> {
    let doc = &bag.metadata.document.id;
    if let Some(route) = &bag.trail.route {
        route_rows::insert_route(tx, &RouteRow {
            document_id: doc.clone(),
            template: route.template.clone(),
            initiator: route.initiator.clone(),
            steps: serde_json::to_string(&route.steps).unwrap_or_else(|_| "[]".into()),
            status: route.status,
            current_step: i64::from(route.current_step),
            signed_by: route.signed_by.clone(),
            signed_at: route.signed_at.clone(),
            version: 1,
            created_at: route.created_at.clone(),
            updated_at: at.to_owned(),
        })
        .await?;
        for d in &route.distributions {
            route_rows::insert_distribution(tx, doc, &d.department, &d.distributed_by, &d.distributed_at).await?;
        }
    }
    for (i, t) in bag.trail.trail.iter().enumerate() {
        route_rows::upsert_task(tx, &TaskRow {
            document_id: doc.clone(),
            seq: i as i64 + 1,
            step: i64::from(t.step),
            position: 0,
            assignee: t.assignee.clone(),
            on_behalf_of: t.on_behalf_of.clone(),
            state: t.state,
            received_at: t.received_at.clone(),
            handled_at: t.handled_at.clone(),
            action: t.action,
            comment: t.comment.clone(),
            due_at: t.due_at.clone(),
        })
        .await?;
    }
    Ok(())
}

/// The archive record under the number it had there.
async fn insert_archive_record_of(tx: &mut Conn, bag: &CheckedBag) -> ServiceResult<ArchiveRow> {
    let a = &bag.metadata.archive;
    let record = ArchiveRow {
        archive_no: a.archive_no.clone(),
        document_id: bag.metadata.document.id.clone(),
        fonds: a.fonds.clone(),
        year: a.year,
        retention: a.retention,
        department: a.department.clone(),
        item: a.item,
        category: a.category.clone(),
        head_revision: a.head_revision.clone(),
        archived_at: a.archived_at.clone(),
        archived_by: a.archived_by.clone(),
        expires_at: a.expires_at.clone(),
        disposed_at: None,
        disposed_by: None,
        disposal_reason: None,
    };
    match archive_rows::insert(tx, &record).await {
        Err(e) if crate::resources::catalog::is_unique_violation(&e) => Err(ServiceError::Conflict(format!("archive number {} exists here already", a.archive_no))),
        Err(e) => Err(e.into()),
        Ok(()) => Ok(record),
    }
}
