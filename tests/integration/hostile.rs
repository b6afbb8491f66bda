use reqwest::{Method, StatusCode};
use serde_json::json;

use crate::common::*;

/// A tiny deterministic generator, so a failure can be replayed.
struct Lcg(u64);

impl Lcg {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        self.0 >> 33
    }
    fn bytes(&mut self, n: usize) -> Vec<u8> {
        (0..n).map(|_| self.next() as u8).collect()
    }
    fn pick<'a>(&mut self, items: &'a [&'a str]) -> &'a str {
        items[(self.next() as usize) % items.len()]
    }
}

/// Random and malformed bodies, headers and paths against every route: always 4xx (or a 2xx
/// where the input happens to be fine), never 5xx, and the server stays healthy.
#[tokio::test]
async fn hostile_input_never_gets_a_5xx() {
    let s = Server::start().await;
    let (admin, clerk) = s.office_clerk("internal").await;
    let doc = s.create_incoming(&clerk, "靶子", "internal", "正文").await;
    let id = doc["id"].as_str().unwrap().to_owned();
    let rev = doc["head_revision"].as_str().unwrap().to_owned();

    let long = "A".repeat(10_000);
    let ids = [id.as_str(), "..%2f..%2fetc%2fpasswd", "%2e%2e%2f%2e%2e", long.as_str(), "%ff%fe%00", "01ARZ3NDEKTSV4RRFFQ69G5FAV", "%00", "a%2Fb", "x".repeat(26).leak()];
    let revs = [rev.as_str(), "..%2f..", "ZZ", long.as_str(), "%c3%28", &"0".repeat(64), &"F".repeat(64)];
    let mut paths = vec![
        "/api/v1/sessions".to_owned(),
        "/api/v1/sessions/current".to_owned(),
        "/api/v1/me".to_owned(),
        "/api/v1/users".to_owned(),
        "/api/v1/departments".to_owned(),
        "/api/v1/documents".to_owned(),
        "/api/v1/kinds".to_owned(),
        "/api/v1/inbox?done=maybe&overdue=1&cursor=-3".to_owned(),
        "/api/v1/route-templates".to_owned(),
        "/api/v1/archive?expired=perhaps&year=MMXXVI&retention=5y".to_owned(),
        "/api/v1/archive/import".to_owned(),
        "/api/v1/archive/..%2f..%2fcatalog.db/package".to_owned(),
        "/api/v1/archive/X001-2026-Y-BGS-0001/dispose".to_owned(),
        "/api/v1/audit".to_owned(),
        "/api/v1/audit/verify".to_owned(),
        "/api/v1/admin/fixity".to_owned(),
        "/healthz".to_owned(),
        "/metrics".to_owned(),
        "/api/v1/openapi.json".to_owned(),
        "/api/v1/kinds/..%2f..%2fCargo.toml".to_owned(),
        "/api/v1/documents?limit=-5&cursor=%ff".to_owned(),
        "/api/v1/documents?limit=abc".to_owned(),
        "/api/v1/audit?since=yesterday&document=..".to_owned(),
        "/api/v1/audit?cursor=-1".to_owned(),
    ];
    for i in ids {
        paths.push(format!("/api/v1/documents/{i}"));
        paths.push(format!("/api/v1/documents/{i}/revisions"));
        paths.push(format!("/api/v1/blobs/{i}"));
        for flow in ["route", "actions", "trail", "opinions", "archive"] {
            paths.push(format!("/api/v1/documents/{i}/{flow}"));
        }
        for r in revs {
            paths.push(format!("/api/v1/documents/{i}/revisions/{r}"));
            paths.push(format!("/api/v1/documents/{i}/revisions/{r}/body"));
        }
    }
    let types = ["application/json", "multipart/form-data", "multipart/form-data; boundary=xyz", "text/plain", "application/zip", "application/json; charset=latin1", "", "\u{7f}bad"];
    let auths = [format!("Bearer {clerk}"), format!("Bearer {admin}"), "Bearer ".into(), "Bearer \u{1}".into(), format!("Bearer {}", "t".repeat(5000)), "Basic x".into()];
    let methods = [Method::GET, Method::POST, Method::PATCH, Method::DELETE, Method::PUT];
    let bodies: Vec<Vec<u8>> = vec![
        b"{".to_vec(),
        b"null".to_vec(),
        b"[]".to_vec(),
        json!({"kind": "incoming", "title": 5}).to_string().into_bytes(),
        json!({"base_revision": rev, "fields": {"x": {"y": [1, 2, {"z": null}]}}}).to_string().into_bytes(),
        json!({"username": "admin", "password": "\u{0}"}).to_string().into_bytes(),
        b"--xyz\r\nContent-Disposition: form-data; name=\"meta\"\r\n\r\n{}\r\n--xyz--\r\n".to_vec(),
        "--xyz\r\nContent-Disposition: form-data; name=\"meta\"\r\n\r\n{\"kind\":\"incoming\"".into(),
        vec![0xff, 0xfe, 0x00, 0x80],
        "{\"a\":".repeat(3000).into_bytes(),
        "NOT AND OR \"".repeat(1000).into_bytes(),
        json!({"action": "jump", "step": -1}).to_string().into_bytes(),
        json!({"action": "forward", "to": vec!["x".repeat(70); 60]}).to_string().into_bytes(),
        json!({"action": "return", "step": 4294967296u64}).to_string().into_bytes(),
        json!({"action": "distribute", "to": ["../..", "\u{0}"]}).to_string().into_bytes(),
        json!({"steps": [{"mode": "any", "assignees": []}]}).to_string().into_bytes(),
        json!({"steps": [{"mode": "all", "assignees": ["admin"], "due_at": "soon"}]}).to_string().into_bytes(),
        json!({"template": "../../Cargo.toml", "assignees": {"99": ["admin"]}}).to_string().into_bytes(),
        json!({"text": "x".repeat(6000)}).to_string().into_bytes(),
        json!({"retention": "forever", "category": "\u{7}"}).to_string().into_bytes(),
        json!({"reason": ""}).to_string().into_bytes(),
        b"PK\x03\x04\x14\x00\x00\x00broken zip".to_vec(),
    ];
    let mut rng = Lcg(2026);
    let mut sent = 0;
    for path in &paths {
        for _ in 0..3 {
            let method = methods[(rng.next() as usize) % methods.len()].clone();
            let mut req = s.client.request(method.clone(), s.url(path));
            let auth = &auths[(rng.next() as usize) % auths.len()];
            if let Ok(v) = reqwest::header::HeaderValue::from_str(auth) {
                req = req.header("authorization", v);
            }
            let ct = rng.pick(&types);
            if let Ok(v) = reqwest::header::HeaderValue::from_str(ct) {
                req = req.header("content-type", v);
            }
            let body = if rng.next() % 3 == 0 { let n = (rng.next() % 4096) as usize; rng.bytes(n) } else { bodies[(rng.next() as usize) % bodies.len()].clone() };
            let r = req.body(body).send().await.unwrap();
            sent += 1;
            assert!(!r.status().is_server_error(), "{method} {path} ({ct}) gave {}: {}", r.status(), r.text().await.unwrap());
        }
    }
    assert!(sent > 300);
    let health = s.client.get(s.url("/healthz")).send().await.unwrap();
    assert_eq!(health.status(), StatusCode::OK);
    // Nothing stored was changed by all that (a random DELETE may have tombstoned the
    // document or revoked a token; neither touches content).
    let manifest = std::fs::read(s.data_dir.join(format!("objects/revisions/{id}/{rev}.json"))).unwrap();
    assert_eq!(sha256_hex(&manifest), rev);
    let _ = clerk;
    assert!(s.verify().0);
}

