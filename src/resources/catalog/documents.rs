//! Documents, their revision index and blob references in the catalog.

use sqlx::{FromRow, QueryBuilder, Sqlite};

use super::{CatalogResult, Conn, IN_LIST_MAX, in_list};
use crate::domain::access::ReadScope;
use crate::domain::people::{Classification, DocumentState, Urgency};

#[derive(Clone, Debug, FromRow)]
pub struct DocumentRow {
    pub id: String,
    pub kind: String,
    pub title: String,
    pub department: String,
    pub classification: Classification,
    pub classification_rank: i64,
    pub urgency: Urgency,
    pub state: DocumentState,
    pub fields: String,
    pub attachments: String,
    pub head_revision: String,
    pub revision_count: i64,
    pub created_at: String,
    pub created_by: String,
    pub updated_at: String,
    pub deleted_at: Option<String>,
    pub deleted_by: Option<String>,
    /// Sensitive fields of the head, sealed (see `SealedFields`); empty when there are none.
    pub sealed_fields: String,
}

#[derive(Clone, Debug, FromRow)]
pub struct RevisionRow {
    pub id: String,
    pub document_id: String,
    pub seq: i64,
    pub parent: Option<String>,
    pub author: String,
    pub created_at: String,
    pub note: Option<String>,
    pub body_sha256: Option<String>,
    pub body_chars: Option<i64>,
    /// Set when the body is sealed: the base revision bound into it.
    pub body_sealed_base: Option<String>,
}

const DOCUMENT_COLUMNS: &str = "id, kind, title, department, classification, classification_rank, urgency, state, \
     fields, attachments, head_revision, revision_count, created_at, created_by, updated_at, deleted_at, deleted_by, sealed_fields";

pub async fn insert_document(conn: &mut Conn, d: &DocumentRow) -> CatalogResult<()> {
    sqlx::query(sqlx::AssertSqlSafe(format!(
        "INSERT INTO documents ({DOCUMENT_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18)"
    )))
    .bind(&d.id)
    .bind(&d.kind)
    .bind(&d.title)
    .bind(&d.department)
    .bind(d.classification)
    .bind(d.classification_rank)
    .bind(d.urgency)
    .bind(d.state)
    .bind(&d.fields)
    .bind(&d.attachments)
    .bind(&d.head_revision)
    .bind(d.revision_count)
    .bind(&d.created_at)
    .bind(&d.created_by)
    .bind(&d.updated_at)
    .bind(&d.deleted_at)
    .bind(&d.deleted_by)
    .bind(&d.sealed_fields)
    .execute(&mut conn.0)
    .await
    .map(|_| ())
}

pub async fn document(conn: &mut Conn, id: &str) -> CatalogResult<Option<DocumentRow>> {
    sqlx::query_as(sqlx::AssertSqlSafe(format!("SELECT {DOCUMENT_COLUMNS} FROM documents WHERE id = $1")))
        .bind(id)
        .fetch_optional(&mut conn.0)
        .await
}

/// The rows of those of `ids` that exist, in no particular order: one statement for a batch
/// (the search follower's), where one each would cost a round trip to the database thread.
pub async fn documents(conn: &mut Conn, ids: &[String]) -> CatalogResult<Vec<DocumentRow>> {
    let mut rows = Vec::with_capacity(ids.len());
    for part in ids.chunks(IN_LIST_MAX) {
        rows.extend(in_list(&format!("SELECT {DOCUMENT_COLUMNS} FROM documents WHERE id"), part).build_query_as::<DocumentRow>().fetch_all(&mut conn.0).await?);
    }
    Ok(rows)
}

/// What a new head revision changes in a document's row (JSON texts as stored).
#[derive(Clone, Copy, Debug)]
pub struct NewHead<'a> {
    pub revision: &'a str,
    pub fields: &'a str,
    pub sealed_fields: &'a str,
    pub attachments: &'a str,
    pub updated_at: &'a str,
}

