//! What a hold measured: per cycle, the connections opened and answered, the time and CPU it
//! took, and both processes' resident memory before, while held and after closing; per egress
//! address, what the plan put there and what the server's audit saw.

use std::fmt::Write;
use std::net::IpAddr;

use serde::{Deserialize, Serialize};

use crate::open_files::OpenFiles;

/// The result of [`run_hold`](super::run_hold).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct HoldReport {
    /// Connections asked for, in every cycle.
    pub connections: u64,
    /// Users they belong to.
    pub users: u64,
    /// Connections of each user.
    pub per_user: u64,
    /// Whether COMPRESS=DEFLATE was asked for on every connection.
    #[serde(default)]
    pub compress: bool,
    /// The client's open-files limit, as found and as raised.
    pub open_files: OpenFiles,
    /// Client resident bytes before the first connection opened (runtime, TLS client, accounts).
    pub client_baseline_bytes: u64,
    /// Server resident bytes before the first connection (its users loaded).
    pub server_baseline_bytes: u64,
    /// Each open–hold–close cycle, in order.
    pub cycles: Vec<HoldCycle>,
    /// Each egress address: planned and audited.
    pub per_ip: Vec<IpHold>,
    /// The server's audit: most logged-in connections of one user at once.
    pub peak_connections_per_user: u64,
    /// Users the server saw on more than one address (should be none).
    pub users_on_several_ips: Vec<String>,
    /// The audit's violations of the seed's budget (8 per user, 2,000 users per IP).
    pub budget_violations: Vec<String>,
}

/// One cycle: open every connection, hold them idle, then NOOP and LOGOUT each and close.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct HoldCycle {
    /// Connections logged in.
    pub established: u64,
    /// Connections that failed to open.
    pub failed: u64,
    /// Connections with COMPRESS=DEFLATE on.
    #[serde(default)]
    pub compressed: u64,
    /// A few of the failures' messages, distinct.
    pub errors: Vec<String>,
    /// Seconds from the first connect to the last login.
    pub open_s: f64,
    /// Held connections that answered a NOOP after the hold.
    pub answered_after_hold: u64,
    /// Seconds to NOOP, log out and close every connection.
    pub close_s: f64,
    /// Whether the server's descriptors came back to their count before the cycle (it saw every
    /// connection close) before the after-close figures were taken.
    pub server_drained: bool,
    /// Client resident bytes before opening, while held, after closing.
    pub client_rss: Phases,
    /// Server resident bytes before opening, while held, after closing.
    pub server_rss: Phases,
    /// Client CPU seconds (user + system) of the cycle.
    pub client_cpu_s: f64,
    /// Server CPU seconds (user + system) of the cycle.
    pub server_cpu_s: f64,
}

/// A figure before opening, while the connections are held, and after they are closed.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Phases {
    /// Before the cycle opened anything.
    pub before: u64,
    /// Every connection open and idle.
    pub held: u64,
    /// Every connection closed.
    pub after: u64,
}

/// One egress address of a hold.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct IpHold {
    /// The address.
    pub ip: IpAddr,
    /// Users the plan put on it.
    pub users: u64,
    /// Connections the plan opened from it (in each cycle).
    pub connections: u64,
    /// The server's audit: most connections from it at once.
    pub audited_connections: u64,
    /// The server's audit: most users logged in from it at once.
    pub audited_users: u64,
}

impl HoldReport {
    /// Whether every cycle opened every connection (compressed, if asked), all answered after
    /// the hold, and the server's audit saw exactly the plan on every address, each user on one
    /// address, at most `per_user` connections of a user, and no budget violation.
    pub fn all_held(&self) -> bool {
        self.cycles.iter().all(|c| {
            c.established == self.connections
                && c.answered_after_hold == self.connections
                && (!self.compress || c.compressed == self.connections)
        }) && self
            .per_ip
            .iter()
            .all(|ip| ip.audited_connections == ip.connections && ip.audited_users == ip.users)
            && self.users_on_several_ips.is_empty()
            && self.peak_connections_per_user == self.per_user
            && self.budget_violations.is_empty()
    }

    /// Client bytes per idle connection: over the cycles, the most resident memory above the
    /// baseline while held, divided by the connections held.
    pub fn client_bytes_per_connection(&self) -> f64 {
        per_connection(
            self.cycles
                .iter()
                .map(|c| (c.client_rss.held, c.established)),
            self.client_baseline_bytes,
        )
    }

    /// Server bytes per idle connection, measured as for the client.
    pub fn server_bytes_per_connection(&self) -> f64 {
        per_connection(
            self.cycles
                .iter()
                .map(|c| (c.server_rss.held, c.established)),
            self.server_baseline_bytes,
        )
    }

    /// How much the client's resident memory after closing grew from the first cycle to the
    /// last, in bytes (negative when it shrank): near zero when nothing leaks per connection.
    pub fn client_growth_after_first_cycle(&self) -> i64 {
        match (self.cycles.first(), self.cycles.last()) {
            (Some(first), Some(last)) => {
                last.client_rss.after as i64 - first.client_rss.after as i64
            }
            _ => 0,
        }
    }

