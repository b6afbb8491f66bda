//! Tests of the architecture itself: the access layers reach the resources only through the
//! services, permission tests live in the domain alone, and the domain does no I/O.

use std::path::{Path, PathBuf};

fn source(path: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(path)
}

/// Every `.rs` file at or below `path` (none if it does not exist).
fn rust_files(path: &Path) -> Vec<PathBuf> {
    if !path.exists() {
        return vec![];
    }
    if path.is_file() {
        return vec![path.to_owned()];
    }
    let mut out = Vec::new();
    for entry in std::fs::read_dir(path).unwrap_or_else(|e| panic!("{}: {e}", path.display())).flatten() {
        let p = entry.path();
        if p.is_dir() {
            out.extend(rust_files(&p));
        } else if p.extension().is_some_and(|e| e == "rs") {
            out.push(p);
        }
    }
    out
}

/// `(file, line number, line)` for every line of the files below `paths` containing `needle`,
/// comments aside.
fn lines_naming(paths: &[&str], needle: &str) -> Vec<String> {
    let mut found = Vec::new();
    let files: Vec<PathBuf> = paths.iter().flat_map(|p| rust_files(&source(p))).collect();
    assert!(files.len() > 10, "the source files were not found");
    for file in files {
        {
            let text = std::fs::read_to_string(&file).unwrap_or_default();
            for (i, line) in text.lines().enumerate() {
                let code = line.split("//").next().unwrap_or("");
                if code.contains(needle) {
                    found.push(format!("{}:{}: {}", file.display(), i + 1, line.trim()));
                }
            }
        }
    }
    found
}

/// The access layers that must go through the services.
const ACCESS: &[&str] = &["src/http", "src/web", "src/cli.rs", "src/main.rs"];

#[test]
fn access_layers_reach_resources_only_through_services() {
    let found = lines_naming(ACCESS, "resources::");
    assert!(found.is_empty(), "the access layers name resources directly:\n{}", found.join("\n"));
}

#[test]
fn permissions_are_decided_in_the_domain_alone() {
    let outside: Vec<&str> = vec!["src/http", "src/web", "src/cli.rs", "src/services", "src/resources", "src/lib.rs"];
    for needle in [".is_admin()", ".has_role(", ".clearance <", ".clearance >", "clearance.rank()"] {
        let found: Vec<String> = lines_naming(&outside, needle).into_iter().filter(|l| !l.contains("ReadScope") && !l.contains("scope.clearance")).collect();
        assert!(found.is_empty(), "a role or clearance test outside src/domain ({needle}):\n{}", found.join("\n"));
    }
}

#[test]
fn the_domain_does_no_io() {
    for needle in ["tokio::", "sqlx::", "std::fs", "object_store", "tantivy", "reqwest"] {
        let found = lines_naming(&["src/domain"], needle);
        assert!(found.is_empty(), "the domain does I/O ({needle}):\n{}", found.join("\n"));
    }
}
