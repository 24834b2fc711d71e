//! What one scenario run measured, and its renderings: a table for people, CSV and JSON for
//! tools, ratios against a baseline run, and velocity samples for the capacity planner.

use std::fmt::Write;

use serde::{Deserialize, Serialize};

use crate::planner::VelocitySample;

/// The measurements of one scenario run.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ScenarioResult {
    /// Scenario name.
    pub scenario: String,
    /// Destination server profile.
    pub profile: String,
    /// Round trip to each server, in ms.
    pub rtt_ms: f64,
    /// Link cap to each server, Mbit/s each way (`None`: unlimited).
    pub bandwidth_mbit: Option<f64>,
    /// Mailboxes moved.
    pub mailboxes: u64,
    /// Mailboxes moved at once.
    pub parallel: u64,
    /// Source and destination connections per mailbox.
    pub connections_per_mailbox: u64,
    /// Messages copied.
    pub messages: u64,
    /// Messages that failed (from the report).
    pub failed_messages: u64,
    /// Mail bytes copied.
    pub mail_bytes: u64,
    /// Wall time of the `cutover migrate` process, seconds.
    pub wall_s: f64,
    /// Messages per second.
    pub msgs_per_s: f64,
    /// Megabytes (10^6) of mail per second.
    pub mb_per_s: f64,
    /// Gigabytes (10^9) of mail per hour.
    pub gb_per_h: f64,
    /// Mailboxes per hour at this rate.
    pub mailboxes_per_h: f64,
    /// Bytes on the wire, both servers, both directions (TLS and any DEFLATE included).
    pub wire_bytes: u64,
    /// Wire bytes per mail byte: 2.0 is the floor for a copy without compression (down
    /// from the source, up to the destination).
    pub wire_per_mail_byte: f64,
    /// Client CPU seconds (user + system) per 1,000 messages.
    pub cpu_s_per_1k_msgs: f64,
    /// Peak resident memory of the client, MiB.
    pub peak_rss_mib: f64,
    /// Egress addresses the client's connections were bound to (0: the system's choice).
    #[serde(default)]
    pub egress_ips: u64,
    /// Most connections at once at the source plus most at once at the destination: the
    /// client's peak, or a little over it.
    #[serde(default)]
    pub peak_connections: u64,
    /// Most mailboxes at work at once: users logged in to the source at once, summed over the
    /// client's addresses.
    #[serde(default)]
    pub peak_active_mailboxes: u64,
    /// Peak resident memory of the client moving one mailbox of the same kind, MiB (measured
    /// only where many mailboxes run at once).
    #[serde(default)]
    pub baseline_rss_mib: Option<f64>,
    /// Client memory per active mailbox, KiB: peak RSS above the one-mailbox baseline, over
    /// the other active mailboxes.
    #[serde(default)]
    pub memory_per_active_mailbox_kib: Option<f64>,
    /// Most connections of one user at once, at either server.
    pub peak_connections_per_user: u64,
    /// Most connections from the client's IP at once, at either server.
    pub peak_connections_per_ip: u64,
    /// Most users on the client's IP at once, at either server.
    pub peak_users_per_ip: u64,
    /// Budget violations the servers' audit found (8 per user, 2,000 users per IP).
    pub budget_violations: Vec<String>,
    /// Every source message arrived: per folder, the same SHA-256 body hashes at both ends.
    pub verified: bool,
}

impl ScenarioResult {
    /// The planner's view of this run (see `cutover plan --velocity`). Wall time and messages
    /// per mailbox go with it when every mailbox moved at once, so the planner can fit the
    /// start-up cost too.
    pub fn velocity_sample(&self) -> VelocitySample {
        let all_at_once = self.parallel >= self.mailboxes && self.mailboxes > 0;
        VelocitySample {
            profile: self.profile.clone(),
            rtt_ms: self.rtt_ms,
            bandwidth_mbit: self.bandwidth_mbit,
            mean_message_bytes: if self.messages == 0 {
                0.0
            } else {
                self.mail_bytes as f64 / self.messages as f64
            },
            mailboxes: self.parallel.min(self.mailboxes) as u32,
            connections_per_mailbox: self.connections_per_mailbox as u32,
            msgs_per_s: self.msgs_per_s,
            mb_per_s: self.mb_per_s,
            messages_per_mailbox: all_at_once
                .then(|| (self.messages + self.failed_messages) as f64 / self.mailboxes as f64),
            wall_s: all_at_once.then_some(self.wall_s),
        }
    }
}

