//! A soak: 16 clients doing a day's mixed work (register, revise, route, approve, archive,
//! read, search, inbox, traces) against one server for `HENJI_SOAK_SECS` (600) seconds, its
//! resident memory sampled every 10 s. It reports the requests, the errors (any non-2xx or
//! failed request; there should be none) and whether memory stayed flat: the last sample
//! beside the one half-way, when caches and the index have long warmed.
//!
//! `cargo bench --bench soak` (`HENJI_SOAK_SECS=60` for a short run).

mod support;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use support::{Rng, prose, start_server};

#[derive(Default)]
struct Tally {
    requests: AtomicU64,
    errors: AtomicU64,
}

async fn call(tally: &Tally, req: reqwest::RequestBuilder) -> Option<Value> {
    tally.requests.fetch_add(1, Ordering::Relaxed);
    match req.send().await {
        Ok(r) if r.status().is_success() => Some(r.json::<Value>().await.unwrap_or(Value::Null)),
        Ok(r) => {
            let status = r.status();
            eprintln!("error: {status} {}", r.text().await.unwrap_or_default().chars().take(300).collect::<String>());
            tally.errors.fetch_add(1, Ordering::Relaxed);
            None
        }
        Err(e) => {
            eprintln!("error: {e}");
            tally.errors.fetch_add(1, Ordering::Relaxed);
            None
        }
    }
}

/// One client's working day, over and over until `until`.
async fn client_day(base: String, clerk: String, leader: String, n: u64, until: Instant, tally: Arc<Tally>) {
    let client = reqwest::Client::builder().timeout(Duration::from_secs(60)).build().unwrap();
    let mut rng = Rng(n + 1);
    let mut i = 0;
    while Instant::now() < until {
        i += 1;
        let chars = 2000 + rng.below(4000);
        let body = prose(&mut rng, chars);
        let doc = json!({"kind": "incoming", "title": format!("关于预算管理工作的通知 {n}-{i}"), "classification": "internal", "fields": {"来文单位": "市财政局", "来文日期": "2026-11-01"}, "body": {"text": body}});
        let Some(d) = call(&tally, client.post(format!("{base}/api/v1/documents")).bearer_auth(&clerk).json(&doc)).await else { continue };
        let id = d["id"].as_str().unwrap_or_default().to_owned();
        let head = d["head_revision"].as_str().unwrap_or_default().to_owned();
        let revised = format!("{}（修改）", prose(&mut rng, 300));
        let r = call(&tally, client.post(format!("{base}/api/v1/documents/{id}/revisions")).bearer_auth(&leader).json(&json!({"base_revision": head, "body": {"text": revised}}))).await;
        let head = r.as_ref().and_then(|r| r["id"].as_str()).unwrap_or(&head).to_owned();
        call(&tally, client.get(format!("{base}/api/v1/documents/{id}/revisions/{head}/body")).bearer_auth(&clerk)).await;
        call(&tally, client.get(format!("{base}/api/v1/documents/{id}/traces")).bearer_auth(&clerk)).await;
        call(&tally, client.post(format!("{base}/api/v1/documents/{id}/route")).bearer_auth(&clerk).json(&json!({"steps": [{"name": "批示", "mode": "any", "assignees": ["lead"]}]}))).await;
        call(&tally, client.get(format!("{base}/api/v1/inbox?limit=20")).bearer_auth(&leader)).await;
        call(&tally, client.post(format!("{base}/api/v1/documents/{id}/opinions")).bearer_auth(&leader).json(&json!({"text": "同意"}))).await;
        call(&tally, client.post(format!("{base}/api/v1/documents/{id}/actions")).bearer_auth(&leader).json(&json!({"action": "approve", "comment": "同意"}))).await;
        let q = ["预算", "工作", "通知 会议", "管理"][rng.below(4)];
        call(&tally, client.get(reqwest::Url::parse_with_params(&format!("{base}/api/v1/search"), [("q", q), ("limit", "10")]).unwrap()).bearer_auth(&clerk)).await;
        if i % 3 == 0 {
            call(&tally, client.post(format!("{base}/api/v1/documents/{id}/archive")).bearer_auth(&clerk).json(&json!({"retention": "10y"}))).await;
        }
    }
}

fn main() {
    let secs: u64 = std::env::var("HENJI_SOAK_SECS").ok().and_then(|v| v.parse().ok()).unwrap_or(600);
    let server = start_server();
    let rt = tokio::runtime::Runtime::new().unwrap();
    let base = server.base.clone();
    let (clerk, leader) = rt.block_on(support::office(&reqwest::Client::new(), &base));
    let tally = Arc::new(Tally::default());
    let started = Instant::now();
    let until = started + Duration::from_secs(secs);
    let clients: Vec<_> = (0..16).map(|n| rt.spawn(client_day(base.clone(), clerk.clone(), leader.clone(), n, until, tally.clone()))).collect();
    let mut samples = vec![];
    while Instant::now() < until {
        std::thread::sleep(Duration::from_secs(10));
        if let Some((rss, peak, anon)) = server.memory_mib() {
            samples.push((started.elapsed().as_secs(), rss, peak, anon));
            println!("{:>4} s: {} requests, {} errors, RSS {rss:.0} MiB (own {anon:.0}, peak {peak:.0})", started.elapsed().as_secs(), tally.requests.load(Ordering::Relaxed), tally.errors.load(Ordering::Relaxed));
        }
    }
    rt.block_on(async {
        for c in clients {
            let _ = c.await;
        }
    });
    let requests = tally.requests.load(Ordering::Relaxed);
    let errors = tally.errors.load(Ordering::Relaxed);
    // Caches and indexing memory fill in the first minutes; flat is the second half.
    let warm = samples.iter().find(|s| s.0 >= 60).or(samples.first()).copied().unwrap_or_default();
    let half = samples.iter().find(|s| s.0 >= secs / 2).or(samples.first()).copied().unwrap_or_default();
    let last = samples.last().copied().unwrap_or_default();
    println!(
        "soak    : {secs} s, 16 clients: {requests} requests ({:.0}/s), {errors} errors; own memory {:.0} MiB a minute in, {:.0} half-way, {:.0} at the end ({:.2} x over the second half; flat means <= 1.1); RSS with the mapped index {:.0} -> {:.0} MiB, peak {:.0}",
        requests as f64 / secs as f64,
        warm.3,
        half.3,
        last.3,
        last.3 / half.3.max(1.0),
        warm.1,
        last.1,
        last.2
    );
}