/// Moves the head from `base` to `head.revision` only if `base` is still the head: the
/// compare-and-swap that makes a lost update impossible. Returns false if someone was first.
pub async fn advance_head(conn: &mut Conn, id: &str, base: &str, head: &NewHead<'_>) -> CatalogResult<bool> {
    let NewHead { revision: new_head, fields, sealed_fields, attachments, updated_at } = *head;
    let done = sqlx::query(
        "UPDATE documents SET head_revision = $1, fields = $2, attachments = $3, updated_at = $4,
                revision_count = revision_count + 1, sealed_fields = $7
         WHERE id = $5 AND head_revision = $6 AND deleted_at IS NULL",
    )
    .bind(new_head)
    .bind(fields)
    .bind(attachments)
    .bind(updated_at)
    .bind(id)
    .bind(base)
    .bind(sealed_fields)
    .execute(&mut conn.0)
    .await?;
    Ok(done.rows_affected() == 1)
}

pub async fn mark_deleted(conn: &mut Conn, id: &str, by: &str, at: &str) -> CatalogResult<()> {
    sqlx::query("UPDATE documents SET deleted_at = $1, deleted_by = $2 WHERE id = $3 AND deleted_at IS NULL")
        .bind(at)
        .bind(by)
        .bind(id)
        .execute(&mut conn.0)
        .await
        .map(|_| ())
}

/// A list of documents: what the caller may read (the scope) and the filters they asked for.
pub struct DocumentFilter<'a> {
    pub scope: &'a ReadScope<'a>,
    pub kind: Option<&'a str>,
    pub state: Option<DocumentState>,
    pub department: Option<&'a str>,
    pub archived: Option<bool>,
    pub after: &'a str,
    pub limit: i64,
}

/// The read scope as SQL over `documents`: pages and counts stay right because who may see
/// what is part of the query.
pub fn push_read_scope(q: &mut QueryBuilder<Sqlite>, scope: &ReadScope<'_>) {
    q.push("deleted_at IS NULL AND classification_rank <= ").push_bind(scope.clearance.rank());
    if let Some(department) = scope.department {
        q.push(" AND (department = ").push_bind(department);
        q.push(" OR id IN (SELECT document_id FROM tasks WHERE assignee = ").push_bind(scope.username).push(" AND received_at IS NOT NULL)");
        q.push(" OR id IN (SELECT document_id FROM distributions WHERE department = ").push_bind(scope.distributed_to).push(")");
        if scope.archived_anywhere {
            q.push(" OR state = ").push_bind(DocumentState::Archived);
        }
        q.push(")");
    }
}

pub async fn list_documents(conn: &mut Conn, f: &DocumentFilter<'_>) -> CatalogResult<Vec<DocumentRow>> {
    let mut q = QueryBuilder::new(format!("SELECT {DOCUMENT_COLUMNS} FROM documents WHERE "));
    push_read_scope(&mut q, f.scope);
    if let Some(kind) = f.kind {
        q.push(" AND kind = ").push_bind(kind);
    }
    if let Some(state) = f.state {
        q.push(" AND state = ").push_bind(state);
    }
    if let Some(department) = f.department {
        q.push(" AND department = ").push_bind(department);
    }
    match f.archived {
        Some(true) => {
            q.push(" AND state = ").push_bind(DocumentState::Archived);
        }
        Some(false) => {
            q.push(" AND state <> ").push_bind(DocumentState::Archived);
        }
        None => {}
    }
    q.push(" AND id > ").push_bind(f.after).push(" ORDER BY id LIMIT ").push_bind(f.limit);
    q.build_query_as().fetch_all(&mut conn.0).await
}

/// The documents in scope changed most recently, newest first.
pub async fn recent_documents(conn: &mut Conn, scope: &ReadScope<'_>, limit: i64) -> CatalogResult<Vec<DocumentRow>> {
    let mut q = QueryBuilder::new(format!("SELECT {DOCUMENT_COLUMNS} FROM documents WHERE "));
    push_read_scope(&mut q, scope);
    q.push(" ORDER BY updated_at DESC, id DESC LIMIT ").push_bind(limit);
    q.build_query_as().fetch_all(&mut conn.0).await
}

