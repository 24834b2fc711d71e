//! The Dovecot fixture is what the other integration tests assume: two instances with different
//! separators, seeding and snapshots agree, master users work both ways, the advertised
//! extensions and limits are there, STARTTLS works, and dropping an instance stops it.

use std::collections::BTreeSet;
use std::time::Duration;

use cutover_harness::certs::{ServerCert, TestCa};
use cutover_harness::dovecot::{Dovecot, DovecotConfig};
use cutover_harness::imap_account::{
    self, AccountSnapshot, DateTime, ReplyStatus, SeedMessage, Session,
};

/// Whole-test budget; a hang fails instead of blocking CI.
const TIMEOUT: Duration = Duration::from_secs(120);
const HOST: &str = "127.0.0.1";
const QUOTA_BYTES: u64 = 10 * 1024 * 1024;
const MAX_MAIL_SIZE: u64 = 64 * 1024;

fn config(separator: char) -> DovecotConfig {
    DovecotConfig {
        users: vec![
            ("alice".into(), "alice-pw".into()),
            ("bob".into(), "bob-pw".into()),
        ],
        master: Some(("admin".into(), "master-pw".into())),
        master_separator: '*',
        login_aliases: Vec::new(),
        separator,
        quota_bytes: Some(QUOTA_BYTES),
        max_mail_size: Some(MAX_MAIL_SIZE),
        compress: true,
        parent_dir: None,
        max_userip_connections: 100,
        maildir: false,
    }
}

async fn start(config: DovecotConfig, cert: &ServerCert) -> Dovecot {
    let cert = cert.clone();
    tokio::task::spawn_blocking(move || Dovecot::start(config, &cert))
        .await
        .expect("start task panicked")
        .unwrap_or_else(|e| panic!("{e:#}"))
}

fn message(flags: &[&str], date: &str, body: &[u8]) -> SeedMessage {
    SeedMessage {
        flags: flags.iter().map(|f| f.to_string()).collect(),
        internaldate: DateTime::parse_from_rfc3339(date).unwrap(),
        body: body.to_vec(),
    }
}

/// (wire folder name, messages) seeded into alice's account; `sep` is the separator.
fn seed_plan(sep: char) -> Vec<(String, Vec<SeedMessage>)> {
    let eight_bit: &[u8] = b"From: a@example.org\r\nSubject: 8bit\r\nContent-Type: text/plain; \
charset=iso-8859-1\r\nContent-Transfer-Encoding: 8bit\r\n\r\nGr\xfc\xdfe aus M\xfcnchen \xe2\x82\xac\r\n";
    vec![
        (
            "INBOX".into(),
            vec![
                message(
                    &["\\Seen"],
                    "2020-01-02T03:04:05+02:00",
                    b"Subject: one\r\n\r\nfirst\r\n",
                ),
                message(&[], "2021-06-07T08:09:10-05:00", eight_bit),
                message(
                    &["\\Flagged", "$Forwarded", "\\Answered"],
                    "2019-12-31T23:59:59+00:00",
                    b"Subject: three\r\n\r\nthird\r\n",
                ),
            ],
        ),
        (
            "Entw&APw-rfe".into(),
            vec![message(
                &["\\Draft"],
                "2022-02-02T02:02:02+01:00",
                b"Subject: draft\r\n\r\nunfinished\r\n",
            )],
        ),
        (
            format!("Archive{sep}2020"),
            vec![message(
                &["\\Seen"],
                "2020-05-05T05:05:05+00:00",
                b"Subject: old\r\n\r\narchived\r\n",
            )],
        ),
        (
            "Sent".into(),
            vec![message(
                &["\\Seen"],
                "2023-03-03T03:03:03+03:00",
                b"Subject: sent\r\n\r\nsent\r\n",
            )],
        ),
    ]
}

fn assert_matches_seed(snapshot: &AccountSnapshot, plan: &[(String, Vec<SeedMessage>)], sep: char) {
    for (folder, messages) in plan {
        let got = snapshot
            .folders
            .get(folder)
            .unwrap_or_else(|| panic!("{folder:?} missing from {:?}", snapshot.folders.keys()));
        assert_eq!(got.delimiter.as_deref(), Some(sep.to_string().as_str()));
        assert_ne!(got.uidvalidity, 0, "{folder}");
        assert_eq!(got.uidnext as usize, messages.len() + 1, "{folder}");
        assert_eq!(got.messages.len(), messages.len(), "{folder}");
        for (index, (seeded, seen)) in messages.iter().zip(&got.messages).enumerate() {
            assert_eq!(seen.uid as usize, index + 1, "{folder}");
            let flags: BTreeSet<String> = seeded.flags.iter().cloned().collect();
            assert_eq!(seen.flags, flags, "{folder} #{index}");
            assert_eq!(seen.internaldate, seeded.internaldate, "{folder} #{index}");
            assert_eq!(seen.size as usize, seeded.body.len(), "{folder} #{index}");
            assert_eq!(
                seen.sha256,
                imap_account::sha256(&seeded.body),
                "{folder} #{index}"
            );
        }
    }
    let sent = &snapshot.folders["Sent"];
    assert!(
        sent.attributes.iter().any(|a| a == "\\Sent"),
        "{:?}",
        sent.attributes
    );
    let parent = &snapshot.folders["Archive"];
    assert!(parent.messages.is_empty());
}

