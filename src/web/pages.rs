//! The pages' templates (`src/web/templates/`, compiled in and type-checked by askama), the
//! frame every page shares, and the Chinese words the pages use for the domain's values.

use askama::Template;
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};

use crate::domain::archive::Retention;
use crate::domain::people::{Classification, DocumentState, Role, Urgency};
use crate::domain::extract::JobState;
use crate::domain::routing::{ActionKind, RouteStatus, TaskState};
use crate::domain::kinds::{FormField, Input};
use crate::domain::access::Abilities;
use crate::services::desk::{DeskSummary, DocumentAbilities, Menu};
use crate::services::documents::{DocumentView, RevisionView};
use crate::services::opinions::OpinionView;
use crate::services::people::{DepartmentView, UserView};
use crate::services::routing::{InboxItem, RouteView, TrailEntry};
use crate::domain::audit::AuditEvent;
use crate::services::archive::ArchiveRecordView;
use crate::services::extraction::TextProgress;
use crate::services::fixity::FixityRow;
use crate::services::keys::KekStatus;
use crate::services::search::SearchAnswer;

/// Rendering a template into an HTML answer.
pub trait IntoPage {
    fn into_page(self) -> Response;
}

impl<T: Template> IntoPage for T {
    fn into_page(self) -> Response {
        match self.render() {
            Ok(html) => {
                let mut response = html.into_response();
                response.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("text/html; charset=utf-8"));
                response
            }
            Err(e) => {
                tracing::error!(error = %e, "a page failed to render");
                (axum::http::StatusCode::INTERNAL_SERVER_ERROR, "the page failed to render; the error is in the server's log").into_response()
            }
        }
    }
}

/// What the frame around every page shows: who is signed in, the menu, the assets.
pub struct Chrome {
    pub display_name: String,
    pub department: String,
    pub color: String,
    pub color_class: String,
    pub csrf: String,
    pub css: &'static str,
    pub js: &'static str,
    pub menu: Menu,
    /// Which menu entry the page is (`desk`, `inbox`, …).
    pub here: &'static str,
    /// 待办 count for the menu.
    pub todo: usize,
    /// Kind name → title (收文, 发文, …).
    pub kinds: Vec<(String, String)>,
}

impl Chrome {
    pub fn kind_title<'a>(&'a self, kind: &'a str) -> &'a str {
        self.kinds.iter().find(|(k, _)| k == kind).map_or(kind, |(_, t)| t.as_str())
    }
}

/// The favicon's address, for every page's head.
pub fn favicon() -> &'static str {
    super::assets::favicon_name()
}

/// The palette class of a user's colour (`pal3`); colours are always of the palette.
pub fn color_class(color: &str) -> String {
    let i = crate::domain::palette::PALETTE.iter().position(|c| c.eq_ignore_ascii_case(color)).unwrap_or(0);
    format!("pal{i}")
}

/// `2026-11-23T10:00:00.000Z` as `2026-11-23 10:00` (UTC).
pub fn short_time(t: &str) -> String {
    let t = t.get(..16).unwrap_or(t);
    t.replace('T', " ")
}

mod filters {
    use askama::Values;

    /// A size in bytes, as people read it.
    #[askama::filter_fn]
    pub fn size(n: &u64, _: &dyn Values) -> askama::Result<String> {
        let n = *n as f64;
        Ok(if n < 1024.0 { format!("{n} B") } else if n < 1048576.0 { format!("{:.1} KB", n / 1024.0) } else if n < 1073741824.0 { format!("{:.1} MB", n / 1048576.0) } else { format!("{:.2} GB", n / 1073741824.0) })
    }

    /// A catalog time, shortened to the minute.
    #[askama::filter_fn]
    pub fn time(t: impl ToString, _: &dyn Values) -> askama::Result<String> {
        Ok(super::short_time(&t.to_string()))
    }
}

/// The words the pages use for the domain's values.
pub trait Zh {
    fn zh(&self) -> &'static str;
}

impl Zh for Classification {
    fn zh(&self) -> &'static str {
        match self {
            Classification::Public => "公开",
            Classification::Internal => "内部",
            Classification::Confidential => "秘密",
            Classification::Secret => "机密",
        }
    }
}

impl Zh for Urgency {
    /// 平件 carries no mark (GB/T 9704): an empty word.
    fn zh(&self) -> &'static str {
        match self {
            Urgency::Normal => "",
            Urgency::Urgent => "加急",
            Urgency::VeryUrgent => "特急",
        }
    }
}

