//! Routes (公文流转): the path a document takes through people, and the rules of every action
//! on it. A route is a list of steps; each step has assignees and a mode. Every pass through a
//! step gets task rows of its own, so the handling trail (办理轨迹) keeps every earlier pass
//! after a return or a jump: history rows (`done`, `skipped`) are never changed again, and only
//! the rows of the steps still ahead (`waiting`) are placeholders that may be replaced.
//!
//! Pure logic: the service loads a route with its tasks inside a write transaction, calls
//! [`Route::act`], and writes back the rows it reports as changed.

use chrono::{DateTime, Duration, SecondsFormat, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::people::DocumentState;

/// The most assignees one step (or one `forward`) may name.
pub const MAX_ASSIGNEES: usize = 50;
/// The most steps a route may have.
pub const MAX_STEPS: usize = 30;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum StepMode {
    /// One assignee after another, in the listed order.
    Sequential,
    /// Every assignee must approve.
    Parallel,
    /// The first approval closes the step; the other tasks are skipped.
    Any,
}

/// One step of a route as planned: who, how, and by when.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct StepPlan {
    /// A short name (`拟办`, `签发`), shown in the trail and inbox.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    pub mode: StepMode,
    /// Usernames. Empty while a template step waits to be told who (see `approve` with `to`).
    pub assignees: Vec<String>,
    /// 签发: the step's assignees finish it with `sign`, not `approve`.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub sign: bool,
    /// Tasks of this step fall due this many hours after they arrive.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub due_hours: Option<u32>,
    /// Or at this fixed time (RFC 3339).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub due_at: Option<String>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum RouteStatus {
    Active,
    /// Sent back to the initiator, who resubmits with `approve`.
    Returned,
    Withdrawn,
    Completed,
}

impl RouteStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Active => "active",
            Self::Returned => "returned",
            Self::Withdrawn => "withdrawn",
            Self::Completed => "completed",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        [Self::Active, Self::Returned, Self::Withdrawn, Self::Completed].into_iter().find(|v| v.as_str() == s)
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum TaskState {
    /// A step not reached yet.
    Waiting,
    /// In the assignee's inbox (待办).
    Pending,
    /// Handled (已办).
    Done,
    /// Closed without the assignee acting (another approved an `any` step, a return, a jump).
    Skipped,
}

impl TaskState {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Waiting => "waiting",
            Self::Pending => "pending",
            Self::Done => "done",
            Self::Skipped => "skipped",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        [Self::Waiting, Self::Pending, Self::Done, Self::Skipped].into_iter().find(|v| v.as_str() == s)
    }

    fn is_live(self) -> bool {
        matches!(self, Self::Waiting | Self::Pending)
    }
}

/// What happened to a task; also the actions a request can name.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ActionKind {
    Approve,
    /// 退回
    Return,
    /// 撤消
    Withdraw,
    /// 移交代理
    Forward,
    /// 跳转办理 (administrators)
    Jump,
    /// 签发 (leaders)
    Sign,
    /// 分发
    Distribute,
}

impl ActionKind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Approve => "approve",
            Self::Return => "return",
            Self::Withdraw => "withdraw",
            Self::Forward => "forward",
            Self::Jump => "jump",
            Self::Sign => "sign",
            Self::Distribute => "distribute",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        [Self::Approve, Self::Return, Self::Withdraw, Self::Forward, Self::Jump, Self::Sign, Self::Distribute].into_iter().find(|v| v.as_str() == s)
    }
}

/// One row of the handling trail: one assignee in one pass through one step. Step 0 is the
/// initiator's own task after a return to them.
#[derive(Clone, Debug, PartialEq)]
pub struct Task {
    /// Order of creation within the document; the row's key with the document id.
    pub seq: i64,
    pub step: u32,
    /// Order within a sequential step.
    pub position: u32,
    pub assignee: String,
    /// 移交代理: whose task this was before it was forwarded.
    pub on_behalf_of: Option<String>,
    pub state: TaskState,
    pub received_at: Option<String>,
    pub handled_at: Option<String>,
    pub action: Option<ActionKind>,
    pub comment: Option<String>,
    pub due_at: Option<String>,
    /// Set when this call created or changed the row (what the service writes back).
    pub changed: bool,
}

/// Who acts, as the rules see them.
#[derive(Clone, Debug)]
pub struct Actor<'a> {
    pub username: &'a str,
    pub is_admin: bool,
    pub is_leader: bool,
}

