//! Documents and revisions: register a document, add a revision on top of a known head, read
//! manifests, bodies and blobs. Writes follow the order blob → manifest → catalog transaction,
//! so a crash leaves at worst an unreferenced object, never a catalog row pointing at nothing.

use std::sync::Arc;

use bytes::Bytes;
use futures::StreamExt;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};
use utoipa::ToSchema;

use super::cache::CACHED_BODY_MAX;
use super::extraction::StoredAttachment;
pub use super::reading::{BlobContent, BlobDownload};
use super::reading::{body_blob, facts, parse_document_id, route_access};
use super::sealed::{SealedFields, StoredBlobRef, seal_fields, split_sensitive};
use super::uploads::{BODY_MEDIA_TYPE, BODY_NAME, UploadSealing, UploadedFile};
use super::{Henji, ServiceError, ServiceResult, now};
use crate::domain::access::{self, ReadScope};
use crate::domain::ids::{DocumentId, RevisionId, Sha256Digest};
use crate::domain::manifest::{AttachmentRef, MANIFEST_FORMAT, ROOT_BASE, RevisionManifest};
use crate::domain::people::{Classification, DocumentState, Principal, Urgency};
use crate::domain::sealing::{BlobRole, SecretKey};
use crate::resources::catalog::keys::{DataKeyRow, insert_data_key};
use crate::resources::catalog::documents::{self as rows, DocumentFilter, DocumentRow, RevisionRow};
use crate::resources::catalog::people::department_exists;
use crate::resources::catalog::{Conn, is_unique_violation};
use crate::resources::engines::{self, EngineError};

/// `{"text": "..."}`: a body given inline.
#[derive(Clone, Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct BodyText {
    pub text: String,
}

/// The JSON of `POST /api/v1/documents` (or its multipart `meta` part).
#[derive(Clone, Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateDocument {
    pub kind: String,
    pub title: String,
    /// Department code; defaults to the caller's department.
    pub department: Option<String>,
    pub classification: Classification,
    pub urgency: Option<Urgency>,
    #[serde(default)]
    #[schema(value_type = Object)]
    pub fields: Map<String, Value>,
    pub body: Option<BodyText>,
}

/// The JSON of `POST /api/v1/documents/{id}/revisions` (or its multipart `meta` part).
#[derive(Clone, Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReviseDocument {
    /// The head revision this change was made on; anything else is a 409.
    pub base_revision: String,
    pub body: Option<BodyText>,
    /// Merged into the previous fields: a key set to `null` removes that field.
    #[schema(value_type = Option<Object>)]
    pub fields: Option<Map<String, Value>>,
    pub note: Option<String>,
    #[serde(default)]
    pub remove_attachments: Vec<String>,
}

#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct DocumentView {
    pub id: String,
    pub kind: String,
    pub title: String,
    pub department: String,
    pub classification: Classification,
    pub urgency: Urgency,
    pub state: DocumentState,
    #[schema(value_type = Object)]
    pub fields: Map<String, Value>,
    pub head_revision: String,
    #[serde(default)]
    pub revision_count: i64,
    pub created_at: String,
    pub created_by: String,
    pub updated_at: String,
    pub attachments: Vec<AttachmentRef>,
}

#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct RevisionView {
    pub id: String,
    pub parent: Option<String>,
    pub author: String,
    pub created_at: String,
    pub note: Option<String>,
    pub body_sha256: Option<String>,
    pub body_chars: Option<i64>,
}

impl From<RevisionRow> for RevisionView {
    fn from(r: RevisionRow) -> Self {
        Self { id: r.id, parent: r.parent, author: r.author, created_at: r.created_at, note: r.note, body_sha256: r.body_sha256, body_chars: r.body_chars }
    }
}

/// A create request whose rules have been checked; files may now be streamed in.
#[derive(Debug)]
pub struct PreparedDocument {
    id: DocumentId,
    kind: String,
    title: String,
    department: String,
    classification: Classification,
    urgency: Urgency,
    fields: Map<String, Value>,
    /// The fields the kind marks sensitive, still plain: sealed when the manifest is written.
    sensitive: Map<String, Value>,
    sealing: Option<DocumentSealing>,
    state: DocumentState,
    pub inline_body: Option<String>,
}

/// The data key of a document being written, and its catalog row if it is new.
#[derive(Debug)]
struct DocumentSealing {
    key: Arc<SecretKey>,
    new_key: Option<DataKeyRow>,
}

