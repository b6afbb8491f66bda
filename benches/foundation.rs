//! Foundation benchmarks (issue: the service). Prints figures next to the physical limit:
//!
//! 1. blob-store ingest of large files (MB/s) next to single-core SHA-256 (`openssl speed`);
//! 2. documents created over HTTP per second (4 KiB bodies, 16 concurrent clients);
//! 3. GET revision body latency at 50 concurrent clients (p50/p99).
//!
//! Run: `cargo bench --bench foundation`. The HTTP figures start the release `henji` binary on
//! loopback; client and server share the machine's cores, so they are lower bounds.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use henji::resources::blob_store::BlobStore;
use serde_json::{Value, json};
use sha2::Digest;

const ADMIN_PASSWORD: &str = "bench-admin-password";

fn openssl_sha256_mb_s() -> Option<f64> {
    // `openssl speed -evp sha256 -bytes 16384 -seconds 2`: the last figure is in 1000s of bytes/s.
    let out = Command::new("openssl").args(["speed", "-evp", "sha256", "-bytes", "16384", "-seconds", "2"]).output().ok()?;
    let text = String::from_utf8_lossy(&out.stdout);
    let line = text.lines().rev().find(|l| l.trim_start().to_lowercase().starts_with("sha256") || l.contains("sha256"))?;
    let last = line.split_whitespace().last()?;
    let kb: f64 = last.trim_end_matches('k').parse().ok()?;
    Some(kb * 1000.0 / 1e6)
}

fn sha2_in_process_mb_s() -> f64 {
    let data = vec![0x5au8; 64 << 20];
    let started = Instant::now();
    let mut rounds = 0;
    while started.elapsed() < Duration::from_secs(2) {
        std::hint::black_box(sha2::Sha256::digest(&data));
        rounds += 1;
    }
    (rounds * data.len()) as f64 / 1e6 / started.elapsed().as_secs_f64()
}

async fn ingest_mb_s(total: usize) -> f64 {
    let dir = tempfile::tempdir().unwrap();
    let url = url::Url::from_directory_path(dir.path()).unwrap().to_string();
    let store = BlobStore::open(&url).unwrap();
    let chunk = Bytes::from((0..(1 << 20)).map(|i: usize| (i * 31 % 251) as u8).collect::<Vec<_>>());
    let mut best: f64 = 0.0;
    for round in 0..3u8 {
        let started = Instant::now();
        let mut w = store.writer();
        // A different first byte per round, so each round really writes a new blob.
        w.write(Bytes::from(vec![round])).await.unwrap();
        for _ in 0..total / chunk.len() {
            w.write(chunk.clone()).await.unwrap();
        }
        w.finish().await.unwrap();
        best = best.max(total as f64 / 1e6 / started.elapsed().as_secs_f64());
    }
    best
}

struct Server {
    child: std::process::Child,
    base: String,
    _dir: tempfile::TempDir,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start_server() -> Server {
    let dir = tempfile::tempdir().unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_henji"))
        .args(["serve", "--listen", "127.0.0.1:0", "--data-dir"])
        .arg(dir.path())
        .env("HENJI_ADMIN_PASSWORD", ADMIN_PASSWORD)
        .env("RUST_LOG", "warn")
        .stdout(Stdio::piped())
        .spawn()
        .expect("start henji");
    let stdout = child.stdout.take().unwrap();
    let mut lines = BufReader::new(stdout).lines();
    let base = loop {
        let line = lines.next().expect("henji exited").unwrap();
        if let Some(b) = line.strip_prefix("listening on ") {
            break b.to_owned();
        }
    };
    std::thread::spawn(move || for _ in lines {});
    Server { child, base, _dir: dir }
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

async fn http_figures() -> (f64, Duration, Duration, usize) {
    let server = start_server();
    let client = reqwest::Client::builder().pool_max_idle_per_host(64).build().unwrap();
    let token: Value = client.post(format!("{}/api/v1/sessions", server.base)).json(&json!({"username": "admin", "password": ADMIN_PASSWORD})).send().await.unwrap().json().await.unwrap();
    let token = Arc::new(token["token"].as_str().unwrap().to_owned());
    let base = Arc::new(server.base.clone());

    // 1,000 documents per client, 16 clients, 4 KiB Chinese bodies (1,365 characters).
    let body_text: String = "公文流转".chars().cycle().take(1365).collect();
    assert_eq!(body_text.len(), 4095);
    let per_client = 250;
    let started = Instant::now();
    let mut tasks = vec![];
    for c in 0..16 {
        let (client, base, token, text) = (client.clone(), base.clone(), token.clone(), body_text.clone());
        tasks.push(tokio::spawn(async move {
            let mut ids = vec![];
            for i in 0..per_client {
                let doc = json!({"kind": "incoming", "title": format!("压测{c}-{i}"), "classification": "internal",
                    "fields": {"来文单位": "压测", "来文日期": "2026-11-23"}, "body": {"text": format!("{c}-{i}{text}")}});
                let r = client.post(format!("{base}/api/v1/documents")).bearer_auth(token.as_str()).json(&doc).send().await.unwrap();
                assert_eq!(r.status(), 201);
                let v: Value = r.json().await.unwrap();
                ids.push((v["id"].as_str().unwrap().to_owned(), v["head_revision"].as_str().unwrap().to_owned()));
            }
            ids
        }));
    }
    let mut docs = vec![];
    for t in tasks {
        docs.extend(t.await.unwrap());
    }
    let created_per_s = docs.len() as f64 / started.elapsed().as_secs_f64();

    // GET body: 50 clients, 200 requests each, over the documents just made.
    let docs = Arc::new(docs);
    let mut tasks = vec![];
    for c in 0..50usize {
        let (client, base, token, docs) = (client.clone(), base.clone(), token.clone(), docs.clone());
        tasks.push(tokio::spawn(async move {
            let mut times = vec![];
            for i in 0..200usize {
                let (id, rev) = &docs[(c * 7919 + i * 104729) % docs.len()];
                let t = Instant::now();
                let r = client.get(format!("{base}/api/v1/documents/{id}/revisions/{rev}/body")).bearer_auth(token.as_str()).send().await.unwrap();
                assert_eq!(r.status(), 200);
                let _ = r.bytes().await.unwrap();
                times.push(t.elapsed());
            }
            times
        }));
    }
    let mut times = vec![];
    for t in tasks {
        times.extend(t.await.unwrap());
    }
    times.sort();
    (created_per_s, percentile(&times, 0.5), percentile(&times, 0.99), times.len())
}

fn main() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    println!("henji foundation benchmarks ({} cores)", std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1));

    let openssl = openssl_sha256_mb_s();
    let sha2 = sha2_in_process_mb_s();
    let ingest = rt.block_on(ingest_mb_s(512 << 20));
    match openssl {
        Some(o) => println!("ingest  : {ingest:.0} MB/s into the local store (512 MiB blobs, best of 3); openssl sha256 {o:.0} MB/s; ratio {:.2} (target >= 0.50)", ingest / o),
        None => println!("ingest  : {ingest:.0} MB/s into the local store (512 MiB blobs, best of 3); openssl not found"),
    }
    println!("          sha2 crate in process: {sha2:.0} MB/s");

    let (created, p50, p99, n) = rt.block_on(http_figures());
    println!("create  : {created:.0} documents/s over HTTP (4 KiB bodies, 16 concurrent clients; target >= 1000)");
    println!("get body: p50 {:.2} ms, p99 {:.2} ms over {n} requests at 50 concurrent clients (target p99 < 5 ms)", p50.as_secs_f64() * 1e3, p99.as_secs_f64() * 1e3);
}
