//! A destination that fills up (issue 5, guide 3.5.4.2), against Dovecot's quota plugin: the
//! mailbox stops cleanly with the newest messages there and the oldest left at the source, the
//! report says so and what is left, and the other mailboxes of the run go on.

use std::collections::BTreeSet;
use std::time::Duration;

use cutover_harness::imap_account::{self, SeedMessage};

use crate::cli::run_with_timeout;
use crate::pair::Pair;

const PASSWORD: &str = "Qu0ta-Pw";
const ADMIN_PASSWORD: &str = "Adm1n-Qu0ta";
/// Messages of the mailbox that does not fit, each about 4 KiB.
const MESSAGES: usize = 30;
/// The destination's quota: room for about half of them.
const QUOTA: u64 = 64 * 1024;

/// Message `i` of a mailbox: received on day `i` of 2024, the same size as every other.
fn message(owner: &str, i: usize) -> SeedMessage {
    let mut body =
        format!("Subject: {owner} {i:02}\r\nMessage-ID: <{owner}.{i:02}@quota.test>\r\n\r\n")
            .into_bytes();
    body.extend(std::iter::repeat_n(b'q', 4000));
    body.extend_from_slice(b"\r\n");
    let date = chrono::NaiveDate::from_yo_opt(2024, i as u32 + 1)
        .unwrap()
        .and_hms_opt(12, 0, 0)
        .unwrap()
        .and_utc()
        .fixed_offset();
    SeedMessage {
        flags: vec!["\\Seen".into()],
        internaldate: date,
        body,
    }
}

#[test]
fn a_full_destination_stops_the_mailbox_with_the_newest_mail_there() {
    let pair = Pair::start(&["ann", "bob"], PASSWORD, ADMIN_PASSWORD, |dest| {
        dest.quota_bytes = Some(QUOTA);
    });
    let ann: Vec<SeedMessage> = (0..MESSAGES).map(|i| message("ann", i)).collect();
    let bob: Vec<SeedMessage> = (0..2).map(|i| message("bob", i)).collect();
    pair.seed_source("ann", "INBOX", &ann);
    pair.seed_source("bob", "INBOX", &bob);

    let report = pair.path("report.json");
    let mut command = pair.migrate();
    command
        .arg("--state")
        .arg(pair.path("state.sqlite"))
        .arg("--report")
        .arg(&report);
    let output = run_with_timeout(&mut command, Duration::from_secs(120));
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert_eq!(
        output.status.code(),
        Some(1),
        "not all was copied:\n{stdout}"
    );
    assert!(stdout.contains("ann: destination full:"), "{stdout}");

    let snap = |user: &str| pair.dest_snapshot(user);
    let hashes = |mail: &[SeedMessage]| -> BTreeSet<[u8; 32]> {
        mail.iter().map(|m| imap_account::sha256(&m.body)).collect()
    };
    // ann: the newest k messages are there, and no older one.
    let there: BTreeSet<[u8; 32]> = snap("ann").folders["INBOX"]
        .messages
        .iter()
        .map(|m| m.sha256)
        .collect();
    let k = there.len();
    assert!((5..MESSAGES).contains(&k), "{k} of {MESSAGES} arrived");
    assert_eq!(there, hashes(&ann[MESSAGES - k..]), "not the newest {k}");
    // bob, in the same run, completed.
    assert_eq!(snap("bob").folders["INBOX"].messages.len(), bob.len());

    let json: serde_json::Value = serde_json::from_slice(&std::fs::read(&report).unwrap()).unwrap();
    let m = &json["mailboxes"][0];
    assert_eq!(m["outcome"]["state"], "stopped", "{m}");
    assert!(
        m["outcome"]["reason"]
            .as_str()
            .unwrap()
            .starts_with("destination full"),
        "{m}"
    );
    assert_eq!(m["copied_messages"].as_u64(), Some(k as u64), "{m}");
    assert_eq!(
        m["left"]["messages"].as_u64(),
        Some((MESSAGES - k) as u64),
        "{m}"
    );
    let oldest = ann[MESSAGES - k].internaldate.to_rfc3339();
    assert_eq!(
        m["left"]["oldest_copied"].as_str(),
        Some(oldest.as_str()),
        "{m}"
    );
    assert_eq!(json["mailboxes"][1]["outcome"]["state"], "completed");
    assert_eq!(json["totals"]["mailboxes_stopped"].as_u64(), Some(1));

    // The administrator raises the quota; the same command again completes ann, copying only
    // what was left, and bob's mail is not copied twice.
    pair.dest.set_quota(Some(QUOTA * 4)).unwrap();
    let output = run_with_timeout(&mut command, Duration::from_secs(120));
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "{stdout}");
    let json: serde_json::Value = serde_json::from_slice(&std::fs::read(&report).unwrap()).unwrap();
    let m = &json["mailboxes"][0];
    assert_eq!(m["outcome"]["state"], "completed", "{m}");
    assert_eq!(
        m["incremental"]["new_messages"].as_u64(),
        Some((MESSAGES - k) as u64),
        "{m}"
    );
    let there: Vec<[u8; 32]> = snap("ann").folders["INBOX"]
        .messages
        .iter()
        .map(|m| m.sha256)
        .collect();
    assert_eq!(there.len(), MESSAGES, "each message once");
    assert_eq!(there.iter().copied().collect::<BTreeSet<_>>(), hashes(&ann));
    assert_eq!(snap("bob").folders["INBOX"].messages.len(), bob.len());
}
