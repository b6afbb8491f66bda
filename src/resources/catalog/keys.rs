//! Wrapped data keys and key checks in the catalog. Only wrapped keys are stored here.

use sqlx::FromRow;

use super::{CatalogResult, Conn};

#[derive(Clone, Debug, FromRow)]
pub struct DataKeyRow {
    pub owner: String,
    pub kek_id: String,
    pub wrapped: String,
    pub created_at: String,
    pub destroyed_at: Option<String>,
}

pub async fn key_checks(conn: &mut Conn) -> CatalogResult<Vec<(String, String)>> {
    sqlx::query_as("SELECT kek_id, check_value FROM key_checks ORDER BY kek_id").fetch_all(&mut conn.0).await
}

pub async fn insert_key_check(conn: &mut Conn, kek_id: &str, check_value: &str, at: &str) -> CatalogResult<()> {
    sqlx::query("INSERT INTO key_checks (kek_id, check_value, added_at) VALUES ($1, $2, $3) ON CONFLICT (kek_id) DO NOTHING")
        .bind(kek_id)
        .bind(check_value)
        .bind(at)
        .execute(&mut conn.0)
        .await
        .map(|_| ())
}

/// How many live data keys each key-encryption key wraps.
pub async fn keys_per_kek(conn: &mut Conn) -> CatalogResult<Vec<(String, i64)>> {
    sqlx::query_as("SELECT kek_id, COUNT(*) FROM data_keys WHERE destroyed_at IS NULL GROUP BY kek_id ORDER BY kek_id").fetch_all(&mut conn.0).await
}

pub async fn data_key(conn: &mut Conn, owner: &str) -> CatalogResult<Option<DataKeyRow>> {
    sqlx::query_as("SELECT owner, kek_id, wrapped, created_at, destroyed_at FROM data_keys WHERE owner = $1")
        .bind(owner)
        .fetch_optional(&mut conn.0)
        .await
}

/// Returns false if the owner already has a key (the caller then reads that one).
pub async fn insert_data_key(conn: &mut Conn, row: &DataKeyRow) -> CatalogResult<bool> {
    let done = sqlx::query("INSERT INTO data_keys (owner, kek_id, wrapped, created_at) VALUES ($1, $2, $3, $4) ON CONFLICT (owner) DO NOTHING")
        .bind(&row.owner)
        .bind(&row.kek_id)
        .bind(&row.wrapped)
        .bind(&row.created_at)
        .execute(&mut conn.0)
        .await?;
    Ok(done.rows_affected() == 1)
}

/// Live keys not wrapped by `kek_id`, in owner order after `after`.
pub async fn keys_not_under(conn: &mut Conn, kek_id: &str, after: &str, limit: i64) -> CatalogResult<Vec<DataKeyRow>> {
    sqlx::query_as(
        "SELECT owner, kek_id, wrapped, created_at, destroyed_at FROM data_keys
         WHERE kek_id <> $1 AND destroyed_at IS NULL AND owner > $2 ORDER BY owner LIMIT $3",
    )
    .bind(kek_id)
    .bind(after)
    .bind(limit)
    .fetch_all(&mut conn.0)
    .await
}

/// Every live key, in owner order after `after` (for `henji verify`).
pub async fn live_keys(conn: &mut Conn, after: &str, limit: i64) -> CatalogResult<Vec<DataKeyRow>> {
    sqlx::query_as("SELECT owner, kek_id, wrapped, created_at, destroyed_at FROM data_keys WHERE destroyed_at IS NULL AND owner > $1 ORDER BY owner LIMIT $2")
        .bind(after)
        .bind(limit)
        .fetch_all(&mut conn.0)
        .await
}

/// Re-wraps one key, only if it is still wrapped the way the caller read it.
pub async fn rewrap(conn: &mut Conn, owner: &str, old_kek: &str, new_kek: &str, wrapped: &str) -> CatalogResult<bool> {
    let done = sqlx::query("UPDATE data_keys SET kek_id = $1, wrapped = $2 WHERE owner = $3 AND kek_id = $4 AND destroyed_at IS NULL")
        .bind(new_kek)
        .bind(wrapped)
        .bind(owner)
        .bind(old_kek)
        .execute(&mut conn.0)
        .await?;
    Ok(done.rows_affected() == 1)
}

/// Crypto-shredding: the wrapped bytes are gone for good.
pub async fn destroy(conn: &mut Conn, owner: &str, at: &str) -> CatalogResult<bool> {
    let done = sqlx::query("UPDATE data_keys SET wrapped = '', destroyed_at = $1 WHERE owner = $2 AND destroyed_at IS NULL")
        .bind(at)
        .bind(owner)
        .execute(&mut conn.0)
        .await?;
    Ok(done.rows_affected() == 1)
}
