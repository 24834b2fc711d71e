//! The connection budget against the mock server and its budget audit (issue 6): many small
//! mailboxes over 5 egress addresses (127.0.0.2 to 127.0.0.6), caps scaled down so they bind.
//! The server counts, not the client: the audited peaks stay within the caps, every mailbox
//! completes, every user's connections come from one address, the same on a rerun with the
//! same state file (egress list reversed, so a fresh choice would differ).
//!
//! Source and destination are one server and one account (the mail moves from `Old/` to the
//! top level: the job's SourceRootFolder), so the audit sees both sides of a user at once and
//! its peaks are exact: per user, per address, users per address.
//!
//! `CUTOVER_SCALE_FULL=1` runs the full size: 10,000 mailboxes (or
//! `CUTOVER_SCALE_MAILBOXES`), 2,000 users per address, 8 connections per user, as many
//! mailboxes at once as the open-files limit allows (both ends of each connection are in this
//! process; the test raises the soft limit to the hard one). It can take many minutes.

use chrono::{FixedOffset, TimeZone};
use cutover_engine::budget::{BudgetConfig, EgressMode};
use cutover_engine::report::NoProgress;
use cutover_engine::state::StateStore;
use cutover_engine::{
    run_batch, Account, Auth, BatchReport, CopyOptions, MailboxJob, ProxyLoginForm, Secret,
    TlsConfig,
};
use cutover_harness::certs::TestCa;
use cutover_harness::mock_server::{
    AuditBudget, BudgetAudit, Limits, MockConfig, MockServer, MockStore, MockTls,
};
use std::collections::BTreeSet;
use std::net::IpAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Sizes of one run.
#[derive(Debug, Clone, Copy)]
struct Scale {
    mailboxes: usize,
    per_user: u32,
    users_per_ip: u32,
    connections_per_ip: u32,
    parallel: usize,
}

fn scale() -> Scale {
    match std::env::var("CUTOVER_SCALE_FULL").as_deref() {
        Ok("1") => Scale {
            mailboxes: std::env::var("CUTOVER_SCALE_MAILBOXES")
                .ok()
                .and_then(|n| n.parse().ok())
                .unwrap_or(10_000),
            per_user: 8,
            users_per_ip: 2000,
            connections_per_ip: 16_000,
            // Both ends of every connection are in this process: as many mailboxes at once as
            // the open-files limit allows (all 10,000 need 160,000 descriptors).
            parallel: open_files_limit().saturating_sub(2000) as usize / 16,
        },
        // Small enough for CI, with caps that bind: 3 users or 10 connections per address,
        // 4 connections per user although each mailbox asks for 4 + 4.
        _ => Scale {
            mailboxes: 200,
            per_user: 4,
            users_per_ip: 3,
            connections_per_ip: 10,
            parallel: 1000,
        },
    }
}

fn egress() -> Vec<IpAddr> {
    (2..=6)
        .map(|i| format!("127.0.0.{i}").parse().unwrap())
        .collect()
}

fn user(i: usize) -> String {
    format!("u{i:05}")
}

/// Each user: 3 messages in Old and 1 in Old/Work, copied to INBOX and Work, so both sides use
/// more than one connection.
fn store(n: usize) -> MockStore {
    let store = MockStore::new('/');
    store.add_admin("admin", "apw");
    let tz = FixedOffset::east_opt(0).unwrap();
    for i in 0..n {
        let u = user(i);
        store.add_user(&u, "pw");
        store.create_folder(&u, "Old", None, true);
        store.create_folder(&u, "Old/Work", None, true);
        for m in 0..4u32 {
            let folder = if m == 3 { "Old/Work" } else { "Old" };
            let body = format!(
                "From: a@example.org\r\nSubject: {u} {m}\r\nMessage-ID: <{u}.{m}@x>\r\n\r\nhello {m}\r\n"
            );
            let date = tz.with_ymd_and_hms(2024, 1, 1 + m, 0, 0, 0).unwrap();
            store.append(&u, folder, &[], date, body.into_bytes().into());
        }
    }
    store
}

fn jobs(n: usize, source: &MockServer, dest: &MockServer) -> Vec<MailboxJob> {
    (0..n)
        .map(|i| MailboxJob {
            id: user(i),
            source: Account {
                endpoint: source.url().parse().unwrap(),
                auth: Auth::Login {
                    user: user(i),
                    password: Secret::new("pw"),
                },
            },
            dest: Account {
                endpoint: dest.url().parse().unwrap(),
                auth: ProxyLoginForm::MasterSeparator('*').auth_for(
                    &user(i),
                    "admin",
                    &Secret::new("apw"),
                ),
            },
            source_root: Some("Old".into()),
        })
        .collect()
}

