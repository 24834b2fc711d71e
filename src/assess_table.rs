//! The assessment on stdout: one row per mailbox (identity, folders, messages, size, largest
//! message, warnings), then every warning on its own line. Pure formatting.

use cutover_engine::plan::assessment::{format_bytes, MailboxAssessment};
use std::fmt::Write;

/// The table and warnings for `mailboxes`.
pub fn render(mailboxes: &[MailboxAssessment]) -> String {
    let header = [
        "mailbox", "folders", "messages", "size", "largest", "warnings",
    ];
    let rows: Vec<[String; 6]> = mailboxes
        .iter()
        .map(|m| {
            let warnings = m.warnings().len().to_string();
            if m.error.is_some() {
                let dash = || "-".to_string();
                return [
                    m.source_identity.clone(),
                    dash(),
                    dash(),
                    dash(),
                    dash(),
                    format!("{warnings} (failed)"),
                ];
            }
            [
                m.source_identity.clone(),
                m.folders.len().to_string(),
                m.messages.to_string(),
                format_bytes(m.bytes),
                format_bytes(m.largest_message_bytes),
                warnings,
            ]
        })
        .collect();
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
            if i == 0 {
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
    for row in &rows {
        line(
            &mut out,
            &row.iter().map(String::as_str).collect::<Vec<_>>(),
        );
    }
    let failed = mailboxes.iter().filter(|m| !m.complete()).count();
    let _ = writeln!(
        out,
        "{} mailbox(es) assessed, {} not completely",
        mailboxes.len() - failed,
        failed
    );
    let warnings: Vec<String> = mailboxes.iter().flat_map(|m| m.warnings()).collect();
    if !warnings.is_empty() {
        let _ = writeln!(out, "\nwarnings ({}):", warnings.len());
        for w in warnings {
            let _ = writeln!(out, "  {w}");
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use cutover_engine::plan::assessment::{
        assess, DestLimits, FolderInventory, MailboxInventory, MessageSize,
    };

    #[test]
    fn one_row_per_mailbox_then_the_warnings() {
        let inventory = MailboxInventory {
            folders: vec![FolderInventory::from_sizes(
                "INBOX".into(),
                Some('/'),
                None,
                [
                    MessageSize { uid: 1, bytes: 100 },
                    MessageSize {
                        uid: 2,
                        bytes: 3 << 20,
                    },
                ],
                Some(1 << 20),
                0,
            )],
            source_root: None,
        };
        let limits = DestLimits {
            quota: None,
            max_message_bytes: Some(1 << 20),
        };
        let ann = assess("ann@a.com", "ann@b.com", &inventory, &limits);
        let bob = MailboxAssessment::failed(
            "bob@a.com",
            "bob@b.com",
            &limits,
            "imaps://old:993: login as bob rejected: [AUTHENTICATIONFAILED]".into(),
        );
        let text = render(&[ann, bob]);
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(
            lines[0],
            "mailbox    folders  messages     size  largest    warnings"
        );
        assert_eq!(
            lines[1],
            "ann@a.com        1         2  3.0 MiB  3.0 MiB           1"
        );
        assert_eq!(
            lines[2],
            "bob@a.com        -         -        -        -  1 (failed)"
        );
        assert_eq!(lines[3], "1 mailbox(es) assessed, 1 not completely");
        assert!(text.contains("warnings (2):\n  ann@a.com: 1 message(s) over the destination's size limit of 1.0 MiB; the largest is 3.0 MiB (UID 2 in \"INBOX\")\n  bob@a.com: not assessed: imaps://old:993: login as bob rejected"), "{text}");
    }
}
