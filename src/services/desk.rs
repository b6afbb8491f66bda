//! What the web desk (办公桌面) shows beyond the API's own answers: a person's counts and recent
//! documents, what they may do with a document now, and a trace ready to put in a page.

use chrono::Utc;
use serde::Serialize;

use super::reading::facts;
use super::routing::InboxQuery;
use super::traces::TraceStart;
use super::{Henji, ServiceResult};
use crate::domain::access::{self, Abilities, ReadScope};
use crate::domain::people::{Classification, DocumentState, Principal, Urgency};
use crate::domain::routing::ActionKind;
use crate::domain::traces::html;
use crate::resources::catalog::documents as rows;
use crate::resources::catalog::routing as route_rows;

/// Which parts of the desk a person's roles open (the pages check again when used).
#[derive(Clone, Copy, Debug, Default, Serialize)]
pub struct Menu {
    /// 登记: registering documents.
    pub register: bool,
    /// 管理: departments, users, fixity, keys.
    pub admin: bool,
    /// The audit trail.
    pub audit: bool,
    /// 导入: archive packages from elsewhere.
    pub import: bool,
    /// 销毁: disposal of records past retention.
    pub dispose: bool,
}

/// Pending tasks counted at most this far (the desk says "500+").
const COUNT_UP_TO: i64 = 500;

/// 个人桌面: counts of the caller's tasks and the documents in reach changed most recently.
#[derive(Clone, Debug, Serialize)]
pub struct DeskSummary {
    /// 待办
    pub todo: usize,
    /// Of those, marked 加急 or 特急.
    pub urgent: usize,
    /// 催办: past their due time.
    pub overdue: usize,
    pub recent: Vec<DocumentSummary>,
}

/// A line of a list of documents; no fields, so nothing sealed is opened for it.
#[derive(Clone, Debug, Serialize)]
pub struct DocumentSummary {
    pub id: String,
    pub kind: String,
    pub title: String,
    pub department: String,
    pub classification: Classification,
    pub urgency: Urgency,
    pub state: DocumentState,
    pub updated_at: String,
}

/// What the caller may do with a document now: each flag is the domain's check of that
/// change, `actions` the route actions that would be taken, `open_next_step` the step an
/// approve must name assignees for.
#[derive(Clone, Debug, Default, Serialize)]
pub struct DocumentAbilities {
    #[serde(flatten)]
    pub can: Abilities,
    pub actions: Vec<ActionKind>,
    pub open_next_step: Option<u32>,
}

/// A trace (痕迹) as a page fragment: the legend and the marked text, every colour a class;
/// `colors` are the legend's, in order, for the page's stylesheet.
#[derive(Clone, Debug)]
pub struct TraceFragment {
    pub html: String,
    pub colors: Vec<String>,
    pub from: Option<String>,
    pub to: String,
}

impl Henji {
    pub fn menu(&self, who: &Principal) -> Menu {
        Menu {
            register: access::check_create(who, &who.department, Classification::Public).is_ok(),
            admin: access::check_admin(who).is_ok(),
            audit: access::check_audit_reader(who).is_ok(),
            import: access::check_import(who).is_ok(),
            dispose: access::check_dispose(who).is_ok(),
        }
    }

    pub async fn desk(&self, who: &Principal) -> ServiceResult<DeskSummary> {
        let pending = self.inbox(who, &InboxQuery { done: false, overdue: false, offset: 0, limit: COUNT_UP_TO }).await?;
        let recent = rows::recent_documents(&mut *self.catalog.read().await?, &ReadScope::of(who), 10).await?;
        Ok(DeskSummary {
            todo: pending.len(),
            urgent: pending.iter().filter(|t| t.urgency != Urgency::Normal).count(),
            overdue: pending.iter().filter(|t| t.overdue).count(),
            recent: recent
                .into_iter()
                .map(|r| DocumentSummary { id: r.id, kind: r.kind, title: r.title, department: r.department, classification: r.classification, urgency: r.urgency, state: r.state, updated_at: r.updated_at })
                .collect(),
        })
    }

    /// What `who` may do with the document now (404 if they may not read it).
    pub async fn abilities(&self, who: &Principal, id: &str) -> ServiceResult<DocumentAbilities> {
        let (row, route) = self.readable_document_with_access(who, id).await?;
        let doc = facts(&row, &route);
        let mut out = DocumentAbilities { can: Abilities::of(who, &doc), ..Default::default() };
        if access::check_act(who, &doc).is_ok()
            && let Some(route) = self.route_of(&row).await?
        {
            out.actions = route.available_actions(&access::actor(who), Utc::now());
            out.open_next_step = route.open_next_step();
        }
        Ok(out)
    }

    /// The document's route with its tasks, if it has one.
    async fn route_of(&self, row: &rows::DocumentRow) -> ServiceResult<Option<crate::domain::routing::Route>> {
        let mut conn = self.catalog.read().await?;
        let Some(stored) = route_rows::route(&mut conn, &row.id).await? else { return Ok(None) };
        let tasks = route_rows::tasks(&mut conn, &row.id).await?;
        let signs_off = self.kinds.get(&row.kind).is_some_and(|k| k.signs_off());
        Ok(Some(super::routing::route_from_rows(&stored, tasks, signs_off)?))
    }

    /// The trace from `from` (default: the first revision) to `to` (default: the head) as a
    /// page fragment. The same read check and audit as `render_trace`.
    pub async fn trace_fragment(&self, who: &Principal, id: &str, from: Option<TraceStart>, to: Option<&str>) -> ServiceResult<TraceFragment> {
        let trace = self.traces(who, id, from, to).await?;
        let report = trace.report();
        let html = html::traces_fragment(&report);
        let colors = trace.legend.iter().map(|l| l.color.clone()).collect();
        let row = self.readable_document(who, id).await?;
        self.audit_if_classified(who, &row.id, row.classification, "traces.read", || format!("document/{}/traces", row.id)).await?;
        Ok(TraceFragment { html, colors, from: trace.from.clone(), to: trace.to.clone() })
    }

    /// The merged text (清稿) of revision `to` (default: the head).
    pub async fn clean_text_of(&self, who: &Principal, id: &str, to: Option<&str>) -> ServiceResult<(String, String)> {
        let c = self.clean_text(who, id, to).await?;
        let row = self.readable_document(who, id).await?;
        self.audit_if_classified(who, &row.id, row.classification, "traces.read", || format!("document/{}/traces", row.id)).await?;
        Ok((c.to, c.text.to_string()))
    }
}
