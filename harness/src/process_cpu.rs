//! CPU time of a process or a process group, read from `/proc`: how much a server spent on a
//! scenario.
//!
//! A group's time is the sum, over its live members, of their own user and system time plus
//! what they have reaped of exited children (`cutime`, `cstime`). A Dovecot master reaps every
//! imap process it forks, so a finished session's CPU stays counted after it exits.

use std::fs;
use std::time::Duration;

/// CPU time (user + system, own + reaped children) of every live process whose process group
/// is `group`. Linux only; elsewhere, or when `/proc` is unreadable, zero.
pub fn group_cpu(group: u32) -> Duration {
    let Ok(entries) = fs::read_dir("/proc") else {
        return Duration::ZERO;
    };
    let ticks: u64 = entries
        .flatten()
        .filter(|e| {
            e.file_name()
                .to_string_lossy()
                .bytes()
                .all(|b| b.is_ascii_digit())
        })
        .filter_map(|e| fs::read_to_string(e.path().join("stat")).ok())
        .filter_map(|stat| parse_stat(&stat))
        .filter(|s| s.pgrp == group)
        .map(|s| s.ticks)
        .sum();
    let per_second = rustix::param::clock_ticks_per_second().max(1);
    Duration::from_nanos(ticks.saturating_mul(1_000_000_000) / per_second)
}

/// CPU time (user + system, own + reaped children) of process `pid`; zero when `/proc` cannot
/// tell (not Linux, or the process is gone).
pub fn process_cpu(pid: u32) -> Duration {
    let ticks = fs::read_to_string(format!("/proc/{pid}/stat"))
        .ok()
        .and_then(|stat| parse_stat(&stat))
        .map_or(0, |s| s.ticks);
    let per_second = rustix::param::clock_ticks_per_second().max(1);
    Duration::from_nanos(ticks.saturating_mul(1_000_000_000) / per_second)
}

/// The fields of `/proc/PID/stat` this module needs.
#[derive(Debug, PartialEq, Eq)]
struct Stat {
    pgrp: u32,
    /// utime + stime + cutime + cstime, in clock ticks.
    ticks: u64,
}

/// Parses `/proc/PID/stat`. The command name (field 2) is in parentheses and may hold spaces
/// and parentheses itself, so fields are counted from the last `)`.
fn parse_stat(stat: &str) -> Option<Stat> {
    let rest = &stat[stat.rfind(')')? + 1..];
    // After the name: state(3) ppid(4) pgrp(5) ... utime(14) stime(15) cutime(16) cstime(17).
    let fields: Vec<&str> = rest.split_ascii_whitespace().collect();
    let field = |n: usize| fields.get(n - 3).copied();
    let pgrp = field(5)?.parse().ok()?;
    let mut ticks = 0u64;
    for n in 14..=17 {
        ticks += field(n)?.parse::<i64>().ok()?.max(0) as u64;
    }
    Some(Stat { pgrp, ticks })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_group_and_all_four_times_past_a_name_with_spaces_and_parentheses() {
        let stat = "4242 (imap (a) b) S 1 4200 4200 0 -1 4194560 500 0 0 0 \
                    11 7 30 5 20 0 1 0 100 1000 200 18446744073709551615";
        assert_eq!(
            parse_stat(stat),
            Some(Stat {
                pgrp: 4200,
                ticks: 11 + 7 + 30 + 5
            })
        );
    }

    #[test]
    fn garbage_is_none() {
        assert_eq!(parse_stat("no parentheses here"), None);
        assert_eq!(parse_stat("1 (x) S 1"), None);
    }

    #[test]
    fn this_process_group_has_spent_some_cpu() {
        // Burn a little CPU so at least one tick is on the books.
        let mut x = 0u64;
        let start = std::time::Instant::now();
        while start.elapsed() < Duration::from_millis(50) {
            x = x.wrapping_mul(6364136223846793005).wrapping_add(1);
        }
        std::hint::black_box(x);
        let group = rustix::process::getpgrp().as_raw_nonzero().get() as u32;
        assert!(group_cpu(group) > Duration::ZERO);
        assert!(process_cpu(std::process::id()) > Duration::ZERO);
    }
}
