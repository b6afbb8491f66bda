//! Backup to a second S3-compatible server (moto on 127.0.0.1), incremental, and restore into
//! an empty data directory: everything comes back, `henji verify` is clean, and content
//! disposed of before a backup never comes back from it.

use std::path::Path;
use std::process::Command;

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::common::*;
use crate::s3::Moto;

fn henji(args: &[&str], dir: &Path, env: &[(&'static str, String)]) -> (bool, String) {
    let out = Command::new(henji_bin()).args(args).arg("--data-dir").arg(dir).envs(env.iter().map(|(k, v)| (*k, v.as_str()))).output().unwrap();
    (out.status.success(), format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr)))
}

async fn get(s: &Server, token: &str, path: &str) -> Value {
    let r = s.req(Method::GET, path, token).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK, "{path}");
    r.json().await.unwrap()
}

fn contains(dir: &Path, marker: &str) -> bool {
    files_under(dir).iter().any(|p| std::fs::read(p).unwrap_or_default().windows(marker.len()).any(|w| w == marker.as_bytes()))
}

#[tokio::test]
async fn backup_to_s3_is_incremental_and_restores_everything_but_disposed_content() {
    let moto = Moto::start().await;
    moto.bucket("offsite").await;
    let env = moto.env();
    let s = Server::start().await;
    let (admin, clerk) = s.office_clerk("secret").await;
    let secret = s.create_incoming(&clerk, "机密来文", "secret", "机密正文 BACKUPSECRET").await;
    let kept = s.create_incoming(&clerk, "长期保存", "internal", "长期保存的正文 BACKUPKEPT").await;
    let doomed = s.create_incoming(&clerk, "到期销毁", "internal", "将被销毁的正文 BACKUPDOOMED").await;
    let r = s.req(Method::POST, &format!("/api/v1/documents/{}/opinions", kept["id"].as_str().unwrap()), &clerk).json(&json!({"text": "请存档"})).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::CREATED);
    for (doc, retention) in [(&kept, "permanent"), (&doomed, "10y")] {
        let r = s.req(Method::POST, &format!("/api/v1/documents/{}/archive", doc["id"].as_str().unwrap()), &clerk).json(&json!({"retention": retention})).send().await.unwrap();
        assert_eq!(r.status(), StatusCode::CREATED);
    }
    let key_file = s.data_dir.join("keys/master.key");
    let key_arg = key_file.to_str().unwrap().to_owned();

    // First backup copies everything; the second, right after, only the catalog snapshot.
    let (ok, out) = henji(&["backup", "--to", "s3://offsite/henji"], &s.data_dir, &env);
    assert!(ok, "{out}");
    assert!(!out.contains("copied 0 objects"), "{out}");
    let (ok, out) = henji(&["backup", "--to", "s3://offsite/henji"], &s.data_dir, &env);
    assert!(ok, "{out}");
    assert!(out.contains("copied 0 objects"), "the second backup copied objects again: {out}");

    // Restore into an empty directory: verify is clean and everything is there.
    let fresh = tempfile::tempdir().unwrap();
    let (ok, out) = henji(&["restore", "--from", "s3://offsite/henji", "--key-file", &key_arg], fresh.path(), &env);
    assert!(ok && out.contains("verify: ok"), "{out}");
    let (ok, out) = henji(&["restore", "--from", "s3://offsite/henji", "--key-file", &key_arg], fresh.path(), &env);
    assert!(!ok && out.contains("empty data directory"), "a restore over an installation is refused: {out}");
    let r = Server::start_in(fresh.path(), &["--key-file", &key_arg], &[]).await;
    let r_admin = r.admin().await;
    for path in ["/api/v1/documents?limit=500", "/api/v1/archive", "/api/v1/users", "/api/v1/departments"] {
        assert_eq!(get(&s, &admin, path).await, get(&r, &r_admin, path).await, "{path}");
    }
    for doc in [&secret, &kept] {
        let id = doc["id"].as_str().unwrap();
        let head = doc["head_revision"].as_str().unwrap();
        let body = |srv: &Server, token: String| {
            let url = srv.url(&format!("/api/v1/documents/{id}/revisions/{head}/body"));
            let client = srv.client.clone();
            async move { client.get(url).bearer_auth(token).send().await.unwrap().text().await.unwrap() }
        };
        assert_eq!(body(&s, admin.clone()).await, body(&r, r_admin.clone()).await);
        for sub in ["opinions", "traces", "trail", "revisions"] {
            assert_eq!(get(&s, &admin, &format!("/api/v1/documents/{id}/{sub}")).await, get(&r, &r_admin, &format!("/api/v1/documents/{id}/{sub}")).await, "{sub}");
        }
    }
    // The audit chain up to the snapshot is the same event for event, and still verifies.
    let a = get(&s, &admin, "/api/v1/audit?limit=500").await["items"].as_array().unwrap().clone();
    let b = get(&r, &r_admin, "/api/v1/audit?limit=500").await["items"].as_array().unwrap().clone();
    let by_seq: std::collections::HashMap<i64, &Value> = b.iter().map(|e| (e["seq"].as_i64().unwrap(), e)).collect();
    let snapshot_seq = a.iter().filter(|e| e["action"] == "archive.create").map(|e| e["seq"].as_i64().unwrap()).max().unwrap();
    for e in a.iter().filter(|e| e["seq"].as_i64().unwrap() <= snapshot_seq) {
        assert_eq!(by_seq.get(&e["seq"].as_i64().unwrap()).map(|r| &r["hash"]), Some(&e["hash"]), "audit event {} differs", e["seq"]);
    }
    assert_eq!(get(&r, &r_admin, "/api/v1/audit/verify").await["ok"], true);
    // The index was rebuilt: search works on the restored installation.
    let url = reqwest::Url::parse_with_params(&r.url("/api/v1/search"), [("q", "长期保存")]).unwrap();
    let hits: Value = r.client.get(url).bearer_auth(&r_admin).send().await.unwrap().json().await.unwrap();
    assert_eq!(hits["total"], 1);
    drop(r);

    // Disposal, then a backup: the disposed content leaves the backup too.
    let url = format!("sqlite://{}", s.data_dir.join("catalog.db").display());
    let pool = sqlx::SqlitePool::connect(&url).await.unwrap();
    sqlx::query("UPDATE archive_records SET expires_at = '2020-01-01T00:00:00.000Z' WHERE retention = '10y'").execute(&pool).await.unwrap();
    pool.close().await;
    let doomed_no = get(&s, &admin, "/api/v1/archive?expired=true").await["items"][0]["archive_no"].as_str().unwrap().to_owned();
    let r = s.req(Method::POST, &format!("/api/v1/archive/{doomed_no}/dispose"), &admin).json(&json!({"reason": "保管期满销毁"})).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let (ok, out) = henji(&["backup", "--to", "s3://offsite/henji"], &s.data_dir, &env);
    assert!(ok && out.contains("removed 1 disposed"), "{out}");
    let third = tempfile::tempdir().unwrap();
    let (ok, out) = henji(&["restore", "--from", "s3://offsite/henji", "--key-file", &key_arg], third.path(), &env);
    assert!(ok && out.contains("verify: ok"), "{out}");
    assert!(!contains(&third.path().join("objects"), "BACKUPDOOMED"), "disposed content came back from the backup");
    assert!(contains(&third.path().join("objects"), "BACKUPKEPT"));
    let r = Server::start_in(third.path(), &["--key-file", &key_arg], &[]).await;
    let r_admin = r.admin().await;
    let id = doomed["id"].as_str().unwrap();
    assert_eq!(r.req(Method::GET, &format!("/api/v1/documents/{id}"), &r_admin).send().await.unwrap().status(), StatusCode::NOT_FOUND);
    assert_eq!(r.req(Method::GET, &format!("/api/v1/archive/{doomed_no}/package"), &r_admin).send().await.unwrap().status(), StatusCode::GONE);
}