/// An action as requested, with its arguments checked for shape (users exist, steps are numbers).
#[derive(Clone, Debug)]
pub enum Action {
    /// `to`: the next step's assignees, for a step the plan left open.
    Approve { to: Vec<String> },
    Sign,
    /// `step`: an earlier step to return to (0: the initiator); default the previous step.
    Return { step: Option<u32> },
    Withdraw,
    Forward { to: Vec<String> },
    Jump { step: u32 },
}

/// Why an action is refused; the service maps these to 403, 409 and 422.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Refusal {
    /// The caller's role never allows this.
    Forbidden(String),
    /// The route's state or the caller's tasks do not allow it now.
    Conflict(String),
    /// A bad argument: the request field and why.
    Invalid { field: String, detail: String },
}

fn conflict(s: impl Into<String>) -> Refusal {
    Refusal::Conflict(s.into())
}

fn invalid(field: &str, detail: impl Into<String>) -> Refusal {
    Refusal::Invalid { field: field.into(), detail: detail.into() }
}

/// What an action did, beyond the rows: who has a new task, and the document's new state.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Outcome {
    /// Users who received a pending task (for live notifications).
    pub notify: Vec<String>,
    pub state: Option<DocumentState>,
    /// Removed placeholder rows (`waiting` rows of a pass that will not happen), by seq.
    pub removed: Vec<i64>,
}

/// A document's route and every task row it has had.
#[derive(Clone, Debug)]
pub struct Route {
    pub initiator: String,
    pub template: Option<String>,
    pub steps: Vec<StepPlan>,
    pub status: RouteStatus,
    /// The step being handled (0 while returned to the initiator).
    pub current: u32,
    /// 签发: who signed, when; a completed, signed route leaves the document `issued`.
    pub signed_by: Option<String>,
    pub signed_at: Option<String>,
    pub tasks: Vec<Task>,
    /// Whether the document's kind is signed off (发文); `sign` is refused on other kinds.
    pub signs_off: bool,
}

fn stamp(now: DateTime<Utc>) -> String {
    now.to_rfc3339_opts(SecondsFormat::Millis, true)
}

/// Checks a planned route's shape (assignee existence is the caller's to check).
pub fn check_plan(steps: &[StepPlan]) -> Result<(), Refusal> {
    if steps.is_empty() || steps.len() > MAX_STEPS {
        return Err(invalid("steps", format!("a route has 1 to {MAX_STEPS} steps")));
    }
    for (i, s) in steps.iter().enumerate() {
        if s.assignees.len() > MAX_ASSIGNEES {
            return Err(invalid(&format!("steps.{i}.assignees"), format!("at most {MAX_ASSIGNEES} assignees")));
        }
        let mut seen = std::collections::BTreeSet::new();
        if let Some(dup) = s.assignees.iter().find(|a| !seen.insert(a.as_str())) {
            return Err(invalid(&format!("steps.{i}.assignees"), format!("{dup:?} is named twice")));
        }
        if let Some(name) = &s.name
            && (name.chars().count() > 100 || name.chars().any(char::is_control))
        {
            return Err(invalid(&format!("steps.{i}.name"), "at most 100 characters, no control characters"));
        }
        if let Some(at) = &s.due_at
            && DateTime::parse_from_rfc3339(at).is_err()
        {
            return Err(invalid(&format!("steps.{i}.due_at"), "an RFC 3339 time, e.g. 2026-12-01T17:00:00Z"));
        }
    }
    if steps[0].assignees.is_empty() {
        return Err(invalid("steps.0.assignees", "the first step needs assignees"));
    }
    Ok(())
}

impl Route {
    /// A new route, entering its first step.
    pub fn start(initiator: &str, template: Option<String>, steps: Vec<StepPlan>, signs_off: bool, now: DateTime<Utc>) -> Result<(Self, Outcome), Refusal> {
        check_plan(&steps)?;
        let mut route = Route {
            initiator: initiator.to_owned(),
            template,
            steps,
            status: RouteStatus::Active,
            current: 1,
            signed_by: None,
            signed_at: None,
            tasks: vec![],
            signs_off,
        };
        let mut out = Outcome::default();
        route.restart_from(1, &stamp(now), &mut out);
        route.enter(1, now, &mut out)?;
        out.state = Some(DocumentState::InReview);
        Ok((route, out))
    }

    fn plan(&self, step: u32) -> &StepPlan {
        &self.steps[step as usize - 1]
    }

