//! What the benchmarks share: the release `henji` binary on loopback, and wrk.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};

pub const ADMIN_PASSWORD: &str = "bench-admin-password";

pub struct Server {
    child: std::process::Child,
    pub base: String,
    pub dir: tempfile::TempDir,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub fn start_server() -> Server {
    let dir = tempfile::tempdir().unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_henji"))
        .args(["serve", "--listen", "127.0.0.1:0", "--data-dir"])
        .arg(dir.path())
        .env("HENJI_ADMIN_PASSWORD", ADMIN_PASSWORD)
        .env("RUST_LOG", "warn")
        .stdout(Stdio::piped())
        .spawn()
        .expect("start henji");
    let stdout = child.stdout.take().unwrap();
    let mut lines = BufReader::new(stdout).lines();
    let base = loop {
        let line = lines.next().expect("henji exited").unwrap();
        if let Some(b) = line.strip_prefix("listening on ") {
            break b.to_owned();
        }
    };
    std::thread::spawn(move || for _ in lines {});
    Server { child, base, dir }
}

/// Runs wrk against `url` and returns (requests/s, p50 ms, p99 ms).
pub fn wrk(url: &str, token: &str, connections: u32, script: Option<&std::path::Path>, headers: &[&str]) -> Option<(f64, f64, f64)> {
    let mut cmd = Command::new("wrk");
    cmd.args(["-t1", &format!("-c{connections}"), "-d8s", "--latency", "-H", &format!("Authorization: Bearer {token}")]);
    for h in headers {
        cmd.args(["-H", h]);
    }
    if let Some(s) = script {
        cmd.arg("-s").arg(s);
    }
    let out = cmd.arg(url).output().ok()?;
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(!text.contains("Non-2xx"), "wrk saw errors:\n{text}");
    let ms = |label: &str| -> Option<f64> {
        let v = text.lines().find(|l| l.trim_start().starts_with(label))?.split_whitespace().nth(1)?.to_owned();
        if let Some(x) = v.strip_suffix("us") {
            x.parse::<f64>().ok().map(|x| x / 1000.0)
        } else if let Some(x) = v.strip_suffix("ms") {
            x.parse().ok()
        } else {
            v.strip_suffix('s')?.parse::<f64>().ok().map(|x| x * 1000.0)
        }
    };
    let rps: f64 = text.lines().find(|l| l.starts_with("Requests/sec:"))?.split_whitespace().nth(1)?.parse().ok()?;
    Some((rps, ms("50%")?, ms("99%")?))
}

