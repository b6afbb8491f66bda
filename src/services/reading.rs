//! Reading a document on someone's behalf, for every use case: the read check with the facts
//! of its route, the cached access facts of the hot path, revision bodies and blob streams
//! (opened on the way when sealed), and the audit event every read of classified content
//! leaves. Writes start here too: what may not be read may not be changed.

use std::collections::HashMap;
use std::sync::Arc;

use bytes::Bytes;
use futures::stream::BoxStream;
use futures::{StreamExt, TryStreamExt};
use serde_json::json;

use super::cache::AccessFacts;
use super::sealed::StoredBlobRef;
use super::{Henji, ServiceError, ServiceResult, now};
use crate::domain::access::{self, DocumentFacts, ReaderKind, RouteAccess};
use crate::domain::ids::{DocumentId, Sha256Digest};
use crate::domain::people::{Classification, DocumentState, Principal};
use crate::domain::sealing::{self, BlobRole};
use crate::resources::catalog::Conn;
use crate::resources::catalog::documents::{self as rows, DocumentRow, RevisionRow};

/// A blob on its way out.
pub struct BlobDownload {
    pub size: u64,
    pub media_type: String,
    pub name: String,
    pub content: BlobContent,
}

/// The bytes of a download: held in memory (a small body, from the cache), or streamed.
pub enum BlobContent {
    Whole(Bytes),
    Stream(BoxStream<'static, ServiceResult<Bytes>>),
}

impl BlobContent {
    pub fn into_stream(self) -> BoxStream<'static, ServiceResult<Bytes>> {
        match self {
            BlobContent::Whole(bytes) => Box::pin(futures::stream::once(async move { Ok(bytes) })),
            BlobContent::Stream(stream) => stream,
        }
    }
}

pub(super) fn facts<'a>(row: &'a DocumentRow, route: &'a RouteAccess) -> DocumentFacts<'a> {
    DocumentFacts { department: &row.department, classification: row.classification, state: row.state, deleted: row.deleted_at.is_some(), route }
}

pub(super) fn parse_document_id(id: &str) -> ServiceResult<DocumentId> {
    // A malformed id is answered like an unknown one; it never reaches a lookup.
    id.parse().map_err(|_| ServiceError::NotFound("document"))
}

/// Who reaches a document through its route or distributions. A document never routed (still
/// a draft or just registered) has no such readers, which saves the query on the hot path.
pub(super) async fn route_access(conn: &mut Conn, row: &DocumentRow) -> ServiceResult<RouteAccess> {
    if matches!(row.state, DocumentState::Draft | DocumentState::Registered) {
        return Ok(RouteAccess::default());
    }
    let mut access = RouteAccess::default();
    for (name, how) in crate::resources::catalog::routing::route_readers(conn, &row.id).await? {
        let kind = ReaderKind::parse(&how).ok_or_else(|| ServiceError::Integrity(format!("document {}: a route reader of unknown kind {how:?}", row.id)))?;
        access.add(name, kind);
    }
    Ok(access)
}

/// The body of a revision row, with how to open it.
pub(super) fn body_blob(row: &RevisionRow) -> ServiceResult<Option<StoredBlobRef>> {
    let Some(hex) = &row.body_sha256 else { return Ok(None) };
    let digest = hex.parse::<Sha256Digest>().map_err(|_| ServiceError::Internal(format!("bad body digest in catalog for revision {}", row.id)))?;
    Ok(Some(StoredBlobRef::new(digest, BlobRole::Body, row.body_sealed_base.as_deref())))
}

impl Henji {
    pub(super) async fn document_row(&self, conn: &mut Conn, id: &DocumentId) -> ServiceResult<DocumentRow> {
        rows::document(conn, &id.to_string()).await?.ok_or(ServiceError::NotFound("document"))
    }

    /// The document if `who` may read it; otherwise the same 404 as for a missing one.
    pub(super) async fn readable_document(&self, who: &Principal, id: &str) -> ServiceResult<DocumentRow> {
        Ok(self.readable_document_with_access(who, id).await?.0)
    }

    /// As `readable_document`, with who reaches it through its route, for the rules that follow.
    pub(super) async fn readable_document_with_access(&self, who: &Principal, id: &str) -> ServiceResult<(DocumentRow, RouteAccess)> {
        let id = parse_document_id(id)?;
        let mut conn = self.catalog.read().await?;
        let row = self.document_row(&mut conn, &id).await?;
        let route = route_access(&mut conn, &row).await?;
        access::check_read(who, &facts(&row, &route)).map_err(|d| ServiceError::from_denied(d, "document"))?;
        Ok((row, route))
    }

    /// Every read of classified content leaves an audit event.
    pub(super) async fn audit_classified_read(&self, who: &Principal, row: &DocumentRow, action: &str, object: String) -> ServiceResult<()> {
        self.audit_if_classified(who, &row.id, row.classification, action, || object).await
    }

    /// `object` names what was read; it is only made for classified reads (most reads are not,
    /// and some, such as GET body, are answered from memory in a few microseconds).
    pub(super) async fn audit_if_classified(&self, who: &Principal, document: &str, classification: Classification, action: &str, object: impl FnOnce() -> String) -> ServiceResult<()> {
        if classification.is_classified() {
            let at = now();
            let mut tx = self.catalog.begin_write().await?;
            self.audit(&mut tx, &at, who, action, object(), Some(document.to_owned()), json!({"classification": classification})).await?;
            tx.commit().await?;
        }
        Ok(())
    }

