//! Starts the real `henji` binary on port 0 with a temporary data directory and talks HTTP to it.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use reqwest::{Client, Method, RequestBuilder, Response, StatusCode};
use serde_json::{Value, json};

pub const ADMIN_PASSWORD: &str = "admin-password-1";
pub const PASSWORD: &str = "password-of-tests";

pub struct Server {
    child: Child,
    pub base: String,
    pub data_dir: PathBuf,
    _temp: Option<tempfile::TempDir>,
    pub client: Client,
}

pub fn henji_bin() -> &'static str {
    env!("CARGO_BIN_EXE_henji")
}

impl Server {
    pub async fn start() -> Server {
        let temp = tempfile::tempdir().expect("temp dir");
        let dir = temp.path().to_owned();
        let mut s = Server::start_in(&dir, &[], &[]).await;
        s._temp = Some(temp);
        s
    }

    /// Starts on an existing (or new) data directory with extra arguments and variables.
    pub async fn start_in(dir: &Path, args: &[&str], env: &[(&str, &str)]) -> Server {
        Server::start_with(dir, args, env, Stdio::inherit()).await
    }

    /// As `start_in`, with standard error (the log) sent where the caller says.
    pub async fn start_with(dir: &Path, args: &[&str], env: &[(&str, &str)], stderr: Stdio) -> Server {
        Server::start_wrapped(&[], dir, args, env, stderr).await
    }

    /// As `start_with`, run by `wrapper` (a program and its arguments, e.g. `strace -f …`),
    /// which runs henji and passes its standard output through.
    pub async fn start_wrapped(wrapper: &[&str], dir: &Path, args: &[&str], env: &[(&str, &str)], stderr: Stdio) -> Server {
        let mut cmd = match wrapper.split_first() {
            Some((program, rest)) => {
                let mut cmd = Command::new(program);
                cmd.args(rest).arg(henji_bin());
                cmd
            }
            None => Command::new(henji_bin()),
        };
        cmd.arg("serve").arg("--listen").arg("127.0.0.1:0").arg("--data-dir").arg(dir).args(args);
        cmd.env("HENJI_ADMIN_PASSWORD", ADMIN_PASSWORD).env("RUST_LOG", "warn");
        for (k, v) in env {
            cmd.env(k, v);
        }
        let mut child = cmd.stdout(Stdio::piped()).stderr(stderr).spawn().expect("start henji");
        let stdout = child.stdout.take().expect("stdout");
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if let Some(addr) = line.strip_prefix("listening on ") {
                    let _ = tx.send(addr.to_owned());
                }
            }
        });
        let base = match rx.recv_timeout(Duration::from_secs(60)) {
            Ok(b) => b,
            Err(_) => {
                let _ = child.kill();
                panic!("henji did not print its address within 60 s");
            }
        };
        let client = Client::builder().pool_max_idle_per_host(64).build().expect("client");
        Server { child, base, data_dir: dir.to_owned(), _temp: None, client }
    }

    /// Stops this server and starts another on the same data directory (cold caches).
    pub async fn restart(mut self, env: &[(&str, &str)]) -> Server {
        self.kill9();
        let temp = self._temp.take();
        let mut next = Server::start_in(&self.data_dir, &[], env).await;
        next._temp = temp;
        next
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.base, path)
    }

    pub fn kill9(&mut self) {
        // A wrapper's child first: a killed tracer would leave henji running.
        for pid in children_of(self.child.id()) {
            let _ = Command::new("kill").arg("-KILL").arg(pid.to_string()).status();
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// For a server run by a wrapper: kills henji (SIGKILL) and waits for the wrapper to end
    /// by itself, so that it finishes what it writes (strace's trace).
    pub fn kill9_and_wait_for_wrapper(&mut self) {
        for pid in children_of(self.child.id()) {
            let _ = Command::new("kill").arg("-KILL").arg(pid.to_string()).status();
        }
        let _ = self.child.wait();
    }

    /// Sends SIGTERM and waits for the exit status.
    pub fn terminate(&mut self) -> std::process::ExitStatus {
        let _ = Command::new("kill").arg("-TERM").arg(self.child.id().to_string()).status();
        self.child.wait().expect("wait")
    }

    pub fn req(&self, method: Method, path: &str, token: &str) -> RequestBuilder {
        self.client.request(method, self.url(path)).bearer_auth(token)
    }

    pub async fn login(&self, username: &str, password: &str) -> String {
        let r = self.client.post(self.url("/api/v1/sessions")).json(&json!({"username": username, "password": password})).send().await.unwrap();
        assert_eq!(r.status(), StatusCode::CREATED, "login {username}");
        r.json::<Value>().await.unwrap()["token"].as_str().unwrap().to_owned()
    }

    pub async fn admin(&self) -> String {
        self.login("admin", ADMIN_PASSWORD).await
    }

    pub async fn department(&self, admin: &str, code: &str, name: &str) {
        let r = self.req(Method::POST, "/api/v1/departments", admin).json(&json!({"code": code, "name": name})).send().await.unwrap();
        assert!(r.status() == StatusCode::CREATED || r.status() == StatusCode::CONFLICT, "department {code}: {}", r.status());
    }

    /// The usual start: the administrator's token, and the token of `clerk`, a clerk of 办公室
    /// (BGS) with `clearance`.
    pub async fn office_clerk(&self, clearance: &str) -> (String, String) {
        let admin = self.admin().await;
        self.department(&admin, "BGS", "办公室").await;
        let clerk = self.user(&admin, "clerk", "BGS", &["clerk"], clearance).await;
        (admin, clerk)
    }

    /// Creates a user and returns their token.
    pub async fn user(&self, admin: &str, username: &str, department: &str, roles: &[&str], clearance: &str) -> String {
        let body = json!({"username": username, "display_name": username.to_uppercase(), "password": PASSWORD, "department": department, "roles": roles, "clearance": clearance});
        let r = self.req(Method::POST, "/api/v1/users", admin).json(&body).send().await.unwrap();
        assert_eq!(r.status(), StatusCode::CREATED, "user {username}: {}", r.text().await.unwrap());
        self.login(username, PASSWORD).await
    }

    pub async fn create_incoming(&self, token: &str, title: &str, classification: &str, body: &str) -> Value {
        let r = self
            .req(Method::POST, "/api/v1/documents", token)
            .json(&incoming(title, classification, body))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::CREATED, "create: {}", r.text().await.unwrap());
        r.json().await.unwrap()
    }

    pub async fn revise(&self, token: &str, id: &str, base: &str, body: &str) -> Response {
        self.req(Method::POST, &format!("/api/v1/documents/{id}/revisions"), token)
            .json(&json!({"base_revision": base, "body": {"text": body}}))
            .send()
            .await
            .unwrap()
    }

    /// Runs `henji verify` on this server's data directory.
    pub fn verify(&self) -> (bool, String) {
        run_verify(&self.data_dir, &[])
    }
}

