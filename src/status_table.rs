//! What `cutover status` shows, as data (serialised for `--json`) and as a table per batch: one row
//! per mailbox with its status, what was copied, when it last synced and what is left of a
//! stopped one. Pure formatting.

use chrono::{DateTime, Utc};
use cutover_engine::plan::assessment::format_bytes;
use serde::Serialize;
use std::fmt::Write;

/// Everything in a state file.
#[derive(Debug, Clone, Serialize)]
pub struct StatusView {
    /// The file read.
    pub state_file: String,
    /// Every batch, by name.
    pub batches: Vec<BatchView>,
    /// Mailboxes in no batch (migrated by a build that had no batches).
    pub unbatched: Vec<MailboxView>,
}

/// One batch.
#[derive(Debug, Clone, Serialize)]
pub struct BatchView {
    /// Its name.
    pub name: String,
    /// Its status (`created`, `syncing`, `synced`, `completing`, `completed`, `stopped`,
    /// `failed`).
    pub status: &'static str,
    /// Why it stopped or failed.
    pub reason: Option<String>,
    /// When the status last changed.
    pub status_at: DateTime<Utc>,
    /// The settings of its first run.
    pub settings: serde_json::Value,
    /// Its mailboxes, by name.
    pub mailboxes: Vec<MailboxView>,
}

/// One mailbox.
#[derive(Debug, Clone, Serialize)]
pub struct MailboxView {
    /// Its name in the state file: list identity, source server, destination identity and
    /// server.
    pub name: String,
    /// Its status, as for a batch.
    pub status: &'static str,
    /// Why it stopped or failed.
    pub reason: Option<String>,
    /// When the status last changed.
    pub status_at: DateTime<Utc>,
    /// When a pass last ended Synced or Completed.
    pub last_synced: Option<DateTime<Utc>>,
    /// Messages recorded as at the destination.
    pub copied_messages: u64,
    /// Their source bytes.
    pub copied_bytes: u64,
    /// What is left, when it is stopped.
    pub left: Option<Left>,
}

/// What a stopped mailbox did not copy.
#[derive(Debug, Clone, Serialize)]
pub struct Left {
    /// Messages.
    pub messages: u64,
    /// Their bytes.
    pub bytes: u64,
    /// The oldest date copied: older mail is missing.
    pub oldest_copied: Option<DateTime<Utc>>,
}

fn status_text(status: &str, reason: Option<&str>) -> String {
    match reason {
        Some(reason) => format!("{status}: {reason}"),
        None => status.to_string(),
    }
}

fn time(t: DateTime<Utc>) -> String {
    t.format("%Y-%m-%d %H:%M").to_string()
}

fn left_text(left: Option<&Left>) -> String {
    let Some(left) = left else {
        return "-".to_string();
    };
    let mut text = format!("{} msgs, {}", left.messages, format_bytes(left.bytes));
    if let Some(oldest) = left.oldest_copied {
        let _ = write!(text, ", copied back to {}", oldest.format("%Y-%m-%d"));
    }
    text
}

/// The table of `view`: a heading per batch, then its mailboxes.
pub fn render(view: &StatusView) -> String {
    let mut out = String::new();
    if view.batches.is_empty() && view.unbatched.is_empty() {
        let _ = writeln!(out, "{}: no batches or mailboxes yet", view.state_file);
        return out;
    }
    for (i, b) in view.batches.iter().enumerate() {
        if i > 0 {
            out.push('\n');
        }
        let messages: u64 = b.mailboxes.iter().map(|m| m.copied_messages).sum();
        let bytes: u64 = b.mailboxes.iter().map(|m| m.copied_bytes).sum();
        let _ = writeln!(
            out,
            "batch {}: {} since {} UTC; {} mailbox(es), {messages} messages, {} copied",
            b.name,
            status_text(b.status, b.reason.as_deref()),
            time(b.status_at),
            b.mailboxes.len(),
            format_bytes(bytes),
        );
        table(&mut out, &b.mailboxes);
    }
    if !view.unbatched.is_empty() {
        if !view.batches.is_empty() {
            out.push('\n');
        }
        let _ = writeln!(out, "in no batch: {} mailbox(es)", view.unbatched.len());
        table(&mut out, &view.unbatched);
    }
    out
}

