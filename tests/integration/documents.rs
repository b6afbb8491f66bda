use reqwest::multipart::{Form, Part};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::common::*;

async fn clerk_server() -> (Server, String, String) {
    let s = Server::start().await;
    let admin = s.admin().await;
    s.department(&admin, "BGS", "办公室").await;
    let clerk = s.user(&admin, "wangfang", "BGS", &["clerk"], "confidential").await;
    (s, admin, clerk)
}

#[tokio::test]
async fn documents_and_revisions_round_trip() {
    let (s, _admin, clerk) = clerk_server().await;
    let doc = s.create_incoming(&clerk, "关于2026年预算的通知", "internal", "各单位：\n请于月底前报送预算。\n").await;
    let id = doc["id"].as_str().unwrap().to_owned();
    assert_eq!(id.len(), 26);
    assert_eq!(doc["state"], "registered");
    assert_eq!(doc["department"], "BGS");
    assert_eq!(doc["urgency"], "urgent");
    assert_eq!(doc["created_by"], "wangfang");
    assert_eq!(doc["fields"]["页数"], 3);
    let first = doc["head_revision"].as_str().unwrap().to_owned();

    let r = s.revise(&clerk, &id, &first, "各单位：\n请于11月25日前报送预算及说明。\n").await;
    assert_eq!(r.status(), StatusCode::CREATED);
    let second: Value = r.json().await.unwrap();
    assert_eq!(second["parent"], first.as_str());
    assert_eq!(second["body_chars"], "各单位：\n请于11月25日前报送预算及说明。\n".chars().count());
    let second_id = second["id"].as_str().unwrap().to_owned();

    // Fields merge: set one, remove one with null; a bad one is named.
    let r = s
        .req(Method::POST, &format!("/api/v1/documents/{id}/revisions"), &clerk)
        .json(&json!({"base_revision": second_id, "fields": {"页数": "三"}}))
        .send()
        .await
        .unwrap();
    assert_eq!(expect_problem(r, StatusCode::UNPROCESSABLE_ENTITY).await["field"], "fields.页数");
    let r = s
        .req(Method::POST, &format!("/api/v1/documents/{id}/revisions"), &clerk)
        .json(&json!({"base_revision": second_id, "fields": {"页数": 5, "备注": "加急"}, "note": "改页数"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::CREATED);
    let third: Value = r.json().await.unwrap();
    let doc: Value = s.req(Method::GET, &format!("/api/v1/documents/{id}"), &clerk).send().await.unwrap().json().await.unwrap();
    assert_eq!(doc["head_revision"], third["id"]);
    assert_eq!(doc["fields"]["页数"], 5);
    assert_eq!(doc["fields"]["备注"], "加急");
    assert_eq!(doc["revision_count"], 3);

    // History, oldest first, pageable.
    let list: Value = s.req(Method::GET, &format!("/api/v1/documents/{id}/revisions"), &clerk).send().await.unwrap().json().await.unwrap();
    let ids: Vec<&str> = list["items"].as_array().unwrap().iter().map(|r| r["id"].as_str().unwrap()).collect();
    assert_eq!(ids, [first.as_str(), second_id.as_str(), third["id"].as_str().unwrap()]);
    assert_eq!(list["items"][2]["note"], "改页数");
    assert_eq!(list["items"][2]["body_sha256"], list["items"][1]["body_sha256"], "body carried over");
    let p1: Value = s.req(Method::GET, &format!("/api/v1/documents/{id}/revisions?limit=2"), &clerk).send().await.unwrap().json().await.unwrap();
    let cursor = p1["next_cursor"].as_str().unwrap();
    let p2: Value = s.req(Method::GET, &format!("/api/v1/documents/{id}/revisions?limit=2&cursor={cursor}"), &clerk).send().await.unwrap().json().await.unwrap();
    assert_eq!(p2["items"][0]["id"], third["id"]);

    // The manifest is the exact bytes whose digest is the id, and names its parent.
    for rev in &ids {
        let r = s.req(Method::GET, &format!("/api/v1/documents/{id}/revisions/{rev}"), &clerk).send().await.unwrap();
        assert_eq!(r.status(), StatusCode::OK);
        let bytes = r.bytes().await.unwrap();
        assert_eq!(sha256_hex(&bytes), *rev);
        let m: Value = serde_json::from_slice(&bytes).unwrap();
        assert_eq!(m["document"], id.as_str());
    }
    let body = s.req(Method::GET, &format!("/api/v1/documents/{id}/revisions/{first}/body"), &clerk).send().await.unwrap();
    assert_eq!(body.headers()["content-type"], "text/plain; charset=utf-8");
    assert_eq!(body.text().await.unwrap(), "各单位：\n请于月底前报送预算。\n");

    // The manifest is also in the object store, where the store alone tells the history.
    let manifest = s.data_dir.join(format!("objects/revisions/{id}/{first}.json"));
    assert_eq!(sha256_hex(&std::fs::read(manifest).unwrap()), first);

    // Stale base: 409 and nothing changes.
    let r = s.revise(&clerk, &id, &first, "lost?").await;
    expect_problem(r, StatusCode::CONFLICT).await;
    let doc2: Value = s.req(Method::GET, &format!("/api/v1/documents/{id}"), &clerk).send().await.unwrap().json().await.unwrap();
    assert_eq!(doc2["head_revision"], third["id"]);

    let listed: Value = s.req(Method::GET, "/api/v1/documents?kind=incoming&state=registered", &clerk).send().await.unwrap().json().await.unwrap();
    assert_eq!(listed["items"].as_array().unwrap().len(), 1);
    let none: Value = s.req(Method::GET, "/api/v1/documents?kind=outgoing", &clerk).send().await.unwrap().json().await.unwrap();
    assert_eq!(none["items"].as_array().unwrap().len(), 0);
    assert!(s.verify().0);
}

#[tokio::test]
async fn multipart_uploads_attachments_and_deduplicates() {
    let (s, _admin, clerk) = clerk_server().await;
    let scan: Vec<u8> = (0..300_000u32).map(|i| (i % 251) as u8).collect();
    let meta = serde_json::to_string(&json!({"kind": "incoming", "title": "扫描件", "classification": "internal", "fields": {"来文单位": "市政府", "来文日期": "2026-11-01"}})).unwrap();
    let form = || {
        Form::new()
            .part("meta", Part::text(meta.clone()).mime_str("application/json").unwrap())
            .part("body", Part::bytes("正文：见扫描件。".as_bytes().to_vec()).file_name("body.txt"))
            .part("attachment", Part::bytes(scan.clone()).file_name("C:\\扫描\\来文.pdf").mime_str("application/pdf").unwrap())
    };
    let r = s.req(Method::POST, "/api/v1/documents", &clerk).multipart(form()).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::CREATED);
    let a: Value = r.json().await.unwrap();
    let att = &a["attachments"][0];
    assert_eq!(att["name"], "来文.pdf");
    assert_eq!(att["media_type"], "application/pdf");
    assert_eq!(att["size"], scan.len());
    let digest = sha256_hex(&scan);
    assert_eq!(att["sha256"], digest.as_str());

    // The blob downloads with its headers.
    let r = s.req(Method::GET, &format!("/api/v1/blobs/{digest}"), &clerk).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(r.headers()["content-type"], "application/pdf");
    assert_eq!(r.headers()["content-length"], scan.len().to_string().as_str());
    assert_eq!(r.headers()["etag"], format!("\"{digest}\"").as_str());
    assert_eq!(r.bytes().await.unwrap().as_ref(), scan.as_slice());

    // Same bytes again: stored once.
    let r = s.req(Method::POST, "/api/v1/documents", &clerk).multipart(form()).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::CREATED);
    let blob_files: Vec<_> = files_under(&s.data_dir.join("objects/blobs")).into_iter().filter(|p| p.to_string_lossy().ends_with(&digest)).collect();
    assert_eq!(blob_files.len(), 1);
    assert!(blob_files[0].ends_with(format!("sha256/{}/{}/{}", &digest[..2], &digest[2..4], digest)));
    let metrics = s.client.get(s.url("/metrics")).send().await.unwrap().text().await.unwrap();
    assert!(metrics.lines().any(|l| l.starts_with("henji_blobs_deduplicated_total") && !l.ends_with(" 0")), "{metrics}");

    // A revision adds an attachment; another removes the first one.
    let id = a["id"].as_str().unwrap();
    let head = a["head_revision"].as_str().unwrap();
    let meta2 = json!({"base_revision": head}).to_string();
    let form2 = Form::new()
        .part("meta", Part::text(meta2).mime_str("application/json").unwrap())
        .part("attachment", Part::bytes(b"second file".to_vec()).file_name("附件2.txt").mime_str("text/plain").unwrap());
    let r = s.req(Method::POST, &format!("/api/v1/documents/{id}/revisions"), &clerk).multipart(form2).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::CREATED);
    let rev: Value = r.json().await.unwrap();
    let doc: Value = s.req(Method::GET, &format!("/api/v1/documents/{id}"), &clerk).send().await.unwrap().json().await.unwrap();
    assert_eq!(doc["attachments"].as_array().unwrap().len(), 2);
    let r = s
        .req(Method::POST, &format!("/api/v1/documents/{id}/revisions"), &clerk)
        .json(&json!({"base_revision": rev["id"], "remove_attachments": [digest]}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::CREATED);
    let doc: Value = s.req(Method::GET, &format!("/api/v1/documents/{id}"), &clerk).send().await.unwrap().json().await.unwrap();
    assert_eq!(doc["attachments"].as_array().unwrap().len(), 1);
    assert_eq!(doc["attachments"][0]["name"], "附件2.txt");

    // A body that is not UTF-8 is a 422 naming the body, and nothing is registered.
    let before: Value = s.req(Method::GET, "/api/v1/documents", &clerk).send().await.unwrap().json().await.unwrap();
    let bad = Form::new()
        .part("meta", Part::text(meta.clone()).mime_str("application/json").unwrap())
        .part("body", Part::bytes(vec![0xe5, 0x85, 0xff, 0x41]).file_name("body.txt"));
    let r = s.req(Method::POST, "/api/v1/documents", &clerk).multipart(bad).send().await.unwrap();
    assert_eq!(expect_problem(r, StatusCode::UNPROCESSABLE_ENTITY).await["field"], "body");
    // meta must come first; unknown parts are named.
    let late = Form::new().part("body", Part::text("x")).part("meta", Part::text(meta.clone()));
    let r = s.req(Method::POST, "/api/v1/documents", &clerk).multipart(late).send().await.unwrap();
    assert_eq!(expect_problem(r, StatusCode::UNPROCESSABLE_ENTITY).await["field"], "meta");
    let odd = Form::new().part("meta", Part::text(meta.clone())).part("photo", Part::text("x"));
    let r = s.req(Method::POST, "/api/v1/documents", &clerk).multipart(odd).send().await.unwrap();
    assert_eq!(expect_problem(r, StatusCode::UNPROCESSABLE_ENTITY).await["field"], "photo");
    let after: Value = s.req(Method::GET, "/api/v1/documents", &clerk).send().await.unwrap().json().await.unwrap();
    assert_eq!(before["items"].as_array().unwrap().len(), after["items"].as_array().unwrap().len());
    assert!(s.verify().0, "{}", s.verify().1);
}

