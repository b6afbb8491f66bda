//! The archive (归档): archiving a finished document under an archive number, listing records,
//! and disposal (销毁) once the retention period has ended.

use serde::{Deserialize, Serialize};
use serde_json::json;
use utoipa::ToSchema;

use super::reading::{facts, route_access};
use super::{Henji, ServiceError, ServiceResult, now, stamp};
use crate::domain::archive::{self, ArchiveNumberParts, Retention};
use crate::domain::ids::Sha256Digest;
use crate::domain::access;
use crate::domain::people::{DocumentState, Principal};
use crate::resources::catalog::archive::{self as rows, ArchiveFilter, ArchiveRow};
use crate::resources::catalog::documents as doc_rows;
use crate::resources::catalog::extraction as extraction_rows;
use crate::resources::catalog::routing::set_document_state;

/// `POST /api/v1/documents/{id}/archive`.
#[derive(Clone, Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ArchiveRequest {
    pub retention: Retention,
    /// 类别: a classification scheme's category, as the archive keeps it (free text).
    pub category: Option<String>,
}

/// An archive record; after disposal, a tombstone with who, when and why.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct ArchiveRecordView {
    pub archive_no: String,
    pub document: String,
    /// The document's title, where the caller may read the document (not after disposal).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    pub retention: Retention,
    pub archived_at: String,
    pub archived_by: String,
    pub fonds: String,
    pub year: i64,
    pub department: String,
    pub item: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub category: Option<String>,
    pub head_revision: String,
    /// When the retention period ends (absent: permanent).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<String>,
    pub expired: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub disposed_at: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub disposed_by: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub disposal_reason: Option<String>,
}

impl ArchiveRecordView {
    pub fn from_row(r: ArchiveRow, now: &str) -> ServiceResult<Self> {
        let retention = r.retention;
        Ok(Self {
            expired: r.expires_at.as_deref().is_some_and(|e| e <= now),
            archive_no: r.archive_no,
            document: r.document_id,
            title: None,
            retention,
            archived_at: r.archived_at,
            archived_by: r.archived_by,
            fonds: r.fonds,
            year: r.year,
            department: r.department,
            item: r.item,
            category: r.category,
            head_revision: r.head_revision,
            expires_at: r.expires_at,
            disposed_at: r.disposed_at,
            disposed_by: r.disposed_by,
            disposal_reason: r.disposal_reason,
        })
    }
}

#[derive(Clone, Debug, Default)]
pub struct ArchiveQuery {
    pub department: Option<String>,
    pub year: Option<i64>,
    pub retention: Option<Retention>,
    pub expired: bool,
    pub cursor: Option<String>,
    pub limit: i64,
}

impl Henji {
    /// Freezes the document under the next archive number of its (fonds, year, retention,
    /// department); from now on every write to it is a 409.
    pub async fn archive_document(&self, who: &Principal, id: &str, req: ArchiveRequest) -> ServiceResult<ArchiveRecordView> {
        let (row, route) = self.readable_document_with_access(who, id).await?;
        access::check_archive(who, &facts(&row, &route)).map_err(|d| ServiceError::from_denied(d, "document"))?;
        if let Some(c) = &req.category
            && (c.chars().count() > 100 || c.chars().any(char::is_control))
        {
            return Err(ServiceError::invalid("category", "at most 100 characters, no control characters"));
        }
        let year = archive::document_year(&row.created_at).ok_or_else(|| ServiceError::Internal(format!("document {}: created_at {:?}", row.id, row.created_at)))?;
        let at = now();
        let settings = &self.settings;
        let mut tx = self.catalog.begin_write().await?;
        // Read again inside the transaction: two archivists at once get one number, not two.
        let current = doc_rows::document(&mut tx, &row.id).await?.ok_or(ServiceError::NotFound("document"))?;
        let route = route_access(&mut tx, &current).await?;
        access::check_archive(who, &facts(&current, &route)).map_err(|d| ServiceError::from_denied(d, "document"))?;
        let retention = req.retention;
        let item = rows::next_item(&mut tx, &settings.fonds, i64::from(year), retention.as_str(), &current.department).await?;
        let parts = ArchiveNumberParts { fonds: &settings.fonds, year, retention, department: &current.department, item };
        let record = ArchiveRow {
            archive_no: settings.archive_pattern.render(&parts),
            document_id: current.id.clone(),
            fonds: settings.fonds.clone(),
            year: i64::from(year),
            retention,
            department: current.department.clone(),
            item,
            category: req.category,
            head_revision: current.head_revision.clone(),
            archived_at: at.clone(),
            archived_by: who.username.clone(),
            expires_at: retention.expires(year).map(stamp),
            disposed_at: None,
            disposed_by: None,
            disposal_reason: None,
        };
        match rows::insert(&mut tx, &record).await {
            Err(e) if crate::resources::catalog::is_unique_violation(&e) => {
                return Err(ServiceError::Conflict(format!("archive number {} is taken (another installation's record imported under it?); try again", record.archive_no)));
            }
            other => other?,
        }
        set_document_state(&mut tx, &current.id, DocumentState::Archived, &at).await?;
        let detail = json!({"archive_no": record.archive_no, "retention": retention, "head_revision": record.head_revision});
        self.audit(&mut tx, &at, who, "archive.create", format!("archive/{}", record.archive_no), Some(current.id.clone()), detail).await?;
        tx.commit().await?;
        self.caches.forget_document(&current.id);
        ArchiveRecordView::from_row(record, &at)
    }