    fn last_step(&self) -> u32 {
        self.steps.len() as u32
    }

    /// The step after the current one when nobody is named for it yet: an `approve` of the
    /// current step must then say who (`to`).
    pub fn open_next_step(&self) -> Option<u32> {
        let next = self.current + 1;
        let step = self.steps.get(self.current as usize)?;
        (self.status == RouteStatus::Active && self.current > 0 && step.assignees.is_empty()).then_some(next)
    }

    fn next_seq(&self) -> i64 {
        self.tasks.iter().map(|t| t.seq).max().unwrap_or(0) + 1
    }

    fn push(&mut self, step: u32, position: u32, assignee: &str, state: TaskState) -> usize {
        let seq = self.next_seq();
        self.tasks.push(Task {
            seq,
            step,
            position,
            assignee: assignee.to_owned(),
            on_behalf_of: None,
            state,
            received_at: None,
            handled_at: None,
            action: None,
            comment: None,
            due_at: None,
            changed: true,
        });
        self.tasks.len() - 1
    }

    /// The caller's pending task at the step being handled.
    fn pending_task_of(&self, who: &str) -> Option<usize> {
        self.tasks.iter().position(|t| t.state == TaskState::Pending && t.assignee == who && t.step == self.current)
    }

    fn live_in(&self, step: u32) -> impl Iterator<Item = usize> + '_ {
        self.tasks.iter().enumerate().filter(move |(_, t)| t.step == step && t.state.is_live()).map(|(i, _)| i)
    }

    fn set_state(&mut self, i: usize, state: TaskState, now: &str) {
        let t = &mut self.tasks[i];
        t.state = state;
        t.changed = true;
        match state {
            TaskState::Pending => t.received_at = Some(now.to_owned()),
            TaskState::Done | TaskState::Skipped => t.handled_at = Some(now.to_owned()),
            TaskState::Waiting => {}
        }
    }

    /// Makes a task pending: it arrives in the assignee's inbox, with its due time.
    fn activate(&mut self, i: usize, now: DateTime<Utc>, out: &mut Outcome) {
        let plan = self.plan(self.tasks[i].step).clone();
        self.set_state(i, TaskState::Pending, &stamp(now));
        self.tasks[i].due_at = plan.due_at.clone().or_else(|| plan.due_hours.map(|h| stamp(now + Duration::hours(i64::from(h)))));
        out.notify.push(self.tasks[i].assignee.clone());
    }

    /// Every step from `step` on gets a fresh pass: placeholders of earlier passes go, pending
    /// tasks there are skipped (they are history now), and new placeholders are laid out.
    fn restart_from(&mut self, step: u32, at: &str, out: &mut Outcome) {
        for i in 0..self.tasks.len() {
            if self.tasks[i].step >= step && self.tasks[i].step > 0 {
                match self.tasks[i].state {
                    TaskState::Pending => self.set_state(i, TaskState::Skipped, at),
                    TaskState::Waiting => out.removed.push(self.tasks[i].seq),
                    _ => {}
                }
            }
        }
        self.tasks.retain(|t| !(t.state == TaskState::Waiting && out.removed.contains(&t.seq)));
        for s in step..=self.last_step() {
            let assignees = self.plan(s).assignees.clone();
            for (p, a) in assignees.iter().enumerate() {
                self.push(s, p as u32, a, TaskState::Waiting);
            }
        }
    }

    /// Enters a step: its tasks arrive (all at once, or the first of a sequential step).
    fn enter(&mut self, step: u32, now: DateTime<Utc>, out: &mut Outcome) -> Result<(), Refusal> {
        self.current = step;
        let live: Vec<usize> = self.live_in(step).collect();
        if live.is_empty() {
            let name = self.plan(step).name.clone().unwrap_or_default();
            return Err(invalid("to", format!("step {step} {name} has no assignees yet: name them with `to` on the approve that leads to it")));
        }
        match self.plan(step).mode {
            StepMode::Sequential => {
                if let Some(&first) = live.iter().min_by_key(|&&i| (self.tasks[i].position, self.tasks[i].seq)) {
                    self.activate(first, now, out);
                }
            }
            StepMode::Parallel | StepMode::Any => {
                for i in live {
                    self.activate(i, now, out);
                }
            }
        }
        Ok(())
    }

    /// A history row for someone who acted without a task of their own (a withdraw, a jump).
    fn record(&mut self, who: &str, action: ActionKind, comment: Option<String>, now: &str) {
        let (step, position) = (self.current, u32::MAX);
        let i = self.push(step, position, who, TaskState::Done);
        let t = &mut self.tasks[i];
        t.received_at = Some(now.to_owned());
        t.handled_at = Some(now.to_owned());
        t.action = Some(action);
        t.comment = comment;
    }

    fn handle(&mut self, i: usize, action: ActionKind, comment: Option<String>, now: &str) {
        self.set_state(i, TaskState::Done, now);
        self.tasks[i].action = Some(action);
        self.tasks[i].comment = comment;
    }

    /// Applies an action. On a refusal nothing in `self` has changed that the caller keeps
    /// (the service drops the route and its transaction).
    pub fn act(&mut self, who: &Actor<'_>, action: Action, comment: Option<String>, now: DateTime<Utc>) -> Result<Outcome, Refusal> {
        let mut out = Outcome::default();
        match action {
            Action::Approve { to } => self.approve(who, ActionKind::Approve, to, comment, now, &mut out)?,
            Action::Sign => self.sign(who, comment, now, &mut out)?,
            Action::Return { step } => self.send_back(who, step, comment, now, &mut out)?,
            Action::Withdraw => self.withdraw(who, comment, &stamp(now), &mut out)?,
            Action::Forward { to } => self.forward(who, to, comment, &stamp(now), &mut out)?,
            Action::Jump { step } => self.jump(who, step, comment, now, &mut out)?,
        }
        Ok(out)
    }

    /// The route actions `who` may take now, in the order a page offers them. Each is tried on
    /// a copy by the same rules as `act`; one refused only for want of an argument (`to`,
    /// `step`) is offered, since the caller gives it when acting.
    pub fn available_actions(&self, who: &Actor<'_>, now: DateTime<Utc>) -> Vec<ActionKind> {
        let tries = [
            (ActionKind::Approve, Action::Approve { to: vec![] }),
            (ActionKind::Sign, Action::Sign),
            (ActionKind::Return, Action::Return { step: None }),
            (ActionKind::Forward, Action::Forward { to: vec![] }),
            (ActionKind::Withdraw, Action::Withdraw),
            (ActionKind::Jump, Action::Jump { step: 0 }),
        ];
        tries
            .into_iter()
            .filter(|(_, action)| matches!(self.clone().act(who, action.clone(), None, now), Ok(_) | Err(Refusal::Invalid { .. })))
            .map(|(kind, _)| kind)
            .collect()
    }

    /// 签发: leaders, on a document whose kind signs off; an approved one becomes issued.
    fn sign(&mut self, who: &Actor<'_>, comment: Option<String>, now: DateTime<Utc>, out: &mut Outcome) -> Result<(), Refusal> {
        let at = stamp(now);
        if !who.is_leader {
            return Err(Refusal::Forbidden("only leaders sign off (签发) documents".into()));
        }
        if !self.signs_off {
            return Err(conflict("this kind of document is not signed off (签发); only outgoing documents are"));
        }
        if self.signed_by.is_some() {
            return Err(conflict("the document is already signed off"));
        }
        if self.status == RouteStatus::Completed {
            // Signing an approved document issues it.
            self.signed_by = Some(who.username.to_owned());
            self.signed_at = Some(at.clone());
            self.record(who.username, ActionKind::Sign, comment, &at);
            out.state = Some(DocumentState::Issued);
        } else {
            self.approve(who, ActionKind::Sign, vec![], comment, now, out)?;
            self.signed_by = Some(who.username.to_owned());
            self.signed_at = Some(at);
            if self.status == RouteStatus::Completed {
                out.state = Some(DocumentState::Issued);
            }
        }
        Ok(())
    }

    /// 退回: to an earlier step, or (step 0) to the initiator, who resubmits with approve.
    fn send_back(&mut self, who: &Actor<'_>, step: Option<u32>, comment: Option<String>, now: DateTime<Utc>, out: &mut Outcome) -> Result<(), Refusal> {
        let at = stamp(now);
        self.ensure_status(&[RouteStatus::Active])?;
        let i = self.pending_task_of(who.username).ok_or_else(|| conflict("you have no pending task on this document"))?;
        let target = step.unwrap_or(self.current - 1);
        if target >= self.current {
            return Err(invalid("step", format!("return goes to an earlier step: 0 (the initiator) to {}", self.current - 1)));
        }
        self.handle(i, ActionKind::Return, comment, &at);
        if target == 0 {
            self.restart_from(1, &at, out);
            self.status = RouteStatus::Returned;
            self.current = 0;
            let t = self.push(0, 0, &self.initiator.clone(), TaskState::Waiting);
            self.set_state(t, TaskState::Pending, &at);
            out.notify.push(self.initiator.clone());
            out.state = Some(DocumentState::Returned);
        } else {
            self.restart_from(target, &at, out);
            self.enter(target, now, out)?;
        }
        Ok(())
    }

    /// 撤消: the initiator takes the document off its route; every open task is skipped.
    fn withdraw(&mut self, who: &Actor<'_>, comment: Option<String>, at: &str, out: &mut Outcome) -> Result<(), Refusal> {
        if who.username != self.initiator {
            return Err(Refusal::Forbidden("only the route's initiator withdraws (撤消) it".into()));
        }
        self.ensure_status(&[RouteStatus::Active, RouteStatus::Returned])?;
        for i in 0..self.tasks.len() {
            if self.tasks[i].state.is_live() {
                self.set_state(i, TaskState::Skipped, at);
            }
        }
        self.record(who.username, ActionKind::Withdraw, comment, at);
        self.status = RouteStatus::Withdrawn;
        out.state = Some(DocumentState::Withdrawn);
        Ok(())
    }

    /// 移交代理: the caller's pending task goes to `to`, on the original assignee's behalf.
    fn forward(&mut self, who: &Actor<'_>, to: Vec<String>, comment: Option<String>, at: &str, out: &mut Outcome) -> Result<(), Refusal> {
        self.ensure_status(&[RouteStatus::Active])?;
        let i = self.pending_task_of(who.username).ok_or_else(|| conflict("you have no pending task on this document"))?;
        if to.is_empty() || to.len() > MAX_ASSIGNEES {
            return Err(invalid("to", format!("forward names 1 to {MAX_ASSIGNEES} users")));
        }
        if let Some(k) = to.iter().position(|u| u == who.username) {
            return Err(invalid(&format!("to.{k}"), "you cannot forward a task to yourself"));
        }
        if let Some(k) = to.iter().position(|u| self.tasks.iter().any(|t| t.step == self.current && t.state == TaskState::Pending && &t.assignee == u)) {
            return Err(invalid(&format!("to.{k}"), "already has a pending task at this step"));
        }
        let original = self.tasks[i].clone();
        self.handle(i, ActionKind::Forward, comment, at);
        for user in to {
            let j = self.push(original.step, original.position, &user, TaskState::Waiting);
            self.set_state(j, TaskState::Pending, at);
            self.tasks[j].on_behalf_of = Some(original.on_behalf_of.clone().unwrap_or_else(|| original.assignee.clone()));
            self.tasks[j].due_at = original.due_at.clone();
            out.notify.push(user);
        }
        Ok(())
    }

    /// 跳转办理: administrators move the route to any step.
    fn jump(&mut self, who: &Actor<'_>, step: u32, comment: Option<String>, now: DateTime<Utc>, out: &mut Outcome) -> Result<(), Refusal> {
        let at = stamp(now);
        if !who.is_admin {
            return Err(Refusal::Forbidden("only administrators jump (跳转) a document to another step".into()));
        }
        self.ensure_status(&[RouteStatus::Active, RouteStatus::Returned, RouteStatus::Completed])?;
        if step == 0 || step > self.last_step() {
            return Err(invalid("step", format!("a step from 1 to {}", self.last_step())));
        }
        self.record(who.username, ActionKind::Jump, comment, &at);
        // Steps jumped over were never reached: their placeholders are skipped, not lost.
        for i in 0..self.tasks.len() {
            let t = &self.tasks[i];
            if t.step < step && t.state.is_live() {
                self.set_state(i, TaskState::Skipped, &at);
            }
        }
        self.restart_from(step, &at, out);
        self.status = RouteStatus::Active;
        self.enter(step, now, out)?;
        out.state = Some(DocumentState::InReview);
        Ok(())
    }

    fn ensure_status(&self, allowed: &[RouteStatus]) -> Result<(), Refusal> {
        if allowed.contains(&self.status) {
            return Ok(());
        }
        Err(conflict(match self.status {
            RouteStatus::Withdrawn => "the route was withdrawn",
            RouteStatus::Completed => "the route is complete",
            RouteStatus::Returned => "the document was returned to its initiator, who resubmits it with approve",
            RouteStatus::Active => "the route is under way",
        }))
    }

    fn approve(&mut self, who: &Actor<'_>, kind: ActionKind, to: Vec<String>, comment: Option<String>, now: DateTime<Utc>, out: &mut Outcome) -> Result<(), Refusal> {
        let at = stamp(now);
        if self.status == RouteStatus::Returned && kind == ActionKind::Approve {
            // The initiator resubmits: the route starts again at step 1.
            let i = self.pending_task_of(who.username).ok_or_else(|| conflict("the document was returned to its initiator; only they resubmit it"))?;
            self.handle(i, ActionKind::Approve, comment, &at);
            self.status = RouteStatus::Active;
            self.enter(1, now, out)?;
            out.state = Some(DocumentState::InReview);
            return Ok(());
        }
        self.ensure_status(&[RouteStatus::Active])?;
        let i = self.pending_task_of(who.username).ok_or_else(|| conflict("you have no pending task on this document"))?;
        let step = self.current;
        let plan = self.plan(step).clone();
        if plan.sign && kind != ActionKind::Sign {
            return Err(conflict(format!("step {step} is signed off (签发): act with sign")));
        }
        if !to.is_empty() {
            if step == self.last_step() {
                return Err(invalid("to", "this is the last step; there is no next step to name assignees for"));
            }
            if to.len() > MAX_ASSIGNEES {
                return Err(invalid("to", format!("at most {MAX_ASSIGNEES} users")));
            }
            let next = &mut self.steps[step as usize];
            if !next.assignees.is_empty() {
                return Err(invalid("to", format!("step {} already has its assignees", step + 1)));
            }
            next.assignees = to;
            check_plan(&self.steps)?;
            let seqs: Vec<i64> = self.live_in(step + 1).map(|k| self.tasks[k].seq).collect();
            out.removed.extend(seqs.iter().copied());
            self.tasks.retain(|t| !seqs.contains(&t.seq));
            let assignees = self.plan(step + 1).assignees.clone();
            for (p, a) in assignees.iter().enumerate() {
                self.push(step + 1, p as u32, a, TaskState::Waiting);
            }
        }
        self.handle(i, kind, comment, &at);
        let complete = match plan.mode {
            StepMode::Any => {
                let rest: Vec<usize> = self.live_in(step).collect();
                for k in rest {
                    self.set_state(k, TaskState::Skipped, &at);
                }
                true
            }
            StepMode::Parallel | StepMode::Sequential => {
                let live: Vec<usize> = self.live_in(step).collect();
                if live.iter().any(|&k| self.tasks[k].state == TaskState::Pending) {
                    false
                } else if let Some(&next) = live.iter().min_by_key(|&&k| (self.tasks[k].position, self.tasks[k].seq)) {
                    self.activate(next, now, out);
                    false
                } else {
                    true
                }
            }
        };
        if complete {
            if step == self.last_step() {
                self.status = RouteStatus::Completed;
                out.state = Some(if self.signed_by.is_some() || kind == ActionKind::Sign { DocumentState::Issued } else { DocumentState::Approved });
            } else {
                self.enter(step + 1, now, out)?;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn step(mode: StepMode, who: &[&str]) -> StepPlan {
        StepPlan { name: None, mode, assignees: who.iter().map(|s| s.to_string()).collect(), sign: false, due_hours: None, due_at: None }
    }

    fn user(name: &str) -> Actor<'_> {
        Actor { username: name, is_admin: name == "admin", is_leader: name.starts_with("lead") }
    }

    fn t0() -> DateTime<Utc> {
        "2026-11-23T08:00:00Z".parse().unwrap()
    }

    fn pending(r: &Route) -> Vec<(u32, String)> {
        r.tasks.iter().filter(|t| t.state == TaskState::Pending).map(|t| (t.step, t.assignee.clone())).collect()
    }

    fn approve(r: &mut Route, who: &str) -> Result<Outcome, Refusal> {
        r.act(&user(who), Action::Approve { to: vec![] }, None, t0())
    }

    #[test]
    fn sequential_then_parallel_then_any() {
        let steps = vec![step(StepMode::Sequential, &["a", "b"]), step(StepMode::Parallel, &["c", "d"]), step(StepMode::Any, &["e", "f"])];
        let (mut r, out) = Route::start("clerk", None, steps, false, t0()).unwrap();
        assert_eq!(out.notify, vec!["a"]);
        assert_eq!(approve(&mut r, "b"), Err(conflict("you have no pending task on this document")));
        assert_eq!(approve(&mut r, "a").unwrap().notify, vec!["b"]);
        assert_eq!(approve(&mut r, "b").unwrap().notify, vec!["c", "d"]);
        assert!(approve(&mut r, "c").unwrap().notify.is_empty());
        assert_eq!(pending(&r), vec![(2, "d".into())]);
        approve(&mut r, "d").unwrap();
        let out = approve(&mut r, "f").unwrap();
        assert_eq!(out.state, Some(DocumentState::Approved));
        assert_eq!(r.status, RouteStatus::Completed);
        let e = r.tasks.iter().find(|t| t.assignee == "e").unwrap();
        assert_eq!(e.state, TaskState::Skipped);
        assert_eq!(approve(&mut r, "e"), Err(conflict("the route is complete")));
    }

    #[test]
    fn return_to_the_initiator_and_resubmit_keeps_every_pass_in_the_trail() {
        let steps = vec![step(StepMode::Sequential, &["a"]), step(StepMode::Sequential, &["b"])];
        let (mut r, _) = Route::start("drafter", None, steps, false, t0()).unwrap();
        approve(&mut r, "a").unwrap();
        let out = r.act(&user("b"), Action::Return { step: None }, Some("重写第二段".into()), t0()).unwrap();
        assert_eq!(out.notify, vec!["a"]);
        assert_eq!(pending(&r), vec![(1, "a".into())]);
        let out = r.act(&user("a"), Action::Return { step: None }, None, t0()).unwrap();
        assert_eq!(out.state, Some(DocumentState::Returned));
        assert_eq!(pending(&r), vec![(0, "drafter".into())]);
        assert_eq!(approve(&mut r, "a"), Err(conflict("the document was returned to its initiator; only they resubmit it")));
        assert_eq!(approve(&mut r, "drafter").unwrap().state, Some(DocumentState::InReview));
        assert_eq!(pending(&r), vec![(1, "a".into())]);
        // a approved twice (two passes), b returned once: every pass has its rows.
        let a_rows = r.tasks.iter().filter(|t| t.assignee == "a").count();
        assert_eq!(a_rows, 3);
        assert!(r.tasks.iter().any(|t| t.assignee == "b" && t.action == Some(ActionKind::Return) && t.comment.as_deref() == Some("重写第二段")));
        assert!(r.tasks.iter().any(|t| t.assignee == "b" && t.state == TaskState::Waiting));
    }

    #[test]
    fn forward_records_the_original_assignee_and_counts_in_their_place() {
        let steps = vec![step(StepMode::Parallel, &["a", "b"]), step(StepMode::Sequential, &["c"])];
        let (mut r, _) = Route::start("x", None, steps, false, t0()).unwrap();
        let out = r.act(&user("a"), Action::Forward { to: vec!["z".into()] }, None, t0()).unwrap();
        assert_eq!(out.notify, vec!["z"]);
        let z = r.tasks.iter().find(|t| t.assignee == "z").unwrap();
        assert_eq!(z.on_behalf_of.as_deref(), Some("a"));
        assert!(matches!(r.act(&user("z"), Action::Forward { to: vec!["b".into()] }, None, t0()), Err(Refusal::Invalid { .. })));
        approve(&mut r, "b").unwrap();
        assert_eq!(approve(&mut r, "z").unwrap().notify, vec!["c"]);
    }

    #[test]
    fn jump_is_for_administrators_and_skips_what_it_jumps_over() {
        let steps = vec![step(StepMode::Sequential, &["a"]), step(StepMode::Sequential, &["b"]), step(StepMode::Sequential, &["c"])];
        let (mut r, _) = Route::start("x", None, steps, false, t0()).unwrap();
        assert!(matches!(r.act(&user("a"), Action::Jump { step: 3 }, None, t0()), Err(Refusal::Forbidden(_))));
        assert!(matches!(r.act(&user("admin"), Action::Jump { step: 4 }, None, t0()), Err(Refusal::Invalid { .. })));
        r.act(&user("admin"), Action::Jump { step: 3 }, None, t0()).unwrap();
        assert_eq!(pending(&r), vec![(3, "c".into())]);
        assert!(r.tasks.iter().filter(|t| t.assignee == "a" || t.assignee == "b").all(|t| t.state == TaskState::Skipped));
        r.act(&user("admin"), Action::Jump { step: 1 }, None, t0()).unwrap();
        assert_eq!(pending(&r), vec![(1, "a".into())]);
    }

    #[test]
    fn withdraw_only_by_the_initiator_and_then_nothing_moves() {
        let (mut r, _) = Route::start("x", None, vec![step(StepMode::Any, &["a", "b"])], false, t0()).unwrap();
        assert!(matches!(r.act(&user("a"), Action::Withdraw, None, t0()), Err(Refusal::Forbidden(_))));
        assert_eq!(r.act(&user("x"), Action::Withdraw, None, t0()).unwrap().state, Some(DocumentState::Withdrawn));
        assert_eq!(approve(&mut r, "a"), Err(conflict("the route was withdrawn")));
        assert!(pending(&r).is_empty());
    }

    #[test]
    fn sign_is_for_leaders_on_signed_off_kinds() {
        let mut plan = step(StepMode::Sequential, &["lead1"]);
        plan.sign = true;
        let (mut r, _) = Route::start("x", None, vec![plan.clone(), step(StepMode::Any, &["clerk"])], true, t0()).unwrap();
        assert_eq!(approve(&mut r, "lead1"), Err(conflict("step 1 is signed off (签发): act with sign")));
        assert!(matches!(r.act(&user("clerk"), Action::Sign, None, t0()), Err(Refusal::Forbidden(_))));
        r.act(&user("lead1"), Action::Sign, None, t0()).unwrap();
        assert_eq!(approve(&mut r, "clerk").unwrap().state, Some(DocumentState::Issued));

        let (mut plain, _) = Route::start("x", None, vec![step(StepMode::Any, &["a"])], true, t0()).unwrap();
        assert_eq!(approve(&mut plain, "a").unwrap().state, Some(DocumentState::Approved));
        assert_eq!(plain.act(&user("lead9"), Action::Sign, None, t0()).unwrap().state, Some(DocumentState::Issued));

        let (mut incoming, _) = Route::start("x", None, vec![step(StepMode::Any, &["lead1"])], false, t0()).unwrap();
        assert!(matches!(incoming.act(&user("lead1"), Action::Sign, None, t0()), Err(Refusal::Conflict(_))));
    }

    #[test]
    fn the_actions_offered_are_those_that_would_be_taken() {
        let mut plan = step(StepMode::Sequential, &["lead1"]);
        plan.sign = true;
        let (r, _) = Route::start("x", None, vec![step(StepMode::Sequential, &["a"]), plan], true, t0()).unwrap();
        assert_eq!(r.available_actions(&user("a"), t0()), vec![ActionKind::Approve, ActionKind::Return, ActionKind::Forward]);
        assert_eq!(r.available_actions(&user("x"), t0()), vec![ActionKind::Withdraw]);
        assert_eq!(r.available_actions(&user("admin"), t0()), vec![ActionKind::Jump]);
        assert!(r.available_actions(&user("lead1"), t0()).is_empty(), "not their step yet");
        let mut r = r;
        approve(&mut r, "a").unwrap();
        assert_eq!(r.available_actions(&user("lead1"), t0()), vec![ActionKind::Sign, ActionKind::Return, ActionKind::Forward]);
    }

    #[test]
    fn an_open_step_is_named_by_the_approve_before_it() {
        let (mut r, _) = Route::start("x", None, vec![step(StepMode::Any, &["a"]), step(StepMode::Parallel, &[])], false, t0()).unwrap();
        assert!(matches!(approve(&mut r, "a"), Err(Refusal::Invalid { .. })));
        let mut r2 = Route::start("x", None, vec![step(StepMode::Any, &["a"]), step(StepMode::Parallel, &[])], false, t0()).unwrap().0;
        let out = r2.act(&user("a"), Action::Approve { to: vec!["p".into(), "q".into()] }, None, t0()).unwrap();
        assert_eq!(out.notify, vec!["p", "q"]);
        assert_eq!(r2.steps[1].assignees, vec!["p", "q"]);
    }

    #[test]
    fn due_times_follow_the_plan() {
        let mut plan = step(StepMode::Sequential, &["a"]);
        plan.due_hours = Some(24);
        let (r, _) = Route::start("x", None, vec![plan], false, t0()).unwrap();
        assert_eq!(r.tasks[0].due_at.as_deref(), Some("2026-11-24T08:00:00.000Z"));
    }

    #[test]
    fn plans_are_checked() {
        assert!(check_plan(&[]).is_err());
        assert!(check_plan(&[step(StepMode::Any, &[])]).is_err());
        assert!(matches!(check_plan(&[step(StepMode::Any, &["a", "a"])]), Err(Refusal::Invalid { field, .. }) if field == "steps.0.assignees"));
    }
}
