//! Search benchmarks (issue: search). On a generated corpus of Chinese documents of about
//! 5,000 characters (100,000 by default; `HENJI_BENCH_DOCS` changes it):
//!
//! 0. what the analyzers alone cost (one core, no index): the reference for the rate below;
//! 1. indexing rate into the tantivy index (documents/s and MB/s of text);
//! 2. index size next to the raw text size;
//! 3. latency of 200 mixed queries in process (p50, p99, mean), with permissions and facets,
//!    as one department's staff member and as a reader of every document (the HTTP reader's
//!    reach);
//! 4. the same corpus and queries over HTTP at 16 concurrent clients (wrk), the documents
//!    registered through the API and indexed by the server itself: once as soon as all are
//!    searchable, and once the server has gone idle (its segment merges done);
//! 5. SQLite FTS5 with the trigram tokenizer on the first `HENJI_BENCH_FTS_DOCS` documents
//!    (5,000 by default: FTS5 indexes Chinese at tens of documents a second here), the same
//!    queries, and the ratios.
//!
//! Run: `cargo bench --bench search`. `HENJI_BENCH_INDEX_DIR=/some/dir` keeps the index
//! there and reuses it on the next run with the same `HENJI_BENCH_DOCS` (for query work; delete
//! the folder after changing how documents are indexed). `HENJI_BENCH_QUERIES_ONLY=1` runs
//! just the in-process queries (3), and `HENJI_BENCH_QUERY_PASSES=n` repeats them, for
//! profiling. `HENJI_BENCH_SERVER_DIR=/some/dir` does for (4) what `HENJI_BENCH_INDEX_DIR`
//! does for (1): the server's data directory is kept and, on the next run, only the searches
//! over HTTP are measured again; `HENJI_BENCH_HTTP_ONLY=1` then skips (0)–(3) and (5).

use std::time::Instant;

use henji::domain::access::ReadScope;
use henji::domain::people::Classification;
use henji::domain::search::parse;
use henji::resources::search::{IndexQuery, IndexedDocument, SearchIndex};
use serde_json::{Value, json};
use sqlx::Connection;

mod support;
use support::{ADMIN_PASSWORD, Rng, Server, percentile, start_server, start_server_in, wrk};

const KINDS: &[&str] = &["incoming", "outgoing", "customer-file"];
const DEPARTMENTS: &[&str] = &["BGS", "CWB", "GCB", "RSB"];
const LATIN: &[&str] = &["budget", "report", "GB/T 9704", "2026年", "ISO 15489", "review"];

/// Words of one to four characters from the 3,500 most common CJK code points, drawn with
/// Zipf-like frequencies, so that some words are everywhere and most are rare.
struct Corpus {
    words: Vec<String>,
    cumulative: Vec<f64>,
}

impl Corpus {
    fn new(rng: &mut Rng) -> Self {
        let chars: Vec<char> = (0..3500u32).filter_map(|i| char::from_u32(0x4E00 + i * 5)).collect();
        let words: Vec<String> = (0..20_000).map(|_| (0..1 + rng.below(3)).map(|_| chars[rng.below(chars.len())]).collect()).collect();
        let mut total = 0.0;
        let cumulative = (1..=words.len()).map(|r| {
            total += 1.0 / r as f64;
            total
        });
        Self { cumulative: cumulative.collect(), words }
    }

    fn word(&self, rng: &mut Rng) -> &str {
        let last = self.cumulative.last().copied().unwrap_or(1.0);
        let u = (rng.next() % 1_000_000_007) as f64 / 1_000_000_007.0 * last;
        let i = self.cumulative.partition_point(|c| *c < u).min(self.words.len() - 1);
        &self.words[i]
    }

