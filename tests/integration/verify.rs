use reqwest::{Method, StatusCode};
use serde_json::Value;

use crate::common::*;

/// Flipping one byte of a stored manifest or blob makes `henji verify` fail and name it.
#[tokio::test]
async fn verify_names_a_damaged_manifest_or_blob() {
    let s = Server::start().await;
    let admin = s.admin().await;
    let doc = s.create_incoming(&admin, "核验", "internal", "第一稿").await;
    let id = doc["id"].as_str().unwrap();
    let head = doc["head_revision"].as_str().unwrap();
    let r = s.revise(&admin, id, head, "第二稿").await;
    let second: Value = r.json().await.unwrap();
    let (ok, out) = s.verify();
    assert!(ok, "{out}");

    let manifest = s.data_dir.join(format!("objects/revisions/{id}/{head}.json"));
    let original = std::fs::read(&manifest).unwrap();
    let mut flipped = original.clone();
    flipped[10] ^= 0x01;
    std::fs::write(&manifest, &flipped).unwrap();
    let (ok, out) = s.verify();
    assert!(!ok);
    assert!(out.contains(&format!("BAD revisions/{id}/{head}.json")), "{out}");
    std::fs::write(&manifest, &original).unwrap();
    assert!(s.verify().0);

    let body_sha = second["body_sha256"].as_str().unwrap();
    let blob = s.data_dir.join(format!("objects/blobs/sha256/{}/{}/{}", &body_sha[..2], &body_sha[2..4], body_sha));
    let original = std::fs::read(&blob).unwrap();
    let mut flipped = original.clone();
    flipped[0] ^= 0x20;
    std::fs::write(&blob, &flipped).unwrap();
    let (ok, out) = s.verify();
    assert!(!ok);
    assert!(out.contains(&format!("BAD blobs/sha256/{}/{}/{body_sha}", &body_sha[..2], &body_sha[2..4])), "{out}");
    // Reading the damaged body is an integrity error, never the wrong text. (A server that
    // read it before the damage serves its checked copy from memory; a new one reads the disk.)
    let s = s.restart(&[]).await;
    let admin = s.admin().await;
    let r = s.req(Method::GET, &format!("/api/v1/documents/{id}/revisions/{}/body", second["id"].as_str().unwrap()), &admin).send().await.unwrap();
    let problem = expect_problem(r, StatusCode::INTERNAL_SERVER_ERROR).await;
    assert_eq!(problem["type"], "/problems/integrity");
    // Fixity over HTTP sees it too: the blob first, then the manifest that names it.
    let fixity: Value = s.req(Method::POST, "/api/v1/admin/fixity", &admin).send().await.unwrap().json().await.unwrap();
    assert!(fixity["bad"][0]["object"].as_str().unwrap().starts_with("blobs/sha256/"), "{fixity}");
    assert!(fixity["manifests_checked"].as_u64().unwrap() >= 2);
    std::fs::write(&blob, &original).unwrap();
    assert!(s.verify().0);
}

/// Editing any audit row by hand makes verification fail at that row.
#[tokio::test]
async fn audit_chain_detects_a_hand_edited_row() {
    let s = Server::start().await;
    let admin = s.admin().await;
    for i in 0..3 {
        s.create_incoming(&admin, &format!("文件{i}"), "public", "x").await;
    }
    let v: Value = s.req(Method::GET, "/api/v1/audit/verify", &admin).send().await.unwrap().json().await.unwrap();
    assert_eq!(v["ok"], true);
    let events: Value = s.req(Method::GET, "/api/v1/audit?limit=500", &admin).send().await.unwrap().json().await.unwrap();
    let items = events["items"].as_array().unwrap();
    for pair in items.windows(2) {
        assert_eq!(pair[1]["prev_hash"], pair[0]["hash"]);
    }
    let victim = items[3]["seq"].as_i64().unwrap();
    let url = format!("sqlite://{}", s.data_dir.join("catalog.db").display());
    let pool = sqlx::SqlitePool::connect(&url).await.unwrap();
    let set_detail = |seq: i64, detail: String| sqlx::query("UPDATE audit_events SET detail = $1 WHERE seq = $2").bind(detail).bind(seq);
    let first_bad = || async {
        let v: Value = s.req(Method::GET, "/api/v1/audit/verify", &admin).send().await.unwrap().json().await.unwrap();
        v["first_bad_seq"].as_i64()
    };

    // The same detail spelled another way (indented) is the same event.
    let indented = serde_json::to_string_pretty(&items[1]["detail"]).unwrap();
    assert_ne!(indented, items[1]["detail"].to_string());
    set_detail(items[1]["seq"].as_i64().unwrap(), indented).execute(&pool).await.unwrap();
    assert_eq!(first_bad().await, None);
    // A changed detail, and a changed column, each break the chain at their row.
    let later = items[4]["seq"].as_i64().unwrap();
    set_detail(later, r#"{"edited":true}"#.into()).execute(&pool).await.unwrap();
    assert_eq!(first_bad().await, Some(later));
    sqlx::query("UPDATE audit_events SET username = 'mallory' WHERE seq = $1").bind(victim).execute(&pool).await.unwrap();
    pool.close().await;

    let r = s.req(Method::GET, "/api/v1/audit/verify", &admin).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["ok"], false);
    assert_eq!(v["first_bad_seq"], victim);
    let (ok, out) = s.verify();
    assert!(!ok);
    assert!(out.contains(&format!("BAD audit event {victim}")), "{out}");
}

