//! The archive through HTTP: archive numbers, freezing, packages checked by an outside BagIt
//! validator (bagit.py), import into a fresh installation, tampered packages, concurrent
//! archiving, export and disposal.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::Command;

use reqwest::multipart::{Form, Part};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::common::*;

const PNG: &[u8] = include_bytes!("../../fixtures/signature.png");

async fn get(s: &Server, token: &str, path: &str) -> Value {
    let r = s.req(Method::GET, path, token).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK, "{path}: {}", r.text().await.unwrap());
    r.json().await.unwrap()
}

async fn act(s: &Server, token: &str, id: &str, body: Value) -> reqwest::Response {
    s.req(Method::POST, &format!("/api/v1/documents/{id}/actions"), token).json(&body).send().await.unwrap()
}

async fn archive(s: &Server, token: &str, id: &str, retention: &str) -> reqwest::Response {
    s.req(Method::POST, &format!("/api/v1/documents/{id}/archive"), token).json(&json!({"retention": retention})).send().await.unwrap()
}

/// Writes the package of `archive_no` to `dir/<archive_no>.zip`.
pub async fn download_package(s: &Server, token: &str, archive_no: &str, dir: &Path) -> PathBuf {
    download_package_as(s, token, archive_no, "", &dir.join(format!("{archive_no}.zip"))).await
}

/// Writes the package of `archive_no`, asked for with `query`, to `path`.
async fn download_package_as(s: &Server, token: &str, archive_no: &str, query: &str, path: &Path) -> PathBuf {
    let r = s.req(Method::GET, &format!("/api/v1/archive/{archive_no}/package{query}"), token).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(r.headers()["content-type"], "application/zip");
    let path = path.to_owned();
    let mut file = std::fs::File::create(&path).unwrap();
    let mut body = futures::StreamExt::boxed(r.bytes_stream());
    while let Some(chunk) = futures::StreamExt::next(&mut body).await {
        file.write_all(&chunk.unwrap()).unwrap();
    }
    path
}

/// Unzips with Python's zipfile (not with henji's code) and runs `bagit.py --validate` (as
/// `python3 -m bagit`) on every bag; returns the folder.
pub fn validate_with_bagit_py(zip: &Path) -> PathBuf {
    let out = zip.with_extension("unzipped");
    let status = Command::new("python3").args(["-m", "zipfile", "-e"]).arg(zip).arg(&out).status().expect("python3");
    assert!(status.success(), "python3 -m zipfile could not extract {}", zip.display());
    for bag in std::fs::read_dir(&out).unwrap() {
        let bag = bag.unwrap().path();
        let result = Command::new("python3").args(["-m", "bagit", "--validate"]).arg(&bag).output().expect("python3 with bagit (pip install bagit) for this test");
        let log = String::from_utf8_lossy(&result.stderr);
        assert!(result.status.success() && log.contains("is valid"), "bagit.py rejects {}: {log}", bag.display());
    }
    out
}

/// A copy of the zip with one file's bytes changed by `edit`.
fn tampered(zip: &Path, target: &str, edit: impl Fn(&mut Vec<u8>)) -> PathBuf {
    let mut src = zip::ZipArchive::new(std::fs::File::open(zip).unwrap()).unwrap();
    let path = zip.with_extension(format!("tampered-{}.zip", sha256_hex(target.as_bytes()).get(..8).unwrap()));
    let mut out = zip::ZipWriter::new(std::fs::File::create(&path).unwrap());
    let mut found = false;
    for i in 0..src.len() {
        let mut entry = src.by_index(i).unwrap();
        let name = entry.name().unwrap().into_owned();
        let mut bytes = vec![];
        entry.read_to_end(&mut bytes).unwrap();
        if name.ends_with(target) {
            edit(&mut bytes);
            found = true;
        }
        out.start_file(name, zip::write::SimpleFileOptions::default()).unwrap();
        out.write_all(&bytes).unwrap();
    }
    out.finish().unwrap();
    assert!(found, "{target} is not in the package");
    path
}

