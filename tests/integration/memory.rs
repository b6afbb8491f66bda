use bytes::Bytes;
use futures::StreamExt;
use reqwest::multipart::{Form, Part};
use reqwest::{Method, StatusCode};
use serde_json::Value;
use sha2::Digest;

use crate::common::*;

/// Peak resident set size of a process, from /proc (Linux).
fn peak_rss_mib(pid: u32) -> f64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("read /proc status");
    let kib: f64 = status.lines().find_map(|l| l.strip_prefix("VmHWM:")).and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok()).expect("VmHWM");
    kib / 1024.0
}

/// Uploading and downloading a 1 GiB attachment keeps the server's peak RSS under 200 MiB:
/// uploads stream through the hasher into the store, downloads stream out of it.
#[tokio::test]
async fn a_1_gib_upload_download_and_package_stay_under_200_mib() {
    one_gib_round_trip("internal").await;
}

/// The same for a confidential scan, sealed (AES-256-GCM) on its way in and opened on its way
/// out, piece by piece.
#[tokio::test]
async fn a_1_gib_confidential_scan_is_sealed_and_opened_under_200_mib() {
    one_gib_round_trip("confidential").await;
}

async fn one_gib_round_trip(classification: &str) {
    const SIZE: u64 = 1 << 30;
    const CHUNK: usize = 1 << 20;
    // The default body limit is exactly 1 GiB, and the multipart framing is on top of the file.
    let temp = tempfile::tempdir().unwrap();
    let s = Server::start_in(temp.path(), &["--max-body", &(SIZE + (1 << 20)).to_string()], &[]).await;
    let (_, admin) = s.office_clerk("confidential").await;
    let chunk = Bytes::from((0..CHUNK).map(|i| (i % 253) as u8).collect::<Vec<_>>());
    let mut expected = sha2::Sha256::new();
    for _ in 0..SIZE / CHUNK as u64 {
        expected.update(&chunk);
    }
    let expected = hex::encode(expected.finalize());
    let chunks = (0..SIZE / CHUNK as u64).map(move |_| Ok::<_, std::io::Error>(chunk.clone()));
    let meta = serde_json::to_string(&incoming("一吉字节的扫描件", classification, "见附件")).unwrap();
    let form = Form::new()
        .part("meta", Part::text(meta).mime_str("application/json").unwrap())
        .part("attachment", Part::stream_with_length(reqwest::Body::wrap_stream(futures::stream::iter(chunks)), SIZE).file_name("scan.tif").mime_str("image/tiff").unwrap());
    let r = s.req(Method::POST, "/api/v1/documents", &admin).multipart(form).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::CREATED);
    let doc: Value = r.json().await.unwrap();
    let stored = doc["attachments"][0]["sha256"].as_str().unwrap().to_owned();
    if classification == "internal" {
        assert_eq!(stored, expected);
    } else {
        // Sealed: stored under the digest of the sealed bytes, none of which is the plaintext.
        assert_ne!(stored, expected);
        let file = files_under(&temp.path().join("objects/blobs")).into_iter().find(|p| p.ends_with(&stored)).unwrap();
        let mut head = vec![0u8; 1 << 16];
        std::io::Read::read_exact(&mut std::fs::File::open(&file).unwrap(), &mut head).unwrap();
        // The plaintext counts up byte by byte (mod 253); sealed bytes do so by chance only.
        let counting = head.windows(2).filter(|w| w[1] as usize == (w[0] as usize + 1) % 253).count();
        assert!(counting < head.len() / 50, "{counting} of {} stored bytes follow the plaintext's pattern", head.len());
    }
    assert_eq!(doc["attachments"][0]["size"], SIZE);
    let after_upload = peak_rss_mib(s.pid());

    let r = s.req(Method::GET, &format!("/api/v1/blobs/{stored}"), &admin).send().await.unwrap();
    assert_eq!(r.headers()["content-length"], SIZE.to_string().as_str());
    let mut body = r.bytes_stream();
    let mut got = sha2::Sha256::new();
    let mut n = 0u64;
    while let Some(chunk) = body.next().await {
        let chunk = chunk.unwrap();
        n += chunk.len() as u64;
        got.update(&chunk);
    }
    assert_eq!(n, SIZE);
    assert_eq!(hex::encode(got.finalize()), expected);
    let after_download = peak_rss_mib(s.pid());

    // Archived, its BagIt package streams out the same way, and bagit.py accepts it.
    let id = doc["id"].as_str().unwrap();
    let r = s.req(Method::POST, &format!("/api/v1/documents/{id}/archive"), &admin).json(&serde_json::json!({"retention": "permanent"})).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::CREATED);
    let archive_no = r.json::<Value>().await.unwrap()["archive_no"].as_str().unwrap().to_owned();
    let zip = crate::archive::download_package(&s, &admin, &archive_no, temp.path()).await;
    let after_package = peak_rss_mib(s.pid());
    assert!(std::fs::metadata(&zip).unwrap().len() > SIZE);
    eprintln!("{classification}: server peak RSS: {after_upload:.1} MiB after a 1 GiB upload, {after_download:.1} MiB after downloading it, {after_package:.1} MiB after packaging it");
    assert!(after_package < 200.0, "peak RSS {after_package:.1} MiB");
    let bag = crate::archive::validate_with_bagit_py(&zip);
    std::fs::remove_dir_all(bag).unwrap();
}