/// A body that is not JSON at all is a 400 naming the syntax error, even where its first
/// token already has the wrong shape (`[1,2` for an object); a JSON value of the wrong shape
/// is a 422 naming the field.
#[tokio::test]
async fn malformed_json_is_400_and_a_wrong_shape_is_422() {
    let s = Server::start().await;
    let admin = s.admin().await;
    for body in ["[1,2", "{\"kind\": ", "nul", "[1, 2] x"] {
        let r = s.req(Method::POST, "/api/v1/departments", &admin).header("content-type", "application/json").body(body).send().await.unwrap();
        let p = expect_problem(r, StatusCode::BAD_REQUEST).await;
        assert!(p["detail"].as_str().unwrap().starts_with("malformed JSON"), "{body}: {p}");
    }
    let r = s.req(Method::POST, "/api/v1/departments", &admin).header("content-type", "application/json").body("[1,2]").send().await.unwrap();
    expect_problem(r, StatusCode::UNPROCESSABLE_ENTITY).await;
}

/// Every answer, an API success, a refusal, an unknown route or a page, says it is not to be
/// sniffed, framed or run as a page of this site.
#[tokio::test]
async fn every_answer_carries_the_security_headers() {
    let s = Server::start().await;
    let admin = s.admin().await;
    let answers = [
        s.req(Method::GET, "/api/v1/me", &admin).send().await.unwrap(),
        s.client.get(s.url("/api/v1/documents")).send().await.unwrap(),
        s.client.get(s.url("/no/such/route")).send().await.unwrap(),
        s.client.get(s.url("/healthz")).send().await.unwrap(),
        s.client.get(s.url("/")).send().await.unwrap(),
    ];
    for r in answers {
        let (url, h) = (r.url().path().to_owned(), r.headers().clone());
        assert_eq!(h["x-content-type-options"], "nosniff", "{url}");
        assert_eq!(h["x-frame-options"], "DENY", "{url}");
        let csp = h["content-security-policy"].to_str().unwrap();
        assert!(csp.contains("default-src 'none'") && csp.contains("frame-ancestors 'none'"), "{url}: {csp}");
        assert!(h.contains_key("referrer-policy"), "{url}");
    }
}

