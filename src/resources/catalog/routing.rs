//! Routes, task rows, distributions and opinions in the catalog.

use sqlx::FromRow;

use super::{CatalogResult, Conn, IN_LIST_MAX, in_list};
use crate::domain::people::Urgency;
use crate::domain::routing::{ActionKind, RouteStatus, TaskState};

#[derive(Clone, Debug, FromRow)]
pub struct RouteRow {
    pub document_id: String,
    pub template: Option<String>,
    pub initiator: String,
    pub steps: String,
    pub status: RouteStatus,
    pub current_step: i64,
    pub signed_by: Option<String>,
    pub signed_at: Option<String>,
    pub version: i64,
    pub created_at: String,
    pub updated_at: String,
}

#[derive(Clone, Debug, FromRow)]
pub struct TaskRow {
    pub document_id: String,
    pub seq: i64,
    pub step: i64,
    pub position: i64,
    pub assignee: String,
    pub on_behalf_of: Option<String>,
    pub state: TaskState,
    pub received_at: Option<String>,
    pub handled_at: Option<String>,
    pub action: Option<ActionKind>,
    pub comment: Option<String>,
    pub due_at: Option<String>,
}

/// A task in someone's inbox, with what the inbox shows of its document.
#[derive(Clone, Debug, FromRow)]
pub struct InboxRow {
    pub document_id: String,
    pub seq: i64,
    pub step: i64,
    pub state: TaskState,
    pub on_behalf_of: Option<String>,
    pub received_at: Option<String>,
    pub handled_at: Option<String>,
    pub action: Option<ActionKind>,
    pub due_at: Option<String>,
    pub title: String,
    pub urgency: Urgency,
    pub kind: String,
}

#[derive(Clone, Debug, FromRow)]
pub struct OpinionRow {
    pub id: String,
    pub document_id: String,
    pub author: String,
    pub department: String,
    pub created_at: String,
    pub text: Option<String>,
    pub sealed: bool,
    pub ink_sha256: Option<String>,
    pub ink_media_type: Option<String>,
}

#[derive(Clone, Debug, FromRow)]
pub struct DistributionRow {
    pub department: String,
    pub distributed_by: String,
    pub distributed_at: String,
}

pub async fn route(conn: &mut Conn, document: &str) -> CatalogResult<Option<RouteRow>> {
    sqlx::query_as(
        "SELECT document_id, template, initiator, steps, status, current_step, signed_by, signed_at, version, created_at, updated_at
         FROM routes WHERE document_id = $1",
    )
    .bind(document)
    .fetch_optional(&mut conn.0)
    .await
}

pub async fn insert_route(conn: &mut Conn, r: &RouteRow) -> CatalogResult<()> {
    sqlx::query(
        "INSERT INTO routes (document_id, template, initiator, steps, status, current_step, signed_by, signed_at, version, created_at, updated_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
    )
    .bind(&r.document_id)
    .bind(&r.template)
    .bind(&r.initiator)
    .bind(&r.steps)
    .bind(r.status)
    .bind(r.current_step)
    .bind(&r.signed_by)
    .bind(&r.signed_at)
    .bind(r.version)
    .bind(&r.created_at)
    .bind(&r.updated_at)
    .execute(&mut conn.0)
    .await
    .map(|_| ())
}

/// Writes the route back if nobody changed it since it was read at `r.version - 1`; `false`
/// means another action got there first.
pub async fn update_route(conn: &mut Conn, r: &RouteRow) -> CatalogResult<bool> {
    let done = sqlx::query(
        "UPDATE routes SET steps = $2, status = $3, current_step = $4, signed_by = $5, signed_at = $6, version = $7, updated_at = $8
         WHERE document_id = $1 AND version = $9",
    )
    .bind(&r.document_id)
    .bind(&r.steps)
    .bind(r.status)
    .bind(r.current_step)
    .bind(&r.signed_by)
    .bind(&r.signed_at)
    .bind(r.version)
    .bind(&r.updated_at)
    .bind(r.version - 1)
    .execute(&mut conn.0)
    .await?;
    Ok(done.rows_affected() == 1)
}

