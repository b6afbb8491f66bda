//! Opinions (批示意见): a reviewer's signed comment, as text or a handwriting image kept exactly
//! as uploaded, stamped with signer, department and time. Append-only: there is no route that
//! changes or removes one. On a classified document the text and the image are sealed.

use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use serde::{Deserialize, Serialize};
use serde_json::json;
use utoipa::ToSchema;

use super::reading::{facts, route_access};
use super::routing::check_comment;
use super::uploads::{Upload, UploadSealing, UploadedFile};
use super::{Henji, ServiceError, ServiceResult, now};
use crate::domain::access;
use crate::domain::ids::DocumentId;
use crate::domain::people::Principal;
use crate::domain::sealing::{self, Place, SecretKey};
use crate::resources::catalog::documents::{self as doc_rows, DocumentRow, NewBlobReference};
use crate::resources::catalog::routing::{self as rows, OpinionRow};

/// Handwriting images: what an ink part may be.
pub const INK_MEDIA_TYPES: &[&str] = &["image/png", "image/jpeg", "image/svg+xml"];
/// The largest handwriting image.
pub const MAX_INK_BYTES: u64 = 20 * 1024 * 1024;
/// Sealed ink and opinion text bind this in place of a revision.
pub(super) const OPINION_BASE: &str = "opinion";

#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct OpinionView {
    pub id: String,
    pub author: String,
    pub display_name: String,
    pub department: String,
    pub created_at: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub text: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ink_sha256: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ink_media_type: Option<String>,
}

/// An opinion whose writer has been checked; the ink may now be streamed in.
#[derive(Debug)]
pub struct PreparedOpinion {
    document: DocumentRow,
    sealing: Option<UploadSealing>,
}

/// Whether the first bytes of an image are what its media type says (a PNG signature, a JPEG
/// start-of-image, or SVG markup).
pub fn ink_signature_matches(media_type: &str, first: &[u8]) -> bool {
    match media_type {
        "image/png" => first.starts_with(b"\x89PNG\r\n\x1a\n"),
        "image/jpeg" => first.starts_with(&[0xFF, 0xD8, 0xFF]),
        "image/svg+xml" => {
            let text = first.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(first);
            text.iter().find(|b| !b.is_ascii_whitespace()) == Some(&b'<')
        }
        _ => false,
    }
}

/// An opinion's text sealed under its document's data key, as the catalog keeps it.
pub(super) fn seal_opinion_text(key: &SecretKey, document: &str, opinion: &str, text: &str) -> String {
    B64.encode(sealing::seal(key, &Place::Field { document, base: OPINION_BASE, field: opinion }, text.as_bytes()))
}

impl Henji {
    pub async fn prepare_opinion(&self, who: &Principal, id: &str) -> ServiceResult<PreparedOpinion> {
        let (row, route) = self.readable_document_with_access(who, id).await?;
        access::check_opinion(who, &facts(&row, &route)).map_err(|d| ServiceError::from_denied(d, "document"))?;
        let sealing = if row.classification.is_classified() {
            Some(UploadSealing { key: self.ensure_data_key(&row.id).await?, document: row.id.clone(), base: OPINION_BASE.into() })
        } else {
            None
        };
        Ok(PreparedOpinion { document: row, sealing })
    }

    /// The upload of a handwriting image (part `ink`).
    pub fn ink_upload(&self, prepared: &PreparedOpinion, media_type: Option<&str>) -> ServiceResult<Upload> {
        let media_type = media_type.map(|m| m.split(';').next().unwrap_or("").trim().to_ascii_lowercase());
        let Some(media_type) = media_type.filter(|m| INK_MEDIA_TYPES.contains(&m.as_str())) else {
            return Err(ServiceError::invalid("ink", format!("a handwriting image is one of {}", INK_MEDIA_TYPES.join(", "))));
        };
        let ext = match media_type.as_str() {
            "image/png" => "png",
            "image/jpeg" => "jpg",
            _ => "svg",
        };
        let mut upload = self.attachment_upload(prepared.sealing.as_ref(), 0, Some(&format!("ink.{ext}")), Some(&media_type))?;
        upload.set_field("ink");
        Ok(upload)
    }

