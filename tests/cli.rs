//! The `cutover` binary on bad input: exit status 2, every problem with its line and column on
//! stderr, nothing started, and no password from the mailbox list in any output.

use std::io::Read;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

const CSV_PASSWORD: &str = "Corr3ct-Horse-Battery";
const ADMIN_PASSWORD: &str = "Adm1n-Staple";

/// Runs the binary, panicking if it takes longer than `limit`.
fn run_with_timeout(command: &mut Command, limit: Duration) -> Output {
    let mut child = command
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
    let dir = tempfile::tempdir().unwrap();
    let users = dir.path().join("users.csv");
    // Excel-style: BOM, CRLF, semicolons.
    let csv = format!(
        "\u{FEFF}SourceIdentity;SourceServer;SourceLoginID;SourcePassword;TargetIdentity\r\n\
         joe@a.com;;;{CSV_PASSWORD};\r\n\
         ann@a.com;imaps://old:99999;ann;{CSV_PASSWORD};\r\n\
         bob@a.com;;bob;;\r\n\
         joe@a.com;;joe;{CSV_PASSWORD};\r\n\
         eve@a.com;;eve;{CSV_PASSWORD}\r\n"
    );
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
            .env_remove("CUTOVER_DEST_ADMIN_PASSWORD"),
        Duration::from_secs(60),
    );
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(
        output.status.code(),
        Some(2),
        "stdout:\n{stdout}\nstderr:\n{stderr}"
    );
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
