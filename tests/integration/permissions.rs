use reqwest::multipart::{Form, Part};
use reqwest::{Method, StatusCode};
use serde_json::Value;

use crate::common::*;

const LEVELS: [&str; 4] = ["public", "internal", "confidential", "secret"];
const DEPTS: [&str; 2] = ["BGS", "CWB"];

struct Doc {
    id: String,
    department: &'static str,
    level: usize,
    head: String,
    body_sha: String,
    attachment_sha: String,
}

/// Two departments × four classifications × every document route: each user gets exactly
/// 200 where they may read, 404 where they may not learn the document exists, and 403 where
/// they may read but not do.
#[tokio::test]
async fn department_and_clearance_matrix() {
    let s = Server::start().await;
    let admin = s.admin().await;
    for d in DEPTS {
        s.department(&admin, d, d).await;
    }
    // A writer with full clearance in each department creates one document per level.
    let mut docs = vec![];
    for dept in DEPTS {
        let writer = s.user(&admin, &format!("{}-writer", dept.to_lowercase()), dept, &["clerk"], "secret").await;
        for (level, class) in LEVELS.iter().enumerate() {
            let marker = format!("附件内容 {dept} {class}");
            let meta = serde_json::to_string(&incoming(&format!("{dept}-{class}"), class, &format!("正文 {dept} {class}"))).unwrap();
            let form = Form::new()
                .part("meta", Part::text(meta).mime_str("application/json").unwrap())
                .part("attachment", Part::bytes(marker.clone().into_bytes()).file_name("a.txt").mime_str("text/plain").unwrap());
            let r = s.req(Method::POST, "/api/v1/documents", &writer).multipart(form).send().await.unwrap();
            assert_eq!(r.status(), StatusCode::CREATED);
            let v: Value = r.json().await.unwrap();
            let revs: Value = s.req(Method::GET, &format!("/api/v1/documents/{}/revisions", v["id"].as_str().unwrap()), &writer).send().await.unwrap().json().await.unwrap();
            docs.push(Doc {
                id: v["id"].as_str().unwrap().into(),
                department: dept,
                level,
                head: v["head_revision"].as_str().unwrap().into(),
                body_sha: revs["items"][0]["body_sha256"].as_str().unwrap().into(),
                attachment_sha: v["attachments"][0]["sha256"].as_str().unwrap().into(),
            });
            // A classified document's files are stored sealed: not under the digest of their
            // plaintext, which no one can use to confirm that a file is stored.
            let plain_sha = sha256_hex(marker.as_bytes());
            let sealed = level >= 2;
            assert_eq!(docs.last().unwrap().attachment_sha != plain_sha, sealed, "{dept}/{class} attachment digest");
            let r = s.req(Method::GET, &format!("/api/v1/blobs/{plain_sha}"), &admin).send().await.unwrap();
            assert_eq!(r.status(), if sealed { StatusCode::NOT_FOUND } else { StatusCode::OK }, "{dept}/{class} by plaintext digest");
        }
    }
    // Readers: each department × each clearance, plus an administrator cleared to confidential.
    let mut readers = vec![];
    for dept in DEPTS {
        for (level, class) in LEVELS.iter().enumerate() {
            let token = s.user(&admin, &format!("{}-{class}", dept.to_lowercase()), dept, &["staff"], class).await;
            readers.push((format!("{dept}/{class}"), token, Some(dept), level, false));
        }
    }
    let boss = s.user(&admin, "boss", "ADMIN", &["admin"], "confidential").await;
    readers.push(("admin/confidential".into(), boss, None, 2, true));

    for (who, token, dept, clearance, is_admin) in &readers {
        let mut visible_ids = vec![];
        for d in &docs {
            let visible = d.level <= *clearance && (*is_admin || *dept == Some(d.department));
            let want = if visible { StatusCode::OK } else { StatusCode::NOT_FOUND };
            let reads = [
                format!("/api/v1/documents/{}", d.id),
                format!("/api/v1/documents/{}/revisions", d.id),
                format!("/api/v1/documents/{}/revisions/{}", d.id, d.head),
                format!("/api/v1/documents/{}/revisions/{}/body", d.id, d.head),
                format!("/api/v1/blobs/{}", d.body_sha),
                format!("/api/v1/blobs/{}", d.attachment_sha),
                format!("/api/v1/documents/{}/traces?from=empty", d.id),
                format!("/api/v1/documents/{}/traces?format=html", d.id),
                format!("/api/v1/documents/{}/traces?view=clean", d.id),
                format!("/api/v1/documents/{}/traces.docx", d.id),
            ];
            for path in &reads {
                let r = s.req(Method::GET, path, token).send().await.unwrap();
                let status = r.status();
                let text = r.text().await.unwrap();
                assert_eq!(status, want, "{who} GET {path}");
                if !visible {
                    assert!(!text.contains(d.department) || text.contains("no such"), "{who} learns something from {path}: {text}");
                    assert!(!text.contains("正文") && !text.contains("附件内容"));
                }
            }
            // Writing: hidden stays 404; a visible document takes a revision from staff.
            let r = s.revise(token, &d.id, &d.head, "改").await;
            let got = r.status();
            if !visible {
                assert_eq!(got, StatusCode::NOT_FOUND, "{who} revise hidden");
            } else {
                assert!(got == StatusCode::CREATED || got == StatusCode::CONFLICT, "{who} revise visible: {got}");
            }
            // Deleting is for administrators (their 204 is covered elsewhere; here it would
            // change the matrix for the readers after them).
            if !*is_admin {
                let r = s.req(Method::DELETE, &format!("/api/v1/documents/{}", d.id), token).send().await.unwrap();
                let want_delete = if visible { StatusCode::FORBIDDEN } else { StatusCode::NOT_FOUND };
                assert_eq!(r.status(), want_delete, "{who} DELETE");
            }
            if visible {
                visible_ids.push(d.id.clone());
            }
        }
        let list: Value = s.req(Method::GET, "/api/v1/documents?limit=500", token).send().await.unwrap().json().await.unwrap();
        let mut listed: Vec<String> = list["items"].as_array().unwrap().iter().map(|d| d["id"].as_str().unwrap().to_owned()).collect();
        listed.sort();
        visible_ids.sort();
        if !*is_admin {
            assert_eq!(listed, visible_ids, "{who} list");
        } else {
            let expected = docs.iter().filter(|d| d.level <= 2).count();
            assert_eq!(listed.len(), expected, "{who} list");
        }
    }
    // Reads of classified documents were audited.
    let root = s.admin().await;
    let events: Value = s.req(Method::GET, "/api/v1/audit?user=bgs-secret&limit=500", &root).send().await.unwrap().json().await.unwrap();
    let reads = events["items"].as_array().unwrap().iter().filter(|e| e["action"].as_str().unwrap().ends_with(".read")).count();
    // Document, manifest, body, both blobs and four trace views, for the confidential and the
    // secret document.
    assert_eq!(reads, 2 * 9, "classified reads are audited");
}