    fn text(&self, rng: &mut Rng, chars: usize) -> String {
        let mut out = String::with_capacity(chars * 3);
        let mut n = 0;
        while n < chars {
            if rng.below(40) == 0 {
                out.push_str(LATIN[rng.below(LATIN.len())]);
                n += 4;
            } else {
                let w = self.word(rng);
                out.push_str(w);
                n += w.chars().count();
            }
            match rng.below(12) {
                0 => out.push('，'),
                1 => out.push('。'),
                _ => continue,
            }
            n += 1;
        }
        out
    }
}

fn document(corpus: &Corpus, rng: &mut Rng, n: usize) -> IndexedDocument {
    let (title_chars, body_chars) = (12 + rng.below(12), 4500 + rng.below(1000));
    IndexedDocument {
        id: format!("{n:026}"),
        title: corpus.text(rng, title_chars),
        body: corpus.text(rng, body_chars),
        fields: format!("{}\n{}", corpus.text(rng, 6), corpus.text(rng, 8)),
        attachments: String::new(),
        opinions: String::new(),
        kind: KINDS[n % KINDS.len()].into(),
        department: DEPARTMENTS[n % DEPARTMENTS.len()].into(),
        state: "registered".into(),
        classification: if n % 5 == 0 { "public" } else { "internal" }.into(),
        classification_rank: if n % 5 == 0 { 0 } else { 1 },
        year: 2000 + (n % 27) as u64,
        archived: n % 7 == 0,
        created_at: "2026-11-23T00:00:00.000Z".into(),
        twin: false,
    }
}

/// What the analyzers alone cost on this corpus's bodies, one core, no index: the reference
/// for the indexing rate (everything above this is tantivy's postings, merges and commits).
fn tokenizer_rates(corpus: &Corpus) {
    let mut doc_rng = Rng(42);
    let docs: Vec<_> = (0..2_000).map(|n| document(corpus, &mut doc_rng, n)).collect();
    let bytes: usize = docs.iter().map(|d| d.body.len()).sum();
    let mut per_doc = 0.0;
    for (name, mut analyzer) in henji::resources::search::tokenizers::analyzers() {
        // Best of three passes: the first also pays for jieba's dictionary and cold pages.
        let (mut secs, mut tokens) = (f64::MAX, 0usize);
        for _ in 0..3 {
            let started = Instant::now();
            tokens = 0;
            for d in &docs {
                let mut stream = analyzer.token_stream(&d.body);
                while stream.advance() {
                    tokens += 1;
                }
            }
            secs = secs.min(started.elapsed().as_secs_f64());
        }
        if name != henji::resources::search::tokenizers::GRAM_QUERY {
            per_doc += secs / docs.len() as f64;
        }
        println!("tokens: {name} alone {:.0} bodies/s, {:.1} MB/s, {} tokens a body, {:.0} ns a token (one core)", docs.len() as f64 / secs, bytes as f64 / 1e6 / secs, tokens / docs.len(), secs * 1e9 / tokens as f64);
    }
    let cores = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1) as f64;
    println!("tokens: the indexing analyzers on every core, nothing else: at most {:.0} documents/s", cores / per_doc);
}

/// 200 queries of the kinds archivists type: substrings of one to four characters, two words,
/// phrases, OR, NOT, mixed Chinese and Latin, a field prefix.
fn queries(corpus: &Corpus, rng: &mut Rng) -> Vec<String> {
    let sample = |len: usize, rng: &mut Rng| -> String {
        loop {
            let text = corpus.text(rng, 40);
            let chars: Vec<char> = text.chars().filter(|c| ('\u{4E00}'..='\u{9FFF}').contains(c)).collect();
            if chars.len() >= len {
                let at = rng.below(chars.len() - len + 1);
                return chars[at..at + len].iter().collect();
            }
        }
    };
    let mut out = Vec::new();
    for i in 0..200 {
        let q = match i % 8 {
            0..=2 => sample(1 + i % 4, rng),
            3 => format!("{} {}", sample(2, rng), sample(2, rng)),
            4 => format!("\"{}\"", sample(4, rng)),
            5 => format!("{} OR {}", sample(3, rng), sample(3, rng)),
            6 => format!("{} -{}", sample(2, rng), sample(2, rng)),
            _ => format!("{} {} budget", LATIN[3], sample(2, rng)),
        };
        out.push(if i % 25 == 0 { format!("title:{}", sample(2, rng)) } else { q });
    }
    out
}

