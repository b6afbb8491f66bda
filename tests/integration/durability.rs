use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use bytes::Bytes;
use reqwest::multipart::{Form, Part};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use tokio::sync::Mutex;

use crate::common::*;

/// Deterministic content for upload `n`, streamed in 256 KiB chunks.
fn content(n: u64, size: usize) -> Vec<u8> {
    let mut x = n.wrapping_mul(0x9E3779B97F4A7C15) | 1;
    (0..size)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect()
}

/// Uploads stream while the server is killed with SIGKILL; after a restart every upload that
/// was answered 201 is readable, byte for byte, and the store verifies.
#[tokio::test]
async fn every_201_survives_kill_9() {
    let temp = tempfile::tempdir().unwrap();
    let mut server = Server::start_in(temp.path(), &[], &[]).await;
    let admin = server.admin().await;
    let base = server.base.clone();
    let client = server.client.clone();
    let acknowledged: Arc<Mutex<Vec<(String, String, usize)>>> = Arc::default();
    let stop = Arc::new(AtomicBool::new(false));
    let mut workers = vec![];
    for w in 0..4u64 {
        let (client, base, admin, acknowledged, stop) = (client.clone(), base.clone(), admin.clone(), acknowledged.clone(), stop.clone());
        workers.push(tokio::spawn(async move {
            let mut n = w;
            while !stop.load(Ordering::Relaxed) {
                // Mostly small uploads, some above the 8 MiB in-memory limit.
                let size = if n % 5 == 4 { 10 * 1024 * 1024 } else { 200 * 1024 + n as usize };
                let data = content(n, size);
                let chunks: Vec<Result<Bytes, std::io::Error>> = data.chunks(256 * 1024).map(|c| Ok(Bytes::copy_from_slice(c))).collect();
                let meta = serde_json::to_string(&incoming(&format!("上传{n}"), "internal", "见附件")).unwrap();
                let form = Form::new()
                    .part("meta", Part::text(meta).mime_str("application/json").unwrap())
                    .part("attachment", Part::stream_with_length(reqwest::Body::wrap_stream(futures::stream::iter(chunks)), size as u64).file_name(format!("f{n}.bin")));
                let sent = client.post(format!("{base}/api/v1/documents")).bearer_auth(&admin).multipart(form).send().await;
                if let Ok(r) = sent
                    && r.status() == StatusCode::CREATED
                    && let Ok(v) = r.json::<Value>().await
                {
                    let id = v["id"].as_str().unwrap().to_owned();
                    acknowledged.lock().await.push((id, sha256_hex(&data), size));
                }
                n += 4;
            }
        }));
    }
    tokio::time::sleep(Duration::from_millis(2500)).await;
    server.kill9();
    stop.store(true, Ordering::Relaxed);
    for w in workers {
        let _ = w.await;
    }
    let acknowledged = acknowledged.lock().await.clone();
    assert!(acknowledged.len() >= 5, "only {} uploads finished before the kill", acknowledged.len());

    let server = Server::start_in(temp.path(), &[], &[]).await;
    let admin = server.admin().await;
    for (id, sha, size) in &acknowledged {
        let doc: Value = server.req(Method::GET, &format!("/api/v1/documents/{id}"), &admin).send().await.unwrap().json().await.unwrap();
        assert_eq!(doc["attachments"][0]["sha256"], sha.as_str(), "document {id}");
        let blob = server.req(Method::GET, &format!("/api/v1/blobs/{sha}"), &admin).send().await.unwrap();
        assert_eq!(blob.status(), StatusCode::OK);
        let bytes = blob.bytes().await.unwrap();
        assert_eq!(bytes.len(), *size);
        assert_eq!(sha256_hex(&bytes), *sha);
    }
    let (ok, out) = server.verify();
    assert!(ok, "{out}");
}

/// One system call as `strace -f -ttt -T -y` printed it.
#[derive(Debug)]
struct Call {
    name: String,
    args: String,
    start: f64,
    end: f64,
}

/// Reads a trace, joining `<unfinished ...>` lines with their `<... resumed>` ends.
fn read_trace(text: &str) -> Vec<Call> {
    let mut open: std::collections::HashMap<String, (String, String, f64)> = Default::default();
    let mut calls = vec![];
    for line in text.lines() {
        // strace pads the pid to a width: `7672  1796695850.880647 writev(…`.
        let Some((pid, rest)) = line.split_once(' ') else { continue };
        let Some((ts, rest)) = rest.trim_start().split_once(' ') else { continue };
        let Ok(ts) = ts.parse::<f64>() else { continue };
        let took = |rest: &str| rest.rsplit_once('<').and_then(|(_, t)| t.trim_end_matches('>').parse::<f64>().ok()).unwrap_or(0.0);
        if let Some(resumed) = rest.strip_prefix("<... ") {
            let Some((name, tail)) = resumed.split_once(" resumed>") else { continue };
            if let Some((_, args, start)) = open.remove(pid) {
                calls.push(Call { name: name.to_owned(), args: format!("{args}{tail}"), start, end: start + took(tail) });
            }
        } else if let Some(head) = rest.strip_suffix(" <unfinished ...>") {
            let Some((name, args)) = head.split_once('(') else { continue };
            open.insert(pid.to_owned(), (name.to_owned(), args.to_owned(), ts));
        } else if let Some((name, args)) = rest.split_once('(') {
            calls.push(Call { name: name.to_owned(), args: args.to_owned(), start: ts, end: ts + took(args) });
        }
    }
    calls.sort_by(|a, b| a.start.total_cmp(&b.start));
    calls
}

