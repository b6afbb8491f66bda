//! Sealed content on its way in and out: sensitive fields split from the rest and sealed
//! under the document's data key, sealed blobs opened as they stream or whole when small. Every
//! failure to open is an integrity error and an audit event, never wrong plaintext.

use std::sync::Arc;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use bytes::Bytes;
use futures::stream::BoxStream;
use futures::{StreamExt, TryStreamExt};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::cache::CachedBody;
use super::{Henji, ServiceError, ServiceResult};
use crate::domain::canonical::to_canonical_bytes;
use crate::domain::ids::Sha256Digest;
use crate::domain::kinds::Kind;
use crate::domain::sealing::{self, BlobOpener, BlobRole, Place, SecretKey};

/// The sensitive fields of a head revision as the catalog keeps them (`documents.sealed_fields`).
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct SealedFields {
    /// The base revision bound into every value (the head's parent, or `root`).
    pub base: String,
    pub values: Map<String, Value>,
}

impl SealedFields {
    pub fn parse(text: &str) -> ServiceResult<Option<Self>> {
        if text.is_empty() {
            return Ok(None);
        }
        serde_json::from_str(text).map(Some).map_err(|e| ServiceError::Internal(format!("catalog sealed fields: {e}")))
    }

    pub fn to_catalog(values: &Map<String, Value>, base: &str) -> String {
        if values.is_empty() {
            return String::new();
        }
        serde_json::to_string(&SealedFields { base: base.to_owned(), values: values.clone() }).unwrap_or_default()
    }
}

/// A stored blob with how to open it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoredBlobRef {
    pub digest: Sha256Digest,
    /// (role, base) when sealed.
    pub sealed: Option<(BlobRole, Arc<str>)>,
}

impl StoredBlobRef {
    /// A blob as a manifest or the catalog names it: sealed when it has a base.
    pub fn new(digest: Sha256Digest, role: BlobRole, sealed_base: Option<&str>) -> Self {
        Self { digest, sealed: sealed_base.map(|b| (role, Arc::from(b))) }
    }
}

/// Moves the fields the kind marks sensitive out of `fields`.
pub fn split_sensitive(kind: &Kind, fields: &mut Map<String, Value>) -> Map<String, Value> {
    let mut sensitive = Map::new();
    for name in kind.sensitive_fields() {
        if let Some(v) = fields.remove(&name) {
            sensitive.insert(name, v);
        }
    }
    sensitive
}

pub fn seal_fields(key: &SecretKey, document: &str, base: &str, sensitive: &Map<String, Value>) -> Map<String, Value> {
    sensitive
        .iter()
        .map(|(name, value)| {
            let sealed = sealing::seal(key, &Place::Field { document, base, field: name }, &to_canonical_bytes(value));
            (name.clone(), Value::String(B64.encode(sealed)))
        })
        .collect()
}

/// Opens every sealed field; the error names the first field that does not open.
pub fn open_fields(key: &SecretKey, document: &str, base: &str, sealed: &Map<String, Value>) -> Result<Map<String, Value>, String> {
    sealed
        .iter()
        .map(|(name, value)| {
            let raw = value.as_str().and_then(|s| B64.decode(s).ok()).ok_or_else(|| name.clone())?;
            let plain = sealing::open(key, &Place::Field { document, base, field: name }, &raw).map_err(|_| name.clone())?;
            let value = serde_json::from_slice(&plain).map_err(|_| name.clone())?;
            Ok((name.clone(), value))
        })
        .collect()
}

impl Henji {
    /// Opens the sensitive fields of a document for `who`; a field that does not open is an
    /// audited integrity error naming the field, never a wrong value.
    pub(super) async fn open_sealed_fields(&self, who: Option<&str>, document: &str, base: &str, sealed: &Map<String, Value>) -> ServiceResult<Map<String, Value>> {
        let key = self.data_key(document).await?;
        match open_fields(&key, document, base, sealed) {
            Ok(fields) => Ok(fields),
            Err(field) => {
                let object = format!("document/{document}/fields/{field}");
                self.audit_integrity_failure(who, document, &object).await;
                Err(ServiceError::Integrity(format!("sealed field {field:?} of document {document} does not open: altered, or moved from another field or document")))
            }
        }
    }

    /// A whole blob as plaintext, checked against its digest (and opened, when sealed), kept in
    /// the body cache if small; `None` if it holds more than `limit` bytes (then it is not read).
    pub(super) async fn small_blob(&self, who: Option<&str>, document: &str, blob: &StoredBlobRef, limit: u64) -> ServiceResult<Option<Bytes>> {
        Ok(self.small_body(who, document, blob, limit).await?.map(CachedBody::into_bytes))
    }