pub async fn insert_revision(conn: &mut Conn, r: &RevisionRow) -> CatalogResult<()> {
    sqlx::query(
        "INSERT INTO revisions (id, document_id, seq, parent, author, created_at, note, body_sha256, body_chars, body_sealed_base)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
    )
    .bind(&r.id)
    .bind(&r.document_id)
    .bind(r.seq)
    .bind(&r.parent)
    .bind(&r.author)
    .bind(&r.created_at)
    .bind(&r.note)
    .bind(&r.body_sha256)
    .bind(r.body_chars)
    .bind(&r.body_sealed_base)
    .execute(&mut conn.0)
    .await
    .map(|_| ())
}

const REVISION_COLUMNS: &str = "id, document_id, seq, parent, author, created_at, note, body_sha256, body_chars, body_sealed_base";

pub async fn revisions(conn: &mut Conn, document_id: &str, after_seq: i64, limit: i64) -> CatalogResult<Vec<RevisionRow>> {
    sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {REVISION_COLUMNS} FROM revisions WHERE document_id = $1 AND seq > $2 ORDER BY seq LIMIT $3"
    )))
    .bind(document_id)
    .bind(after_seq)
    .bind(limit)
    .fetch_all(&mut conn.0)
    .await
}

pub async fn revision(conn: &mut Conn, document_id: &str, id: &str) -> CatalogResult<Option<RevisionRow>> {
    sqlx::query_as(sqlx::AssertSqlSafe(format!("SELECT {REVISION_COLUMNS} FROM revisions WHERE document_id = $1 AND id = $2")))
        .bind(document_id)
        .bind(id)
        .fetch_optional(&mut conn.0)
        .await
}

/// The revisions of these ids (a revision id is unique across documents: it hashes the
/// manifest, which names its document); ids not found are left out.
pub async fn revisions_by_id(conn: &mut Conn, ids: &[String]) -> CatalogResult<Vec<RevisionRow>> {
    let mut rows = Vec::with_capacity(ids.len());
    for part in ids.chunks(IN_LIST_MAX) {
        rows.extend(in_list(&format!("SELECT {REVISION_COLUMNS} FROM revisions WHERE id"), part).build_query_as::<RevisionRow>().fetch_all(&mut conn.0).await?);
    }
    Ok(rows)
}

/// Every revision of every document, in document then history order (for `henji verify`).
pub async fn all_revisions(conn: &mut Conn, after: (&str, i64), limit: i64) -> CatalogResult<Vec<RevisionRow>> {
    sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {REVISION_COLUMNS} FROM revisions
         WHERE document_id > $1 OR (document_id = $1 AND seq > $2)
         ORDER BY document_id, seq LIMIT $3"
    )))
    .bind(after.0)
    .bind(after.1)
    .bind(limit)
    .fetch_all(&mut conn.0)
    .await
}

/// Records that `document_id` refers to a blob. Returns true if the blob itself is new to the
/// catalog (for the bytes-stored metric).
pub async fn reference_blob(conn: &mut Conn, r: &NewBlobReference<'_>, size: i64, at: &str) -> CatalogResult<bool> {
    let new = sqlx::query("INSERT INTO blobs (sha256, size, created_at) VALUES ($1, $2, $3) ON CONFLICT (sha256) DO NOTHING")
        .bind(r.sha256)
        .bind(size)
        .bind(at)
        .execute(&mut conn.0)
        .await?
        .rows_affected()
        == 1;
    sqlx::query(
        "INSERT INTO document_blobs (document_id, sha256, name, media_type, sealed_role, sealed_base) VALUES ($1, $2, $3, $4, $5, $6)
         ON CONFLICT (document_id, sha256) DO NOTHING",
    )
    .bind(r.document_id)
    .bind(r.sha256)
    .bind(r.name)
    .bind(r.media_type)
    .bind(r.sealed.map(|s| s.0))
    .bind(r.sealed.map(|s| s.1))
    .execute(&mut conn.0)
    .await?;
    Ok(new)
}

/// A document's reference to a blob, on its way into the catalog.
pub struct NewBlobReference<'a> {
    pub document_id: &'a str,
    pub sha256: &'a str,
    pub name: &'a str,
    pub media_type: &'a str,
    /// (role, base) when the blob is sealed.
    pub sealed: Option<(&'a str, &'a str)>,
}