fn main() {
    let docs: usize = std::env::var("HENJI_BENCH_DOCS").ok().and_then(|v| v.parse().ok()).unwrap_or(100_000);
    let fts_docs: usize = std::env::var("HENJI_BENCH_FTS_DOCS").ok().and_then(|v| v.parse().ok()).unwrap_or(5_000).min(docs);
    println!("henji search benchmarks: {docs} generated documents of about 5,000 characters ({} cores)", std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1));
    let mut rng = Rng(0xC0FFEE);
    let corpus = Corpus::new(&mut rng);

    // Only the in-process queries (with a kept index): for profiling them, under valgrind say.
    let queries_only = std::env::var_os("HENJI_BENCH_QUERIES_ONLY").is_some();
    if std::env::var_os("HENJI_BENCH_HTTP_ONLY").is_some() {
        http(&corpus, docs, &queries(&corpus, &mut Rng(7)));
        return;
    }
    if !queries_only {
        tokenizer_rates(&corpus);
    }

    // 1. Indexing. With HENJI_BENCH_INDEX_DIR the index is kept there and, on the next run
    // with the same number of documents, reused, so query work at 100,000 documents does not
    // wait ten minutes for a rebuild. Only valid while the indexing code is unchanged.
    let temporary = tempfile::tempdir().unwrap();
    let kept = std::env::var_os("HENJI_BENCH_INDEX_DIR").map(std::path::PathBuf::from);
    let index_dir = kept.clone().unwrap_or_else(|| temporary.path().join("index"));
    let marker = index_dir.join(format!("henji-bench-{docs}-documents"));
    let index = if kept.is_some() && marker.exists() {
        println!("index : reusing the index of {docs} documents in {} (HENJI_BENCH_INDEX_DIR); indexing not measured", index_dir.display());
        SearchIndex::open(&index_dir).unwrap()
    } else {
        if index_dir.exists() {
            std::fs::remove_dir_all(&index_dir).unwrap();
        }
        let index = SearchIndex::create(&index_dir).unwrap();
        let started = Instant::now();
        let mut raw_bytes = 0u64;
        let mut doc_rng = Rng(42);
        for n in 0..docs {
            let d = document(&corpus, &mut doc_rng, n);
            raw_bytes += (d.title.len() + d.body.len() + d.fields.len()) as u64;
            index.upsert(&d).unwrap();
            if n % 20_000 == 19_999 {
                index.commit(n as i64).unwrap();
            }
        }
        index.commit(docs as i64).unwrap();
        let secs = started.elapsed().as_secs_f64();
        index.close().unwrap();
        let merged = started.elapsed().as_secs_f64();
        println!("index : merges done {:.1} s after the last commit", merged - secs);
        println!("index : {:.0} documents/s, {:.1} MB/s of text ({docs} documents, {:.0} MB, {secs:.1} s; target >= 1,000 documents/s)", docs as f64 / secs, raw_bytes as f64 / 1e6 / secs, raw_bytes as f64 / 1e6);
        let size: u64 = walk(&index_dir);
        println!("size  : index {:.0} MB for {:.0} MB of text: {:.2} x (target <= 1.5 x)", size as f64 / 1e6, raw_bytes as f64 / 1e6, size as f64 / raw_bytes as f64);
        if kept.is_some() {
            std::fs::write(&marker, b"").unwrap();
        }
        SearchIndex::open(&index_dir).unwrap()
    };

    // 3. Queries in process: as a staff member of one department cleared to internal, and as
    // a reader of every document (the reach the HTTP reader below has).
    let queries = queries(&corpus, &mut Rng(7));
    let per_department = docs / DEPARTMENTS.len();
    time_queries(&index, &queries, Some("BGS"), Classification::Internal, &format!("the {per_department} documents one department sees"));
    time_queries(&index, &queries, None, Classification::Secret, &format!("all {docs} documents"));
    drop(index);
    if queries_only {
        return;
    }

    // 5. SQLite FTS5 (trigram) on a subset, next to henji on the same subset.
    let small = henji_on(&corpus, fts_docs, &queries);
    fts5_baseline(&corpus, fts_docs, &queries, small);

    // 4. Over HTTP.
    http(&corpus, docs, &queries);
}

