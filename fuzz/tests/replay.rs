//! Replays every target's seed corpus (the fixtures and `fuzz/seeds/<target>/`) and any crash
//! artifacts left by `cargo fuzz` (`fuzz/artifacts/<target>/`) through the target's checks, on
//! stable and without libFuzzer: a regression test for everything the fuzzers ever found.

use std::path::{Path, PathBuf};

fn repository() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// The files directly in `dir` (none when it does not exist), sorted.
fn files(dir: &Path) -> Vec<PathBuf> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut files: Vec<PathBuf> = entries
        .map(|e| e.expect("directory entry").path())
        .filter(|p| p.is_file())
        .collect();
    files.sort();
    files
}

#[test]
fn replay_seeds_and_artifacts() {
    for cutover_fuzz::Target {
        name: target,
        check,
        seeds,
    } in cutover_fuzz::TARGETS
    {
        let artifacts = format!("fuzz/artifacts/{target}");
        let dirs = seeds.iter().copied().chain([artifacts.as_str()]);
        let inputs: Vec<PathBuf> = dirs.flat_map(|d| files(&repository().join(d))).collect();
        assert!(
            inputs.len() >= 2,
            "{target}: only {} seed inputs found",
            inputs.len()
        );
        for input in &inputs {
            let bytes = std::fs::read(input).expect("read input");
            let outcome = std::panic::catch_unwind(|| check(&bytes));
            assert!(
                outcome.is_ok(),
                "{target}: the check failed on {} (run `cargo fuzz run {target} {}` to reproduce)",
                input.display(),
                input.display()
            );
        }
        eprintln!("{target}: {} inputs replayed", inputs.len());
    }
}