/// Values that break parsers, limits and path handling.
const NASTY: &[&str] = &[
    "", " ", "-1", "0", "18446744073709551616", "1e309", "NaN", "abc", "%ff%fe", "%00", "..", "../..", "..%2f..%2fcatalog.db", "/etc/passwd", "C:\\boot.ini",
    "\u{0}", "\u{202e}txt.exe", "文件", "𠀀𠀁", "true", "maybe", "null", "[]", "{}", "internal", "secret", "top_secret", "2026-13-45", "2026-12-07T00:00:00Z",
    "' OR 1=1 --", "<script>alert(1)</script>", "title:", "NOT", "\"", "*", "%", "_", "\\u0000",
];

/// JSON keys the API knows, so generated bodies get past the first checks now and then.
const KEYS: &[&str] = &[
    "kind", "title", "classification", "urgency", "fields", "body", "text", "attachments", "base_revision", "note", "action", "step", "to", "steps", "mode",
    "assignees", "name", "template", "retention", "category", "reason", "username", "display_name", "department", "roles", "clearance", "code", "comment",
    "remove_attachments", "来文单位", "来文日期", "due_at", "disabled", "password", "current_password", "q",
];

/// A random JSON value, nested up to `depth`.
fn hostile_json(rng: &mut Lcg, depth: u32) -> serde_json::Value {
    match rng.next() % if depth == 0 { 4 } else { 7 } {
        0 => serde_json::Value::Null,
        1 => json!(rng.next() % 3 == 0),
        2 => json!((rng.next() as i64) - (1 << 30)),
        3 => {
            let s = rng.pick(NASTY);
            json!(if rng.next() % 8 == 0 { s.repeat(1 + (rng.next() % 2000) as usize) } else { s.to_owned() })
        }
        4 | 5 => {
            let n = rng.next() % 6;
            serde_json::Value::Object((0..n).map(|_| (rng.pick(KEYS).to_owned(), hostile_json(rng, depth - 1))).collect())
        }
        _ => serde_json::Value::Array((0..rng.next() % 5).map(|_| hostile_json(rng, depth - 1)).collect()),
    }
}

/// A zip whose one entry inflates from a few hundred kilobytes to 256 MiB, and one whose
/// entries climb out of the folder they are unpacked into.
fn hostile_zips() -> Vec<Vec<u8>> {
    use std::io::Write;
    let options = zip::write::SimpleFileOptions::default().compression_method(zip::CompressionMethod::Deflated);
    let mut bomb = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    bomb.start_file("bag/data/zeros.bin", options).unwrap();
    let zeros = vec![0u8; 1 << 20];
    for _ in 0..256 {
        bomb.write_all(&zeros).unwrap();
    }
    let bomb = bomb.finish().unwrap().into_inner();
    let mut climbing = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    for name in ["../../evil.txt", "/etc/henji-evil", "bag/../../../evil", "bag/bagit.txt", "bag\\..\\..\\evil"] {
        climbing.start_file(name, options).unwrap();
        climbing.write_all(b"BagIt-Version: 0.97\nTag-File-Character-Encoding: UTF-8\n").unwrap();
    }
    vec![bomb, climbing.finish().unwrap().into_inner()]
}

/// One hostile request: over HTTP with reqwest, or as raw bytes on a socket (bad request lines,
/// a body shorter than its Content-Length, a gigabyte announced and never sent).
struct Hostile {
    method: String,
    path: String,
    auth: Option<String>,
    content_type: Option<&'static str>,
    body: Vec<u8>,
    raw: Option<u8>,
}