/// What happened between two answers: where the last object was put in place and the last
/// catalog log write ended, and which flushes ran.
struct Window<'a> {
    calls: Vec<&'a Call>,
}

impl Window<'_> {
    fn last_end(&self, what: impl Fn(&Call) -> bool) -> Option<f64> {
        self.calls.iter().filter(|c| what(c)).map(|c| c.end).reduce(f64::max)
    }

    /// Some call matching `what` started after `after` and ended before `before`.
    fn any_between(&self, what: impl Fn(&Call) -> bool, after: f64, before: f64) -> bool {
        self.calls.iter().any(|c| what(c) && c.start >= after && c.end <= before)
    }
}

fn placed_an_object(c: &Call) -> bool {
    matches!(c.name.as_str(), "linkat" | "link" | "renameat" | "renameat2" | "rename") && c.args.contains("/objects/") && c.args.trim_end().contains(") = 0")
}

fn wrote_catalog_log(c: &Call) -> bool {
    c.name.starts_with("pwrite") && c.args.contains("catalog.db-wal>")
}

fn synced_catalog_log(c: &Call) -> bool {
    matches!(c.name.as_str(), "fsync" | "fdatasync") && c.args.contains("catalog.db-wal>")
}

fn answered(c: &Call) -> bool {
    matches!(c.name.as_str(), "write" | "writev" | "sendto" | "sendmsg") && c.args.contains("HTTP/1.1 ")
}

/// Runs a create, a revision, a route, an approval and an archiving under `strace -f`; returns
/// for each (its name, whether its new objects were flushed by a `syncfs` that began after the
/// last was put in place and ended before the answer was written, whether the catalog log was
/// synced after its last write and before the answer, and whether it placed objects at all).
async fn traced_writes(durability: &str) -> Vec<(&'static str, bool, bool, bool)> {
    let temp = tempfile::tempdir().unwrap();
    let trace = temp.path().join("trace.txt");
    let trace_arg = trace.to_str().unwrap().to_owned();
    let strace = ["strace", "-f", "-ttt", "-T", "-y", "-s", "24", "-o", &trace_arg, "-e", "trace=linkat,link,renameat,renameat2,rename,syncfs,pwrite64,fsync,fdatasync,write,writev,sendto,sendmsg"];
    let data = temp.path().join("data");
    let mut s = Server::start_wrapped(&strace, &data, &["--durability", durability, "--fixity-interval", "0"], &[], std::process::Stdio::inherit()).await;
    let (admin, clerk) = s.office_clerk("internal").await;
    let leader = s.user(&admin, "leader", "BGS", &["leader"], "internal").await;

    let doc = s.create_incoming(&clerk, "关于落盘的请示", "internal", "请审批。").await;
    let id = doc["id"].as_str().unwrap().to_owned();
    assert_eq!(s.revise(&clerk, &id, doc["head_revision"].as_str().unwrap(), "请审批（修订）。").await.status(), StatusCode::CREATED);
    let route = json!({"steps": [{"name": "批示", "mode": "any", "assignees": ["leader"]}]});
    assert_eq!(s.req(Method::POST, &format!("/api/v1/documents/{id}/route"), &clerk).json(&route).send().await.unwrap().status(), StatusCode::CREATED);
    let approve = json!({"action": "approve", "comment": "同意"});
    assert_eq!(s.req(Method::POST, &format!("/api/v1/documents/{id}/actions"), &leader).json(&approve).send().await.unwrap().status(), StatusCode::OK);
    let archive = json!({"retention": "10y"});
    assert_eq!(s.req(Method::POST, &format!("/api/v1/documents/{id}/archive"), &clerk).json(&archive).send().await.unwrap().status(), StatusCode::CREATED);
    // strace writes its trace through a buffer: it must end by itself to write it all.
    s.kill9_and_wait_for_wrapper();

    let text = std::fs::read_to_string(&trace).unwrap();
    let calls = read_trace(&text);
    let answers: Vec<&Call> = calls.iter().filter(|c| answered(c)).collect();
    assert!(answers.len() > 5, "the trace shows {} answers; its last lines:\n{}", answers.len(), text.lines().rev().take(20).collect::<Vec<_>>().join("\n"));
    let names = ["create", "revision", "route", "approve", "archive"];
    let last = &answers[answers.len() - 5..];
    let mut from = answers[answers.len() - 6].start;
    let mut out = vec![];
    for (name, answer) in names.into_iter().zip(last) {
        let window = Window { calls: calls.iter().filter(|c| c.start > from && c.start < answer.start).collect() };
        let placed = window.last_end(placed_an_object);
        let objects_flushed = match placed {
            Some(at) => window.any_between(|c| c.name == "syncfs", at, answer.start),
            None => true,
        };
        let logged = window.last_end(wrote_catalog_log).unwrap_or_else(|| panic!("{name}: no catalog log write before its answer"));
        let catalog_synced = window.any_between(synced_catalog_log, logged, answer.start);
        out.push((name, objects_flushed, catalog_synced, placed.is_some()));
        from = answer.start;
    }
    out
}

