//! The copier end to end against two real Dovecot servers on loopback, over TLS.
//!
//! The source uses `.` as hierarchy separator and the destination `/`, so every nested name is
//! translated; the destination logs in through a master user, as a migration admin would.

use chrono::{DateTime, Duration as ChronoDuration, FixedOffset, TimeZone};
use cutover_engine::report::{MailboxOutcome, NoProgress};
use cutover_engine::{
    run_batch, Account, AppendMode, Auth, BatchReport, CompressMode, CopyOptions, Endpoint,
    MailboxJob, ProxyLoginForm, Secret, TlsConfig,
};
use cutover_harness::certs::TestCa;
use cutover_harness::dovecot::{Dovecot, DovecotConfig};
use cutover_harness::imap_account::{self, AccountSnapshot, SeedMessage};
use std::sync::Arc;
use std::time::Duration;

const USER: &str = "alice";
const USER_PW: &str = "alice-Source-pw-7Q";
const ADMIN: &str = "migadmin";
const ADMIN_PW: &str = "admin-Dest-pw-9Z";

struct Pair {
    ca_pem: String,
    source: Dovecot,
    dest: Dovecot,
}

fn start_pair(dest_tweak: impl FnOnce(&mut DovecotConfig)) -> Pair {
    let ca = TestCa::new().expect("CA");
    let cert = ca.server_cert(&["localhost", "127.0.0.1"]).expect("cert");
    let source = Dovecot::start(
        DovecotConfig {
            users: vec![(USER.into(), USER_PW.into())],
            separator: '.',
            compress: true,
            ..DovecotConfig::default()
        },
        &cert,
    )
    .expect("source dovecot");
    let mut dest_config = DovecotConfig {
        users: vec![(USER.into(), "dest-user-pw-unused".into())],
        master: Some((ADMIN.into(), ADMIN_PW.into())),
        separator: '/',
        compress: true,
        ..DovecotConfig::default()
    };
    dest_tweak(&mut dest_config);
    let dest = Dovecot::start(dest_config, &cert).expect("dest dovecot");
    Pair {
        ca_pem: ca.ca_pem(),
        source,
        dest,
    }
}

fn date(days_ago: i64, secs: i64) -> DateTime<FixedOffset> {
    let tz = FixedOffset::east_opt(if days_ago % 3 == 0 { -5 * 3600 } else { 3600 }).unwrap();
    tz.with_ymd_and_hms(2026, 6, 1, 12, 0, 0).unwrap() - ChronoDuration::days(days_ago)
        + ChronoDuration::seconds(secs)
}

fn message(i: usize, body_extra: &[u8]) -> Vec<u8> {
    let mut m = format!(
        "From: Sender {i} <s{i}@example.org>\r\nTo: alice@example.com\r\nSubject: message {i}\r\n\
         Message-ID: <m{i}@example.org>\r\nMIME-Version: 1.0\r\n\
         Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n"
    )
    .into_bytes();
    m.extend_from_slice("Grüße aus Köln, café ☕ — ".as_bytes());
    m.extend_from_slice(body_extra);
    m.extend_from_slice(b"\r\n");
    m
}

fn big_body(bytes: usize, seed: u8) -> Vec<u8> {
    // base64-looking lines, 76 chars, CRLF: what a large attachment looks like.
    let mut v = Vec::with_capacity(bytes + 80);
    let mut x = seed as u32 | 1;
    while v.len() < bytes {
        for _ in 0..76 {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            v.push(
                b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
                    [(x % 64) as usize],
            );
        }
        v.extend_from_slice(b"\r\n");
    }
    v
}