impl Zh for DocumentState {
    fn zh(&self) -> &'static str {
        match self {
            DocumentState::Draft => "草稿",
            DocumentState::Registered => "已登记",
            DocumentState::InReview => "流转中",
            DocumentState::Approved => "已办结",
            DocumentState::Issued => "已签发",
            DocumentState::Returned => "已退回",
            DocumentState::Withdrawn => "已撤消",
            DocumentState::Archived => "已归档",
        }
    }
}

impl Zh for Role {
    fn zh(&self) -> &'static str {
        match self {
            Role::Clerk => "收发员",
            Role::Staff => "工作人员",
            Role::Leader => "领导",
            Role::Archivist => "档案员",
            Role::Auditor => "审计员",
            Role::Admin => "管理员",
        }
    }
}

impl Zh for ActionKind {
    fn zh(&self) -> &'static str {
        match self {
            ActionKind::Approve => "同意",
            ActionKind::Return => "退回",
            ActionKind::Withdraw => "撤消",
            ActionKind::Forward => "移交",
            ActionKind::Jump => "跳转",
            ActionKind::Sign => "签发",
            ActionKind::Distribute => "分发",
        }
    }
}

impl Zh for TaskState {
    fn zh(&self) -> &'static str {
        match self {
            TaskState::Waiting => "未办",
            TaskState::Pending => "正办",
            TaskState::Done => "已办",
            TaskState::Skipped => "免办",
        }
    }
}

impl Zh for RouteStatus {
    fn zh(&self) -> &'static str {
        match self {
            RouteStatus::Active => "流转中",
            RouteStatus::Returned => "已退回拟稿人",
            RouteStatus::Withdrawn => "已撤消",
            RouteStatus::Completed => "已办结",
        }
    }
}

impl Zh for Retention {
    fn zh(&self) -> &'static str {
        match self {
            Retention::Permanent => "永久",
            Retention::Years30 => "30 年",
            Retention::Years10 => "10 年",
        }
    }
}

#[derive(Template)]
#[template(path = "signin.html")]
pub struct SignIn {
    pub css: &'static str,
    pub csrf: String,
    pub next: String,
    pub message: Option<String>,
    pub username: String,
}

#[derive(Template)]
#[template(path = "error.html")]
pub struct ErrorPage {
    pub css: &'static str,
    pub status: u16,
    pub heading: &'static str,
    pub detail: String,
}

