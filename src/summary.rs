//! The end-of-run summary on stdout: a velocity table, one row per mailbox and a totals row, then
//! the mailboxes that stopped and the messages that were skipped (the first few; the JSON report
//! has them all). Pure formatting: it takes the report and returns text.

use cutover_engine::report::{Filtered, MailboxOutcome, MailboxReport};
use cutover_engine::BatchReport;
use std::fmt::Write;
use std::path::Path;

/// How many skipped messages the summary lists before pointing at the report.
pub const FAILURES_SHOWN: usize = 20;

/// A mailbox's state in one word.
fn state(m: &MailboxReport) -> &'static str {
    match (&m.outcome, m.failures.is_empty()) {
        (MailboxOutcome::Failed(_), _) => "failed",
        (MailboxOutcome::Stopped(_), _) => "stopped",
        (MailboxOutcome::Completed, true) => "completed",
        (MailboxOutcome::Completed, false) => "partial",
    }
}

fn per_sec(amount: f64, secs: f64) -> f64 {
    if secs > 0.0 {
        amount / secs
    } else {
        0.0
    }
}

/// The summary of `report`; `report_path` is where the full JSON report was written, if anywhere.
pub fn render(report: &BatchReport, report_path: Option<&Path>) -> String {
    let header = [
        "mailbox", "state", "messages", "MB", "failures", "msgs/s", "MB/s", "GB/h",
    ];
    let mut rows: Vec<[String; 8]> = Vec::with_capacity(report.mailboxes.len() + 1);
    for m in &report.mailboxes {
        let secs = m.elapsed.as_secs_f64();
        let mb = m.copied_bytes as f64 / 1e6;
        rows.push([
            m.mailbox.clone(),
            state(m).to_string(),
            m.copied_messages.to_string(),
            format!("{mb:.1}"),
            m.failures.len().to_string(),
            format!("{:.1}", per_sec(m.copied_messages as f64, secs)),
            format!("{:.2}", per_sec(mb, secs)),
            format!("{:.2}", per_sec(mb, secs) * 3600.0 / 1000.0),
        ]);
    }
    let t = &report.totals;
    let ok = t.mailboxes - t.mailboxes_failed - t.mailboxes_stopped;
    rows.push([
        "total".to_string(),
        format!("{ok}/{} ok", t.mailboxes),
        t.messages.to_string(),
        format!("{:.1}", t.bytes as f64 / 1e6),
        t.failed_messages.to_string(),
        format!("{:.1}", t.msgs_per_sec),
        format!("{:.2}", t.mb_per_sec),
        format!("{:.2}", t.gb_per_hour),
    ]);

    let mut widths = header.map(str::len);
    for row in &rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let mut out = String::new();
    let line = |out: &mut String, cells: &[&str]| {
        let mut text = String::new();
        for (i, cell) in cells.iter().enumerate() {
            if i > 0 {
                text.push_str("  ");
            }
            let pad = widths[i].saturating_sub(cell.chars().count());
            if i < 2 {
                text.push_str(cell);
                text.extend(std::iter::repeat_n(' ', pad));
            } else {
                text.extend(std::iter::repeat_n(' ', pad));
                text.push_str(cell);
            }
        }
        out.push_str(text.trim_end());
        out.push('\n');
    };
    line(&mut out, &header);
    let rule: Vec<String> = widths.iter().map(|w| "-".repeat(*w)).collect();
    let count = rows.len();
    for (i, row) in rows.iter().enumerate() {
        if i + 1 == count {
            line(
                &mut out,
                &rule.iter().map(String::as_str).collect::<Vec<_>>(),
            );
        }
        line(
            &mut out,
            &row.iter().map(String::as_str).collect::<Vec<_>>(),
        );
    }
    let _ = writeln!(out, "elapsed {:.1}s", report.elapsed.as_secs_f64());
    if t.filtered_messages > 0 {
        let mut sum = Filtered::default();
        report.mailboxes.iter().for_each(|m| sum.add(&m.filtered));
        let reasons: Vec<String> = [
            (sum.outside_dates, "outside the date range"),
            (sum.too_large, "over --max-message-size"),
            (sum.deleted, "flagged \\Deleted"),
        ]
        .iter()
        .filter(|(n, _)| *n > 0)
        .map(|(n, why)| format!("{n} {why}"))
        .collect();
        let _ = writeln!(
            out,
            "left out by the filters, as asked: {} messages ({})",
            t.filtered_messages,
            reasons.join(", ")
        );
    }

    for m in &report.mailboxes {
        for w in &m.warnings {
            let _ = writeln!(out, "warning: {}: {w}", m.mailbox);
        }
    }
    let adopted: u64 = report.mailboxes.iter().map(|m| m.adopted).sum();
    if adopted > 0 {
        let _ = writeln!(
            out,
            "adopted: {adopted} messages were at the destination already and were not copied again"
        );
    }
    let passes: Vec<_> = report
        .mailboxes
        .iter()
        .filter_map(|m| m.incremental.map(|i| (m, i)))
        .collect();
    if !passes.is_empty() {
        let _ = writeln!(
            out,
            "\nincremental passes (already there from earlier runs):"
        );
        for (m, i) in passes {
            let mut line = format!(
                "  {}: {} new, {} already there, {} with changed flags updated",
                m.mailbox, i.new_messages, i.already_there, i.flags_updated
            );
            if i.flags_without_destination_uid > 0 {
                line.push_str(&format!(
                    ", {} not (no destination UID)",
                    i.flags_without_destination_uid
                ));
            }
            if i.recreated_destination_folders > 0 {
                line.push_str(&format!(
                    "; {} destination folder(s) recreated: {} messages found again, {} copied again",
                    i.recreated_destination_folders, i.found_again_at_destination, i.lost_at_destination
                ));
            }
            if i.moved_by_the_folder_map > 0 {
                line.push_str(&format!(
                    "; {} copied to the folders the changed folder map names (see the warnings)",
                    i.moved_by_the_folder_map
                ));
            }
            let _ = writeln!(out, "{line}");
        }
    }

    let stopped: Vec<_> = report
        .mailboxes
        .iter()
        .filter_map(|m| match &m.outcome {
            MailboxOutcome::Failed(reason) | MailboxOutcome::Stopped(reason) => Some((m, reason)),
            MailboxOutcome::Completed => None,
        })
        .collect();
    if !stopped.is_empty() {
        let _ = writeln!(out, "\nmailboxes that stopped ({}):", stopped.len());
        for (m, reason) in stopped {
            let _ = writeln!(out, "  {}: {reason}", m.mailbox);
            if let Some(left) = &m.left {
                let since = match &left.oldest_copied {
                    Some(date) => format!(", all received before {date}"),
                    None => String::new(),
                };
                let _ = writeln!(
                    out,
                    "    left at the source: {} messages, {:.1} MB{since}",
                    left.messages,
                    left.bytes as f64 / 1e6
                );
            }
        }
    }

    let total_failures: usize = report.mailboxes.iter().map(|m| m.failures.len()).sum();
    if total_failures > 0 {
        let _ = writeln!(out, "\nmessages not copied ({total_failures}):");
        let listed = report
            .mailboxes
            .iter()
            .flat_map(|m| m.failures.iter().map(move |f| (m, f)))
            .take(FAILURES_SHOWN);
        for (m, f) in listed {
            let _ = writeln!(
                out,
                "  {}  {}  uid {}  {} bytes: {}",
                m.mailbox, f.folder, f.uid, f.size, f.reason
            );
        }
        if total_failures > FAILURES_SHOWN {
            let more = total_failures - FAILURES_SHOWN;
            let _ = match report_path {
                Some(path) => writeln!(out, "  ... {more} more in the report {}", path.display()),
                None => writeln!(out, "  ... {more} more in the report (--report FILE.json)"),
            };
        }
    }
    // Egress addresses given: how full each one got (its load over time is in the report).
    if report.egress_peaks.iter().any(|p| p.egress.is_some()) {
        let _ = writeln!(out, "\negress peaks (users, connections at once):");
        for p in &report.egress_peaks {
            let ip = p.egress.map_or("system".to_string(), |ip| ip.to_string());
            let _ = writeln!(
                out,
                "  {ip}  {} users  {} connections",
                p.users, p.connections
            );
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use cutover_engine::report::MessageFailure;
    use std::time::Duration;

    fn mailbox(name: &str, messages: u64, bytes: u64, failures: usize) -> MailboxReport {
        let mut m = MailboxReport::failed(name, String::new(), Duration::from_secs(2));
        m.outcome = MailboxOutcome::Completed;
        m.copied_messages = messages;
        m.copied_bytes = bytes;
        m.failures = (0..failures)
            .map(|i| MessageFailure {
                folder: "INBOX".into(),
                uid: i as u32 + 1,
                size: 100,
                reason: "too large".into(),
            })
            .collect();
        m
    }

    #[test]
    fn egress_peaks_are_listed_only_when_addresses_were_given() {
        use cutover_engine::budget::EgressPeak;
        let mut report = BatchReport::new(vec![mailbox("joe", 1, 1, 0)], Duration::from_secs(1));
        report.egress_peaks = vec![EgressPeak {
            egress: None,
            users: 1,
            connections: 8,
        }];
        assert!(!render(&report, None).contains("egress peaks"));
        report.egress_peaks = vec![EgressPeak {
            egress: Some("127.0.0.2".parse().unwrap()),
            users: 3,
            connections: 10,
        }];
        let text = render(&report, None);
        assert!(
            text.contains("egress peaks") && text.contains("  127.0.0.2  3 users  10 connections"),
            "{text}"
        );
    }

    #[test]
    fn table_has_a_row_per_mailbox_and_totals() {
        let report = BatchReport::new(
            vec![
                mailbox("joe@a.com", 1000, 50_000_000, 0),
                MailboxReport::failed("ann@a.com", "login rejected".into(), Duration::from_secs(1)),
            ],
            Duration::from_secs(4),
        );
        let text = render(&report, None);
        let lines: Vec<&str> = text.lines().collect();
        assert!(lines[0].starts_with("mailbox"), "{text}");
        // joe: 50 MB in 2 s: 25 MB/s, 90 GB/h.
        assert!(
            lines[1].starts_with("joe@a.com  completed")
                && lines[1].contains("500.0")
                && lines[1].ends_with("90.00"),
            "{text}"
        );
        assert!(lines[2].starts_with("ann@a.com  failed"), "{text}");
        assert!(
            lines[4].starts_with("total") && lines[4].contains("1/2 ok"),
            "{text}"
        );
        // 50 MB in 4 s: 12.5 MB/s, 45 GB/h.
        assert!(
            lines[4].contains("12.50") && lines[4].ends_with("45.00"),
            "{text}"
        );
        assert!(
            text.contains("mailboxes that stopped (1):\n  ann@a.com: login rejected"),
            "{text}"
        );
    }

    #[test]
    fn filtered_messages_are_counted_apart_from_failures() {
        let mut m = mailbox("joe", 10, 1000, 0);
        m.filtered = Filtered {
            outside_dates: 7,
            too_large: 0,
            deleted: 2,
        };
        let report = BatchReport::new(vec![m], Duration::from_secs(1));
        let text = render(&report, None);
        assert!(
            text.contains("left out by the filters, as asked: 9 messages (7 outside the date range, 2 flagged \\Deleted)"),
            "{text}"
        );
        assert!(
            text.contains("completed") && !text.contains("not copied"),
            "{text}"
        );
    }

    #[test]
    fn a_stopped_mailbox_says_why_and_what_is_left() {
        let mut m = mailbox("ann", 14, 56_000, 0);
        m.outcome = MailboxOutcome::Stopped("destination full: Quota exceeded".into());
        m.left = Some(cutover_engine::report::LeftBehind {
            messages: 16,
            bytes: 64_000,
            oldest_copied: Some("2024-01-17T12:00:00+00:00".into()),
        });
        let report = BatchReport::new(vec![m], Duration::from_secs(1));
        assert!(!report.all_copied());
        let text = render(&report, None);
        let row = text.lines().nth(1).unwrap();
        assert!(
            row.starts_with("ann") && row.contains(" stopped "),
            "{text}"
        );
        assert!(text.contains("0/1 ok"), "{text}");
        assert!(
            text.contains(
                "  ann: destination full: Quota exceeded\n    left at the source: 16 messages, \
                 0.1 MB, all received before 2024-01-17T12:00:00+00:00"
            ),
            "{text}"
        );
    }

    #[test]
    fn failures_are_capped_with_a_pointer_to_the_report() {
        let report = BatchReport::new(vec![mailbox("joe", 10, 1000, 25)], Duration::from_secs(1));
        let text = render(&report, Some(Path::new("run.json")));
        assert!(text.contains("messages not copied (25):"), "{text}");
        assert_eq!(text.matches("too large").count(), FAILURES_SHOWN);
        assert!(text.contains("... 5 more in the report run.json"), "{text}");
        assert!(text.contains("partial"), "{text}");
    }
}
