//! Writes the JSON report atomically: a temporary file next to the target, fsync, rename. A
//! reader (or a crash) sees either the old file or the whole new one, never half a report.

use anyhow::Context;
use cutover_engine::BatchReport;
use std::io::Write;
use std::path::Path;

/// Writes `report` as pretty JSON to `path`, replacing it atomically.
pub fn write_report(path: &Path, report: &BatchReport) -> anyhow::Result<()> {
    let json = serde_json::to_vec_pretty(report).context("cannot serialise the report")?;
    write_atomically(path, &json)
        .with_context(|| format!("cannot write the report {}", path.display()))
}

/// Writes `data` and a final newline to `path` atomically (temp file, fsync, rename).
pub(crate) fn write_atomically(path: &Path, data: &[u8]) -> std::io::Result<()> {
    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    let name = path
        .file_name()
        .ok_or_else(|| std::io::Error::new(std::io::ErrorKind::InvalidInput, "not a file name"))?;
    let tmp = dir.join(format!(
        ".{}.{}.tmp",
        name.to_string_lossy(),
        std::process::id()
    ));
    let result = (|| {
        let mut file = std::fs::File::create(&tmp)?;
        file.write_all(data)?;
        file.write_all(b"\n")?;
        file.sync_all()?;
        std::fs::rename(&tmp, path)?;
        // Make the rename itself durable where the platform allows syncing a directory.
        if let Ok(d) = std::fs::File::open(dir) {
            let _ = d.sync_all();
        }
        Ok(())
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn replaces_the_file_and_leaves_no_temporary() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("run.json");
        std::fs::write(&path, "old").unwrap();
        write_report(&path, &BatchReport::new(Vec::new(), Duration::from_secs(1))).unwrap();
        let value: serde_json::Value =
            serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
        assert_eq!(value["totals"]["mailboxes"], 0);
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
    }

    #[test]
    fn names_the_file_when_it_cannot_write() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("no/such/dir/run.json");
        let err = write_report(&path, &BatchReport::new(Vec::new(), Duration::ZERO)).unwrap_err();
        assert!(format!("{err:#}").contains("run.json"), "{err:#}");
    }
}