/// A 2xx is written only after the objects it names and the catalog commit are on stable
/// storage: under a system call trace, for a create, a revision, a route, a route action and
/// an archiving, a `syncfs` of the object store begins after the last object is put in place
/// and the catalog log is synced after its last write, both before the answer. The same check
/// on `--durability os` finds neither, so it tells the two apart.
#[tokio::test]
async fn every_write_is_flushed_before_it_is_answered() {
    if std::process::Command::new("strace").arg("-V").output().is_err() {
        panic!("this test needs strace (apt-get install strace)");
    }
    let durable = traced_writes("durable").await;
    eprintln!("durable (name, objects flushed, catalog synced, objects placed): {durable:?}");
    for (name, objects_flushed, catalog_synced, _) in &durable {
        assert!(objects_flushed, "{name}: objects not flushed before the answer: {durable:?}");
        assert!(catalog_synced, "{name}: catalog commit not synced before the answer: {durable:?}");
    }
    assert!(durable[0].3 && durable[1].3, "the create and the revision put objects in place: {durable:?}");

    let os = traced_writes("os").await;
    eprintln!("os: {os:?}");
    assert!(!os[0].1 && !os[1].1, "--durability os answers a create and a revision before any flush of objects: {os:?}");
    assert!(os.iter().all(|(_, _, catalog_synced, _)| !catalog_synced), "--durability os does not sync commits: {os:?}");
}

/// What one worker was told was saved: the document, the revision whose body must read back
/// as `body`, the state it reached at least, and an attachment's digest.
#[derive(Clone, Debug)]
struct Acknowledged {
    id: String,
    revision: String,
    body: String,
    state: usize,
    attachment: Option<String>,
}

const FLOW: [&str; 4] = ["registered", "in_review", "approved", "archived"];

/// One worker's mixed load until the server goes away: each document is registered (with an
/// attachment every third time), revised, routed, approved and archived, step by step.
async fn mixed_load(base: String, clerk: String, leader: String, worker: u64, round: u64, acknowledged: Arc<Mutex<Vec<Acknowledged>>>) {
    let client = reqwest::Client::builder().timeout(Duration::from_secs(30)).build().unwrap();
    let mut n = 0u64;
    loop {
        n += 1;
        let title = format!("崩溃{round}-{worker}-{n}");
        let body = format!("第{round}轮第{worker}号第{n}件正文。");
        let meta = incoming(&title, "internal", &body);
        let sent = if n % 3 == 0 {
            let data = content(round * 1000 + worker * 100 + n, 4096 + n as usize);
            let form = Form::new()
                .part("meta", Part::text(meta.to_string()).mime_str("application/json").unwrap())
                .part("attachment", Part::bytes(data.clone()).file_name("scan.bin").mime_str("application/octet-stream").unwrap());
            client.post(format!("{base}/api/v1/documents")).bearer_auth(&clerk).multipart(form).send().await.map(|r| (r, Some(sha256_hex(&data))))
        } else {
            client.post(format!("{base}/api/v1/documents")).bearer_auth(&clerk).json(&meta).send().await.map(|r| (r, None))
        };
        let Ok((r, attachment)) = sent else { return };
        if r.status() != StatusCode::CREATED {
            return;
        }
        let Ok(doc) = r.json::<Value>().await else { return };
        let mut ack = Acknowledged { id: doc["id"].as_str().unwrap().to_owned(), revision: doc["head_revision"].as_str().unwrap().to_owned(), body: body.clone(), state: 0, attachment };
        acknowledged.lock().await.push(ack.clone());

        let revised = format!("{body}（修订）");
        let r = client.post(format!("{base}/api/v1/documents/{}/revisions", ack.id)).bearer_auth(&clerk).json(&json!({"base_revision": ack.revision, "body": {"text": revised}})).send().await;
        let Ok(r) = r else { return };
        if r.status() != StatusCode::CREATED {
            return;
        }
        let Ok(rev) = r.json::<Value>().await else { return };
        ack.revision = rev["id"].as_str().unwrap().to_owned();
        ack.body = revised;
        acknowledged.lock().await.push(ack.clone());

        let steps: [(&str, &str, Value, StatusCode); 3] = [
            ("route", &clerk, json!({"steps": [{"name": "批示", "mode": "any", "assignees": ["leader"]}]}), StatusCode::CREATED),
            ("actions", &leader, json!({"action": "approve", "comment": "同意"}), StatusCode::OK),
            ("archive", &clerk, json!({"retention": "10y"}), StatusCode::CREATED),
        ];
        for (state, (path, token, body, expected)) in steps.into_iter().enumerate() {
            let r = client.post(format!("{base}/api/v1/documents/{}/{path}", ack.id)).bearer_auth(token).json(&body).send().await;
            match r {
                Ok(r) if r.status() == expected => {}
                _ => return,
            }
            ack.state = state + 1;
            acknowledged.lock().await.push(ack.clone());
        }
    }
}