/// The values hostile requests are made of.
struct Pools {
    ids: Vec<String>,
    shas: Vec<String>,
    archive_nos: Vec<String>,
    others: Vec<String>,
    tokens: Vec<String>,
    zips: Vec<Vec<u8>>,
}

const TYPES: [Option<&str>; 8] = [Some("application/json"), Some("multipart/form-data; boundary=xyz"), Some("multipart/form-data"), Some("application/zip"), Some("text/plain"), Some("application/json; charset=gbk"), Some("\u{7f}"), None];
const METHODS: [&str; 7] = ["GET", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "HEAD"];

impl Pools {
    /// `template` with each `{name}` replaced by a value from its pool.
    fn fill(&self, template: &str, rng: &mut Lcg) -> String {
        let mut out = String::new();
        let mut rest = template;
        while let Some(open) = rest.find('{') {
            out.push_str(&rest[..open]);
            let close = rest[open..].find('}').unwrap() + open;
            let pool = match &rest[open + 1..close] {
                "id" => &self.ids,
                "rev" | "sha256" => &self.shas,
                "archive_no" => &self.archive_nos,
                _ => &self.others,
            };
            out.push_str(&pool[(rng.next() as usize) % pool.len()]);
            rest = &rest[close + 1..];
        }
        out.push_str(rest);
        out
    }

    /// A hostile request for `route` (method, path template, query parameters).
    fn make(&self, route: &(String, String, Vec<String>), rng: &mut Lcg) -> Hostile {
        let (method, template, query) = route;
        let method = if rng.next() % 7 == 0 { rng.pick(&METHODS).to_owned() } else { method.clone() };
        let mut path = self.fill(template, rng);
        let mut params = vec![];
        for q in query {
            if rng.next() % 2 == 0 {
                params.push(format!("{q}={}", urlencode(rng.pick(NASTY))));
            }
        }
        if rng.next() % 5 == 0 {
            params.push(format!("{}={}", urlencode(rng.pick(KEYS)), urlencode(rng.pick(NASTY))));
        }
        if !params.is_empty() {
            path = format!("{path}?{}", params.join("&"));
        }
        let auth = match rng.next() % 10 {
            0 => None,
            1 => Some("Bearer hj_0000".to_owned()),
            2 => Some(format!("Basic {}", rng.pick(NASTY))),
            // Signing out would end the token the other requests use.
            _ if template == "/api/v1/sessions/current" => Some("Bearer hj_not-a-token".to_owned()),
            _ => Some(format!("Bearer {}", self.tokens[(rng.next() as usize) % self.tokens.len()])),
        };
        let content_type = TYPES[(rng.next() as usize) % TYPES.len()];
        let body = match rng.next() % 10 {
            0..=4 => hostile_json(rng, 4).to_string().into_bytes(),
            5 => {
                let n = (rng.next() % 8192) as usize;
                rng.bytes(n)
            }
            6 => format!(
                "--xyz\r\nContent-Disposition: form-data; name=\"{}\"; filename=\"../../{}\"\r\nContent-Type: {}\r\n\r\n{}",
                rng.pick(&["meta", "attachment", "body", "ink", "text"]),
                rng.pick(NASTY),
                rng.pick(NASTY),
                hostile_json(rng, 3)
            )
            .into_bytes(),
            7 if template.ends_with("/import") || rng.next() % 50 == 0 => self.zips[(rng.next() as usize) % self.zips.len()].clone(),
            _ => Vec::new(),
        };
        let raw = (rng.next() % 20 == 0).then(|| (rng.next() % 4) as u8);
        Hostile { method, path, auth, content_type, body, raw }
    }
}

