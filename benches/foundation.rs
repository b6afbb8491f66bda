//! Foundation benchmarks (issue: the service). Prints figures next to the physical limit:
//!
//! 1. blob-store ingest of large files (MB/s) next to single-core SHA-256 (`openssl speed`);
//! 2. documents created over HTTP per second (4 KiB bodies, 16 concurrent clients);
//! 3. GET revision body latency at 50 concurrent clients (p50/p99), next to the floor of an
//!    axum server that answers the same bytes and does nothing else.
//!
//! Run: `cargo bench --bench foundation`. The HTTP figures start the release `henji` binary on
//! loopback and load it with wrk (`apt-get install wrk`), which shares the machine's two cores.

use std::process::Command;
use std::time::{Duration, Instant};

use bytes::Bytes;
use henji::resources::blob_store::BlobStore;
use serde_json::{Value, json};
use sha2::Digest;

mod support;
use support::{ADMIN_PASSWORD, Server, start_server, start_server_with, wrk};

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

/// The device of the ext4 file system holding `dir`, if it has no journal. Only there does
/// ext4 pass over every inode freed in the last minutes when it allocates one, which makes the
/// create figure depend on what was deleted before the run (benches/README.md).
fn journal_less_ext4(dir: &std::path::Path) -> Option<String> {
    let dir = dir.canonicalize().ok()?;
    let mounts = std::fs::read_to_string("/proc/self/mounts").ok()?;
    let (device, _, kind) = mounts
        .lines()
        .filter_map(|line| {
            let mut parts = line.split_whitespace();
            Some((parts.next()?, parts.next()?, parts.next()?))
        })
        .filter(|(_, point, _)| dir.starts_with(point))
        .max_by_key(|(_, point, _)| point.len())?;
    let name = std::path::Path::new(device).file_name()?.to_str()?;
    let journal = std::fs::read_to_string(format!("/sys/fs/ext4/{name}/journal_task")).ok()?;
    (kind == "ext4" && journal.trim() == "<none>").then(|| device.to_owned())
}

fn http_figures(rt: &tokio::runtime::Runtime) {
    if Command::new("wrk").arg("--version").output().is_err() {
        println!("http    : wrk is not installed (apt-get install wrk); HTTP figures skipped");
        return;
    }
    let server = start_server();
    let client = reqwest::Client::new();
    let token = rt.block_on(support::sign_in(&client, &server.base, "admin", ADMIN_PASSWORD));

    let (rps, p50, p99) = create_load(&server, &token);
    println!("create  : {rps:.0} documents/s over HTTP (4 KiB bodies, 16 connections; p50 {p50:.1} ms, p99 {p99:.1} ms; target >= 1000/s)");
    if let Some(device) = journal_less_ext4(&server.dir) {
        println!("          note: the data directory is on ext4 without a journal ({device}), where creating files slows down");
        println!("          for minutes after many deletions, such as earlier runs' data; TMPDIR=<a journaled file system>");
        println!("          measures without that (benches/README.md, \"Creates on a file system with a journal\")");
    }

    // The search index follows the writes in the background; let it catch up, so that the
    // read figure below measures reads, not reads beside indexing.
    let caught_up = std::time::Instant::now();
    rt.block_on(async {
        let url = format!("{}/api/v1/search?q=%E5%8E%8B%E6%B5%8B&limit=1", server.base);
        let mut last = u64::MAX;
        loop {
            tokio::time::sleep(Duration::from_millis(500)).await;
            let v: Value = client.get(&url).bearer_auth(&token).send().await?.json().await?;
            let total = v["total"].as_u64().unwrap_or(0);
            if total == last {
                return Ok::<_, reqwest::Error>(());
            }
            last = total;
        }
    })
    .unwrap();
    println!("          the search index caught up with those documents {:.1} s after the load ended", caught_up.elapsed().as_secs_f64());

    // Once henji is idle again, the same load with an fsync of every object file and its folder (the naive way to make a
    // 2xx durable), and with objects and commits only handed to the operating system.
    for (mode, label) in [("each-file", "fsync per object"), ("os", "--durability os")] {
        let peer = start_server_with(&["--durability", mode]);
        let token = rt.block_on(support::sign_in(&client, &peer.base, "admin", ADMIN_PASSWORD));
        let (peer_rps, peer_p50, peer_p99) = create_load(&peer, &token);
        println!("          {label}: {peer_rps:.0} documents/s (p50 {peer_p50:.1} ms, p99 {peer_p99:.1} ms); durable is {:.2} x this (target {})", rps / peer_rps, if mode == "os" { ">= 0.50" } else { ">= 4" });
    }

    let doc: Value = rt
        .block_on(async {
            client
                .post(format!("{}/api/v1/documents", server.base))
                .bearer_auth(&token)
                .json(&json!({"kind": "incoming", "title": "读", "classification": "internal", "fields": {"来文单位": "x", "来文日期": "2026-11-23"}, "body": {"text": body_text()}}))
                .send()
                .await?
                .json()
                .await
        })
        .unwrap();
    let url = format!("{}/api/v1/documents/{}/revisions/{}/body", server.base, doc["id"].as_str().unwrap(), doc["head_revision"].as_str().unwrap());
    let (rps, p50, p99) = wrk(&url, &token, 50, None, &[]).expect("wrk get");
    println!("get body: p50 {p50:.2} ms, p99 {p99:.2} ms, {rps:.0} requests/s at 50 connections (4 KiB body; target p99 < 5 ms)");
    if let Some((rps, p50, p99)) = floor_get(rt, Bytes::from(body_text())) {
        println!("floor   : p50 {p50:.2} ms, p99 {p99:.2} ms, {rps:.0} requests/s: an axum server answering the same body from memory, nothing else");
    }
}

