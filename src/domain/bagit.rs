//! BagIt (RFC 8493): the tag files of an archive package, and reading them back. A bag is a
//! folder with `bagit.txt`, `bag-info.txt`, `manifest-sha256.txt`, `tagmanifest-sha256.txt`
//! and the payload under `data/`; any BagIt validator checks it without henji.

use std::collections::BTreeMap;

pub const BAGIT_TXT: &str = "BagIt-Version: 1.0\nTag-File-Character-Encoding: UTF-8\n";
pub const MANIFEST: &str = "manifest-sha256.txt";
pub const TAG_MANIFEST: &str = "tagmanifest-sha256.txt";
pub const BAG_INFO: &str = "bag-info.txt";
pub const BAGIT: &str = "bagit.txt";

/// A path as a manifest writes it: `%`, CR and LF percent-encoded (RFC 8493 §2.1.3).
pub fn encode_path(path: &str) -> String {
    path.replace('%', "%25").replace('\r', "%0D").replace('\n', "%0A")
}

fn decode_path(path: &str) -> String {
    path.replace("%0D", "\r").replace("%0d", "\r").replace("%0A", "\n").replace("%0a", "\n").replace("%25", "%")
}

/// `<sha256>  <path>` lines, in the order given.
pub fn manifest(entries: &[(String, String)]) -> String {
    entries.iter().map(|(path, digest)| format!("{digest}  {}\n", encode_path(path))).collect()
}

/// What `bag-info.txt` says about a bag.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BagInfo {
    pub source_organization: String,
    /// YYYY-MM-DD.
    pub bagging_date: String,
    pub payload_bytes: u64,
    pub payload_files: u64,
    /// The archive number.
    pub external_identifier: String,
    /// Further `Label: value` lines (Bag-Group-Identifier, …).
    pub extra: Vec<(String, String)>,
}

impl BagInfo {
    pub fn render(&self) -> String {
        let mut out = String::new();
        let mut line = |k: &str, v: &str| {
            // A value never spans lines here: line breaks in it become spaces.
            let v = v.replace(['\r', '\n'], " ");
            out.push_str(&format!("{k}: {v}\n"));
        };
        line("Source-Organization", &self.source_organization);
        line("Bagging-Date", &self.bagging_date);
        line("Payload-Oxum", &format!("{}.{}", self.payload_bytes, self.payload_files));
        line("External-Identifier", &self.external_identifier);
        for (k, v) in &self.extra {
            line(k, v);
        }
        out
    }
}

/// Why a bag cannot be read.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum BagError {
    #[error("{file}: line {line} is not `<sha256>  <path>`")]
    BadManifestLine { file: String, line: usize },
    #[error("{file}: the path {path:?} leaves the bag")]
    UnsafePath { file: String, path: String },
    #[error("bag-info.txt: {0}")]
    BadInfo(String),
}

/// Reads a manifest into path → digest. Paths must stay inside the bag.
pub fn parse_manifest(file: &str, text: &str) -> Result<BTreeMap<String, String>, BagError> {
    let mut out = BTreeMap::new();
    for (i, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let bad = || BagError::BadManifestLine { file: file.to_owned(), line: i + 1 };
        let (digest, path) = line.split_once(char::is_whitespace).ok_or_else(bad)?;
        let path = decode_path(path.trim_start());
        if digest.len() != 64 || !digest.bytes().all(|b| b.is_ascii_hexdigit()) || path.is_empty() {
            return Err(bad());
        }
        if !is_safe_path(&path) {
            return Err(BagError::UnsafePath { file: file.to_owned(), path });
        }
        out.insert(path, digest.to_ascii_lowercase());
    }
    Ok(out)
}

/// Relative, no `..`, no empty or `.` parts, no backslashes: a path that stays in the bag.
pub fn is_safe_path(path: &str) -> bool {
    !path.starts_with('/') && !path.contains('\\') && !path.contains('\0') && path.split('/').all(|p| !p.is_empty() && p != "." && p != "..")
}

/// Reads `bag-info.txt` labels (continuation lines are joined).
pub fn parse_bag_info(text: &str) -> BTreeMap<String, String> {
    let mut out: BTreeMap<String, String> = BTreeMap::new();
    let mut last: Option<String> = None;
    for line in text.lines() {
        if line.starts_with([' ', '\t']) {
            if let Some(k) = &last
                && let Some(v) = out.get_mut(k)
            {
                v.push(' ');
                v.push_str(line.trim());
            }
            continue;
        }
        if let Some((k, v)) = line.split_once(':') {
            out.insert(k.trim().to_owned(), v.trim().to_owned());
            last = Some(k.trim().to_owned());
        }
    }
    out
}

/// `Payload-Oxum` as (octets, files).
pub fn parse_oxum(value: &str) -> Result<(u64, u64), BagError> {
    let (bytes, files) = value.split_once('.').ok_or_else(|| BagError::BadInfo("Payload-Oxum is not <octets>.<files>".into()))?;
    Ok((bytes.parse().map_err(|_| BagError::BadInfo("Payload-Oxum octets".into()))?, files.parse().map_err(|_| BagError::BadInfo("Payload-Oxum file count".into()))?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn manifests_round_trip_with_awkward_names() {
        let entries = vec![("data/附件 一.txt".to_owned(), "a".repeat(64)), ("data/100%\nsure.txt".to_owned(), "b".repeat(64))];
        let text = manifest(&entries);
        assert!(text.contains("data/100%25%0Asure.txt"));
        let back = parse_manifest("manifest-sha256.txt", &text).unwrap();
        assert_eq!(back.get("data/附件 一.txt").map(String::as_str), Some("a".repeat(64).as_str()));
        assert_eq!(back.get("data/100%\nsure.txt").map(String::as_str), Some("b".repeat(64).as_str()));
    }

    #[test]
    fn paths_that_leave_the_bag_are_refused() {
        let text = format!("{}  data/../../etc/passwd\n", "c".repeat(64));
        assert!(matches!(parse_manifest("m", &text), Err(BagError::UnsafePath { .. })));
        assert!(matches!(parse_manifest("m", "xyz data/a\n"), Err(BagError::BadManifestLine { line: 1, .. })));
        assert!(!is_safe_path("/abs"));
        assert!(is_safe_path("data/a/b.txt"));
    }

    #[test]
    fn bag_info_says_what_the_validator_checks() {
        let info = BagInfo {
            source_organization: "某某公司".into(),
            bagging_date: "2026-11-23".into(),
            payload_bytes: 1234,
            payload_files: 5,
            external_identifier: "X001-2026-Y-BGS-0001".into(),
            extra: vec![],
        };
        let text = info.render();
        let parsed = parse_bag_info(&text);
        assert_eq!(parsed["Payload-Oxum"], "1234.5");
        assert_eq!(parse_oxum(&parsed["Payload-Oxum"]).unwrap(), (1234, 5));
        assert_eq!(parsed["External-Identifier"], "X001-2026-Y-BGS-0001");
    }
}
