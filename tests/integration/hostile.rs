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
