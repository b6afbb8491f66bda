//! The web desk's pages beside the API calls they are built on: server latency of the inbox,
//! a document page and a search page at 16 concurrent users (wrk, cookie sessions), next to
//! `GET /api/v1/inbox`, `GET /api/v1/documents/{id}` and `GET /api/v1/search` at the same
//! load in the same run; and the weight of each main page over the wire with its assets.
//!
//! `cargo bench --bench desk` (needs wrk: `apt-get install wrk`). HENJI_BENCH_DOCS=N scales
//! the seeded documents (default 300).

mod support;

use std::time::Instant;

use serde_json::{Value, json};
use support::{ADMIN_PASSWORD, Rng, prose, start_server, wrk};

const QUERIES: &[&str] = &["预算", "工作", "通知 会议", "管理", "财政 OR 预算"];

fn main() {
    let docs: usize = std::env::var("HENJI_BENCH_DOCS").ok().and_then(|v| v.parse().ok()).unwrap_or(300);
    let server = start_server();
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let client = reqwest::Client::new();
    let base = server.base.clone();
    let (clerk, leader, doc) = rt.block_on(seed(&client, &base, docs));
    println!("seeded {docs} documents, each routed to the leader; the document page's document has 6 revisions by two people and 3 opinions");

    // The pages' weight: the HTML and every asset it loads (stylesheets, script, icon).
    let pages = ["/", "/inbox", &format!("/documents/{doc}"), "/search?q=%E9%A2%84%E7%AE%97", "/archive", "/documents/new"];
    let mut weights = Vec::new();
    for page in pages {
        let bytes = rt.block_on(page_weight(&client, &base, page, &leader));
        println!("page {page:<40} {:>7.1} KB with its assets", bytes as f64 / 1024.0);
        weights.push(bytes);
    }
    weights.sort();
    println!("median page: {:.1} KB over the wire (target < 100 KB)", weights[weights.len() / 2] as f64 / 1024.0);

    // Latency at 16 connections, the page and its API call in turn.
    let cookie = format!("Cookie: henji_session={leader}");
    let script = server.dir.join("search.lua");
    let lua = |prefix: &str| {
        let list: Vec<String> = QUERIES.iter().map(|q| format!("\"{prefix}{}\"", url_encode(q))).collect();
        format!("local paths = {{{}}}\nlocal n = 0\nrequest = function()\n  n = n % #paths + 1\n  return wrk.format(\"GET\", paths[n])\nend\n", list.join(", "))
    };
    println!("{:<28} {:>10} {:>9} {:>9}", "16 connections, 8 s", "requests/s", "p50 ms", "p99 ms");
    let pairs: [(&str, String, String); 3] = [
        // The page lists up to 200 tasks; the API is asked for as many.
        ("inbox", format!("{base}/inbox"), format!("{base}/api/v1/inbox?limit=200")),
        ("document", format!("{base}/documents/{doc}"), format!("{base}/api/v1/documents/{doc}")),
        ("search", format!("{base}/search?q="), format!("{base}/api/v1/search?q=")),
    ];
    for (name, page, api) in pairs {
        for (what, url) in [("page", page), ("API", api)] {
            let figures = if name == "search" {
                let prefix = url.trim_start_matches(&base).to_owned();
                std::fs::write(&script, lua(&prefix)).expect("lua");
                wrk(&base, &leader, 16, Some(&script), &[&cookie])
            } else {
                wrk(&url, &leader, 16, None, &[&cookie])
            };
            match figures {
                Some((rps, p50, p99)) => println!("{:<28} {rps:>10.0} {p50:>9.2} {p99:>9.2}", format!("{name} {what}")),
                None => println!("{name} {what}: wrk is not installed (apt-get install wrk)"),
            }
        }
    }
    let _ = clerk;
}

