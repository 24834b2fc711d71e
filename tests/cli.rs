//! The `cutover` binary on bad input: exit status 2, every problem with its line and column on
//! stderr, nothing started, and no password from the mailbox list in any output.

use std::io::Read;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

const CSV_PASSWORD: &str = "Corr3ct-Horse-Battery";
const ADMIN_PASSWORD: &str = "Adm1n-Staple";

/// Runs the binary, panicking if it takes longer than `limit`.
pub(crate) fn run_with_timeout(command: &mut Command, limit: Duration) -> Output {
    // A directory of its own, so the default checkpoint file (cutover-state.sqlite) of one run
    // is not found by another test's run; tests that resume pass --state.
    let cwd = tempfile::tempdir().expect("a temp dir");
    let mut child = command
        .current_dir(cwd.path())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("cutover binary starts");
    let started = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait for cutover") {
            break status;
        }
        if started.elapsed() > limit {
            let _ = child.kill();
            panic!("cutover did not exit within {limit:?}");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let (mut stdout, mut stderr) = (Vec::new(), Vec::new());
    child
        .stdout
        .take()
        .unwrap()
        .read_to_end(&mut stdout)
        .unwrap();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_end(&mut stderr)
        .unwrap();
    Output {
        status,
        stdout,
        stderr,
    }
}

#[test]
fn malformed_mailbox_list_exits_2_with_every_problem_and_no_password() {
    // Excel-style: BOM, CRLF, semicolons.
    let csv = format!(
        "\u{FEFF}SourceIdentity;SourceServer;SourceLoginID;SourcePassword;TargetIdentity\r\n\
         joe@a.com;;;{CSV_PASSWORD};\r\n\
         ann@a.com;imaps://old:99999;ann;{CSV_PASSWORD};\r\n\
         bob@a.com;;bob;;\r\n\
         joe@a.com;;joe;{CSV_PASSWORD};\r\n\
         eve@a.com;;eve;{CSV_PASSWORD}\r\n"
    );
    let (status, stdout, stderr) = migrate_with_list(csv.as_bytes());
    assert_eq!(status, Some(2), "stdout:\n{stdout}\nstderr:\n{stderr}");
    for expected in [
        "users.csv:2:3: SourceLoginID is empty",
        "users.csv:3:2: SourceServer: invalid server address",
        "users.csv:4:4: SourcePassword is empty",
        "users.csv:6: expected 5 fields as in the header, found 4",
    ] {
        assert!(
            stderr.contains(expected),
            "missing {expected:?} in:\n{stderr}"
        );
    }
    assert!(stdout.is_empty(), "nothing runs, so no summary:\n{stdout}");
    for secret in [CSV_PASSWORD, ADMIN_PASSWORD] {
        assert!(
            !stdout.contains(secret) && !stderr.contains(secret),
            "{secret} leaked:\n{stderr}"
        );
    }
}