impl PreparedDocument {
    /// How the body and attachments are sealed: only a classified document's are.
    pub fn upload_sealing(&self) -> Option<UploadSealing> {
        let sealing = self.sealing.as_ref().filter(|_| self.classification.is_classified())?;
        Some(UploadSealing { key: sealing.key.clone(), document: self.id.to_string(), base: ROOT_BASE.into() })
    }
}

/// A revision request whose rules have been checked.
#[derive(Debug)]
pub struct PreparedRevision {
    document: DocumentId,
    base: RevisionId,
    fields: Option<Map<String, Value>>,
    note: Option<String>,
    remove: Vec<Sha256Digest>,
    key: Option<Arc<SecretKey>>,
    classified: bool,
    pub inline_body: Option<String>,
}

impl PreparedRevision {
    pub fn upload_sealing(&self) -> Option<UploadSealing> {
        let key = self.key.as_ref().filter(|_| self.classified)?;
        Some(UploadSealing { key: key.clone(), document: self.document.to_string(), base: self.base.to_string() })
    }
}

/// Query filters of `GET /api/v1/documents`.
#[derive(Clone, Debug, Default)]
pub struct DocumentQuery {
    pub kind: Option<String>,
    pub state: Option<DocumentState>,
    pub department: Option<String>,
    pub archived: Option<bool>,
    pub cursor: Option<String>,
    pub limit: i64,
}

/// The view of a row whose sensitive fields (if any) are given opened.
fn to_view(row: DocumentRow, opened: Map<String, Value>) -> ServiceResult<DocumentView> {
    let mut fields: Map<String, Value> = serde_json::from_str(&row.fields).map_err(|e| ServiceError::Internal(format!("document {}: fields: {e}", row.id)))?;
    fields.extend(opened);
    Ok(DocumentView {
        classification: row.classification,
        urgency: row.urgency,
        state: row.state,
        fields,
        attachments: serde_json::from_str(&row.attachments).map_err(|e| ServiceError::Internal(format!("document {}: attachments: {e}", row.id)))?,
        id: row.id,
        kind: row.kind,
        title: row.title,
        department: row.department,
        head_revision: row.head_revision,
        revision_count: row.revision_count,
        created_at: row.created_at,
        created_by: row.created_by,
        updated_at: row.updated_at,
    })
}

fn check_title(title: &str) -> ServiceResult<String> {
    let t = title.trim();
    if t.is_empty() || t.chars().count() > 500 || t.chars().any(char::is_control) {
        return Err(ServiceError::invalid("title", "1 to 500 characters, no control characters"));
    }
    Ok(t.to_owned())
}

fn check_note(note: Option<String>) -> ServiceResult<Option<String>> {
    match note {
        Some(n) if n.chars().count() > 2000 => Err(ServiceError::invalid("note", "at most 2000 characters")),
        other => Ok(other),
    }
}

impl Henji {
    pub async fn prepare_document(&self, who: &Principal, req: CreateDocument) -> ServiceResult<PreparedDocument> {
        let kind = self.kinds.get(&req.kind).ok_or_else(|| ServiceError::invalid("kind", format!("unknown kind {:?}", req.kind)))?;
        let title = check_title(&req.title)?;
        let department = req.department.unwrap_or_else(|| who.department.clone());
        if !self.caches.department_known(&department) {
            if !department_exists(&mut *self.catalog.read().await?, &department).await? {
                return Err(ServiceError::invalid("department", "no such department"));
            }
            self.caches.put_department(&department);
        }
        access::check_create(who, &department, req.classification).map_err(|d| ServiceError::from_denied(d, "department"))?;
        kind.validate(&req.fields).map_err(|e| ServiceError::Invalid { field: e.field, detail: e.detail })?;
        let id = DocumentId::new();
        let mut fields = req.fields;
        let sensitive = split_sensitive(kind, &mut fields);
        let sealing = if req.classification.is_classified() || !sensitive.is_empty() {
            let (key, row) = self.new_data_key(&id.to_string())?;
            Some(DocumentSealing { key, new_key: Some(row) })
        } else {
            None
        };
        Ok(PreparedDocument {
            id,
            sensitive,
            sealing,
            state: kind.initial_state(),
            kind: kind.name.clone(),
            title,
            department,
            classification: req.classification,
            urgency: req.urgency.unwrap_or(Urgency::Normal),
            fields,
            inline_body: req.body.map(|b| b.text),
        })
    }