/// The scheduled fixity check (here every second) records its runs and raises
/// `henji_fixity_bad_objects` when a blob is damaged, and lowers it once it is repaired.
#[tokio::test]
async fn scheduled_fixity_records_runs_and_raises_a_metric() {
    let temp = tempfile::tempdir().unwrap();
    let s = Server::start_in(temp.path(), &["--fixity-interval", "1s"], &[]).await;
    let admin = s.admin().await;
    let doc = s.create_incoming(&admin, "定期检查", "internal", "正文内容").await;
    let revs: Value = s.req(Method::GET, &format!("/api/v1/documents/{}/revisions", doc["id"].as_str().unwrap()), &admin).send().await.unwrap().json().await.unwrap();
    let sha = revs["items"][0]["body_sha256"].as_str().unwrap().to_owned();
    let blob = s.data_dir.join(format!("objects/blobs/sha256/{}/{}/{}", &sha[..2], &sha[2..4], sha));
    let original = std::fs::read(&blob).unwrap();
    let mut flipped = original.clone();
    flipped[0] ^= 0x20;
    std::fs::write(&blob, &flipped).unwrap();

    let bad_metric = |text: &str| text.lines().find_map(|l| l.strip_prefix("henji_fixity_bad_objects ")).and_then(|v| v.trim().parse::<i64>().ok());
    let mut seen = None;
    for _ in 0..100 {
        let text = s.client.get(s.url("/metrics")).send().await.unwrap().text().await.unwrap();
        seen = bad_metric(&text);
        if seen.is_some_and(|n| n > 0) {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert!(seen.is_some_and(|n| n > 0), "the metric did not rise: {seen:?}");
    let runs: Value = s.req(Method::GET, "/api/v1/admin/fixity", &admin).send().await.unwrap().json().await.unwrap();
    let run = runs["items"].as_array().unwrap().iter().find(|r| r["trigger"] == "schedule" && r["bad_count"].as_i64() > Some(0)).expect("a recorded scheduled run that found the damage").clone();
    assert!(run["first_bad"].as_str().unwrap().contains(&sha), "{run}");

    std::fs::write(&blob, &original).unwrap();
    for _ in 0..100 {
        let text = s.client.get(s.url("/metrics")).send().await.unwrap().text().await.unwrap();
        seen = bad_metric(&text);
        if seen == Some(0) {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert_eq!(seen, Some(0), "the metric did not fall after the repair");
}

/// Removing the newest audit events leaves a chain that checks by itself; the head anchored in
/// the object store (when the server stops, and every minute) does not match it, and `henji
/// verify` says so. A backup anchors its own snapshot's head, so its restore verifies clean.
#[tokio::test]
async fn removing_the_newest_audit_events_is_found_by_the_anchor() {
    let temp = tempfile::tempdir().unwrap();
    let mut s = Server::start_in(temp.path(), &[], &[]).await;
    let admin = s.admin().await;
    for i in 0..3 {
        s.create_incoming(&admin, &format!("锚点{i}"), "public", "x").await;
    }
    assert!(s.terminate().success());
    // One anchor at the start, one as it stopped, named by the event each anchors.
    let anchors = files_under(&temp.path().join("objects/audit/anchors"));
    let newest = anchors.iter().max().expect("an anchor");
    let anchor: Value = serde_json::from_slice(&std::fs::read(newest).unwrap()).unwrap();
    let (ok, out) = run_verify(temp.path(), &[]);
    assert!(ok, "{out}");

    let url = format!("sqlite://{}", temp.path().join("catalog.db").display());
    let pool = sqlx::SqlitePool::connect(&url).await.unwrap();
    sqlx::query("DELETE FROM audit_events WHERE seq > (SELECT MAX(seq) - 2 FROM audit_events)").execute(&pool).await.unwrap();
    pool.close().await;
    let (ok, out) = run_verify(temp.path(), &[]);
    assert!(!ok, "{out}");
    let seq = anchor["seq"].as_i64().unwrap();
    assert!(out.contains(&format!("the audit chain ends at event {}, but event {seq} was anchored", seq - 2)), "{out}");
}
