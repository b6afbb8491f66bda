//! Reading the index's files once when a server has opened it, in the background, so that the
//! first searches after the machine restarts do not each wait for the disk. (A rebuild opens
//! the index too, and replaces these files: it does not preload.)
//!
//! The index is memory-mapped: with its files out of the page cache (after a reboot, or once
//! other work has pushed them out) every search faults its postings in a page at a time.
//! (`madvise(WILLNEED)` does not do this: Linux reads only the first megabytes of a file.)
//!
//! The files are read in the order searches need them (term dictionaries before postings,
//! positions and stored fields last) and only as far as half of the memory the system has
//! available, so that an index larger than memory does not push itself out again.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::time::Instant;

/// How much is read when the system does not say how much memory it has available.
const DEFAULT_BUDGET: u64 = 1 << 30;

/// Reads `files` (paths relative to `dir`) in the background, as many as fit in the budget.
/// Nothing waits for it; a file that is gone by then (merged away) is skipped.
pub fn start(dir: &Path, files: Vec<PathBuf>) {
    let dir = dir.to_path_buf();
    let spawned = std::thread::Builder::new().name("index-preload".into()).spawn(move || {
        let started = Instant::now();
        let budget = memory_available().map_or(DEFAULT_BUDGET, |m| m / 2);
        let sized = files.into_iter().filter_map(|f| Some((std::fs::metadata(dir.join(&f)).ok()?.len(), f))).collect();
        let chosen = plan(sized, budget);
        let (count, bytes) = (chosen.len(), preload(&dir, &chosen));
        tracing::info!(files = count, megabytes = bytes / 1_000_000, seconds = started.elapsed().as_secs_f64(), "search index read into the page cache");
    });
    if let Err(e) = spawned {
        // Only the first searches are slower without it.
        tracing::warn!(error = %e, "search index not preloaded");
    }
}

/// Which files to read, in order: by `rank`, larger segments first, as long as the total stays
/// within `budget` bytes (a file that does not fit is left out, smaller ones after it still
/// count).
fn plan(mut files: Vec<(u64, PathBuf)>, budget: u64) -> Vec<PathBuf> {
    files.sort_by(|(a_size, a), (b_size, b)| rank(a).cmp(&rank(b)).then(b_size.cmp(a_size)).then(a.cmp(b)));
    let mut left = budget;
    files
        .into_iter()
        .filter(|(size, _)| {
            let fits = *size <= left;
            if fits {
                left -= size;
            }
            fits
        })
        .map(|(_, f)| f)
        .collect()
}

/// What every search reads comes first: the term dictionaries, the field norms and the fast
/// fields (filters and facets), then the postings; positions (phrases only) and stored fields
/// (the hits of a page) last.
fn rank(file: &Path) -> u8 {
    match file.extension().and_then(|e| e.to_str()) {
        Some("term") => 0,
        Some("fieldnorm") => 1,
        Some("fast") => 2,
        Some("idx") => 3,
        Some("pos") => 4,
        Some("store") => 5,
        _ => 6,
    }
}

/// Reads each file through a small buffer (the data goes to the page cache, not to this
/// process) and returns the bytes read.
fn preload(dir: &Path, files: &[PathBuf]) -> u64 {
    let mut buffer = vec![0u8; 1 << 20];
    let mut total = 0;
    for file in files {
        let Ok(mut f) = std::fs::File::open(dir.join(file)) else { continue };
        loop {
            match f.read(&mut buffer) {
                Ok(0) | Err(_) => break,
                Ok(n) => total += n as u64,
            }
        }
    }
    total
}

/// `MemAvailable` of `/proc/meminfo`, in bytes (Linux only).
fn memory_available() -> Option<u64> {
    let info = std::fs::read_to_string("/proc/meminfo").ok()?;
    let line = info.lines().find(|l| l.starts_with("MemAvailable:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(s: &str) -> PathBuf {
        PathBuf::from(s)
    }

    #[test]
    fn dictionaries_come_first_and_larger_segments_before_smaller() {
        let files = vec![(50, p("a.pos")), (9, p("b.term")), (40, p("a.idx")), (30, p("a.term")), (5, p("meta.json")), (2, p("a.fast")), (1, p("a.store"))];
        assert_eq!(plan(files, u64::MAX), vec![p("a.term"), p("b.term"), p("a.fast"), p("a.idx"), p("a.pos"), p("a.store"), p("meta.json")]);
    }

    #[test]
    fn a_file_over_the_budget_is_left_out_and_smaller_ones_still_fit() {
        let files = vec![(30, p("a.term")), (40, p("a.idx")), (50, p("a.pos")), (20, p("a.store"))];
        // 30 fits (70 left), 40 fits (30 left), 50 does not, 20 does.
        assert_eq!(plan(files, 100), vec![p("a.term"), p("a.idx"), p("a.store")]);
        assert!(plan(vec![(1, p("a.term"))], 0).is_empty());
    }

    #[test]
    fn preloading_reads_every_byte_of_the_files_that_exist() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("a.term"), vec![7u8; 3 << 20 | 5]).unwrap();
        std::fs::write(dir.path().join("b.idx"), b"postings").unwrap();
        let read = preload(dir.path(), &[p("a.term"), p("gone.pos"), p("b.idx")]);
        assert_eq!(read, (3 << 20 | 5) + 8);
    }

    #[test]
    fn this_machine_says_how_much_memory_it_has() {
        if Path::new("/proc/meminfo").exists() {
            assert!(memory_available().is_some_and(|m| m > 0));
        }
    }
}