async fn run(
    s: Scale,
    ca: &TestCa,
    server: &MockServer,
    state: &StateStore,
    egress: Vec<IpAddr>,
) -> BatchReport {
    let options = CopyOptions {
        state: Some(state.clone()),
        budget: BudgetConfig {
            max_connections_per_user: s.per_user,
            max_users_per_ip: s.users_per_ip,
            max_connections_per_ip: s.connections_per_ip,
            egress,
            egress_mode: EgressMode::Pool,
            sample_every: Duration::from_millis(100),
            ..BudgetConfig::default()
        },
        io_timeout: Duration::from_secs(60),
        ..CopyOptions::default()
    };
    let tls = TlsConfig {
        ca_pem: Some(ca.ca_pem().into_bytes()),
        danger_accept_invalid_certs: false,
    };
    let jobs = jobs(s.mailboxes, server, server);
    run_batch(jobs, options, tls, s.parallel, Arc::new(NoProgress)).await
}

/// The open-files limit after raising it to the hard limit.
fn open_files_limit() -> u64 {
    raise_open_files();
    nix::sys::resource::getrlimit(nix::sys::resource::Resource::RLIMIT_NOFILE)
        .map_or(1024, |(soft, _)| soft)
}

/// Raises the open-files limit to its hard limit: the full size holds tens of thousands of
/// sockets (both ends of every connection live in this process).
fn raise_open_files() {
    use nix::sys::resource::{getrlimit, setrlimit, Resource};
    if let Ok((_, hard)) = getrlimit(Resource::RLIMIT_NOFILE) {
        let _ = setrlimit(Resource::RLIMIT_NOFILE, hard, hard);
    }
}

