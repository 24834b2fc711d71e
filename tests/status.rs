//! The batch lifecycle (issue 5) against two Dovecots, through the CLI: a batch of two mailboxes
//! syncs, `cutover status` shows it, `migrate --complete` copies what arrived since and completes
//! mailboxes and batch, and a later plain run leaves completed mailboxes alone.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::Duration;

use cutover_harness::certs::TestCa;
use cutover_harness::dovecot::{Dovecot, DovecotConfig};
use cutover_harness::imap_account::{self, SeedMessage};

use crate::cli::run_with_timeout;

const PASSWORD: &str = "St4tus-Pw";
const ADMIN_PASSWORD: &str = "Adm1n-St4tus";

fn message(owner: &str, i: u32) -> SeedMessage {
    let body = format!(
        "Subject: {owner} {i}\r\nMessage-ID: <{owner}.{i}@status.test>\r\n\r\nbody {i}\r\n"
    )
    .into_bytes();
    let date = chrono::NaiveDate::from_yo_opt(2024, i + 1)
        .unwrap()
        .and_hms_opt(12, 0, 0)
        .unwrap()
        .and_utc()
        .fixed_offset();
    SeedMessage {
        flags: vec![],
        internaldate: date,
        body,
    }
}

struct Setup {
    source: Dovecot,
    dest: Dovecot,
    ca_pem: String,
    dir: tempfile::TempDir,
    runtime: tokio::runtime::Runtime,
}

impl Setup {
    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    fn seed(&self, user: &str, mail: &[SeedMessage]) {
        self.runtime.block_on(async {
            let mut s = imap_account::login(
                "127.0.0.1",
                self.source.imaps_port(),
                &self.ca_pem,
                user,
                PASSWORD,
            )
            .await
            .unwrap();
            imap_account::seed(&mut s, "INBOX", mail).await.unwrap();
            s.logout().await.ok();
        });
    }

    /// Messages in the destination INBOX of `user`.
    fn dest_count(&self, user: &str) -> usize {
        self.runtime.block_on(async {
            let login = format!("{user}*admin");
            let mut d = imap_account::login(
                "127.0.0.1",
                self.dest.imaps_port(),
                &self.ca_pem,
                &login,
                ADMIN_PASSWORD,
            )
            .await
            .unwrap();
            let snap = imap_account::snapshot(&mut d).await.unwrap();
            snap.folders["INBOX"].messages.len()
        })
    }

    fn migrate(&self, extra: &[&str]) -> Output {
        let mut command = Command::new(env!("CARGO_BIN_EXE_cutover"));
        command
            .arg("migrate")
            .arg("--users")
            .arg(self.path("wave1.csv"))
            .args([
                "--source",
                &self.source.imaps_url(),
                "--dest",
                &self.dest.imaps_url(),
            ])
            .args(["--dest-admin", "admin"])
            .args(["--dest-login-form", "master-separator"])
            .arg("--dest-admin-password-file")
            .arg(self.path("admin.pw"))
            .arg("--ca-file")
            .arg(self.path("ca.pem"))
            .arg("--state")
            .arg(self.path("state.sqlite"))
            .args(extra);
        run_with_timeout(&mut command, Duration::from_secs(120))
    }
}

fn status(state: &Path, json: bool) -> Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_cutover"));
    command.arg("status").arg("--state").arg(state);
    if json {
        command.arg("--json");
    }
    run_with_timeout(&mut command, Duration::from_secs(30))
}

fn status_json(state: &Path) -> serde_json::Value {
    let output = status(state, true);
    assert_eq!(
        output.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).unwrap()
}