pub fn run_verify(dir: &Path, env: &[(&str, &str)]) -> (bool, String) {
    let mut cmd = Command::new(henji_bin());
    cmd.arg("verify").arg("--data-dir").arg(dir);
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out = cmd.output().expect("run henji verify");
    (out.status.success(), format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr)))
}

impl Drop for Server {
    fn drop(&mut self) {
        self.kill9();
    }
}

/// The processes `pid` started (Linux: /proc/<pid>/task/*/children).
pub fn children_of(pid: u32) -> Vec<u32> {
    let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) else { return vec![] };
    tasks
        .filter_map(Result::ok)
        .filter_map(|t| std::fs::read_to_string(t.path().join("children")).ok())
        .flat_map(|list| list.split_whitespace().filter_map(|p| p.parse().ok()).collect::<Vec<u32>>())
        .collect()
}

pub fn incoming(title: &str, classification: &str, body: &str) -> Value {
    json!({
        "kind": "incoming",
        "title": title,
        "classification": classification,
        "urgency": "urgent",
        "fields": {"来文单位": "市财政局", "来文日期": "2026-11-01", "页数": 3},
        "body": {"text": body},
    })
}

/// Every file below `dir` (for looking at what really is on disk).
pub fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut out = vec![];
    let mut stack = vec![dir.to_owned()];
    while let Some(d) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&d) else { continue };
        for e in entries.flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else {
                out.push(p);
            }
        }
    }
    out.sort();
    out
}

pub fn sha256_hex(bytes: &[u8]) -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(bytes))
}

/// Asserts a problem document with this status, and returns it.
pub async fn expect_problem(r: Response, status: StatusCode) -> Value {
    let got = r.status();
    let ct = r.headers().get("content-type").and_then(|v| v.to_str().ok()).unwrap_or("").to_owned();
    let text = r.text().await.unwrap();
    assert_eq!(got, status, "body: {text}");
    assert!(ct.starts_with("application/problem+json"), "content type {ct}: {text}");
    let v: Value = serde_json::from_str(&text).unwrap();
    for k in ["type", "title", "status", "detail"] {
        assert!(v.get(k).is_some(), "problem lacks {k}: {text}");
    }
    v
}

/// A minimal .docx whose one paragraph holds `xml_text` (already escaped).
pub fn word_document(xml_text: &str) -> Vec<u8> {
    use std::io::Write;
    let mut zip = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    let options = zip::write::SimpleFileOptions::default();
    zip.start_file("[Content_Types].xml", options).unwrap();
    zip.write_all(br#"<?xml version="1.0" encoding="UTF-8"?><Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types"><Default Extension="xml" ContentType="application/xml"/></Types>"#).unwrap();
    zip.start_file("word/document.xml", options).unwrap();
    let xml = format!(r#"<?xml version="1.0" encoding="UTF-8"?><w:document xmlns:w="http://schemas.openxmlformats.org/wordprocessingml/2006/main"><w:body><w:p><w:r><w:t xml:space="preserve">{xml_text}</w:t></w:r></w:p></w:body></w:document>"#);
    zip.write_all(xml.as_bytes()).unwrap();
    zip.finish().unwrap().into_inner()
}

/// A PDF made by hand from its objects (numbered from 1, the first the catalog), with the
/// cross-reference table and trailer worked out.
pub fn pdf_of(objects: &[String]) -> Vec<u8> {
    let mut out = b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n".to_vec();
    let mut offsets = Vec::new();
    for (i, object) in objects.iter().enumerate() {
        offsets.push(out.len());
        out.extend_from_slice(format!("{} 0 obj\n{object}\nendobj\n", i + 1).as_bytes());
    }
    let xref = out.len();
    out.extend_from_slice(format!("xref\n0 {}\n0000000000 65535 f \n", objects.len() + 1).as_bytes());
    for offset in offsets {
        out.extend_from_slice(format!("{offset:010} 00000 n \n").as_bytes());
    }
    out.extend_from_slice(format!("trailer\n<< /Size {} /Root 1 0 R >>\nstartxref\n{xref}\n%%EOF\n", objects.len() + 1).as_bytes());
    out
}