/// A fixed-width table, one row per scenario.
pub fn render_table(results: &[ScenarioResult]) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{:<18} {:>7} {:>8} {:>7} {:>7} {:>9} {:>6} {:>8} {:>7} {:>8} {:>6} {:>10} {:>6}",
        "scenario",
        "msgs",
        "msgs/s",
        "MB/s",
        "GB/h",
        "mbox/h",
        "wire",
        "cpu/1k",
        "rss MB",
        "KiB/mbox",
        "conns",
        "peak u/ip",
        "ok"
    );
    for r in results {
        let ok = if !r.verified || r.failed_messages > 0 {
            "FAIL"
        } else if !r.budget_violations.is_empty() {
            "BUDGET"
        } else {
            "yes"
        };
        let _ = writeln!(
            out,
            "{:<18} {:>7} {:>8.0} {:>7.1} {:>7.1} {:>9.0} {:>6.2} {:>8.2} {:>7.0} {:>8} {:>6} {:>10} {:>6}",
            r.scenario,
            r.messages,
            r.msgs_per_s,
            r.mb_per_s,
            r.gb_per_h,
            r.mailboxes_per_h,
            r.wire_per_mail_byte,
            r.cpu_s_per_1k_msgs,
            r.peak_rss_mib,
            r.memory_per_active_mailbox_kib
                .map_or("-".to_string(), |k| format!("{k:.0}")),
            r.peak_connections,
            format!("{}/{}", r.peak_connections_per_user, r.peak_users_per_ip),
            ok
        );
        for v in &r.budget_violations {
            let _ = writeln!(out, "    budget violation: {v}");
        }
    }
    out
}

/// CSV with a header row, one row per scenario (violations joined with `; `).
pub fn render_csv(results: &[ScenarioResult]) -> anyhow::Result<String> {
    let mut w = csv::Writer::from_writer(Vec::new());
    w.write_record([
        "scenario",
        "profile",
        "rtt_ms",
        "bandwidth_mbit",
        "mailboxes",
        "parallel",
        "messages",
        "failed_messages",
        "mail_bytes",
        "wall_s",
        "msgs_per_s",
        "mb_per_s",
        "gb_per_h",
        "mailboxes_per_h",
        "wire_bytes",
        "wire_per_mail_byte",
        "cpu_s_per_1k_msgs",
        "peak_rss_mib",
        "egress_ips",
        "peak_connections",
        "peak_active_mailboxes",
        "baseline_rss_mib",
        "memory_per_active_mailbox_kib",
        "peak_connections_per_user",
        "peak_connections_per_ip",
        "peak_users_per_ip",
        "budget_violations",
        "verified",
    ])?;
    for r in results {
        w.write_record([
            r.scenario.clone(),
            r.profile.clone(),
            format!("{}", r.rtt_ms),
            r.bandwidth_mbit.map(|b| b.to_string()).unwrap_or_default(),
            r.mailboxes.to_string(),
            r.parallel.to_string(),
            r.messages.to_string(),
            r.failed_messages.to_string(),
            r.mail_bytes.to_string(),
            format!("{:.3}", r.wall_s),
            format!("{:.1}", r.msgs_per_s),
            format!("{:.2}", r.mb_per_s),
            format!("{:.2}", r.gb_per_h),
            format!("{:.0}", r.mailboxes_per_h),
            r.wire_bytes.to_string(),
            format!("{:.3}", r.wire_per_mail_byte),
            format!("{:.3}", r.cpu_s_per_1k_msgs),
            format!("{:.1}", r.peak_rss_mib),
            r.egress_ips.to_string(),
            r.peak_connections.to_string(),
            r.peak_active_mailboxes.to_string(),
            r.baseline_rss_mib
                .map(|m| format!("{m:.1}"))
                .unwrap_or_default(),
            r.memory_per_active_mailbox_kib
                .map(|k| format!("{k:.1}"))
                .unwrap_or_default(),
            r.peak_connections_per_user.to_string(),
            r.peak_connections_per_ip.to_string(),
            r.peak_users_per_ip.to_string(),
            r.budget_violations.join("; "),
            r.verified.to_string(),
        ])?;
    }
    Ok(String::from_utf8(w.into_inner()?)?)
}

