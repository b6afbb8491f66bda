//! The official-document flow (公文流转): routing a document, acting on it, the handling trail
//! (办理轨迹), the inbox (个人工作台) and distribution (分发).
//!
//! Every action is one write transaction that reads the route, applies the domain rules and
//! writes the changed task rows back; the route's version makes a lost race a 409 rather than a
//! double transition (writes are serialised in this process anyway; the check is what keeps a
//! multi-writer catalog honest).

use std::collections::BTreeMap;

use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use chrono::Utc;
use serde::{Deserialize, Serialize};
use serde_json::json;
use utoipa::ToSchema;

use super::reading::facts;
use super::events::{Notice, TaskNotice};
use super::people::principal_from_row;
use super::{Henji, ServiceError, ServiceResult, now};
use crate::domain::access::{self, ReadScope};
use crate::domain::people::{Classification, DocumentState, Principal, Role, Urgency};
use crate::domain::route_templates::AssigneeSelector;
use crate::domain::routing::{Action, ActionKind, Outcome, Refusal, Route, RouteStatus, StepPlan, Task, TaskState};
use crate::domain::sealing::{self, Place, SecretKey};
use crate::resources::catalog::Conn;
use crate::resources::catalog::documents as doc_rows;
use crate::resources::catalog::people::{department_exists, user_by_username, users_in_department};
use crate::resources::catalog::routing::{self as rows, InboxFilter, RouteRow, TaskRow};

/// `POST /api/v1/documents/{id}/route`: inline steps, or a template (with assignees for its
/// open steps, by step name or number).
#[derive(Clone, Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RouteRequest {
    pub steps: Option<Vec<StepPlan>>,
    pub template: Option<String>,
    /// With a template: usernames for steps, keyed by step name (`批示`) or number (`2`).
    pub assignees: Option<BTreeMap<String, Vec<String>>>,
}

/// `POST /api/v1/documents/{id}/actions`.
#[derive(Clone, Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ActionRequest {
    pub action: ActionKind,
    pub comment: Option<String>,
    /// Usernames for `forward` (and for `approve`: the next step's assignees when it is open);
    /// department codes for `distribute`.
    #[serde(default)]
    pub to: Vec<String>,
    /// For `return` (0: the initiator) and `jump`; counts from 1.
    pub step: Option<u32>,
}

#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct DistributionView {
    pub department: String,
    pub distributed_by: String,
    pub distributed_at: String,
}

#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct RouteView {
    pub document: String,
    pub template: Option<String>,
    pub initiator: String,
    pub status: RouteStatus,
    /// The step being handled; 0 while the document is back with its initiator.
    pub current_step: u32,
    pub steps: Vec<StepPlan>,
    pub signed_by: Option<String>,
    pub signed_at: Option<String>,
    pub created_at: String,
    #[serde(default)]
    pub distributions: Vec<DistributionView>,
}

/// One row of the handling trail (办理轨迹).
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct TrailEntry {
    pub step: u32,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub step_name: Option<String>,
    pub assignee: String,
    pub display_name: String,
    /// 移交代理: the original assignee of a forwarded task.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub on_behalf_of: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub received_at: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub handled_at: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub action: Option<ActionKind>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub comment: Option<String>,
    pub state: TaskState,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub due_at: Option<String>,
    /// 催办: pending past its due time.
    pub overdue: bool,
}

/// A task in the caller's inbox.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct InboxItem {
    pub document: String,
    pub title: String,
    pub kind: String,
    pub urgency: Urgency,
    pub step: u32,
    pub received_at: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub due_at: Option<String>,
    pub overdue: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub on_behalf_of: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub handled_at: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub action: Option<ActionKind>,
}

#[derive(Clone, Debug, Default)]
pub struct InboxQuery {
    pub done: bool,
    pub overdue: bool,
    pub offset: i64,
    pub limit: i64,
}

/// Longest comment on an action.
const MAX_COMMENT_CHARS: usize = 5000;