    /// Registers the document with its first revision.
    pub async fn create_document(
        &self,
        who: &Principal,
        doc: PreparedDocument,
        body: Option<UploadedFile>,
        attachments: Vec<UploadedFile>,
    ) -> ServiceResult<DocumentView> {
        let created_at = now();
        let attachment_refs = dedup_attachments(vec![], &attachments);
        let document_id = doc.id.to_string();
        let sealed_fields = match &doc.sealing {
            Some(s) if !doc.sensitive.is_empty() => seal_fields(&s.key, &document_id, ROOT_BASE, &doc.sensitive),
            _ => Map::new(),
        };
        let manifest = RevisionManifest {
            format: MANIFEST_FORMAT.into(),
            document: doc.id,
            kind: doc.kind.clone(),
            title: doc.title.clone(),
            department: doc.department.clone(),
            classification: doc.classification,
            urgency: doc.urgency,
            parent: None,
            author: who.username.clone(),
            created_at: created_at.clone(),
            body: body.as_ref().map(UploadedFile::body_ref),
            fields: doc.fields.clone(),
            attachments: attachment_refs.clone(),
            note: None,
            sealed_fields: sealed_fields.clone(),
        };
        let (revision, bytes) = manifest.seal();
        self.blobs.put_manifest(&doc.id, &revision, bytes).await?;
        let (key, new_key) = match doc.sealing {
            Some(s) => (Some(s.key), s.new_key),
            None => (None, None),
        };

        let row = DocumentRow {
            id: doc.id.to_string(),
            kind: doc.kind,
            title: doc.title,
            department: doc.department,
            classification: doc.classification,
            classification_rank: doc.classification.rank(),
            urgency: doc.urgency,
            state: doc.state,
            fields: Value::Object(doc.fields).to_string(),
            attachments: serde_json::to_string(&attachment_refs).unwrap_or_else(|_| "[]".into()),
            head_revision: revision.to_string(),
            revision_count: 1,
            created_at: created_at.clone(),
            created_by: who.username.clone(),
            updated_at: created_at.clone(),
            deleted_at: None,
            deleted_by: None,
            sealed_fields: SealedFields::to_catalog(&sealed_fields, ROOT_BASE),
        };
        // Registrations arriving together share one transaction (see group_commit).
        let (henji, who_owned, stored) = (self.clone(), who.clone(), row.clone());
        let first_revision = revision_row(&row.id, 1, &revision, &manifest);
        let head_body = body_blob(&first_revision)?;
        self.committer
            .submit(Box::new(move |conn| {
                Box::pin(async move {
                    if let Some(k) = &new_key {
                        insert_data_key(conn, k).await?;
                    }
                    rows::insert_document(conn, &stored).await?;
                    rows::insert_revision(conn, &first_revision).await?;
                    henji.reference_uploads(conn, &stored.id, body.as_ref(), &attachments, &created_at).await?;
                    let detail = json!({"kind": stored.kind, "classification": stored.classification, "revision": stored.head_revision});
                    henji.audit(conn, &created_at, &who_owned, "document.create", format!("document/{}", stored.id), Some(stored.id.clone()), detail).await
                })
            }))
            .await?;
        // The follower indexes the new document within a moment; it finds the body here.
        self.caches.put_revision_body(document_id.clone(), revision.to_string(), head_body);
        self.wake_extraction();
        if let Some(key) = key {
            self.remember_data_key(&document_id, key);
        }
        to_view(row, doc.sensitive)
    }

    async fn reference_uploads(&self, conn: &mut Conn, document: &str, body: Option<&UploadedFile>, attachments: &[UploadedFile], at: &str) -> ServiceResult<()> {
        let body = body.map(|b| (b, BODY_NAME, BODY_MEDIA_TYPE));
        let body = body.map(|(b, n, m)| (b, n, m, BlobRole::Body));
        for (file, name, media_type, role) in body.into_iter().chain(attachments.iter().map(|a| (a, a.name.as_str(), a.media_type.as_str(), BlobRole::Attachment))) {
            let size = file.blob.size as i64;
            let digest = file.blob.digest.to_hex();
            let sealed = file.sealed_base.as_deref().map(|base| (role.as_str(), base));
            let reference = rows::NewBlobReference { document_id: document, sha256: &digest, name, media_type, sealed };
            if rows::reference_blob(conn, &reference, size, at).await? {
                self.metrics.bytes_stored.inc_by(size);
                self.metrics.blobs_stored.inc();
            }
            if role == BlobRole::Attachment {
                let attachment = StoredAttachment { document, sha256: &digest, name, media_type, sealed_base: file.sealed_base.as_deref() };
                self.queue_extraction(conn, &attachment, at).await?;
            }
        }
        Ok(())
    }

