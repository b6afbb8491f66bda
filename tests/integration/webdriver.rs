//! A small W3C WebDriver client over the test suite's own HTTP client: it starts Debian's
//! `chromedriver`, which drives a headless Chromium, and speaks the protocol's JSON. Enough for
//! the desk's journeys: load pages, find and click elements, type, upload files, run a script,
//! synthesise pointer strokes and take screenshots.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use base64::Engine;
use reqwest::Client;
use serde_json::{Value, json};

const ELEMENT: &str = "element-6066-11e4-a52e-4f735466cecf";

pub struct Browser {
    driver: Child,
    base: String,
    session: String,
    http: Client,
    _profile: tempfile::TempDir,
}

pub fn chromium_available() -> bool {
    Path::new("/usr/bin/chromium").exists() && Command::new("chromedriver").arg("--version").output().is_ok_and(|o| o.status.success())
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).map(|a| a.port()).expect("a free port")
}

impl Browser {
    /// A new headless Chromium with an empty profile, its window `width` × `height`.
    pub async fn start(width: u32, height: u32) -> Browser {
        let port = free_port();
        let driver = Command::new("chromedriver").arg(format!("--port={port}")).stdout(Stdio::null()).stderr(Stdio::null()).spawn().expect("start chromedriver (apt-get install chromium-driver)");
        let base = format!("http://127.0.0.1:{port}");
        let http = Client::new();
        let started = Instant::now();
        while http.get(format!("{base}/status")).send().await.is_err() {
            assert!(started.elapsed() < Duration::from_secs(20), "chromedriver did not start");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let profile = tempfile::tempdir().expect("profile dir");
        // As root and on a closed network: no sandbox, no background traffic (STACK.md).
        let args = vec![
            "--headless=new".to_owned(),
            "--no-sandbox".into(),
            "--disable-gpu".into(),
            "--disable-quic".into(),
            "--no-first-run".into(),
            "--disable-background-networking".into(),
            "--disable-component-update".into(),
            "--disable-sync".into(),
            "--disable-dev-shm-usage".into(),
            "--lang=zh-CN".into(),
            format!("--window-size={width},{height}"),
            format!("--user-data-dir={}", profile.path().display()),
        ];
        let caps = json!({"capabilities": {"alwaysMatch": {"browserName": "chrome", "goog:chromeOptions": {"binary": "/usr/bin/chromium", "args": args}}}});
        let r: Value = http.post(format!("{base}/session")).json(&caps).send().await.expect("new session").json().await.expect("session json");
        let session = r["value"]["sessionId"].as_str().unwrap_or_else(|| panic!("no session: {r}")).to_owned();
        Browser { driver, base, session, http, _profile: profile }
    }

    async fn call(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> Value {
        let url = format!("{}/session/{}{path}", self.base, self.session);
        let mut req = self.http.request(method, url);
        if let Some(b) = body {
            req = req.json(&b);
        }
        let r: Value = req.send().await.expect("webdriver request").json().await.expect("webdriver json");
        if let Some(err) = r["value"].get("error") {
            panic!("webdriver {path}: {err}: {}", r["value"]["message"]);
        }
        r["value"].clone()
    }

    async fn post(&self, path: &str, body: Value) -> Value {
        self.call(reqwest::Method::POST, path, Some(body)).await
    }

    async fn get(&self, path: &str) -> Value {
        self.call(reqwest::Method::GET, path, None).await
    }

    pub async fn goto(&self, url: &str) {
        self.post("/url", json!({"url": url})).await;
    }

    pub async fn url(&self) -> String {
        self.get("/url").await.as_str().unwrap_or("").to_owned()
    }

    /// The elements matching `css` now (none is not an error).
    pub async fn find_all(&self, css: &str) -> Vec<String> {
        let v = self.post("/elements", json!({"using": "css selector", "value": css})).await;
        v.as_array().map(|a| a.iter().filter_map(|e| e[ELEMENT].as_str().map(str::to_owned)).collect()).unwrap_or_default()
    }

    /// The first element matching `css`, waiting up to ten seconds for it.
    pub async fn find(&self, css: &str) -> String {
        self.wait_for(css, Duration::from_secs(10)).await
    }

    pub async fn wait_for(&self, css: &str, within: Duration) -> String {
        let started = Instant::now();
        loop {
            if let Some(e) = self.find_all(css).await.into_iter().next() {
                return e;
            }
            if started.elapsed() >= within {
                let source = self.get("/source").await;
                self.screenshot(&screenshot_dir().join("failure.png")).await;
                panic!("no element {css:?} on {} within {within:?}; the page (screenshot in target/screenshots/failure.png):\n{}", self.url().await, source.as_str().unwrap_or("").chars().take(3000).collect::<String>());
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    pub async fn click(&self, css: &str) {
        let e = self.find(css).await;
        self.post(&format!("/element/{e}/click"), json!({})).await;
    }

    pub async fn type_into(&self, css: &str, text: &str) {
        let e = self.find(css).await;
        self.post(&format!("/element/{e}/clear"), json!({})).await;
        self.post(&format!("/element/{e}/value"), json!({"text": text})).await;
    }

    /// Chooses a file for an `<input type=file>`.
    pub async fn upload(&self, css: &str, file: &Path) {
        let e = self.find(css).await;
        self.post(&format!("/element/{e}/value"), json!({"text": file.display().to_string()})).await;
    }

    pub async fn text(&self, css: &str) -> String {
        let e = self.find(css).await;
        self.get(&format!("/element/{e}/text")).await.as_str().unwrap_or("").to_owned()
    }

    pub async fn execute(&self, script: &str, args: Value) -> Value {
        self.post("/execute/sync", json!({"script": script, "args": args})).await
    }

    /// Runs a script that answers by calling its last argument (`fetch` and the like).
    pub async fn execute_async(&self, script: &str, args: Value) -> Value {
        self.post("/execute/async", json!({"script": script, "args": args})).await
    }

    /// Waits until `script` returns true.
    pub async fn wait_until(&self, what: &str, script: &str, within: Duration) {
        let started = Instant::now();
        while self.execute(script, json!([])).await != json!(true) {
            assert!(started.elapsed() < within, "{what}: not so within {within:?} on {}", self.url().await);
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Pointer strokes of `kind` (`mouse`, `pen`, `touch`) on the element, each a list of
    /// points relative to its centre.
    pub async fn draw(&self, css: &str, kind: &str, strokes: &[Vec<(i64, i64)>]) {
        let e = self.find(css).await;
        let origin = json!({ELEMENT: e});
        let mut actions = Vec::new();
        for stroke in strokes {
            let Some(((x0, y0), rest)) = stroke.split_first() else { continue };
            actions.push(json!({"type": "pointerMove", "duration": 0, "origin": origin, "x": x0, "y": y0}));
            actions.push(json!({"type": "pointerDown", "button": 0, "pressure": 0.6}));
            for (x, y) in rest {
                actions.push(json!({"type": "pointerMove", "duration": 16, "origin": origin, "x": x, "y": y, "pressure": 0.6}));
            }
            actions.push(json!({"type": "pointerUp", "button": 0}));
        }
        self.post("/actions", json!({"actions": [{"type": "pointer", "id": format!("{kind}-1"), "parameters": {"pointerType": kind}, "actions": actions}]})).await;
        self.call(reqwest::Method::DELETE, "/actions", None).await;
    }

    /// The page printed to PDF on A4 (what the browser's print dialog would make).
    pub async fn print_pdf(&self) -> Vec<u8> {
        let data = self.post("/print", json!({"page": {"width": 21.0, "height": 29.7}, "background": true, "shrinkToFit": false})).await;
        base64::engine::general_purpose::STANDARD.decode(data.as_str().unwrap_or("")).expect("pdf base64")
    }

    /// Saves the window as a PNG at `path`.
    pub async fn screenshot(&self, path: &Path) {
        let data = self.get("/screenshot").await;
        let png = base64::engine::general_purpose::STANDARD.decode(data.as_str().unwrap_or("")).expect("screenshot base64");
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).expect("screenshot dir");
        }
        std::fs::write(path, png).expect("write screenshot");
    }

    /// Signs in through the sign-in page.
    pub async fn sign_in(&self, base: &str, username: &str, password: &str) {
        self.goto(&format!("{base}/")).await;
        self.type_into("input[name=username]", username).await;
        self.type_into("input[name=password]", password).await;
        self.click("form[action='/login'] button[type=submit]").await;
        self.wait_for("header.top .who", Duration::from_secs(10)).await;
    }

}

impl Drop for Browser {
    fn drop(&mut self) {
        // Ending the session quits Chromium; killing the driver alone would orphan it.
        if let Ok(mut s) = std::net::TcpStream::connect(self.base.trim_start_matches("http://")) {
            use std::io::{Read, Write};
            let _ = s.set_read_timeout(Some(Duration::from_secs(10)));
            let _ = write!(s, "DELETE /session/{} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 0\r\nConnection: close\r\n\r\n", self.session);
            let _ = s.read_to_end(&mut Vec::new());
        }
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}

/// Where the journeys' screenshots go, for a person to look at.
pub fn screenshot_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("target").join("screenshots")
}