/// Runs the queries in process as a reader of `department` (every department with `None`)
/// cleared to `clearance`, and prints their latency and the slowest of them.
fn time_queries(index: &SearchIndex, queries: &[String], department: Option<&str>, clearance: Classification, reach: &str) {
    let mut times = Vec::new();
    let mut totals = Vec::new();
    // Two passes (the second is measured); more with HENJI_BENCH_QUERY_PASSES, to profile them.
    let passes: usize = std::env::var("HENJI_BENCH_QUERY_PASSES").ok().and_then(|v| v.parse().ok()).unwrap_or(2).max(1);
    let mut cpu_ms = 0.0;
    for _ in 0..passes {
        times.clear();
        totals.clear();
        let cpu_before = process_cpu_ms();
        for q in queries {
            let parsed = parse(q).unwrap();
            let t = Instant::now();
            let r = index
                .search(&IndexQuery {
                    query: &parsed,
                    scope: &ReadScope { clearance, department, username: "", distributed_to: "", archived_anywhere: false },
                    routed: &[],
                    kind: None,
                    department: None,
                    state: None,
                    classification: None,
                    year: None,
                    archived: None,
                    limit: 20,
                    offset: 0,
                    skip_twins: true,
                })
                .unwrap();
            times.push(t.elapsed().as_secs_f64() * 1000.0);
            totals.push(r.total);
        }
        cpu_ms = process_cpu_ms() - cpu_before;
    }
    // Which queries make the tail: their kind says what to make cheaper.
    let mut slowest: Vec<(f64, &String, usize)> = times.iter().zip(queries).zip(&totals).map(|((t, q), n)| (*t, q, *n)).collect();
    slowest.sort_by(|a, b| b.0.total_cmp(&a.0));
    times.sort_by(|a, b| a.total_cmp(b));
    totals.sort();
    let mean = times.iter().sum::<f64>() / times.len().max(1) as f64;
    println!(
        "query : in process, 200 mixed queries (last pass): p50 {:.2} ms, p99 {:.2} ms, mean {mean:.2} ms, max {:.1} ms (targets p50 < 5 ms, p99 < 50 ms); CPU {:.2} ms a query; median hits {} of {reach}",
        percentile(&times, 0.5),
        percentile(&times, 0.99),
        times.last().copied().unwrap_or(0.0),
        cpu_ms / times.len().max(1) as f64,
        totals.get(totals.len() / 2).copied().unwrap_or(0),
    );
    for (ms, q, total) in slowest.iter().take(5) {
        println!("query :   slowest: {ms:.1} ms for {q:?} ({total} hits)");
    }
}

/// CPU time this process has used, user and system, in milliseconds (Linux; 0 elsewhere).
/// A query runs on the search pool's threads as well as this one, and under concurrent
/// searches (over HTTP) what each costs in CPU is what bounds the rate, not its wall time.
fn process_cpu_ms() -> f64 {
    let Ok(stat) = std::fs::read_to_string("/proc/self/stat") else { return 0.0 };
    // After the command name in parentheses: state is the first field, utime the 12th,
    // stime the 13th, in clock ticks (100 a second on Linux).
    let Some((_, rest)) = stat.rsplit_once(')') else { return 0.0 };
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks = |i: usize| fields.get(i).and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0);
    (ticks(11) + ticks(12)) * 10.0
}