fn refused(r: Refusal) -> ServiceError {
    match r {
        Refusal::Forbidden(why) => ServiceError::Forbidden(why),
        Refusal::Conflict(why) => ServiceError::Conflict(why),
        Refusal::Invalid { field, detail } => ServiceError::Invalid { field, detail },
    }
}

pub(super) fn check_comment(comment: Option<String>, field: &str) -> ServiceResult<Option<String>> {
    match comment {
        Some(c) if c.chars().count() > MAX_COMMENT_CHARS => Err(ServiceError::invalid(field, format!("at most {MAX_COMMENT_CHARS} characters"))),
        Some(c) if c.trim().is_empty() => Ok(None),
        other => Ok(other),
    }
}

/// A comment of a classified document is sealed, bound to its document and task row.
fn comment_place<'a>(document: &'a str, seq: &'a str) -> Place<'a> {
    Place::Field { document, base: "trail", field: seq }
}

fn is_overdue(due_at: Option<&str>, state: TaskState, now: &str) -> bool {
    state == TaskState::Pending && due_at.is_some_and(|d| d < now)
}

fn task_from_row(r: TaskRow) -> ServiceResult<Task> {
    let bad = |what: &str| ServiceError::Integrity(format!("task {}/{}: bad {what}", r.document_id, r.seq));
    Ok(Task {
        seq: r.seq,
        step: u32::try_from(r.step).map_err(|_| bad("step"))?,
        position: u32::try_from(r.position).map_err(|_| bad("position"))?,
        state: r.state,
        action: r.action,
        assignee: r.assignee,
        on_behalf_of: r.on_behalf_of,
        received_at: r.received_at,
        handled_at: r.handled_at,
        comment: r.comment,
        due_at: r.due_at,
        changed: false,
    })
}

pub(super) fn route_from_rows(row: &RouteRow, tasks: Vec<TaskRow>, signs_off: bool) -> ServiceResult<Route> {
    let steps: Vec<StepPlan> = serde_json::from_str(&row.steps).map_err(|e| ServiceError::Internal(format!("route of {}: steps: {e}", row.document_id)))?;
    Ok(Route {
        initiator: row.initiator.clone(),
        template: row.template.clone(),
        steps,
        status: row.status,
        current: u32::try_from(row.current_step).map_err(|_| ServiceError::Internal("route: bad current step".into()))?,
        signed_by: row.signed_by.clone(),
        signed_at: row.signed_at.clone(),
        tasks: tasks.into_iter().map(task_from_row).collect::<ServiceResult<_>>()?,
        signs_off,
    })
}

fn route_row(document: &str, route: &Route, version: i64, created_at: &str, updated_at: &str) -> RouteRow {
    RouteRow {
        document_id: document.to_owned(),
        template: route.template.clone(),
        initiator: route.initiator.clone(),
        steps: serde_json::to_string(&route.steps).unwrap_or_else(|_| "[]".into()),
        status: route.status,
        current_step: i64::from(route.current),
        signed_by: route.signed_by.clone(),
        signed_at: route.signed_at.clone(),
        version,
        created_at: created_at.to_owned(),
        updated_at: updated_at.to_owned(),
    }
}