/// Every route of the OpenAPI document (so a route added later is covered too) takes
/// `HENJI_HOSTILE_PER_ROUTE` (10,000) generated hostile requests: wrong methods, path values
/// that climb or overflow, bad query values, bad or missing tokens, wrong content types,
/// random JSON and bytes, truncated and oversized uploads, zip bombs and climbing zips for
/// the import. No answer is a 5xx, the server never dies, every object stored before is
/// unchanged and `henji verify` is clean. The seed is printed; HENJI_HOSTILE_SEED repeats it.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn every_route_takes_ten_thousand_hostile_requests() {
    let per_route: u64 = std::env::var("HENJI_HOSTILE_PER_ROUTE").ok().and_then(|n| n.parse().ok()).unwrap_or(10_000);
    let seed: u64 = std::env::var("HENJI_HOSTILE_SEED").ok().and_then(|s| s.parse().ok()).unwrap_or_else(|| std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos() as u64);
    eprintln!("hostile seed {seed} (HENJI_HOSTILE_SEED={seed} repeats it), {per_route} requests per route");
    let s = Server::start().await;
    let (admin, clerk) = s.office_clerk("secret").await;
    s.department(&admin, "DAS", "档案室").await;
    let leader = s.user(&admin, "leader", "BGS", &["leader"], "secret").await;
    let archivist = s.user(&admin, "archivist", "DAS", &["archivist"], "secret").await;
    let doc = s.create_incoming(&clerk, "靶子", "internal", "正文").await;
    let secret = s.create_incoming(&clerk, "机密靶子", "secret", "机密正文").await;
    let id = doc["id"].as_str().unwrap().to_owned();
    let rev = doc["head_revision"].as_str().unwrap().to_owned();
    let r = s.req(Method::POST, &format!("/api/v1/documents/{id}/route"), &clerk).json(&json!({"steps": [{"name": "批示", "mode": "any", "assignees": ["leader"]}]})).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::CREATED);
    let archived = s.create_incoming(&clerk, "已归档", "internal", "归档正文").await;
    let r = s.req(Method::POST, &format!("/api/v1/documents/{}/archive", archived["id"].as_str().unwrap()), &clerk).json(&json!({"retention": "10y"})).send().await.unwrap();
    let archive_no = r.json::<serde_json::Value>().await.unwrap()["archive_no"].as_str().unwrap().to_owned();
    let body_sha = s.req(Method::GET, &format!("/api/v1/documents/{id}/revisions/{rev}"), &clerk).send().await.unwrap().json::<serde_json::Value>().await.unwrap()["body"]["sha256"].as_str().unwrap().to_owned();

    // What is stored now must be there, unchanged, at the end.
    // (Names with `#` are writes in progress, not stored objects.)
    let stored_before: Vec<(std::path::PathBuf, String)> = files_under(&s.data_dir.join("objects"))
        .into_iter()
        .filter(|p| !p.to_string_lossy().contains('#'))
        .filter_map(|p| std::fs::read(&p).ok().map(|bytes| (p, sha256_hex(&bytes))))
        .collect();

    let openapi: serde_json::Value = s.client.get(s.url("/api/v1/openapi.json")).send().await.unwrap().json().await.unwrap();
    let mut routes: Vec<(String, String, Vec<String>)> = vec![];
    for (path, methods) in openapi["paths"].as_object().unwrap() {
        for (method, op) in methods.as_object().unwrap() {
            let query: Vec<String> = op["parameters"].as_array().map(|ps| ps.iter().filter(|p| p["in"] == "query").map(|p| p["name"].as_str().unwrap().to_owned()).collect()).unwrap_or_default();
            routes.push((method.to_uppercase(), path.clone(), query));
        }
    }
    assert!(routes.len() >= 45, "{} routes in the OpenAPI document", routes.len());
    let long = "9".repeat(5000);
    let pools = std::sync::Arc::new(Pools {
        ids: vec![id.clone(), secret["id"].as_str().unwrap().to_owned(), archived["id"].as_str().unwrap().to_owned(), "01ARZ3NDEKTSV4RRFFQ69G5FAV".into(), "..%2f..%2fcatalog.db".into(), "%2e%2e".into(), long.clone(), "%ff".into(), "文件".into()],
        shas: vec![rev.clone(), body_sha.clone(), "0".repeat(64), "F".repeat(64), "..%2f..".into(), long.clone(), "%00".into()],
        archive_nos: vec![archive_no.clone(), "X001-2026-D10-BGS-9999".into(), "..%2f..%2fetc".into(), long.clone(), "%ff%fe".into()],
        others: vec!["incoming".into(), "clerk".into(), "admin".into(), "..%2f..%2fCargo.toml".into(), long.clone(), "%00".into(), "张三".into()],
        tokens: vec![clerk.clone(), admin.clone(), leader.clone(), archivist.clone()],
        zips: hostile_zips(),
    });

    let client = reqwest::Client::builder().timeout(std::time::Duration::from_secs(60)).pool_max_idle_per_host(32).build().unwrap();
    let addr = s.base.trim_start_matches("http://").to_owned();
    let total = routes.len() as u64 * per_route;
    let next = std::sync::Arc::new(std::sync::atomic::AtomicU64::new(0));
    let started = std::time::Instant::now();
    let workers: Vec<_> = (0..16)
        .map(|_| {
            let (next, client, base, addr, routes, pools) = (next.clone(), client.clone(), s.base.clone(), addr.clone(), routes.clone(), pools.clone());
            tokio::spawn(async move {
                loop {
                    let n = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    if n >= total {
                        return Ok::<(), String>(());
                    }
                    let route = &routes[(n % routes.len() as u64) as usize];
                    let mut rng = Lcg(seed ^ n.wrapping_mul(0x9E3779B97F4A7C15));
                    let h = pools.make(route, &mut rng);
                    let status = send_hostile(&client, &base, &addr, &h).await;
                    if let Some(code) = status
                        && code >= 500
                    {
                        return Err(format!("request {n} (seed {seed}): {} {} {:?} {:?} ({} body bytes, raw {:?}) gave {code}", h.method, h.path.chars().take(200).collect::<String>(), h.auth.as_deref().map(|a| a.chars().take(20).collect::<String>()), h.content_type, h.body.len(), h.raw));
                    }
                }
            })
        })
        .collect();
    for w in workers {
        if let Err(e) = w.await.unwrap() {
            panic!("{e}");
        }
    }
    eprintln!("{total} hostile requests over {} routes in {:.0} s, no 5xx", routes.len(), started.elapsed().as_secs_f64());

    let health = s.client.get(s.url("/healthz")).send().await.unwrap();
    assert_eq!(health.status(), StatusCode::OK, "the server is alive and well");
    for (path, hash) in &stored_before {
        let now = std::fs::read(path).unwrap_or_else(|e| panic!("{} is gone: {e}", path.display()));
        assert_eq!(&sha256_hex(&now), hash, "{} changed", path.display());
    }
    let (ok, out) = s.verify();
    assert!(ok, "{out}");
}

