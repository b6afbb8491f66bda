//! Live notifications (`GET /api/v1/events`): a task arriving in someone's inbox is announced
//! to their open event streams as soon as the action that made it commits.

use serde::Serialize;
use tokio::sync::broadcast;
use utoipa::ToSchema;

/// Notices kept for a slow subscriber before it starts missing them (it is told, and reloads).
const BACKLOG: usize = 1024;

/// 待办到达: a task arrived in `user`'s inbox.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct TaskNotice {
    #[serde(skip)]
    pub user: String,
    pub document: String,
    pub title: String,
    pub urgency: String,
    pub step: i64,
    pub received_at: String,
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

    pub fn subscribe(&self) -> broadcast::Receiver<TaskNotice> {
        self.sender.subscribe()
    }
}
