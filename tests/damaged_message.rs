//! Issue 15, part 3: one damaged message must not fail its mailbox. A source that drops the
//! connection in the middle of a `UID FETCH BODY.PEEK[]` answer (Dovecot on a Maildir file
//! shorter than the size it cached) has the message isolated, reported unreadable and left
//! behind, while the rest is copied; a source that drops every FETCH is given up after a bounded
//! number of logins, none of them failed.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use cutover_engine::report::MailboxOutcome;
use cutover_engine::CopyOptions;
use cutover_harness::certs::TestCa;
use cutover_harness::imap_account::{self, SeedMessage};
use cutover_harness::mock_server::{Capabilities, Damage, MockStats};
use futures::TryStreamExt;
use sha2::Digest;

use crate::cli::run_with_timeout;
use crate::copy_mock::{contents, copy_with, dest_store, source_store, start, within, USER};
use crate::pair::Pair;

/// LOGIN and AUTHENTICATE commands a mock server saw.
fn logins(stats: &MockStats) -> u64 {
    ["LOGIN", "AUTHENTICATE"]
        .iter()
        .map(|c| stats.commands.get(*c).copied().unwrap_or(0))
        .sum()
}

fn quick_reconnects() -> CopyOptions {
    CopyOptions {
        reconnect_pause: Duration::from_millis(50),
        ..CopyOptions::default()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_message_whose_fetch_drops_the_connection_is_left_out_and_the_rest_copied() {
    within(async {
        let ca = TestCa::new().unwrap();
        let cert = ca.server_cert(&["localhost", "127.0.0.1"]).unwrap();
        let (store, n) = source_store(false);
        let expected = contents(&store);
        let inbox_uid = store.messages(USER, "INBOX")[5].uid;
        let reports_uid = store.messages(USER, "Work/Reports")[10].uid;
        store.make_unreadable(USER, "INBOX", inbox_uid, Damage::DropsConnection);
        store.make_unreadable(USER, "Work/Reports", reports_uid, Damage::DropsConnection);
        let source = start(&cert, store.clone(), Capabilities::default(), None).await;
        let dest = start(&cert, dest_store(), Capabilities::default(), None).await;

        let report = copy_with(&ca, &source, &dest, quick_reconnects()).await;
        let m = &report.mailboxes[0];
        assert_eq!(m.outcome, MailboxOutcome::Completed, "{m:?}");
        assert_eq!(m.copied_messages as usize, n - 2);
        let mut failed: Vec<(&str, u32)> = m
            .failures
            .iter()
            .map(|f| (f.folder.as_str(), f.uid))
            .collect();
        failed.sort();
        assert_eq!(
            failed,
            vec![("INBOX", inbox_uid), ("Work/Reports", reports_uid)]
        );
        for f in &m.failures {
            assert!(f.reason.contains("dropped the connection"), "{}", f.reason);
        }
        // The destination holds exactly the source's mail but the two damaged messages.
        let damaged: Vec<String> = [("INBOX", inbox_uid), ("Work/Reports", reports_uid)]
            .iter()
            .map(|(f, u)| {
                let body = store
                    .messages(USER, f)
                    .into_iter()
                    .find(|m| m.uid == *u)
                    .unwrap()
                    .body;
                sha2::Sha256::digest(&body)
                    .iter()
                    .map(|b| format!("{b:02x}"))
                    .collect()
            })
            .collect();
        let want: Vec<_> = expected
            .into_iter()
            .map(|(f, msgs)| {
                (
                    f,
                    msgs.into_iter()
                        .filter(|m| !damaged.contains(&m.1))
                        .collect::<Vec<_>>(),
                )
            })
            .collect();
        let sent = contents(dest.store());
        assert_eq!(sent, want);
        // Each damaged message costs a few reconnects, not a lockout's worth.
        let stats = source.stats();
        eprintln!(
            "source logins: {}, connections: {}, UID FETCH: {:?}",
            logins(&stats),
            stats.connections_total,
            stats.commands.get("UID FETCH")
        );
        assert_eq!(stats.logins_failed, 0);
        assert!(logins(&stats) <= 4 * 8, "{} logins", logins(&stats));
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_source_that_drops_every_fetch_is_given_up_after_a_bounded_number_of_logins() {
    within(async {
        let ca = TestCa::new().unwrap();
        let cert = ca.server_cert(&["localhost", "127.0.0.1"]).unwrap();
        let (store, _) = source_store(false);
        for folder in ["INBOX", "Work/Reports"] {
            for m in store.messages(USER, folder) {
                store.make_unreadable(USER, folder, m.uid, Damage::DropsConnection);
            }
        }
        let source = start(&cert, store.clone(), Capabilities::default(), None).await;
        let dest = start(&cert, dest_store(), Capabilities::default(), None).await;

        let started = Instant::now();
        let report = copy_with(&ca, &source, &dest, quick_reconnects()).await;
        let m = &report.mailboxes[0];
        let MailboxOutcome::Failed(reason) = &m.outcome else {
            panic!("{:?}", m.outcome)
        };
        assert!(reason.contains("giving up on the mailbox"), "{reason}");
        assert_eq!(m.copied_messages, 0);
        let stats = source.stats();
        eprintln!(
            "gave up after {:?}: source logins {}, reason: {reason}",
            started.elapsed(),
            logins(&stats)
        );
        assert_eq!(stats.logins_failed, 0);
        // 1 + 2 * 3 attempts of at most 4 source connections each.
        assert!(logins(&stats) <= 7 * 4, "{} logins", logins(&stats));
    })
    .await
}

const PASSWORD: &str = "Dam4ged-Pw";
const ADMIN_PASSWORD: &str = "Adm1n-Dam4ged";

fn seed_message(i: usize) -> SeedMessage {
    let base = chrono::DateTime::parse_from_rfc3339("2024-03-01T08:00:00+00:00").unwrap();
    SeedMessage {
        flags: vec!["\\Seen".into()],
        internaldate: base + chrono::Duration::minutes(i as i64 * 7),
        body: format!(
            "Subject: d{i}\r\nMessage-ID: <d{i}@damaged.test>\r\n\r\nbody {i}\r\n{}\r\n",
            "y".repeat(2000 + i * 13)
        )
        .into_bytes(),
    }
}

/// The file of `uid` in the Maildir folder `dir`, by `dovecot-uidlist`.
fn maildir_file(dir: &Path, uid: u32) -> PathBuf {
    let list = std::fs::read_to_string(dir.join("dovecot-uidlist")).unwrap();
    let base = list
        .lines()
        .skip(1)
        .find_map(|l| {
            let (n, rest) = l.split_once(' ')?;
            (n.parse::<u32>().ok()? == uid).then(|| rest.rsplit(':').next().unwrap().to_owned())
        })
        .unwrap_or_else(|| panic!("UID {uid} not in dovecot-uidlist:\n{list}"));
    for sub in ["cur", "new"] {
        for entry in std::fs::read_dir(dir.join(sub)).unwrap() {
            let path = entry.unwrap().path();
            if path
                .file_name()
                .unwrap()
                .to_string_lossy()
                .starts_with(&base)
            {
                return path;
            }
        }
    }
    panic!("no file for UID {uid} ({base})");
}

fn source_logins(pair: &Pair, user: &str) -> usize {
    let needle = format!("Login: user=<{user}>");
    pair.source.log().matches(&needle).count()
}

#[test]
fn one_damaged_message_on_dovecot_is_left_behind_and_the_other_59_copied() {
    let pair = Pair::start_with(
        &["dana"],
        PASSWORD,
        ADMIN_PASSWORD,
        |c| c.maildir = true,
        |_| {},
    );
    let seeded: Vec<SeedMessage> = (0..60).map(seed_message).collect();
    pair.seed_source("dana", "INBOX", &seeded);
    // A first look through IMAP caches every size, then one file loses its second half.
    let damaged_uid = 23;
    let mut s = pair.source_session("dana");
    pair.runtime.block_on(async {
        s.examine("INBOX").await.unwrap();
        let sizes: Vec<_> = s
            .uid_fetch("1:*", "(RFC822.SIZE)")
            .await
            .unwrap()
            .try_collect()
            .await
            .unwrap();
        assert_eq!(sizes.len(), 60);
        s.logout().await.ok();
    });
    let file = maildir_file(&pair.source.maildir("dana"), damaged_uid);
    let len = std::fs::metadata(&file).unwrap().len();
    std::fs::OpenOptions::new()
        .write(true)
        .open(&file)
        .unwrap()
        .set_len(len / 2)
        .unwrap();
    let logins_before = source_logins(&pair, "dana");

    let report = pair.path("report.json");
    let mut migrate = pair.migrate();
    migrate.arg("--report").arg(&report);
    let started = Instant::now();
    let output = run_with_timeout(&mut migrate, Duration::from_secs(180));
    let elapsed = started.elapsed();
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    let log = pair.source.log();
    // One message not copied: the run is incomplete (exit status 1), not failed outright.
    assert_eq!(output.status.code(), Some(1), "{stdout}\n{stderr}\n{log}");
    let json: serde_json::Value = serde_json::from_slice(&std::fs::read(&report).unwrap()).unwrap();
    let m = &json["mailboxes"][0];
    assert_eq!(m["outcome"]["state"], "completed", "{m}");
    assert_eq!(m["copied_messages"].as_u64(), Some(59), "{m}");
    let failures = m["failures"].as_array().unwrap();
    assert_eq!(failures.len(), 1, "{m}");
    assert_eq!(failures[0]["uid"].as_u64(), Some(u64::from(damaged_uid)));
    assert_eq!(failures[0]["folder"], "INBOX");
    let reason = failures[0]["reason"].as_str().unwrap();
    assert!(reason.contains("dropped the connection"), "{reason}");
    // The summary names the message left behind.
    assert!(
        stdout.contains(&format!("INBOX  uid {damaged_uid}")),
        "{stdout}"
    );
    assert!(
        log.contains("Cached message size larger than expected"),
        "the source did not see the damage:\n{log}"
    );

    // The destination holds the other 59, byte for byte.
    let mut want: Vec<[u8; 32]> = seeded
        .iter()
        .enumerate()
        .filter(|(i, _)| *i as u32 + 1 != damaged_uid)
        .map(|(_, m)| imap_account::sha256(&m.body))
        .collect();
    want.sort();
    let dest = pair.dest_snapshot("dana");
    let mut got: Vec<[u8; 32]> = dest.folders["INBOX"]
        .messages
        .iter()
        .map(|m| m.sha256)
        .collect();
    got.sort();
    assert_eq!(got, want);

    let logins = source_logins(&pair, "dana") - logins_before;
    eprintln!("{stdout}\nmigrate took {elapsed:?} with {logins} source logins");
    // Four attempts (the window, the message alone twice, the rest) of at most 4 connections.
    assert!(logins <= 16, "{logins} source logins\n{log}");
}
