//! `cutover check` against real Dovecot: it reports each mailbox's logins, capabilities, quota,
//! folders and messages, read-only; and a wrong password reaches the server exactly once, even
//! when several mailboxes of the list share it (counted in Dovecot's own auth log).

use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

use chrono::{FixedOffset, TimeZone};
use cutover_harness::certs::TestCa;
use cutover_harness::dovecot::{Dovecot, DovecotConfig};
use cutover_harness::imap_account::{self, SeedMessage};

use crate::cli::run_with_timeout;

const PW: &str = "Usr-Ch3ck-pw-5R";
const WRONG_PW: &str = "Wr0ng-Ch3ck-pw";
const ADMIN_PW: &str = "Adm-Ch3ck-pw-7P";
const WRONG_ADMIN_PW: &str = "Wr0ng-Adm-pw-3L";
const USERS: [&str; 3] = ["joe", "ann", "kim"];

struct Setup {
    source: Dovecot,
    dest: Dovecot,
    dir: tempfile::TempDir,
}

fn setup() -> Setup {
    let ca = TestCa::new().unwrap();
    let cert = ca.server_cert(&["localhost", "127.0.0.1"]).unwrap();
    let config = |quota| DovecotConfig {
        users: USERS.map(|u| (u.to_string(), PW.to_string())).to_vec(),
        master: Some(("admin".into(), ADMIN_PW.into())),
        quota_bytes: quota,
        ..DovecotConfig::default()
    };
    let source = Dovecot::start(config(None), &cert).expect("source dovecot");
    let dest = Dovecot::start(config(Some(10 << 20)), &cert).expect("dest dovecot");
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("ca.pem"), ca.ca_pem()).unwrap();
    std::fs::write(dir.path().join("admin.pw"), ADMIN_PW).unwrap();
    std::fs::write(dir.path().join("wrong-admin.pw"), WRONG_ADMIN_PW).unwrap();
    // joe has 3 messages in INBOX and 2 in Archive/2024 at the source.
    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(async {
        let mut s = imap_account::login("127.0.0.1", source.imaps_port(), &ca.ca_pem(), "joe", PW)
            .await
            .unwrap();
        let date = FixedOffset::east_opt(0)
            .unwrap()
            .with_ymd_and_hms(2025, 1, 2, 3, 4, 5)
            .unwrap();
        for (folder, n) in [("INBOX", 3), ("Archive/2024", 2)] {
            let msgs: Vec<SeedMessage> = (0..n)
                .map(|i| SeedMessage {
                    flags: vec![],
                    internaldate: date,
                    body: format!("Subject: {folder} {i}\r\n\r\nhi\r\n").into_bytes(),
                })
                .collect();
            imap_account::seed(&mut s, folder, &msgs).await.unwrap();
        }
        s.logout().await.ok();
    });
    Setup { source, dest, dir }
}

impl Setup {
    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// `cutover check` of `csv`; the destination through the master user. Returns the exit
    /// status and everything printed.
    fn check(&self, csv: &str, args: &[&str]) -> (Option<i32>, String) {
        std::fs::write(self.path("users.csv"), csv).unwrap();
        let mut c = Command::new(env!("CARGO_BIN_EXE_cutover"));
        c.arg("check")
            .arg("--users")
            .arg(self.path("users.csv"))
            .args(["--source", &self.source.imaps_url()])
            .args(["--dest", &self.dest.imaps_url()])
            .args(["--dest-access", "master", "--dest-admin", "admin"])
            .arg("--dest-admin-password-file")
            .arg(self.path("admin.pw"))
            .arg("--ca-file")
            .arg(self.path("ca.pem"))
            .arg("--no-state")
            .args(args)
            .env_remove("CUTOVER_SOURCE_ADMIN_PASSWORD");
        let out = run_with_timeout(&mut c, Duration::from_secs(60));
        let all = format!(
            "{}\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        for secret in [PW, WRONG_PW, ADMIN_PW, WRONG_ADMIN_PW] {
            assert!(!all.contains(secret), "a password in the output:\n{all}");
        }
        (out.status.code(), all)
    }

