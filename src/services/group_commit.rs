//! Group commit (成批提交): writes that arrive together share one catalog transaction, the way
//! databases get past the cost of a commit per request. Each job runs inside its own SAVEPOINT,
//! so one job's failure rolls back only that job; every job is answered only after the shared
//! COMMIT, so a 2xx still means committed. Each job's objects are flushed before it queues,
//! in its own task: that flush, shared by the jobs arriving together, runs while the batch
//! before them commits.

use std::future::Future;
use std::pin::Pin;

use tokio::sync::{mpsc, oneshot};

use super::{ServiceError, ServiceResult};
use crate::resources::catalog::{self, Catalog, Conn};
use crate::resources::durability::ObjectBarrier;

/// One unit of catalog work, run against the shared transaction.
pub type Work = Box<dyn for<'c> FnOnce(&'c mut Conn) -> Pin<Box<dyn Future<Output = ServiceResult<()>> + Send + 'c>> + Send>;

type Job = (Work, oneshot::Sender<ServiceResult<()>>);

/// Jobs per transaction at most; enough to amortise a commit, small enough to keep latency flat.
const MAX_BATCH: usize = 64;

#[derive(Clone, Debug)]
pub struct GroupCommitter {
    queue: mpsc::Sender<Job>,
    objects: ObjectBarrier,
}

impl GroupCommitter {
    /// Starts the committing task on the current runtime; `objects` flushes the object store.
    pub fn start(catalog: Catalog, objects: ObjectBarrier) -> Self {
        let (queue, jobs) = mpsc::channel(1024);
        tokio::spawn(run(catalog, jobs));
        Self { queue, objects }
    }

    /// Runs `work` in the next shared transaction, once the objects written before are flushed.
    pub async fn submit(&self, work: Work) -> ServiceResult<()> {
        self.objects.flush().await.map_err(|e| ServiceError::Catalog(sqlx::Error::Io(e)))?;
        let (reply, answer) = oneshot::channel();
        self.queue.send((work, reply)).await.map_err(|_| ServiceError::Internal("the committer has stopped".into()))?;
        answer.await.map_err(|_| ServiceError::Internal("the committer dropped a job".into()))?
    }
}

async fn run(catalog: Catalog, mut jobs: mpsc::Receiver<Job>) {
    while let Some(first) = jobs.recv().await {
        let mut batch = vec![first];
        while batch.len() < MAX_BATCH {
            match jobs.try_recv() {
                Ok(job) => batch.push(job),
                Err(_) => break,
            }
        }
        let outcomes = commit_batch(&catalog, batch).await;
        for (reply, outcome) in outcomes {
            let _ = reply.send(outcome);
        }
    }
}

async fn commit_batch(catalog: &Catalog, batch: Vec<Job>) -> Vec<(oneshot::Sender<ServiceResult<()>>, ServiceResult<()>)> {
    let mut tx = match catalog.begin_write_flushed().await {
        Ok(tx) => tx,
        Err(e) => return batch.into_iter().map(|(_, reply)| (reply, Err(failed(&e)))).collect(),
    };
    let mut outcomes = Vec::with_capacity(batch.len());
    for (work, reply) in batch {
        let outcome = run_job(&mut tx, work).await;
        outcomes.push((reply, outcome));
    }
    match tx.commit().await {
        Ok(()) => outcomes,
        Err(e) => {
            tracing::error!(error = %e, "group commit failed");
            outcomes.into_iter().map(|(reply, _)| (reply, Err(failed(&e)))).collect()
        }
    }
}

/// What each job of a batch that could not begin or commit is told.
fn failed(e: &sqlx::Error) -> ServiceError {
    super::catalog_fault(e).unwrap_or_else(|| ServiceError::Internal(format!("catalog: {e}")))
}

async fn run_job(conn: &mut Conn, work: Work) -> ServiceResult<()> {
    catalog::savepoint(conn).await?;
    match work(conn).await {
        Ok(()) => {
            catalog::release_savepoint(conn).await?;
            Ok(())
        }
        Err(e) => {
            catalog::rollback_savepoint(conn).await?;
            Err(e)
        }
    }
}