/// The audited peaks against the caps, and one address per user.
fn check_audit(s: Scale, audit: &BudgetAudit) {
    let budget = AuditBudget {
        connections_per_user: u64::from(s.per_user),
        users_per_ip: u64::from(s.users_per_ip),
        connections_per_ip: Some(u64::from(s.connections_per_ip)),
    };
    let violations = audit.violations(&budget);
    assert!(
        violations.is_empty(),
        "{:?}",
        &violations[..violations.len().min(5)]
    );
    assert_eq!(audit.refused_by_caps, 0, "the server refused a connection");
    let several = audit.users_on_several_ips();
    assert!(
        several.is_empty(),
        "users on several addresses: {:?}",
        &several[..several.len().min(5)]
    );
    let used: BTreeSet<IpAddr> = audit.peak_connections_per_ip.keys().copied().collect();
    assert_eq!(
        used,
        egress().into_iter().collect(),
        "every address used, no other"
    );
    assert_eq!(
        audit.ips_per_user.len(),
        s.mailboxes,
        "every user logged in"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_batch_over_five_addresses_keeps_the_audited_budget_and_sticks_on_rerun() {
    let s = scale();
    raise_open_files();
    let ca = TestCa::new().unwrap();
    let cert = ca.server_cert(&["localhost", "127.0.0.1"]).unwrap();
    // The server enforces the per-user and per-address caps too: a connection over either
    // would be refused (and counted).
    let config = MockConfig {
        tls: MockTls::Implicit,
        identity: Some(cert),
        limits: Limits {
            max_connections_per_user: Some(s.per_user),
            max_connections_per_ip: Some(s.connections_per_ip),
            ..Limits::default()
        },
        ..MockConfig::default()
    };
    let server = MockServer::start(config, store(s.mailboxes)).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let state = StateStore::open(dir.path().join("state.sqlite"))
        .await
        .unwrap();

    let started = Instant::now();
    let report = tokio::time::timeout(
        Duration::from_secs(3600),
        run(s, &ca, &server, &state, egress()),
    )
    .await
    .expect("the batch finishes");
    let took = started.elapsed();
    eprintln!(
        "{} mailboxes ({} at most at once) in {took:.1?}: {:.0} mailboxes/s, peaks {:?}",
        s.mailboxes,
        s.parallel,
        s.mailboxes as f64 / took.as_secs_f64(),
        report
            .egress_peaks
            .iter()
            .map(|p| (p.users, p.connections))
            .collect::<Vec<_>>()
    );
    let failed: Vec<_> = report
        .mailboxes
        .iter()
        .filter(|m| m.copied_messages != 4)
        .map(|m| (&m.mailbox, &m.outcome))
        .take(5)
        .collect();
    assert!(failed.is_empty(), "mailboxes not copied: {failed:?}");
    assert_eq!(report.totals.mailboxes as usize, s.mailboxes);
    assert!(report.all_copied());
    for i in [0, s.mailboxes / 2, s.mailboxes - 1] {
        assert_eq!(server.store().messages(&user(i), "INBOX").len(), 3);
        assert_eq!(server.store().messages(&user(i), "Work").len(), 1);
    }
    check_audit(s, &server.audit());
    // The scheduler's own peaks: within the caps, and at them (the caps bind).
    assert_eq!(report.egress_peaks.len(), 5);
    for peak in &report.egress_peaks {
        assert!(peak.users <= s.users_per_ip && peak.connections <= s.connections_per_ip);
    }
    if s.parallel >= s.mailboxes {
        assert!(
            report
                .egress_peaks
                .iter()
                .all(|p| p.connections == s.connections_per_ip || p.users == s.users_per_ip),
            "the caps never bound: {:?}",
            report.egress_peaks
        );
    } else {
        // The full size: the open-files limit (mailboxes at once) binds first.
        let users: u32 = report.egress_peaks.iter().map(|p| p.users).sum();
        assert!(users as usize >= s.parallel, "{:?}", report.egress_peaks);
    }
    assert!(!report.egress_load.is_empty());

    // A rerun with the same state file and the addresses listed the other way round: each user
    // comes from the address recorded for it (the audit keeps every address a user came from).
    let reversed: Vec<IpAddr> = egress().into_iter().rev().collect();
    let again = run(s, &ca, &server, &state, reversed).await;
    assert_eq!(again.totals.mailboxes_failed, 0);
    assert!(again.all_copied());
    // An incremental pass: nothing is copied twice.
    for i in [0, s.mailboxes - 1] {
        assert_eq!(server.store().messages(&user(i), "INBOX").len(), 3);
    }
    check_audit(s, &server.audit());
    for i in 0..s.mailboxes {
        let recorded = state
            .call({
                let u = user(i);
                move |db| db.egress_of(&u)
            })
            .await
            .unwrap();
        let audited = server.audit().ips_per_user[&user(i)].clone();
        assert_eq!(
            audited.into_iter().collect::<Vec<_>>(),
            vec![recorded.unwrap()]
        );
        if i > 20 {
            break;
        }
    }
}

/// Against Dovecot with `mail_max_userip_connections = 3` at the destination: each mailbox has 5
/// folders with mail, so it would open 4 destination connections (one writer per folder, up to
/// `dest_connections`). With `max_connections_per_server` 3 every login is accepted and all the
/// mail arrives; without the cap Dovecot refuses the fourth login, which shows the setting is
/// what keeps it out.
mod dovecot {
    use super::*;
    use crate::pair::Pair;
    use cutover_harness::imap_account::SeedMessage;

    const USERS: [&str; 3] = ["ann", "bob", "cid"];
    const FOLDERS: [&str; 5] = ["INBOX", "A", "B", "C", "D"];
    const REFUSED: &str = "Maximum number of connections";

    fn pair() -> Pair {
        let pair = Pair::start(&USERS, "user-pw", "admin-pw", |dest| {
            dest.max_userip_connections = 3;
        });
        let tz = FixedOffset::east_opt(0).unwrap();
        for u in USERS {
            for (f, folder) in FOLDERS.iter().enumerate() {
                let messages: Vec<SeedMessage> = (0..3)
                    .map(|m| SeedMessage {
                        flags: vec![],
                        internaldate: tz.with_ymd_and_hms(2025, 1, 1 + m, f as u32, 0, 0).unwrap(),
                        body: format!(
                            "From: a@example.org\r\nSubject: {u} {folder} {m}\r\n\r\nhi\r\n"
                        )
                        .into_bytes(),
                    })
                    .collect();
                pair.seed_source(u, folder, &messages);
            }
        }
        pair
    }

    fn migrate(pair: &Pair, per_server: Option<u32>) -> BatchReport {
        let jobs = USERS
            .iter()
            .map(|u| MailboxJob {
                id: u.to_string(),
                source: Account {
                    endpoint: pair.source.imaps_url().parse().unwrap(),
                    auth: Auth::Login {
                        user: u.to_string(),
                        password: Secret::new("user-pw"),
                    },
                },
                dest: Account {
                    endpoint: pair.dest.imaps_url().parse().unwrap(),
                    auth: ProxyLoginForm::MasterSeparator('*').auth_for(
                        u,
                        "admin",
                        &Secret::new("admin-pw"),
                    ),
                },
                source_root: None,
            })
            .collect();
        let options = CopyOptions {
            budget: BudgetConfig {
                max_connections_per_server: per_server,
                ..BudgetConfig::default()
            },
            reconnect_pause: Duration::from_millis(100),
            ..CopyOptions::default()
        };
        let tls = TlsConfig {
            ca_pem: Some(pair.ca_pem.clone().into_bytes()),
            danger_accept_invalid_certs: false,
        };
        pair.runtime
            .block_on(run_batch(jobs, options, tls, 3, Arc::new(NoProgress)))
    }

    fn messages_at_dest(pair: &Pair, user: &str) -> usize {
        pair.dest_snapshot(user)
            .folders
            .values()
            .map(|f| f.messages.len())
            .sum()
    }

    #[test]
    fn the_per_server_cap_keeps_every_login_within_mail_max_userip_connections() {
        if cutover_harness::dovecot::dovecot_binary().is_none() {
            panic!("dovecot is not installed (scripts/test installs it)");
        }
        let pair = pair();
        let report = migrate(&pair, Some(3));
        assert!(report.all_copied(), "{:?}", report.mailboxes);
        let log = pair.dest.log();
        assert!(!log.contains(REFUSED), "Dovecot refused a login:\n{log}");
        for u in USERS {
            assert_eq!(messages_at_dest(&pair, u), FOLDERS.len() * 3, "{u}");
        }

        // Without the cap the fourth destination connection of a mailbox is refused.
        let pair = self::pair();
        let _ = migrate(&pair, None);
        assert!(
            pair.dest.log().contains(REFUSED),
            "Dovecot refused nothing without the cap: the test would not notice a broken cap"
        );
    }
}
