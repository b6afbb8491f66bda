//! Recorded fixity checks.

use serde::Serialize;
use sqlx::FromRow;
use utoipa::ToSchema;

use super::{CatalogResult, Conn};

#[derive(Clone, Debug, FromRow, Serialize, ToSchema)]
pub struct FixityRow {
    pub started_at: String,
    pub finished_at: String,
    #[serde(rename = "trigger")]
    pub trigger_name: String,
    pub blobs_checked: i64,
    pub bytes_checked: i64,
    pub manifests_checked: i64,
    pub bad_count: i64,
    pub first_bad: Option<String>,
}

pub async fn insert(conn: &mut Conn, r: &FixityRow) -> CatalogResult<()> {
    sqlx::query(
        "INSERT INTO fixity_runs (started_at, finished_at, trigger_name, blobs_checked, bytes_checked, manifests_checked, bad_count, first_bad)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT (started_at) DO NOTHING",
    )
    .bind(&r.started_at)
    .bind(&r.finished_at)
    .bind(&r.trigger_name)
    .bind(r.blobs_checked)
    .bind(r.bytes_checked)
    .bind(r.manifests_checked)
    .bind(r.bad_count)
    .bind(&r.first_bad)
    .execute(&mut conn.0)
    .await
    .map(|_| ())
}

/// The newest runs first.
pub async fn recent(conn: &mut Conn, limit: i64) -> CatalogResult<Vec<FixityRow>> {
    sqlx::query_as(
        "SELECT started_at, finished_at, trigger_name, blobs_checked, bytes_checked, manifests_checked, bad_count, first_bad
         FROM fixity_runs ORDER BY started_at DESC LIMIT $1",
    )
    .bind(limit)
    .fetch_all(&mut conn.0)
    .await
}
