//! Replays every committed fuzz corpus (`fuzz/corpus/<target>/`) through its target's property
//! checks (`ws::fuzzing`, the code the fuzz targets run), so `cargo test` on stable keeps every
//! seed and every crash found passing. A file whose check does not end in time fails as a hang.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::time::Duration;

use ws::fuzzing::TARGETS;

/// Far more than any input needs (the largest takes milliseconds): passing it means a hang.
const HANG: Duration = Duration::from_secs(20);

fn fuzz_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz")
}

/// The sorted file names in `dir` (a missing dir has none).
fn names(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .map(|d| d.map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect())
        .unwrap_or_default();
    names.sort();
    names
}

#[test]
fn every_target_has_a_fuzz_target_and_a_corpus() {
    let checks: Vec<String> = TARGETS.iter().map(|(name, _)| name.to_string()).collect();
    let mut targets: Vec<String> = names(&fuzz_dir().join("fuzz_targets"))
        .iter()
        .filter_map(|n| n.strip_suffix(".rs"))
        .map(String::from)
        .collect();
    targets.sort();
    let mut sorted = checks.clone();
    sorted.sort();
    assert_eq!(targets, sorted, "fuzz/fuzz_targets/*.rs and ws::fuzzing::TARGETS differ");
    assert_eq!(names(&fuzz_dir().join("corpus")), sorted, "fuzz/corpus/* and ws::fuzzing::TARGETS differ");
    let manifest = std::fs::read_to_string(fuzz_dir().join("Cargo.toml")).unwrap();
    for name in &checks {
        assert!(manifest.contains(&format!("name = \"{}\"", name)), "fuzz/Cargo.toml has no [[bin]] {}", name);
    }
}

#[test]
fn corpora_pass_their_checks() {
    let mut failures = Vec::new();
    let mut replayed = 0;
    for &(target, check) in TARGETS {
        let dir = fuzz_dir().join("corpus").join(target);
        let files = names(&dir);
        assert!(!files.is_empty(), "{} has no seeds", dir.display());
        // One thread per corpus reports each file it starts, so a hang names its file.
        let (tx, rx) = mpsc::channel();
        let paths: Vec<PathBuf> = files.iter().map(|f| dir.join(f)).collect();
        std::thread::spawn(move || {
            for path in paths {
                let data = std::fs::read(&path).unwrap();
                tx.send(Some(path.clone())).unwrap();
                if catch_unwind(AssertUnwindSafe(|| check(&data))).is_err() {
                    tx.send(None).unwrap();
                }
            }
        });
        let mut current: Option<PathBuf> = None;
        loop {
            match rx.recv_timeout(HANG) {
                Ok(Some(path)) => {
                    replayed += 1;
                    current = Some(path);
                }
                Ok(None) => failures.push(format!("{}: the check failed", current.as_ref().unwrap().display())),
                Err(mpsc::RecvTimeoutError::Disconnected) => break,
                Err(mpsc::RecvTimeoutError::Timeout) => {
                    // The thread spins on; the test fails now and the process ends with it.
                    panic!("{}: no result in {:?} (hang)", current.unwrap().display(), HANG);
                }
            }
        }
    }
    assert!(failures.is_empty(), "{} of {} corpus files failed:\n{}", failures.len(), replayed, failures.join("\n"));
}
