//! The server's memory after ingesting N documents of 2,000–20,000 characters over HTTP (16
//! clients), once the search index has caught up and the server is quiet: its peak resident
//! size, and its own memory (RssAnon: heap, caches, indexing memory, not the index's mapped
//! files) then. `HENJI_MEMORY_DOCS` lists the N (default `2000`; e.g. `2000,100000`), each
//! on a fresh server; `HENJI_MEMORY_ARGS` adds server flags (`--cache-mib 64`).
//!
//! `cargo bench --bench memory`

mod support;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use support::{Rng, prose, start_server_with};

fn main() {
    let sizes: Vec<u64> = std::env::var("HENJI_MEMORY_DOCS").unwrap_or_else(|_| "2000".into()).split(',').filter_map(|n| n.trim().parse().ok()).collect();
    let extra = std::env::var("HENJI_MEMORY_ARGS").unwrap_or_default();
    let args: Vec<&str> = extra.split_whitespace().collect();
    let rt = tokio::runtime::Runtime::new().unwrap();
    for docs in sizes {
        let server = start_server_with(&args);
        let base = server.base.clone();
        let started = Instant::now();
        let text_bytes = Arc::new(AtomicU64::new(0));
        let clerk = rt.block_on(async {
            let client = reqwest::Client::new();
            let (clerk, _) = support::office(&client, &base).await;
            let next = Arc::new(AtomicU64::new(0));
            let workers: Vec<_> = (0..16)
                .map(|w| {
                    let (client, base, clerk, next, text_bytes) = (client.clone(), base.clone(), clerk.clone(), next.clone(), text_bytes.clone());
                    tokio::spawn(async move {
                        let mut rng = Rng(w + 11);
                        loop {
                            let n = next.fetch_add(1, Ordering::Relaxed);
                            if n >= docs {
                                return;
                            }
                            let chars = 2000 + rng.below(18_001);
                            let body = prose(&mut rng, chars);
                            text_bytes.fetch_add(body.len() as u64, Ordering::Relaxed);
                            let doc = json!({"kind": "incoming", "title": format!("关于预算管理工作的通知 {n}"), "classification": "internal", "fields": {"来文单位": "市财政局", "来文日期": "2026-11-01"}, "body": {"text": body}});
                            let r = client.post(format!("{base}/api/v1/documents")).bearer_auth(&clerk).json(&doc).send().await.unwrap();
                            assert!(r.status().is_success(), "{}", r.status());
                        }
                    })
                })
                .collect();
            for w in workers {
                w.await.unwrap();
            }
            clerk
        });
        let ingested = started.elapsed();
        // The index catches up with the last document, then the server settles.
        rt.block_on(async {
            let client = reqwest::Client::new();
            let url = reqwest::Url::parse_with_params(&format!("{base}/api/v1/search"), [("q", "title:通知"), ("limit", "1")]).unwrap();
            loop {
                let v: Value = client.get(url.clone()).bearer_auth(&clerk).send().await.unwrap().json().await.unwrap();
                if v["total"].as_u64() == Some(docs) {
                    break;
                }
                tokio::time::sleep(Duration::from_millis(500)).await;
            }
        });
        let indexed = started.elapsed();
        server.wait_until_quiet(Duration::from_secs(120));
        let (rss, peak, anon) = server.memory_mib().unwrap_or_default();
        println!(
            "memory  : {docs} documents ({:.0} MB of text) ingested in {:.0} s, indexed by {:.0} s; peak RSS {peak:.0} MiB; now {rss:.0} MiB of which its own {anon:.0} MiB{}",
            text_bytes.load(Ordering::Relaxed) as f64 / 1e6,
            ingested.as_secs_f64(),
            indexed.as_secs_f64(),
            if extra.is_empty() { String::new() } else { format!(" (with {extra})") }
        );
    }
}
