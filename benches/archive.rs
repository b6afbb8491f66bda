//! Archive benchmarks (issue: archive). In process, on a local-folder installation in a
//! temporary directory, printing figures next to their limits:
//!
//! 1. `henji verify` rate (MB/s) next to `openssl speed -evp sha256` (target: at least half);
//! 2. packaging throughput (MB/s) for one document with a 1 GiB attachment and for 10,000 small
//!    documents in one export, with the peak RSS of each (the process's high-water mark, reset
//!    before each through /proc/self/clear_refs);
//! 3. an incremental backup of the unchanged store (target: under 10 s).
//!
//! Run: `cargo bench --bench archive` (`HENJI_BENCH_DOCS`, `HENJI_BENCH_BIG_MIB` scale it).

use std::process::Command;
use std::time::Instant;

use bytes::Bytes;
use futures::StreamExt;
use henji::domain::archive::Retention;
use henji::domain::people::{Classification, Principal, Role};
use henji::services::Henji;
use henji::services::archive::{ArchiveQuery, ArchiveRequest};
use henji::services::documents::{BodyText, CreateDocument};
use henji::services::setup::{OpenMode, StorageConfig, open};
use serde_json::json;

mod support;
use support::{Rng, prose};

const MIB: usize = 1 << 20;

fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

fn openssl_sha256_mb_s() -> Option<f64> {
    let out = Command::new("openssl").args(["speed", "-evp", "sha256", "-bytes", "16384", "-seconds", "2"]).output().ok()?;
    let text = String::from_utf8_lossy(&out.stdout);
    let line = text.lines().rev().find(|l| l.contains("sha256"))?;
    let kb: f64 = line.split_whitespace().last()?.trim_end_matches('k').parse().ok()?;
    Some(kb * 1000.0 / 1e6)
}

/// Resets this process's peak RSS, so the next reading is the peak of what follows.
fn reset_peak_rss() {
    let _ = std::fs::write("/proc/self/clear_refs", "5");
}

fn peak_rss_mib() -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status.lines().find_map(|l| l.strip_prefix("VmHWM:")).and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok()).unwrap_or(0.0) / 1024.0
}

fn operator() -> Principal {
    Principal {
        id: "bench".into(),
        username: "admin".into(),
        display_name: "bench".into(),
        department: "ADMIN".into(),
        roles: vec![Role::Admin],
        clearance: Classification::Secret,
        color: "#000000".into(),
    }
}

fn incoming(title: String, body: Option<String>) -> CreateDocument {
    CreateDocument {
        kind: "incoming".into(),
        title,
        department: None,
        classification: Classification::Internal,
        urgency: None,
        fields: json!({"来文单位": "市财政局", "来文日期": "2026-11-01"}).as_object().cloned().unwrap_or_default(),
        body: body.map(|text| BodyText { text }),
    }
}

async fn consume(stream: futures::stream::BoxStream<'static, henji::services::ServiceResult<Bytes>>) -> u64 {
    let mut n = 0u64;
    let mut stream = stream;
    while let Some(chunk) = stream.next().await {
        n += chunk.expect("package stream").len() as u64;
    }
    n
}

async fn archive_all(henji: &Henji, who: &Principal, ids: &[String]) {
    futures::stream::iter(ids.iter().cloned())
        .map(|id| async move { henji.archive_document(who, &id, ArchiveRequest { retention: Retention::Years30, category: None }).await.expect("archive") })
        .buffer_unordered(8)
        .for_each(|_| async {})
        .await;
}

