//! Incremental passes (issue 5) against two Dovecots: after a first `cutover migrate --state`,
//! new mail arrives at the source and flags change; the second run copies exactly the new
//! messages, sets exactly the changed flags, and says so.

use std::collections::BTreeMap;
use std::time::Duration;

use cutover_harness::imap_account::{self, AccountSnapshot, SeedMessage};
use futures::TryStreamExt;

use crate::cli::run_with_timeout;
use crate::pair::Pair;

const PASSWORD: &str = "Incr3ment-Pw";
const ADMIN_PASSWORD: &str = "Adm1n-Incr3ment";

fn message(i: usize) -> SeedMessage {
    let base = chrono::DateTime::parse_from_rfc3339("2024-06-01T09:00:00+00:00").unwrap();
    SeedMessage {
        flags: vec!["\\Seen".into()],
        internaldate: base + chrono::Duration::minutes(i as i64),
        body: format!(
            "Subject: i{i}\r\nMessage-ID: <i{i}@incremental.test>\r\n\r\nbody {i} {}\r\n",
            "x".repeat(i % 700)
        )
        .into_bytes(),
    }
}

/// Folder → sorted (SHA-256, flags) of every message.
type Contents = BTreeMap<String, Vec<([u8; 32], Vec<String>)>>;

fn contents(s: &AccountSnapshot) -> Contents {
    s.folders
        .iter()
        .filter(|(_, f)| !f.messages.is_empty())
        .map(|(name, f)| {
            let mut v: Vec<_> = f
                .messages
                .iter()
                .map(|m| (m.sha256, m.flags.iter().cloned().collect::<Vec<_>>()))
                .collect();
            v.sort();
            (name.clone(), v)
        })
        .collect()
}

#[test]
fn a_second_pass_copies_only_new_mail_and_syncs_changed_flags() {
    let pair = Pair::start(&["liv"], PASSWORD, ADMIN_PASSWORD, |_| {});
    let runtime = &pair.runtime;
    let source_session = || pair.source_session("liv");
    let first: Vec<SeedMessage> = (0..300).map(message).collect();
    pair.seed_source("liv", "INBOX", &first[..200]);
    pair.seed_source("liv", "Archive", &first[200..]);
    let mut s = source_session();

    let state = pair.path("state.sqlite");
    let report = pair.path("report.json");
    let migrate = || {
        let mut c = pair.migrate();
        c.arg("--state").arg(&state).arg("--report").arg(&report);
        let output = run_with_timeout(&mut c, Duration::from_secs(120));
        let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
        assert!(
            output.status.success(),
            "{stdout}\n{}",
            String::from_utf8_lossy(&output.stderr)
        );
        let json: serde_json::Value =
            serde_json::from_slice(&std::fs::read(&report).unwrap()).unwrap();
        (stdout, json)
    };
    let dest_snapshot = || pair.dest_snapshot("liv");

    let (_, first) = migrate();
    assert_eq!(first["mailboxes"][0]["copied_messages"].as_u64(), Some(300));
    assert!(first["mailboxes"][0].get("incremental").is_none());
    let dest_uids_before: Vec<u32> = dest_snapshot().folders["INBOX"]
        .messages
        .iter()
        .map(|m| m.uid)
        .collect();

    // New mail, and flags changed on 20 messages already copied.
    runtime.block_on(async {
        let more: Vec<SeedMessage> = (300..400).map(message).collect();
        imap_account::seed(&mut s, "INBOX", &more[..60])
            .await
            .unwrap();
        imap_account::seed(&mut s, "Archive", &more[60..])
            .await
            .unwrap();
        s.select("INBOX").await.unwrap();
        let _: Vec<_> = s
            .uid_store("1:10", "+FLAGS (\\Flagged $Important)")
            .await
            .unwrap()
            .try_collect()
            .await
            .unwrap();
        let _: Vec<_> = s
            .uid_store("11:15", "-FLAGS (\\Seen)")
            .await
            .unwrap()
            .try_collect()
            .await
            .unwrap();
        s.select("Archive").await.unwrap();
        let _: Vec<_> = s
            .uid_store("1:5", "+FLAGS (\\Answered)")
            .await
            .unwrap()
            .try_collect()
            .await
            .unwrap();
        s.logout().await.ok();
    });

    let (stdout, second) = migrate();
    let m = &second["mailboxes"][0];
    assert_eq!(m["copied_messages"].as_u64(), Some(400), "{m}");
    assert_eq!(
        m["incremental"],
        serde_json::json!({
            "already_there": 300,
            "new_messages": 100,
            "flags_updated": 20,
            "flags_without_destination_uid": 0,
            "rematched_after_uidvalidity_change": 0,
            "recreated_destination_folders": 0,
            "found_again_at_destination": 0,
            "lost_at_destination": 0,
            "moved_by_the_folder_map": 0,
            // Dovecot has CONDSTORE: both folders were read by what changed since the first
            // pass (the 100 new messages and the 20 flag changes), not whole.
            "folders_read_since_last_pass": 2,
            "folders_unchanged": 0
        }),
        "{m}"
    );
    assert!(
        stdout.contains("liv: 100 new, 300 already there, 20 with changed flags updated"),
        "{stdout}"
    );

    // The destination now equals the source, flags included; nothing was appended twice and
    // the messages of the first pass kept their UIDs (flags were set, not messages re-copied).
    let there = dest_snapshot();
    let source_now = pair.source_snapshot("liv");
    assert_eq!(contents(&there), contents(&source_now));
    assert_eq!(there.message_count(), 400);
    let inbox_uids: Vec<u32> = there.folders["INBOX"]
        .messages
        .iter()
        .map(|m| m.uid)
        .collect();
    assert_eq!(&inbox_uids[..dest_uids_before.len()], &dest_uids_before[..]);

    // A third pass finds nothing to do, without reading a message's metadata: HIGHESTMODSEQ
    // has not moved in either folder. The report still counts every source message.
    let (stdout, third) = migrate();
    let m = &third["mailboxes"][0];
    assert_eq!(m["incremental"]["new_messages"].as_u64(), Some(0), "{m}");
    assert_eq!(
        m["incremental"]["folders_unchanged"].as_u64(),
        Some(2),
        "{m}"
    );
    let source_messages: u64 = m["folders"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["source_messages"].as_u64().unwrap())
        .sum();
    assert_eq!(source_messages, 400, "{m}");
    assert!(
        stdout.contains("0 new, 400 already there, 0 with"),
        "{stdout}"
    );

    // The source's Archive is recreated (same mail, a new UIDVALIDITY, as after a restore): the
    // next pass recognises its messages by content instead of copying them again.
    let archive_before = pair.source_snapshot("liv").folders["Archive"].clone();
    let mut s = source_session();
    runtime.block_on(async {
        s.delete("Archive").await.unwrap();
        s.logout().await.ok();
    });
    let again: Vec<SeedMessage> = (200..300).chain(360..400).map(message).collect();
    pair.seed_source("liv", "Archive", &again);
    let archive_after = pair.source_snapshot("liv").folders["Archive"].clone();
    assert_ne!(archive_before.uidvalidity, archive_after.uidvalidity);
    let (_, fourth) = migrate();
    let i = &fourth["mailboxes"][0]["incremental"];
    assert_eq!(
        i["rematched_after_uidvalidity_change"].as_u64(),
        Some(140),
        "{i}"
    );
    assert_eq!(i["new_messages"].as_u64(), Some(0), "{i}");
    assert_eq!(dest_snapshot().message_count(), 400, "nothing copied twice");
}

