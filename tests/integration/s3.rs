//! The store tests against a real S3-compatible server on 127.0.0.1 (moto), as well as the
//! local folder: one suite, every backend. `.ci/run` installs moto; locally:
//! `pip install 'moto[server]'`.

use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use henji::resources::blob_store::{BlobStore, INLINE_LIMIT};
use reqwest::{Method, StatusCode};
use serde_json::Value;

use crate::common::*;

pub struct Moto {
    child: Child,
    pub endpoint: String,
}

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

impl Moto {
    pub async fn start() -> Moto {
        let port = free_port();
        let port_text = port.to_string();
        let args = ["-H", "127.0.0.1", "-p", port_text.as_str()];
        // moto through our launcher, which makes its conditional PUT atomic (see the script);
        // `moto_server` as pip put it on PATH only if python3 cannot import moto.
        let launcher = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/support/moto_server.py");
        let python_has_moto = Command::new("python3").args(["-c", "import moto.server"]).stdout(Stdio::null()).stderr(Stdio::null()).status().is_ok_and(|s| s.success());
        let mut command = if python_has_moto {
            let mut c = Command::new("python3");
            c.arg(launcher);
            c
        } else {
            eprintln!("moto is not importable by python3: using `moto_server`, whose conditional PUT is not atomic under races");
            Command::new("moto_server")
        };
        let mut child = command
            .args(args)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("moto is needed for the S3 tests: pip install 'moto[server]' (.ci/run does this)");
        let endpoint = format!("http://127.0.0.1:{port}");
        let client = reqwest::Client::new();
        for _ in 0..200 {
            if client.get(&endpoint).send().await.is_ok() {
                return Moto { child, endpoint };
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let _ = child.kill();
        let _ = child.wait();
        panic!("moto_server did not start on {endpoint}");
    }

    pub async fn bucket(&self, name: &str) {
        let r = reqwest::Client::new().put(format!("{}/{name}", self.endpoint)).send().await.unwrap();
        assert!(r.status().is_success(), "create bucket: {}", r.status());
    }

    pub fn env(&self) -> Vec<(&'static str, String)> {
        vec![
            ("AWS_ENDPOINT_URL", self.endpoint.clone()),
            ("AWS_ALLOW_HTTP", "true".into()),
            ("AWS_ACCESS_KEY_ID", "henji-test".into()),
            ("AWS_SECRET_ACCESS_KEY", "henji-test-secret".into()),
            ("AWS_REGION", "us-east-1".into()),
        ]
    }

    pub fn options(&self) -> Vec<(String, String)> {
        self.env().into_iter().map(|(k, v)| (k.to_lowercase(), v)).collect()
    }
}

/// The shared store suite: deduplication, large streamed blobs, create-if-absent under racing
/// writers, manifests.
/// `atomic_large`: the backend completes a conditional copy atomically. Real S3 and the local
/// folder do; moto checks `If-None-Match` on CompleteMultipartUpload but not atomically, so
/// several racers may "win" there (they all write the same bytes under the same name).
async fn store_suite(store: BlobStore, atomic_large: bool) {
    let a = store.put_bytes(Bytes::from_static("同一份文件".as_bytes())).await.unwrap();
    let b = store.put_bytes(Bytes::from_static("同一份文件".as_bytes())).await.unwrap();
    assert_eq!(a.digest, b.digest);
    assert!(!a.deduplicated && b.deduplicated);
    assert_eq!(store.get_bytes(&a.digest).await.unwrap().as_ref(), "同一份文件".as_bytes());

    // Racing writers of the same new bytes: exactly one writes.
    for size in [1000usize, INLINE_LIMIT + 3 * 1024 * 1024] {
        let data = Bytes::from((0..size).map(|i| (i * 7 % 256) as u8).collect::<Vec<_>>());
        let store = Arc::new(store.clone());
        let mut tasks = vec![];
        for _ in 0..8 {
            let (store, data) = (store.clone(), data.clone());
            tasks.push(tokio::spawn(async move {
                let mut w = store.writer();
                for chunk in data.chunks(1024 * 1024) {
                    w.write(Bytes::copy_from_slice(chunk)).await.unwrap();
                }
                w.finish().await.unwrap()
            }));
        }
        let mut writes = 0;
        for t in tasks {
            let stored = t.await.unwrap();
            assert_eq!(stored.digest.to_hex(), sha256_hex(&data));
            writes += usize::from(!stored.deduplicated);
        }
        if size <= INLINE_LIMIT || atomic_large {
            assert_eq!(writes, 1, "size {size}: exactly one writer creates the blob");
        } else {
            assert!(writes >= 1, "size {size}: someone creates the blob");
        }
        let digest = sha256_hex(&data).parse().unwrap();
        assert_eq!(store.get_bytes(&digest).await.unwrap(), data);
    }
    // Staging is left empty.
    use futures::TryStreamExt;
    let staging: Vec<_> = store.list("staging").try_collect().await.unwrap();
    assert!(staging.is_empty(), "{staging:?}");
}

#[tokio::test]
async fn store_suite_on_a_local_folder() {
    let dir = tempfile::tempdir().unwrap();
    let url = url::Url::from_directory_path(dir.path()).unwrap().to_string();
    store_suite(BlobStore::open(&url).unwrap(), true).await;
}

#[tokio::test]
async fn store_suite_on_s3() {
    let moto = Moto::start().await;
    moto.bucket("suite").await;
    let store = BlobStore::open_with("s3://suite/some/prefix", moto.options()).unwrap();
    store.initialise().await.unwrap();
    store_suite(store, false).await;
}

/// The whole service on S3: create, revise, read back, deduplicate, and verify.
#[tokio::test]
async fn the_service_runs_on_s3() {
    let moto = Moto::start().await;
    moto.bucket("henji").await;
    let env = moto.env();
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let temp = tempfile::tempdir().unwrap();
    let s = Server::start_in(temp.path(), &["--store", "s3://henji/archive"], &env).await;
    let admin = s.admin().await;
    let doc = s.create_incoming(&admin, "存储于S3", "internal", "第一稿").await;
    let id = doc["id"].as_str().unwrap();
    let r = s.revise(&admin, id, doc["head_revision"].as_str().unwrap(), "第二稿").await;
    assert_eq!(r.status(), StatusCode::CREATED);
    let rev: Value = r.json().await.unwrap();
    let body = s.req(Method::GET, &format!("/api/v1/documents/{id}/revisions/{}/body", rev["id"].as_str().unwrap()), &admin).send().await.unwrap();
    assert_eq!(body.text().await.unwrap(), "第二稿");
    let again = s.create_incoming(&admin, "同样正文", "internal", "第一稿").await;
    assert_ne!(again["id"], doc["id"]);
    // Nothing landed on the local disk but the catalog.
    assert!(!temp.path().join("objects").exists());
    let store = BlobStore::open_with("s3://henji/archive", moto.options()).unwrap();
    use futures::TryStreamExt;
    let blobs: Vec<_> = store.list("blobs").try_collect().await.unwrap();
    assert_eq!(blobs.len(), 2, "two distinct bodies, the repeated one stored once: {blobs:?}");
    let manifests: Vec<_> = store.list("revisions").try_collect().await.unwrap();
    assert_eq!(manifests.len(), 3);
    let (ok, out) = run_verify(temp.path(), &[&env[..], &[("HENJI_STORE", "s3://henji/archive")]].concat());
    assert!(ok, "{out}");
}
