//! Lockout-safe authentication (issue 5, guide 3.4.2.3: the seed locks an account for 15
//! minutes after 5 failed sign-ins). With a wrong password, however many runs and connections,
//! no more than `--max-failed-logins` (2) failed logins per account reach the server (counted
//! by the mock), the mailbox stops as "credentials rejected" saying when it may be tried again,
//! and no password appears in any output. Source and destination accounts count apart.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use chrono::{FixedOffset, TimeZone};
use cutover_engine::state::{StateDb, Status, StopReason};
use cutover_harness::certs::TestCa;
use cutover_harness::mock_server::{MockConfig, MockServer, MockStore, MockTls};

use crate::cli::run_with_timeout;

const USERS: [&str; 3] = ["ann", "bob", "cid"];
const SOURCE_PASSWORD: &str = "Src-L0ckout-pw";
const WRONG_SOURCE_PASSWORD: &str = "Wr0ng-Src-pw";
const ADMIN_PASSWORD: &str = "Adm1n-L0ckout";
const WRONG_ADMIN_PASSWORD: &str = "Wr0ng-Adm1n";

fn source_store() -> MockStore {
    let store = MockStore::new('/');
    let tz = FixedOffset::east_opt(0).unwrap();
    for user in USERS {
        store.add_user(user, SOURCE_PASSWORD);
        for i in 0..3 {
            let m = format!(
                "Subject: {user} {i}\r\nMessage-ID: <{user}.{i}@lockout.test>\r\n\r\nhi\r\n"
            );
            let date = tz.with_ymd_and_hms(2024, 1, 1 + i, 0, 0, 0).unwrap();
            store.append(user, "INBOX", &["\\Seen"], date, m.into_bytes().into());
        }
    }
    store
}

fn dest_store() -> MockStore {
    let store = MockStore::new('/');
    for user in USERS {
        store.add_user(user, "unused");
    }
    store.add_admin("root", ADMIN_PASSWORD);
    store
}

struct Setup {
    _ca: TestCa,
    _runtime: tokio::runtime::Runtime,
    source: MockServer,
    dest: MockServer,
    dir: tempfile::TempDir,
    ca_file: PathBuf,
}

fn setup() -> Setup {
    let ca = TestCa::new().unwrap();
    let cert = ca.server_cert(&["localhost", "127.0.0.1"]).unwrap();
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let (source, dest) = runtime.block_on(async {
        let config = MockConfig {
            tls: MockTls::Implicit,
            identity: Some(cert),
            ..MockConfig::default()
        };
        (
            MockServer::start(config.clone(), source_store())
                .await
                .unwrap(),
            MockServer::start(config, dest_store()).await.unwrap(),
        )
    });
    let dir = tempfile::tempdir().unwrap();
    let ca_file = dir.path().join("ca.pem");
    std::fs::write(&ca_file, ca.ca_pem()).unwrap();
    Setup {
        _ca: ca,
        _runtime: runtime,
        source,
        dest,
        dir,
        ca_file,
    }
}

/// What one run printed and said.
struct Run {
    code: Option<i32>,
    stdout: String,
    stderr: String,
    report: String,
}

impl Setup {
    /// `cutover migrate` of every user with `source_password`, the admin's password being
    /// `admin_password`, counting logins in `state`.
    fn migrate(&self, source_password: &str, admin_password: &str, state: &Path) -> Run {
        let users = self.dir.path().join("users.csv");
        let mut csv = String::from("SourceIdentity,SourceLoginID,SourcePassword\n");
        for user in USERS {
            csv.push_str(&format!("{user},{user},{source_password}\n"));
        }
        std::fs::write(&users, csv).unwrap();
        let password_file = self.dir.path().join("admin.pw");
        std::fs::write(&password_file, admin_password).unwrap();
        let report = self.dir.path().join("report.json");
        let _ = std::fs::remove_file(&report);
        let mut command = Command::new(env!("CARGO_BIN_EXE_cutover"));
        command
            .arg("migrate")
            .arg("--users")
            .arg(&users)
            .args(["--source", &self.source.url(), "--dest", &self.dest.url()])
            .args(["--dest-admin", "root", "--dest-admin-password-file"])
            .arg(&password_file)
            .arg("--ca-file")
            .arg(&self.ca_file)
            .arg("--report")
            .arg(&report)
            .arg("--state")
            .arg(state)
            .args(["--parallel", "3", "--quiet"]);
        let output = run_with_timeout(&mut command, Duration::from_secs(60));
        Run {
            code: output.status.code(),
            stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
            report: std::fs::read_to_string(&report).unwrap_or_default(),
        }
    }
}

