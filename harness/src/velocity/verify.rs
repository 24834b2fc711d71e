//! Checks a destination after a run: every source folder holds as many messages as the
//! source's, and a cutover report records no failure.

use std::net::SocketAddr;

use anyhow::{ensure, Context};

use crate::velocity::seed::{Account, FolderCounts};
use crate::velocity::wire_session::WireSession;

/// Counts, over one connection as `account`, the messages of each folder named in
/// `expected` (a folder that does not exist counts 0).
pub async fn count_folders(
    addr: SocketAddr,
    ca_pem: &str,
    account: &Account,
    expected: &FolderCounts,
) -> anyhow::Result<FolderCounts> {
    let mut session = WireSession::connect(addr, ca_pem).await?;
    session.login(&account.login, &account.password).await?;
    let mut counts = FolderCounts::new();
    for folder in expected.keys() {
        let count = session.message_count(folder).await?.unwrap_or(0);
        counts.insert(folder.clone(), count);
    }
    session.logout().await;
    Ok(counts)
}

/// The differences between what a mailbox should hold and what it holds; empty if none.
pub fn differences(expected: &FolderCounts, found: &FolderCounts) -> Vec<String> {
    expected
        .iter()
        .filter_map(|(folder, &want)| {
            let got = found.get(folder).copied().unwrap_or(0);
            (got != want).then(|| format!("{folder}: {got} messages, expected {want}"))
        })
        .collect()
}

/// What a cutover JSON report says about a run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReportSummary {
    /// Messages copied.
    pub messages: u64,
    /// Append framings used, as the report names them (deduplicated).
    pub framings: Vec<String>,
    /// Whether any mailbox used COMPRESS on the destination.
    pub dest_compressed: bool,
    /// APPEND commands accepted, over all mailboxes.
    pub append_commands: u64,
}

/// Reads a cutover report and fails unless every mailbox succeeded, no message failed, and
/// `messages` were copied.
pub fn check_report(json: &str, messages: u64) -> anyhow::Result<ReportSummary> {
    let report: serde_json::Value = serde_json::from_str(json).context("parsing the report")?;
    let totals = &report["totals"];
    let number = |name: &str| {
        totals[name]
            .as_u64()
            .with_context(|| format!("report has no totals.{name}"))
    };
    ensure!(
        number("mailboxes_failed")? == 0,
        "report: {} mailboxes failed",
        number("mailboxes_failed")?
    );
    ensure!(
        number("failed_messages")? == 0,
        "report: {} messages failed",
        number("failed_messages")?
    );
    let copied = number("messages")?;
    ensure!(
        copied == messages,
        "report: {copied} messages copied, expected {messages}"
    );
    let mailboxes = report["mailboxes"].as_array().cloned().unwrap_or_default();
    let mut framings: Vec<String> = mailboxes
        .iter()
        .filter_map(|m| m["append_framing"].as_str().map(str::to_owned))
        .collect();
    framings.sort();
    framings.dedup();
    let dest_compressed = mailboxes
        .iter()
        .any(|m| m["compressed"][1].as_bool() == Some(true));
    let commands: u64 = mailboxes
        .iter()
        .filter_map(|m| m["append_commands"].as_u64())
        .sum();
    Ok(ReportSummary {
        messages: copied,
        framings,
        dest_compressed,
        append_commands: commands,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn counts(pairs: &[(&str, u64)]) -> FolderCounts {
        pairs.iter().map(|(f, n)| (f.to_string(), *n)).collect()
    }

    #[test]
    fn differences_name_each_folder() {
        let expected = counts(&[("INBOX", 3), ("Sent", 2), ("Empty", 0)]);
        assert!(differences(&expected, &expected).is_empty());
        let found = counts(&[("INBOX", 3), ("Sent", 1)]);
        assert_eq!(
            differences(&expected, &found),
            ["Sent: 1 messages, expected 2"]
        );
    }

    #[test]
    fn check_report_accepts_a_clean_run_and_refuses_failures() {
        let clean = r#"{"totals":{"mailboxes_failed":0,"failed_messages":0,"messages":5},
            "mailboxes":[{"append_framing":"multiappend","compressed":[false,true],
            "append_commands":2}]}"#;
        let summary = check_report(clean, 5).unwrap();
        assert_eq!(summary.append_commands, 2);
        assert_eq!(summary.framings, ["multiappend"]);
        assert!(summary.dest_compressed);
        assert!(check_report(clean, 6).is_err());
        let failed = r#"{"totals":{"mailboxes_failed":1,"failed_messages":0,"messages":5}}"#;
        assert!(format!("{:#}", check_report(failed, 5).unwrap_err()).contains("1 mailboxes"));
    }
}
