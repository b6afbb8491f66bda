//! Scans made for the tests and the extraction bench, and how well a text was read: shared by
//! `tests/integration/extraction.rs` and `benches/extraction.rs`.

use std::path::{Path, PathBuf};
use std::process::Command;

use unicode_normalization::UnicodeNormalization;

/// Renders `text` as scanned pages with render_scan.py (Pillow) into `dir/name`: returns the
/// file and the text as printed. `extra` adds `--degrade` or `--pages-of N`.
pub fn render(dir: &Path, font: &str, text: &str, name: &str, extra: &[&str]) -> (PathBuf, String) {
    let source = dir.join(format!("{name}.txt"));
    std::fs::write(&source, text).expect("write the text");
    let path = dir.join(name);
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/support/render_scan.py");
    let out = Command::new("python3").arg(script).arg(font).arg(&source).arg(&path).args(extra).output().expect("python3 (with Pillow) renders the scans");
    assert!(out.status.success(), "render_scan.py: {}", String::from_utf8_lossy(&out.stderr));
    (path, String::from_utf8(out.stdout).expect("UTF-8"))
}

/// Character error rate: edit distance over the reference's length, after NFKC and without
/// whitespace (as STACK.md measures it), with 〔〕 and 【】 one pair (as search holds them).
pub fn cer(reference: &str, read: &str) -> f64 {
    let fold = |c: char| match c {
        '【' => '〔',
        '】' => '〕',
        c => c,
    };
    let norm = |s: &str| -> Vec<char> { s.nfkc().filter(|c| !c.is_whitespace()).map(fold).collect() };
    let (r, h) = (norm(reference), norm(read));
    let mut prev: Vec<usize> = (0..=h.len()).collect();
    for (i, rc) in r.iter().enumerate() {
        let mut cur = vec![i + 1];
        for (j, hc) in h.iter().enumerate() {
            cur.push((prev[j + 1] + 1).min(cur[j] + 1).min(prev[j] + usize::from(rc != hc)));
        }
        prev = cur;
    }
    prev[h.len()] as f64 / r.len().max(1) as f64
}