/// As a forger would: `target` (a tag file) changed by `edit` and tagmanifest-sha256.txt
/// brought in line with it.
fn forged(zip: &Path, target: &str, edit: impl Fn(&mut Vec<u8>)) -> PathBuf {
    let mut src = zip::ZipArchive::new(std::fs::File::open(zip).unwrap()).unwrap();
    let mut entries = vec![];
    for i in 0..src.len() {
        let mut entry = src.by_index(i).unwrap();
        let mut bytes = vec![];
        entry.read_to_end(&mut bytes).unwrap();
        entries.push((entry.name().unwrap().into_owned(), bytes));
    }
    let (_, bytes) = entries.iter_mut().find(|(n, _)| n.ends_with(&format!("/{target}"))).expect("the target is in the package");
    edit(bytes);
    let digest = sha256_hex(bytes);
    let (_, tags) = entries.iter_mut().find(|(n, _)| n.ends_with("/tagmanifest-sha256.txt")).unwrap();
    let text = String::from_utf8(tags.clone()).unwrap();
    *tags = text.lines().map(|l| if l.ends_with(&format!("  {target}")) { format!("{digest}  {target}\n") } else { format!("{l}\n") }).collect::<String>().into_bytes();
    let path = zip.with_extension("forged.zip");
    let mut out = zip::ZipWriter::new(std::fs::File::create(&path).unwrap());
    for (name, bytes) in entries {
        out.start_file(name, zip::write::SimpleFileOptions::default()).unwrap();
        out.write_all(&bytes).unwrap();
    }
    out.finish().unwrap();
    path
}

async fn import(s: &Server, token: &str, zip: &Path) -> reqwest::Response {
    s.req(Method::POST, "/api/v1/archive/import", token).header("content-type", "application/zip").body(std::fs::read(zip).unwrap()).send().await.unwrap()
}

fn blob_files(dir: &Path) -> usize {
    files_under(&dir.join("objects")).len()
}

/// Registers a document (`meta`) with one text attachment and routes it to `leader` for 批示;
/// returns the document as created.
async fn register_and_route(s: &Server, clerk: &str, meta: Value, attachment_name: &str, attachment: &str) -> Value {
    let form = Form::new()
        .part("meta", Part::text(meta.to_string()).mime_str("application/json").unwrap())
        .part("attachment", Part::bytes(attachment.as_bytes().to_vec()).file_name(attachment_name.to_owned()).mime_str("text/plain").unwrap());
    let r = s.req(Method::POST, "/api/v1/documents", clerk).multipart(form).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::CREATED);
    let doc: Value = r.json().await.unwrap();
    let id = doc["id"].as_str().unwrap();
    let r = s.req(Method::POST, &format!("/api/v1/documents/{id}/route"), clerk).json(&json!({"steps": [{"name": "批示", "mode": "any", "assignees": ["leader"]}]})).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::CREATED);
    doc
}

