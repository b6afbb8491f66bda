//! Traces benchmarks (issue: traces). On generated Chinese official-document text:
//!
//! 1. compare two revisions of a 20,000-character document with 50 scattered edits;
//! 2. full-history traces of a 20,000-character document, 20 revisions by 5 users;
//! 3. the same for 200,000 characters;
//! 4. a complete rewrite of a 200,000-character document (the deadline path);
//! 5. a cached trace over HTTP at 50 concurrent clients (wrk).
//!
//! Each engine figure is printed next to a plain `similar` character diff of the same
//! revisions (`TextDiff::from_chars`, summed over the steps), so the engine's overhead shows
//! as a ratio. Run: `cargo bench --bench traces`.

use std::time::{Duration, Instant};

use henji::domain::traces::{TraceSpan, attribute, text_of};
use henji::services::traces::DIFF_BUDGET;
use serde_json::{Value, json};
use similar::TextDiff;

mod support;
use support::{ADMIN_PASSWORD, Rng, WORDS, prose, start_server, wrk};

/// `edits` scattered edits (insert, delete or replace a few characters) at random places.
fn edit(rng: &mut Rng, text: &str, edits: usize) -> String {
    let mut chars: Vec<char> = text.chars().collect();
    for _ in 0..edits {
        let at = rng.below(chars.len().max(1));
        let len = 1 + rng.below(6);
        let end = (at + len).min(chars.len());
        let insert: Vec<char> = WORDS[rng.below(WORDS.len())].chars().collect();
        match rng.below(3) {
            0 => drop(chars.splice(at..at, insert)),
            1 => drop(chars.drain(at..end)),
            _ => drop(chars.splice(at..end, insert)),
        }
    }
    chars.into_iter().collect()
}

/// A history: the first text, then `revisions - 1` revisions of `edits` edits each.
fn history(seed: u64, chars: usize, revisions: usize, edits: usize) -> Vec<String> {
    let mut rng = Rng(seed);
    let mut chain = vec![prose(&mut rng, chars)];
    for _ in 1..revisions {
        let next = edit(&mut rng, chain.last().unwrap(), edits);
        chain.push(next);
    }
    chain
}

/// The median of `runs` timings of `f`, in milliseconds.
fn median_ms(runs: usize, mut f: impl FnMut()) -> f64 {
    let mut times: Vec<f64> = (0..runs)
        .map(|_| {
            let t = Instant::now();
            f();
            t.elapsed().as_secs_f64() * 1000.0
        })
        .collect();
    times.sort_by(|a, b| a.total_cmp(b));
    times[times.len() / 2]
}

fn engine(chain: &[String]) -> Vec<TraceSpan> {
    let texts: Vec<&str> = chain.iter().map(String::as_str).collect();
    attribute(&texts, Some(Instant::now() + DIFF_BUDGET))
}

fn plain_similar(chain: &[String], deadline: Option<Duration>) -> usize {
    chain
        .windows(2)
        .map(|w| {
            let mut config = TextDiff::configure();
            if let Some(d) = deadline {
                config.timeout(d);
            }
            config.diff_chars(w[0].as_str(), w[1].as_str()).ops().len()
        })
        .sum()
}

fn report(label: &str, chain: &[String], runs: usize, target_ms: f64) {
    let spans = engine(chain);
    assert_eq!(text_of(&spans, TraceSpan::in_to), *chain.last().unwrap());
    assert_eq!(text_of(&spans, TraceSpan::in_from), chain[0]);
    let ours = median_ms(runs, || drop(engine(chain)));
    let plain = median_ms(runs, || { std::hint::black_box(plain_similar(chain, None)); });
    let verdict = if ours < target_ms { "ok" } else { "MISSED" };
    println!(
        "{label}: {ours:.2} ms (target < {target_ms} ms, {verdict}); plain similar char diff {plain:.2} ms; ratio {:.2}; {} spans",
        ours / plain,
        spans.len()
    );
}

