//! Live notifications (`GET /api/v1/events`, the web desk's inbox): a task arriving in
//! someone's inbox is announced to their open event streams as soon as the action that made it
//! commits.

use futures::StreamExt;
use futures::stream::BoxStream;
use serde::Serialize;
use serde_json::{Value, json};
use tokio::sync::broadcast;
use tokio::sync::broadcast::error::RecvError;
use utoipa::ToSchema;

use super::Henji;
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

/// One event of a live stream: its name (`ready`, `task`, `resync`) and its JSON data.
#[derive(Clone, Debug, PartialEq)]
pub struct LiveEvent {
    pub name: &'static str,
    pub data: Value,
}

#[derive(Debug)]
pub struct Notifier {
    sender: broadcast::Sender<TaskNotice>,
}

impl Default for Notifier {
    fn default() -> Self {
        Self { sender: broadcast::channel(BACKLOG).0 }
    }
}

impl Notifier {
    pub fn publish(&self, notice: TaskNotice) {
        // No subscriber is not an error: nobody is watching.
        let _ = self.sender.send(notice);
    }
}

impl Henji {
    /// The caller's live events: `ready` once subscribed, then `task` for every task that
    /// arrives in their inbox, and `resync` if the stream fell behind (reload the inbox).
    pub fn live_events(&self, who: &Principal) -> BoxStream<'static, LiveEvent> {
        let receiver = self.notifier.sender.subscribe();
        let ready = futures::stream::once(async { LiveEvent { name: "ready", data: json!({}) } });
        let notices = futures::stream::unfold((receiver, who.username.clone()), |(mut rx, me)| async move {
            loop {
                match rx.recv().await {
                    Ok(n) if n.user == me => {
                        let event = match serde_json::to_value(&n) {
                            Ok(data) => LiveEvent { name: "task", data },
                            Err(_) => LiveEvent { name: "resync", data: json!({}) },
                        };
                        return Some((event, (rx, me)));
                    }
                    Ok(_) => continue,
                    Err(RecvError::Lagged(missed)) => return Some((LiveEvent { name: "resync", data: json!({"missed": missed}) }, (rx, me))),
                    Err(RecvError::Closed) => return None,
                }
            }
        });
        ready.chain(notices).boxed()
    }
}