    pub async fn add_opinion(&self, who: &Principal, prepared: PreparedOpinion, text: Option<String>, ink: Option<UploadedFile>) -> ServiceResult<OpinionView> {
        let text = check_comment(text, "text")?;
        if text.is_none() && ink.is_none() {
            return Err(ServiceError::invalid("text", "an opinion needs text, a handwriting image (part `ink`), or both"));
        }
        if let Some(ink) = &ink
            && ink.plain_size > MAX_INK_BYTES
        {
            return Err(ServiceError::invalid("ink", format!("a handwriting image is at most {MAX_INK_BYTES} bytes")));
        }
        let doc = &prepared.document;
        let id = DocumentId::new().to_string();
        let stored_text = match (&text, &prepared.sealing) {
            (Some(t), Some(s)) => Some(seal_opinion_text(&s.key, &doc.id, &id, t)),
            (t, _) => t.clone(),
        };
        let created_at = now();
        let row = OpinionRow {
            id: id.clone(),
            document_id: doc.id.clone(),
            author: who.username.clone(),
            department: who.department.clone(),
            created_at: created_at.clone(),
            text: stored_text,
            sealed: prepared.sealing.is_some(),
            ink_sha256: ink.as_ref().map(|f| f.blob.digest.to_hex()),
            ink_media_type: ink.as_ref().map(|f| f.media_type.clone()),
        };
        let mut tx = self.catalog.begin_write().await?;
        let current = doc_rows::document(&mut tx, &doc.id).await?.ok_or(ServiceError::NotFound("document"))?;
        let route = route_access(&mut tx, &current).await?;
        access::check_opinion(who, &facts(&current, &route)).map_err(|d| ServiceError::from_denied(d, "document"))?;
        rows::insert_opinion(&mut tx, &row).await?;
        if let Some(file) = &ink {
            let digest = file.blob.digest.to_hex();
            let name = format!("opinion-{id}-{}", file.name);
            let sealed = file.sealed_base.as_deref().map(|base| ("attachment", base));
            let reference = NewBlobReference { document_id: &doc.id, sha256: &digest, name: &name, media_type: &file.media_type, sealed };
            if doc_rows::reference_blob(&mut tx, &reference, file.blob.size as i64, &created_at).await? {
                self.metrics.bytes_stored.inc_by(file.blob.size as i64);
                self.metrics.blobs_stored.inc();
            }
        }
        let detail = json!({"opinion": id, "has_text": text.is_some(), "ink_sha256": row.ink_sha256});
        self.audit(&mut tx, &created_at, who, "opinion.create", format!("document/{}/opinions/{id}", doc.id), Some(doc.id.clone()), detail).await?;
        tx.commit().await?;
        Ok(OpinionView {
            id,
            author: who.username.clone(),
            display_name: who.display_name.clone(),
            department: who.department.clone(),
            created_at,
            text,
            ink_sha256: row.ink_sha256,
            ink_media_type: row.ink_media_type,
        })
    }

    /// Opinions oldest first, opened for the caller (a read of a classified one is audited).
    pub async fn list_opinions(&self, who: &Principal, id: &str, after: &str, limit: i64) -> ServiceResult<Vec<OpinionView>> {
        let row = self.readable_document(who, id).await?;
        let found = rows::opinions(&mut *self.catalog.read().await?, &row.id, after, limit).await?;
        let opened = self.open_opinions(&row.id, found).await?;
        if found_sealed(&opened) {
            self.audit_classified_read(who, &row, "opinions.read", format!("document/{}/opinions", row.id)).await?;
        }
        let names = self.display_names(opened.iter().map(|(o, _)| o.author.as_str())).await?;
        let mut out = Vec::with_capacity(opened.len());
        for (o, text) in opened {
            out.push(OpinionView {
                display_name: names.get(&o.author).cloned().unwrap_or_else(|| o.author.clone()),
                id: o.id,
                author: o.author,
                department: o.department,
                created_at: o.created_at,
                text,
                ink_sha256: o.ink_sha256,
                ink_media_type: o.ink_media_type,
            });
        }
        Ok(out)
    }

    /// The opinions' texts in plain; sealed ones opened with the document's data key.
    pub(super) async fn open_opinions(&self, document: &str, found: Vec<OpinionRow>) -> ServiceResult<Vec<(OpinionRow, Option<String>)>> {
        let key = if found.iter().any(|o| o.sealed && o.text.is_some()) { Some(self.data_key(document).await?) } else { None };
        let mut out = Vec::with_capacity(found.len());
        for o in found {
            let text = match (&o.text, o.sealed, &key) {
                (Some(t), true, Some(key)) => {
                    let sealed = B64.decode(t.as_bytes()).map_err(|_| ServiceError::Integrity(format!("opinion {} is not base64", o.id)))?;
                    let plain = sealing::open(key, &Place::Field { document, base: OPINION_BASE, field: &o.id }, &sealed)
                        .map_err(|_| ServiceError::Integrity(format!("opinion {} of {document} does not open", o.id)))?;
                    Some(String::from_utf8_lossy(&plain).into_owned())
                }
                (t, _, _) => t.clone(),
            };
            out.push((o, text));
        }
        Ok(out)
    }

    /// Every opinion text of a document, for the search index.
    pub(super) async fn opinion_text(&self, document: &str) -> ServiceResult<String> {
        let mut after = String::new();
        let mut out = String::new();
        loop {
            let found = rows::opinions(&mut *self.catalog.read().await?, document, &after, 500).await?;
            let Some(last) = found.last().map(|o| o.id.clone()) else { break };
            for (_, text) in self.open_opinions(document, found).await? {
                if let Some(t) = text {
                    out.push_str(&t);
                    out.push('\n');
                }
            }
            after = last;
        }
        Ok(out)
    }
}

fn found_sealed(opened: &[(OpinionRow, Option<String>)]) -> bool {
    opened.iter().any(|(o, _)| o.sealed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ink_is_what_it_says() {
        assert!(ink_signature_matches("image/png", b"\x89PNG\r\n\x1a\n...."));
        assert!(!ink_signature_matches("image/png", b"GIF89a"));
        assert!(ink_signature_matches("image/jpeg", &[0xFF, 0xD8, 0xFF, 0xE0]));
        assert!(ink_signature_matches("image/svg+xml", b"\xEF\xBB\xBF  <svg xmlns=\"http://www.w3.org/2000/svg\"/>"));
        assert!(!ink_signature_matches("image/svg+xml", b"not markup"));
        assert!(!ink_signature_matches("image/gif", b"GIF89a"));
    }
}