/// Ratios of `current` to `baseline` for the scenarios both ran: msgs/s (higher is better),
/// CPU per 1,000 messages and peak RSS (lower is better).
pub fn compare(baseline: &[ScenarioResult], current: &[ScenarioResult]) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{:<16} {:>12} {:>12} {:>12}",
        "scenario", "msgs/s ×", "cpu/1k ×", "rss ×"
    );
    let ratio = |now: f64, then: f64| {
        if then > 0.0 {
            format!("{:.2}", now / then)
        } else {
            "-".to_string()
        }
    };
    for r in current {
        match baseline.iter().find(|b| b.scenario == r.scenario) {
            Some(b) => {
                let _ = writeln!(
                    out,
                    "{:<16} {:>12} {:>12} {:>12}",
                    r.scenario,
                    ratio(r.msgs_per_s, b.msgs_per_s),
                    ratio(r.cpu_s_per_1k_msgs, b.cpu_s_per_1k_msgs),
                    ratio(r.peak_rss_mib, b.peak_rss_mib)
                );
            }
            None => {
                let _ = writeln!(out, "{:<16} (not in the baseline)", r.scenario);
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn result(name: &str, msgs_per_s: f64) -> ScenarioResult {
        ScenarioResult {
            scenario: name.into(),
            profile: "dovecot".into(),
            rtt_ms: 0.0,
            bandwidth_mbit: Some(100.0),
            mailboxes: 4,
            parallel: 4,
            connections_per_mailbox: 4,
            messages: 1000,
            failed_messages: 0,
            mail_bytes: 75_000_000,
            wall_s: 1000.0 / msgs_per_s,
            msgs_per_s,
            mb_per_s: 75.0,
            gb_per_h: 270.0,
            mailboxes_per_h: 14_400.0,
            wire_bytes: 151_000_000,
            wire_per_mail_byte: 2.01,
            cpu_s_per_1k_msgs: 0.4,
            peak_rss_mib: 80.0,
            egress_ips: 0,
            peak_connections: 16,
            peak_active_mailboxes: 4,
            baseline_rss_mib: None,
            memory_per_active_mailbox_kib: None,
            peak_connections_per_user: 4,
            peak_connections_per_ip: 16,
            peak_users_per_ip: 4,
            budget_violations: vec![],
            verified: true,
        }
    }

    #[test]
    fn compare_gives_ratios_and_flags_new_scenarios() {
        let text = compare(
            &[result("loopback", 500.0)],
            &[result("loopback", 750.0), result("rtt-50ms", 10.0)],
        );
        assert!(text.contains("loopback") && text.contains("1.50"), "{text}");
        assert!(
            text.contains("rtt-50ms         (not in the baseline)"),
            "{text}"
        );
    }

    #[test]
    fn csv_and_table_carry_every_scenario_and_violations() {
        let mut bad = result("mailboxes-200", 100.0);
        bad.budget_violations = vec!["user u1 had 9 connections at once (budget 8)".into()];
        let rows = [result("loopback", 500.0), bad];
        let csv = render_csv(&rows).unwrap();
        assert_eq!(csv.lines().count(), 3);
        assert!(csv.contains("user u1 had 9 connections"));
        let table = render_table(&rows);
        assert!(table.contains("BUDGET") && table.contains("budget violation: user u1"));
        let sample = rows[0].velocity_sample();
        assert_eq!(sample.mean_message_bytes, 75_000.0);
        let json = serde_json::to_string(&rows[0]).unwrap();
        let back: ScenarioResult = serde_json::from_str(&json).unwrap();
        assert_eq!(back, rows[0]);
    }

    #[test]
    fn results_of_runs_before_the_scale_fields_still_read() {
        let mut old = serde_json::to_value(result("loopback", 500.0)).unwrap();
        for field in [
            "egress_ips",
            "peak_connections",
            "peak_active_mailboxes",
            "baseline_rss_mib",
            "memory_per_active_mailbox_kib",
        ] {
            old.as_object_mut().unwrap().remove(field).unwrap();
        }
        let back: ScenarioResult = serde_json::from_value(old).unwrap();
        assert_eq!(
            (back.peak_connections, back.memory_per_active_mailbox_kib),
            (0, None)
        );
    }
}
