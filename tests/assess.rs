//! `cutover assess` end to end against real Dovecot: counts, sizes and the largest message of a
//! seeded mailbox, the item threshold categories, the destination's quota (GETQUOTAROOT) and size
//! limit, the flag forms without a destination, a bad password reported without leaking it, an
//! unreachable destination named, and a source left exactly as it was.

use crate::cli::run_with_timeout;
use cutover_harness::certs::TestCa;
use cutover_harness::dovecot::{Dovecot, DovecotConfig};
use cutover_harness::imap_account::{self, AccountSnapshot, SeedMessage};
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::Duration;

const ANN_PASSWORD: &str = "Ann-S3cret-Pass";
const BOB_WRONG_PASSWORD: &str = "Wr0ng-B0b-Pass";
const ADMIN_PASSWORD: &str = "Adm1n-Assess-Pw";
/// The destination's per-mailbox quota: less than ann holds.
const DEST_QUOTA: u64 = 96 * 1024;
/// The destination's largest message (`quota_max_mail_size`, given again as
/// `--max-message-size`): one of ann's is larger.
const DEST_MAX_MAIL: u64 = 64 * 1024;

/// A message of exactly `len` bytes (at least the header's length).
fn body(subject: &str, len: usize) -> Vec<u8> {
    let mut b = format!("Subject: {subject}\r\n\r\n").into_bytes();
    b.resize(len.max(b.len() + 2) - 2, b'x');
    b.extend_from_slice(b"\r\n");
    b
}

/// A seeded message: its flags and its size in bytes.
type Seeded = (&'static [&'static str], usize);

/// (folder, messages) seeded into ann's source mailbox.
fn seed_plan() -> Vec<(&'static str, Vec<Seeded>)> {
    vec![
        (
            "INBOX",
            vec![(&["\\Seen"][..], 1_000), (&[][..], 2_000), (&[][..], 3_000)],
        ),
        (
            "Sent Items",
            vec![(&["\\Seen"][..], 500), (&["\\Seen"][..], 700)],
        ),
        ("Projects/Big", vec![(&[][..], 100 * 1024)]),
    ]
}

struct Fixture {
    ca_pem: String,
    source: Dovecot,
    dest: Dovecot,
    dir: tempfile::TempDir,
    runtime: tokio::runtime::Runtime,
}

impl Fixture {
    fn start() -> Fixture {
        let ca = TestCa::new().unwrap();
        let cert = ca.server_cert(&["localhost", "127.0.0.1"]).unwrap();
        let source = Dovecot::start(
            DovecotConfig {
                users: vec![
                    ("ann".into(), ANN_PASSWORD.into()),
                    ("bob".into(), "bobs-real-pw".into()),
                ],
                ..DovecotConfig::default()
            },
            &cert,
        )
        .expect("source dovecot");
        let dest = Dovecot::start(
            DovecotConfig {
                users: vec![("ann".into(), "x".into()), ("bob".into(), "y".into())],
                master: Some(("admin".into(), ADMIN_PASSWORD.into())),
                quota_bytes: Some(DEST_QUOTA),
                max_mail_size: Some(DEST_MAX_MAIL),
                ..DovecotConfig::default()
            },
            &cert,
        )
        .expect("dest dovecot");
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("ca.pem"), ca.ca_pem()).unwrap();
        std::fs::write(dir.path().join("admin.pw"), format!("{ADMIN_PASSWORD}\n")).unwrap();
        Fixture {
            ca_pem: ca.ca_pem(),
            source,
            dest,
            dir,
            runtime: tokio::runtime::Runtime::new().unwrap(),
        }
    }

    fn seed(&self) {
        let date = chrono::DateTime::parse_from_rfc3339("2025-03-04T05:06:07+01:00").unwrap();
        self.runtime.block_on(async {
            let mut s = self.source_session().await;
            for (folder, messages) in seed_plan() {
                let msgs: Vec<SeedMessage> = messages
                    .iter()
                    .enumerate()
                    .map(|(i, (flags, size))| SeedMessage {
                        flags: flags.iter().map(|f| f.to_string()).collect(),
                        internaldate: date + chrono::Duration::hours(i as i64),
                        body: body(&format!("{folder} {i}"), *size),
                    })
                    .collect();
                imap_account::seed(&mut s, folder, &msgs).await.unwrap();
            }
            s.logout().await.ok();
        });
    }

    async fn source_session(&self) -> imap_account::Session {
        imap_account::login(
            "127.0.0.1",
            self.source.imaps_port(),
            &self.ca_pem,
            "ann",
            ANN_PASSWORD,
        )
        .await
        .unwrap()
    }

    fn snapshot(&self) -> AccountSnapshot {
        self.runtime.block_on(async {
            let mut s = self.source_session().await;
            let snap = imap_account::snapshot(&mut s).await.unwrap();
            s.logout().await.ok();
            snap
        })
    }

    fn users(&self, name: &str, rows: &str) -> PathBuf {
        let path = self.dir.path().join(name);
        std::fs::write(
            &path,
            format!("SourceIdentity,SourceLoginID,SourcePassword,TargetIdentity\n{rows}"),
        )
        .unwrap();
        path
    }

    /// Runs `cutover assess` on `users` with `extra` flags; returns the output and the JSON.
    fn assess(&self, users: &Path, json_name: &str, extra: &[&str]) -> (Output, String, Value) {
        let json = self.dir.path().join(json_name);
        let output = run_with_timeout(
            Command::new(env!("CARGO_BIN_EXE_cutover"))
                .arg("assess")
                .arg("--users")
                .arg(users)
                .args(["--source", &self.source.imaps_url()])
                .arg("--ca-file")
                .arg(self.dir.path().join("ca.pem"))
                .arg("--json")
                .arg(&json)
                .args(extra)
                .env("RUST_LOG", "trace")
                .env_remove("CUTOVER_DEST_ADMIN_PASSWORD"),
            Duration::from_secs(120),
        );
        let text = std::fs::read_to_string(&json).unwrap_or_else(|e| {
            panic!(
                "no JSON ({e}):\n{}\n{}",
                String::from_utf8_lossy(&output.stdout),
                String::from_utf8_lossy(&output.stderr)
            )
        });
        let value = serde_json::from_str(&text).unwrap();
        (output, text, value)
    }
}

