//! Resident memory of a process, read from `/proc`: what a held connection or a running
//! mailbox costs. Linux only.
//!
//! `statm` gives the resident set now (pages); `status` gives its high-water mark (`VmHWM`).

use std::fs;

/// Memory figures of one process, in bytes.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Rss {
    /// The resident set now.
    pub now: u64,
    /// The most it has been since the process started.
    pub peak: u64,
}

/// The resident memory of process `pid`, or of this process with `None`.
pub fn rss(pid: Option<u32>) -> std::io::Result<Rss> {
    let dir = match pid {
        Some(pid) => format!("/proc/{pid}"),
        None => "/proc/self".to_string(),
    };
    let statm = fs::read_to_string(format!("{dir}/statm"))?;
    let status = fs::read_to_string(format!("{dir}/status"))?;
    let bad = |what: &str| std::io::Error::new(std::io::ErrorKind::InvalidData, what.to_string());
    let pages = resident_pages(&statm).ok_or_else(|| bad("unreadable statm"))?;
    let now = pages * rustix::param::page_size() as u64;
    let peak = status_kib(&status, "VmHWM:").ok_or_else(|| bad("no VmHWM in status"))? * 1024;
    Ok(Rss {
        now,
        peak: peak.max(now),
    })
}

/// The number of open file descriptors of `pid` (this process with `None`): a server's open
/// connections, give or take its few files.
pub fn open_descriptors(pid: Option<u32>) -> std::io::Result<usize> {
    let dir = match pid {
        Some(pid) => format!("/proc/{pid}/fd"),
        None => "/proc/self/fd".to_string(),
    };
    Ok(fs::read_dir(dir)?.count())
}

/// The second field of `/proc/PID/statm`: resident pages.
fn resident_pages(statm: &str) -> Option<u64> {
    statm.split_whitespace().nth(1)?.parse().ok()
}

/// A `Name:   123 kB` line of `/proc/PID/status`, in KiB.
fn status_kib(status: &str, name: &str) -> Option<u64> {
    let line = status.lines().find(|l| l.starts_with(name))?;
    line[name.len()..].split_whitespace().next()?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statm_and_status_fields_are_read() {
        assert_eq!(resident_pages("5000 1234 300 10 0 900 0\n"), Some(1234));
        assert_eq!(resident_pages("5000"), None);
        let status = "Name:\tx\nVmPeak:\t  9000 kB\nVmHWM:\t    2048 kB\nVmRSS:\t 1024 kB\n";
        assert_eq!(status_kib(status, "VmHWM:"), Some(2048));
        assert_eq!(status_kib(status, "VmSwap:"), None);
    }

    #[test]
    fn this_process_is_resident_and_has_descriptors() {
        let now = rss(None).unwrap();
        assert!(now.now > 0 && now.peak >= now.now, "{now:?}");
        assert!(open_descriptors(None).unwrap() >= 3);
        assert!(rss(Some(u32::MAX)).is_err(), "no such process");
    }
}