    pub async fn prepare_revision(&self, who: &Principal, id: &str, req: ReviseDocument) -> ServiceResult<PreparedRevision> {
        let (row, route) = self.readable_document_with_access(who, id).await?;
        access::check_revise(who, &facts(&row, &route)).map_err(|d| ServiceError::from_denied(d, "document"))?;
        let base: RevisionId = req.base_revision.parse().map_err(|e: crate::domain::ids::IdError| ServiceError::invalid("base_revision", e.to_string()))?;
        if base.to_string() != row.head_revision {
            return Err(stale_base(&row.head_revision));
        }
        let remove = req
            .remove_attachments
            .iter()
            .enumerate()
            .map(|(i, s)| s.parse::<Sha256Digest>().map_err(|e| ServiceError::invalid(format!("remove_attachments.{i}"), e.to_string())))
            .collect::<ServiceResult<Vec<_>>>()?;
        let classified = row.classification.is_classified();
        let sensitive_patch = match (&req.fields, self.kinds.get(&row.kind)) {
            (Some(patch), Some(kind)) => kind.sensitive_fields().iter().any(|f| patch.contains_key(f)),
            _ => false,
        };
        let key = if classified || sensitive_patch || !row.sealed_fields.is_empty() { Some(self.ensure_data_key(&row.id).await?) } else { None };
        Ok(PreparedRevision {
            key,
            classified,
            document: parse_document_id(&row.id)?,
            base,
            fields: req.fields,
            note: check_note(req.note)?,
            remove,
            inline_body: req.body.map(|b| b.text),
        })
    }