/// (folder, messages, bytes, largest) of every folder in a mailbox entry.
fn folders(mailbox: &Value) -> Vec<(String, u64, u64, u64)> {
    mailbox["folders"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            (
                f["name"].as_str().unwrap().to_owned(),
                f["messages"].as_u64().unwrap(),
                f["bytes"].as_u64().unwrap(),
                f["largest_message_bytes"].as_u64().unwrap(),
            )
        })
        .collect()
}

fn folder<'a>(mailbox: &'a Value, name: &str) -> &'a Value {
    mailbox["folders"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["name"] == name)
        .unwrap_or_else(|| panic!("no folder {name:?} in {mailbox}"))
}

/// What the seeded mailbox adds up to: (messages, bytes, largest).
fn seeded_totals() -> (u64, u64, u64) {
    let sizes: Vec<u64> = seed_plan()
        .iter()
        .flat_map(|(_, m)| m.iter().map(|(_, s)| *s as u64))
        .collect();
    (
        sizes.len() as u64,
        sizes.iter().sum(),
        *sizes.iter().max().unwrap(),
    )
}

#[test]
fn assess_reports_sizes_limits_and_failures_and_leaves_the_source_alone() {
    let f = Fixture::start();
    f.seed();
    let before = f.snapshot();
    let (messages, bytes, largest) = seeded_totals();

    // 1. With the destination: quota and size limit read from the server; bob's password is
    //    wrong, so bob is an error entry and the exit status is 1.
    let users = f.users(
        "users.csv",
        &format!("ann,ann,{ANN_PASSWORD},ann\nbob,bob,{BOB_WRONG_PASSWORD},bob\n"),
    );
    let (output, text, json) = f.assess(
        &users,
        "with-dest.json",
        &[
            "--dest",
            &f.dest.imaps_url(),
            "--dest-admin",
            "admin",
            "--dest-admin-password-file",
            f.dir.path().join("admin.pw").to_str().unwrap(),
            "--max-message-size",
            "64KB",
        ],
    );
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{stdout}\n{stderr}");
    for secret in [ANN_PASSWORD, BOB_WRONG_PASSWORD, ADMIN_PASSWORD] {
        for (name, out) in [("stdout", &*stdout), ("stderr", &*stderr), ("json", &*text)] {
            assert!(!out.contains(secret), "{secret} leaked into {name}");
        }
    }
    let mailboxes = json["mailboxes"].as_array().unwrap();
    assert_eq!(mailboxes.len(), 2);
    assert!(
        text.find("\"source_identity\"") < text.find("\"bytes\""),
        "fields in declaration order:\n{text}"
    );
    let ann = &mailboxes[0];
    assert_eq!(ann["source_identity"], "ann");
    assert_eq!(ann["target_identity"], "ann");
    assert_eq!(ann["error"], Value::Null, "{ann}");
    assert_eq!(ann["dest_error"], Value::Null, "{ann}");
    assert_eq!(ann["messages"], messages);
    assert_eq!(ann["bytes"], bytes);
    assert_eq!(ann["largest_message_bytes"], largest);
    let mut got = folders(ann);
    got.sort();
    assert_eq!(
        got,
        [
            ("INBOX".to_string(), 3, 6_000, 3_000),
            ("Projects/Big".to_string(), 1, 100 * 1024, 100 * 1024),
            ("Sent Items".to_string(), 2, 1_200, 700),
        ]
    );
    assert_eq!(folder(ann, "INBOX")["threshold"], 20_000);
    assert_eq!(folder(ann, "Sent Items")["threshold"], 20_000);
    assert_eq!(folder(ann, "Sent Items")["category"], "Sent Items");
    assert_eq!(folder(ann, "Projects/Big")["threshold"], Value::Null);
    assert_eq!(folder(ann, "INBOX")["over_threshold"], false);
    assert_eq!(ann["dest_quota_bytes"], DEST_QUOTA, "GETQUOTAROOT read");
    assert_eq!(ann["dest_quota_used_bytes"], 0);
    assert_eq!(ann["over_quota"], true, "{bytes} bytes > {DEST_QUOTA}");
    // Dovecot 2.3 does not advertise APPENDLIMIT, so the limit comes from the flag here.
    assert_eq!(ann["max_message_bytes"], DEST_MAX_MAIL);
    let over = ann["over_size_limit"].as_array().unwrap();
    assert_eq!(over.len(), 1, "{ann}");
    assert_eq!(over[0]["folder"], "Projects/Big");
    assert_eq!(over[0]["uid"], 1);
    assert_eq!(over[0]["bytes"], 100 * 1024);
    let bob = &mailboxes[1];
    assert_eq!(bob["source_identity"], "bob");
    let error = bob["error"].as_str().expect("bob failed");
    assert!(
        error.contains("rejected") && error.contains("bob"),
        "{error}"
    );
    assert_eq!(bob["messages"], 0);
    assert_eq!(
        bob["dest_quota_bytes"], DEST_QUOTA,
        "the destination is bob's too"
    );
    assert!(
        stdout.contains("mailbox") && stdout.contains("largest"),
        "{stdout}"
    );
    let ann_row = stdout.lines().find(|l| l.starts_with("ann ")).unwrap();
    assert!(ann_row.contains(&messages.to_string()), "{ann_row}");
    assert!(ann_row.contains("100.0 KiB"), "{ann_row}");
    assert!(
        stdout.contains("does not fit the destination quota of 96.0 KiB"),
        "{stdout}"
    );
    assert!(stdout.contains("bob: not assessed:"), "{stdout}");

    // 2. Without a destination, the flag forms; ann alone, so nothing fails (exit 0).
    let ann_only = f.users("ann.csv", &format!("ann,ann,{ANN_PASSWORD},ann@new\n"));
    let (output, _, json) = f.assess(
        &ann_only,
        "flags.json",
        &["--dest-quota", "1MB", "--max-message-size", "50KB"],
    );
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert_eq!(output.status.code(), Some(0), "{stdout}");
    let ann = &json["mailboxes"][0];
    assert_eq!(ann["target_identity"], "ann@new");
    assert_eq!(ann["dest_quota_bytes"], 1 << 20);
    assert_eq!(ann["over_quota"], false);
    assert_eq!(ann["max_message_bytes"], 50 * 1024);
    let over = ann["over_size_limit"].as_array().unwrap();
    assert_eq!(over.len(), 1, "{ann}");
    assert_eq!(
        (&over[0]["folder"], &over[0]["uid"], &over[0]["bytes"]),
        (
            &Value::from("Projects/Big"),
            &Value::from(1),
            &Value::from(100 * 1024)
        )
    );
    assert!(
        stdout.contains("1 message(s) over the destination's size limit of 50.0 KiB; the largest is 100.0 KiB (UID 1 in \"Projects/Big\")"),
        "{stdout}"
    );

    // 3. An unreachable destination is named; the source is still assessed; exit 1.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let closed_url = format!("imaps://127.0.0.1:{}", closed.local_addr().unwrap().port());
    drop(closed);
    let (output, _, json) = f.assess(
        &ann_only,
        "unreachable.json",
        &[
            "--dest",
            &closed_url,
            "--dest-admin",
            "admin",
            "--dest-admin-password-file",
            f.dir.path().join("admin.pw").to_str().unwrap(),
        ],
    );
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert_eq!(output.status.code(), Some(1), "{stdout}");
    let ann = &json["mailboxes"][0];
    assert_eq!(ann["error"], Value::Null);
    assert_eq!(ann["messages"], messages);
    let dest_error = ann["dest_error"].as_str().expect("destination error");
    assert!(dest_error.contains(&closed_url), "{dest_error}");
    assert!(stdout.contains("ann: destination not read:"), "{stdout}");

    // The source is as it was: same folders, UIDNEXT, flags (\Seen untouched) and contents.
    let after = f.snapshot();
    assert_eq!(after.subscribed, before.subscribed);
    assert_eq!(
        after.folders.keys().collect::<Vec<_>>(),
        before.folders.keys().collect::<Vec<_>>()
    );
    for (name, was) in &before.folders {
        let now = &after.folders[name];
        assert_eq!(
            (now.uidvalidity, now.uidnext),
            (was.uidvalidity, was.uidnext),
            "{name}"
        );
        assert_eq!(now.messages, was.messages, "{name}");
    }
    assert_eq!(
        before.folders["INBOX"]
            .messages
            .iter()
            .filter(|m| m.flags.contains("\\Seen"))
            .count(),
        1,
        "the check above would notice a \\Seen set by the assessment"
    );
}