/// A message without Message-ID: recognised at the destination by its content only.
fn anonymous(i: usize) -> SeedMessage {
    SeedMessage {
        body: format!("Subject: no id {i}\r\n\r\nanonymous body {i}\r\n").into_bytes(),
        ..message(1000 + i)
    }
}

#[test]
fn a_recreated_destination_folder_is_rematched_and_refilled_not_duplicated() {
    let pair = Pair::start(&["ada"], PASSWORD, ADMIN_PASSWORD, |_| {});
    let runtime = &pair.runtime;
    let with_id: Vec<SeedMessage> = (0..50).map(message).collect();
    let without_id: Vec<SeedMessage> = (0..10).map(anonymous).collect();
    let notes: Vec<SeedMessage> = (500..510).map(message).collect();
    pair.seed_source("ada", "INBOX", &(600..620).map(message).collect::<Vec<_>>());
    pair.seed_source("ada", "Projects", &with_id);
    pair.seed_source("ada", "Projects", &without_id);
    pair.seed_source("ada", "Notes", &notes);

    let state = pair.path("state.sqlite");
    let report = pair.path("report.json");
    let migrate = || {
        let mut c = pair.migrate();
        c.arg("--state").arg(&state).arg("--report").arg(&report);
        let output = run_with_timeout(&mut c, Duration::from_secs(120));
        let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
        assert!(
            output.status.success(),
            "{stdout}\n{}",
            String::from_utf8_lossy(&output.stderr)
        );
        let json: serde_json::Value =
            serde_json::from_slice(&std::fs::read(&report).unwrap()).unwrap();
        (stdout, json)
    };
    let (_, first) = migrate();
    assert_eq!(first["mailboxes"][0]["copied_messages"].as_u64(), Some(90));
    let before = pair.dest_snapshot("ada");

    // At the destination, Projects is deleted and recreated with half its mail restored (half
    // of each kind: 30 of 60), and Notes (10) is deleted outright. Both get a new UIDVALIDITY.
    let mut d = pair.dest_session("ada");
    runtime.block_on(async {
        d.delete("Projects").await.unwrap();
        d.delete("Notes").await.unwrap();
        let restored: Vec<SeedMessage> = with_id[..25]
            .iter()
            .chain(&without_id[..5])
            .cloned()
            .collect();
        imap_account::seed(&mut d, "Projects", &restored)
            .await
            .unwrap();
        d.logout().await.ok();
    });
    // Meanwhile a restored message and a lost one are flagged at the source.
    let mut s = pair.source_session("ada");
    runtime.block_on(async {
        s.select("Projects").await.unwrap();
        let _: Vec<_> = s
            .uid_store("1,40", "+FLAGS (\\Flagged)")
            .await
            .unwrap()
            .try_collect()
            .await
            .unwrap();
        s.logout().await.ok();
    });

    let (stdout, second) = migrate();
    let m = &second["mailboxes"][0];
    assert_eq!(
        m["incremental"],
        serde_json::json!({
            "already_there": 50,
            "new_messages": 40,
            "flags_updated": 1,
            "flags_without_destination_uid": 0,
            "rematched_after_uidvalidity_change": 0,
            "recreated_destination_folders": 2,
            "found_again_at_destination": 30,
            "lost_at_destination": 40,
            "moved_by_the_folder_map": 0,
            // Forgetting the lost messages dropped Projects' and Notes' marks: read whole.
            // INBOX, untouched, was read by what changed (nothing).
            "folders_read_since_last_pass": 1,
            "folders_unchanged": 1
        }),
        "{m}"
    );
    assert!(
        stdout.contains(
            "2 destination folder(s) recreated: 30 messages found again, 40 copied again"
        ),
        "{stdout}"
    );
    // The destination equals the source again, flags included, with no message twice; the
    // restored messages kept their new UIDs (found, not re-copied), INBOX was not touched.
    let there = pair.dest_snapshot("ada");
    assert_eq!(contents(&there), contents(&pair.source_snapshot("ada")));
    assert_eq!(there.message_count(), 90);
    let uids = |f: &str| -> Vec<u32> { there.folders[f].messages.iter().map(|m| m.uid).collect() };
    assert_eq!(&uids("Projects")[..30], &(1..=30).collect::<Vec<u32>>()[..]);
    assert_eq!(
        uids("INBOX"),
        before.folders["INBOX"]
            .messages
            .iter()
            .map(|m| m.uid)
            .collect::<Vec<_>>()
    );

    // The records now name the new UIDs: the next pass has nothing to look for or copy, and a
    // flag changed on a message found again is set where it now is.
    let mut s = pair.source_session("ada");
    runtime.block_on(async {
        s.select("Projects").await.unwrap();
        let _: Vec<_> = s
            .uid_store("2", "+FLAGS (\\Answered)")
            .await
            .unwrap()
            .try_collect()
            .await
            .unwrap();
        s.logout().await.ok();
    });
    let (_, third) = migrate();
    let i = &third["mailboxes"][0]["incremental"];
    assert_eq!(i["recreated_destination_folders"].as_u64(), Some(0), "{i}");
    assert_eq!(i["new_messages"].as_u64(), Some(0), "{i}");
    assert_eq!(i["flags_updated"].as_u64(), Some(1), "{i}");
    let there = pair.dest_snapshot("ada");
    assert_eq!(contents(&there), contents(&pair.source_snapshot("ada")));
    assert_eq!(there.message_count(), 90);
}