    /// Adds a revision on top of `base`; if another revision got there first this is a 409 and
    /// nothing changes.
    pub async fn add_revision(
        &self,
        who: &Principal,
        rev: PreparedRevision,
        body: Option<UploadedFile>,
        attachments: Vec<UploadedFile>,
    ) -> ServiceResult<RevisionView> {
        let row = self.document_row(&mut *self.catalog.read().await?, &rev.document).await?;
        access::state_allows(row.state, access::Change::Revise).map_err(|d| ServiceError::from_denied(d, "document"))?;
        if rev.base.to_string() != row.head_revision {
            return Err(stale_base(&row.head_revision));
        }
        let parent_bytes = self.blobs.get_manifest(&rev.document, &rev.base).await?;
        let parent = RevisionManifest::parse(&parent_bytes).map_err(|e| ServiceError::Integrity(format!("revision {}: {e}", rev.base)))?;

        let kind = self.kinds.get(&row.kind).ok_or_else(|| ServiceError::Internal(format!("kind {:?} is no longer defined", row.kind)))?;
        let mut fields = parent.fields.clone();
        if !parent.sealed_fields.is_empty() {
            fields.extend(self.open_sealed_fields(Some(&who.username), &row.id, &parent.seal_base(), &parent.sealed_fields).await?);
        }
        if let Some(patch) = rev.fields {
            for (k, v) in patch {
                if v.is_null() {
                    fields.remove(&k);
                } else {
                    fields.insert(k, v);
                }
            }
            kind.validate(&fields).map_err(|e| ServiceError::Invalid { field: e.field, detail: e.detail })?;
        }
        // Every sensitive value is sealed again with this revision's base bound in.
        let base = rev.base.to_string();
        let sensitive = split_sensitive(kind, &mut fields);
        let sealed_fields = match &rev.key {
            Some(key) if !sensitive.is_empty() => seal_fields(key, &row.id, &base, &sensitive),
            None if !sensitive.is_empty() => return Err(ServiceError::Internal("sensitive fields without a data key".into())),
            _ => Map::new(),
        };
        let mut kept = parent.attachments.clone();
        for (i, digest) in rev.remove.iter().enumerate() {
            let before = kept.len();
            kept.retain(|a| a.sha256 != *digest);
            if kept.len() == before {
                return Err(ServiceError::invalid(format!("remove_attachments.{i}"), "not an attachment of the base revision"));
            }
        }
        let attachment_refs = dedup_attachments(kept, &attachments);

        let created_at = now();
        let manifest = RevisionManifest {
            parent: Some(rev.base),
            author: who.username.clone(),
            created_at: created_at.clone(),
            body: body.as_ref().map(UploadedFile::body_ref).or(parent.body.clone()),
            fields,
            attachments: attachment_refs,
            note: rev.note,
            sealed_fields,
            ..parent
        };
        let (revision, bytes) = manifest.seal();
        self.blobs.put_manifest(&rev.document, &revision, bytes).await?;

        let mut tx = self.catalog.begin_write().await?;
        let fields_json = Value::Object(manifest.fields.clone()).to_string();
        let attachments_json = serde_json::to_string(&manifest.attachments).unwrap_or_else(|_| "[]".into());
        let sealed_json = SealedFields::to_catalog(&manifest.sealed_fields, &base);
        let advanced = rows::advance_head(
            &mut tx,
            &row.id,
            &row.head_revision,
            &rows::NewHead { revision: &revision.to_string(), fields: &fields_json, sealed_fields: &sealed_json, attachments: &attachments_json, updated_at: &created_at },
        )
        .await?;
        if !advanced {
            drop(tx);
            self.discard_unreferenced_manifest(&rev.document, &revision).await;
            let head = self.document_row(&mut *self.catalog.read().await?, &rev.document).await?.head_revision;
            return Err(stale_base(&head));
        }
        let new_row = revision_row(&row.id, row.revision_count + 1, &revision, &manifest);
        match rows::insert_revision(&mut tx, &new_row).await {
            Err(e) if is_unique_violation(&e) => return Err(stale_base(&row.head_revision)),
            other => other?,
        }
        self.reference_uploads(&mut tx, &row.id, body.as_ref(), &attachments, &created_at).await?;
        let detail = json!({"revision": new_row.id, "parent": new_row.parent});
        self.audit(&mut tx, &created_at, who, "revision.create", format!("document/{}/revisions/{}", row.id, new_row.id), Some(row.id.clone()), detail).await?;
        tx.commit().await?;
        self.caches.forget_document(&row.id);
        self.wake_extraction();
        if let Ok(body) = body_blob(&new_row) {
            self.caches.put_revision_body(row.id.clone(), new_row.id.clone(), body);
        }
        Ok(new_row.into())
    }

    /// The loser of a race wrote a manifest no one will refer to. It is removed unless the
    /// winner wrote the very same manifest (same id), which then belongs to the winner.
    async fn discard_unreferenced_manifest(&self, document: &DocumentId, revision: &RevisionId) {
        let known = match self.catalog.read().await {
            Ok(mut conn) => rows::revision(&mut conn, &document.to_string(), &revision.to_string()).await.map(|r| r.is_some()),
            Err(e) => Err(e),
        };
        if let Ok(false) = known
            && let Err(e) = self.blobs.delete_manifest(document, revision).await
        {
            tracing::warn!(error = %e, %document, %revision, "could not remove an unreferenced manifest");
        }
    }

    pub async fn get_document(&self, who: &Principal, id: &str) -> ServiceResult<DocumentView> {
        let row = self.readable_document(who, id).await?;
        let opened = self.opened_fields(who, &row).await?;
        let classification = row.classification;
        if classification.is_classified() || !opened.is_empty() {
            let at = now();
            let mut tx = self.catalog.begin_write().await?;
            let detail = json!({"classification": classification, "sealed_fields": opened.keys().collect::<Vec<_>>()});
            self.audit(&mut tx, &at, who, "document.read", format!("document/{}", row.id), Some(row.id.clone()), detail).await?;
            tx.commit().await?;
        }
        to_view(row, opened)
    }

    /// The head's sensitive fields, opened (empty when it has none).
    async fn opened_fields(&self, who: &Principal, row: &DocumentRow) -> ServiceResult<Map<String, Value>> {
        match SealedFields::parse(&row.sealed_fields)? {
            Some(sealed) => self.open_sealed_fields(Some(&who.username), &row.id, &sealed.base, &sealed.values).await,
            None => Ok(Map::new()),
        }
    }

