use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use bytes::Bytes;
use reqwest::multipart::{Form, Part};
use reqwest::{Method, StatusCode};
use serde_json::Value;
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