impl Henji {
    /// Puts a document on a route; the first step's assignees find it in their inbox.
    pub async fn start_route(&self, who: &Principal, id: &str, req: RouteRequest) -> ServiceResult<RouteView> {
        let (row, route_access) = self.readable_document_with_access(who, id).await?;
        access::check_route(who, &facts(&row, &route_access)).map_err(|d| ServiceError::from_denied(d, "document"))?;
        let classification = row.classification;
        let kind = self.kinds.get(&row.kind);
        let signs_off = kind.is_some_and(|k| k.signs_off());
        let (template, steps) = self.plan_route(who, &row.department, &row.kind, req).await?;
        self.check_assignees(&steps, classification).await?;
        let (route, outcome) = Route::start(&who.username, template, steps, signs_off, Utc::now()).map_err(refused)?;

        let at = now();
        let key = self.comment_key(&row.id, classification).await?;
        let mut tx = self.catalog.begin_write().await?;
        let current = doc_rows::document(&mut tx, &row.id).await?.ok_or(ServiceError::NotFound("document"))?;
        if current.state != row.state || current.deleted_at.is_some() {
            return Err(ServiceError::Conflict("the document changed while it was being routed; try again".into()));
        }
        let stored = route_row(&row.id, &route, 1, &at, &at);
        match rows::insert_route(&mut tx, &stored).await {
            Err(e) if crate::resources::catalog::is_unique_violation(&e) => return Err(ServiceError::Conflict("the document is already routed".into())),
            other => other?,
        }
        self.write_tasks(&mut tx, &row.id, &route, &outcome, key.as_deref()).await?;
        rows::set_document_state(&mut tx, &row.id, DocumentState::InReview, &at).await?;
        let detail = json!({"template": route.template, "steps": route.steps.len(), "assignees": outcome.notify});
        self.audit(&mut tx, &at, who, "route.create", format!("document/{}/route", row.id), Some(row.id.clone()), detail).await?;
        tx.commit().await?;
        self.caches.forget_document(&row.id);
        self.announce(&row, &route, &outcome);
        self.route_view(&row.id, &route, &at).await
    }

    /// Steps from the request: inline, or a template with its selectors resolved.
    async fn plan_route(&self, who: &Principal, department: &str, kind: &str, req: RouteRequest) -> ServiceResult<(Option<String>, Vec<StepPlan>)> {
        match (req.steps, req.template) {
            (Some(steps), None) => {
                if req.assignees.is_some() {
                    return Err(ServiceError::invalid("assignees", "assignees go with a template; inline steps name their own"));
                }
                Ok((None, steps))
            }
            (None, Some(name)) => {
                let template = self.templates.get(&name).ok_or_else(|| {
                    let known: Vec<&str> = self.templates.iter().map(|t| t.name.as_str()).collect();
                    ServiceError::invalid("template", format!("unknown template; known: {}", known.join(", ")))
                })?;
                if !template.fits(kind) {
                    return Err(ServiceError::invalid("template", format!("template {name} is for {} documents", template.kinds.join(", "))));
                }
                let mut conn = self.catalog.read().await?;
                let mut resolved = Vec::with_capacity(template.steps.len());
                for step in &template.steps {
                    resolved.push(match &step.assignees {
                        AssigneeSelector::Users(users) => users.clone(),
                        AssigneeSelector::Initiator(_) => vec![who.username.clone()],
                        AssigneeSelector::Role { role, department: which } => {
                            let code = match which.as_str() {
                                "document" => department,
                                "initiator" => who.department.as_str(),
                                code => code,
                            };
                            self.users_with_role(&mut conn, code, *role).await?
                        }
                    });
                }
                let mut steps = template.plan(|_| vec![]);
                for (plan, users) in steps.iter_mut().zip(resolved) {
                    plan.assignees = users;
                }
                for (key, users) in req.assignees.unwrap_or_default() {
                    let i = template.step_index(&key).ok_or_else(|| ServiceError::invalid(format!("assignees.{key}"), "no such step in the template"))?;
                    steps[i].assignees = users;
                }
                Ok((Some(name), steps))
            }
            _ => Err(ServiceError::invalid("steps", "give either `steps` or `template`")),
        }
    }

    async fn users_with_role(&self, conn: &mut Conn, department: &str, role: Role) -> ServiceResult<Vec<String>> {
        let mut out = Vec::new();
        for row in users_in_department(conn, department).await? {
            let user = principal_from_row(row)?;
            if AssigneeSelector::holds_role(&user, role) {
                out.push(user.username);
            }
        }
        Ok(out)
    }