/// Seeds the source: nested, non-ASCII and empty folders, flags and keywords, one 21 MB message.
async fn seed_source(pair: &Pair, messages_per_folder: usize, with_big: bool) -> usize {
    let mut s = imap_account::login(
        "127.0.0.1",
        pair.source.imaps_port(),
        &pair.ca_pem,
        USER,
        USER_PW,
    )
    .await
    .expect("source login");
    let folders = [
        "INBOX",
        "Sent",
        "Entw&APw-rfe",
        "Archive.2024",
        "Archive.2024.Q1",
        "Projets.&AMk-t&AOk-",
    ];
    let flag_sets: [&[&str]; 5] = [
        &["\\Seen"],
        &[],
        &["\\Seen", "\\Flagged", "$label1"],
        &["\\Answered", "$Forwarded"],
        &["\\Draft"],
    ];
    let mut n = 0;
    for (f, folder) in folders.iter().enumerate() {
        let mut msgs = Vec::new();
        for k in 0..messages_per_folder {
            let i = n + k;
            // Dates interleave across folders; a few exact ties.
            let d = date(((k * 37 + f * 11) % 400) as i64, (i % 7) as i64 * 60);
            let extra = if k % 9 == 0 {
                big_body(200_000 + k * 97, i as u8)
            } else {
                format!("body {i}").into_bytes()
            };
            msgs.push(SeedMessage {
                flags: flag_sets[i % flag_sets.len()]
                    .iter()
                    .map(|s| s.to_string())
                    .collect(),
                internaldate: d,
                body: message(i, &extra),
            });
        }
        if with_big && f == 1 {
            msgs.push(SeedMessage {
                flags: vec!["\\Seen".into()],
                internaldate: date(1000, 0),
                body: message(9999, &big_body(21 << 20, 7)),
            });
        }
        n += msgs.len();
        imap_account::seed(&mut s, folder, &msgs)
            .await
            .expect("seed");
    }
    s.create("Empty").await.expect("create Empty");
    for sub in ["INBOX", "Sent", "Archive.2024", "Entw&APw-rfe", "Empty"] {
        s.subscribe(sub).await.expect("subscribe");
    }
    s.logout().await.ok();
    n
}

async fn snapshot(port: u16, ca_pem: &str, admin: bool) -> AccountSnapshot {
    let mut s = if admin {
        imap_account::authenticate_plain("127.0.0.1", port, ca_pem, USER, ADMIN, ADMIN_PW).await
    } else {
        imap_account::login("127.0.0.1", port, ca_pem, USER, USER_PW).await
    }
    .expect("snapshot login");
    let snap = imap_account::snapshot(&mut s).await.expect("snapshot");
    s.logout().await.ok();
    snap
}

fn job(source_url: &str, dest_url: &str, form: ProxyLoginForm) -> MailboxJob {
    MailboxJob {
        id: USER.into(),
        source: Account {
            endpoint: source_url.parse::<Endpoint>().unwrap(),
            auth: Auth::Login {
                user: USER.into(),
                password: Secret::new(USER_PW),
            },
        },
        dest: Account {
            endpoint: dest_url.parse::<Endpoint>().unwrap(),
            auth: form.auth_for(USER, ADMIN, &Secret::new(ADMIN_PW)),
        },
        source_root: None,
    }
}

async fn migrate(pair: &Pair, job: MailboxJob, options: CopyOptions) -> BatchReport {
    let tls = TlsConfig {
        ca_pem: Some(pair.ca_pem.clone().into_bytes()),
        danger_accept_invalid_certs: false,
    };
    run_batch(vec![job], options, tls, 1, Arc::new(NoProgress)).await
}

fn translate(source_wire: &str) -> String {
    source_wire.replace('.', "/")
}

/// Per folder: count, SHA-256 multiset, flags and INTERNALDATE per message are equal.
fn assert_same_content(src: &AccountSnapshot, dst: &AccountSnapshot) -> usize {
    let mut compared = 0;
    for (name, sf) in &src.folders {
        let dn = translate(name);
        let df = dst.folders.get(&dn).unwrap_or_else(|| {
            panic!(
                "folder {dn} missing at destination; has {:?}",
                dst.folders.keys()
            )
        });
        assert_eq!(
            sf.messages.len(),
            df.messages.len(),
            "message count in {name}"
        );
        let key = |m: &imap_account::MessageSnapshot| (m.sha256, m.internaldate, m.flags.clone());
        let mut a: Vec<_> = sf.messages.iter().map(key).collect();
        let mut b: Vec<_> = df.messages.iter().map(key).collect();
        a.sort();
        b.sort();
        assert!(a == b, "content, flags or dates differ in {name}");
        compared += a.len();
    }
    compared
}

fn assert_newest_first(dst: &AccountSnapshot) {
    for (name, f) in &dst.folders {
        for w in f.messages.windows(2) {
            assert!(
                w[0].internaldate >= w[1].internaldate,
                "{name}: UID {} ({}) before UID {} ({}) is not newest first",
                w[0].uid,
                w[0].internaldate,
                w[1].uid,
                w[1].internaldate
            );
        }
    }
}

fn assert_unchanged(before: &AccountSnapshot, after: &AccountSnapshot) {
    assert_eq!(
        before.folders.keys().collect::<Vec<_>>(),
        after.folders.keys().collect::<Vec<_>>()
    );
    for (name, b) in &before.folders {
        let a = &after.folders[name];
        assert_eq!(
            (b.uidvalidity, b.uidnext),
            (a.uidvalidity, a.uidnext),
            "{name} UIDVALIDITY/UIDNEXT changed"
        );
        assert_eq!(
            b.messages.len(),
            a.messages.len(),
            "{name}: message count changed"
        );
        for (mb, ma) in b.messages.iter().zip(&a.messages) {
            assert_eq!(
                (mb.uid, &mb.flags),
                (ma.uid, &ma.flags),
                "{name}: source flags changed (\\Seen added?)"
            );
        }
    }
    assert_eq!(before.subscribed, after.subscribed);
}

