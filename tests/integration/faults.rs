//! Faults of the machine, reached for real: the object store unreachable (an S3 server behind a
//! proxy that is cut), the disk full (a small tmpfs), the catalog locked by another program.
//! Each gives a clear 503 or 507, leaves no partial document, and full service once it is gone.

use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use reqwest::multipart::{Form, Part};
use reqwest::{Method, StatusCode};
use serde_json::Value;
use tokio::io::AsyncBufReadExt;

use crate::common::*;
use crate::s3::Moto;

/// A TCP proxy on 127.0.0.1 to `upstream` that can be cut (every connection dropped, new ones
/// refused) and mended.
struct Proxy {
    addr: std::net::SocketAddr,
    cut: Arc<AtomicBool>,
    connections: Arc<std::sync::Mutex<Vec<tokio::task::JoinHandle<()>>>>,
}

impl Proxy {
    async fn start(upstream: String) -> Proxy {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let cut = Arc::new(AtomicBool::new(false));
        let connections: Arc<std::sync::Mutex<Vec<tokio::task::JoinHandle<()>>>> = Arc::default();
        let (c, conns) = (cut.clone(), connections.clone());
        tokio::spawn(async move {
            while let Ok((mut client, _)) = listener.accept().await {
                if c.load(Ordering::SeqCst) {
                    continue;
                }
                let upstream = upstream.clone();
                conns.lock().unwrap().push(tokio::spawn(async move {
                    if let Ok(mut server) = tokio::net::TcpStream::connect(&upstream).await {
                        let _ = tokio::io::copy_bidirectional(&mut client, &mut server).await;
                    }
                }));
            }
        });
        Proxy { addr, cut, connections }
    }

    fn cut(&self) {
        self.cut.store(true, Ordering::SeqCst);
        for c in self.connections.lock().unwrap().drain(..) {
            c.abort();
        }
    }

    fn mend(&self) {
        self.cut.store(false, Ordering::SeqCst);
    }
}

async fn document_count(s: &Server, token: &str) -> usize {
    let v: Value = s.req(Method::GET, "/api/v1/documents?limit=200", token).send().await.unwrap().json().await.unwrap();
    v["items"].as_array().unwrap().len()
}

// Several threads: the proxy's tasks run while the server starts (which blocks a thread).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unreachable_object_store_gives_503_then_full_service() {
    let moto = Moto::start().await;
    moto.bucket("faulty").await;
    let proxy = Proxy::start(moto.endpoint.trim_start_matches("http://").to_owned()).await;
    let mut env = moto.env();
    env.retain(|(k, _)| *k != "AWS_ENDPOINT_URL");
    env.push(("AWS_ENDPOINT_URL", format!("http://{}", proxy.addr)));
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let temp = tempfile::tempdir().unwrap();
    let s = Server::start_in(temp.path(), &["--store", "s3://faulty/henji"], &env).await;
    let (_, clerk) = s.office_clerk("internal").await;
    let before = s.create_incoming(&clerk, "故障之前", "internal", "存储正常时登记").await;

    proxy.cut();
    let started = Instant::now();
    let r = s.req(Method::POST, "/api/v1/documents", &clerk).json(&incoming("故障之中", "internal", "存储断开时登记")).send().await.unwrap();
    let problem = expect_problem(r, StatusCode::SERVICE_UNAVAILABLE).await;
    assert_eq!(problem["type"], "/problems/storage-unavailable", "{problem}");
    assert!(started.elapsed() < Duration::from_secs(30), "the 503 took {:?}", started.elapsed());
    let health = s.client.get(s.url("/healthz")).send().await.unwrap();
    assert_eq!(health.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(health.json::<Value>().await.unwrap()["store"], "unreachable");
    assert_eq!(document_count(&s, &clerk).await, 1, "no partial document");

    proxy.mend();
    s.create_incoming(&clerk, "故障之后", "internal", "存储恢复后登记").await;
    let (id, head) = (before["id"].as_str().unwrap(), before["head_revision"].as_str().unwrap());
    let body = s.req(Method::GET, &format!("/api/v1/documents/{id}/revisions/{head}/body"), &clerk).send().await.unwrap().text().await.unwrap();
    assert_eq!(body, "存储正常时登记");
    assert_eq!(document_count(&s, &clerk).await, 2);
    let (ok, out) = run_verify(temp.path(), &[&env[..], &[("HENJI_STORE", "s3://faulty/henji")]].concat());
    assert!(ok, "{out}");
}