    /// Every assignee exists and may be given the task (domain::access::check_assignee).
    async fn check_assignees(&self, steps: &[StepPlan], classification: Classification) -> ServiceResult<()> {
        for (i, step) in steps.iter().enumerate() {
            for name in &step.assignees {
                self.assignable_user(name, classification, step.sign, &format!("steps.{i}.assignees")).await?;
            }
        }
        Ok(())
    }

    async fn assignable_user(&self, name: &str, classification: Classification, signs_off: bool, field: &str) -> ServiceResult<Principal> {
        let row = user_by_username(&mut *self.catalog.read().await?, name).await?;
        let user = principal_from_row(row.ok_or_else(|| ServiceError::invalid(field, format!("no user {name:?}")))?)?;
        access::check_assignee(&user, classification, signs_off).map_err(|why| ServiceError::invalid(field, format!("{name}: {why}")))?;
        Ok(user)
    }

    /// The data key that seals comments of a classified document (`None`: not classified).
    async fn comment_key(&self, document: &str, classification: Classification) -> ServiceResult<Option<std::sync::Arc<SecretKey>>> {
        if classification.is_classified() { Ok(Some(self.ensure_data_key(document).await?)) } else { Ok(None) }
    }

    async fn write_tasks(&self, conn: &mut Conn, document: &str, route: &Route, outcome: &Outcome, key: Option<&SecretKey>) -> ServiceResult<()> {
        for seq in &outcome.removed {
            rows::delete_placeholder(conn, document, *seq).await?;
        }
        for t in route.tasks.iter().filter(|t| t.changed) {
            let seq = t.seq.to_string();
            // Only a row handled in this action carries a new comment; history rows never change.
            let comment = match (&t.comment, key) {
                (Some(c), Some(key)) => Some(B64.encode(sealing::seal(key, &comment_place(document, &seq), c.as_bytes()))),
                (c, _) => c.clone(),
            };
            let row = TaskRow {
                document_id: document.to_owned(),
                seq: t.seq,
                step: i64::from(t.step),
                position: i64::from(t.position),
                assignee: t.assignee.clone(),
                on_behalf_of: t.on_behalf_of.clone(),
                state: t.state,
                received_at: t.received_at.clone(),
                handled_at: t.handled_at.clone(),
                action: t.action,
                comment,
                due_at: t.due_at.clone(),
            };
            rows::upsert_task(conn, &row).await?;
        }
        Ok(())
    }

    /// Tells the new assignees' event streams, after the commit.
    fn announce(&self, row: &doc_rows::DocumentRow, route: &Route, outcome: &Outcome) {
        for user in &outcome.notify {
            let task = route.tasks.iter().rev().find(|t| &t.assignee == user && t.state == TaskState::Pending);
            if let Some(task) = task {
                self.notifier.publish(Notice::Task(TaskNotice {
                    user: user.clone(),
                    document: row.id.clone(),
                    title: row.title.clone(),
                    urgency: row.urgency,
                    step: i64::from(task.step),
                    received_at: task.received_at.clone().unwrap_or_default(),
                }));
            }
        }
    }

