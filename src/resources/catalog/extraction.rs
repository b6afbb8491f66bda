//! Text extraction jobs in the catalog: the queue, its progress, its results.

use sqlx::FromRow;

use super::{CatalogResult, Conn};
use crate::domain::extract::JobState;

#[derive(Clone, Debug, FromRow)]
pub struct JobRow {
    pub sha256: String,
    pub document_id: String,
    pub name: String,
    pub media_type: String,
    pub sealed_base: Option<String>,
    pub state: JobState,
    pub engine: Option<String>,
    pub pages: i64,
    pub pages_done: i64,
    pub attempts: i64,
    pub not_before: String,
    pub reason: Option<String>,
    pub text_sha256: Option<String>,
    pub created_at: String,
    pub updated_at: String,
}

const COLUMNS: &str = "sha256, document_id, name, media_type, sealed_base, state, engine, pages, pages_done, attempts, not_before, reason, text_sha256, created_at, updated_at";

/// A new job for a blob, unless it has one: true if it was new.
pub async fn enqueue(conn: &mut Conn, j: &JobRow) -> CatalogResult<bool> {
    let done = sqlx::query(sqlx::AssertSqlSafe(format!(
        "INSERT INTO extraction_jobs ({COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15) ON CONFLICT (sha256) DO NOTHING"
    )))
    .bind(&j.sha256)
    .bind(&j.document_id)
    .bind(&j.name)
    .bind(&j.media_type)
    .bind(&j.sealed_base)
    .bind(j.state)
    .bind(&j.engine)
    .bind(j.pages)
    .bind(j.pages_done)
    .bind(j.attempts)
    .bind(&j.not_before)
    .bind(&j.reason)
    .bind(&j.text_sha256)
    .bind(&j.created_at)
    .bind(&j.updated_at)
    .execute(&mut conn.0)
    .await?;
    Ok(done.rows_affected() == 1)
}

pub async fn job(conn: &mut Conn, sha256: &str) -> CatalogResult<Option<JobRow>> {
    sqlx::query_as(sqlx::AssertSqlSafe(format!("SELECT {COLUMNS} FROM extraction_jobs WHERE sha256 = $1"))).bind(sha256).fetch_optional(&mut conn.0).await
}

/// The jobs of these blobs (a document's attachments).
pub async fn jobs(conn: &mut Conn, digests: &[String]) -> CatalogResult<Vec<JobRow>> {
    let mut rows = Vec::with_capacity(digests.len());
    for part in digests.chunks(super::IN_LIST_MAX) {
        rows.extend(super::in_list(&format!("SELECT {COLUMNS} FROM extraction_jobs WHERE sha256"), part).build_query_as::<JobRow>().fetch_all(&mut conn.0).await?);
    }
    Ok(rows)
}

/// Takes the oldest queued job that may run now, marking it running (one more attempt).
pub async fn claim_next(conn: &mut Conn, now: &str) -> CatalogResult<Option<JobRow>> {
    let next: Option<String> = sqlx::query_scalar("SELECT sha256 FROM extraction_jobs WHERE state = 'queued' AND not_before <= $1 ORDER BY created_at, sha256 LIMIT 1")
        .bind(now)
        .fetch_optional(&mut conn.0)
        .await?;
    let Some(sha) = next else { return Ok(None) };
    let claimed = sqlx::query("UPDATE extraction_jobs SET state = 'running', attempts = attempts + 1, updated_at = $2 WHERE sha256 = $1 AND state = 'queued'")
        .bind(&sha)
        .bind(now)
        .execute(&mut conn.0)
        .await?
        .rows_affected();
    if claimed == 0 {
        return Ok(None);
    }
    job(conn, &sha).await
}

pub async fn set_progress(conn: &mut Conn, sha256: &str, pages: i64, pages_done: i64, engine: &str, at: &str) -> CatalogResult<()> {
    sqlx::query("UPDATE extraction_jobs SET pages = $2, pages_done = $3, engine = $4, updated_at = $5 WHERE sha256 = $1")
        .bind(sha256)
        .bind(pages)
        .bind(pages_done)
        .bind(engine)
        .bind(at)
        .execute(&mut conn.0)
        .await
        .map(|_| ())
}

/// How a job ended, or that it goes back into the queue (`queued`, after `not_before`).
pub struct JobEnd<'a> {
    pub state: JobState,
    pub reason: Option<&'a str>,
    pub text_sha256: Option<&'a str>,
    pub not_before: &'a str,
    pub at: &'a str,
}

pub async fn end(conn: &mut Conn, sha256: &str, e: &JobEnd<'_>) -> CatalogResult<()> {
    sqlx::query("UPDATE extraction_jobs SET state = $2, reason = $3, text_sha256 = $4, not_before = $5, updated_at = $6 WHERE sha256 = $1")
        .bind(sha256)
        .bind(e.state)
        .bind(e.reason)
        .bind(e.text_sha256)
        .bind(e.not_before)
        .bind(e.at)
        .execute(&mut conn.0)
        .await
        .map(|_| ())
}

/// A failed job queued again from scratch (a person asked).
pub async fn retry(conn: &mut Conn, sha256: &str, at: &str) -> CatalogResult<bool> {
    let n = sqlx::query("UPDATE extraction_jobs SET state = 'queued', attempts = 0, reason = NULL, pages_done = 0, not_before = $2, updated_at = $2 WHERE sha256 = $1 AND state = 'failed'")
        .bind(sha256)
        .bind(at)
        .execute(&mut conn.0)
        .await?
        .rows_affected();
    Ok(n == 1)
}

/// Jobs a stopped process left running go back to the queue (their finished pages are kept).
pub async fn requeue_running(conn: &mut Conn, at: &str) -> CatalogResult<u64> {
    Ok(sqlx::query("UPDATE extraction_jobs SET state = 'queued', updated_at = $1 WHERE state = 'running'").bind(at).execute(&mut conn.0).await?.rows_affected())
}

/// A disposed blob's job goes with it.
pub async fn delete(conn: &mut Conn, sha256: &str) -> CatalogResult<()> {
    sqlx::query("DELETE FROM extraction_jobs WHERE sha256 = $1").bind(sha256).execute(&mut conn.0).await?;
    Ok(())
}

/// The documents that refer to a blob, to index again when its text is ready.
pub async fn documents_with(conn: &mut Conn, sha256: &str) -> CatalogResult<Vec<String>> {
    sqlx::query_scalar("SELECT document_id FROM document_blobs WHERE sha256 = $1").bind(sha256).fetch_all(&mut conn.0).await
}

/// Done jobs after `after`, in digest order (for `henji verify`).
pub async fn done_after(conn: &mut Conn, after: &str, limit: i64) -> CatalogResult<Vec<JobRow>> {
    sqlx::query_as(sqlx::AssertSqlSafe(format!("SELECT {COLUMNS} FROM extraction_jobs WHERE state = 'done' AND sha256 > $1 ORDER BY sha256 LIMIT $2")))
        .bind(after)
        .bind(limit)
        .fetch_all(&mut conn.0)
        .await
}

/// How many jobs are in each state.
pub async fn counts(conn: &mut Conn) -> CatalogResult<Vec<(JobState, i64)>> {
    sqlx::query_as("SELECT state, COUNT(*) FROM extraction_jobs GROUP BY state").fetch_all(&mut conn.0).await
}
