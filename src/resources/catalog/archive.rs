//! Archive records in the catalog.

use sqlx::FromRow;

use super::{CatalogResult, Conn};
use crate::domain::archive::Retention;

#[derive(Clone, Debug, FromRow)]
pub struct ArchiveRow {
    pub archive_no: String,
    pub document_id: String,
    pub fonds: String,
    pub year: i64,
    pub retention: Retention,
    pub department: String,
    pub item: i64,
    pub category: Option<String>,
    pub head_revision: String,
    pub archived_at: String,
    pub archived_by: String,
    pub expires_at: Option<String>,
    pub disposed_at: Option<String>,
    pub disposed_by: Option<String>,
    pub disposal_reason: Option<String>,
}

const COLUMNS: &str = "archive_no, document_id, fonds, year, retention, department, item, category, head_revision, archived_at, archived_by, \
     expires_at, disposed_at, disposed_by, disposal_reason";

/// The next item number within (fonds, year, retention, department). Called inside the write
/// transaction that inserts the record, so numbers never repeat and never skip.
pub async fn next_item(conn: &mut Conn, fonds: &str, year: i64, retention: &str, department: &str) -> CatalogResult<i64> {
    let max: Option<i64> = sqlx::query_scalar("SELECT MAX(item) FROM archive_records WHERE fonds = $1 AND year = $2 AND retention = $3 AND department = $4")
        .bind(fonds)
        .bind(year)
        .bind(retention)
        .bind(department)
        .fetch_one(&mut conn.0)
        .await?;
    Ok(max.unwrap_or(0) + 1)
}

pub async fn insert(conn: &mut Conn, r: &ArchiveRow) -> CatalogResult<()> {
    sqlx::query(sqlx::AssertSqlSafe(format!("INSERT INTO archive_records ({COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15)")))
        .bind(&r.archive_no)
        .bind(&r.document_id)
        .bind(&r.fonds)
        .bind(r.year)
        .bind(r.retention)
        .bind(&r.department)
        .bind(r.item)
        .bind(&r.category)
        .bind(&r.head_revision)
        .bind(&r.archived_at)
        .bind(&r.archived_by)
        .bind(&r.expires_at)
        .bind(&r.disposed_at)
        .bind(&r.disposed_by)
        .bind(&r.disposal_reason)
        .execute(&mut conn.0)
        .await
        .map(|_| ())
}

pub async fn by_number(conn: &mut Conn, archive_no: &str) -> CatalogResult<Option<ArchiveRow>> {
    sqlx::query_as(sqlx::AssertSqlSafe(format!("SELECT {COLUMNS} FROM archive_records WHERE archive_no = $1"))).bind(archive_no).fetch_optional(&mut conn.0).await
}

pub async fn by_document(conn: &mut Conn, document: &str) -> CatalogResult<Option<ArchiveRow>> {
    sqlx::query_as(sqlx::AssertSqlSafe(format!("SELECT {COLUMNS} FROM archive_records WHERE document_id = $1"))).bind(document).fetch_optional(&mut conn.0).await
}

pub struct ArchiveFilter<'a> {
    pub department: Option<&'a str>,
    pub year: Option<i64>,
    pub retention: Option<&'a str>,
    /// Only records whose retention ended before this time (and not yet disposed of).
    pub expired_before: Option<&'a str>,
    pub after: &'a str,
    pub limit: i64,
}

pub async fn list(conn: &mut Conn, f: &ArchiveFilter<'_>) -> CatalogResult<Vec<ArchiveRow>> {
    sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {COLUMNS} FROM archive_records
         WHERE ($1 IS NULL OR department = $1) AND ($2 IS NULL OR year = $2) AND ($3 IS NULL OR retention = $3)
           AND ($4 IS NULL OR (expires_at IS NOT NULL AND expires_at <= $4 AND disposed_at IS NULL))
           AND archive_no > $5
         ORDER BY archive_no LIMIT $6"
    )))
    .bind(f.department)
    .bind(f.year)
    .bind(f.retention)
    .bind(f.expired_before)
    .bind(f.after)
    .bind(f.limit)
    .fetch_all(&mut conn.0)
    .await
}

pub async fn mark_disposed(conn: &mut Conn, archive_no: &str, by: &str, at: &str, reason: &str) -> CatalogResult<bool> {
    let done = sqlx::query("UPDATE archive_records SET disposed_at = $2, disposed_by = $3, disposal_reason = $4 WHERE archive_no = $1 AND disposed_at IS NULL")
        .bind(archive_no)
        .bind(at)
        .bind(by)
        .bind(reason)
        .execute(&mut conn.0)
        .await?;
    Ok(done.rows_affected() == 1)
}