/// One row per mailbox, indented under its heading: text columns left-aligned, numbers right.
fn table(out: &mut String, mailboxes: &[MailboxView]) {
    const HEADER: [&str; 6] = [
        "mailbox",
        "status",
        "messages",
        "size",
        "last synced (UTC)",
        "left",
    ];
    const RIGHT: [bool; 6] = [false, false, true, true, false, false];
    let rows: Vec<[String; 6]> = mailboxes
        .iter()
        .map(|m| {
            [
                m.name.clone(),
                status_text(m.status, m.reason.as_deref()),
                m.copied_messages.to_string(),
                format_bytes(m.copied_bytes),
                m.last_synced.map(time).unwrap_or_else(|| "never".into()),
                left_text(m.left.as_ref()),
            ]
        })
        .collect();
    let mut widths = HEADER.map(str::len);
    for row in &rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let line = |out: &mut String, cells: [&str; 6]| {
        let mut text = String::from("  ");
        for (i, cell) in cells.iter().enumerate() {
            if i > 0 {
                text.push_str("  ");
            }
            let pad = widths[i].saturating_sub(cell.chars().count());
            if RIGHT[i] {
                text.extend(std::iter::repeat_n(' ', pad));
                text.push_str(cell);
            } else {
                text.push_str(cell);
                text.extend(std::iter::repeat_n(' ', pad));
            }
        }
        out.push_str(text.trim_end());
        out.push('\n');
    };
    line(out, HEADER);
    for row in &rows {
        line(out, row.each_ref().map(String::as_str));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    fn mailbox(name: &str, status: &'static str, messages: u64) -> MailboxView {
        MailboxView {
            name: name.into(),
            status,
            reason: None,
            status_at: at("2025-03-01T10:00:00Z"),
            last_synced: Some(at("2025-03-01T10:00:00Z")),
            copied_messages: messages,
            copied_bytes: messages * 2048,
            left: None,
        }
    }

    #[test]
    fn a_batch_heading_then_a_row_per_mailbox_with_what_is_left() {
        let mut full = mailbox("bob@a.com", "stopped", 10);
        full.reason = Some("destination full".into());
        full.left = Some(Left {
            messages: 120,
            bytes: 9 << 20,
            oldest_copied: Some(at("2024-05-01T08:00:00Z")),
        });
        let mut new = mailbox("cy@a.com", "created", 0);
        new.last_synced = None;
        let view = StatusView {
            state_file: "s.sqlite".into(),
            batches: vec![BatchView {
                name: "wave1".into(),
                status: "stopped",
                reason: Some("1 of 3 mailbox(es) stopped".into()),
                status_at: at("2025-03-01T10:05:00Z"),
                settings: serde_json::json!({}),
                mailboxes: vec![mailbox("ann@a.com", "synced", 3), full, new],
            }],
            unbatched: vec![],
        };
        let text = render(&view);
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(
            lines[0],
            "batch wave1: stopped: 1 of 3 mailbox(es) stopped since 2025-03-01 10:05 UTC; \
             3 mailbox(es), 13 messages, 26.0 KiB copied"
        );
        assert_eq!(
            lines[1],
            "  mailbox    status                     messages      size  last synced (UTC)  left"
        );
        assert_eq!(
            lines[2],
            "  ann@a.com  synced                            3   6.0 KiB  2025-03-01 10:00   -"
        );
        assert_eq!(
            lines[3],
            "  bob@a.com  stopped: destination full        10  20.0 KiB  2025-03-01 10:00   \
             120 msgs, 9.0 MiB, copied back to 2024-05-01"
        );
        assert_eq!(
            lines[4],
            "  cy@a.com   created                           0       0 B  never              -"
        );
        assert_eq!(lines.len(), 5);
    }

    #[test]
    fn mailboxes_in_no_batch_have_their_own_heading_and_an_empty_file_says_so() {
        let view = StatusView {
            state_file: "s.sqlite".into(),
            batches: vec![],
            unbatched: vec![mailbox("ann@a.com", "synced", 1)],
        };
        let text = render(&view);
        assert!(
            text.starts_with("in no batch: 1 mailbox(es)\n  mailbox "),
            "{text}"
        );
        let empty = StatusView {
            state_file: "s.sqlite".into(),
            batches: vec![],
            unbatched: vec![],
        };
        assert_eq!(render(&empty), "s.sqlite: no batches or mailboxes yet\n");
    }

    #[test]
    fn json_names_the_fields_scripts_read() {
        let view = StatusView {
            state_file: "s.sqlite".into(),
            batches: vec![],
            unbatched: vec![mailbox("ann@a.com", "synced", 1)],
        };
        let json = serde_json::to_value(&view).unwrap();
        let m = &json["unbatched"][0];
        assert_eq!(m["status"], "synced");
        assert_eq!(m["copied_messages"], 1);
        assert_eq!(m["last_synced"], "2025-03-01T10:00:00Z");
        assert!(m["left"].is_null());
    }
}