/// Seeds, snapshots and checks alice's account on one instance; returns the snapshot.
async fn seed_and_check(server: &Dovecot, ca: &str, sep: char) -> AccountSnapshot {
    let mut alice = imap_account::login(HOST, server.imaps_port(), ca, "alice", "alice-pw")
        .await
        .unwrap();
    let plan = seed_plan(sep);
    for (folder, messages) in &plan {
        imap_account::seed(&mut alice, folder, messages)
            .await
            .unwrap_or_else(|e| panic!("seeding {folder}: {e:#}\n{}", server.log()));
    }
    alice.subscribe("Entw&APw-rfe").await.unwrap();
    let snapshot = imap_account::snapshot(&mut alice).await.unwrap();
    assert_matches_seed(&snapshot, &plan, sep);
    assert_eq!(
        snapshot.subscribed,
        BTreeSet::from(["Entw&APw-rfe".to_string()])
    );
    assert_eq!(snapshot.message_count(), 6);
    alice.logout().await.unwrap();
    snapshot
}

async fn check_capabilities_and_limits(server: &Dovecot, ca: &str) {
    let mut alice = imap_account::login(HOST, server.imaps_port(), ca, "alice", "alice-pw")
        .await
        .unwrap();
    let capabilities = alice.capabilities().await.unwrap();
    for wanted in [
        "LITERAL+",
        "MULTIAPPEND",
        "UIDPLUS",
        "COMPRESS=DEFLATE",
        "QUOTA",
        "SPECIAL-USE",
    ] {
        assert!(capabilities.has_str(wanted), "{wanted} not advertised");
    }

    let (_roots, quotas) = alice.get_quota_root("INBOX").await.unwrap();
    assert!(
        quotas
            .iter()
            .flat_map(|q| &q.resources)
            .any(|r| r.limit == QUOTA_BYTES / 1024),
        "{quotas:?}"
    );

    let small = b"Subject: fits\r\n\r\nsmall\r\n";
    let reply = imap_account::append_reply(&mut alice, "INBOX", small)
        .await
        .unwrap();
    assert_eq!(reply.status, ReplyStatus::Ok, "{reply:?}");
    let mut big = b"Subject: too big\r\n\r\n".to_vec();
    big.resize(MAX_MAIL_SIZE as usize + 1024, b'x');
    let reply = imap_account::append_reply(&mut alice, "INBOX", &big)
        .await
        .unwrap();
    assert_eq!(reply.status, ReplyStatus::No, "{reply:?}");
    // The session is still usable after the refusal.
    let inbox = alice.examine("INBOX").await.unwrap();
    assert_eq!(inbox.exists, 4);
    alice.logout().await.unwrap();
}

async fn inbox_hashes(session: &mut Session) -> Vec<[u8; 32]> {
    let snapshot = imap_account::snapshot(session).await.unwrap();
    snapshot.folders["INBOX"]
        .messages
        .iter()
        .map(|m| m.sha256)
        .collect()
}

async fn check_master_logins(server: &Dovecot, ca: &str, alice: &AccountSnapshot) {
    let port = server.imaps_port();
    let expected: Vec<[u8; 32]> = alice.folders["INBOX"]
        .messages
        .iter()
        .map(|m| m.sha256)
        .collect();

    let mut by_login = imap_account::login(HOST, port, ca, "alice*admin", "master-pw")
        .await
        .unwrap_or_else(|e| panic!("{e:#}\n{}", server.log()));
    assert_eq!(inbox_hashes(&mut by_login).await, expected);
    by_login.logout().await.unwrap();

    let mut by_sasl =
        imap_account::authenticate_plain(HOST, port, ca, "alice", "admin", "master-pw")
            .await
            .unwrap_or_else(|e| panic!("{e:#}\n{}", server.log()));
    assert_eq!(inbox_hashes(&mut by_sasl).await, expected);
    by_sasl.logout().await.unwrap();

    // Another user's mailbox is another mailbox.
    let mut as_bob = imap_account::login(HOST, port, ca, "bob*admin", "master-pw")
        .await
        .unwrap();
    assert!(inbox_hashes(&mut as_bob).await.is_empty());
    as_bob.logout().await.unwrap();

    assert!(imap_account::login(HOST, port, ca, "alice*admin", "wrong")
        .await
        .is_err());
    assert!(
        imap_account::login(HOST, port, ca, "nobody-here*admin", "master-pw")
            .await
            .is_err(),
        "a master user must not create users"
    );
}

async fn check_starttls(server: &Dovecot, ca: &str) {
    let client = imap_account::connect_starttls(HOST, server.imap_port(), ca)
        .await
        .unwrap();
    let mut session = client
        .login("bob", "bob-pw")
        .await
        .map_err(|(e, _)| e)
        .unwrap();
    session.noop().await.unwrap();
    session.logout().await.unwrap();
}

async fn fixture_round_trip() {
    let ca = TestCa::new().unwrap();
    let cert = ca.server_cert(&["localhost", "127.0.0.1"]).unwrap();
    let ca_pem = ca.ca_pem();
    let (dotted, slashed) = tokio::join!(start(config('.'), &cert), start(config('/'), &cert));
    assert!(dotted.imaps_url().starts_with("imaps://127.0.0.1:"));
    assert!(slashed.starttls_url().starts_with("imap://127.0.0.1:"));
    assert_ne!(dotted.imaps_port(), slashed.imaps_port());

    for (server, sep) in [(&dotted, '.'), (&slashed, '/')] {
        let alice = seed_and_check(server, &ca_pem, sep).await;
        check_master_logins(server, &ca_pem, &alice).await;
        check_capabilities_and_limits(server, &ca_pem).await;
        check_starttls(server, &ca_pem).await;
    }
    assert!(dotted.log().contains("Login: user=<alice>"));

    let port = dotted.imaps_port();
    drop(dotted);
    assert!(
        tokio::net::TcpStream::connect((HOST, port)).await.is_err(),
        "port {port} still open after drop"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dovecot_fixture_seeds_snapshots_and_enforces_limits() {
    tokio::time::timeout(TIMEOUT, fixture_round_trip())
        .await
        .expect("dovecot fixture test timed out");
}