    /// Acts on a document's route (or distributes it); answers the document as it is now.
    pub async fn act_on_document(&self, who: &Principal, id: &str, req: ActionRequest) -> ServiceResult<super::documents::DocumentView> {
        let (row, route_access) = self.readable_document_with_access(who, id).await?;
        let comment = check_comment(req.comment, "comment")?;
        let classification = row.classification;
        let action = match req.action {
            ActionKind::Approve => Action::Approve { to: req.to.clone() },
            ActionKind::Sign => Action::Sign,
            ActionKind::Return => Action::Return { step: req.step },
            ActionKind::Withdraw => Action::Withdraw,
            ActionKind::Forward => Action::Forward { to: req.to.clone() },
            ActionKind::Jump => Action::Jump { step: req.step.ok_or_else(|| ServiceError::invalid("step", "jump needs the step to move to (from 1)"))? },
            ActionKind::Distribute => {
                access::check_distribute(who, &facts(&row, &route_access)).map_err(|d| ServiceError::from_denied(d, "document"))?;
                self.distribute(who, &row, &req.to, comment).await?;
                return self.get_document(who, id).await;
            }
        };
        access::check_act(who, &facts(&row, &route_access)).map_err(|d| ServiceError::from_denied(d, "document"))?;
        if !matches!(req.action, ActionKind::Approve | ActionKind::Forward) && !req.to.is_empty() {
            return Err(ServiceError::invalid("to", format!("{} takes no `to`", req.action.as_str())));
        }
        for (i, name) in req.to.iter().enumerate() {
            self.assignable_user(name, classification, false, &format!("to.{i}")).await?;
        }
        let actor = access::actor(who);
        let signs_off = self.kinds.get(&row.kind).is_some_and(|k| k.signs_off());
        let key = self.comment_key(&row.id, classification).await?;

        let at = now();
        let mut tx = self.catalog.begin_write().await?;
        let current = doc_rows::document(&mut tx, &row.id).await?.ok_or(ServiceError::NotFound("document"))?;
        if current.deleted_at.is_some() {
            return Err(ServiceError::NotFound("document"));
        }
        access::state_allows(current.state, access::Change::Act).map_err(|d| ServiceError::from_denied(d, "document"))?;
        let Some(stored) = rows::route(&mut tx, &row.id).await? else {
            return Err(ServiceError::Conflict("the document has no route; route it first (POST …/route)".into()));
        };
        let tasks = rows::tasks(&mut tx, &row.id).await?;
        let mut route = route_from_rows(&stored, tasks, signs_off)?;
        let outcome = route.act(&actor, action, comment, Utc::now()).map_err(refused)?;
        if req.action == ActionKind::Approve && !req.to.is_empty() {
            // The step `to` filled may be a sign-off step, whose assignees must be leaders.
            self.check_assignees(&route.steps, classification).await?;
        }
        let updated = route_row(&row.id, &route, stored.version + 1, &stored.created_at, &at);
        if !rows::update_route(&mut tx, &updated).await? {
            return Err(ServiceError::Conflict("another action on this document came first; reload it and try again".into()));
        }
        self.write_tasks(&mut tx, &row.id, &route, &outcome, key.as_deref()).await?;
        if let Some(state) = outcome.state {
            rows::set_document_state(&mut tx, &row.id, state, &at).await?;
        }
        let detail = json!({"action": req.action, "step": stored.current_step, "to": req.to, "new_tasks": outcome.notify, "state": outcome.state});
        self.audit(&mut tx, &at, who, &format!("route.{}", req.action.as_str()), format!("document/{}/route", row.id), Some(row.id.clone()), detail).await?;
        tx.commit().await?;
        self.caches.forget_document(&row.id);
        self.announce(&row, &route, &outcome);
        self.get_document(who, id).await
    }

    /// 分发: the listed departments may read the document from now on, read-only. The caller
    /// was checked (`access::check_distribute`).
    async fn distribute(&self, who: &Principal, row: &doc_rows::DocumentRow, to: &[String], comment: Option<String>) -> ServiceResult<()> {
        let mut conn = self.catalog.read().await?;
        if to.is_empty() || to.len() > 200 {
            return Err(ServiceError::invalid("to", "distribute names 1 to 200 department codes"));
        }
        for (i, code) in to.iter().enumerate() {
            if !department_exists(&mut conn, code).await? {
                return Err(ServiceError::invalid(format!("to.{i}"), format!("no department {:?}", code.chars().take(16).collect::<String>())));
            }
        }
        drop(conn);
        let at = now();
        let mut tx = self.catalog.begin_write().await?;
        // Read again inside the transaction: an archive that came first wins.
        let current = doc_rows::document(&mut tx, &row.id).await?.ok_or(ServiceError::NotFound("document"))?;
        if current.state != row.state || current.deleted_at.is_some() {
            return Err(ServiceError::Conflict(format!("the document became {} meanwhile; reload it", current.state)));
        }
        let mut added = Vec::new();
        for code in to {
            if rows::insert_distribution(&mut tx, &row.id, code, &who.username, &at).await? {
                added.push(code.clone());
            }
        }
        // A comment on a distribution is a note for the audit trail, never sealed content there.
        let detail = json!({"departments": added, "with_comment": comment.is_some()});
        self.audit(&mut tx, &at, who, "route.distribute", format!("document/{}/route", row.id), Some(row.id.clone()), detail).await?;
        tx.commit().await?;
        self.caches.forget_document(&row.id);
        Ok(())
    }