/// The documents that refer to a blob, with the name and type each gave it.
#[derive(Clone, Debug, FromRow)]
pub struct BlobReference {
    pub document_id: String,
    pub name: String,
    pub media_type: String,
    pub sealed_role: Option<String>,
    pub sealed_base: Option<String>,
}

pub async fn blob_references(conn: &mut Conn, sha256: &str) -> CatalogResult<Vec<BlobReference>> {
    sqlx::query_as("SELECT document_id, name, media_type, sealed_role, sealed_base FROM document_blobs WHERE sha256 = $1 ORDER BY document_id")
        .bind(sha256)
        .fetch_all(&mut conn.0)
        .await
}

pub async fn blob_totals(conn: &mut Conn) -> CatalogResult<(i64, i64)> {
    sqlx::query_as("SELECT COUNT(*), COALESCE(SUM(size), 0) FROM blobs").fetch_one(&mut conn.0).await
}

/// Documents whose head pointer is not their newest revision (for `henji verify`).
pub async fn documents_with_wrong_head(conn: &mut Conn) -> CatalogResult<Vec<(String, String)>> {
    sqlx::query_as(
        "SELECT d.id, d.head_revision FROM documents d
         WHERE d.head_revision <> (SELECT r.id FROM revisions r WHERE r.document_id = d.id ORDER BY r.seq DESC LIMIT 1)
            OR d.revision_count <> (SELECT COUNT(*) FROM revisions r WHERE r.document_id = d.id)
         ORDER BY d.id",
    )
    .fetch_all(&mut conn.0)
    .await
}

/// Ids of documents that are not deleted, in id order after `after`.
pub async fn live_document_ids(conn: &mut Conn, after: &str, limit: i64) -> CatalogResult<Vec<String>> {
    sqlx::query_scalar("SELECT id FROM documents WHERE id > $1 AND deleted_at IS NULL ORDER BY id LIMIT $2")
        .bind(after)
        .bind(limit)
        .fetch_all(&mut conn.0)
        .await
}

/// (id, head revision, sealed fields) of documents whose head has sealed fields, in id order
/// after `after` (for `henji verify`).
pub async fn sealed_field_heads(conn: &mut Conn, after: &str, limit: i64) -> CatalogResult<Vec<(String, String, String)>> {
    sqlx::query_as("SELECT id, head_revision, sealed_fields FROM documents WHERE id > $1 AND sealed_fields <> '' ORDER BY id LIMIT $2")
        .bind(after)
        .bind(limit)
        .fetch_all(&mut conn.0)
        .await
}

/// Blobs a document refers to that no other document keeps (one not itself disposed of).
pub async fn blobs_only_referenced_by(conn: &mut Conn, document: &str) -> CatalogResult<Vec<String>> {
    sqlx::query_scalar(
        "SELECT sha256 FROM document_blobs WHERE document_id = $1 AND sha256 NOT IN (
             SELECT sha256 FROM document_blobs WHERE document_id <> $1
               AND document_id NOT IN (SELECT document_id FROM archive_records WHERE disposed_at IS NOT NULL))",
    )
    .bind(document)
    .fetch_all(&mut conn.0)
    .await
}

/// A blob deleted by a disposal leaves the catalog's blob list and joins the disposed ones.
pub async fn record_disposed_blob(conn: &mut Conn, sha256: &str, archive_no: &str, at: &str) -> CatalogResult<()> {
    sqlx::query("DELETE FROM blobs WHERE sha256 = $1").bind(sha256).execute(&mut conn.0).await?;
    sqlx::query("INSERT INTO disposed_blobs (sha256, archive_no, disposed_at) VALUES ($1, $2, $3) ON CONFLICT (sha256) DO UPDATE SET archive_no = excluded.archive_no, disposed_at = excluded.disposed_at")
        .bind(sha256)
        .bind(archive_no)
        .bind(at)
        .execute(&mut conn.0)
        .await
        .map(|_| ())
}

pub async fn disposed_blobs(conn: &mut Conn) -> CatalogResult<Vec<String>> {
    sqlx::query_scalar("SELECT sha256 FROM disposed_blobs").fetch_all(&mut conn.0).await
}
