//! Encryption at rest, end to end: marker strings in sensitive fields, classified bodies and
//! attachments are found and read by cleared users, by no one else, and appear nowhere on disk,
//! in the object store or in the log, in any of four spellings; tampering is an integrity
//! error, never wrong plaintext; keys rotate and the old one can go. Every test runs on the
//! local folder and on the S3-compatible server (moto).

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use base64::Engine as _;
use futures::TryStreamExt;
use henji::resources::blob_store::BlobStore;
use reqwest::multipart::{Form, Part};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::common::*;
use crate::s3::Moto;

/// Where the objects go: the data directory's folder, or a bucket on moto.
struct Backend {
    moto: Option<Moto>,
}

impl Backend {
    async fn new(s3: bool) -> Backend {
        if !s3 {
            return Backend { moto: None };
        }
        let moto = Moto::start().await;
        moto.bucket("sealed").await;
        Backend { moto: Some(moto) }
    }

    fn env(&self) -> Vec<(String, String)> {
        match &self.moto {
            Some(m) => m.env().into_iter().map(|(k, v)| (k.to_owned(), v)).chain([("HENJI_STORE".to_owned(), "s3://sealed/henji".to_owned())]).collect(),
            None => vec![],
        }
    }

    /// Every object in the store, with its bytes.
    async fn objects(&self, data_dir: &Path) -> Vec<(String, Vec<u8>)> {
        let store = self.store(data_dir);
        let mut out = vec![];
        let listing: Vec<_> = store.list("").try_collect().await.unwrap();
        for (path, _) in listing {
            let chunks: Vec<bytes::Bytes> = store.get_path(&path).await.unwrap().try_collect().await.unwrap();
            out.push((path.to_string(), chunks.concat()));
        }
        out
    }

    fn store(&self, data_dir: &Path) -> BlobStore {
        match &self.moto {
            Some(m) => BlobStore::open_with("s3://sealed/henji", m.options()).unwrap(),
            None => BlobStore::open(&url_of(&data_dir.join("objects"))).unwrap(),
        }
    }
}

fn url_of(dir: &Path) -> String {
    url::Url::from_directory_path(dir).unwrap().to_string()
}

fn env_refs(env: &[(String, String)]) -> Vec<(&str, &str)> {
    env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect()
}

/// `henji <args> --data-dir DIR` with the backend's variables; (success, everything printed).
fn cli(dir: &Path, env: &[(String, String)], args: &[&str]) -> (bool, String) {
    let mut cmd = Command::new(henji_bin());
    cmd.args(args).arg("--data-dir").arg(dir);
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out = cmd.output().expect("run henji");
    (out.status.success(), format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr)))
}

async fn start_logged(dir: &Path, env: &[(String, String)], log: &Path) -> Server {
    let file = std::fs::OpenOptions::new().create(true).append(true).open(log).unwrap();
    // Debug logging: the most a log can hold must still hold no marker.
    let mut env = env.to_vec();
    env.push(("RUST_LOG".into(), "debug".into()));
    Server::start_with(dir, &[], &env_refs(&env), Stdio::from(file)).await
}

async fn search_total(s: &Server, token: &str, q: &str) -> (u64, Value) {
    let url = format!("/api/v1/search?{}", serde_urlencoded::to_string([("q", q)]).unwrap());
    let r = s.req(Method::GET, &url, token).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK, "{q}");
    let v: Value = r.json().await.unwrap();
    (v["total"].as_u64().unwrap(), v["facets"].clone())
}