fn walk(dir: &std::path::Path) -> u64 {
    std::fs::read_dir(dir).map(|entries| entries.flatten().map(|e| if e.path().is_dir() { walk(&e.path()) } else { e.metadata().map(|m| m.len()).unwrap_or(0) }).sum()).unwrap_or(0)
}

/// The positive words of a query as an FTS5 condition: words of three or more characters
/// through the trigram index, shorter ones as LIKE (which FTS5 trigram also serves, by scan).
fn fts_condition(q: &str) -> String {
    let parsed = parse(q).unwrap();
    let words: Vec<String> = henji::domain::search::positive_texts(&parsed).iter().map(|w| w.replace(['\'', '"'], "")).collect();
    // FTS5 takes one MATCH per query, and none under an OR: the long words together in one
    // MATCH, the short ones as LIKE over the columns joined.
    let long: Vec<String> = words.iter().filter(|w| w.chars().count() >= 3).map(|w| format!("\"{w}\"")).collect();
    let mut conditions: Vec<String> = words.iter().filter(|w| w.chars().count() < 3).map(|w| format!("(title || ' ' || body || ' ' || fields) LIKE '%{w}%'")).collect();
    if !long.is_empty() {
        conditions.push(format!("docs MATCH '{}'", long.join(" AND ")));
    }
    conditions.join(" AND ")
}

/// The in-process figures for the first `n` documents: (documents/s, bytes, p50 ms, p99 ms).
fn henji_on(corpus: &Corpus, n: usize, queries: &[String]) -> (f64, u64, f64, f64) {
    let dir = tempfile::tempdir().unwrap();
    let index = SearchIndex::create(&dir.path().join("index")).unwrap();
    let mut rng = Rng(42);
    let started = Instant::now();
    for i in 0..n {
        index.upsert(&document(corpus, &mut rng, i)).unwrap();
    }
    index.commit(n as i64).unwrap();
    let rate = n as f64 / started.elapsed().as_secs_f64();
    index.close().unwrap();
    let index = SearchIndex::open(&dir.path().join("index")).unwrap();
    let mut times: Vec<f64> = queries
        .iter()
        .map(|q| {
            let parsed = parse(q).unwrap();
            let t = Instant::now();
            let scope = ReadScope { clearance: Classification::Secret, department: None, username: "", distributed_to: "", archived_anywhere: false };
            let query = IndexQuery { query: &parsed, scope: &scope, routed: &[], kind: None, department: None, state: None, classification: None, year: None, archived: None, limit: 20, offset: 0, skip_twins: true };
            index.search(&query).unwrap();
            t.elapsed().as_secs_f64() * 1000.0
        })
        .collect();
    times.sort_by(|a, b| a.total_cmp(b));
    (rate, walk(&dir.path().join("index")), percentile(&times, 0.5), percentile(&times, 0.99))
}

