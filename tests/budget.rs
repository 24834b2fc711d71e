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
//! `CUTOVER_SCALE_FULL=1` runs the full size: 10,000 mailboxes, 2,000 users per address,
//! 8 connections per user (needs a high open-files limit; the test raises it as far as allowed).

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
            mailboxes: 10_000,
            per_user: 8,
            users_per_ip: 2000,
            connections_per_ip: 16_000,
            parallel: 10_000,
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
        Duration::from_secs(600),
        run(s, &ca, &server, &state, egress()),
    )
    .await
    .expect("the batch finishes");
    let took = started.elapsed();
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
    assert!(
        report
            .egress_peaks
            .iter()
            .all(|p| p.connections == s.connections_per_ip || p.users == s.users_per_ip),
        "the caps never bound: {:?}",
        report.egress_peaks
    );
    assert!(!report.egress_load.is_empty());
    eprintln!(
        "{} mailboxes in {took:.1?}: {:.0} mailboxes/s, peaks {:?}",
        s.mailboxes,
        s.mailboxes as f64 / took.as_secs_f64(),
        report
            .egress_peaks
            .iter()
            .map(|p| (p.users, p.connections))
            .collect::<Vec<_>>()
    );

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
