//! The pieces of shaping that keep state: a byte pacer (the bandwidth cap) and per-user command
//! windows (throttling). The connection loop in `connection.rs` applies them.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::time::Instant;

use super::config::{Bandwidth, Scope};

/// Bytes that may pass at once before pacing starts: a small burst, like a token bucket's depth.
const BURST_BYTES: f64 = 16.0 * 1024.0;
/// The burst is at least this much time's worth of bytes, so the timer's millisecond grain
/// does not slow a fast link (at 1 Gbit/s, 16 KiB is only 0.13 ms).
const BURST_TIME_S: f64 = 0.005;

/// A token bucket kept as a virtual clock: `next` is when the link is free again.
#[derive(Debug)]
pub(crate) struct Pacer {
    seconds_per_byte: f64,
    next: Option<Instant>,
}

impl Pacer {
    fn new(bytes_per_second: u64) -> Self {
        Pacer {
            seconds_per_byte: 1.0 / bytes_per_second.max(1) as f64,
            next: None,
        }
    }

    /// Books `n` bytes at `now`; returns when they may go (never before `now`).
    pub(crate) fn book(&mut self, n: usize, now: Instant) -> Instant {
        let start = self.next.map_or(now, |t| t.max(now));
        let done = start + Duration::from_secs_f64(n as f64 * self.seconds_per_byte);
        self.next = Some(done);
        let burst =
            Duration::from_secs_f64((BURST_BYTES * self.seconds_per_byte).max(BURST_TIME_S));
        done.checked_sub(burst).unwrap_or(now).max(now)
    }
}

/// A pacer that may be shared by every connection (one link) or owned by one.
pub(crate) type SharedPacer = Arc<Mutex<Pacer>>;

/// The up and down pacers of one connection.
#[derive(Clone)]
pub(crate) struct LinkPacers {
    /// Client to server.
    pub(crate) up: SharedPacer,
    /// Server to client.
    pub(crate) down: SharedPacer,
}

impl LinkPacers {
    /// Pacers for `bandwidth`: `server` is reused when the scope is the whole server.
    pub(crate) fn for_connection(bandwidth: &Bandwidth, server: &Option<LinkPacers>) -> Self {
        match (bandwidth.scope, server) {
            (Scope::Server, Some(shared)) => shared.clone(),
            _ => LinkPacers::new(bandwidth.bytes_per_second),
        }
    }

    /// Fresh pacers of `bytes_per_second` each way.
    pub(crate) fn new(bytes_per_second: u64) -> Self {
        LinkPacers {
            up: Arc::new(Mutex::new(Pacer::new(bytes_per_second))),
            down: Arc::new(Mutex::new(Pacer::new(bytes_per_second))),
        }
    }
}

/// Books `n` bytes on `pacer` and waits until they may pass.
pub(crate) async fn pace(pacer: &SharedPacer, n: usize) {
    let at = {
        let mut p = pacer.lock().unwrap_or_else(|e| e.into_inner());
        p.book(n, Instant::now())
    };
    wait_until(at).await;
}

/// Sleeps until `at`, without touching the timer when it has passed (a timer entry costs up to
/// a millisecond tick, which would cap a fast link).
pub(crate) async fn wait_until(at: Instant) {
    if at > Instant::now() {
        tokio::time::sleep_until(at).await;
    }
}

/// Commands per user in the current whole second.
#[derive(Default)]
pub(crate) struct CommandWindows(Mutex<HashMap<String, (u64, u32)>>);

impl CommandWindows {
    /// Counts a command of `user` in second `second`; false when it is over `per_second`.
    pub(crate) fn admit(&self, user: &str, second: u64, per_second: u32) -> bool {
        let mut map = self.0.lock().unwrap_or_else(|e| e.into_inner());
        let entry = map.entry(user.to_string()).or_insert((second, 0));
        if entry.0 != second {
            *entry = (second, 0);
        }
        entry.1 += 1;
        entry.1 <= per_second
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_pacer_holds_the_rate_after_a_burst() {
        let mut p = Pacer::new(1_000_000);
        let t0 = Instant::now();
        // The first 16 KiB go at once.
        assert_eq!(p.book(16 * 1024, t0), t0);
        // 1 MB more takes one second, less the burst allowance.
        let at = p.book(1_000_000, t0);
        let waited = at - t0;
        assert!(
            waited > Duration::from_millis(990) && waited <= Duration::from_millis(1001),
            "{waited:?}"
        );
        // An idle link does not bank credit beyond the burst.
        let later = t0 + Duration::from_secs(10);
        assert_eq!(p.book(1000, later), later);
        let at = p.book(100_000, later);
        assert!(at - later > Duration::from_millis(80), "{:?}", at - later);
    }

    #[test]
    fn windows_refuse_beyond_the_rate_and_reset_each_second() {
        let w = CommandWindows::default();
        assert!((0..3).all(|_| w.admit("a", 5, 3)));
        assert!(!w.admit("a", 5, 3));
        assert!(w.admit("b", 5, 3), "users are counted apart");
        assert!(w.admit("a", 6, 3), "a new second starts afresh");
    }
}