fn fts5_baseline(corpus: &Corpus, n: usize, queries: &[String], henji: (f64, u64, f64, f64)) {
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}?mode=rwc", dir.path().join("fts.db").display());
        let mut conn = sqlx::SqliteConnection::connect(&url).await.unwrap();
        sqlx::query("CREATE VIRTUAL TABLE docs USING fts5(title, body, fields, tokenize='trigram')").execute(&mut conn).await.unwrap();
        let mut rng = Rng(42);
        let started = Instant::now();
        let mut tx = conn.begin().await.unwrap();
        for i in 0..n {
            let d = document(corpus, &mut rng, i);
            sqlx::query("INSERT INTO docs (title, body, fields) VALUES ($1, $2, $3)").bind(&d.title).bind(&d.body).bind(&d.fields).execute(&mut *tx).await.unwrap();
        }
        tx.commit().await.unwrap();
        let rate = n as f64 / started.elapsed().as_secs_f64();
        let size = std::fs::metadata(dir.path().join("fts.db")).map(|m| m.len()).unwrap_or(0);
        let mut times = Vec::new();
        for q in queries {
            let sql = format!("SELECT count(*) FROM docs WHERE {}", fts_condition(q));
            let t = Instant::now();
            let _: i64 = sqlx::query_scalar(sqlx::AssertSqlSafe(sql)).fetch_one(&mut conn).await.unwrap();
            times.push(t.elapsed().as_secs_f64() * 1000.0);
        }
        times.sort_by(|a, b| a.total_cmp(b));
        let p50 = percentile(&times, 0.5);
        let p99 = percentile(&times, 0.99);
        println!("fts5  : the first {n} documents, SQLite FTS5 trigram: {rate:.0} documents/s, {:.0} MB, queries p50 {p50:.2} ms, p99 {p99:.2} ms", size as f64 / 1e6);
        println!(
            "henji : the same {n} documents: {:.0} documents/s, {:.0} MB, queries p50 {:.2} ms, p99 {:.2} ms; ratios henji/FTS5: indexing {:.1} x, size {:.2} x, p50 {:.2} x, p99 {:.2} x",
            henji.0,
            henji.1 as f64 / 1e6,
            henji.2,
            henji.3,
            henji.0 / rate,
            henji.1 as f64 / size.max(1) as f64,
            henji.2 / p50,
            henji.3 / p99
        );
    });
}

fn http(corpus: &Corpus, docs: usize, queries: &[String]) {
    if std::process::Command::new("wrk").arg("--version").output().is_err() {
        println!("http  : wrk is not installed (apt-get install wrk); HTTP figures skipped");
        return;
    }
    let rt = tokio::runtime::Runtime::new().unwrap();
    // With HENJI_BENCH_SERVER_DIR the server's data directory is kept there and, on the next
    // run with the same number of documents, reused: only the searches are measured again.
    let kept = std::env::var_os("HENJI_BENCH_SERVER_DIR").map(std::path::PathBuf::from);
    let marker = kept.as_ref().map(|dir| dir.join(format!("henji-bench-{docs}-documents")));
    if let Some(dir) = kept.as_ref().filter(|_| !marker.as_ref().is_some_and(|m| m.exists())) {
        if dir.exists() {
            std::fs::remove_dir_all(dir).unwrap();
        }
        std::fs::create_dir_all(dir).unwrap();
    }
    let server = match &kept {
        Some(dir) => start_server_in(dir),
        None => start_server(),
    };
    let base = server.base.clone();
    let client = reqwest::Client::new();
    let login = |username: &'static str| {
        let (client, base) = (client.clone(), base.clone());
        async move {
            let session: Value = client.post(format!("{base}/api/v1/sessions")).json(&json!({"username": username, "password": ADMIN_PASSWORD})).send().await.unwrap().json().await.unwrap();
            session["token"].as_str().unwrap().to_owned()
        }
    };
    if let Some(marker) = marker.as_ref().filter(|m| m.exists()) {
        println!("http  : reusing the server data of {docs} documents in {} (HENJI_BENCH_SERVER_DIR); registering not measured", marker.parent().unwrap().display());
        let token = rt.block_on(login("reader"));
        let waited = server.wait_until_quiet(std::time::Duration::from_secs(900));
        // The first run after a start also fills the server's caches (the texts snippets are
        // cut from): the second is the steady state.
        search_over_http(&server, &token, queries, &format!("once the server had been idle for 2 s ({:.0} s after it started)", waited.as_secs_f64()));
        search_over_http(&server, &token, queries, "right after that");
        return;
    }
    let token = rt.block_on(async {
        let admin = login("admin").await;
        client.post(format!("{base}/api/v1/departments")).bearer_auth(&admin).json(&json!({"code": "BGS", "name": "办公室"})).send().await.unwrap();
        let user = json!({"username": "reader", "display_name": "读者", "password": ADMIN_PASSWORD, "department": "BGS", "roles": ["clerk"], "clearance": "internal"});
        client.post(format!("{base}/api/v1/users")).bearer_auth(&admin).json(&user).send().await.unwrap();
        login("reader").await
    });
    let started = Instant::now();
    rt.block_on(async {
        use futures::StreamExt;
        let mut rng = Rng(42);
        let bodies = (0..docs).map(|n| {
            let d = document(corpus, &mut rng, n);
            json!({"kind": "incoming", "title": d.title, "classification": "internal", "fields": {"来文单位": d.fields, "来文日期": "2026-11-23"}, "body": {"text": d.body}})
        });
        futures::stream::iter(bodies)
            .map(|b| {
                let req = client.post(format!("{base}/api/v1/documents")).bearer_auth(&token).json(&b);
                async move { req.send().await.map(|r| r.status().is_success()).unwrap_or(false) }
            })
            .buffer_unordered(8)
            .for_each(|ok| async move { assert!(ok, "create failed") })
            .await;
    });
    let registered = started.elapsed().as_secs_f64();
    // Wait until the server's follower has indexed everything.
    let probe = format!("{base}/api/v1/search?q=budget+OR+-budget&limit=1");
    let total = |client: &reqwest::Client| {
        let (probe, token) = (probe.clone(), token.clone());
        let client = client.clone();
        async move {
            let v: Value = client.get(&probe).bearer_auth(&token).send().await.ok()?.json().await.ok()?;
            v["total"].as_u64()
        }
    };
    let expected = rt.block_on(async {
        loop {
            tokio::time::sleep(std::time::Duration::from_millis(200)).await;
            let now = total(&client).await.unwrap_or(0);
            if now >= docs as u64 {
                return now;
            }
        }
    });
    println!("http  : {docs} documents registered over HTTP in {registered:.0} s; all {expected} searchable {:.0} s after the first was sent", started.elapsed().as_secs_f64());
    search_over_http(&server, &token, queries, "right away");
    // Right after a bulk load the index is still merging its segments, on the same two cores;
    // the steady state is measured once the server is idle.
    let waited = server.wait_until_quiet(std::time::Duration::from_secs(900));
    search_over_http(&server, &token, queries, &format!("once the server had been idle for 2 s ({:.0} s later: merges done)", waited.as_secs_f64()));
    if let Some(marker) = marker {
        std::fs::write(marker, b"").unwrap();
    }
}