const TASK_COLUMNS: &str = "document_id, seq, step, position, assignee, on_behalf_of, state, received_at, handled_at, action, comment, due_at";

pub async fn tasks(conn: &mut Conn, document: &str) -> CatalogResult<Vec<TaskRow>> {
    sqlx::query_as(sqlx::AssertSqlSafe(format!("SELECT {TASK_COLUMNS} FROM tasks WHERE document_id = $1 ORDER BY seq")))
        .bind(document)
        .fetch_all(&mut conn.0)
        .await
}

pub async fn upsert_task(conn: &mut Conn, t: &TaskRow) -> CatalogResult<()> {
    sqlx::query(sqlx::AssertSqlSafe(format!(
        "INSERT INTO tasks ({TASK_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)
         ON CONFLICT (document_id, seq) DO UPDATE SET state = excluded.state, received_at = excluded.received_at,
             handled_at = excluded.handled_at, action = excluded.action, comment = excluded.comment, due_at = excluded.due_at"
    )))
    .bind(&t.document_id)
    .bind(t.seq)
    .bind(t.step)
    .bind(t.position)
    .bind(&t.assignee)
    .bind(&t.on_behalf_of)
    .bind(t.state)
    .bind(&t.received_at)
    .bind(&t.handled_at)
    .bind(t.action)
    .bind(&t.comment)
    .bind(&t.due_at)
    .execute(&mut conn.0)
    .await
    .map(|_| ())
}

/// Removes placeholders (`waiting` rows) of a pass that will not happen; never a history row.
pub async fn delete_placeholder(conn: &mut Conn, document: &str, seq: i64) -> CatalogResult<()> {
    sqlx::query("DELETE FROM tasks WHERE document_id = $1 AND seq = $2 AND state = 'waiting'")
        .bind(document)
        .bind(seq)
        .execute(&mut conn.0)
        .await
        .map(|_| ())
}

pub async fn set_document_state(conn: &mut Conn, document: &str, state: crate::domain::people::DocumentState, at: &str) -> CatalogResult<()> {
    sqlx::query("UPDATE documents SET state = $2, updated_at = $3 WHERE id = $1").bind(document).bind(state).bind(at).execute(&mut conn.0).await.map(|_| ())
}

/// Who may read a document through its route or a distribution: `(username, task state)` for
/// everyone a task ever reached (pending, handled, or skipped after it arrived; a placeholder
/// of a step not reached grants nothing), `(department, "distributed")` for departments.
pub async fn route_readers(conn: &mut Conn, document: &str) -> CatalogResult<Vec<(String, String)>> {
    sqlx::query_as(
        "SELECT assignee, state FROM tasks WHERE document_id = $1 AND received_at IS NOT NULL
         UNION SELECT department, 'distributed' FROM distributions WHERE document_id = $1",
    )
    .bind(document)
    .fetch_all(&mut conn.0)
    .await
}

/// Documents a user may read through a route (pending or handled tasks) or a distribution to
/// their department, for permission clauses where a per-document check is not possible.
pub async fn documents_reachable_by(conn: &mut Conn, username: &str, department: &str) -> CatalogResult<Vec<String>> {
    sqlx::query_scalar(
        "SELECT DISTINCT document_id FROM tasks WHERE assignee = $1 AND received_at IS NOT NULL
         UNION SELECT document_id FROM distributions WHERE department = $2",
    )
    .bind(username)
    .bind(department)
    .fetch_all(&mut conn.0)
    .await
}

pub struct InboxFilter<'a> {
    pub assignee: &'a str,
    pub done: bool,
    /// Only tasks due before this time (overdue, 催办).
    pub due_before: Option<&'a str>,
    pub max_rank: i64,
    pub offset: i64,
    pub limit: i64,
}