#[test]
fn mail_another_tool_copied_is_adopted_not_duplicated() {
    let pair = Pair::start(&["max"], PASSWORD, ADMIN_PASSWORD, |_| {});
    let mail: Vec<SeedMessage> = (0..50).map(message).collect();
    let unrelated = SeedMessage {
        body: b"Subject: only here\r\nMessage-ID: <only@dest>\r\n\r\nx\r\n".to_vec(),
        ..message(999)
    };
    pair.seed_source("max", "INBOX", &mail);
    // Another tool copied 20 of them already, and the user has one message of their own.
    let mut d = pair.dest_session("max");
    pair.runtime.block_on(async {
        imap_account::seed(&mut d, "INBOX", &mail[10..30])
            .await
            .unwrap();
        imap_account::seed(&mut d, "INBOX", std::slice::from_ref(&unrelated))
            .await
            .unwrap();
        d.logout().await.ok();
    });
    let report = pair.path("report.json");
    let mut c = pair.migrate();
    c.arg("--state")
        .arg(pair.path("state.sqlite"))
        .arg("--report")
        .arg(&report)
        .arg("--adopt-existing");
    let output = run_with_timeout(&mut c, Duration::from_secs(120));
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "{stdout}");
    assert!(
        stdout.contains("adopted: 20 messages were at the destination already"),
        "{stdout}"
    );
    let json: serde_json::Value = serde_json::from_slice(&std::fs::read(&report).unwrap()).unwrap();
    let m = &json["mailboxes"][0];
    assert_eq!(m["adopted"].as_u64(), Some(20), "{m}");
    assert_eq!(m["copied_messages"].as_u64(), Some(50), "{m}");
    let there = pair.dest_snapshot("max");
    let mut got: Vec<[u8; 32]> = there.folders["INBOX"]
        .messages
        .iter()
        .map(|m| m.sha256)
        .collect();
    got.sort();
    let mut want: Vec<[u8; 32]> = mail
        .iter()
        .chain([&unrelated])
        .map(|m| imap_account::sha256(&m.body))
        .collect();
    want.sort();
    assert_eq!(got, want, "each message once, the user's own kept");
}