    /// Archive records of documents the caller may read.
    pub async fn list_archive(&self, who: &Principal, q: &ArchiveQuery) -> ServiceResult<Vec<ArchiveRecordView>> {
        let at = now();
        let filter = ArchiveFilter {
            department: q.department.as_deref(),
            year: q.year,
            retention: q.retention.map(Retention::as_str),
            expired_before: q.expired.then_some(at.as_str()),
            after: q.cursor.as_deref().unwrap_or(""),
            limit: q.limit,
        };
        let mut out = Vec::new();
        let mut after = filter.after.to_owned();
        // Records the caller may not read are left out, so a page is filled from further on.
        loop {
            let page = rows::list(&mut *self.catalog.read().await?, &ArchiveFilter { after: &after, ..filter }).await?;
            let Some(last) = page.last().map(|r| r.archive_no.clone()) else { break };
            let full = page.len() as i64 == q.limit;
            for r in page {
                if let Some(title) = self.record_title(who, &r).await? {
                    let mut view = ArchiveRecordView::from_row(r, &at)?;
                    view.title = title;
                    out.push(view);
                }
            }
            if out.len() as i64 >= q.limit || !full {
                break;
            }
            after = last;
        }
        out.truncate(q.limit as usize);
        Ok(out)
    }

    /// A record is listed to whoever may read its document; a disposed one (its document is
    /// gone) to its department's people and to administrators.
    /// `None` if the caller may not see the record; else the document's title if they may
    /// read it (a disposed record's tombstone has none).
    async fn record_title(&self, who: &Principal, r: &ArchiveRow) -> ServiceResult<Option<Option<String>>> {
        if r.disposed_at.is_some() {
            return Ok(access::check_read_tombstone(who, &r.department).is_ok().then_some(None));
        }
        match self.readable_document(who, &r.document_id).await {
            Ok(row) => Ok(Some(Some(row.title))),
            Err(ServiceError::NotFound(_)) => Ok(None),
            Err(e) => Err(e),
        }
    }

    async fn may_see_record(&self, who: &Principal, r: &ArchiveRow) -> ServiceResult<bool> {
        Ok(self.record_title(who, r).await?.is_some())
    }

    /// An archive record the caller may see, as the API shows it.
    pub async fn archive_record_view(&self, who: &Principal, archive_no: &str) -> ServiceResult<ArchiveRecordView> {
        ArchiveRecordView::from_row(self.archive_record(who, archive_no).await?, &now())
    }

    pub(super) async fn archive_record(&self, who: &Principal, archive_no: &str) -> ServiceResult<ArchiveRow> {
        if !archive::is_archive_number(archive_no) {
            return Err(ServiceError::NotFound("archive record"));
        }
        let r = rows::by_number(&mut *self.catalog.read().await?, archive_no).await?.ok_or(ServiceError::NotFound("archive record"))?;
        if !self.may_see_record(who, &r).await? {
            return Err(ServiceError::NotFound("archive record"));
        }
        Ok(r)
    }

    /// 销毁: an administrator disposes of a record past its retention. Its data key is
    /// destroyed (crypto-shredding), blobs only it refers to are deleted, and the document is
    /// gone from every read and from search; the record stays as a tombstone with the archive
    /// number, the digests and the disposal's audit event.
    pub async fn dispose(&self, who: &Principal, archive_no: &str, reason: &str) -> ServiceResult<ArchiveRecordView> {
        access::check_dispose(who).map_err(|d| ServiceError::from_denied(d, "archive record"))?;
        let reason = reason.trim();
        if reason.is_empty() || reason.chars().count() > 2000 {
            return Err(ServiceError::invalid("reason", "say why, in 1 to 2000 characters"));
        }
        let record = self.archive_record(who, archive_no).await?;
        let at = now();
        if record.disposed_at.is_some() {
            return Err(ServiceError::Conflict("the record was disposed of already".into()));
        }
        match &record.expires_at {
            None => return Err(ServiceError::Conflict("the record is kept permanently (永久)".into())),
            Some(e) if e.as_str() > at.as_str() => return Err(ServiceError::Conflict(format!("its retention runs until {e}"))),
            _ => {}
        }
        let document = doc_rows::document(&mut *self.catalog.read().await?, &record.document_id).await?.ok_or(ServiceError::NotFound("document"))?;
        let classification = document.classification;

        let mut tx = self.catalog.begin_write().await?;
        if !rows::mark_disposed(&mut tx, archive_no, &who.username, &at, reason).await? {
            return Err(ServiceError::Conflict("the record was disposed of already".into()));
        }
        doc_rows::mark_deleted(&mut tx, &record.document_id, &who.username, &at).await?;
        // Blobs no other living document refers to go; their digests stay with the tombstone.
        let only_here = doc_rows::blobs_only_referenced_by(&mut tx, &record.document_id).await?;
        for digest in &only_here {
            doc_rows::record_disposed_blob(&mut tx, digest, archive_no, &at).await?;
            extraction_rows::delete(&mut tx, digest).await?;
        }
        let detail = json!({"archive_no": archive_no, "reason": reason, "blobs_deleted": only_here.len(), "classification": classification});
        self.audit(&mut tx, &at, who, "archive.dispose", format!("archive/{archive_no}"), Some(record.document_id.clone()), detail).await?;
        tx.commit().await?;
        self.caches.forget_document(&record.document_id);
        // After the commit: a crash between leaves blobs the tombstone already counts as gone,
        // which the next disposal sweep (or `henji verify`) sees, never a record still readable.
        for hex in &only_here {
            if let Ok(digest) = hex.parse::<Sha256Digest>() {
                self.blobs.delete(&digest).await?;
                self.caches.forget_body(&digest);
                self.delete_texts(hex).await?;
            }
        }
        self.destroy_data_key(who, &record.document_id, reason).await?;
        let record = rows::by_number(&mut *self.catalog.read().await?, archive_no).await?.ok_or(ServiceError::NotFound("archive record"))?;
        ArchiveRecordView::from_row(record, &at)
    }
}
