//! Issue 4's message filters end to end against Dovecot: `--since` / `--before` (the source's
//! SEARCH on INTERNALDATE), `--max-message-size`, and `\Deleted` messages left out by default.
//! Exactly the messages inside the filters arrive; the rest are counted as filtered, not failed.

use std::collections::BTreeSet;
use std::time::Duration;

use cutover_harness::imap_account::{self, SeedMessage};

use crate::cli::run_with_timeout;
use crate::pair::Pair;

const PASSWORD: &str = "F1lter-Pw";
const ADMIN_PASSWORD: &str = "Adm1n-F1lter";

/// A message received at `when` (RFC 3339), `padding` bytes of body beyond its text.
fn message(when: &str, subject: &str, flags: &[&str], padding: usize) -> SeedMessage {
    let mut body =
        format!("Subject: {subject}\r\nMessage-ID: <{subject}@filters.test>\r\n\r\n").into_bytes();
    body.extend(std::iter::repeat_n(b'x', padding));
    body.extend_from_slice(b"\r\n");
    SeedMessage {
        flags: flags.iter().map(|f| f.to_string()).collect(),
        internaldate: chrono::DateTime::parse_from_rfc3339(when).unwrap(),
        body,
    }
}

fn subjects(folder: &imap_account::FolderSnapshot, bodies: &[SeedMessage]) -> BTreeSet<String> {
    let by_hash: std::collections::HashMap<[u8; 32], String> = bodies
        .iter()
        .map(|m| {
            let text = String::from_utf8_lossy(&m.body);
            let subject = text.lines().next().unwrap().trim_start_matches("Subject: ");
            (imap_account::sha256(&m.body), subject.to_string())
        })
        .collect();
    folder
        .messages
        .iter()
        .map(|m| by_hash.get(&m.sha256).cloned().unwrap_or("?".into()))
        .collect()
}

#[test]
fn a_date_range_copies_exactly_the_messages_inside_it() {
    let pair = Pair::start(&["eve"], PASSWORD, ADMIN_PASSWORD, |_| {});
    // January 2024 is asked for. Days at the edges, at noon UTC so no time zone moves them.
    let inbox = vec![
        message("2023-12-31T12:00:00Z", "dec31", &["\\Seen"], 0),
        message("2024-01-01T12:00:00Z", "jan01", &["\\Seen"], 0),
        message("2024-01-15T12:00:00Z", "jan15", &[], 0),
        message("2024-01-20T12:00:00Z", "jan20-deleted", &["\\Deleted"], 0),
        message("2024-01-25T12:00:00Z", "jan25-large", &["\\Seen"], 40_000),
        message("2024-01-31T12:00:00Z", "jan31", &["\\Flagged"], 0),
        message("2024-02-01T12:00:00Z", "feb01", &[], 0),
        message("2024-03-01T12:00:00Z", "mar01", &[], 0),
    ];
    let archive = vec![
        message("2019-06-01T12:00:00Z", "2019", &["\\Seen"], 0),
        message("2024-01-10T12:00:00Z", "archived-jan10", &["\\Seen"], 0),
    ];
    pair.seed_source("eve", "INBOX", &inbox);
    pair.seed_source("eve", "Archive", &archive);
    let report = pair.path("report.json");
    let migrate = |extra: &[&str]| {
        let mut command = pair.migrate();
        command.arg("--report").arg(&report).args(extra);
        run_with_timeout(&mut command, Duration::from_secs(120))
    };

    // A range that holds no day is refused before anything connects.
    let refused = migrate(&["--since", "2024-02-01", "--before", "2024-01-01"]);
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert_eq!(refused.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("--since 2024-02-01 is not before --before 2024-01-01"),
        "{stderr}"
    );

    let output = migrate(&[
        "--since",
        "2024-01-01",
        "--before",
        "2024-02-01",
        "--max-message-size",
        "20KB",
    ]);
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "filtered messages are no failure:\n{stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(
        stdout.contains(
            "left out by the filters, as asked: 6 messages (4 outside the date range, \
             1 over --max-message-size, 1 flagged \\Deleted)"
        ),
        "{stdout}"
    );

    let (dest_snap, source_snap) = (pair.dest_snapshot("eve"), pair.source_snapshot("eve"));
    let set = |names: &[&str]| names.iter().map(|s| s.to_string()).collect::<BTreeSet<_>>();
    assert_eq!(
        subjects(&dest_snap.folders["INBOX"], &inbox),
        set(&["jan01", "jan15", "jan31"])
    );
    assert_eq!(
        subjects(&dest_snap.folders["Archive"], &archive),
        set(&["archived-jan10"])
    );
    // Flags came along with the messages.
    let flagged = dest_snap.folders["INBOX"]
        .messages
        .iter()
        .filter(|m| m.flags.contains("\\Flagged"))
        .count();
    assert_eq!(flagged, 1);
    // The source still has everything, \Deleted flag included.
    assert_eq!(source_snap.folders["INBOX"].messages.len(), inbox.len());
    assert!(source_snap.folders["INBOX"]
        .messages
        .iter()
        .any(|m| m.flags.contains("\\Deleted")));

    let json: serde_json::Value = serde_json::from_slice(&std::fs::read(&report).unwrap()).unwrap();
    let m = &json["mailboxes"][0];
    assert_eq!(m["copied_messages"].as_u64(), Some(4), "{m}");
    assert_eq!(m["failures"].as_array().map(Vec::len), Some(0), "{m}");
    let inbox_report = m["folders"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["source"] == "INBOX")
        .unwrap();
    assert_eq!(inbox_report["source_messages"].as_u64(), Some(3));
    assert_eq!(
        inbox_report["filtered"],
        serde_json::json!({"outside_dates": 3, "too_large": 1, "deleted": 1})
    );
    assert_eq!(json["totals"]["filtered_messages"].as_u64(), Some(6));

    // A second pass over one day with --include-deleted takes the \Deleted message, flag and all;
    // nothing else of that day or outside it.
    let again = migrate(&[
        "--since",
        "2024-01-20",
        "--before",
        "2024-01-21",
        "--include-deleted",
    ]);
    assert!(
        again.status.success(),
        "{}",
        String::from_utf8_lossy(&again.stdout)
    );
    let dest_snap = pair.dest_snapshot("eve");
    let inbox_dest = &dest_snap.folders["INBOX"];
    assert_eq!(
        subjects(inbox_dest, &inbox),
        set(&["jan01", "jan15", "jan20-deleted", "jan31"])
    );
    assert!(inbox_dest
        .messages
        .iter()
        .any(|m| m.flags.contains("\\Deleted")));
}
