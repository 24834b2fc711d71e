//! The copier against the in-process mock server, for what Dovecot cannot show: a server with
//! only LITERAL- (which refuses a non-synchronizing literal over 4,096 bytes), a server with only
//! synchronizing literals and no MULTIAPPEND, an APPENDLIMIT, a 50 MB message, and a
//! destination that throttles.

use chrono::{FixedOffset, TimeZone};
use cutover_engine::report::{MailboxOutcome, NoProgress};
use cutover_engine::{
    run_batch, Account, Auth, BatchReport, CopyOptions, MailboxJob, ProxyLoginForm, Secret,
    TlsConfig,
};
use cutover_harness::certs::{ServerCert, TestCa};
use cutover_harness::mock_server::{
    Capabilities, Damage, MockConfig, MockProfile, MockServer, MockStore, MockTls, Shaping,
};
use sha2::{Digest, Sha256};
use std::sync::Arc;
use std::time::Duration;

pub(crate) const USER: &str = "bob";

fn message(i: usize, extra: usize) -> bytes::Bytes {
    let mut m = format!("From: a{i}@example.org\r\nSubject: m{i}\r\nMessage-ID: <m{i}@x>\r\n\r\n")
        .into_bytes();
    m.extend(std::iter::repeat_n(b'a' + (i % 26) as u8, extra));
    m.extend_from_slice(b"\r\n");
    m.into()
}

/// A source with sizes on both sides of the LITERAL- limit (4,096 bytes), in two folders.
pub(crate) fn source_store(with_huge: bool) -> (MockStore, usize) {
    let store = MockStore::new('/');
    store.add_user(USER, "pw");
    store.create_folder(USER, "Work/Reports", None, true);
    let tz = FixedOffset::east_opt(3600).unwrap();
    let mut n = 0;
    for i in 0..60 {
        let folder = if i % 3 == 0 { "Work/Reports" } else { "INBOX" };
        let size = [10, 4000, 4096 - 60, 5000, 70_000][i % 5];
        let date = tz.with_ymd_and_hms(2024, 1, 1, 0, 0, 0).unwrap()
            + chrono::Duration::hours((i * 37 % 60) as i64);
        store.append(USER, folder, &["\\Seen"], date, message(i, size));
        n += 1;
    }
    if with_huge {
        let date = tz.with_ymd_and_hms(2020, 1, 1, 0, 0, 0).unwrap();
        store.append(USER, "INBOX", &[], date, message(999, 50 << 20));
        n += 1;
    }
    (store, n)
}

pub(crate) async fn start(
    cert: &ServerCert,
    store: MockStore,
    caps: Capabilities,
    limit: Option<u64>,
) -> MockServer {
    let config = MockConfig {
        tls: MockTls::Implicit,
        identity: Some(cert.clone()),
        caps,
        max_message_size: limit,
        ..MockConfig::default()
    };
    MockServer::start(config, store).await.expect("mock server")
}

async fn copy(ca: &TestCa, source: &MockServer, dest: &MockServer) -> BatchReport {
    copy_with(ca, source, dest, CopyOptions::default()).await
}

pub(crate) async fn copy_with(
    ca: &TestCa,
    source: &MockServer,
    dest: &MockServer,
    options: CopyOptions,
) -> BatchReport {
    let job = MailboxJob {
        id: USER.into(),
        source: Account {
            endpoint: source.url().parse().unwrap(),
            auth: Auth::Login {
                user: USER.into(),
                password: Secret::new("pw"),
            },
        },
        dest: Account {
            endpoint: dest.url().parse().unwrap(),
            auth: ProxyLoginForm::MasterSeparator('*').auth_for(USER, "admin", &Secret::new("apw")),
        },
        source_root: None,
    };
    let tls = TlsConfig {
        ca_pem: Some(ca.ca_pem().into_bytes()),
        danger_accept_invalid_certs: false,
    };
    run_batch(vec![job], options, tls, 1, Arc::new(NoProgress)).await
}

pub(crate) fn dest_store() -> MockStore {
    let store = MockStore::new('/');
    store.add_user(USER, "unused");
    store.add_admin("admin", "apw");
    store
}

/// One message as compared: size, SHA-256 of the body, flags, INTERNALDATE.
pub(crate) type MessageSummary = (usize, String, Vec<String>, String);