/// The 4 KiB body of the create and read figures.
fn body_text() -> String {
    "公文流转".chars().cycle().take(1360).collect()
}

/// Creates over HTTP for 8 s at 16 connections: (documents/s, p50 ms, p99 ms).
fn create_load(server: &Server, token: &str) -> (f64, f64, f64) {
    // 4 KiB Chinese bodies, each made unique by a counter so every request stores a new blob.
    let body_text = body_text();
    let doc = json!({"kind": "incoming", "title": "压测", "classification": "internal",
        "fields": {"来文单位": "压测", "来文日期": "2026-11-23"}, "body": {"text": format!("@@{body_text}")}})
    .to_string();
    let (head, tail) = doc.split_once("@@").unwrap();
    let script = server.dir.join("create.lua");
    let lua = format!(
        "wrk.headers[\"Content-Type\"] = \"application/json\"\nlocal n = 0\nrequest = function()\n  n = n + 1\n  return wrk.format(\"POST\", nil, nil, [==[{head}]==] .. string.format(\"%08d%p\", n, {{}}) .. [==[{tail}]==])\nend\n"
    );
    std::fs::write(&script, lua).unwrap();
    wrk(&format!("{}/api/v1/documents", server.base), token, 16, Some(&script), &[]).expect("wrk create")
}

/// What GET body could be at best on this machine: the same axum, hyper and tokio (two
/// workers, as henji runs here), the same wrk, and a handler that returns the body and does
/// nothing else (no token, no access check, no metrics). The load generator shares the two
/// cores with the server, so this floor's p99 moves with the machine as henji's does.
fn floor_get(rt: &tokio::runtime::Runtime, body: Bytes) -> Option<(f64, f64, f64)> {
    let listener = rt.block_on(tokio::net::TcpListener::bind("127.0.0.1:0")).ok()?;
    let addr = listener.local_addr().ok()?;
    let app = axum::Router::new().route(
        "/api/v1/documents/{id}/revisions/{rev}/body",
        axum::routing::get(move || {
            let body = body.clone();
            async move { ([(axum::http::header::CONTENT_TYPE, "text/plain; charset=utf-8")], body) }
        }),
    );
    let server = rt.spawn(async move { axum::serve(listener, app).await });
    let figures = wrk(&format!("http://{addr}/api/v1/documents/d/revisions/r/body"), "unused", 50, None, &[]);
    server.abort();
    figures
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
    // The ingest left gigabytes of dirty pages; let the kernel write them back now rather than
    // in the middle of the HTTP figures.
    let _ = Command::new("sync").status();

    http_figures(&rt);
}
