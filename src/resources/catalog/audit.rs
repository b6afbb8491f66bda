//! The audit chain in the catalog. Appending reads the last hash inside the same write
//! transaction as the change it records, so an event exists exactly when its change does.

use serde_json::Value;
use sqlx::Row;

use super::{CatalogResult, Conn};
use crate::domain::audit::{AuditEvent, GENESIS_HASH, StoredEvent, event_hash};

/// What happened; the chain fields are filled in by `append`.
pub struct NewEvent<'a> {
    pub at: &'a str,
    pub user: Option<&'a str>,
    pub action: &'a str,
    pub object: String,
    pub document_id: Option<String>,
    pub detail: Value,
}

pub async fn append(conn: &mut Conn, e: NewEvent<'_>) -> CatalogResult<i64> {
    let last: Option<(i64, String)> = sqlx::query_as("SELECT seq, hash FROM audit_events ORDER BY seq DESC LIMIT 1")
        .fetch_optional(&mut conn.0)
        .await?;
    let (seq, prev_hash) = match last {
        Some((seq, hash)) => (seq + 1, hash),
        None => (1, GENESIS_HASH.to_owned()),
    };
    let hash = event_hash(&prev_hash, seq, e.at, e.user, e.action, &e.object, &e.detail);
    sqlx::query(
        "INSERT INTO audit_events (seq, at, username, action, object, document_id, detail, prev_hash, hash)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
    )
    .bind(seq)
    .bind(e.at)
    .bind(e.user)
    .bind(e.action)
    .bind(&e.object)
    .bind(&e.document_id)
    .bind(e.detail.to_string())
    .bind(&prev_hash)
    .bind(&hash)
    .execute(&mut conn.0)
    .await?;
    Ok(seq)
}

pub struct EventFilter<'a> {
    pub document: Option<&'a str>,
    pub user: Option<&'a str>,
    pub since: Option<&'a str>,
    pub after_seq: i64,
    /// Newest first, below this sequence number (`i64::MAX`: from the newest).
    pub newest_before: Option<i64>,
    pub limit: i64,
}

pub async fn list(conn: &mut Conn, f: &EventFilter<'_>) -> CatalogResult<Vec<AuditEvent>> {
    let (range, order, bound) = match f.newest_before {
        Some(before) => ("seq < $1", "seq DESC", before),
        None => ("seq > $1", "seq", f.after_seq),
    };
    let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT seq, at, username, action, object, detail, prev_hash, hash FROM audit_events
         WHERE {range} AND ($2 IS NULL OR document_id = $2) AND ($3 IS NULL OR username = $3) AND ($4 IS NULL OR at >= $4)
         ORDER BY {order} LIMIT $5"
    )))
    .bind(bound)
    .bind(f.document)
    .bind(f.user)
    .bind(f.since)
    .bind(f.limit)
    .fetch_all(&mut conn.0)
    .await?;
    rows.into_iter().map(|r| row_to_event(&r)).collect()
}

/// Events after `seq` as stored, for walking the chain: the detail stays the stored text.
pub async fn chain_page(conn: &mut Conn, after_seq: i64, limit: i64) -> CatalogResult<Vec<StoredEvent>> {
    type Row = (i64, String, Option<String>, String, String, String, String, String);
    let rows: Vec<Row> = sqlx::query_as("SELECT seq, at, username, action, object, detail, prev_hash, hash FROM audit_events WHERE seq > $1 ORDER BY seq LIMIT $2")
        .bind(after_seq)
        .bind(limit)
        .fetch_all(&mut conn.0)
        .await?;
    Ok(rows
        .into_iter()
        .map(|(seq, at, user, action, object, detail_json, prev_hash, hash)| StoredEvent { seq, at, user, action, object, detail_json, prev_hash, hash })
        .collect())
}

fn row_to_event(r: &sqlx::sqlite::SqliteRow) -> CatalogResult<AuditEvent> {
    let detail: String = r.try_get("detail")?;
    Ok(AuditEvent {
        seq: r.try_get("seq")?,
        at: r.try_get("at")?,
        user: r.try_get("username")?,
        action: r.try_get("action")?,
        object: r.try_get("object")?,
        // A row edited by hand into non-JSON must still reach the verifier, which then fails it.
        detail: serde_json::from_str(&detail).unwrap_or(Value::String(detail)),
        prev_hash: r.try_get("prev_hash")?,
        hash: r.try_get("hash")?,
    })
}

/// Events after `seq` that concern a document, oldest first: the change feed the search index
/// follows.
pub async fn document_events_after(conn: &mut Conn, seq: i64, limit: i64) -> CatalogResult<Vec<(i64, String, String)>> {
    sqlx::query_as("SELECT seq, document_id, action FROM audit_events WHERE seq > $1 AND document_id IS NOT NULL ORDER BY seq LIMIT $2")
        .bind(seq)
        .bind(limit)
        .fetch_all(&mut conn.0)
        .await
}

pub async fn last_seq(conn: &mut Conn) -> CatalogResult<i64> {
    sqlx::query_scalar("SELECT COALESCE(MAX(seq), 0) FROM audit_events").fetch_one(&mut conn.0).await
}

/// The newest event's sequence number and hash.
pub async fn head(conn: &mut Conn) -> CatalogResult<Option<(i64, String)>> {
    sqlx::query_as("SELECT seq, hash FROM audit_events ORDER BY seq DESC LIMIT 1").fetch_optional(&mut conn.0).await
}

/// The hash the catalog holds for event `seq`.
pub async fn hash_at(conn: &mut Conn, seq: i64) -> CatalogResult<Option<String>> {
    sqlx::query_scalar("SELECT hash FROM audit_events WHERE seq = $1").bind(seq).fetch_optional(&mut conn.0).await
}
