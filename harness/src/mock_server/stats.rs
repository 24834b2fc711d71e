//! Counters a test or benchmark reads back: connections, commands by name, appends, failed
//! logins.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;

/// A snapshot of a server's counters.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct MockStats {
    /// Connections accepted since start.
    pub connections_total: u64,
    /// Connections open right now.
    pub current_connections: u64,
    /// Most connections open at once.
    pub peak_concurrent_connections: u64,
    /// Commands by upper-cased name (`UID FETCH` for UID commands; unknown names as `UNKNOWN`),
    /// including those refused.
    pub commands: HashMap<String, u64>,
    /// Messages stored by APPEND.
    pub appended_messages: u64,
    /// LOGIN and AUTHENTICATE attempts refused for bad credentials.
    pub logins_failed: u64,
    /// Commands refused by throttling.
    pub throttled_commands: u64,
    /// APPENDs of a message that throttling had refused before (the client's retries).
    pub retries_after_throttle: u64,
    /// The shortest time between a throttled refusal of an APPEND and the next APPEND of the
    /// same message: whether the client waited the backoff the server suggested.
    pub shortest_retry_after_throttle: Option<std::time::Duration>,
    /// Bytes received on the TCP sockets of closed connections (TLS and DEFLATE included).
    pub wire_bytes_in: u64,
    /// Bytes sent on the TCP sockets of closed connections.
    pub wire_bytes_out: u64,
}

/// The live counters behind [`MockStats`].
#[derive(Default)]
pub(crate) struct StatsCollector {
    connections_total: AtomicU64,
    current: AtomicU64,
    peak: AtomicU64,
    commands: Mutex<HashMap<String, u64>>,
    appended: AtomicU64,
    logins_failed: AtomicU64,
    wire_in: AtomicU64,
    wire_out: AtomicU64,
    throttled: AtomicU64,
    /// Per refused APPEND (hash of the command after its tag): when it was refused.
    refused_appends: Mutex<HashMap<u64, std::time::Instant>>,
    retries: AtomicU64,
    shortest_retry: Mutex<Option<std::time::Duration>>,
}

impl StatsCollector {
    /// An APPEND arrived (`key`: a hash of the command after its tag): if throttling refused
    /// the same command before, this is a retry, and its delay is recorded.
    pub(crate) fn append_arrived(&self, key: u64) {
        let refused = self
            .refused_appends
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(&key);
        if let Some(at) = refused {
            let gap = at.elapsed();
            self.retries.fetch_add(1, Ordering::Relaxed);
            let mut shortest = self
                .shortest_retry
                .lock()
                .unwrap_or_else(|e| e.into_inner());
            *shortest = Some(shortest.map_or(gap, |s| s.min(gap)));
        }
    }

    /// Throttling refused the APPEND `key`.
    pub(crate) fn append_throttled(&self, key: u64) {
        self.refused_appends
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(key, std::time::Instant::now());
    }

    /// Counts a new connection; the guard counts it closed when dropped.
    pub(crate) fn connection(self: &std::sync::Arc<Self>) -> ConnectionGuard {
        self.connections_total.fetch_add(1, Ordering::Relaxed);
        let now = self.current.fetch_add(1, Ordering::Relaxed) + 1;
        self.peak.fetch_max(now, Ordering::Relaxed);
        ConnectionGuard(self.clone())
    }

    /// Counts one command.
    pub(crate) fn command(&self, name: &str) {
        let mut map = self.commands.lock().unwrap_or_else(|e| e.into_inner());
        match map.get_mut(name) {
            Some(n) => *n += 1,
            None => {
                map.insert(name.to_string(), 1);
            }
        }
    }

    /// Counts stored messages.
    pub(crate) fn appended(&self, n: u64) {
        self.appended.fetch_add(n, Ordering::Relaxed);
    }

    /// Adds a closed connection's socket bytes.
    pub(crate) fn wire(&self, bytes_in: u64, bytes_out: u64) {
        self.wire_in.fetch_add(bytes_in, Ordering::Relaxed);
        self.wire_out.fetch_add(bytes_out, Ordering::Relaxed);
    }

    /// Counts a command refused by throttling.
    pub(crate) fn throttled(&self) {
        self.throttled.fetch_add(1, Ordering::Relaxed);
    }

    /// Counts a refused login.
    pub(crate) fn login_failed(&self) {
        self.logins_failed.fetch_add(1, Ordering::Relaxed);
    }

    /// A snapshot.
    pub(crate) fn snapshot(&self) -> MockStats {
        MockStats {
            connections_total: self.connections_total.load(Ordering::Relaxed),
            current_connections: self.current.load(Ordering::Relaxed),
            peak_concurrent_connections: self.peak.load(Ordering::Relaxed),
            commands: self
                .commands
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .clone(),
            appended_messages: self.appended.load(Ordering::Relaxed),
            logins_failed: self.logins_failed.load(Ordering::Relaxed),
            throttled_commands: self.throttled.load(Ordering::Relaxed),
            retries_after_throttle: self.retries.load(Ordering::Relaxed),
            shortest_retry_after_throttle: *self
                .shortest_retry
                .lock()
                .unwrap_or_else(|e| e.into_inner()),
            wire_bytes_in: self.wire_in.load(Ordering::Relaxed),
            wire_bytes_out: self.wire_out.load(Ordering::Relaxed),
        }
    }
}

/// Marks a connection open while it lives.
pub(crate) struct ConnectionGuard(std::sync::Arc<StatsCollector>);

impl Drop for ConnectionGuard {
    fn drop(&mut self) {
        self.0.current.fetch_sub(1, Ordering::Relaxed);
    }
}