/// Each backup keeps its catalog snapshot under its time; `--keep` bounds how many stay, and
/// `restore --at TIME` brings back the newest at or before that time, verified clean.
#[tokio::test]
async fn backups_keep_generations_and_restore_the_one_asked_for() {
    let s = Server::start().await;
    let (_admin, clerk) = s.office_clerk("internal").await;
    let target = tempfile::tempdir().unwrap();
    let to = url::Url::from_directory_path(target.path()).unwrap().to_string();
    let key_arg = s.data_dir.join("keys/master.key").to_str().unwrap().to_owned();
    let before_all = chrono::Utc::now();
    let mut after = vec![];
    for title in ["第一份", "第二份", "第三份"] {
        s.create_incoming(&clerk, title, "internal", "正文").await;
        let (ok, out) = henji(&["backup", "--to", &to, "--keep", "2"], &s.data_dir, &[]);
        assert!(ok, "{out}");
        after.push((chrono::Utc::now(), out));
    }
    assert!(after[2].1.contains("1 older generations removed"), "{}", after[2].1);
    let kept = std::fs::read_dir(target.path().join("catalog/generations")).unwrap().count();
    assert_eq!(kept, 2);

    let titles = |dir: &Path| {
        let dir = dir.to_owned();
        let key_arg = key_arg.clone();
        async move {
            let r = Server::start_in(&dir, &["--key-file", &key_arg], &[]).await;
            let clerk = r.login("clerk", PASSWORD).await;
            let docs: Value = r.req(Method::GET, "/api/v1/documents?limit=50", &clerk).send().await.unwrap().json().await.unwrap();
            let mut t: Vec<String> = docs["items"].as_array().unwrap().iter().map(|d| d["title"].as_str().unwrap().to_owned()).collect();
            t.sort();
            t
        }
    };
    // At a time after the second backup and before the third: the second's catalog.
    let second = tempfile::tempdir().unwrap();
    let at = after[1].0.to_rfc3339();
    let (ok, out) = henji(&["restore", "--from", &to, "--at", &at, "--key-file", &key_arg], second.path(), &[]);
    assert!(ok && out.contains("verify: ok"), "{out}");
    assert_eq!(titles(second.path()).await, ["第一份", "第二份"]);
    // By default the newest.
    let newest = tempfile::tempdir().unwrap();
    let (ok, out) = henji(&["restore", "--from", &to, "--key-file", &key_arg], newest.path(), &[]);
    assert!(ok && out.contains("verify: ok"), "{out}");
    assert_eq!(titles(newest.path()).await, ["第一份", "第三份", "第二份"]);
    // Before the oldest kept: refused, naming it.
    let none = tempfile::tempdir().unwrap();
    let (ok, out) = henji(&["restore", "--from", &to, "--at", &before_all.to_rfc3339(), "--key-file", &key_arg], none.path(), &[]);
    assert!(!ok && out.contains("no backup at or before") && out.contains("the oldest kept is"), "{out}");
}