    /// Failed password checks in the source's auth log.
    fn source_mismatches(&self) -> usize {
        self.source.log().matches("Password mismatch").count()
    }
}

/// The table line of `mailbox` at `side`.
fn row<'a>(out: &'a str, mailbox: &str, side: &str) -> &'a str {
    out.lines()
        .find(|l| {
            let mut cells = l.split_whitespace();
            cells.next() == Some(mailbox) && cells.next() == Some(side)
        })
        .unwrap_or_else(|| panic!("no {mailbox} {side} line in:\n{out}"))
}

#[test]
fn every_mailbox_reachable_and_logged_in_shows_capabilities_quota_and_counts() {
    let s = setup();
    let csv = format!("SourceIdentity,SourceLoginID,SourcePassword\njoe,joe,{PW}\nann,ann,{PW}\n");
    let (code, out) = s.check(&csv, &[]);
    assert_eq!(code, Some(0), "{out}");
    let joe = row(&out, "joe", "source");
    let cells: Vec<&str> = joe.split_whitespace().collect();
    assert_eq!(&cells[2..4], ["yes", "ok"], "{out}");
    // INBOX (3) and Archive/2024 (2): STATUS MESSAGES summed over the folders.
    assert_eq!(
        cells[cells.len() - 2..],
        ["2", "5"],
        "folders, messages: {out}"
    );
    assert!(joe.contains("LITERAL+"), "{out}");
    let dest = row(&out, "joe", "dest");
    assert!(dest.contains("QUOTA") && !dest.contains("-QUOTA"), "{out}");
    assert!(
        dest.contains(" of 10.0 MiB") || dest.contains(" of 10 MiB"),
        "{out}"
    );
    assert!(out.contains("2/2 mailboxes ready"), "{out}");
    assert_eq!(s.source_mismatches(), 0);
}

#[test]
fn a_wrong_password_is_reported_after_exactly_one_attempt() {
    let s = setup();
    // ann's login is in the list twice (a second mailbox reached with her login): the second
    // is not tried.
    let csv = format!(
        "SourceIdentity,SourceLoginID,SourcePassword,TargetIdentity\n\
         joe,joe,{PW},joe\nann,ann,{WRONG_PW},ann\nann-old,ann,{WRONG_PW},kim\n"
    );
    let (code, out) = s.check(&csv, &["--parallel", "1"]);
    assert_eq!(code, Some(1), "{out}");
    assert!(row(&out, "ann-old", "source").contains("FAILED"), "{out}");
    assert_eq!(out.matches("not trying again before").count(), 1, "{out}");
    let ann: Vec<&str> = row(&out, "ann", "source").split_whitespace().collect();
    assert_eq!(&ann[2..4], ["yes", "FAILED"], "{out}");
    assert!(
        out.contains("ann (source): credentials rejected for ann at "),
        "{out}"
    );
    assert!(row(&out, "joe", "source").contains(" ok "), "{out}");
    assert!(out.contains("1/3 mailboxes ready"), "{out}");
    assert_eq!(s.source_mismatches(), 1, "{}", s.source.log());
}

#[test]
fn a_wrong_admin_password_shared_by_the_list_is_tried_once() {
    let s = setup();
    let mut csv = String::from("SourceIdentity,SourceLoginID\n");
    for u in USERS {
        csv.push_str(&format!("{u},{u}\n"));
    }
    let wrong = s.path("wrong-admin.pw");
    let (code, out) = s.check(
        &csv,
        &[
            "--source-access",
            "master",
            "--source-admin",
            "admin",
            "--source-admin-password-file",
            wrong.to_str().unwrap(),
            "--parallel",
            "3",
        ],
    );
    assert_eq!(code, Some(1), "{out}");
    for u in USERS {
        let cells: Vec<&str> = row(&out, u, "source").split_whitespace().collect();
        assert_eq!(&cells[2..4], ["yes", "FAILED"], "{out}");
        assert!(row(&out, u, "dest").contains(" ok "), "{out}");
    }
    assert_eq!(
        out.matches("not trying again before").count(),
        USERS.len() - 1,
        "{out}"
    );
    assert_eq!(s.source_mismatches(), 1, "{}", s.source.log());
}