/// The 200 queries in turn from wrk's 16 connections, and how many segments the server's
/// index had then (a figure moves with them).
fn search_over_http(server: &Server, token: &str, queries: &[String], when: &str) {
    let script = server.dir.join("queries.lua");
    let list: Vec<String> = queries.iter().map(|q| format!("\"/api/v1/search?q={}\"", url_encode(q))).collect();
    std::fs::write(&script, format!("local paths = {{{}}}\nlocal n = 0\nrequest = function()\n  n = n % #paths + 1\n  return wrk.format(\"GET\", paths[n])\nend\n", list.join(", "))).unwrap();
    let (rps, p50, p99) = wrk(&server.base, token, 16, Some(&script), &[]).expect("wrk search");
    let segments = segment_count(&server.dir.join("index"));
    println!("http  : 200 mixed queries at 16 connections, {when}: p50 {p50:.2} ms, p99 {p99:.2} ms, {rps:.0} searches/s (target p99 < 80 ms); index of {segments} segments");
}

fn url_encode(s: &str) -> String {
    s.bytes().map(|b| if b.is_ascii_alphanumeric() || b"-_.~:".contains(&b) { (b as char).to_string() } else { format!("%{b:02X}") }).collect()
}

/// The number of segments in the index's `meta.json` (0 when it cannot be read).
fn segment_count(index_dir: &std::path::Path) -> usize {
    std::fs::read(index_dir.join("meta.json"))
        .ok()
        .and_then(|bytes| serde_json::from_slice::<Value>(&bytes).ok())
        .and_then(|meta| meta["segments"].as_array().map(Vec::len))
        .unwrap_or(0)
}