fn setup() -> Setup {
    let ca = TestCa::new().unwrap();
    let cert = ca.server_cert(&["localhost", "127.0.0.1"]).unwrap();
    let users = || {
        vec![
            ("ann".into(), PASSWORD.into()),
            ("bob".into(), PASSWORD.into()),
        ]
    };
    let source = Dovecot::start(
        DovecotConfig {
            users: users(),
            ..DovecotConfig::default()
        },
        &cert,
    )
    .expect("source dovecot");
    let dest = Dovecot::start(
        DovecotConfig {
            users: users(),
            master: Some(("admin".into(), ADMIN_PASSWORD.into())),
            ..DovecotConfig::default()
        },
        &cert,
    )
    .expect("dest dovecot");
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("wave1.csv"),
        format!(
            "SourceIdentity,SourceLoginID,SourcePassword\nann,ann,{PASSWORD}\nbob,bob,{PASSWORD}\n"
        ),
    )
    .unwrap();
    std::fs::write(dir.path().join("admin.pw"), ADMIN_PASSWORD).unwrap();
    std::fs::write(dir.path().join("ca.pem"), ca.ca_pem()).unwrap();
    Setup {
        source,
        dest,
        ca_pem: ca.ca_pem(),
        dir,
        runtime: tokio::runtime::Runtime::new().unwrap(),
    }
}

/// The mailbox of `json`'s batch whose state-file name starts with `user`.
fn mailbox<'a>(batch: &'a serde_json::Value, user: &str) -> &'a serde_json::Value {
    batch["mailboxes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["name"].as_str().unwrap().starts_with(&format!("{user} ")))
        .unwrap_or_else(|| panic!("no mailbox {user} in {batch}"))
}

#[test]
fn a_batch_syncs_completes_and_stays_completed() {
    let s = setup();
    s.seed(
        "ann",
        &[message("ann", 1), message("ann", 2), message("ann", 3)],
    );
    s.seed("bob", &[message("bob", 1), message("bob", 2)]);
    let state = s.path("state.sqlite");

    // First pass: the batch is named after the list and ends Synced.
    let output = s.migrate(&[]);
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert_eq!(output.status.code(), Some(0), "{stdout}");
    assert!(stdout.contains("batch wave1: synced\n"), "{stdout}");
    let json = status_json(&state);
    let batch = &json["batches"][0];
    assert_eq!(batch["name"], "wave1", "{json}");
    assert_eq!(batch["status"], "synced", "{json}");
    assert_eq!(batch["settings"]["parallel"], 4, "{json}");
    assert_eq!(batch["mailboxes"].as_array().unwrap().len(), 2);
    for (user, n) in [("ann", 3), ("bob", 2)] {
        let m = mailbox(batch, user);
        assert_eq!(m["status"], "synced", "{m}");
        assert_eq!(m["copied_messages"], n, "{m}");
        assert!(m["copied_bytes"].as_u64().unwrap() > 0, "{m}");
        assert!(m["last_synced"].is_string(), "{m}");
    }
    let table = status(&state, false);
    let text = String::from_utf8_lossy(&table.stdout);
    assert!(text.starts_with("batch wave1: synced since "), "{text}");
    assert!(text.contains("last synced (UTC)"), "{text}");
    eprintln!("DEBUG\n{text}\n{stdout}");

    // New mail, then the final pass: it arrives, and everything is Completed.
    s.seed("ann", &[message("ann", 4)]);
    let output = s.migrate(&["--complete"]);
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert_eq!(output.status.code(), Some(0), "{stdout}");
    assert!(stdout.contains("batch wave1: completed\n"), "{stdout}");
    assert_eq!(s.dest_count("ann"), 4);
    let json = status_json(&state);
    let batch = &json["batches"][0];
    assert_eq!(batch["status"], "completed", "{json}");
    for (user, n) in [("ann", 4), ("bob", 2)] {
        let m = mailbox(batch, user);
        assert_eq!(m["status"], "completed", "{m}");
        assert_eq!(m["copied_messages"], n, "{m}");
    }

    // After the cutover: a plain run leaves the completed mailboxes alone.
    s.seed("ann", &[message("ann", 5)]);
    let output = s.migrate(&[]);
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert_eq!(output.status.code(), Some(0), "{stdout}");
    assert!(
        stdout
            .contains("2 completed mailbox(es) not copied again (--reopen copies them): ann, bob"),
        "{stdout}"
    );
    assert_eq!(s.dest_count("ann"), 4, "a completed mailbox is not copied");
    let json = status_json(&state);
    assert_eq!(json["batches"][0]["status"], "completed", "{json}");
}

#[test]
fn status_without_a_state_file_names_the_path_and_creates_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("nowhere.sqlite");
    let output = status(&state, false);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("no state file at"), "{stderr}");
    assert!(stderr.contains("nowhere.sqlite"), "{stderr}");
    assert!(!state.exists());
}
