//! The fuzz targets' checks (`fuzz/src/lib.rs`) over the checked-in seed corpus and every
//! truncation of each seed, so that CI runs them on stable without a fuzzer. A real fuzz
//! run (nightly, `cargo fuzz`) explores further; see `docs/reliability.md`.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code

use std::path::{Path, PathBuf};

#[allow(dead_code, unreachable_pub)]
#[path = "../fuzz/src/lib.rs"]
mod checks;

fn corpus(target: &str) -> Vec<(PathBuf, Vec<u8>)> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../fuzz/corpus")
        .join(target);
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|entry| entry.unwrap().path())
        // Only the checked-in seeds, not what a local fuzz run added beside them.
        .filter(|p| {
            p.is_file()
                && p.file_name()
                    .and_then(|n| n.to_str())
                    .is_some_and(|n| n.starts_with("seed-"))
        })
        .map(|p| {
            let bytes = std::fs::read(&p).unwrap();
            (p, bytes)
        })
        .collect();
    files.sort();
    assert!(
        files.len() >= 10,
        "only {} seeds in {}",
        files.len(),
        dir.display()
    );
    files
}

/// Runs `check` on every seed of `target` and on each of its prefixes (truncated
/// responses), naming the input that failed.
fn run(target: &str, check: fn(&[u8])) -> usize {
    let mut inputs = 0;
    for (path, bytes) in corpus(target) {
        for end in (0..=bytes.len()).rev() {
            let input = &bytes[..end];
            if let Err(panic) = std::panic::catch_unwind(|| check(input)) {
                panic!(
                    "{} truncated to {end} bytes ({:?}) failed: {:?}",
                    path.display(),
                    String::from_utf8_lossy(input),
                    panic
                        .downcast_ref::<String>()
                        .map(String::as_str)
                        .or(panic.downcast_ref::<&str>().copied())
                );
            }
            inputs += 1;
        }
    }
    inputs
}

#[test]
fn token_response_seeds_and_their_truncations() {
    let inputs = run("token_response", checks::token_response);
    assert!(inputs > 500, "{inputs}");
}

#[test]
fn error_body_seeds_and_their_truncations() {
    let inputs = run("error_body", checks::error_body);
    assert!(inputs > 500, "{inputs}");
}