fn urlencode(s: &str) -> String {
    s.bytes().map(|b| if b.is_ascii_alphanumeric() || b"-._~%".contains(&b) { (b as char).to_string() } else { format!("%{b:02X}") }).collect()
}

/// Sends `h`; the status, or `None` when the server (rightly) closed the connection on it.
async fn send_hostile(client: &reqwest::Client, base: &str, addr: &str, h: &Hostile) -> Option<u16> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    if let Some(kind) = h.raw {
        let mut stream = tokio::net::TcpStream::connect(addr).await.ok()?;
        let mut head = match kind {
            0 => format!("{} {} HTTP/1.1\r\nHost: x\r\nContent-Length: 1099511627776\r\n", h.method, h.path),
            1 => format!("{} {} HTTP/1.1\r\nHost: x\r\nContent-Length: {}\r\n", h.method, h.path, h.body.len() + 1000),
            2 => format!("{} /api/v1/\u{0}\u{7f}/../{} HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n", h.method, h.path),
            _ => format!("{} {} HTTP/1.1\r\nHost: x\r\nX-Long: {}\r\nContent-Length: {}\r\n", h.method, h.path, "h".repeat(100_000), h.body.len()),
        };
        if let Some(a) = &h.auth {
            head.push_str(&format!("Authorization: {a}\r\n"));
        }
        head.push_str("Connection: close\r\n\r\n");
        let _ = stream.write_all(head.as_bytes()).await;
        let _ = stream.write_all(&h.body).await;
        let _ = stream.shutdown().await;
        let mut answer = vec![0u8; 64];
        let n = tokio::time::timeout(std::time::Duration::from_secs(30), stream.read(&mut answer)).await.ok()?.ok()?;
        let text = String::from_utf8_lossy(&answer[..n]);
        return text.strip_prefix("HTTP/1.1 ").and_then(|t| t.get(..3)).and_then(|c| c.parse().ok());
    }
    let method = reqwest::Method::from_bytes(h.method.as_bytes()).ok()?;
    let mut req = client.request(method, format!("{base}{}", h.path)).body(h.body.clone());
    if let Some(a) = &h.auth
        && let Ok(v) = reqwest::header::HeaderValue::from_str(a)
    {
        req = req.header("authorization", v);
    }
    if let Some(ct) = h.content_type
        && let Ok(v) = reqwest::header::HeaderValue::from_str(ct)
    {
        req = req.header("content-type", v);
    }
    // The answer's status is what counts; its body (a package, a live event stream) is dropped.
    req.send().await.ok().map(|r| r.status().as_u16())
}