    pub async fn list_documents(&self, who: &Principal, q: &DocumentQuery) -> ServiceResult<Vec<DocumentView>> {
        let filter = DocumentFilter {
            scope: &ReadScope::of(who),
            kind: q.kind.as_deref(),
            state: q.state,
            department: q.department.as_deref(),
            archived: q.archived,
            after: q.cursor.as_deref().unwrap_or(""),
            limit: q.limit,
        };
        let rows = rows::list_documents(&mut *self.catalog.read().await?, &filter).await?;
        let mut views = Vec::with_capacity(rows.len());
        let mut sealed_read = Vec::new();
        for row in rows {
            // One damaged or shredded document must not hide the page: its sealed fields are
            // left out (the failure is audited); reading it alone reports the error.
            let opened = match self.opened_fields(who, &row).await {
                Err(ServiceError::Integrity(why) | ServiceError::Gone(why)) => {
                    tracing::warn!(document = %row.id, problem = %why, "sealed fields left out of a list");
                    Map::new()
                }
                other => other?,
            };
            if !opened.is_empty() {
                sealed_read.push(row.id.clone());
            }
            views.push(to_view(row, opened)?);
        }
        // One event for the page: which documents' sealed fields this list opened.
        if !sealed_read.is_empty() {
            let at = now();
            let mut tx = self.catalog.begin_write().await?;
            self.audit(&mut tx, &at, who, "documents.list", "documents".into(), None, json!({"sealed_fields_of": sealed_read})).await?;
            tx.commit().await?;
        }
        Ok(views)
    }

    pub async fn list_revisions(&self, who: &Principal, id: &str, after_seq: i64, limit: i64) -> ServiceResult<Vec<(i64, RevisionView)>> {
        let row = self.readable_document(who, id).await?;
        let revs = rows::revisions(&mut *self.catalog.read().await?, &row.id, after_seq, limit).await?;
        Ok(revs.into_iter().map(|r| (r.seq, r.into())).collect())
    }

    async fn readable_revision(&self, who: &Principal, id: &str, rev: &str) -> ServiceResult<(DocumentRow, RevisionRow)> {
        let row = self.readable_document(who, id).await?;
        let rev: RevisionId = rev.parse().map_err(|_| ServiceError::NotFound("revision"))?;
        let revision = rows::revision(&mut *self.catalog.read().await?, &row.id, &rev.to_string())
            .await?
            .ok_or(ServiceError::NotFound("revision"))?;
        Ok((row, revision))
    }

    /// The exact stored manifest bytes, checked against their name on the way out.
    pub async fn revision_manifest(&self, who: &Principal, id: &str, rev: &str) -> ServiceResult<Bytes> {
        let (row, revision) = self.readable_revision(who, id, rev).await?;
        let doc = parse_document_id(&row.id)?;
        let rev_id: RevisionId = revision.id.parse().map_err(|_| ServiceError::Internal("bad revision id in catalog".into()))?;
        let bytes = self.blobs.get_manifest(&doc, &rev_id).await?;
        if RevisionId::of_manifest(&bytes) != rev_id {
            return Err(ServiceError::Integrity(format!("manifest of revision {rev_id} does not match its id")));
        }
        self.audit_classified_read(who, &row, "revision.read", format!("document/{}/revisions/{}", row.id, revision.id)).await?;
        Ok(bytes)
    }

    /// The hot read path: with warm caches it touches neither the catalog nor the store.
    pub async fn revision_body(&self, who: &Principal, id: &str, rev: &str) -> ServiceResult<BlobDownload> {
        let doc = parse_document_id(id)?.to_string();
        let facts = self.access_facts(&doc).await?;
        access::check_read(who, &facts.facts())
            .map_err(|d| ServiceError::from_denied(d, "document"))?;
        let rev: RevisionId = rev.parse().map_err(|_| ServiceError::NotFound("revision"))?;
        let rev = rev.to_string();
        let body = self.body_digest(&doc, &rev).await?;
        self.audit_if_classified(who, &doc, facts.classification, "body.read", || format!("document/{doc}/revisions/{rev}/body")).await?;
        let Some(blob) = body else { return Ok(body_download(Bytes::new())) };
        // Small enough to hold: read whole, checked against its name, opened, kept, served.
        if let Some(bytes) = self.small_blob(Some(&who.username), &doc, &blob, CACHED_BODY_MAX).await? {
            return Ok(body_download(bytes));
        }
        self.stream_blob(who, &doc, &blob, BODY_MEDIA_TYPE.into(), BODY_NAME.into()).await
    }