    pub async fn get_route(&self, who: &Principal, id: &str) -> ServiceResult<RouteView> {
        let row = self.readable_document(who, id).await?;
        let mut conn = self.catalog.read().await?;
        let stored = rows::route(&mut conn, &row.id).await?.ok_or(ServiceError::NotFound("route"))?;
        let route = route_from_rows(&stored, vec![], false)?;
        drop(conn);
        self.route_view(&row.id, &route, &stored.created_at).await
    }

    async fn route_view(&self, document: &str, route: &Route, created_at: &str) -> ServiceResult<RouteView> {
        let distributions = rows::distributions(&mut *self.catalog.read().await?, document).await?;
        Ok(RouteView {
            document: document.to_owned(),
            template: route.template.clone(),
            initiator: route.initiator.clone(),
            status: route.status,
            current_step: route.current,
            steps: route.steps.clone(),
            signed_by: route.signed_by.clone(),
            signed_at: route.signed_at.clone(),
            created_at: created_at.to_owned(),
            distributions: distributions.into_iter().map(|d| DistributionView { department: d.department, distributed_by: d.distributed_by, distributed_at: d.distributed_at }).collect(),
        })
    }

    /// 办理轨迹: every task row, in the order of the steps (and of creation within a step), so
    /// a client draws done, current and pending steps straight from it.
    pub async fn trail(&self, who: &Principal, id: &str) -> ServiceResult<Vec<TrailEntry>> {
        let row = self.readable_document(who, id).await?;
        let classification = row.classification;
        let mut conn = self.catalog.read().await?;
        let Some(stored) = rows::route(&mut conn, &row.id).await? else { return Ok(vec![]) };
        let steps: Vec<StepPlan> = serde_json::from_str(&stored.steps).map_err(|e| ServiceError::Internal(format!("route steps: {e}")))?;
        let mut tasks = rows::tasks(&mut conn, &row.id).await?;
        drop(conn);
        // Handled rows in the order they happened; then what is pending; then what waits.
        let order = |t: &TaskRow| match t.state {
            TaskState::Done | TaskState::Skipped => (0, t.handled_at.clone().unwrap_or_default(), t.step, t.seq),
            TaskState::Pending => (1, String::new(), t.step, t.seq),
            TaskState::Waiting => (2, String::new(), t.step, t.position * 1_000_000 + t.seq),
        };
        tasks.sort_by_key(order);
        let key = if tasks.iter().any(|t| t.comment.is_some()) { self.comment_key(&row.id, classification).await? } else { None };
        let at = now();
        let names = self.display_names(tasks.iter().map(|t| t.assignee.as_str())).await?;
        let mut out = Vec::with_capacity(tasks.len());
        for t in tasks {
            let seq = t.seq.to_string();
            let comment = match (t.comment, &key) {
                (Some(c), Some(key)) => {
                    let sealed = B64.decode(c.as_bytes()).map_err(|_| ServiceError::Integrity(format!("comment of task {seq} of {} is not base64", row.id)))?;
                    let plain = sealing::open(key, &comment_place(&row.id, &seq), &sealed).map_err(|_| ServiceError::Integrity(format!("comment of task {seq} of {} does not open", row.id)))?;
                    Some(String::from_utf8_lossy(&plain).into_owned())
                }
                (c, _) => c,
            };
            let state = t.state;
            let step = u32::try_from(t.step).unwrap_or(0);
            out.push(TrailEntry {
                step,
                step_name: if step == 0 { Some("退回拟稿人".into()) } else { steps.get(step as usize - 1).and_then(|s| s.name.clone()) },
                display_name: names.get(&t.assignee).cloned().unwrap_or_else(|| t.assignee.clone()),
                assignee: t.assignee,
                on_behalf_of: t.on_behalf_of,
                received_at: t.received_at,
                handled_at: t.handled_at,
                action: t.action,
                comment,
                overdue: is_overdue(t.due_at.as_deref(), state, &at),
                state,
                due_at: t.due_at,
            });
        }
        if classification.is_classified() && key.is_some() {
            self.audit_classified_read(who, &row, "trail.read", format!("document/{}/trail", row.id)).await?;
        }
        Ok(out)
    }