fn completed(report: &BatchReport) -> &cutover_engine::MailboxReport {
    let m = &report.mailboxes[0];
    assert_eq!(
        m.outcome,
        MailboxOutcome::Completed,
        "mailbox failed: {m:?}"
    );
    m
}

async fn within<T>(f: impl std::future::Future<Output = T>) -> T {
    tokio::time::timeout(Duration::from_secs(300), f)
        .await
        .expect("test timed out")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn copies_a_whole_mailbox_exactly_newest_first_and_leaves_the_source_alone() {
    within(async {
        let pair = start_pair(|_| {});
        let seeded = seed_source(&pair, 40, true).await;
        let before = snapshot(pair.source.imaps_port(), &pair.ca_pem, false).await;
        let report = migrate(
            &pair,
            job(
                &pair.source.imaps_url(),
                &pair.dest.imaps_url(),
                ProxyLoginForm::Authzid,
            ),
            CopyOptions::default(),
        )
        .await;
        let m = completed(&report);
        assert_eq!(m.copied_messages as usize, seeded);
        assert!(m.failures.is_empty(), "{:?}", m.failures);
        assert!(
            m.append_framing.starts_with("multiappend"),
            "{}",
            m.append_framing
        );

        let after = snapshot(pair.source.imaps_port(), &pair.ca_pem, false).await;
        assert_unchanged(&before, &after);
        let dst = snapshot(pair.dest.imaps_port(), &pair.ca_pem, true).await;
        assert_eq!(assert_same_content(&before, &dst), seeded);
        assert_newest_first(&dst);
        // APPENDUID (UIDPLUS) named the destination folders' UIDVALIDITY.
        for f in m.folders.iter().filter(|f| f.copied_messages > 0) {
            let wire = cutover_engine::imap::mutf7::encode(&f.dest);
            assert_eq!(
                f.dest_uidvalidity,
                Some(dst.folders[&wire].uidvalidity),
                "{}",
                f.dest
            );
        }
        // The fixture's Dovecot marks Sent \Sent (SPECIAL-USE); the report says so.
        let sent = m.folders.iter().find(|f| f.source == "Sent").unwrap();
        assert_eq!(sent.special_use.as_deref(), Some("\\Sent"));
        let inbox = m.folders.iter().find(|f| f.source == "INBOX").unwrap();
        assert_eq!(inbox.special_use, None);
        assert!(dst.folders.contains_key("Empty"), "empty folder kept");
        assert!(
            dst.folders["Sent"]
                .messages
                .iter()
                .any(|m| m.size > 21 << 20),
            "the 21 MB message arrived"
        );
        for sub in ["INBOX", "Sent", "Archive/2024", "Entw&APw-rfe", "Empty"] {
            assert!(
                dst.subscribed.contains(sub),
                "subscription {sub} copied: {:?}",
                dst.subscribed
            );
        }
        assert!(
            !dst.subscribed.contains("Archive/2024/Q1"),
            "unsubscribed folder stays unsubscribed"
        );
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn starttls_master_separator_and_compress_copy_the_same() {
    within(async {
        let pair = start_pair(|_| {});
        let seeded = seed_source(&pair, 12, false).await;
        let before = snapshot(pair.source.imaps_port(), &pair.ca_pem, false).await;
        let options = CopyOptions {
            compress: CompressMode::On,
            ..CopyOptions::default()
        };
        let report = migrate(
            &pair,
            job(
                &pair.source.starttls_url(),
                &pair.dest.starttls_url(),
                ProxyLoginForm::MasterSeparator('*'),
            ),
            options,
        )
        .await;
        let m = completed(&report);
        assert_eq!(
            m.compressed,
            (true, true),
            "COMPRESS=DEFLATE negotiated on both sides"
        );
        assert_eq!(m.copied_messages as usize, seeded);
        let dst = snapshot(pair.dest.imaps_port(), &pair.ca_pem, true).await;
        assert_eq!(assert_same_content(&before, &dst), seeded);
        assert_newest_first(&dst);
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_append_framing_gives_the_same_result() {
    within(async {
        for mode in [AppendMode::Pipelined, AppendMode::OneAtATime] {
            let pair = start_pair(|_| {});
            let seeded = seed_source(&pair, 8, false).await;
            let before = snapshot(pair.source.imaps_port(), &pair.ca_pem, false).await;
            let options = CopyOptions {
                append_mode: mode,
                ..CopyOptions::default()
            };
            let report = migrate(
                &pair,
                job(
                    &pair.source.imaps_url(),
                    &pair.dest.imaps_url(),
                    ProxyLoginForm::Authzid,
                ),
                options,
            )
            .await;
            let m = completed(&report);
            assert_eq!(m.copied_messages as usize, seeded, "{mode:?}");
            let dst = snapshot(pair.dest.imaps_port(), &pair.ca_pem, true).await;
            assert_eq!(assert_same_content(&before, &dst), seeded, "{mode:?}");
            assert_newest_first(&dst);
        }
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_message_the_destination_refuses_is_recorded_and_the_rest_are_copied() {
    within(async {
        let pair = start_pair(|c| c.max_mail_size = Some(1 << 20));
        let seeded = seed_source(&pair, 10, false).await;
        // One message over the destination's 1 MiB limit, in the middle of INBOX's dates.
        let mut s = imap_account::login(
            "127.0.0.1",
            pair.source.imaps_port(),
            &pair.ca_pem,
            USER,
            USER_PW,
        )
        .await
        .unwrap();
        let big = SeedMessage {
            flags: vec![],
            internaldate: date(5, 30),
            body: message(7777, &big_body(2 << 20, 3)),
        };
        imap_account::seed(&mut s, "INBOX", &[big]).await.unwrap();
        s.logout().await.ok();

        let report = migrate(
            &pair,
            job(
                &pair.source.imaps_url(),
                &pair.dest.imaps_url(),
                ProxyLoginForm::Authzid,
            ),
            CopyOptions::default(),
        )
        .await;
        let m = completed(&report);
        assert_eq!(m.failures.len(), 1, "{:?}", m.failures);
        assert_eq!(m.failures[0].folder, "INBOX");
        assert!(m.failures[0].size > 2 << 20);
        assert_eq!(m.copied_messages as usize, seeded);
        assert!(!report.all_copied());
        let dst = snapshot(pair.dest.imaps_port(), &pair.ca_pem, true).await;
        let total: usize = dst.folders.values().map(|f| f.messages.len()).sum();
        assert_eq!(total, seeded);
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rejected_password_fails_the_mailbox_without_leaking_it() {
    within(async {
        let pair = start_pair(|_| {});
        let mut j = job(
            &pair.source.imaps_url(),
            &pair.dest.imaps_url(),
            ProxyLoginForm::Authzid,
        );
        j.source.auth = Auth::Login {
            user: USER.into(),
            password: Secret::new("Wrong-Pass-123"),
        };
        let report = migrate(&pair, j, CopyOptions::default()).await;
        let MailboxOutcome::Failed(reason) = &report.mailboxes[0].outcome else {
            panic!("should fail")
        };
        assert!(reason.contains("rejected"), "{reason}");
        let json = serde_json::to_string(&report).unwrap();
        assert!(
            !json.contains("Wrong-Pass-123") && !json.contains(ADMIN_PW),
            "secret in report"
        );
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_private_ca_is_required_to_trust_the_server() {
    within(async {
        let pair = start_pair(|_| {});
        let tls = TlsConfig::default(); // system roots only
        let report = run_batch(
            vec![job(
                &pair.source.imaps_url(),
                &pair.dest.imaps_url(),
                ProxyLoginForm::Authzid,
            )],
            CopyOptions::default(),
            tls,
            1,
            Arc::new(NoProgress),
        )
        .await;
        let MailboxOutcome::Failed(reason) = &report.mailboxes[0].outcome else {
            panic!("untrusted certificate accepted")
        };
        assert!(reason.contains("TLS"), "{reason}");
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tiny_memory_budget_still_copies_everything_including_a_message_larger_than_it() {
    within(async {
        let pair = start_pair(|_| {});
        let seeded = seed_source(&pair, 10, true).await;
        let before = snapshot(pair.source.imaps_port(), &pair.ca_pem, false).await;
        let options = CopyOptions {
            bytes_in_flight: 256 << 10,
            ..CopyOptions::default()
        };
        let report = migrate(
            &pair,
            job(
                &pair.source.imaps_url(),
                &pair.dest.imaps_url(),
                ProxyLoginForm::Authzid,
            ),
            options,
        )
        .await;
        let m = completed(&report);
        assert_eq!(m.copied_messages as usize, seeded);
        let dst = snapshot(pair.dest.imaps_port(), &pair.ca_pem, true).await;
        assert_eq!(assert_same_content(&before, &dst), seeded);
        assert_newest_first(&dst);
    })
    .await
}