fn main() {
    println!("henji traces benchmarks (release; median of runs; diff budget {} ms)", DIFF_BUDGET.as_millis());
    let pair = history(1, 20_000, 2, 50);
    report("20k chars, 2 revisions, 50 edits     ", &pair, 51, 5.0);
    let h20 = history(2, 20_000, 21, 10);
    report("20k chars, 20 revisions               ", &h20, 21, 30.0);
    let h200 = history(3, 200_000, 21, 10);
    report("200k chars, 20 revisions              ", &h200, 7, 500.0);

    // A complete rewrite: two unrelated texts of 200,000 characters.
    let rewrite = vec![prose(&mut Rng(4), 200_000), prose(&mut Rng(5), 200_000)];
    let spans = engine(&rewrite);
    assert_eq!(text_of(&spans, TraceSpan::in_to), rewrite[1]);
    assert_eq!(text_of(&spans, TraceSpan::in_from), rewrite[0]);
    let ours = median_ms(5, || drop(engine(&rewrite)));
    let plain_budget = median_ms(3, || { std::hint::black_box(plain_similar(&rewrite, Some(DIFF_BUDGET))); });
    let plain_unbounded = median_ms(1, || { std::hint::black_box(plain_similar(&rewrite, None)); });
    let verdict = if ours < 250.0 { "ok" } else { "MISSED" };
    println!(
        "200k chars, complete rewrite          : {ours:.2} ms (target < 250 ms, {verdict}); plain similar char diff {plain_unbounded:.0} ms unbounded, {plain_budget:.0} ms with the same {} ms timeout; ratio to unbounded {:.2}",
        DIFF_BUDGET.as_millis(),
        ours / plain_unbounded
    );

    cached_http(&h20);
}

/// A 20-revision, 20,000-character document's trace (5 reviewers), cached after the first
/// request, fetched by 50 concurrent clients.
fn cached_http(chain: &[String]) {
    if std::process::Command::new("wrk").arg("--version").output().is_err() {
        println!("http: wrk is not installed (apt-get install wrk); cached-trace figure skipped");
        return;
    }
    let rt = tokio::runtime::Runtime::new().unwrap();
    let server = start_server();
    let client = reqwest::Client::new();
    let base = server.base.clone();
    let url = rt.block_on(async {
        let session: Value = client.post(format!("{base}/api/v1/sessions")).json(&json!({"username": "admin", "password": ADMIN_PASSWORD})).send().await?.json().await?;
        let token = session["token"].as_str().unwrap_or_default().to_owned();
        let doc: Value = client
            .post(format!("{base}/api/v1/documents"))
            .bearer_auth(&token)
            .json(&json!({"kind": "incoming", "title": "痕迹压测", "classification": "internal", "fields": {"来文单位": "压测", "来文日期": "2026-11-23"}, "body": {"text": chain[0]}}))
            .send()
            .await?
            .json()
            .await?;
        let id = doc["id"].as_str().unwrap_or_default().to_owned();
        let mut head = doc["head_revision"].as_str().unwrap_or_default().to_owned();
        // Five reviewers take turns.
        let mut reviewers = vec![];
        for n in 0..5 {
            let user = json!({"username": format!("reviewer{n}"), "display_name": format!("审阅人{n}"), "password": ADMIN_PASSWORD, "department": "ADMIN", "roles": ["leader"], "clearance": "internal"});
            client.post(format!("{base}/api/v1/users")).bearer_auth(&token).json(&user).send().await?.error_for_status()?;
            let s: Value = client.post(format!("{base}/api/v1/sessions")).json(&json!({"username": format!("reviewer{n}"), "password": ADMIN_PASSWORD})).send().await?.json().await?;
            reviewers.push(s["token"].as_str().unwrap_or_default().to_owned());
        }
        for (n, text) in chain[1..].iter().enumerate() {
            let rev: Value = client
                .post(format!("{base}/api/v1/documents/{id}/revisions"))
                .bearer_auth(&reviewers[n % reviewers.len()])
                .json(&json!({"base_revision": head, "body": {"text": text}}))
                .send()
                .await?
                .json()
                .await?;
            head = rev["id"].as_str().unwrap_or_default().to_owned();
        }
        let url = format!("{base}/api/v1/documents/{id}/traces");
        let first = Instant::now();
        let r = client.get(&url).bearer_auth(&token).send().await?;
        assert!(r.status().is_success());
        let bytes = r.bytes().await?.len();
        println!("http: first (uncached) trace request {:.1} ms, {bytes} bytes of JSON", first.elapsed().as_secs_f64() * 1000.0);
        Ok::<_, reqwest::Error>((url, token))
    });
    let (url, token) = url.expect("set up the document");
    let (rps, p50, p99) = wrk(&url, &token, 50, None, &["Accept-Encoding: gzip"]).expect("wrk traces");
    println!("http: cached trace (20k chars, 20 revisions), 50 connections, gzip: p50 {p50:.2} ms, p99 {p99:.2} ms, {rps:.0} requests/s (target p99 < 5 ms)");
    let (rps, p50, p99) = wrk(&url, &token, 50, None, &[]).expect("wrk traces");
    println!("http: the same without Accept-Encoding (identity, ~100 KB per answer): p50 {p50:.2} ms, p99 {p99:.2} ms, {rps:.0} requests/s");
}
