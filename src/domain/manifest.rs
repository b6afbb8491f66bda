//! Revision manifests: the immutable description of one revision. A revision's id is the
//! SHA-256 of its canonical manifest bytes, and each manifest names its parent's id, so the
//! history of a document is hash-linked like git commits and readable without henji.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::canonical::to_canonical_bytes;
use super::ids::{DocumentId, RevisionId, Sha256Digest};
use super::people::{Classification, Urgency};

/// Names the manifest layout so that a reader years from now knows what it holds.
pub const MANIFEST_FORMAT: &str = "henji/revision/1";

/// The body of a revision: UTF-8 text stored as a blob.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BodyRef {
    pub sha256: Sha256Digest,
    pub size: u64,
    /// Unicode scalar values, as `body_chars` in the API.
    pub chars: u64,
    /// Set when the blob is sealed (a classified document): the revision it was sealed on top
    /// of, `root` for the first. `sha256` is then the digest of the sealed bytes and `size` the
    /// size of the plaintext.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sealed_base: Option<String>,
}

/// An attached file (a scan, a PDF, a .docx …), by digest.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AttachmentRef {
    pub name: String,
    pub media_type: String,
    pub size: u64,
    #[schema(value_type = String)]
    pub sha256: Sha256Digest,
    /// As in `BodyRef`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sealed_base: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RevisionManifest {
    pub format: String,
    pub document: DocumentId,
    pub kind: String,
    pub title: String,
    pub department: String,
    pub classification: Classification,
    pub urgency: Urgency,
    pub parent: Option<RevisionId>,
    pub author: String,
    /// RFC 3339 UTC with milliseconds, kept as written so the bytes never change on re-reading.
    pub created_at: String,
    pub body: Option<BodyRef>,
    pub fields: Map<String, Value>,
    pub attachments: Vec<AttachmentRef>,
    pub note: Option<String>,
    /// Fields marked `x-sensitive` by the kind, sealed under the document's data key with
    /// (document, parent revision or `root`, field name) bound in: base64 of nonce ‖ ciphertext
    /// ‖ tag of the value's JSON. Absent from manifests that have none, so older manifests keep
    /// their bytes and ids.
    #[serde(default, skip_serializing_if = "Map::is_empty")]
    pub sealed_fields: Map<String, Value>,
}

/// The base every seal of this revision binds: its parent, or `root` for a first revision.
pub const ROOT_BASE: &str = "root";

/// Why stored bytes are not a valid manifest.
#[derive(Debug, thiserror::Error)]
pub enum ManifestError {
    #[error("not a revision manifest: {0}")]
    Malformed(#[from] serde_json::Error),
    #[error("manifest is not in canonical form")]
    NotCanonical,
    #[error("unknown manifest format {0:?}")]
    UnknownFormat(String),
}

impl RevisionManifest {
    /// The exact bytes that are stored and hashed.
    pub fn canonical_bytes(&self) -> Vec<u8> {
        // A struct of plain data always serialises; a failure here would be a bug in serde_json.
        let value = serde_json::to_value(self).unwrap_or(Value::Null);
        to_canonical_bytes(&value)
    }

    /// Serialises and derives the id in one step, so the two can never drift apart.
    pub fn seal(&self) -> (RevisionId, Vec<u8>) {
        let bytes = self.canonical_bytes();
        (RevisionId::of_manifest(&bytes), bytes)
    }

    /// Parses stored bytes and insists they are canonical, so that the id really is the digest
    /// of the one true spelling of this manifest.
    pub fn parse(bytes: &[u8]) -> Result<Self, ManifestError> {
        let manifest: RevisionManifest = serde_json::from_slice(bytes)?;
        if manifest.format != MANIFEST_FORMAT {
            return Err(ManifestError::UnknownFormat(manifest.format));
        }
        if manifest.canonical_bytes() != bytes {
            return Err(ManifestError::NotCanonical);
        }
        Ok(manifest)
    }

    pub fn seal_base(&self) -> String {
        self.parent.map(|p| p.to_string()).unwrap_or_else(|| ROOT_BASE.to_owned())
    }

    /// Every blob the revision refers to.
    pub fn blobs(&self) -> impl Iterator<Item = Sha256Digest> + '_ {
        self.body.iter().map(|b| b.sha256).chain(self.attachments.iter().map(|a| a.sha256))
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use serde_json::json;

    pub(crate) fn sample(parent: Option<RevisionId>) -> RevisionManifest {
        RevisionManifest {
            format: MANIFEST_FORMAT.into(),
            document: "01JD0000000000000000000000".parse().unwrap(),
            kind: "incoming".into(),
            title: "关于2026年预算的通知".into(),
            department: "BGS".into(),
            classification: Classification::Internal,
            urgency: Urgency::Urgent,
            parent,
            author: "zhangsan".into(),
            created_at: "2026-11-23T09:00:00.000Z".into(),
            body: Some(BodyRef { sha256: Sha256Digest::of("正文".as_bytes()), size: 6, chars: 2, sealed_base: None }),
            fields: json!({"来文单位": "财政局", "页数": 3}).as_object().unwrap().clone(),
            attachments: vec![],
            note: None,
            sealed_fields: Map::new(),
        }
    }

    #[test]
    fn id_is_the_digest_of_the_stored_bytes_and_parses_back() {
        let m = sample(None);
        let (id, bytes) = m.seal();
        assert_eq!(RevisionId::of_manifest(&bytes), id);
        let back = RevisionManifest::parse(&bytes).unwrap();
        assert_eq!(back, m);
        assert_eq!(back.seal().0, id);
    }

    #[test]
    fn parent_is_part_of_the_id() {
        let first = sample(None).seal().0;
        let second = sample(Some(first)).seal().0;
        assert_ne!(first, second);
    }

    #[test]
    fn non_canonical_or_altered_bytes_are_refused() {
        let (_, bytes) = sample(None).seal();
        let pretty = serde_json::to_vec_pretty(&serde_json::from_slice::<Value>(&bytes).unwrap()).unwrap();
        assert!(matches!(RevisionManifest::parse(&pretty), Err(ManifestError::NotCanonical)));
        let mut broken = bytes.clone();
        let at = broken.iter().position(|b| *b == b':').unwrap();
        broken[at] = b';';
        assert!(RevisionManifest::parse(&broken).is_err());
        // A flipped letter inside a value still parses; the id no longer matches, which is
        // what `henji verify` checks.
        let mut flipped = bytes.clone();
        let at = flipped.iter().position(|b| *b == b'B').unwrap();
        flipped[at] = b'C';
        let parsed = RevisionManifest::parse(&flipped).unwrap();
        assert_ne!(RevisionId::of_manifest(&flipped), RevisionId::of_manifest(&bytes));
        assert_eq!(parsed.department, "CGS");
    }
}
