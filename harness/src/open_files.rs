//! The open-files limit (`RLIMIT_NOFILE`): every socket is a file descriptor, and the usual soft
//! limit of 1,024 stops a process long before the seed's 16,000 connections (2,000 users × 8).
//!
//! An unprivileged process may raise its soft limit up to its hard limit, so the harness does
//! that itself instead of asking for `ulimit -n` or root; children inherit the raised limit.

use rustix::process::{getrlimit, setrlimit, Resource, Rlimit};

/// The limit before and after [`raise_to_hard`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct OpenFiles {
    /// The soft limit found.
    pub before: u64,
    /// The soft limit now in force.
    pub now: u64,
    /// The hard limit: the most an unprivileged process may ask for.
    pub hard: u64,
}

/// Raises this process's soft open-files limit to its hard limit. An unlimited hard limit is
/// reported as `u64::MAX`; the soft limit is then raised to the kernel's `nr_open` (what
/// `setrlimit` accepts) when that is readable, else left as it is.
pub fn raise_to_hard() -> std::io::Result<OpenFiles> {
    let found = getrlimit(Resource::Nofile);
    let before = found.current.unwrap_or(u64::MAX);
    let hard = found.maximum.unwrap_or(u64::MAX);
    let target = match found.maximum {
        Some(hard) => hard,
        None => match nr_open() {
            Some(n) => n,
            None => before,
        },
    };
    if target > before {
        setrlimit(
            Resource::Nofile,
            Rlimit {
                current: Some(target),
                maximum: found.maximum,
            },
        )?;
    }
    let now = getrlimit(Resource::Nofile).current.unwrap_or(u64::MAX);
    Ok(OpenFiles { before, now, hard })
}

/// The kernel's ceiling on a process's descriptors (`/proc/sys/fs/nr_open`), on Linux.
fn nr_open() -> Option<u64> {
    std::fs::read_to_string("/proc/sys/fs/nr_open")
        .ok()?
        .trim()
        .parse()
        .ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_soft_limit_reaches_the_hard_one_and_stays_there() {
        let first = raise_to_hard().unwrap();
        assert!(first.now >= first.before);
        if first.hard != u64::MAX {
            assert_eq!(first.now, first.hard);
        }
        let again = raise_to_hard().unwrap();
        assert_eq!((again.before, again.now), (first.now, first.now));
    }
}