/// The server is killed (SIGKILL) at a random moment of a mixed load, 50 times over, and
/// started again each time: `henji verify` is clean after every kill, every write answered
/// 2xx is there (its revision reads back, its attachment's bytes are whole, its document is
/// at least as far along its flow), and every request after a restart is answered.
#[tokio::test]
async fn fifty_kills_during_mixed_work_lose_nothing_acknowledged() {
    let seed: u64 = std::env::var("HENJI_CRASH_SEED").ok().and_then(|s| s.parse().ok()).unwrap_or_else(|| std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos() as u64);
    eprintln!("crash test seed {seed} (HENJI_CRASH_SEED={seed} repeats the kill times)");
    let mut rng = seed | 1;
    let mut next = move || {
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        rng
    };
    let temp = tempfile::tempdir().unwrap();
    let args = ["--fixity-interval", "0"];
    let mut server = Server::start_in(temp.path(), &args, &[]).await;
    let (admin, clerk) = server.office_clerk("internal").await;
    let leader = server.user(&admin, "leader", "BGS", &["leader"], "internal").await;
    let mut total = 0;
    for round in 0..50u64 {
        let acknowledged: Arc<Mutex<Vec<Acknowledged>>> = Arc::default();
        let workers: Vec<_> = (0..4).map(|w| tokio::spawn(mixed_load(server.base.clone(), clerk.clone(), leader.clone(), w, round, acknowledged.clone()))).collect();
        tokio::time::sleep(Duration::from_millis(200 + next() % 1000)).await;
        server.kill9();
        for w in workers {
            tokio::time::timeout(Duration::from_secs(60), w).await.expect("a worker hung after the kill").unwrap();
        }
        let (ok, out) = run_verify(temp.path(), &[]);
        assert!(ok, "round {round} (seed {seed}): verify after the kill:\n{out}");

        server = Server::start_in(temp.path(), &args, &[]).await;
        let acknowledged = acknowledged.lock().await.clone();
        let client = reqwest::Client::builder().timeout(Duration::from_secs(30)).build().unwrap();
        for a in &acknowledged {
            let r = client.get(server.url(&format!("/api/v1/documents/{}/revisions/{}/body", a.id, a.revision))).bearer_auth(&clerk).send().await.expect("answered after a restart");
            assert_eq!(r.status(), StatusCode::OK, "round {round} (seed {seed}): {a:?}");
            assert_eq!(r.text().await.unwrap(), a.body, "round {round}: {a:?}");
            let doc: Value = client.get(server.url(&format!("/api/v1/documents/{}", a.id))).bearer_auth(&clerk).send().await.unwrap().json().await.unwrap();
            let state = FLOW.iter().position(|s| doc["state"] == *s).unwrap_or_else(|| panic!("round {round}: state {} of {a:?}", doc["state"]));
            assert!(state >= a.state, "round {round} (seed {seed}): {} is {}, but {} was acknowledged", a.id, doc["state"], FLOW[a.state]);
            if let Some(sha) = &a.attachment {
                let blob = client.get(server.url(&format!("/api/v1/blobs/{sha}"))).bearer_auth(&clerk).send().await.unwrap();
                assert_eq!(blob.status(), StatusCode::OK, "round {round}: attachment of {a:?}");
                assert_eq!(sha256_hex(&blob.bytes().await.unwrap()), *sha);
            }
        }
        total += acknowledged.len();
    }
    eprintln!("{total} acknowledged writes over 50 kills, all there (seed {seed})");
    assert!(total >= 200, "only {total} writes were acknowledged in 50 rounds");
}
