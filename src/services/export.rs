//! Archive packages on their way out: one record's package for a download, and an export of
//! many records into one zip file (`henji export`).

use std::path::{Path, PathBuf};
use std::time::Instant;

use bytes::Bytes;
use futures::StreamExt;
use futures::stream::BoxStream;
use tokio::io::AsyncWriteExt;

use super::archive::ArchiveQuery;
use super::packages::Bag;
use super::{Henji, ServiceError, ServiceResult};
use crate::domain::people::Principal;

/// Which records `henji export` writes.
#[derive(Clone, Debug, Default)]
pub struct ExportRequest {
    pub department: Option<String>,
    pub year: Option<i64>,
    /// The key-encryption key that wraps sealed records' data keys in the packages.
    pub transfer_key: Option<String>,
}

#[derive(Clone, Debug)]
pub struct ExportReport {
    pub packages: usize,
    pub bytes: u64,
    pub path: PathBuf,
    pub seconds: f64,
}

impl Henji {
    /// The BagIt package of an archive record, streamed. Everything that can refuse it (the
    /// record hidden, disposed of, a transfer key missing) is checked before the first byte,
    /// so a refusal is an error, never a broken zip.
    pub async fn archive_package(&self, who: &Principal, archive_no: &str, transfer_key: Option<&str>) -> ServiceResult<BoxStream<'static, ServiceResult<Bytes>>> {
        let record = self.archive_record(who, archive_no).await?;
        let plan = self.bag_plan(who, &record, transfer_key).await?;
        Ok(self.package_stream(who.clone(), vec![Bag::Planned(plan)], None))
    }

    /// The packages of several records in one zip (one bag per folder), streamed.
    pub async fn packages_stream(&self, who: &Principal, archive_nos: &[String], transfer_key: Option<String>) -> ServiceResult<BoxStream<'static, ServiceResult<Bytes>>> {
        let mut records = Vec::with_capacity(archive_nos.len());
        for no in archive_nos {
            records.push(Bag::Record(Box::new(self.archive_record(who, no).await?)));
        }
        Ok(self.package_stream(who.clone(), records, transfer_key))
    }

    /// Writes the packages of every record `who` may read that `req` selects (disposed ones
    /// aside) into one zip at `out`, streamed; the file appears whole or not at all.
    pub async fn export_archive(&self, who: &Principal, req: &ExportRequest, out: &Path) -> ServiceResult<ExportReport> {
        let started = Instant::now();
        let mut numbers = Vec::new();
        let mut cursor = None;
        loop {
            let q = ArchiveQuery { department: req.department.clone(), year: req.year, cursor: cursor.clone(), limit: 500, ..Default::default() };
            let page = self.list_archive(who, &q).await?;
            let Some(last) = page.last().map(|r| r.archive_no.clone()) else { break };
            numbers.extend(page.into_iter().filter(|r| r.disposed_at.is_none()).map(|r| r.archive_no));
            cursor = Some(last);
        }
        let packages = numbers.len();
        let partial = out.with_extension("zip.partial");
        let io = |e: std::io::Error| ServiceError::Internal(format!("{}: {e}", partial.display()));
        let mut file = tokio::fs::File::create(&partial).await.map_err(io)?;
        let mut stream = self.packages_stream(who, &numbers, req.transfer_key.clone()).await?;
        let mut bytes = 0u64;
        while let Some(chunk) = stream.next().await {
            let chunk = chunk?;
            bytes += chunk.len() as u64;
            file.write_all(&chunk).await.map_err(io)?;
        }
        file.sync_all().await.map_err(io)?;
        tokio::fs::rename(&partial, out).await.map_err(|e| ServiceError::Internal(format!("{}: {e}", out.display())))?;
        Ok(ExportReport { packages, bytes, path: out.to_owned(), seconds: started.elapsed().as_secs_f64() })
    }
}