fn url_encode(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

async fn post(client: &reqwest::Client, url: String, token: &str, body: Value) -> Value {
    let r = client.post(url).bearer_auth(token).json(&body).send().await.expect("request");
    assert!(r.status().is_success(), "{}", r.text().await.unwrap_or_default());
    r.json().await.expect("json")
}

async fn login(client: &reqwest::Client, base: &str, user: &str, password: &str) -> String {
    let r: Value = client.post(format!("{base}/api/v1/sessions")).json(&json!({"username": user, "password": password})).send().await.expect("login").json().await.expect("json");
    r["token"].as_str().expect("token").to_owned()
}

/// A department with a clerk and a leader; `docs` documents registered and routed to the
/// leader; one of them revised five times (a few edits each) and given opinions, for the document page.
async fn seed(client: &reqwest::Client, base: &str, docs: usize) -> (String, String, String) {
    let admin = login(client, base, "admin", ADMIN_PASSWORD).await;
    post(client, format!("{base}/api/v1/departments"), &admin, json!({"code": "BGS", "name": "办公室"})).await;
    for (user, role) in [("clerk", "clerk"), ("lead", "leader")] {
        post(client, format!("{base}/api/v1/users"), &admin, json!({"username": user, "display_name": user, "password": "bench-password", "department": "BGS", "roles": [role], "clearance": "internal"})).await;
    }
    let clerk = login(client, base, "clerk", "bench-password").await;
    let leader = login(client, base, "lead", "bench-password").await;
    let mut rng = Rng(7);
    let started = Instant::now();
    let mut last = String::new();
    for i in 0..docs {
        let body = prose(&mut rng, 3000);
        let d = post(client, format!("{base}/api/v1/documents"), &clerk, json!({"kind": "incoming", "title": format!("关于预算管理工作的通知 {i}"), "classification": "internal", "urgency": if i % 5 == 0 { "urgent" } else { "normal" }, "fields": {"来文单位": "市财政局", "来文日期": "2026-11-01"}, "body": {"text": body}})).await;
        let id = d["id"].as_str().expect("id").to_owned();
        post(client, format!("{base}/api/v1/documents/{id}/route"), &clerk, json!({"steps": [{"mode": "sequential", "assignees": ["lead"]}]})).await;
        last = id;
    }
    // The document page's document: six revisions by two people, three opinions.
    post(client, format!("{base}/api/v1/documents/{last}/opinions"), &leader, json!({"text": "拟同意"})).await;
    let mut text = client.get(format!("{base}/api/v1/documents/{last}")).bearer_auth(&clerk).send().await.expect("get").json::<Value>().await.expect("json")["head_revision"].as_str().expect("head").to_owned();
    // Each revision edits a few places of the one before, as reviewers do.
    let mut body: Vec<char> = client.get(format!("{base}/api/v1/documents/{last}/revisions/{text}/body")).bearer_auth(&clerk).send().await.expect("body").text().await.expect("text").chars().collect();
    for r in 0..5 {
        let token = if r % 2 == 0 { &leader } else { &clerk };
        for _ in 0..4 {
            let at = rng.below(body.len().saturating_sub(40).max(1));
            let cut = rng.below(30);
            let insert: Vec<char> = prose(&mut rng, 20).chars().collect();
            body.splice(at..at + cut.min(body.len() - at), insert);
        }
        let revised: String = body.iter().collect();
        let rev = post(client, format!("{base}/api/v1/documents/{last}/revisions"), token, json!({"base_revision": text, "body": {"text": revised}})).await;
        text = rev["id"].as_str().expect("rev").to_owned();
    }
    for t in ["请财务部办理", "同意"] {
        post(client, format!("{base}/api/v1/documents/{last}/opinions"), &leader, json!({"text": t})).await;
    }
    println!("seeding took {:.1} s", started.elapsed().as_secs_f64());
    // The index follows within a second or two.
    std::thread::sleep(std::time::Duration::from_secs(3));
    (clerk, leader, last)
}

/// Bytes of a page and of every asset it names (as a browser with an empty cache loads them).
async fn page_weight(client: &reqwest::Client, base: &str, page: &str, token: &str) -> usize {
    let cookie = format!("henji_session={token}");
    let html = client.get(format!("{base}{page}")).header("cookie", &cookie).send().await.expect("page").text().await.expect("html");
    let mut total = html.len();
    for attr in ["href=\"/assets/", "src=\"/assets/"] {
        for piece in html.split(attr).skip(1) {
            let path = piece.split('"').next().unwrap_or("").replace("&amp;", "&");
            let bytes = client.get(format!("{base}/assets/{path}")).header("cookie", &cookie).send().await.expect("asset").bytes().await.expect("bytes");
            total += bytes.len();
        }
    }
    total
}