#[tokio::test]
async fn bad_requests_get_problems_naming_the_field() {
    let (s, _admin, clerk) = clerk_server().await;
    let post = |body: Value| s.req(Method::POST, "/api/v1/documents", &clerk).json(&body).send();
    let mut no_kind = incoming("t", "internal", "x");
    no_kind.as_object_mut().unwrap().remove("kind");
    assert_eq!(expect_problem(post(no_kind).await.unwrap(), StatusCode::UNPROCESSABLE_ENTITY).await["field"], "kind");
    let mut unknown = incoming("t", "internal", "x");
    unknown["kind"] = json!("memo");
    assert_eq!(expect_problem(post(unknown).await.unwrap(), StatusCode::UNPROCESSABLE_ENTITY).await["field"], "kind");
    let mut missing = incoming("t", "internal", "x");
    missing["fields"].as_object_mut().unwrap().remove("来文单位");
    assert_eq!(expect_problem(post(missing).await.unwrap(), StatusCode::UNPROCESSABLE_ENTITY).await["field"], "fields.来文单位");
    let mut class = incoming("t", "internal", "x");
    class["classification"] = json!("top-secret");
    assert_eq!(expect_problem(post(class).await.unwrap(), StatusCode::UNPROCESSABLE_ENTITY).await["field"], "classification");
    let mut body = incoming("t", "internal", "x");
    body["body"] = json!({"txt": "x"});
    assert_eq!(expect_problem(post(body).await.unwrap(), StatusCode::UNPROCESSABLE_ENTITY).await["field"], "body.txt");
    let mut title = incoming("t", "internal", "x");
    title["title"] = json!("   ");
    assert_eq!(expect_problem(post(title).await.unwrap(), StatusCode::UNPROCESSABLE_ENTITY).await["field"], "title");
    // Above one's own clearance, or for another department: 403.
    expect_problem(post(incoming("t", "secret", "x")).await.unwrap(), StatusCode::FORBIDDEN).await;
    let mut other = incoming("t", "internal", "x");
    other["department"] = json!("ADMIN");
    expect_problem(post(other).await.unwrap(), StatusCode::FORBIDDEN).await;

    let r = s.req(Method::POST, "/api/v1/documents", &clerk).header("content-type", "application/json").body("{\"kind\": ").send().await.unwrap();
    expect_problem(r, StatusCode::BAD_REQUEST).await;
    let r = s.req(Method::POST, "/api/v1/documents", &clerk).header("content-type", "text/plain").body("hello").send().await.unwrap();
    expect_problem(r, StatusCode::UNSUPPORTED_MEDIA_TYPE).await;
    let r = s.req(Method::POST, "/api/v1/documents", &clerk).header("content-type", "application/json").body(vec![b'"', 0xff, 0xfe, b'"']).send().await.unwrap();
    expect_problem(r, StatusCode::BAD_REQUEST).await;
    let r = s.req(Method::PUT, "/api/v1/documents", &clerk).send().await.unwrap();
    expect_problem(r, StatusCode::METHOD_NOT_ALLOWED).await;
    let r = s.req(Method::GET, "/api/v1/nothing-here", &clerk).send().await.unwrap();
    expect_problem(r, StatusCode::NOT_FOUND).await;
    // A limit above the maximum is clamped.
    let r = s.req(Method::GET, "/api/v1/documents?limit=100000", &clerk).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let r = s.req(Method::GET, "/api/v1/documents?archived=maybe", &clerk).send().await.unwrap();
    expect_problem(r, StatusCode::BAD_REQUEST).await;
}