    /// A body or attachment of `doc` as a stream of its plaintext (for packages).
    pub(super) async fn blob_stream(&self, who: &Principal, doc: &str, blob: &StoredBlobRef) -> ServiceResult<BoxStream<'static, ServiceResult<Bytes>>> {
        Ok(self.stream_blob(who, doc, blob, String::new(), String::new()).await?.content.into_stream())
    }

    /// A blob too large to hold, streamed (and opened on the way when sealed).
    pub(super) async fn stream_blob(&self, who: &Principal, doc: &str, blob: &StoredBlobRef, media_type: String, name: String) -> ServiceResult<BlobDownload> {
        let (size, stream) = self.plaintext_stream(Some(&who.username), doc, blob).await?;
        Ok(BlobDownload { size, media_type, name, content: BlobContent::Stream(stream) })
    }

    /// A blob's plaintext size and bytes, opened on the way when sealed; `who` is named in the
    /// audit event if it does not open (`None`: the service itself reads, as extraction does).
    pub(super) async fn plaintext_stream(&self, who: Option<&str>, doc: &str, blob: &StoredBlobRef) -> ServiceResult<(u64, BoxStream<'static, ServiceResult<Bytes>>)> {
        let key = match &blob.sealed {
            Some(_) => Some(self.data_key(doc).await?),
            None => None,
        };
        let (stored_size, stream) = self.blobs.get(&blob.digest).await?;
        let stream = stream.map_err(ServiceError::from).boxed();
        match key {
            Some(key) => {
                let size = sealing::plain_len(stored_size).ok_or_else(|| ServiceError::Integrity(format!("sealed blob {} has an impossible size", blob.digest)))?;
                Ok((size, self.open_stream(who, doc, blob, key, stream)))
            }
            None => Ok((stored_size, stream)),
        }
    }

    /// The body blob of a revision (`None`: it has no body), cached: revisions never change.
    pub(super) async fn body_digest(&self, doc: &str, rev: &str) -> ServiceResult<Option<StoredBlobRef>> {
        if let Some(body) = self.caches.revision_body(doc, rev) {
            return Ok(body);
        }
        let key = (doc.to_owned(), rev.to_owned());
        self.body_digests(std::slice::from_ref(&key)).await?.remove(&key).ok_or(ServiceError::NotFound("revision"))
    }

    /// The body blobs of several revisions (`(document, revision)` pairs; `None`: that revision
    /// has no body), cached, with one catalog read for all those not cached: a search answer's
    /// hits, whose lookups one by one were a round trip each to the catalog's thread. A
    /// revision not found is left out.
    pub(super) async fn body_digests(&self, revisions: &[(String, String)]) -> ServiceResult<HashMap<(String, String), Option<StoredBlobRef>>> {
        let mut found = HashMap::with_capacity(revisions.len());
        let mut missing = Vec::new();
        for (doc, rev) in revisions {
            if let Some(body) = self.caches.revision_body(doc, rev) {
                found.insert((doc.clone(), rev.clone()), body);
            } else {
                missing.push(rev.clone());
            }
        }
        if missing.is_empty() {
            return Ok(found);
        }
        for row in rows::revisions_by_id(&mut *self.catalog.read().await?, &missing).await? {
            let body = body_blob(&row)?;
            self.caches.put_revision_body(row.document_id.clone(), row.id.clone(), body.clone());
            found.insert((row.document_id, row.id), body);
        }
        Ok(found)
    }

    /// Department, classification, deletion and head of a document, cached; deletion and new
    /// revisions invalidate.
    pub(super) async fn access_facts(&self, id: &str) -> ServiceResult<AccessFacts> {
        if let Some(f) = self.caches.document(id) {
            return Ok(f);
        }
        self.access_facts_of(&[id.to_owned()]).await?.remove(id).ok_or(ServiceError::NotFound("document"))
    }

    /// `access_facts` of several documents, with one catalog read for all those not cached
    /// (see `body_digests`). A document not found is left out.
    pub(super) async fn access_facts_of(&self, ids: &[String]) -> ServiceResult<HashMap<String, AccessFacts>> {
        let mut found = HashMap::with_capacity(ids.len());
        let mut missing = Vec::new();
        for id in ids {
            if let Some(f) = self.caches.document(id) {
                found.insert(id.clone(), f);
            } else {
                missing.push(id.clone());
            }
        }
        if missing.is_empty() {
            return Ok(found);
        }
        let generation = self.caches.document_generation();
        let mut conn = self.catalog.read().await?;
        for row in rows::documents(&mut conn, &missing).await? {
            let route = route_access(&mut conn, &row).await?;
            let facts = AccessFacts {
                department: row.department.clone(),
                classification: row.classification,
                deleted: row.deleted_at.is_some(),
                state: row.state,
                head_revision: row.head_revision.clone(),
                route: Arc::new(route),
            };
            self.caches.put_document(row.id.clone(), facts.clone(), generation);
            found.insert(row.id, facts);
        }
        Ok(found)
    }
}