    /// The report for people: one line per cycle, one per address, then the figures.
    pub fn render(&self) -> String {
        let mib = |b: u64| b as f64 / (1024.0 * 1024.0);
        let mut out = String::new();
        let _ = writeln!(
            out,
            "hold: {} connections = {} users x {} over {} address(es){}; open files {} (was {}, hard {})",
            self.connections,
            self.users,
            self.per_user,
            self.per_ip.len(),
            if self.compress { ", COMPRESS on" } else { "" },
            self.open_files.now,
            self.open_files.before,
            self.open_files.hard
        );
        let _ = writeln!(
            out,
            "{:>5} {:>7} {:>6} {:>8} {:>9} {:>8} {:>22} {:>22} {:>7} {:>7}",
            "cycle",
            "open",
            "failed",
            "open s",
            "conn/s",
            "answered",
            "client MiB b/held/a",
            "server MiB b/held/a",
            "cli cpu",
            "srv cpu"
        );
        for (i, c) in self.cycles.iter().enumerate() {
            let phases = |p: &Phases| {
                format!(
                    "{:.0}/{:.0}/{:.0}",
                    mib(p.before),
                    mib(p.held),
                    mib(p.after)
                )
            };
            let _ = writeln!(
                out,
                "{:>5} {:>7} {:>6} {:>8.1} {:>9.0} {:>8} {:>22} {:>22} {:>7.1} {:>7.1}",
                i + 1,
                c.established,
                c.failed,
                c.open_s,
                c.established as f64 / c.open_s.max(1e-9),
                c.answered_after_hold,
                phases(&c.client_rss),
                phases(&c.server_rss),
                c.client_cpu_s,
                c.server_cpu_s
            );
            for e in &c.errors {
                let _ = writeln!(out, "      error: {e}");
            }
        }
        for ip in &self.per_ip {
            let _ = writeln!(
                out,
                "{:<16} users {:>5} (audited {:>5})  connections {:>6} (audited {:>6})",
                ip.ip.to_string(),
                ip.users,
                ip.audited_users,
                ip.connections,
                ip.audited_connections
            );
        }
        let _ = writeln!(
            out,
            "memory per idle connection: client {:.1} KiB, server {:.1} KiB",
            self.client_bytes_per_connection() / 1024.0,
            self.server_bytes_per_connection() / 1024.0
        );
        let _ = writeln!(
            out,
            "client RSS after close: baseline {:.1} MiB, growth from the first cycle to the last {:+.1} MiB",
            mib(self.client_baseline_bytes),
            self.client_growth_after_first_cycle() as f64 / (1024.0 * 1024.0)
        );
        let _ = writeln!(
            out,
            "audit: peak {} connections per user, {} user(s) on several addresses",
            self.peak_connections_per_user,
            self.users_on_several_ips.len()
        );
        for v in &self.budget_violations {
            let _ = writeln!(out, "budget violation: {v}");
        }
        let _ = writeln!(
            out,
            "all held: {}",
            if self.all_held() { "yes" } else { "NO" }
        );
        out
    }
}

/// The most `(held - baseline) / connections` over `samples` of `(held, connections)`.
fn per_connection(samples: impl Iterator<Item = (u64, u64)>, baseline: u64) -> f64 {
    samples
        .filter(|&(_, n)| n > 0)
        .map(|(held, n)| held.saturating_sub(baseline) as f64 / n as f64)
        .fold(0.0, f64::max)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cycle(held: u64, after: u64) -> HoldCycle {
        HoldCycle {
            established: 100,
            failed: 0,
            compressed: 0,
            errors: Vec::new(),
            open_s: 2.0,
            answered_after_hold: 100,
            close_s: 1.0,
            server_drained: true,
            client_rss: Phases {
                before: 1000,
                held,
                after,
            },
            server_rss: Phases {
                before: 500,
                held: 500 + 100 * 50,
                after: 600,
            },
            client_cpu_s: 1.0,
            server_cpu_s: 1.0,
        }
    }

    fn report() -> HoldReport {
        HoldReport {
            connections: 100,
            users: 25,
            per_user: 4,
            compress: false,
            open_files: OpenFiles {
                before: 1024,
                now: 4096,
                hard: 4096,
            },
            client_baseline_bytes: 1000,
            server_baseline_bytes: 500,
            cycles: vec![cycle(1000 + 100 * 30, 1200), cycle(1000 + 100 * 40, 1150)],
            per_ip: vec![IpHold {
                ip: "127.0.0.2".parse().unwrap(),
                users: 25,
                connections: 100,
                audited_connections: 100,
                audited_users: 25,
            }],
            peak_connections_per_user: 4,
            users_on_several_ips: Vec::new(),
            budget_violations: Vec::new(),
        }
    }

    #[test]
    fn figures_come_from_the_worst_cycle_and_the_first_to_last_growth() {
        let r = report();
        assert_eq!(r.client_bytes_per_connection(), 40.0);
        assert_eq!(r.server_bytes_per_connection(), 50.0);
        assert_eq!(r.client_growth_after_first_cycle(), -50);
        assert!(r.all_held());
        let text = r.render();
        assert!(
            text.contains("all held: yes") && text.contains("127.0.0.2"),
            "{text}"
        );
    }

    #[test]
    fn any_shortfall_or_audit_surprise_is_not_all_held() {
        let mut short = report();
        short.cycles[1].established = 99;
        let mut silent = report();
        silent.cycles[0].answered_after_hold = 98;
        let mut unaudited = report();
        unaudited.per_ip[0].audited_connections = 99;
        let mut wandering = report();
        wandering.users_on_several_ips = vec!["user01@example.com".into()];
        let mut over = report();
        over.peak_connections_per_user = 5;
        let mut uncompressed = report();
        uncompressed.compress = true;
        uncompressed.cycles[0].compressed = 100;
        for r in [short, silent, unaudited, wandering, over, uncompressed] {
            assert!(!r.all_held(), "{r:?}");
            assert!(r.render().contains("all held: NO"));
        }
    }
}
