//! What an archive package says about its record, in the files henji writes into the bag's
//! payload (`data/metadata.json`, `data/opinions.json`, `data/trail.json`) and its tag file
//! `henji-sealing.json`. One set of types, written by `packages` and read back by `import`, so
//! the two cannot drift apart. Readers other than henji see plain JSON.

use serde::{Deserialize, Serialize};

use super::archive::ArchiveRecordView;
use super::documents::DocumentView;
use super::opinions::OpinionView;
use super::routing::{RouteView, TrailEntry};

/// The package format, in `metadata.json`.
pub const PACKAGE_FORMAT: &str = "henji-archive-package/1";
/// The tag file that carries what sealed content needs to move (see `PackageSealing`).
pub const SEALING_FILE: &str = "henji-sealing.json";
pub const SEALING_FORMAT: &str = "henji-sealing/1";

/// `data/metadata.json`: the record, the document, and which payload file is what.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct PackageMetadata {
    pub format: String,
    pub archive: ArchiveRecordView,
    pub document: DocumentView,
    /// The head revision's body file.
    pub body: Option<String>,
    /// Oldest first.
    pub revisions: Vec<PackageRevision>,
    #[serde(default)]
    pub attachments: Vec<PackageAttachment>,
    pub traces: String,
    pub opinions: String,
    pub trail: String,
}

/// A revision in the bag: its manifest (byte for byte) and the payload files of its body and
/// attachments.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct PackageRevision {
    pub seq: i64,
    pub id: String,
    pub parent: Option<String>,
    pub author: String,
    pub created_at: String,
    pub note: Option<String>,
    /// `data/revisions/NNNN-<id>.json`
    pub manifest: String,
    pub body: Option<String>,
    /// The payload file of each of the manifest's attachments, in its order.
    #[serde(default)]
    pub attachments: Vec<Option<String>>,
}

/// An attachment in the bag, under its own name.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct PackageAttachment {
    pub name: String,
    pub media_type: String,
    pub size: u64,
    /// The digest the manifests name it by (of the sealed bytes, when sealed).
    pub stored_sha256: String,
    pub path: String,
    pub first_revision: String,
    /// The text read from it, so the archive is searchable without henji; none while it is
    /// unread or when it carries no text.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub text: Option<PackageText>,
}

/// An attachment's extracted text in the bag: a UTF-8 file beside it, a form feed between
/// pages (as pdftotext writes them).
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct PackageText {
    pub path: String,
    /// What read it, with its version and settings, e.g. `tesseract-5.3.0-chi_sim-psm6`.
    pub engine: String,
    pub pages: usize,
}

/// `data/opinions.json`: each opinion, with its handwriting image's payload file.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct PackageOpinion {
    #[serde(flatten)]
    pub opinion: OpinionView,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ink_path: Option<String>,
}

/// `data/trail.json`: the route and its handling trail (办理轨迹).
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct PackageTrail {
    pub route: Option<RouteView>,
    pub trail: Vec<TrailEntry>,
}

/// `henji-sealing.json`, in the bag of a record with sealed content (a classified document's
/// files, sensitive fields, sealed opinions). The manifests name sealed files by the digest of
/// their sealed bytes, and a revision id covers its manifest, so another installation keeps the
/// ids only by sealing the plaintext of the payload again to exactly those bytes. For that it
/// needs the document's data key (here wrapped by a key-encryption key it must hold too, never
/// in the clear) and each file's nonce prefix (its sealed header: random, not secret).
#[derive(Debug, Serialize, Deserialize)]
pub struct PackageSealing {
    pub format: String,
    pub document: String,
    /// The key-encryption key that wraps `wrapped_data_key`.
    pub kek: String,
    pub wrapped_data_key: String,
    pub files: Vec<SealedFile>,
}

#[derive(Debug, Serialize, Deserialize)]
pub struct SealedFile {
    /// Below the bag's folder, e.g. `data/attachments/附件一.pdf`; holds the plaintext.
    pub path: String,
    pub sealed_sha256: String,
    pub role: String,
    pub base: String,
    /// The first bytes of the sealed blob, hex.
    pub header: String,
}