/// Mounts a tmpfs of `mib` MiB at `dir` (root, or the capability to mount, as in CI).
fn mount_tmpfs(dir: &std::path::Path, mib: u64, remount: bool) {
    let options = if remount { format!("remount,size={mib}m") } else { format!("size={mib}m") };
    let out = Command::new("mount").args(["-t", "tmpfs", "-o", &options, "tmpfs"]).arg(dir).output().expect("mount");
    assert!(out.status.success(), "this test mounts a small tmpfs to fill, which needs root: {}", String::from_utf8_lossy(&out.stderr));
}

struct Unmount(std::path::PathBuf);

impl Drop for Unmount {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.0).status();
    }
}

#[tokio::test]
async fn a_full_disk_gives_507_and_keeps_nothing_of_the_request() {
    let temp = tempfile::tempdir().unwrap();
    let disk = temp.path().join("disk");
    std::fs::create_dir(&disk).unwrap();
    mount_tmpfs(&disk, 40, false);
    let _unmount = Unmount(disk.clone());
    let data = disk.join("data");
    let mut s = Server::start_in(&data, &["--fixity-interval", "0"], &[]).await;
    let (_, clerk) = s.office_clerk("internal").await;
    s.create_incoming(&clerk, "满盘之前", "internal", "正常登记").await;

    let upload = |n: u8| {
        let meta = incoming("满盘扫描件", "internal", "见附件").to_string();
        Form::new()
            .part("meta", Part::text(meta).mime_str("application/json").unwrap())
            .part("attachment", Part::bytes(vec![n; 48 << 20]).file_name("scan.bin").mime_str("application/octet-stream").unwrap())
    };
    let r = s.req(Method::POST, "/api/v1/documents", &clerk).multipart(upload(1)).send().await.unwrap();
    let problem = expect_problem(r, StatusCode::INSUFFICIENT_STORAGE).await;
    assert_eq!(problem["type"], "/problems/storage-full", "{problem}");
    assert_eq!(document_count(&s, &clerk).await, 1, "no partial document");
    let leftovers: Vec<_> = files_under(&data.join("objects")).into_iter().filter(|p| std::fs::metadata(p).map(|m| m.len() > 1 << 20).unwrap_or(false)).collect();
    assert!(leftovers.is_empty(), "parts of the refused upload stay behind: {leftovers:?}");

    // Room again: the same upload goes through, and the installation verifies.
    mount_tmpfs(&disk, 256, true);
    let r = s.req(Method::POST, "/api/v1/documents", &clerk).multipart(upload(1)).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::CREATED, "{}", r.text().await.unwrap());
    assert_eq!(document_count(&s, &clerk).await, 2);
    s.kill9();
    let (ok, out) = run_verify(&data, &[]);
    assert!(ok, "{out}");
}

#[tokio::test]
async fn a_catalog_locked_by_another_program_gives_503_then_full_service() {
    let temp = tempfile::tempdir().unwrap();
    let s = Server::start_in(temp.path(), &["--fixity-interval", "0"], &[]).await;
    let (_, clerk) = s.office_clerk("internal").await;
    s.create_incoming(&clerk, "上锁之前", "internal", "正常登记").await;

    // Another program takes the catalog's write lock and holds it past the 10 s busy timeout.
    let script = "import sqlite3, sys, time\nc = sqlite3.connect(sys.argv[1], isolation_level=None)\nc.execute('BEGIN EXCLUSIVE')\nprint('locked', flush=True)\ntime.sleep(14)\nc.execute('ROLLBACK')\n";
    let mut locker = tokio::process::Command::new("python3").arg("-c").arg(script).arg(temp.path().join("catalog.db")).stdout(Stdio::piped()).spawn().unwrap();
    let mut lines = tokio::io::BufReader::new(locker.stdout.take().unwrap()).lines();
    assert_eq!(lines.next_line().await.unwrap().as_deref(), Some("locked"));
    let r = s.req(Method::POST, "/api/v1/documents", &clerk).json(&incoming("上锁之中", "internal", "被锁时登记")).send().await.unwrap();
    let problem = expect_problem(r, StatusCode::SERVICE_UNAVAILABLE).await;
    assert!(problem["detail"].as_str().unwrap().contains("locked by another program"), "{problem}");
    // Reads go on meanwhile (the log lets readers past a writer).
    assert_eq!(document_count(&s, &clerk).await, 1, "no partial document");

    assert!(locker.wait().await.unwrap().success());
    s.create_incoming(&clerk, "上锁之后", "internal", "解锁后登记").await;
    assert_eq!(document_count(&s, &clerk).await, 2);
    let (ok, out) = s.verify();
    assert!(ok, "{out}");
}