    pub(super) async fn display_names<'a>(&self, users: impl Iterator<Item = &'a str>) -> ServiceResult<BTreeMap<String, String>> {
        let mut out = BTreeMap::new();
        let mut conn = self.catalog.read().await?;
        for u in users {
            if !out.contains_key(u)
                && let Some(row) = user_by_username(&mut conn, u).await?
            {
                out.insert(u.to_owned(), row.display_name);
            }
        }
        Ok(out)
    }

    /// How many tasks wait for the caller (the count beside 待办 on every page).
    pub async fn pending_count(&self, who: &Principal) -> ServiceResult<usize> {
        let n = rows::pending_count(&mut *self.catalog.read().await?, &who.username, ReadScope::of(who).clearance.rank()).await?;
        Ok(usize::try_from(n).unwrap_or(0))
    }

    /// 个人工作台: pending tasks (most urgent first, then oldest), or handled ones.
    pub async fn inbox(&self, who: &Principal, q: &InboxQuery) -> ServiceResult<Vec<InboxItem>> {
        let at = now();
        let filter = InboxFilter {
            assignee: &who.username,
            done: q.done,
            due_before: q.overdue.then_some(at.as_str()),
            max_rank: ReadScope::of(who).clearance.rank(),
            offset: q.offset,
            limit: q.limit,
        };
        let found = rows::inbox(&mut *self.catalog.read().await?, &filter).await?;
        found
            .into_iter()
            .map(|r| {
                Ok(InboxItem {
                    overdue: is_overdue(r.due_at.as_deref(), r.state, &at),
                    urgency: r.urgency,
                    document: r.document_id,
                    title: r.title,
                    kind: r.kind,
                    step: u32::try_from(r.step).unwrap_or(0),
                    received_at: r.received_at,
                    due_at: r.due_at,
                    on_behalf_of: r.on_behalf_of,
                    handled_at: r.handled_at,
                    action: r.action,
                })
            })
            .collect()
    }

    /// The route templates a document of `kind` may take.
    pub fn route_templates_for(&self, kind: &str) -> Vec<&crate::domain::route_templates::RouteTemplate> {
        self.templates.iter().filter(|t| t.fits(kind)).collect()
    }

    /// Documents a read scope reaches through routes and distributions (for search's
    /// permission clause); none needed when it covers every department.
    pub(super) async fn documents_routed_into(&self, scope: &ReadScope<'_>) -> ServiceResult<Vec<String>> {
        if scope.every_department() {
            return Ok(vec![]);
        }
        Ok(rows::documents_reachable_by(&mut *self.catalog.read().await?, scope.username, scope.distributed_to).await?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn overdue_means_pending_past_due() {
        let now = "2026-11-23T10:00:00.000Z";
        assert!(is_overdue(Some("2026-11-23T09:00:00.000Z"), TaskState::Pending, now));
        assert!(!is_overdue(Some("2026-11-23T09:00:00.000Z"), TaskState::Done, now));
        assert!(!is_overdue(Some("2026-11-23T11:00:00.000Z"), TaskState::Pending, now));
        assert!(!is_overdue(None, TaskState::Pending, now));
    }
}