/// Runs `cutover migrate --users <csv bytes>` against a closed port: bad input must stop it before
/// any connection. Returns (exit status, stdout, stderr).
fn migrate_with_list(csv: &[u8]) -> (Option<i32>, String, String) {
    let dir = tempfile::tempdir().unwrap();
    let users = dir.path().join("users.csv");
    std::fs::write(&users, csv).unwrap();
    let password_file = dir.path().join("admin.pw");
    std::fs::write(&password_file, format!("{ADMIN_PASSWORD}\n")).unwrap();
    let output = run_with_timeout(
        Command::new(env!("CARGO_BIN_EXE_cutover"))
            .arg("migrate")
            .arg("--users")
            .arg(&users)
            .args([
                "--source",
                "imaps://127.0.0.1:9",
                "--dest",
                "imaps://127.0.0.1:9",
            ])
            .args(["--dest-admin", "admin", "--dest-admin-password-file"])
            .arg(&password_file)
            .arg("--no-state")
            .env_remove("CUTOVER_DEST_ADMIN_PASSWORD"),
        Duration::from_secs(60),
    );
    (
        output.status.code(),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

/// Eighteen kinds of bad row in one file, as Excel saves it (BOM, CRLF): each is reported with its
/// line and column in one pass, the good row does not start alone, and no password is echoed.
#[test]
fn every_kind_of_bad_row_is_reported_with_its_line_and_column() {
    let pw = CSV_PASSWORD;
    let long = "x".repeat(400);
    let mut csv = format!(
        "\u{FEFF}SourceIdentity,SourceServer,SourceLoginID,SourcePassword,TargetIdentity,SourceRootFolder\n\
         good@a.com,,good,{pw},,\n\
         ,,x,{pw},,\n\
         b@a.com,,,{pw},,\n\
         c@a.com,,c,,,\n\
         d@a.com,imaps://old:99999,d,{pw},,\n\
         e@a.com,ftp://old,e,{pw},,\n\
         GOOD@a.com,,g2,{pw},x@b.com,\n\
         h@a.com,,h,{pw},good@a.com,\n\
         i@a.com,,i,{pw}\n\
         j@a.com,,j,{pw},,,extra\n\
         l@a.com,,l,{pw},,Archive/*\n\
         m@a.com,,m,{pw},,Archive//m\n\
         \"n\n@a.com\",,n,{pw},,\n\
         o@a.com,,o,\"{pw}\nx\",,\n\
         p@a.com,,p,{pw},p@,\n\
         @a.com,,q,{pw},,\n\
         {long}@a.com,,t,{pw},,\n\
         r@a.com,,r,{pw},r@b..com,\n"
    )
    .replace('\n', "\r\n")
    .into_bytes();
    // Latin-1 "k\xF6", as Excel's plain "CSV" (not "CSV UTF-8") saves it.
    csv.extend_from_slice(b"k\xF6@a.com,,k,");
    csv.extend_from_slice(format!("{pw},,\r\n").as_bytes());
    let (status, stdout, stderr) = migrate_with_list(&csv);
    assert_eq!(status, Some(2), "stdout:\n{stdout}\nstderr:\n{stderr}");
    let expected = [
        "users.csv:3:1: SourceIdentity is empty",
        "users.csv:4:3: SourceLoginID is empty",
        "users.csv:5:4: SourcePassword is empty",
        "users.csv:6:2: SourceServer: invalid server address",
        "users.csv:7:2: SourceServer: invalid server address \"ftp://old\": unknown scheme",
        "users.csv:8:1: SourceIdentity \"GOOD@a.com\" repeats line 2",
        "users.csv:9:5: TargetIdentity \"good@a.com\" is already the target of line 2",
        "users.csv:10: expected 6 fields as in the header, found 4",
        "users.csv:11: expected 6 fields as in the header, found 7",
        "users.csv:12:6: SourceRootFolder \"Archive/*\" contains a wildcard",
        "users.csv:13:6: SourceRootFolder \"Archive//m\" has an empty level",
        "users.csv:14:1: SourceIdentity contains a control character",
        "users.csv:16:4: SourcePassword contains a line break or NUL character",
        "users.csv:18:5: TargetIdentity has nothing after `@`",
        "users.csv:19:1: SourceIdentity has nothing before `@`",
        "users.csv:20:1: SourceIdentity is 406 characters long; at most 320",
        "users.csv:21:5: TargetIdentity has a malformed domain after `@`",
        "users.csv:22:1: SourceIdentity is not valid UTF-8",
    ];
    let lines: Vec<&str> = stderr
        .lines()
        .filter(|l| l.contains("users.csv:"))
        .collect();
    for (line, want) in lines.iter().zip(&expected) {
        assert!(
            line.contains(want),
            "expected {want:?}, got {line:?}\n{stderr}"
        );
    }
    assert_eq!(
        lines.len(),
        expected.len(),
        "one line per bad row:\n{stderr}"
    );
    assert!(stdout.is_empty(), "nothing runs:\n{stdout}");
    assert!(
        !stderr.contains(pw) && !stderr.contains(ADMIN_PASSWORD),
        "{stderr}"
    );
}

#[test]
fn cleartext_server_is_refused_by_name() {
    let dir = tempfile::tempdir().unwrap();
    let users = dir.path().join("users.csv");
    std::fs::write(
        &users,
        "SourceIdentity,SourceLoginID,SourcePassword\njoe,joe,pw\n",
    )
    .unwrap();
    let output = run_with_timeout(
        Command::new(env!("CARGO_BIN_EXE_cutover"))
            .arg("migrate")
            .arg("--users")
            .arg(&users)
            .args([
                "--source",
                "imap+plain://old.example:143",
                "--dest",
                "imaps://new.example",
            ])
            .args(["--dest-admin", "admin"])
            .env("CUTOVER_DEST_ADMIN_PASSWORD", ADMIN_PASSWORD),
        Duration::from_secs(60),
    );
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("imap+plain://old.example:143 is cleartext"),
        "{stderr}"
    );
    assert!(stderr.contains("--allow-plaintext"), "{stderr}");
    assert!(!stderr.contains(ADMIN_PASSWORD));
}

/// `cutover migrate` end to end against two Dovecot servers: two mailboxes from a CSV, one of
/// them with a wrong password. Exit status 1 (one mailbox failed), the other mailbox copied
/// exactly, a JSON report with per-folder figures, and no password anywhere: not in stdout,
/// stderr (even at `RUST_LOG=trace`, where async-imap would log LOGIN lines) or the report.
#[test]
fn migrate_end_to_end_reports_per_folder_and_never_prints_a_password() {
    use cutover_harness::certs::TestCa;
    use cutover_harness::dovecot::{Dovecot, DovecotConfig};
    use cutover_harness::imap_account::{self, SeedMessage};

    let ca = TestCa::new().unwrap();
    let cert = ca.server_cert(&["localhost", "127.0.0.1"]).unwrap();
    let source = Dovecot::start(
        DovecotConfig {
            users: vec![
                ("ann".into(), CSV_PASSWORD.into()),
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
            ..DovecotConfig::default()
        },
        &cert,
    )
    .expect("dest dovecot");
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let ca_pem = ca.ca_pem();
    let date = chrono::DateTime::parse_from_rfc3339("2025-03-04T05:06:07+01:00").unwrap();
    runtime.block_on(async {
        let mut s = imap_account::login(
            "127.0.0.1",
            source.imaps_port(),
            &ca_pem,
            "ann",
            CSV_PASSWORD,
        )
        .await
        .unwrap();
        for (folder, n) in [("INBOX", 3), ("Projects/Q1", 2)] {
            let msgs: Vec<SeedMessage> = (0..n)
                .map(|i| SeedMessage {
                    flags: vec!["\\Seen".into()],
                    internaldate: date + chrono::Duration::hours(i),
                    body: format!("Subject: {folder} {i}\r\n\r\nbody {i}\r\n").into_bytes(),
                })
                .collect();
            imap_account::seed(&mut s, folder, &msgs).await.unwrap();
        }
        s.logout().await.ok();
    });

    let dir = tempfile::tempdir().unwrap();
    let users = dir.path().join("users.csv");
    std::fs::write(
        &users,
        format!(
            "SourceIdentity,SourceLoginID,SourcePassword\nann,ann,{CSV_PASSWORD}\nbob,bob,Wr0ng-Pa55word\n"
        ),
    )
    .unwrap();
    let password_file = dir.path().join("admin.pw");
    std::fs::write(&password_file, format!("{ADMIN_PASSWORD}\n")).unwrap();
    let ca_file = dir.path().join("ca.pem");
    std::fs::write(&ca_file, &ca_pem).unwrap();
    let report = dir.path().join("report.json");
    let output = run_with_timeout(
        Command::new(env!("CARGO_BIN_EXE_cutover"))
            .arg("migrate")
            .arg("--users")
            .arg(&users)
            .args(["--source", &source.imaps_url(), "--dest", &dest.imaps_url()])
            .args(["--dest-admin", "admin", "--dest-admin-password-file"])
            .arg(&password_file)
            .arg("--ca-file")
            .arg(&ca_file)
            .arg("--report")
            .arg(&report)
            .env("RUST_LOG", "trace"),
        Duration::from_secs(120),
    );
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{stdout}\n{stderr}");
    let report_text = std::fs::read_to_string(&report).expect("report written");
    for secret in [CSV_PASSWORD, ADMIN_PASSWORD, "Wr0ng-Pa55word"] {
        for (name, text) in [
            ("stdout", &*stdout),
            ("stderr", &*stderr),
            ("report", &*report_text),
        ] {
            assert!(!text.contains(secret), "{secret} leaked into {name}");
        }
    }
    let report: serde_json::Value = serde_json::from_str(&report_text).unwrap();
    let mailboxes = report["mailboxes"].as_array().unwrap();
    assert_eq!(mailboxes[0]["mailbox"], "ann");
    assert_eq!(mailboxes[0]["outcome"]["state"], "completed");
    assert_eq!(mailboxes[0]["copied_messages"], 5);
    let folders: Vec<(String, u64)> = mailboxes[0]["folders"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            (
                f["dest"].as_str().unwrap().to_owned(),
                f["copied_messages"].as_u64().unwrap(),
            )
        })
        .collect();
    assert!(folders.contains(&("INBOX".into(), 3)), "{folders:?}");
    assert!(folders.contains(&("Projects/Q1".into(), 2)), "{folders:?}");
    assert_eq!(mailboxes[1]["mailbox"], "bob");
    assert_eq!(mailboxes[1]["outcome"]["state"], "failed");
    assert!(
        mailboxes[1]["outcome"]["reason"]
            .as_str()
            .unwrap()
            .contains("rejected"),
        "{}",
        mailboxes[1]["outcome"]
    );
    assert!(
        stdout.contains("ann") && stdout.contains("bob"),
        "summary names both:\n{stdout}"
    );

    // What the report says is at the destination is there.
    let copied = runtime.block_on(async {
        let mut s = imap_account::authenticate_plain(
            "127.0.0.1",
            dest.imaps_port(),
            &ca_pem,
            "ann",
            "admin",
            ADMIN_PASSWORD,
        )
        .await
        .unwrap();
        let snap = imap_account::snapshot(&mut s).await.unwrap();
        s.logout().await.ok();
        snap.message_count()
    });
    assert_eq!(copied, 5);
}