#[tokio::main]
async fn main() {
    let docs = env_usize("HENJI_BENCH_DOCS", 10_000);
    let big = env_usize("HENJI_BENCH_BIG_MIB", 1024) * MIB;
    let temp = tempfile::tempdir().expect("temp dir");
    let config = StorageConfig { data_dir: temp.path().join("data"), store: None, catalog: None, schemas: None, index: None, keys: None, key_file: None, durability: Default::default() };
    let (henji, _) = open(&config, OpenMode::Create { admin_password: Some("bench-password".into()) }).await.expect("open");
    let who = operator();

    // The corpus: `docs` small documents (about 2 KiB of Chinese each) and one with a big attachment.
    let started = Instant::now();
    let mut rng = Rng(2026);
    let bodies: Vec<String> = (0..docs).map(|_| prose(&mut rng, 700)).collect();
    let small: Vec<String> = futures::stream::iter(bodies.into_iter().enumerate())
        .map(|(i, body)| {
            let (henji, who) = (henji.clone(), who.clone());
            async move {
                let mut prepared = henji.prepare_document(&who, incoming(format!("来文 {i}"), Some(body))).await.expect("prepare");
                let text = prepared.inline_body.take().unwrap_or_default();
                let file = henji.store_text_body(None, &text).await.expect("body");
                henji.create_document(&who, prepared, Some(file), vec![]).await.expect("create").id
            }
        })
        .buffer_unordered(16)
        .collect()
        .await;
    let prepared = henji.prepare_document(&who, incoming("一吉字节的扫描件".into(), None)).await.expect("prepare");
    let mut upload = henji.attachment_upload(None, 0, Some("scan.tif"), Some("image/tiff")).expect("upload");
    let chunk = Bytes::from((0..MIB).map(|i| (i % 251) as u8).collect::<Vec<_>>());
    for _ in 0..big / MIB {
        upload.write(chunk.clone()).await.expect("write");
    }
    let file = henji.finish_upload(upload).await.expect("finish");
    let big_doc = henji.create_document(&who, prepared, None, vec![file]).await.expect("create").id;
    archive_all(&henji, &who, &small).await;
    archive_all(&henji, &who, std::slice::from_ref(&big_doc)).await;
    println!("corpus: {docs} small documents and one with a {} MiB attachment, archived, in {:.1} s", big / MIB, started.elapsed().as_secs_f64());

    // 1. verify (and, apart, the blob re-hash alone, which is where the bytes are).
    let started = Instant::now();
    let (fixity, _) = henji.fixity().await.expect("fixity");
    let secs = started.elapsed().as_secs_f64();
    println!("fixity (blobs only): {} blobs, {:.1} MB in {secs:.2} s = {:.0} MB/s", fixity.blobs_checked, fixity.bytes_checked as f64 / 1e6, fixity.bytes_checked as f64 / 1e6 / secs);
    let started = Instant::now();
    let chain = henji.check_audit_chain(&who).await.expect("audit chain");
    println!("audit chain alone: {chain:?} in {:.2} s", started.elapsed().as_secs_f64());
    let started = Instant::now();
    let report = henji.verify().await.expect("verify");
    let secs = started.elapsed().as_secs_f64();
    assert!(report.bad.is_empty(), "verify found {:?}", report.bad.first());
    let verify_mb_s = report.bytes_checked as f64 / 1e6 / secs;
    let openssl = openssl_sha256_mb_s();
    println!(
        "verify: {} blobs, {} manifests, {:.1} MB in {secs:.2} s = {verify_mb_s:.0} MB/s; openssl sha256 (one core) {} → ratio {}",
        report.blobs_checked,
        report.manifests_checked,
        report.bytes_checked as f64 / 1e6,
        openssl.map_or("n/a".into(), |o| format!("{o:.0} MB/s")),
        openssl.map_or("n/a".into(), |o| format!("{:.2}", verify_mb_s / o)),
    );

    // The same check on an installation that holds only the big file: the rate per byte.
    {
        let config = StorageConfig { data_dir: temp.path().join("big-only"), store: None, catalog: None, schemas: None, index: None, keys: None, key_file: None, durability: Default::default() };
        let (only, _) = open(&config, OpenMode::Create { admin_password: Some("bench-password".into()) }).await.expect("open");
        let mut upload = only.attachment_upload(None, 0, Some("scan.tif"), Some("image/tiff")).expect("upload");
        for _ in 0..big / MIB {
            upload.write(chunk.clone()).await.expect("write");
        }
        only.finish_upload(upload).await.expect("finish");
        let started = Instant::now();
        let report = only.verify().await.expect("verify");
        let secs = started.elapsed().as_secs_f64();
        let rate = report.bytes_checked as f64 / 1e6 / secs;
        println!("verify, an installation holding one {} MiB blob: {rate:.0} MB/s → ratio {}", big / MIB, openssl.map_or("n/a".into(), |o| format!("{:.2}", rate / o)));
        only.close().await;
    }

    // 2. packaging.
    let records = |q: ArchiveQuery| {
        let (henji, who) = (henji.clone(), who.clone());
        async move {
            let mut out = Vec::new();
            let mut q = q;
            loop {
                let page = henji.list_archive(&who, &q).await.expect("list");
                let Some(last) = page.last().map(|r| r.archive_no.clone()) else { break };
                out.extend(page);
                q.cursor = Some(last);
            }
            out
        }
    };
    let all = records(ArchiveQuery { limit: 500, ..Default::default() }).await;
    let (big_records, small_records): (Vec<_>, Vec<_>) = all.into_iter().partition(|r| r.document == big_doc);
    for (label, set) in [("one document with a big attachment", big_records), ("all small documents in one export", small_records)] {
        let count = set.len();
        reset_peak_rss();
        let started = Instant::now();
        let numbers: Vec<String> = set.into_iter().map(|r| r.archive_no).collect();
        let bytes = consume(henji.packages_stream(&who, &numbers, None).await.expect("packages")).await;
        let secs = started.elapsed().as_secs_f64();
        println!(
            "package, {label}: {count} bags, {:.1} MB in {secs:.2} s = {:.0} MB/s ({:.0} bags/s), peak RSS {:.0} MiB",
            bytes as f64 / 1e6,
            bytes as f64 / 1e6 / secs,
            count as f64 / secs,
            peak_rss_mib()
        );
    }

    // 3. backup: a full one, then an incremental one of the unchanged store.
    let target_dir = temp.path().join("backup");
    std::fs::create_dir_all(&target_dir).expect("backup dir");
    let target = url::Url::from_directory_path(&target_dir).expect("url").to_string();
    let full = henji.backup(&who, &target, temp.path(), 7).await.expect("backup");
    let again = henji.backup(&who, &target, temp.path(), 7).await.expect("backup");
    println!(
        "backup: full {} objects ({:.1} MB) in {:.2} s; incremental of the unchanged store: {} copied, {} present, catalog {:.1} MB, in {:.2} s (target < 10 s)",
        full.copy.objects_copied,
        full.copy.bytes_copied as f64 / 1e6,
        full.seconds,
        again.copy.objects_copied,
        again.copy.objects_present,
        again.catalog_bytes as f64 / 1e6,
        again.seconds
    );
}