    /// `small_blob` as the body cache keeps it: a small UTF-8 body as text, already checked.
    pub(super) async fn small_body(&self, who: Option<&str>, document: &str, blob: &StoredBlobRef, limit: u64) -> ServiceResult<Option<CachedBody>> {
        let key = match &blob.sealed {
            // Asked before the cache, so a shredded key is never outlived by a cached copy.
            Some(_) => Some(self.data_key(document).await?),
            None => None,
        };
        if let Some(body) = self.caches.body(&blob.digest) {
            return Ok(Some(body));
        }
        let (size, stream) = self.blobs.get(&blob.digest).await?;
        let plain_size = if blob.sealed.is_some() { sealing::plain_len(size).unwrap_or(size) } else { size };
        if plain_size > limit {
            return Ok(None);
        }
        let chunks: Vec<Bytes> = stream.try_collect().await?;
        let stored = Bytes::from(chunks.concat());
        if Sha256Digest::of(&stored) != blob.digest {
            self.audit_integrity_failure(who, document, &format!("blob/{}", blob.digest)).await;
            return Err(ServiceError::Integrity(format!("blob {} does not match its digest", blob.digest)));
        }
        let plain = match (&blob.sealed, key) {
            (Some((role, base)), Some(key)) => match sealing::open_blob(&key, &Place::Blob { document, base, role: *role }, stored) {
                Ok(p) => Bytes::from(p),
                Err(e) => {
                    self.audit_integrity_failure(who, document, &format!("blob/{}", blob.digest)).await;
                    return Err(ServiceError::Integrity(format!("sealed blob {} of document {document} {e}", blob.digest)));
                }
            },
            _ => stored,
        };
        Ok(Some(self.caches.put_body(blob.digest, plain)))
    }

    /// A sealed blob opened chunk by chunk as it streams; a chunk that does not open ends the
    /// stream with an error (and an audit event) instead of passing on altered bytes.
    pub(super) fn open_stream(&self, who: Option<&str>, document: &str, blob: &StoredBlobRef, key: Arc<SecretKey>, stream: BoxStream<'static, ServiceResult<Bytes>>) -> BoxStream<'static, ServiceResult<Bytes>> {
        let Some((role, base)) = blob.sealed.clone() else { return stream };
        let opener = BlobOpener::new(&key, &Place::Blob { document, base: &base, role });
        let failure = (self.clone(), who.map(str::to_owned), document.to_owned(), format!("blob/{}", blob.digest));
        let state = (stream, Some(opener), std::collections::VecDeque::<Bytes>::new(), failure);
        futures::stream::try_unfold(state, |(mut stream, mut opener, mut ready, failure)| async move {
            loop {
                if let Some(piece) = ready.pop_front() {
                    return Ok(Some((piece, (stream, opener, ready, failure))));
                }
                let Some(o) = opener.as_mut() else { return Ok(None) };
                let result = match stream.try_next().await? {
                    Some(chunk) => o.push(chunk),
                    None => opener.take().map_or(Ok(Vec::new()), |o| o.finish().map(|last| vec![last])),
                };
                match result {
                    Ok(pieces) => ready.extend(pieces.into_iter().filter(|p| !p.is_empty())),
                    Err(e) => {
                        let (henji, who, document, object) = failure;
                        henji.audit_integrity_failure(who.as_deref(), &document, &object).await;
                        return Err(ServiceError::Integrity(format!("{object} of document {document} {e}")));
                    }
                }
            }
        })
        .boxed()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn sealed_fields_open_in_place_and_fail_when_swapped_between_documents() {
        let key = SecretKey::generate();
        let values = json!({"姓名": "张三", "电话": "13800000000"}).as_object().unwrap().clone();
        let a = seal_fields(&key, "DOC-A", "root", &values);
        let b = seal_fields(&key, "DOC-B", "root", &values);
        assert_eq!(open_fields(&key, "DOC-A", "root", &a).unwrap(), values);
        let mut swapped = a.clone();
        swapped.insert("姓名".into(), b["姓名"].clone());
        assert_eq!(open_fields(&key, "DOC-A", "root", &swapped), Err("姓名".to_owned()));
        let mut moved = a.clone();
        moved.insert("电话".into(), a["姓名"].clone());
        assert_eq!(open_fields(&key, "DOC-A", "root", &moved), Err("电话".to_owned()));
        for v in a.values() {
            assert!(!v.as_str().unwrap().contains("张三"));
        }
    }
}
