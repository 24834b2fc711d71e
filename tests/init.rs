//! `cutover init` and `--config`: the files init writes, filled in as an operator would (servers,
//! admin, list), drive a whole migration against Dovecot with nothing else on the command line;
//! a flag on the command line overrides the file.

use std::process::Command;
use std::time::Duration;

use cutover_harness::imap_account::{DateTime, SeedMessage};

use crate::cli::run_with_timeout;
use crate::pair::Pair;

#[test]
fn init_writes_files_that_drive_a_migration() {
    let pair = Pair::start(&["ann"], "ann-pw", "admin-pw", |_| {});
    let mail = SeedMessage {
        flags: vec!["\\Seen".into()],
        internaldate: DateTime::parse_from_rfc3339("2024-05-01T09:00:00+00:00").unwrap(),
        body: b"Subject: from init\r\nMessage-ID: <1@init.test>\r\n\r\nhello\r\n".to_vec(),
    };
    pair.seed_source("ann", "INBOX", std::slice::from_ref(&mail));

    let dir = tempfile::tempdir().unwrap();
    let project = dir.path().join("batch1");
    let init = run_with_timeout(
        Command::new(env!("CARGO_BIN_EXE_cutover"))
            .args(["init", "--dir"])
            .arg(&project),
        Duration::from_secs(30),
    );
    assert!(init.status.success(), "{init:?}");
    let toml = std::fs::read_to_string(project.join("cutover.toml")).unwrap();
    let users = std::fs::read_to_string(project.join("users.csv")).unwrap();
    assert!(users.starts_with("SourceIdentity,SourceServer,SourceLoginID,SourcePassword"));

    // Fill in the template as the operator would: the list, the servers, the admin, the CA.
    std::fs::write(
        project.join("users.csv"),
        "SourceIdentity,SourceLoginID,SourcePassword\nann,ann,ann-pw\n",
    )
    .unwrap();
    std::fs::write(project.join("dest-admin.pw"), "admin-pw\n").unwrap();
    std::fs::write(project.join("ca.pem"), &pair.ca_pem).unwrap();
    let toml = toml
        .replace("imaps://old-mail.example.com", &pair.source.imaps_url())
        .replace("imaps://new-mail.example.com", &pair.dest.imaps_url())
        .replace("# ca-file = \"PEM\"", "ca-file = \"ca.pem\"")
        .replace("# parallel = 4", "parallel = 0")
        + "\n# The test destination's admin is a Dovecot master user (ann*admin).\n\
           dest-access = \"master\"\n";
    assert!(toml.contains("ca-file = \"ca.pem\"") && toml.contains("\nparallel = 0\n"));
    std::fs::write(project.join("cutover.toml"), toml).unwrap();

    // run_with_timeout runs it in a directory of its own, so every relative path in the file
    // must be taken from the file's directory.
    let migrate = |extra: &[&str]| {
        run_with_timeout(
            Command::new(env!("CARGO_BIN_EXE_cutover"))
                .args(["migrate", "--config"])
                .arg(project.join("cutover.toml"))
                .args(extra),
            Duration::from_secs(120),
        )
    };
    let bad = migrate(&[]);
    assert_eq!(
        bad.status.code(),
        Some(2),
        "parallel = 0 comes from the file"
    );
    let stderr = String::from_utf8_lossy(&bad.stderr);
    assert!(stderr.contains("--parallel must be at least 1"), "{stderr}");

    let run = migrate(&["--parallel", "2"]);
    let out = format!(
        "{}{}",
        String::from_utf8_lossy(&run.stdout),
        String::from_utf8_lossy(&run.stderr)
    );
    assert_eq!(run.status.code(), Some(0), "{out}");
    assert_eq!(
        pair.dest_snapshot("ann").mail(),
        pair.source_snapshot("ann").mail()
    );
    assert!(
        project.join("cutover-state.sqlite").exists(),
        "state beside the file"
    );

    let again = run_with_timeout(
        Command::new(env!("CARGO_BIN_EXE_cutover"))
            .args(["init", "--dir"])
            .arg(&project),
        Duration::from_secs(30),
    );
    assert_eq!(
        again.status.code(),
        Some(2),
        "init never overwrites unasked"
    );
}
