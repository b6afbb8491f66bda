//! Live notifications (`GET /api/v1/events`, the web desk): a task arriving in someone's inbox
//! is announced to their open event streams as soon as the action that made it commits, and
//! the progress of reading an attachment's text to whoever may read its document.

use futures::StreamExt;
use futures::stream::BoxStream;
use serde::Serialize;
use serde_json::{Value, json};
use tokio::sync::broadcast;
use tokio::sync::broadcast::error::RecvError;
use utoipa::ToSchema;

use super::Henji;
use crate::domain::access;
use crate::domain::extract::JobState;
use crate::domain::people::{Principal, Urgency};

/// Notices kept for a slow subscriber before it starts missing them (it is told, and reloads).
const BACKLOG: usize = 1024;

/// 待办到达: a task arrived in `user`'s inbox.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct TaskNotice {
    #[serde(skip)]
    pub user: String,
    pub document: String,
    pub title: String,
    pub urgency: Urgency,
    pub step: i64,
    pub received_at: String,
}

/// How far the reading of an attachment's text is.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct ExtractionNotice {
    pub document: String,
    pub sha256: String,
    pub status: JobState,
    pub pages_done: i64,
    pub pages: i64,
}

#[derive(Clone, Debug)]
pub enum Notice {
    Task(TaskNotice),
    Extraction(ExtractionNotice),
}

/// One event of a live stream: its name (`ready`, `task`, `extraction`, `resync`) and its
/// JSON data.
#[derive(Clone, Debug, PartialEq)]
pub struct LiveEvent {
    pub name: &'static str,
    pub data: Value,
}

#[derive(Debug)]
pub struct Notifier {
    sender: broadcast::Sender<Notice>,
}

impl Default for Notifier {
    fn default() -> Self {
        Self { sender: broadcast::channel(BACKLOG).0 }
    }
}

impl Notifier {
    pub fn publish(&self, notice: Notice) {
        // No subscriber is not an error: nobody is watching.
        let _ = self.sender.send(notice);
    }
}

impl Henji {
    /// The caller's live events: `ready` once subscribed, then `task` for every task that
    /// arrives in their inbox, `extraction` as the text of an attachment they may read is
    /// read, and `resync` if the stream fell behind (reload).
    pub fn live_events(&self, who: &Principal) -> BoxStream<'static, LiveEvent> {
        let receiver = self.notifier.sender.subscribe();
        let ready = futures::stream::once(async { LiveEvent { name: "ready", data: json!({}) } });
        let state = (receiver, self.clone(), who.clone());
        let notices = futures::stream::unfold(state, |(mut rx, henji, me)| async move {
            loop {
                let event = match rx.recv().await {
                    Ok(Notice::Task(n)) if n.user == me.username => LiveEvent { name: "task", data: serde_json::to_value(&n).unwrap_or_default() },
                    Ok(Notice::Extraction(n)) if henji.may_read(&me, &n.document).await => LiveEvent { name: "extraction", data: serde_json::to_value(&n).unwrap_or_default() },
                    Ok(_) => continue,
                    Err(RecvError::Lagged(missed)) => LiveEvent { name: "resync", data: json!({"missed": missed}) },
                    Err(RecvError::Closed) => return None,
                };
                return Some((event, (rx, henji, me)));
            }
        });
        ready.chain(notices).boxed()
    }

    /// Whether `who` may read the document (cached facts: no SQL on a warm cache).
    async fn may_read(&self, who: &Principal, document: &str) -> bool {
        match self.access_facts(document).await {
            Ok(facts) => access::check_read(who, &facts.facts()).is_ok(),
            Err(_) => false,
        }
    }
}