/// Multiset of (size, SHA-256 of the body, flags, date) per folder that holds messages (the
/// destination may hold a selectable parent where the source has a `\Noselect` one: the mock
/// creates parents selectable, as Dovecot does).
pub(crate) fn contents(store: &MockStore) -> Vec<(String, Vec<MessageSummary>)> {
    let mut out = Vec::new();
    for f in store.folders(USER).into_iter().filter(|f| !f.noselect) {
        let mut msgs: Vec<_> = store
            .messages(USER, &f.name)
            .into_iter()
            .map(|m| {
                let digest = Sha256::digest(&m.body);
                let hex: String = digest.iter().map(|b| format!("{b:02x}")).collect();
                (
                    m.body.len(),
                    hex,
                    m.flags.clone(),
                    m.internaldate.to_rfc3339(),
                )
            })
            .collect();
        msgs.sort();
        if !msgs.is_empty() {
            out.push((f.name, msgs));
        }
    }
    out.sort();
    out
}

pub(crate) async fn within<T>(f: impl std::future::Future<Output = T>) -> T {
    tokio::time::timeout(Duration::from_secs(120), f)
        .await
        .expect("test timed out")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn literal_minus_and_synchronizing_servers_get_exact_copies() {
    within(async {
        let ca = TestCa::new().unwrap();
        let cert = ca.server_cert(&["localhost", "127.0.0.1"]).unwrap();
        let (store, n) = source_store(false);
        let source = start(&cert, store.clone(), Capabilities::default(), None).await;
        let servers = [
            (
                "LITERAL- only",
                Capabilities {
                    literal_plus: false,
                    literal_minus: true,
                    multiappend: false,
                    ..Capabilities::default()
                },
            ),
            (
                "LITERAL- with MULTIAPPEND",
                Capabilities {
                    literal_plus: false,
                    literal_minus: true,
                    ..Capabilities::default()
                },
            ),
            (
                "synchronizing only",
                Capabilities {
                    literal_plus: false,
                    literal_minus: false,
                    multiappend: false,
                    uidplus: false,
                    ..Capabilities::default()
                },
            ),
        ];
        for (name, caps) in servers {
            let dest = start(&cert, dest_store(), caps, None).await;
            let report = copy(&ca, &source, &dest).await;
            let m = &report.mailboxes[0];
            assert_eq!(m.outcome, MailboxOutcome::Completed, "{name}: {m:?}");
            assert_eq!(m.copied_messages as usize, n, "{name}");
            // A LITERAL- server answers BAD to a non-synchronizing literal over 4,096 bytes: that
            // would have left a message out.
            assert_eq!(
                contents(&store),
                contents(dest.store()),
                "{name}: destination differs"
            );
        }
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_50_mb_message_copies_and_appendlimit_skips_without_sending() {
    within(async {
        let ca = TestCa::new().unwrap();
        let cert = ca.server_cert(&["localhost", "127.0.0.1"]).unwrap();
        let (store, n) = source_store(true);
        let source = start(&cert, store.clone(), Capabilities::default(), None).await;

        let dest = start(&cert, dest_store(), Capabilities::default(), None).await;
        let report = copy(&ca, &source, &dest).await;
        assert_eq!(
            report.mailboxes[0].copied_messages as usize, n,
            "{:?}",
            report.mailboxes[0].outcome
        );
        assert_eq!(contents(&store), contents(dest.store()));

        // A destination that advertises APPENDLIMIT=1 MiB: the 50 MB message is recorded as
        // skipped with the reason, and the others are copied.
        let caps = Capabilities {
            appendlimit: Some(1 << 20),
            ..Capabilities::default()
        };
        let limited = start(&cert, dest_store(), caps, Some(1 << 20)).await;
        let report = copy(&ca, &source, &limited).await;
        let m = &report.mailboxes[0];
        assert_eq!(m.outcome, MailboxOutcome::Completed);
        assert_eq!(m.copied_messages as usize, n - 1);
        assert_eq!(m.failures.len(), 1, "{:?}", m.failures);
        assert!(
            m.failures[0].reason.contains("APPENDLIMIT"),
            "{}",
            m.failures[0].reason
        );
        assert_eq!(
            limited.stats().appended_messages as usize,
            n - 1,
            "the big one was never sent"
        );
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_message_the_source_cannot_read_is_recorded_and_the_rest_are_copied() {
    within(async {
        let ca = TestCa::new().unwrap();
        let cert = ca.server_cert(&["localhost", "127.0.0.1"]).unwrap();
        let (store, n) = source_store(true);
        // One small message inside a window and the 50 MB one (read in pieces) are unreadable.
        let small_uid = store.messages(USER, "INBOX")[3].uid;
        let huge_uid = store.messages(USER, "INBOX").last().unwrap().uid;
        store.make_unreadable(USER, "INBOX", small_uid, Damage::Content);
        store.make_unreadable(USER, "INBOX", huge_uid, Damage::Content);
        // And one whose size the server cannot give either: the folder-wide metadata FETCH
        // fails, and the scan reads the folder in parts to leave out only this one.
        let sizeless_uid = store.messages(USER, "Work/Reports")[2].uid;
        store.make_unreadable(USER, "Work/Reports", sizeless_uid, Damage::ContentAndSize);
        let source = start(&cert, store.clone(), Capabilities::default(), None).await;
        let dest = start(&cert, dest_store(), Capabilities::default(), None).await;

        let report = copy(&ca, &source, &dest).await;
        let m = &report.mailboxes[0];
        assert_eq!(m.outcome, MailboxOutcome::Completed);
        assert_eq!(m.copied_messages as usize, n - 3);
        let mut failed: Vec<(&str, u32)> = m
            .failures
            .iter()
            .map(|f| (f.folder.as_str(), f.uid))
            .collect();
        failed.sort();
        let mut want = vec![
            ("INBOX", small_uid),
            ("INBOX", huge_uid),
            ("Work/Reports", sizeless_uid),
        ];
        want.sort();
        assert_eq!(failed, want);
        for f in &m.failures {
            assert!(
                f.reason.contains("could not read") && f.reason.contains("SERVERBUG"),
                "{}",
                f.reason
            );
        }
        let reports = m
            .folders
            .iter()
            .find(|f| f.source == "Work/Reports")
            .unwrap();
        assert_eq!((reports.source_messages, reports.failed_messages), (20, 1));
        // Everything else arrived intact.
        let sent: usize = contents(dest.store()).iter().map(|(_, m)| m.len()).sum();
        assert_eq!(sent, n - 3);
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_throttling_destination_slows_the_copy_but_loses_nothing() {
    within(async {
        let ca = TestCa::new().unwrap();
        let cert = ca.server_cert(&["localhost", "127.0.0.1"]).unwrap();
        let (store, n) = source_store(false);
        let source = start(&cert, store.clone(), Capabilities::default(), None).await;
        // Exchange Online as a destination: one APPEND per message, and at most 15 commands per
        // second for the user before "Request is throttled. Suggested Backoff Time: ...".
        let profile = MockProfile::ExchangeOnline;
        let config = MockConfig {
            identity: Some(cert.clone()),
            shaping: Shaping {
                throttle: Some(profile.throttle(15, Duration::from_millis(150))),
                ..Shaping::default()
            },
            ..profile.config()
        };
        let dest = MockServer::start(config, dest_store()).await.unwrap();

        let report = copy(&ca, &source, &dest).await;
        let m = &report.mailboxes[0];
        assert_eq!(m.outcome, MailboxOutcome::Completed, "{:?}", m.outcome);
        assert!(m.failures.is_empty(), "{:?}", m.failures);
        let stats = dest.stats();
        assert!(stats.throttled_commands > 0, "the destination throttled");
        // The hint was obeyed: every refused message came back no sooner than the suggested
        // 150 ms (less a margin for a refusal that arrived just after the pause began).
        assert!(stats.retries_after_throttle > 0, "{stats:?}");
        let shortest = stats.shortest_retry_after_throttle.unwrap();
        assert!(
            shortest >= Duration::from_millis(120),
            "a throttled message came back after {shortest:?}, before the 150 ms backoff"
        );
        assert_eq!(contents(dest.store()), contents(&store));
        assert_eq!(m.copied_messages as usize, n);
    })
    .await
}

/// Per folder: (messages missing at the destination, messages there too many times), when any.
fn difference(
    source: &[(String, Vec<MessageSummary>)],
    dest: &[(String, Vec<MessageSummary>)],
) -> Vec<(String, usize, usize)> {
    use std::collections::HashMap;
    let mut out = Vec::new();
    let mut names: Vec<&String> = source.iter().chain(dest).map(|(n, _)| n).collect();
    names.sort();
    names.dedup();
    for name in names {
        let count = |side: &[(String, Vec<MessageSummary>)]| {
            let mut m: HashMap<MessageSummary, i64> = HashMap::new();
            for (_, msgs) in side.iter().filter(|(n, _)| n == name) {
                for x in msgs {
                    *m.entry(x.clone()).or_default() += 1;
                }
            }
            m
        };
        let (s, d) = (count(source), count(dest));
        let missing: i64 = s
            .iter()
            .map(|(k, n)| (n - d.get(k).unwrap_or(&0)).max(0))
            .sum();
        let extra: i64 = d
            .iter()
            .map(|(k, n)| (n - s.get(k).unwrap_or(&0)).max(0))
            .sum();
        if missing + extra > 0 {
            out.push((name.clone(), missing as usize, extra as usize));
        }
    }
    out
}

/// A source of `n` messages in three folders, sizes from 200 bytes to 40 KB (so APPEND
/// literals span many reads), one in ten without a Message-ID (recognised by content instead).
fn faulty_corpus(n: usize) -> MockStore {
    let store = MockStore::new('/');
    store.add_user(USER, "pw");
    store.create_folder(USER, "Sent", Some("\\Sent"), true);
    store.create_folder(USER, "Archive/2023", None, true);
    let tz = FixedOffset::east_opt(0).unwrap();
    for i in 0..n {
        let folder = ["INBOX", "Sent", "Archive/2023"][i % 3];
        let id = match i % 10 {
            0 => String::new(),
            _ => format!("Message-ID: <f{i}@faults.test>\r\n"),
        };
        let mut m = format!("From: a{i}@example.org\r\nSubject: f{i}\r\n{id}\r\n").into_bytes();
        m.extend(std::iter::repeat_n(
            b'a' + (i % 26) as u8,
            [200, 3000, 40_000][i % 3],
        ));
        m.extend_from_slice(b"\r\n");
        let date =
            tz.with_ymd_and_hms(2023, 1, 1, 0, 0, 0).unwrap() + chrono::Duration::hours(i as i64);
        store.append(USER, folder, &["\\Seen"], date, m.into());
    }
    store
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dropped_connections_mid_literal_and_mid_fetch_lose_and_duplicate_nothing() {
    use cutover_harness::mock_server::{Fault, FaultPlan, FaultRule};
    within(async {
        let ca = TestCa::new().unwrap();
        let cert = ca.server_cert(&["localhost", "127.0.0.1"]).unwrap();
        let store = faulty_corpus(240);
        let rule = |fault, probability, after_commands| FaultRule {
            fault,
            probability,
            after_commands,
        };
        // With UIDPLUS the lost answers are looked for above the last APPENDUID; without it,
        // above the UIDNEXT the folder had at the start.
        let mut reconciliations = 0;
        for (seed, uidplus) in [(1, true), (2, false), (3, true), (4, false)] {
            let source = MockServer::start(
                MockConfig {
                    tls: MockTls::Implicit,
                    identity: Some(cert.clone()),
                    faults: FaultPlan {
                        seed,
                        rules: vec![
                            // Cut in the middle of a FETCH response.
                            rule(Fault::DropAfterBytes(20_000), 0.4, (4, 12)),
                            rule(Fault::Bye, 0.2, (4, 20)),
                        ],
                    },
                    ..MockConfig::default()
                },
                store.clone(),
            )
            .await
            .unwrap();
            let dest = MockServer::start(
                MockConfig {
                    tls: MockTls::Implicit,
                    identity: Some(cert.clone()),
                    caps: Capabilities {
                        uidplus,
                        ..Capabilities::default()
                    },
                    faults: FaultPlan {
                        seed: seed + 100,
                        rules: vec![
                            // The APPEND is carried out, its answer lost.
                            rule(Fault::DropAfterBytes(40), 0.4, (3, 10)),
                            rule(Fault::DropMidLiteral, 0.4, (3, 10)),
                        ],
                    },
                    ..MockConfig::default()
                },
                dest_store(),
            )
            .await
            .unwrap();
            let options = CopyOptions {
                reconnect_pause: Duration::from_millis(10),
                fetch_window_messages: 10,
                append_batch_messages: 5,
                ..CopyOptions::default()
            };
            let report = copy_with(&ca, &source, &dest, options).await;
            let m = &report.mailboxes[0];
            assert_eq!(m.outcome, MailboxOutcome::Completed, "seed {seed}: {m:?}");
            assert!(m.failures.is_empty(), "seed {seed}: {:?}", m.failures);
            assert_eq!(m.copied_messages, 240, "seed {seed}");
            let differences = difference(&contents(&store), &contents(dest.store()));
            assert!(
                differences.is_empty(),
                "seed {seed}: destination differs: {differences:?}"
            );
            // The faults did strike: more connections than one attempt opens.
            let (s, d) = (source.stats(), dest.stats());
            // Only reconciliation EXAMINEs at the destination.
            reconciliations += d.commands.get("EXAMINE").copied().unwrap_or(0);
            assert!(
                s.connections_total + d.connections_total > 10,
                "seed {seed}: {} + {} connections",
                s.connections_total,
                d.connections_total
            );
        }
        assert!(
            reconciliations >= 3,
            "lost answers were looked for {reconciliations} times"
        );
    })
    .await
}
