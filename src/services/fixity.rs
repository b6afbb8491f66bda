//! Fixity (完整性检查): re-hashing every blob and manifest, on demand and on a schedule, with
//! the results recorded and the count of bad objects exported as a metric to alert on.

use std::time::Duration;

use serde::Serialize;
use utoipa::ToSchema;

use super::verify::BadObject;
use super::{Henji, ServiceError, ServiceResult, now};
use crate::domain::access;
use crate::domain::people::Principal;
use crate::resources::catalog::fixity as rows;
pub use crate::resources::catalog::fixity::FixityRow;

/// One fixity check.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct FixityRun {
    pub started_at: String,
    pub finished_at: String,
    /// `schedule`, `api` or `cli`.
    pub trigger: String,
    pub blobs_checked: u64,
    pub bytes_checked: u64,
    pub manifests_checked: u64,
    /// Every bad object, first the first found (the list is not kept; its count and the first are).
    pub bad: Vec<BadObject>,
}

/// `24h`, `30m`, `45s` or a number of hours; `0` turns the schedule off.
pub fn parse_interval(text: &str) -> Result<Option<Duration>, String> {
    let t = text.trim();
    let (number, unit) = match t.char_indices().find(|(_, c)| !c.is_ascii_digit()) {
        Some((i, _)) => (&t[..i], &t[i..]),
        None => (t, "h"),
    };
    let n: u64 = number.parse().map_err(|_| format!("{text:?} is not an interval such as 24h, 30m or 45s"))?;
    let seconds = match unit {
        "h" => n * 3600,
        "m" => n * 60,
        "s" => n,
        _ => return Err(format!("{text:?}: the unit is h, m or s")),
    };
    Ok((seconds > 0).then(|| Duration::from_secs(seconds)))
}

impl Henji {
    /// A fixity check now, on an administrator's request (`trigger`: `api`, `web` or `cli`).
    pub async fn run_fixity(&self, who: &Principal, trigger: &str) -> ServiceResult<FixityRun> {
        access::check_admin(who).map_err(|d| ServiceError::from_denied(d, "fixity"))?;
        self.fixity_check(trigger).await
    }

    /// Re-hashes every blob, re-derives every manifest id and checks the catalog against them
    /// (what `henji verify` does), and records the result.
    async fn fixity_check(&self, trigger: &str) -> ServiceResult<FixityRun> {
        let started_at = now();
        let report = self.verify().await?;
        let run = FixityRun {
            started_at,
            finished_at: now(),
            trigger: trigger.to_owned(),
            blobs_checked: report.blobs_checked,
            bytes_checked: report.bytes_checked,
            manifests_checked: report.manifests_checked,
            bad: report.bad,
        };
        let mut tx = self.catalog.begin_write().await?;
        rows::insert(&mut tx, &rows::FixityRow {
            started_at: run.started_at.clone(),
            finished_at: run.finished_at.clone(),
            trigger_name: run.trigger.clone(),
            blobs_checked: run.blobs_checked as i64,
            bytes_checked: run.bytes_checked as i64,
            manifests_checked: run.manifests_checked as i64,
            bad_count: run.bad.len() as i64,
            first_bad: run.bad.first().map(|b| format!("{}: {}", b.object, b.problem)),
        })
        .await?;
        tx.commit().await?;
        self.metrics.fixity_bad_objects.set(run.bad.len() as i64);
        self.metrics.fixity_runs.inc();
        self.metrics.fixity_last_run.set(chrono::Utc::now().timestamp());
        if let Some(first) = run.bad.first() {
            tracing::error!(bad = run.bad.len(), first = %first.object, problem = %first.problem, "fixity check found bad objects");
        }
        Ok(run)
    }

    /// Runs the check every `interval`, for as long as the process lives.
    pub fn schedule_fixity(&self, interval: Duration) {
        let henji = self.clone();
        self.spawn_background(async move {
            let mut ticker = tokio::time::interval_at(tokio::time::Instant::now() + interval, interval);
            ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                ticker.tick().await;
                if let Err(e) = henji.fixity_check("schedule").await {
                    tracing::warn!(error = %e, "scheduled fixity check failed");
                }
            }
        });
    }

    /// The recorded checks, newest first (administrators).
    pub async fn fixity_runs(&self, who: &Principal, limit: i64) -> ServiceResult<Vec<rows::FixityRow>> {
        access::check_admin(who).map_err(|d| ServiceError::from_denied(d, "fixity"))?;
        Ok(rows::recent(&mut *self.catalog.read().await?, limit).await?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn intervals_read_as_written() {
        assert_eq!(parse_interval("24h"), Ok(Some(Duration::from_secs(86_400))));
        assert_eq!(parse_interval("30m"), Ok(Some(Duration::from_secs(1800))));
        assert_eq!(parse_interval("2"), Ok(Some(Duration::from_secs(7200))));
        assert_eq!(parse_interval("0"), Ok(None));
        assert!(parse_interval("soon").is_err());
        assert!(parse_interval("5d").is_err());
    }
}