impl Run {
    /// Every mailbox stopped as credentials rejected, exit status 1, no password anywhere.
    fn assert_rejected(&self) {
        let all = format!("{}\n{}\n{}", self.stdout, self.stderr, self.report);
        assert_eq!(self.code, Some(1), "{all}");
        for secret in [
            SOURCE_PASSWORD,
            WRONG_SOURCE_PASSWORD,
            ADMIN_PASSWORD,
            WRONG_ADMIN_PASSWORD,
        ] {
            assert!(!all.contains(secret), "a password in the output:\n{all}");
        }
        let json: serde_json::Value = serde_json::from_str(&self.report).unwrap();
        let mailboxes = json["mailboxes"].as_array().unwrap();
        assert_eq!(mailboxes.len(), USERS.len());
        for m in mailboxes {
            assert_eq!(m["outcome"]["state"], "failed", "{m}");
            let reason = m["outcome"]["reason"].as_str().unwrap();
            assert!(reason.starts_with("credentials rejected for "), "{reason}");
        }
        for user in USERS {
            assert!(
                self.stdout
                    .contains(&format!("{user}: credentials rejected for ")),
                "{}",
                self.stdout
            );
        }
    }
}

/// Every mailbox of the state file is Stopped(CredentialsRejected).
fn assert_stored_as_rejected(state: &Path) {
    let db = StateDb::open(state).unwrap();
    let mailboxes = db.mailboxes().unwrap();
    assert_eq!(mailboxes.len(), USERS.len());
    for m in mailboxes {
        assert_eq!(
            m.status,
            Status::Stopped(StopReason::CredentialsRejected),
            "{}",
            m.name
        );
    }
}

#[test]
fn a_wrong_source_password_reaches_the_server_at_most_twice_per_account_across_runs() {
    let s = setup();
    let state = s.dir.path().join("state.sqlite");
    for run in 1..=3 {
        let r = s.migrate(WRONG_SOURCE_PASSWORD, ADMIN_PASSWORD, &state);
        r.assert_rejected();
        if run == 3 {
            // Nothing reached the server this time: the guard refused, and says until when.
            assert!(
                r.stdout
                    .contains("2 failed logins in the last 15 minutes; not trying again before ")
                    && r.stdout.contains("UTC to avoid the server's lockout"),
                "{}",
                r.stdout
            );
        }
    }
    // One rejection per run and account, then the guard: 2 per account, 3 accounts.
    let failed = s.source.stats().logins_failed;
    assert_eq!(failed, 2 * USERS.len() as u64, "source logins failed");
    assert_eq!(
        s.dest.stats().logins_failed,
        0,
        "the destination counts apart"
    );
    assert_stored_as_rejected(&state);
}

#[test]
fn a_wrong_admin_password_shared_by_every_mailbox_reaches_the_server_at_most_twice() {
    let s = setup();
    let state = s.dir.path().join("state.sqlite");
    for _ in 1..=3 {
        // Three mailboxes at once, all logging in as the one admin.
        s.migrate(SOURCE_PASSWORD, WRONG_ADMIN_PASSWORD, &state)
            .assert_rejected();
    }
    assert_eq!(s.dest.stats().logins_failed, 2, "admin logins failed");
    assert_eq!(s.source.stats().logins_failed, 0, "the source counts apart");
    assert_stored_as_rejected(&state);

    // With the password corrected, the copy goes on: the admin's failures do not block it
    // (the guard refuses only while 2 failures are in the window, and a success clears none;
    // so this needs a fresh window: another state file stands for 15 minutes later).
    let later = s.dir.path().join("later.sqlite");
    let r = s.migrate(SOURCE_PASSWORD, ADMIN_PASSWORD, &later);
    assert_eq!(r.code, Some(0), "{}\n{}", r.stdout, r.stderr);
}