/// 待办 most urgent first, then oldest; 已办 most recently handled first.
pub async fn inbox(conn: &mut Conn, f: &InboxFilter<'_>) -> CatalogResult<Vec<InboxRow>> {
    let (state, order) = if f.done {
        ("done", "t.handled_at DESC, t.document_id, t.seq")
    } else {
        ("pending", "CASE d.urgency WHEN 'very_urgent' THEN 0 WHEN 'urgent' THEN 1 ELSE 2 END, t.received_at, t.document_id, t.seq")
    };
    sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT t.document_id, t.seq, t.step, t.state, t.on_behalf_of, t.received_at, t.handled_at, t.action, t.due_at, d.title, d.urgency, d.kind
         FROM tasks t JOIN documents d ON d.id = t.document_id
         WHERE t.assignee = $1 AND t.state = $2 AND d.deleted_at IS NULL AND d.classification_rank <= $3
           AND ($4 IS NULL OR (t.due_at IS NOT NULL AND t.due_at < $4))
         ORDER BY {order} LIMIT $5 OFFSET $6"
    )))
    .bind(f.assignee)
    .bind(state)
    .bind(f.max_rank)
    .bind(f.due_before)
    .bind(f.limit)
    .bind(f.offset)
    .fetch_all(&mut conn.0)
    .await
}

/// How many tasks wait for `assignee` among the documents their clearance reaches.
pub async fn pending_count(conn: &mut Conn, assignee: &str, max_rank: i64) -> CatalogResult<i64> {
    sqlx::query_scalar(
        "SELECT COUNT(*) FROM tasks t JOIN documents d ON d.id = t.document_id
         WHERE t.assignee = $1 AND t.state = 'pending' AND d.deleted_at IS NULL AND d.classification_rank <= $2",
    )
    .bind(assignee)
    .bind(max_rank)
    .fetch_one(&mut conn.0)
    .await
}

pub async fn insert_distribution(conn: &mut Conn, document: &str, department: &str, by: &str, at: &str) -> CatalogResult<bool> {
    let done = sqlx::query(
        "INSERT INTO distributions (document_id, department, distributed_by, distributed_at) VALUES ($1, $2, $3, $4)
         ON CONFLICT (document_id, department) DO NOTHING",
    )
    .bind(document)
    .bind(department)
    .bind(by)
    .bind(at)
    .execute(&mut conn.0)
    .await?;
    Ok(done.rows_affected() == 1)
}

pub async fn distributions(conn: &mut Conn, document: &str) -> CatalogResult<Vec<DistributionRow>> {
    sqlx::query_as("SELECT department, distributed_by, distributed_at FROM distributions WHERE document_id = $1 ORDER BY distributed_at, department")
        .bind(document)
        .fetch_all(&mut conn.0)
        .await
}

pub async fn insert_opinion(conn: &mut Conn, o: &OpinionRow) -> CatalogResult<()> {
    sqlx::query(
        "INSERT INTO opinions (id, document_id, author, department, created_at, text, sealed, ink_sha256, ink_media_type)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
    )
    .bind(&o.id)
    .bind(&o.document_id)
    .bind(&o.author)
    .bind(&o.department)
    .bind(&o.created_at)
    .bind(&o.text)
    .bind(o.sealed)
    .bind(&o.ink_sha256)
    .bind(&o.ink_media_type)
    .execute(&mut conn.0)
    .await
    .map(|_| ())
}

/// Which of `documents` have at least one opinion.
pub async fn with_opinions(conn: &mut Conn, documents: &[String]) -> CatalogResult<std::collections::BTreeSet<String>> {
    let mut found = std::collections::BTreeSet::new();
    for part in documents.chunks(IN_LIST_MAX) {
        found.extend(in_list("SELECT DISTINCT document_id FROM opinions WHERE document_id", part).build_query_scalar::<String>().fetch_all(&mut conn.0).await?);
    }
    Ok(found)
}

/// Opinions oldest first (ids are ULIDs, so they sort by time), after the cursor id.
pub async fn opinions(conn: &mut Conn, document: &str, after: &str, limit: i64) -> CatalogResult<Vec<OpinionRow>> {
    sqlx::query_as(
        "SELECT id, document_id, author, department, created_at, text, sealed, ink_sha256, ink_media_type
         FROM opinions WHERE document_id = $1 AND id > $2 ORDER BY id LIMIT $3",
    )
    .bind(document)
    .bind(after)
    .bind(limit)
    .fetch_all(&mut conn.0)
    .await
}