    /// A blob, if the caller may read at least one document that refers to it.
    pub async fn blob(&self, who: &Principal, sha256: &str) -> ServiceResult<BlobDownload> {
        let digest: Sha256Digest = sha256.parse().map_err(|_| ServiceError::NotFound("blob"))?;
        let mut conn = self.catalog.read().await?;
        let references = rows::blob_references(&mut conn, &digest.to_hex()).await?;
        for reference in references {
            let Some(row) = rows::document(&mut conn, &reference.document_id).await? else { continue };
            let route = route_access(&mut conn, &row).await?;
            if access::check_read(who, &facts(&row, &route)).is_ok() {
                drop(conn);
                self.audit_classified_read(who, &row, "blob.read", format!("blob/{}", digest.to_hex())).await?;
                let role = reference.sealed_role.as_deref().and_then(BlobRole::parse).unwrap_or(BlobRole::Attachment);
                let blob = StoredBlobRef::new(digest, role, reference.sealed_base.as_deref());
                return self.stream_blob(who, &row.id, &blob, reference.media_type, reference.name).await;
            }
        }
        Err(ServiceError::NotFound("blob"))
    }

    /// The first page of a PDF attachment as a small PNG (for the desk), for a caller who may
    /// read a document that has it.
    pub async fn pdf_thumbnail(&self, who: &Principal, sha256: &str) -> ServiceResult<Bytes> {
        let download = self.blob(who, sha256).await?;
        if !download.media_type.eq_ignore_ascii_case("application/pdf") {
            return Err(ServiceError::NotFound("thumbnail"));
        }
        let stream = download.content.into_stream().map(|r| r.map_err(|e| std::io::Error::other(e.to_string()))).boxed();
        let png = engines::pdf_thumbnail(engines::Input::Stream(stream), 240).await.map_err(|e| match e {
            EngineError::Missing(what) => ServiceError::Unavailable(format!("{what} is needed to show PDF pages")),
            other => ServiceError::invalid("attachment", format!("the PDF's first page cannot be shown: {other}")),
        })?;
        Ok(Bytes::from(png))
    }

    /// A tombstone: the document disappears from every read; its content stays until disposal.
    pub async fn delete_document(&self, who: &Principal, id: &str) -> ServiceResult<()> {
        let (row, route) = self.readable_document_with_access(who, id).await?;
        access::check_delete(who, &facts(&row, &route)).map_err(|d| ServiceError::from_denied(d, "document"))?;
        let at = now();
        let mut tx = self.catalog.begin_write().await?;
        rows::mark_deleted(&mut tx, &row.id, &who.username, &at).await?;
        self.audit(&mut tx, &at, who, "document.delete", format!("document/{}", row.id), Some(row.id.clone()), json!({})).await?;
        tx.commit().await?;
        self.caches.forget_document(&row.id);
        Ok(())
    }
}

/// A body already in memory, as a download.
fn body_download(bytes: Bytes) -> BlobDownload {
    BlobDownload { size: bytes.len() as u64, media_type: BODY_MEDIA_TYPE.into(), name: BODY_NAME.into(), content: BlobContent::Whole(bytes) }
}

fn stale_base(head: &str) -> ServiceError {
    ServiceError::Conflict(format!("base_revision is not the head revision (head is {head}); fetch the head and apply your change to it"))
}

pub(super) fn revision_row(document: &str, seq: i64, id: &RevisionId, m: &RevisionManifest) -> RevisionRow {
    RevisionRow {
        id: id.to_string(),
        document_id: document.to_owned(),
        seq,
        parent: m.parent.map(|p| p.to_string()),
        author: m.author.clone(),
        created_at: m.created_at.clone(),
        note: m.note.clone(),
        body_sha256: m.body.as_ref().map(|b| b.sha256.to_hex()),
        body_chars: m.body.as_ref().map(|b| b.chars as i64),
        body_sealed_base: m.body.as_ref().and_then(|b| b.sealed_base.clone()),
    }
}

/// The same file attached twice is one attachment.
fn dedup_attachments(mut kept: Vec<AttachmentRef>, added: &[UploadedFile]) -> Vec<AttachmentRef> {
    for file in added {
        if !kept.iter().any(|a| a.sha256 == file.blob.digest) {
            kept.push(file.attachment_ref());
        }
    }
    kept
}