#[derive(Template)]
#[template(path = "desk.html")]
pub struct Desk {
    pub chrome: Chrome,
    pub summary: DeskSummary,
    /// (class, colour) of every palette colour.
    pub palette: Vec<(String, &'static str)>,
}

#[derive(Template)]
#[template(path = "inbox.html")]
pub struct Inbox {
    pub chrome: Chrome,
    pub items: Vec<InboxItem>,
    pub done: bool,
    pub overdue: bool,
}

#[derive(Template)]
#[template(path = "inbox_rows.html")]
pub struct InboxRows {
    pub items: Vec<InboxItem>,
    pub done: bool,
}

#[derive(Template)]
#[template(path = "register.html")]
pub struct Register {
    pub chrome: Chrome,
    pub kind: String,
    pub kind_title: String,
    pub kinds: Vec<(String, String)>,
    pub fields: Vec<FormField>,
    /// The classifications the viewer may register at: (word, 密级).
    pub classifications: Vec<(&'static str, &'static str)>,
}

/// A revision that lost a race: what the others changed meanwhile (a trace fragment).
pub struct Conflict {
    pub their_change: String,
}

/// A step of the route as the diagram shows it.
pub struct StepView {
    pub class: &'static str,
    pub state: &'static str,
    pub name: String,
    pub who: String,
}

pub struct TemplateView {
    pub name: String,
    pub title: String,
    pub steps: Vec<TemplateStepView>,
}

pub struct TemplateStepView {
    pub name: String,
    pub open: bool,
}

#[derive(Template)]
#[template(path = "document.html")]
pub struct DocumentPage {
    pub chrome: Chrome,
    pub doc: DocumentView,
    pub revisions: Vec<RevisionView>,
    pub abilities: DocumentAbilities,
    pub can: Abilities,
    pub offer_forward: bool,
    pub offer_step: bool,
    /// 清稿 rather than 痕迹.
    pub clean: bool,
    /// The range compared: `empty` or a revision id, and a revision id.
    pub from: String,
    pub to: String,
    pub range_query: String,
    /// The trace fragment (escaped by the domain's renderer).
    pub trace_html: String,
    pub clean_text: String,
    pub legend_href: Option<String>,
    pub edit_text: String,
    pub conflict: Option<Conflict>,
    pub route: Option<RouteView>,
    pub steps: Vec<StepView>,
    pub trail: Vec<TrailEntry>,
    pub opinions: Vec<OpinionView>,
    pub users: Vec<UserView>,
    pub departments: Vec<DepartmentView>,
    pub templates: Vec<TemplateView>,
    pub field_rows: Vec<(String, String)>,
    /// Beside each of `doc.attachments`: how the reading of its text stands, if it has any.
    pub texts: Vec<Option<TextLine>>,
    pub notice: Option<String>,
}

/// 文字识别: where the reading of an attachment's text stands, in the page's words.
#[derive(Clone, Debug)]
pub struct TextLine {
    /// `queued`, `running`, `done`, `failed` (the script updates it from the event stream).
    pub status: &'static str,
    pub label: String,
}

impl TextLine {
    pub fn of(p: &TextProgress) -> Self {
        let label = match p.status {
            JobState::Queued if p.reason.is_some() => "稍后重试".to_owned(),
            JobState::Queued => "排队中".to_owned(),
            JobState::Running if p.pages > 0 => format!("识别中 {}/{} 页", p.pages_done, p.pages),
            JobState::Running => "识别中".to_owned(),
            JobState::Done => format!("已完成（{} 页）", p.pages),
            JobState::Failed => format!("失败：{}", p.reason.as_deref().unwrap_or("原因不明")),
            JobState::Unsupported => "不含文字".to_owned(),
        };
        Self { status: p.status.as_str(), label }
    }
}

#[derive(Template)]
#[template(path = "print.html")]
pub struct PrintPage {
    pub css: &'static str,
    pub title: String,
    /// 发文机关标志
    pub issuer: String,
    /// 发文字号
    pub number: String,
    /// 主送机关
    pub to: String,
    pub signer: String,
    /// 成文日期
    pub date: String,
    pub classification: &'static str,
    pub urgency: &'static str,
    pub paragraphs: Vec<String>,
    /// On classified pages: the reader's name and the time, across every page.
    pub watermark: Option<String>,
}

pub struct FacetLink {
    pub href: String,
    pub label: String,
    pub count: u64,
    pub here: bool,
}

pub struct FacetGroup {
    pub title: &'static str,
    pub items: Vec<FacetLink>,
}

#[derive(Template)]
#[template(path = "search.html")]
pub struct SearchPage {
    pub chrome: Chrome,
    pub q: String,
    /// The filters in force, kept in the form.
    pub kept: Vec<(&'static str, String)>,
    pub offset: usize,
    pub answer: Option<SearchAnswer>,
    pub error: Option<String>,
    pub facets: Vec<FacetGroup>,
    pub prev: Option<String>,
    pub next: Option<String>,
    pub filters_text: String,
}

#[derive(Template)]
#[template(path = "archive.html")]
pub struct ArchivePage {
    pub chrome: Chrome,
    pub departments: Vec<DepartmentView>,
    pub department: String,
    pub year: String,
    pub retention: String,
    pub expired: bool,
    pub records: Vec<ArchiveRecordView>,
    pub next: Option<String>,
    pub notice: Option<String>,
}

/// A user as the administration page lists them.
pub struct AdminUser {
    pub user: UserView,
    pub color_class: String,
    pub role_words: Vec<&'static str>,
}

impl std::ops::Deref for AdminUser {
    type Target = UserView;
    fn deref(&self) -> &UserView {
        &self.user
    }
}

#[derive(Template)]
#[template(path = "admin.html")]
pub struct AdminPage {
    pub chrome: Chrome,
    pub departments: Vec<DepartmentView>,
    pub users: Vec<AdminUser>,
    pub fixity: Vec<FixityRow>,
    pub keys: Vec<KekStatus>,
    pub audit: Vec<AuditEvent>,
    pub audit_next: Option<i64>,
    pub chain_ok: bool,
    pub chain_events: u64,
    pub chain_bad: i64,
    pub roles: Vec<(&'static str, &'static str)>,
    pub clearances: Vec<(&'static str, &'static str)>,
    pub notice: Option<String>,
}