/// A document with a Chinese-named attachment, revisions by two people, an opinion in ink and a
/// finished route is archived; its package passes bagit.py; importing it into a fresh
/// installation brings back the same revisions, traces, opinions and trail; a package with one
/// byte changed (in a payload file, or in a tag file) is refused with nothing written.
#[tokio::test]
async fn archive_package_validates_and_imports_into_a_fresh_installation() {
    let s = Server::start().await;
    let (admin, clerk) = s.office_clerk("internal").await;
    let leader = s.user(&admin, "leader", "BGS", &["leader"], "internal").await;
    // The archive room (档案室) is a department of its own.
    s.department(&admin, "DAS", "档案室").await;
    let archivist = s.user(&admin, "archivist", "DAS", &["archivist"], "internal").await;
    let outsider = s.user(&admin, "outsider", "DAS", &["staff"], "internal").await;
    let doc = register_and_route(&s, &clerk, incoming("关于年度预算的请示", "internal", "请审批年度预算。"), "附件一 预算表.txt", "预算表：一百万元").await;
    let id = doc["id"].as_str().unwrap().to_owned();
    assert_eq!(s.revise(&leader, &id, doc["head_revision"].as_str().unwrap(), "请审批二〇二六年度预算（修订）。").await.status(), StatusCode::CREATED);
    let form = Form::new().part("ink", Part::bytes(PNG.to_vec()).mime_str("image/png").unwrap()).text("text", "同意");
    assert_eq!(s.req(Method::POST, &format!("/api/v1/documents/{id}/opinions"), &leader).multipart(form).send().await.unwrap().status(), StatusCode::CREATED);
    assert_eq!(act(&s, &leader, &id, json!({"action": "approve", "comment": "同意"})).await.status(), StatusCode::OK);

    // Only clerks, archivists and administrators archive; then the document is frozen.
    expect_problem(s.req(Method::GET, &format!("/api/v1/documents/{id}"), &archivist).send().await.unwrap(), StatusCode::NOT_FOUND).await;
    expect_problem(archive(&s, &leader, &id, "10y").await, StatusCode::FORBIDDEN).await;
    let r = s.req(Method::POST, &format!("/api/v1/documents/{id}/archive"), &clerk).json(&json!({"retention": "forever"})).send().await.unwrap();
    assert!(r.status().is_client_error());
    let r = archive(&s, &clerk, &id, "10y").await;
    assert_eq!(r.status(), StatusCode::CREATED);
    let record: Value = r.json().await.unwrap();
    assert_eq!(record["archive_no"], "X001-2026-D10-BGS-0001");
    assert_eq!(record["expires_at"], "2037-01-01T00:00:00.000Z");
    expect_problem(archive(&s, &clerk, &id, "10y").await, StatusCode::CONFLICT).await;
    let head = get(&s, &clerk, &format!("/api/v1/documents/{id}")).await;
    assert_eq!(head["state"], "archived");
    expect_problem(s.revise(&clerk, &id, head["head_revision"].as_str().unwrap(), "改").await, StatusCode::CONFLICT).await;
    let r = s.req(Method::POST, &format!("/api/v1/documents/{id}/opinions"), &leader).json(&json!({"text": "补充"})).send().await.unwrap();
    expect_problem(r, StatusCode::CONFLICT).await;
    expect_problem(act(&s, &clerk, &id, json!({"action": "distribute", "to": ["BGS"]})).await, StatusCode::CONFLICT).await;
    expect_problem(s.req(Method::DELETE, &format!("/api/v1/documents/{id}"), &admin).send().await.unwrap(), StatusCode::CONFLICT).await;
    let listed = get(&s, &clerk, "/api/v1/archive?department=BGS&year=2026").await;
    assert_eq!(listed["items"][0]["archive_no"], "X001-2026-D10-BGS-0001");
    // Archived, it is the archive room's to read, list, find and package (read-only), and
    // still no one else's outside its department.
    get(&s, &archivist, &format!("/api/v1/documents/{id}")).await;
    assert_eq!(get(&s, &archivist, "/api/v1/archive").await["items"][0]["archive_no"], "X001-2026-D10-BGS-0001");
    assert!(get(&s, &archivist, "/api/v1/documents?archived=true").await["items"].as_array().unwrap().iter().any(|d| d["id"] == id.as_str()));
    expect_problem(s.revise(&archivist, &id, head["head_revision"].as_str().unwrap(), "改").await, StatusCode::FORBIDDEN).await;
    expect_problem(s.req(Method::GET, &format!("/api/v1/documents/{id}"), &outsider).send().await.unwrap(), StatusCode::NOT_FOUND).await;
    assert!(get(&s, &outsider, "/api/v1/archive").await["items"].as_array().unwrap().is_empty());
    let found = |token: String| {
        let url = reqwest::Url::parse_with_params(&s.url("/api/v1/search"), [("q", "年度预算")]).unwrap();
        let client = s.client.clone();
        async move { client.get(url).bearer_auth(token).send().await.unwrap().json::<Value>().await.unwrap()["total"].as_u64().unwrap_or(0) }
    };
    let mut archivist_finds = 0;
    for _ in 0..50 {
        archivist_finds = found(archivist.clone()).await;
        if archivist_finds > 0 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert_eq!(archivist_finds, 1, "the archivist finds the archived document");
    assert_eq!(found(outsider.clone()).await, 0);

    // The package, checked by bagit.py (downloaded by the archive room).
    let temp = tempfile::tempdir().unwrap();
    let zip = download_package(&s, &archivist, "X001-2026-D10-BGS-0001", temp.path()).await;
    let bag = validate_with_bagit_py(&zip).join("X001-2026-D10-BGS-0001");
    let info = std::fs::read_to_string(bag.join("bag-info.txt")).unwrap();
    for label in ["Source-Organization:", "Bagging-Date:", "Payload-Oxum:", "External-Identifier: X001-2026-D10-BGS-0001"] {
        assert!(info.contains(label), "bag-info.txt lacks {label}: {info}");
    }
    assert_eq!(std::fs::read_to_string(bag.join("data/attachments/附件一 预算表.txt")).unwrap(), "预算表：一百万元");
    assert_eq!(std::fs::read(bag.join(format!("data/opinions/{}.png", get(&s, &clerk, &format!("/api/v1/documents/{id}/opinions")).await["items"][0]["id"].as_str().unwrap()))).unwrap(), PNG);
    let traces_html = std::fs::read_to_string(bag.join("data/traces.html")).unwrap();
    assert!(traces_html.contains("<ins") && traces_html.contains("修订"));
    let revisions = get(&s, &clerk, &format!("/api/v1/documents/{id}/revisions")).await;
    for r in revisions["items"].as_array().unwrap() {
        let rev = r["id"].as_str().unwrap();
        let found = files_under(&bag.join("data/revisions")).into_iter().find(|p| p.to_string_lossy().ends_with(&format!("{rev}.json"))).expect("every manifest is in the bag");
        assert_eq!(sha256_hex(&std::fs::read(found).unwrap()), rev, "manifests are kept byte for byte");
    }
    let page = get(&s, &admin, "/api/v1/archive/X001-2026-D10-BGS-0001").await;
    assert_eq!(page["document"], id.as_str());

    // Tampered packages, into a fresh installation: refused, nothing written.
    let fresh = Server::start().await;
    let fresh_admin = fresh.admin().await;
    let blobs_before = blob_files(&fresh.data_dir);
    for (target, named) in [("附件一 预算表.txt", "data/attachments/附件一 预算表.txt"), ("bag-info.txt", "bag-info.txt")] {
        let bad = tampered(&zip, target, |b| b[0] ^= 1);
        let r = import(&fresh, &fresh_admin, &bad).await;
        let problem = expect_problem(r, StatusCode::UNPROCESSABLE_ENTITY).await;
        assert!(problem["field"].as_str().unwrap().ends_with(named), "{problem}");
        assert_eq!(get(&fresh, &fresh_admin, "/api/v1/documents").await["items"].as_array().unwrap().len(), 0);
        assert_eq!(get(&fresh, &fresh_admin, "/api/v1/archive").await["items"].as_array().unwrap().len(), 0);
        assert_eq!(blob_files(&fresh.data_dir), blobs_before, "nothing reached the object store");
    }
    let r = fresh.req(Method::POST, "/api/v1/archive/import", &fresh_admin).header("content-type", "application/zip").body(b"PK\x03\x04 not really".to_vec()).send().await.unwrap();
    expect_problem(r, StatusCode::UNPROCESSABLE_ENTITY).await;

    // The real one comes back whole.
    let r = import(&fresh, &fresh_admin, &zip).await;
    assert_eq!(r.status(), StatusCode::CREATED, "{}", r.text().await.unwrap());
    let restored: Value = r.json().await.unwrap();
    assert_eq!(restored["archive_no"], "X001-2026-D10-BGS-0001");
    expect_problem(import(&fresh, &fresh_admin, &zip).await, StatusCode::CONFLICT).await;
    for path in [
        format!("/api/v1/documents/{id}/revisions"),
        format!("/api/v1/documents/{id}/traces?from=empty"),
        format!("/api/v1/documents/{id}/traces?view=clean"),
    ] {
        let (a, b) = (get(&s, &admin, &path).await, get(&fresh, &fresh_admin, &path).await);
        if path.contains("traces") && !path.contains("clean") {
            assert_eq!(a["spans"], b["spans"], "{path}");
        } else {
            assert_eq!(a, b, "{path}");
        }
    }
    let strip = |v: Value| -> Vec<Value> {
        v["items"].as_array().unwrap().iter().map(|e| {
            let mut e = e.clone();
            e.as_object_mut().unwrap().remove("display_name");
            e
        }).collect()
    };
    assert_eq!(strip(get(&s, &admin, &format!("/api/v1/documents/{id}/trail")).await), strip(get(&fresh, &fresh_admin, &format!("/api/v1/documents/{id}/trail")).await));
    assert_eq!(strip(get(&s, &admin, &format!("/api/v1/documents/{id}/opinions")).await), strip(get(&fresh, &fresh_admin, &format!("/api/v1/documents/{id}/opinions")).await));
    let ink = get(&fresh, &fresh_admin, &format!("/api/v1/documents/{id}/opinions")).await["items"][0]["ink_sha256"].as_str().unwrap().to_owned();
    let back = fresh.req(Method::GET, &format!("/api/v1/blobs/{ink}"), &fresh_admin).send().await.unwrap();
    assert_eq!(back.bytes().await.unwrap().as_ref(), PNG);
    let (ok, out) = fresh.verify();
    assert!(ok, "{out}");

    // `henji export` writes the same bag (and any others) into one zip bagit.py accepts.
    let out_zip = temp.path().join("export.zip");
    let status = Command::new(henji_bin()).args(["export", "--department", "BGS", "--year", "2026", "--out"]).arg(&out_zip).arg("--data-dir").arg(&s.data_dir).status().unwrap();
    assert!(status.success());
    validate_with_bagit_py(&out_zip);
}

/// One file of a zip, read whole.
fn zip_file(zip: &Path, name: &str) -> Vec<u8> {
    let mut archive = zip::ZipArchive::new(std::fs::File::open(zip).unwrap()).unwrap();
    let mut bytes = vec![];
    archive.by_name(name).unwrap().read_to_end(&mut bytes).unwrap();
    bytes
}

/// A confidential record (sealed body and attachment, a sensitive field, a sealed opinion in
/// ink) moves to another installation that holds the key-encryption key it was packaged for:
/// the same revision ids, plaintext back for readers, sealed at rest there as well, `henji
/// verify` clean. A package whose data key is wrapped by a key the receiver lacks is refused
/// with nothing written.
#[tokio::test]
async fn sealed_records_move_to_an_installation_holding_the_transfer_key() {
    const BODY: &str = "机密正文 标记甲乙 MARKERBODY7731";
    const ATTACHMENT: &str = "机密附件 标记丙丁 MARKERATT5519";
    const SIGNER: &str = "签收人王某某";
    const OPINION: &str = "同意 MARKEROPINION2290";
    use base64::Engine as _;
    let key = |b: u8| base64::engine::general_purpose::STANDARD.encode([b; 32]);
    let (transfer, source_own, target_own) = (format!("transfer-2026:{}", key(1)), format!("source-main:{}", key(2)), format!("target-main:{}", key(3)));
    let temp = tempfile::tempdir().unwrap();
    let s = Server::start_in(&temp.path().join("source"), &[], &[("HENJI_KEYS", format!("{transfer},{source_own}").as_str())]).await;
    let admin = s.admin().await;
    s.department(&admin, "BGS", "办公室").await;
    s.department(&admin, "DAS", "档案室").await;
    let clerk = s.user(&admin, "clerk", "BGS", &["clerk"], "secret").await;
    let leader = s.user(&admin, "leader", "BGS", &["leader"], "secret").await;
    let archivist = s.user(&admin, "archivist", "DAS", &["archivist"], "secret").await;
    let doc = register_and_route(&s, &clerk, incoming("机密请示", "confidential", "第一稿"), "附件一.txt", ATTACHMENT).await;
    let id = doc["id"].as_str().unwrap().to_owned();
    let r = s
        .req(Method::POST, &format!("/api/v1/documents/{id}/revisions"), &leader)
        .json(&json!({"base_revision": doc["head_revision"], "body": {"text": BODY}, "fields": {"签收人": SIGNER}}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::CREATED, "{}", r.text().await.unwrap());
    let form = Form::new().part("ink", Part::bytes(PNG.to_vec()).mime_str("image/png").unwrap()).text("text", OPINION);
    assert_eq!(s.req(Method::POST, &format!("/api/v1/documents/{id}/opinions"), &leader).multipart(form).send().await.unwrap().status(), StatusCode::CREATED);
    assert_eq!(act(&s, &leader, &id, json!({"action": "approve", "comment": "同意"})).await.status(), StatusCode::OK);
    let r = archive(&s, &clerk, &id, "permanent").await;
    assert_eq!(r.status(), StatusCode::CREATED);
    let archive_no = r.json::<Value>().await.unwrap()["archive_no"].as_str().unwrap().to_owned();

    // Packaged as stored here (the data key wrapped by this installation's own key), and for
    // the transfer key both installations hold; a key this keyring lacks is refused.
    let as_stored = download_package_as(&s, &archivist, &archive_no, "", &temp.path().join("as-stored.zip")).await;
    let zip = download_package_as(&s, &archivist, &archive_no, "?transfer_key=transfer-2026", &temp.path().join("transfer.zip")).await;
    let r = s.req(Method::GET, &format!("/api/v1/archive/{archive_no}/package?transfer_key=nowhere"), &archivist).send().await.unwrap();
    let problem = expect_problem(r, StatusCode::UNPROCESSABLE_ENTITY).await;
    assert!(problem["detail"].as_str().unwrap().contains("nowhere"), "{problem}");
    let sealing: Value = serde_json::from_slice(&zip_file(&as_stored, &format!("{archive_no}/henji-sealing.json"))).unwrap();
    assert_eq!(sealing["kek"], "source-main");
    let sealing: Value = serde_json::from_slice(&zip_file(&zip, &format!("{archive_no}/henji-sealing.json"))).unwrap();
    assert_eq!(sealing["kek"], "transfer-2026");
    assert_eq!(sealing["files"].as_array().unwrap().len(), 4, "two bodies, the attachment and the ink: {sealing}");
    let bag = validate_with_bagit_py(&zip).join(&archive_no);
    assert_eq!(std::fs::read_to_string(bag.join("data/attachments/附件一.txt")).unwrap(), ATTACHMENT, "the package holds plaintext for its reader");

    let target_dir = temp.path().join("target");
    let fresh = Server::start_in(&target_dir, &[], &[("HENJI_KEYS", format!("{transfer},{target_own}").as_str())]).await;
    let fresh_admin = fresh.admin().await;
    let blobs_before = blob_files(&target_dir);
    let problem = expect_problem(import(&fresh, &fresh_admin, &as_stored).await, StatusCode::UNPROCESSABLE_ENTITY).await;
    assert!(problem["field"].as_str().unwrap().ends_with("henji-sealing.json") && problem["detail"].as_str().unwrap().contains("source-main"), "{problem}");
    assert_eq!(get(&fresh, &fresh_admin, "/api/v1/documents").await["items"].as_array().unwrap().len(), 0);
    assert_eq!(blob_files(&target_dir), blobs_before, "nothing reached the object store");
    // A sealing record forged to another nonce prefix (tag manifest and all) does not seal the
    // attachment to the blob its manifest names.
    let forged = forged(&zip, "henji-sealing.json", |bytes| {
        let mut v: Value = serde_json::from_slice(bytes).unwrap();
        let file = v["files"].as_array_mut().unwrap().iter_mut().find(|f| f["path"] == "data/attachments/附件一.txt").unwrap();
        let header = file["header"].as_str().unwrap();
        let flipped = if header.ends_with('0') { "1" } else { "0" };
        file["header"] = Value::String(format!("{}{flipped}", &header[..header.len() - 1]));
        *bytes = serde_json::to_vec(&v).unwrap();
    });
    let problem = expect_problem(import(&fresh, &fresh_admin, &forged).await, StatusCode::UNPROCESSABLE_ENTITY).await;
    assert!(problem["field"].as_str().unwrap().ends_with("data/attachments/附件一.txt") && problem["detail"].as_str().unwrap().contains("seal again"), "{problem}");
    assert_eq!(blob_files(&target_dir), blobs_before, "nothing reached the object store");

    let r = import(&fresh, &fresh_admin, &zip).await;
    assert_eq!(r.status(), StatusCode::CREATED, "{}", r.text().await.unwrap());
    let (a, b) = (get(&s, &admin, &format!("/api/v1/documents/{id}")).await, get(&fresh, &fresh_admin, &format!("/api/v1/documents/{id}")).await);
    assert_eq!((&a["head_revision"], &a["fields"], &a["attachments"]), (&b["head_revision"], &b["fields"], &b["attachments"]));
    assert_eq!(b["fields"]["签收人"], SIGNER);
    let revisions = get(&s, &admin, &format!("/api/v1/documents/{id}/revisions")).await;
    assert_eq!(revisions["items"], get(&fresh, &fresh_admin, &format!("/api/v1/documents/{id}/revisions")).await["items"]);
    for r in revisions["items"].as_array().unwrap() {
        let path = format!("/api/v1/documents/{id}/revisions/{}/body", r["id"].as_str().unwrap());
        let (x, y) = (s.req(Method::GET, &path, &admin).send().await.unwrap().text().await.unwrap(), fresh.req(Method::GET, &path, &fresh_admin).send().await.unwrap().text().await.unwrap());
        assert_eq!(x, y, "{path}");
    }
    let attachment = b["attachments"][0]["sha256"].as_str().unwrap();
    assert_eq!(fresh.req(Method::GET, &format!("/api/v1/blobs/{attachment}"), &fresh_admin).send().await.unwrap().text().await.unwrap(), ATTACHMENT);
    let path = format!("/api/v1/documents/{id}/traces?from=empty");
    assert_eq!(get(&s, &admin, &path).await["spans"], get(&fresh, &fresh_admin, &path).await["spans"]);
    let opinions = get(&fresh, &fresh_admin, &format!("/api/v1/documents/{id}/opinions")).await;
    assert_eq!(opinions["items"][0]["text"], OPINION);
    assert_eq!(opinions["items"][0]["ink_sha256"], get(&s, &admin, &format!("/api/v1/documents/{id}/opinions")).await["items"][0]["ink_sha256"]);
    let ink = opinions["items"][0]["ink_sha256"].as_str().unwrap();
    assert_eq!(fresh.req(Method::GET, &format!("/api/v1/blobs/{ink}"), &fresh_admin).send().await.unwrap().bytes().await.unwrap().as_ref(), PNG);
    // Found by a word of its sealed body there too.
    let url = reqwest::Url::parse_with_params(&fresh.url("/api/v1/search"), [("q", "标记甲乙")]).unwrap();
    let mut total = 0;
    for _ in 0..50 {
        total = fresh.client.get(url.clone()).bearer_auth(&fresh_admin).send().await.unwrap().json::<Value>().await.unwrap()["total"].as_u64().unwrap_or(0);
        if total > 0 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert_eq!(total, 1);
    let (ok, out) = fresh.verify();
    assert!(ok, "{out}");
    // Sealed at rest in the receiving installation too.
    for file in files_under(&target_dir) {
        let bytes = std::fs::read(&file).unwrap();
        for marker in [BODY, ATTACHMENT, SIGNER, OPINION] {
            assert!(!bytes.windows(marker.len()).any(|w| w == marker.as_bytes()), "{marker} in plain text in {}", file.display());
        }
    }
}

/// Many documents archived at once get item numbers 1..n: none repeated, none skipped.
#[tokio::test]
async fn concurrent_archiving_never_repeats_or_skips_a_number() {
    let s = Server::start().await;
    let admin = s.admin().await;
    s.department(&admin, "CWB", "财务部").await;
    let clerk = s.user(&admin, "cwb-clerk", "CWB", &["clerk", "archivist"], "internal").await;
    let mut ids = vec![];
    for i in 0..24 {
        ids.push(s.create_incoming(&clerk, &format!("来文{i}"), "internal", "正文").await["id"].as_str().unwrap().to_owned());
    }
    let answers = futures::future::join_all(ids.iter().map(|id| archive(&s, &clerk, id, "permanent"))).await;
    let mut numbers = vec![];
    for r in answers {
        assert_eq!(r.status(), StatusCode::CREATED);
        numbers.push(r.json::<Value>().await.unwrap()["archive_no"].as_str().unwrap().to_owned());
    }
    numbers.sort();
    let expected: Vec<String> = (1..=24).map(|i| format!("X001-2026-Y-CWB-{i:04}")).collect();
    assert_eq!(numbers, expected);
    // Another retention counts on its own.
    let more = s.create_incoming(&clerk, "另一份", "internal", "正文").await;
    let r: Value = archive(&s, &clerk, more["id"].as_str().unwrap(), "30y").await.json().await.unwrap();
    assert_eq!(r["archive_no"], "X001-2026-D30-CWB-0001");
}

/// Disposal: refused before the retention ends and for non-administrators; afterwards no
/// route, package or search yields the content, the blobs are gone from the store (and a
/// classified document's data key is destroyed), the tombstone keeps number and reason, and
/// `henji verify` still passes.
#[tokio::test]
async fn disposal_destroys_the_content_and_keeps_a_tombstone() {
    let s = Server::start().await;
    let (admin, clerk) = s.office_clerk("secret").await;
    let mut docs = vec![];
    for (class, marker) in [("internal", "DISPOSEPLAIN4471"), ("confidential", "DISPOSESEALED8812")] {
        let d = s.create_incoming(&clerk, &format!("待销毁 {class}"), class, &format!("正文 {marker}")).await;
        let id = d["id"].as_str().unwrap().to_owned();
        let record: Value = archive(&s, &clerk, &id, "10y").await.json().await.unwrap();
        docs.push((id, record["archive_no"].as_str().unwrap().to_owned(), marker, d["head_revision"].as_str().unwrap().to_owned()));
    }
    let (plain_id, plain_no, _, _) = docs[0].clone();
    let body_sha = get(&s, &clerk, &format!("/api/v1/documents/{plain_id}/revisions")).await["items"][0]["body_sha256"].as_str().unwrap().to_owned();
    let reason = json!({"reason": "保管期满，经鉴定销毁（鉴定委员会 2037-02 决议）"});
    let dispose = |no: String, token: String, body: Value| {
        let s = &s;
        async move { s.req(Method::POST, &format!("/api/v1/archive/{no}/dispose"), &token).json(&body).send().await.unwrap() }
    };
    expect_problem(dispose(plain_no.clone(), clerk.clone(), reason.clone()).await, StatusCode::FORBIDDEN).await;
    expect_problem(dispose(plain_no.clone(), admin.clone(), reason.clone()).await, StatusCode::CONFLICT).await;
    assert!(get(&s, &admin, "/api/v1/archive?expired=true").await["items"].as_array().unwrap().is_empty());

    // Ten years pass (the retention end is moved into the past in the catalog).
    let url = format!("sqlite://{}", s.data_dir.join("catalog.db").display());
    let pool = sqlx::SqlitePool::connect(&url).await.unwrap();
    sqlx::query("UPDATE archive_records SET expires_at = '2020-01-01T00:00:00.000Z'").execute(&pool).await.unwrap();
    pool.close().await;
    let expired = get(&s, &admin, "/api/v1/archive?expired=true").await;
    assert_eq!(expired["items"].as_array().unwrap().len(), 2);
    expect_problem(dispose(plain_no.clone(), admin.clone(), json!({"reason": " "})).await, StatusCode::UNPROCESSABLE_ENTITY).await;

    for (id, no, marker, head) in &docs {
        let r = dispose(no.clone(), admin.clone(), reason.clone()).await;
        assert_eq!(r.status(), StatusCode::OK);
        let tomb: Value = r.json().await.unwrap();
        assert_eq!(tomb["disposed_by"], "admin");
        assert!(tomb["disposal_reason"].as_str().unwrap().contains("鉴定"));
        expect_problem(dispose(no.clone(), admin.clone(), reason.clone()).await, StatusCode::CONFLICT).await;
        for path in [format!("/api/v1/documents/{id}"), format!("/api/v1/documents/{id}/revisions/{head}/body"), format!("/api/v1/documents/{id}/traces")] {
            let r = s.req(Method::GET, &path, &admin).send().await.unwrap();
            assert_eq!(r.status(), StatusCode::NOT_FOUND, "{path}");
        }
        let r = s.req(Method::GET, &format!("/api/v1/archive/{no}/package"), &admin).send().await.unwrap();
        assert_eq!(r.status(), StatusCode::GONE);
        let record = get(&s, &admin, &format!("/api/v1/archive/{no}")).await;
        assert!(record["disposed_at"].is_string());
        // Search forgets it within a second or so.
        let mut found = true;
        for _ in 0..30 {
            let url = reqwest::Url::parse_with_params(&s.url("/api/v1/search"), [("q", *marker)]).unwrap();
            let v: Value = s.client.get(url).bearer_auth(&admin).send().await.unwrap().json().await.unwrap();
            found = v["total"].as_u64() != Some(0);
            if !found {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
        assert!(!found, "{marker} is still found");
    }
    let r = s.req(Method::GET, &format!("/api/v1/blobs/{body_sha}"), &admin).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    let audit = get(&s, &admin, "/api/v1/audit?limit=500").await;
    assert!(audit["items"].as_array().unwrap().iter().any(|e| e["action"] == "archive.dispose"));
    assert!(audit["items"].as_array().unwrap().iter().any(|e| e["action"] == "data_key.destroy"));
    let (ok, out) = s.verify();
    assert!(ok, "verify after disposal: {out}");
    // Neither marker is anywhere in the object store any more.
    for path in files_under(&s.data_dir.join("objects")) {
        // A file gone between the listing and the read was a moment's (a write's staging).
        let Ok(bytes) = std::fs::read(&path) else { continue };
        for (_, _, marker, _) in &docs {
            assert!(!bytes.windows(marker.len()).any(|w| w == marker.as_bytes()), "{marker} in {}", path.display());
        }
    }
}
