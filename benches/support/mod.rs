//! What the benchmarks share: the release `henji` binary on loopback, wrk, and generated
//! Chinese official-document prose.

// Each bench uses part of this module.
#![allow(dead_code)]

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};

pub const ADMIN_PASSWORD: &str = "bench-admin-password";

pub struct Server {
    child: std::process::Child,
    pub base: String,
    /// The server's data directory.
    pub dir: std::path::PathBuf,
    _temporary: Option<tempfile::TempDir>,
}

impl Server {
    /// The server's resident memory now, its peak so far, and the part of it that is its own
    /// (anonymous: heap, caches, buffers) rather than mapped files the kernel can drop (the
    /// search index), in MiB (Linux /proc).
    pub fn memory_mib(&self) -> Option<(f64, f64, f64)> {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id())).ok()?;
        let field = |name: &str| -> Option<f64> { status.lines().find_map(|l| l.strip_prefix(name))?.trim().trim_end_matches("kB").trim().parse::<f64>().ok().map(|k| k / 1024.0) };
        Some((field("VmRSS:")?, field("VmHWM:")?, field("RssAnon:")?))
    }

    /// Waits until the server has used less than 5 % of a core for two seconds (its index
    /// merges done, say), at most `limit`; gives how long that took.
    pub fn wait_until_quiet(&self, limit: std::time::Duration) -> std::time::Duration {
        let cpu_ticks = || -> Option<u64> {
            let stat = std::fs::read_to_string(format!("/proc/{}/stat", self.child.id())).ok()?;
            // Fields after the command name, which is in parentheses and may hold spaces.
            let rest = stat.rsplit_once(')')?.1;
            let fields: Vec<&str> = rest.split_whitespace().collect();
            Some(fields.get(11)?.parse::<u64>().ok()? + fields.get(12)?.parse::<u64>().ok()?)
        };
        let started = std::time::Instant::now();
        let mut before = cpu_ticks();
        while started.elapsed() < limit {
            std::thread::sleep(std::time::Duration::from_secs(2));
            let now = cpu_ticks();
            match (before, now) {
                // Clock ticks are hundredths of a second here: under 10 in 2 s is under 5 %.
                (Some(b), Some(n)) if n - b < 10 => break,
                (None, _) | (_, None) => break,
                _ => before = now,
            }
        }
        started.elapsed()
    }
}

/// The value at fraction `p` of `sorted` (ascending, not empty): 0.5 the median (of an odd
/// count), 0.99 the p99.
pub fn percentile(sorted: &[f64], p: f64) -> f64 {
    sorted[((sorted.len() as f64 * p) as usize).min(sorted.len() - 1)]
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub fn start_server() -> Server {
    let temporary = tempfile::tempdir().unwrap();
    let mut server = start_server_in(temporary.path());
    server._temporary = Some(temporary);
    server
}

/// A server on a temporary data directory, started with `args` besides the usual.
#[allow(dead_code)] // not every bench uses every helper
pub fn start_server_with(args: &[&str]) -> Server {
    let temporary = tempfile::tempdir().unwrap();
    let mut server = start_server_in_with(temporary.path(), args);
    server._temporary = Some(temporary);
    server
}

/// A server on a data directory that outlives it (made if missing).
pub fn start_server_in(dir: &std::path::Path) -> Server {
    start_server_in_with(dir, &[])
}

fn start_server_in_with(dir: &std::path::Path, args: &[&str]) -> Server {
    let mut child = Command::new(env!("CARGO_BIN_EXE_henji"))
        .args(["serve", "--listen", "127.0.0.1:0", "--data-dir"])
        .arg(dir)
        .args(args)
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
    Server { child, base, dir: dir.to_owned(), _temporary: None }
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

/// A small deterministic generator (xorshift64*), so every run diffs the same texts.
pub struct Rng(pub u64);

impl Rng {
    pub fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    pub fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

pub const WORDS: &[&str] = &[
    "关于", "进一步", "加强", "全市", "财政", "预算", "管理", "工作", "的", "通知", "各区", "人民政府", "市政府", "各部门", "各直属机构", "为", "贯彻落实", "有关", "要求", "切实", "做好", "年度", "资金",
    "使用", "监督", "检查", "现", "将", "事项", "如下", "严格", "执行", "制度", "规定", "按照", "程序", "办理", "及时", "报送", "材料", "单位", "负责人", "会议", "研究", "决定", "同意", "2026年", "第三季度",
    "项目", "审核", "落实", "责任", "确保", "安全", "规范", "高效", "运行", "budget", "GB/T 9704",
];
pub const MARKS: &[&str] = &["，", "，", "，", "、", "；", "。"];

/// Chinese prose of about `chars` characters: sentences of words and commas, a paragraph
/// break every few sentences.
pub fn prose(rng: &mut Rng, chars: usize) -> String {
    let mut text = String::new();
    let mut count = 0;
    while count < chars {
        let word = WORDS[rng.below(WORDS.len())];
        text.push_str(word);
        count += word.chars().count();
        if rng.below(4) == 0 {
            let mark = MARKS[rng.below(MARKS.len())];
            text.push_str(mark);
            count += 1;
            if mark == "。" && rng.below(4) == 0 {
                text.push('\n');
                count += 1;
            }
        }
    }
    text
}

/// Signs in over HTTP; the token.
pub async fn sign_in(client: &reqwest::Client, base: &str, username: &str, password: &str) -> String {
    let session: serde_json::Value = client.post(format!("{base}/api/v1/sessions")).json(&serde_json::json!({"username": username, "password": password})).send().await.unwrap().json().await.unwrap();
    session["token"].as_str().unwrap().to_owned()
}

/// 办公室 (BGS) with a clerk (`clerk`) and a leader (`lead`), password `bench-password`, both
/// cleared for internal documents; their tokens.
pub async fn office(client: &reqwest::Client, base: &str) -> (String, String) {
    let admin = sign_in(client, base, "admin", ADMIN_PASSWORD).await;
    client.post(format!("{base}/api/v1/departments")).bearer_auth(&admin).json(&serde_json::json!({"code": "BGS", "name": "办公室"})).send().await.unwrap();
    for (user, role) in [("clerk", "clerk"), ("lead", "leader")] {
        let body = serde_json::json!({"username": user, "display_name": user, "password": "bench-password", "department": "BGS", "roles": [role], "clearance": "internal"});
        let r = client.post(format!("{base}/api/v1/users")).bearer_auth(&admin).json(&body).send().await.unwrap();
        assert!(r.status().is_success(), "user {user}: {}", r.status());
    }
    (sign_in(client, base, "clerk", "bench-password").await, sign_in(client, base, "lead", "bench-password").await)
}