#[tokio::test]
async fn body_limit_is_enforced_with_413() {
    let temp = tempfile::tempdir().unwrap();
    let s = Server::start_in(temp.path(), &["--max-body", "100000"], &[]).await;
    let admin = s.admin().await;
    let big = "字".repeat(50_000);
    let r = s.req(Method::POST, "/api/v1/documents", &admin).json(&incoming("大", "internal", &big)).send().await.unwrap();
    expect_problem(r, StatusCode::PAYLOAD_TOO_LARGE).await;
    let meta = serde_json::to_string(&incoming("大", "internal", "x")).unwrap();
    let form = Form::new().part("meta", Part::text(meta).mime_str("application/json").unwrap()).part("attachment", Part::bytes(vec![1u8; 200_000]).file_name("a.bin"));
    let r = s.req(Method::POST, "/api/v1/documents", &admin).multipart(form).send().await.unwrap();
    expect_problem(r, StatusCode::PAYLOAD_TOO_LARGE).await;
    // On a connection of its own: the server closes the one whose body it refused to read,
    // and a pooled client could race that close and see the request cut off.
    assert_eq!(reqwest::Client::new().get(s.url("/healthz")).send().await.unwrap().status(), StatusCode::OK);
}

#[tokio::test]
async fn kinds_delete_audit_health_metrics_and_openapi() {
    let (s, admin, clerk) = clerk_server().await;
    let kinds: Value = s.req(Method::GET, "/api/v1/kinds", &clerk).send().await.unwrap().json().await.unwrap();
    let names: Vec<&str> = kinds["items"].as_array().unwrap().iter().map(|k| k["kind"].as_str().unwrap()).collect();
    for k in ["incoming", "outgoing", "customer-file"] {
        assert!(names.contains(&k), "{names:?}");
    }
    assert_eq!(kinds["next_cursor"], Value::Null);
    let schema: Value = s.req(Method::GET, "/api/v1/kinds/incoming", &clerk).send().await.unwrap().json().await.unwrap();
    assert_eq!(schema["title"], "收文");
    assert!(schema["required"].as_array().unwrap().contains(&json!("来文单位")));
    assert_eq!(schema["properties"]["签收人"]["x-sensitive"], true);
    expect_problem(s.req(Method::GET, "/api/v1/kinds/nope", &clerk).send().await.unwrap(), StatusCode::NOT_FOUND).await;

    let doc = s.create_incoming(&clerk, "待删除", "internal", "x").await;
    let id = doc["id"].as_str().unwrap();
    // Warm the read caches; deletion must still take effect at once.
    let body_path = format!("/api/v1/documents/{id}/revisions/{}/body", doc["head_revision"].as_str().unwrap());
    assert_eq!(s.req(Method::GET, &body_path, &clerk).send().await.unwrap().status(), StatusCode::OK);
    expect_problem(s.req(Method::DELETE, &format!("/api/v1/documents/{id}"), &clerk).send().await.unwrap(), StatusCode::FORBIDDEN).await;
    assert_eq!(s.req(Method::DELETE, &format!("/api/v1/documents/{id}"), &admin).send().await.unwrap().status(), StatusCode::NO_CONTENT);
    expect_problem(s.req(Method::GET, &format!("/api/v1/documents/{id}"), &clerk).send().await.unwrap(), StatusCode::NOT_FOUND).await;
    expect_problem(s.req(Method::GET, &format!("/api/v1/documents/{id}"), &admin).send().await.unwrap(), StatusCode::NOT_FOUND).await;
    expect_problem(s.req(Method::GET, &body_path, &clerk).send().await.unwrap(), StatusCode::NOT_FOUND).await;

    // Audit: writes and logins are there, clerks may not read it, the chain verifies.
    expect_problem(s.req(Method::GET, "/api/v1/audit", &clerk).send().await.unwrap(), StatusCode::FORBIDDEN).await;
    let events: Value = s.req(Method::GET, &format!("/api/v1/audit?document={id}"), &admin).send().await.unwrap().json().await.unwrap();
    let actions: Vec<&str> = events["items"].as_array().unwrap().iter().map(|e| e["action"].as_str().unwrap()).collect();
    assert_eq!(actions, ["document.create", "document.delete"]);
    assert_eq!(events["items"][1]["user"], "admin");
    let logins: Value = s.req(Method::GET, "/api/v1/audit?user=wangfang", &admin).send().await.unwrap().json().await.unwrap();
    assert!(logins["items"].as_array().unwrap().iter().any(|e| e["action"] == "session.create"));
    let v: Value = s.req(Method::GET, "/api/v1/audit/verify", &admin).send().await.unwrap().json().await.unwrap();
    assert_eq!(v["ok"], true);
    assert!(v["events"].as_u64().unwrap() >= 6);
    let fixity: Value = s.req(Method::POST, "/api/v1/admin/fixity", &admin).send().await.unwrap().json().await.unwrap();
    assert!(fixity["blobs_checked"].as_u64().unwrap() >= 1);
    assert_eq!(fixity["bad"], json!([]));
    expect_problem(s.req(Method::POST, "/api/v1/admin/fixity", &clerk).send().await.unwrap(), StatusCode::FORBIDDEN).await;

    let health: Value = s.client.get(s.url("/healthz")).send().await.unwrap().json().await.unwrap();
    assert_eq!(health["status"], "ok");
    let metrics = s.client.get(s.url("/metrics")).send().await.unwrap().text().await.unwrap();
    assert!(metrics.contains("henji_http_requests_total{method=\"GET\",route=\"/api/v1/documents/{id}\",status=\"404\"}"), "{metrics}");
    assert!(metrics.contains("henji_http_request_duration_seconds_bucket"));
    assert!(metrics.contains("henji_blob_bytes_stored"));

    let openapi: Value = s.client.get(s.url("/api/v1/openapi.json")).send().await.unwrap().json().await.unwrap();
    assert!(openapi["openapi"].as_str().unwrap().starts_with("3.1"));
    for path in [
        "/api/v1/sessions", "/api/v1/sessions/current", "/api/v1/me", "/api/v1/users", "/api/v1/departments", "/api/v1/documents",
        "/api/v1/documents/{id}", "/api/v1/documents/{id}/revisions", "/api/v1/documents/{id}/revisions/{rev}",
        "/api/v1/documents/{id}/revisions/{rev}/body", "/api/v1/blobs/{sha256}", "/api/v1/kinds", "/api/v1/kinds/{kind}",
        "/api/v1/audit", "/api/v1/audit/verify", "/api/v1/admin/fixity", "/healthz", "/metrics",
        "/api/v1/documents/{id}/route", "/api/v1/documents/{id}/actions", "/api/v1/documents/{id}/trail",
        "/api/v1/documents/{id}/opinions", "/api/v1/inbox", "/api/v1/events", "/api/v1/route-templates",
        "/api/v1/documents/{id}/archive", "/api/v1/archive", "/api/v1/archive/{archive_no}", "/api/v1/archive/{archive_no}/package",
        "/api/v1/archive/{archive_no}/dispose", "/api/v1/archive/import",
    ] {
        assert!(openapi["paths"].get(path).is_some(), "openapi lacks {path}");
    }
}

#[tokio::test]
async fn health_is_503_while_the_object_store_is_unreachable() {
    let s = Server::start().await;
    let objects = s.data_dir.join("objects");
    let moved = s.data_dir.join("objects-away");
    std::fs::rename(&objects, &moved).unwrap();
    let r = s.client.get(s.url("/healthz")).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::SERVICE_UNAVAILABLE);
    let v: Value = r.json().await.unwrap();
    assert_eq!((v["store"].as_str(), v["catalog"].as_str()), (Some("unreachable"), Some("ok")));
    std::fs::rename(&moved, &objects).unwrap();
    assert_eq!(s.client.get(s.url("/healthz")).send().await.unwrap().status(), StatusCode::OK);
}