/// Waits until `q` finds `want` documents for `token` (the index follows within a second).
async fn await_found(s: &Server, token: &str, q: &str, want: u64) {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let (total, _) = search_total(s, token, q).await;
        if total == want {
            return;
        }
        assert!(Instant::now() < deadline, "{q}: found {total}, want {want}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

// Markers, lower-case where Latin (the index lower-cases), CJK runs of rare characters.
const NAME: &str = "璆琚瑄璟";
const ID_CARD: &str = "51132519900101877X";
const NOTE: &str = "hjnotekq7x9w";
const PHONE: &str = "13977712345";
const BODY_FIRST: &str = "hjfirstz8c2v";
const BODY_LATIN: &str = "hjbodym4r8z";
const BODY_CJK: &str = "琰琭瑂瑗";
const ATTACHMENT: &str = "hjattachp2v6k";
const ATTACHMENT_CJK: &str = "珦珧珩珫";
const SIGNER: &str = "璩璪璫璬";
const MARKERS: &[&str] = &[NAME, ID_CARD, NOTE, PHONE, BODY_FIRST, BODY_LATIN, BODY_CJK, ATTACHMENT, ATTACHMENT_CJK, SIGNER];

/// Each marker as UTF-8, UTF-16LE, base64 and hex (and, for CJK, each of its bigrams, which is
/// what a bigram index would hold).
fn spellings() -> Vec<(String, Vec<u8>)> {
    let mut out = vec![];
    for m in MARKERS {
        let utf8 = m.as_bytes().to_vec();
        let utf16: Vec<u8> = m.encode_utf16().flat_map(|u| u.to_le_bytes()).collect();
        out.push((format!("{m} utf-8"), utf8.clone()));
        out.push((format!("{m} utf-16le"), utf16));
        out.push((format!("{m} base64"), base64::engine::general_purpose::STANDARD.encode(&utf8).trim_end_matches('=').as_bytes().to_vec()));
        out.push((format!("{m} hex"), hex::encode(&utf8).into_bytes()));
        out.push((format!("{m} HEX"), hex::encode_upper(&utf8).into_bytes()));
        let chars: Vec<char> = m.chars().collect();
        if chars.iter().all(|c| !c.is_ascii()) {
            for pair in chars.windows(2) {
                out.push((format!("{m} bigram"), pair.iter().collect::<String>().into_bytes()));
            }
        }
    }
    out
}

fn hits(haystack: &[u8], needles: &[(String, Vec<u8>)]) -> Vec<String> {
    needles.iter().filter(|(_, n)| haystack.windows(n.len()).any(|w| w == n.as_slice())).map(|(name, _)| name.clone()).collect()
}

/// Creates what the markers live in: a customer file (sensitive fields), revised; a
/// confidential incoming document with an attachment, revised with a sensitive field.
/// Returns (customer file id, classified id, its first revision, the attachment's sha256).
async fn create_marked(s: &Server, clerk: &str) -> (String, String, String, String) {
    let r = s
        .req(Method::POST, "/api/v1/documents", clerk)
        .json(&json!({"kind": "customer-file", "title": "客户档案 一号", "classification": "internal",
            "fields": {"客户编号": "KH-0001", "姓名": NAME, "身份证号": ID_CARD, "备注": format!("备注 {NOTE}")}}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::CREATED);
    let customer: Value = r.json().await.unwrap();
    let cid = customer["id"].as_str().unwrap().to_owned();
    assert_eq!(customer["fields"]["姓名"], NAME, "the creator gets the plaintext back");
    let r = s
        .req(Method::POST, &format!("/api/v1/documents/{cid}/revisions"), clerk)
        .json(&json!({"base_revision": customer["head_revision"], "fields": {"电话": PHONE}, "note": "补充电话"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::CREATED, "{}", r.text().await.unwrap());

    let meta = incoming("机密来文", "confidential", &format!("第一稿 {BODY_FIRST}"));
    let form = Form::new()
        .part("meta", Part::text(meta.to_string()).mime_str("application/json").unwrap())
        .part("attachment", Part::bytes(format!("附件 {ATTACHMENT} {ATTACHMENT_CJK}").into_bytes()).file_name("附件.txt").mime_str("text/plain").unwrap());
    let r = s.req(Method::POST, "/api/v1/documents", clerk).multipart(form).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::CREATED);
    let classified: Value = r.json().await.unwrap();
    let id = classified["id"].as_str().unwrap().to_owned();
    let first = classified["head_revision"].as_str().unwrap().to_owned();
    let attachment = classified["attachments"][0]["sha256"].as_str().unwrap().to_owned();
    let r = s
        .req(Method::POST, &format!("/api/v1/documents/{id}/revisions"), clerk)
        .json(&json!({"base_revision": first, "body": {"text": format!("第二稿 {BODY_LATIN} {BODY_CJK}")}, "fields": {"签收人": SIGNER}}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::CREATED, "{}", r.text().await.unwrap());
    (cid, id, first, attachment)
}

/// Authorised reads give every marker back in plain text.
async fn assert_readable(s: &Server, token: &str, cid: &str, id: &str, first: &str, attachment: &str) {
    let c: Value = s.req(Method::GET, &format!("/api/v1/documents/{cid}"), token).send().await.unwrap().json().await.unwrap();
    assert_eq!((c["fields"]["姓名"].as_str(), c["fields"]["身份证号"].as_str(), c["fields"]["电话"].as_str()), (Some(NAME), Some(ID_CARD), Some(PHONE)), "{c}");
    assert!(c["fields"]["备注"].as_str().unwrap().contains(NOTE));
    let d: Value = s.req(Method::GET, &format!("/api/v1/documents/{id}"), token).send().await.unwrap().json().await.unwrap();
    assert_eq!(d["fields"]["签收人"], SIGNER);
    let head = d["head_revision"].as_str().unwrap();
    let body = s.req(Method::GET, &format!("/api/v1/documents/{id}/revisions/{head}/body"), token).send().await.unwrap().text().await.unwrap();
    assert!(body.contains(BODY_LATIN) && body.contains(BODY_CJK), "{body}");
    let body = s.req(Method::GET, &format!("/api/v1/documents/{id}/revisions/{first}/body"), token).send().await.unwrap().text().await.unwrap();
    assert!(body.contains(BODY_FIRST), "{body}");
    let r = s.req(Method::GET, &format!("/api/v1/blobs/{attachment}"), token).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert!(r.text().await.unwrap().contains(ATTACHMENT_CJK));
    let traces: Value = s.req(Method::GET, &format!("/api/v1/documents/{id}/traces"), token).send().await.unwrap().json().await.unwrap();
    let side = |ops: [&str; 2]| -> String { traces["spans"].as_array().unwrap().iter().filter(|s| ops.contains(&s["op"].as_str().unwrap())).map(|s| s["text"].as_str().unwrap()).collect() };
    let (from, to) = (side(["equal", "delete"]), side(["equal", "insert"]));
    assert!(from.contains(BODY_FIRST) && to.contains(BODY_CJK) && to.contains(BODY_LATIN), "{from} → {to}");
}

const FOUND_BY_SEARCH: &[&str] = &[NAME, ID_CARD, NOTE, PHONE, BODY_LATIN, BODY_CJK, ATTACHMENT, ATTACHMENT_CJK, SIGNER];

async fn marker_suite(s3: bool) {
    let backend = Backend::new(s3).await;
    let env = backend.env();
    let temp = tempfile::tempdir().unwrap();
    let dir = temp.path().join("data");
    let log = temp.path().join("henji.log");
    let s = start_logged(&dir, &env, &log).await;
    let admin = s.admin().await;
    for d in ["BGS", "CWB"] {
        s.department(&admin, d, d).await;
    }
    let clerk = s.user(&admin, "clerk", "BGS", &["clerk"], "secret").await;
    let cleared = s.user(&admin, "cleared", "BGS", &["staff"], "secret").await;
    let outsider = s.user(&admin, "outsider", "CWB", &["staff"], "secret").await;
    let low = s.user(&admin, "low", "BGS", &["staff"], "public").await;
    let (cid, id, first, attachment) = create_marked(&s, &clerk).await;

    for m in FOUND_BY_SEARCH {
        await_found(&s, &cleared, m, 1).await;
        for (who, token) in [("outsider", &outsider), ("low", &low)] {
            let (total, facets) = search_total(&s, token, m).await;
            assert_eq!((total, facets["kind"].clone()), (0, json!({})), "{who} finds {m}");
        }
    }
    assert_readable(&s, &cleared, &cid, &id, &first, &attachment).await;
    for token in [&outsider, &low] {
        let r = s.req(Method::GET, &format!("/api/v1/documents/{id}"), token).send().await.unwrap();
        assert_eq!(r.status(), StatusCode::NOT_FOUND);
    }
    // Every read of sealed content is in the audit log.
    let events: Value = s.req(Method::GET, "/api/v1/audit?user=cleared&limit=500", &admin).send().await.unwrap().json().await.unwrap();
    let actions: Vec<&str> = events["items"].as_array().unwrap().iter().map(|e| e["action"].as_str().unwrap()).collect();
    for a in ["document.read", "body.read", "blob.read"] {
        assert!(actions.contains(&a), "{a} not audited: {actions:?}");
    }
    let reads_of_customer = events["items"].as_array().unwrap().iter().filter(|e| e["object"] == format!("document/{cid}")).count();
    assert_eq!(reads_of_customer, 1, "reading sensitive fields of an internal document is audited");

    // Rotation: a new key wraps every data key; the old one is then removed from the key file.
    drop(s);
    let key_file = dir.join("keys/master.key");
    let old_keys = std::fs::read_to_string(&key_file).unwrap();
    let (ok, out) = cli(&dir, &env, &["keys", "status"]);
    assert!(ok, "{out}");
    let old_id = old_keys.lines().rfind(|l| !l.starts_with('#')).unwrap().split(':').next().unwrap().to_owned();
    assert!(out.contains(&old_id) && out.contains("active"), "{out}");
    let (ok, rotated) = cli(&dir, &env, &["keys", "rotate"]);
    assert!(ok, "{rotated}");
    assert!(rotated.contains("re-wrapped 3 data keys"), "two documents and the sealed index: {rotated}");
    let new_line = std::fs::read_to_string(&key_file).unwrap().lines().last().unwrap().to_owned();
    let new_id = new_line.split(':').next().unwrap().to_owned();
    assert_ne!(new_id, old_id);
    std::fs::write(&key_file, format!("{new_line}\n")).unwrap();
    let (ok, status) = cli(&dir, &env, &["keys", "status"]);
    assert!(ok && status.contains(&new_id) && !status.contains(&old_id), "{status}");
    let s = start_logged(&dir, &env, &log).await;
    let cleared = s.login("cleared", PASSWORD).await;
    assert_readable(&s, &cleared, &cid, &id, &first, &attachment).await;
    for m in FOUND_BY_SEARCH {
        await_found(&s, &cleared, m, 1).await;
    }
    let (ok, verified) = cli(&dir, &env, &["verify"]);
    assert!(ok, "{verified}");
    // Verification needs no key: manifests name the sealed bytes.
    let keys_aside = temp.path().join("keys-aside");
    std::fs::rename(dir.join("keys"), &keys_aside).unwrap();
    let (ok, keyless) = cli(&dir, &env, &["verify"]);
    assert!(ok, "{keyless}");
    std::fs::rename(&keys_aside, dir.join("keys")).unwrap();

    // The scan: the data directory (catalog, its write-ahead log, index, keys), the object
    // store, the log and what the commands printed. A killed server leaves its WAL behind.
    let mut s = s;
    s.kill9();
    let needles = spellings();
    let mut found = vec![];
    for file in files_under(&dir) {
        for h in hits(&std::fs::read(&file).unwrap(), &needles) {
            found.push(format!("{}: {h}", file.display()));
        }
    }
    assert!(files_under(&dir).iter().any(|f| f.to_string_lossy().ends_with("-wal")), "the WAL is part of the scan");
    for (path, bytes) in backend.objects(&dir).await {
        for h in hits(&bytes, &needles) {
            found.push(format!("object {path}: {h}"));
        }
    }
    let log_text = std::fs::read(&log).unwrap();
    assert!(log_text.len() > 1000, "the log was written at debug level");
    for (what, bytes) in [("log", log_text), ("rotate output", rotated.into_bytes()), ("verify output", verified.into_bytes()), ("keyless verify output", keyless.into_bytes())] {
        for h in hits(&bytes, &needles) {
            found.push(format!("{what}: {h}"));
        }
    }
    // A term dictionary shares prefixes between terms, so bytes alone cannot show what the
    // plain index holds: its terms and stored values are read with tantivy too.
    for term in crate::search::index_content(&dir.join("index")) {
        for m in MARKERS {
            let lower = m.to_lowercase();
            let chars: Vec<char> = lower.chars().collect();
            let bigrams: Vec<String> = chars.windows(2).filter(|p| !p[0].is_ascii()).map(|p| p.iter().collect()).collect();
            if term.contains(&lower) || bigrams.iter().any(|b| term.contains(b.as_str())) {
                found.push(format!("plain index term {term:?}: {m}"));
            }
        }
    }
    assert!(found.is_empty(), "plaintext markers at rest:\n{}", found.join("\n"));
    // The scan can see: the title is not sealed, and it is there.
    let title_hits: usize = files_under(&dir).iter().map(|f| hits(&std::fs::read(f).unwrap(), &[("title".into(), "机密来文".as_bytes().to_vec())]).len()).sum();
    assert!(title_hits > 0, "the scan must be able to find plain text");
}

#[tokio::test]
async fn markers_are_found_by_the_cleared_and_nowhere_at_rest() {
    marker_suite(false).await;
}

#[tokio::test]
async fn markers_are_found_by_the_cleared_and_nowhere_at_rest_on_s3() {
    marker_suite(true).await;
}

async fn catalog(dir: &Path) -> sqlx::SqlitePool {
    sqlx::SqlitePool::connect(&format!("sqlite://{}", dir.join("catalog.db").display())).await.unwrap()
}

async fn integrity_failures(s: &Server, admin: &str) -> Vec<String> {
    let events: Value = s.req(Method::GET, "/api/v1/audit?limit=500", admin).send().await.unwrap().json().await.unwrap();
    events["items"].as_array().unwrap().iter().filter(|e| e["action"] == "integrity.failure").map(|e| e["object"].as_str().unwrap().to_owned()).collect()
}

async fn tamper_suite(s3: bool) {
    let backend = Backend::new(s3).await;
    let env = backend.env();
    let temp = tempfile::tempdir().unwrap();
    let dir: PathBuf = temp.path().join("data");
    let s = Server::start_in(&dir, &[], &env_refs(&env)).await;
    let (_, clerk) = s.office_clerk("secret").await;
    let (cid, id, _first, _attachment) = create_marked(&s, &clerk).await;
    let r = s
        .req(Method::POST, "/api/v1/documents", &clerk)
        .json(&json!({"kind": "customer-file", "title": "客户档案 二号", "classification": "internal", "fields": {"客户编号": "KH-0002", "姓名": "另一人"}}))
        .send()
        .await
        .unwrap();
    let other: Value = r.json().await.unwrap();
    let other_id = other["id"].as_str().unwrap().to_owned();
    let d: Value = s.req(Method::GET, &format!("/api/v1/documents/{id}"), &clerk).send().await.unwrap().json().await.unwrap();
    let head = d["head_revision"].as_str().unwrap().to_owned();
    let revs: Value = s.req(Method::GET, &format!("/api/v1/documents/{id}/revisions"), &clerk).send().await.unwrap().json().await.unwrap();
    let body_sha = revs["items"][1]["body_sha256"].as_str().unwrap().to_owned();
    let (ok, out) = cli(&dir, &env, &["verify"]);
    assert!(ok, "{out}");
    drop(s);

    // 1. One byte of a sealed blob.
    let store = backend.store(&dir);
    let path = object_store::path::Path::from(format!("blobs/sha256/{}/{}/{}", &body_sha[..2], &body_sha[2..4], body_sha));
    let original: Vec<bytes::Bytes> = store.get_path(&path).await.unwrap().try_collect().await.unwrap();
    let original = original.concat();
    let mut flipped = original.clone();
    let at = flipped.len() - 20;
    flipped[at] ^= 0x01;
    store.put_path(&path, flipped.into()).await.unwrap();
    let s = Server::start_in(&dir, &[], &env_refs(&env)).await;
    let admin = s.admin().await;
    let clerk = s.login("clerk", PASSWORD).await;
    let r = s.req(Method::GET, &format!("/api/v1/documents/{id}/revisions/{head}/body"), &clerk).send().await.unwrap();
    let p = expect_problem(r, StatusCode::INTERNAL_SERVER_ERROR).await;
    assert_eq!(p["type"], "/problems/integrity");
    assert!(!p.to_string().contains(BODY_LATIN));
    assert!(integrity_failures(&s, &admin).await.contains(&format!("blob/{body_sha}")), "audited");
    let (ok, out) = cli(&dir, &env, &["verify"]);
    assert!(!ok && out.contains(&format!("BAD blobs/sha256/{}/{}/{body_sha}", &body_sha[..2], &body_sha[2..4])), "{out}");
    store.put_path(&path, original.into()).await.unwrap();
    drop(s);

    // 2. One byte of a wrapped data key.
    let pool = catalog(&dir).await;
    let wrapped: String = sqlx::query_scalar("SELECT wrapped FROM data_keys WHERE owner = $1").bind(&cid).fetch_one(&pool).await.unwrap();
    let mut raw = base64::engine::general_purpose::STANDARD.decode(&wrapped).unwrap();
    raw[20] ^= 0x01;
    sqlx::query("UPDATE data_keys SET wrapped = $1 WHERE owner = $2").bind(base64::engine::general_purpose::STANDARD.encode(&raw)).bind(&cid).execute(&pool).await.unwrap();
    pool.close().await;
    let s = Server::start_in(&dir, &[], &env_refs(&env)).await;
    let admin = s.admin().await;
    let clerk = s.login("clerk", PASSWORD).await;
    let r = s.req(Method::GET, &format!("/api/v1/documents/{cid}"), &clerk).send().await.unwrap();
    let p = expect_problem(r, StatusCode::INTERNAL_SERVER_ERROR).await;
    assert_eq!(p["type"], "/problems/integrity");
    assert!(!p.to_string().contains(NAME));
    assert!(integrity_failures(&s, &admin).await.contains(&format!("data-key/{cid}")), "audited");
    let (ok, out) = cli(&dir, &env, &["verify"]);
    assert!(!ok && out.contains(&format!("data-key/{cid}")), "{out}");
    drop(s);
    let pool = catalog(&dir).await;
    sqlx::query("UPDATE data_keys SET wrapped = $1 WHERE owner = $2").bind(&wrapped).bind(&cid).execute(&pool).await.unwrap();

    // 3. Two sealed values swapped between documents (in the catalog, where a reader sees them).
    let sealed_of = |text: String| -> Value { serde_json::from_str(&text).unwrap() };
    let mut a = sealed_of(sqlx::query_scalar("SELECT sealed_fields FROM documents WHERE id = $1").bind(&cid).fetch_one(&pool).await.unwrap());
    let mut b = sealed_of(sqlx::query_scalar("SELECT sealed_fields FROM documents WHERE id = $1").bind(&other_id).fetch_one(&pool).await.unwrap());
    let (va, vb) = (a["values"]["姓名"].clone(), b["values"]["姓名"].clone());
    a["values"]["姓名"] = vb;
    b["values"]["姓名"] = va;
    for (doc, v) in [(&cid, &a), (&other_id, &b)] {
        sqlx::query("UPDATE documents SET sealed_fields = $1 WHERE id = $2").bind(v.to_string()).bind(doc).execute(&pool).await.unwrap();
    }
    pool.close().await;
    let s = Server::start_in(&dir, &[], &env_refs(&env)).await;
    let admin = s.admin().await;
    let clerk = s.login("clerk", PASSWORD).await;
    for doc in [&cid, &other_id] {
        let r = s.req(Method::GET, &format!("/api/v1/documents/{doc}"), &clerk).send().await.unwrap();
        let p = expect_problem(r, StatusCode::INTERNAL_SERVER_ERROR).await;
        assert!(p["detail"].as_str().unwrap().contains("姓名"), "names the field: {p}");
        assert!(!p.to_string().contains(NAME) && !p.to_string().contains("另一人"));
    }
    assert!(integrity_failures(&s, &admin).await.contains(&format!("document/{cid}/fields/姓名")), "audited");
    let (ok, out) = cli(&dir, &env, &["verify"]);
    assert!(!ok && out.contains(&format!("document {cid}")) && out.contains(&format!("document {other_id}")), "{out}");
}

#[tokio::test]
async fn tampering_is_an_integrity_error_and_verify_names_it() {
    tamper_suite(false).await;
}

#[tokio::test]
async fn tampering_is_an_integrity_error_and_verify_names_it_on_s3() {
    tamper_suite(true).await;
}

/// A start with a wrong key, or none, for sealed data stops with a clear message and changes
/// nothing; shredding a document's data key makes its sealed content unreadable for good.
#[tokio::test]
async fn wrong_keys_stop_the_start_and_shredded_keys_stay_shredded() {
    let temp = tempfile::tempdir().unwrap();
    let dir = temp.path().join("data");
    let mut s = Server::start_in(&dir, &[], &[]).await;
    let (_, clerk) = s.office_clerk("secret").await;
    let (cid, id, first, _) = create_marked(&s, &clerk).await;
    assert!(s.terminate().success());
    let before: Vec<(PathBuf, String)> = files_under(&dir).into_iter().map(|f| (f.clone(), sha256_hex(&std::fs::read(&f).unwrap()))).collect();

    let wrong = format!("kek-wrong:{}", base64::engine::general_purpose::STANDARD.encode([7u8; 32]));
    let key_file = dir.join("keys/master.key");
    let real = std::fs::read_to_string(&key_file).unwrap();
    let real_id = real.lines().rfind(|l| !l.starts_with('#')).unwrap().split(':').next().unwrap().to_owned();
    let same_id_wrong = format!("{real_id}:{}", base64::engine::general_purpose::STANDARD.encode([9u8; 32]));
    std::fs::rename(&key_file, temp.path().join("master.key")).unwrap();
    for (keys, expect) in [(None, "no keys were given"), (Some(wrong.as_str()), "not hold"), (Some(same_id_wrong.as_str()), "is not the key")] {
        let mut cmd = Command::new(henji_bin());
        cmd.args(["serve", "--listen", "127.0.0.1:0", "--data-dir"]).arg(&dir);
        if let Some(k) = keys {
            cmd.env("HENJI_KEYS", k);
        }
        let out = cmd.output().unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "started with keys {keys:?}");
        assert!(stderr.contains(expect) && stderr.contains("nothing was changed"), "{stderr}");
    }
    assert!(!key_file.exists(), "no key was generated over sealed data");
    std::fs::rename(temp.path().join("master.key"), &key_file).unwrap();
    let after: Vec<(PathBuf, String)> = files_under(&dir).into_iter().map(|f| (f.clone(), sha256_hex(&std::fs::read(&f).unwrap()))).collect();
    assert_eq!(before, after, "refused starts touch nothing");

    // The same keys given in HENJI_KEYS work as well as the file.
    let keys_env = real.lines().filter(|l| !l.starts_with('#')).collect::<Vec<_>>().join(",");
    std::fs::rename(&key_file, temp.path().join("master.key")).unwrap();
    let s = Server::start_in(&dir, &[], &[("HENJI_KEYS", keys_env.as_str())]).await;
    let clerk = s.login("clerk", PASSWORD).await;
    let admin = s.admin().await;
    let r = s.req(Method::GET, &format!("/api/v1/documents/{id}/revisions/{first}/body"), &clerk).send().await.unwrap();
    assert!(r.text().await.unwrap().contains(BODY_FIRST));

    // Shredding: an administrator's disposal primitive, exercised here through the service.
    drop(s);
    std::fs::rename(temp.path().join("master.key"), &key_file).unwrap();
    let _ = admin;
    shred(&dir, &id).await;
    let s = Server::start_in(&dir, &[], &[]).await;
    let clerk = s.login("clerk", PASSWORD).await;
    let r = s.req(Method::GET, &format!("/api/v1/documents/{id}/revisions/{first}/body"), &clerk).send().await.unwrap();
    let p = expect_problem(r, StatusCode::GONE).await;
    assert!(p["detail"].as_str().unwrap().contains("destroyed"), "{p}");
    let r = s.req(Method::GET, &format!("/api/v1/documents/{id}"), &clerk).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::GONE, "its sensitive fields are gone too");
    let r = s.req(Method::GET, &format!("/api/v1/documents/{cid}"), &clerk).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK, "other documents are untouched");
    // Nothing of the wrapped key is left in the catalog files.
    drop(s);
    let pool = catalog(&dir).await;
    let (wrapped, destroyed): (String, Option<String>) = sqlx::query_as("SELECT wrapped, destroyed_at FROM data_keys WHERE owner = $1").bind(&id).fetch_one(&pool).await.unwrap();
    pool.close().await;
    assert!(wrapped.is_empty() && destroyed.is_some());
    let (ok, out) = run_verify(&dir, &[]);
    assert!(ok, "verify still passes: the sealed bytes are intact, only unreadable: {out}");
}

/// Destroys a document's data key through the library (the archive's disposal will call it).
async fn shred(dir: &Path, document: &str) {
    let config = henji::services::setup::StorageConfig { data_dir: dir.to_owned(), store: None, catalog: None, schemas: None, index: None, keys: None, key_file: None, durability: Default::default() };
    let (henji, _) = henji::services::setup::open(&config, henji::services::setup::OpenMode::Existing).await.unwrap();
    let system = henji::domain::people::Principal {
        id: "test".into(),
        username: "admin".into(),
        display_name: "admin".into(),
        department: "ADMIN".into(),
        roles: vec![henji::domain::people::Role::Admin],
        clearance: henji::domain::people::Classification::Secret,
        color: "#000000".into(),
    };
    assert!(henji.destroy_data_key(&system, document, "retention expired (test)").await.unwrap());
    assert!(!henji.destroy_data_key(&system, document, "again").await.unwrap(), "once");
    henji.close().await;
}

/// A classified attachment larger than the inline limit is sealed on its own thread and
/// streamed through staging; it comes back byte for byte, under a name `verify` re-derives.
#[tokio::test]
async fn a_large_sealed_attachment_round_trips() {
    let s = Server::start().await;
    let (_, clerk) = s.office_clerk("secret").await;
    let mut state = 0x9e3779b97f4a7c15u64;
    let data: Vec<u8> = (0..(12 << 20) / 8)
        .flat_map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state.to_le_bytes()
        })
        .collect();
    let meta = incoming("大件机密扫描", "secret", "正文");
    let form = Form::new()
        .part("meta", Part::text(meta.to_string()).mime_str("application/json").unwrap())
        .part("attachment", Part::bytes(data.clone()).file_name("scan.tif").mime_str("image/tiff").unwrap());
    let r = s.req(Method::POST, "/api/v1/documents", &clerk).multipart(form).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::CREATED);
    let doc: Value = r.json().await.unwrap();
    let a = &doc["attachments"][0];
    assert_eq!(a["size"], data.len() as u64, "the plaintext size");
    let sha = a["sha256"].as_str().unwrap();
    assert_ne!(sha, sha256_hex(&data), "named by its sealed bytes");
    let r = s.req(Method::GET, &format!("/api/v1/blobs/{sha}"), &clerk).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(r.headers()["content-length"], data.len().to_string().as_str());
    let back = r.bytes().await.unwrap();
    assert!(back == data, "the same bytes come back");
    let stored = files_under(&s.data_dir.join("objects/blobs")).into_iter().find(|p| p.ends_with(sha)).unwrap();
    assert!(std::fs::metadata(&stored).unwrap().len() > data.len() as u64);
    let (ok, out) = s.verify();
    assert!(ok, "{out}");
}
