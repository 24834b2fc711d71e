//! Ctrl-C (issue 5, shutdown): the first one lets the APPENDs in flight be answered and booked,
//! then every mailbox logs out and the run ends as stopped, exit status 130, with the summary and
//! the report; what the destination holds is exactly what the report counts. A second Ctrl-C
//! aborts at once. Against the mock, whose bandwidth cap makes the run slow enough to interrupt.

use std::io::Read;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use chrono::{FixedOffset, TimeZone};
use cutover_harness::certs::TestCa;
use cutover_harness::mock_server::{
    Bandwidth, MockConfig, MockServer, MockStore, MockTls, Shaping,
};

const USER: &str = "bob";
const MESSAGES: usize = 1500;

fn source_store() -> MockStore {
    let store = MockStore::new('/');
    store.add_user(USER, "Src-pw-1");
    let tz = FixedOffset::east_opt(0).unwrap();
    for i in 0..MESSAGES {
        let mut m =
            format!("Subject: m{i}\r\nMessage-ID: <m{i}@interrupt.test>\r\n\r\n").into_bytes();
        m.extend(std::iter::repeat_n(b'a' + (i % 26) as u8, 3000));
        m.extend_from_slice(b"\r\n");
        let date =
            tz.with_ymd_and_hms(2024, 1, 1, 0, 0, 0).unwrap() + chrono::Duration::minutes(i as i64);
        store.append(USER, "INBOX", &["\\Seen"], date, m.into());
    }
    store
}

fn dest_store() -> MockStore {
    let store = MockStore::new('/');
    store.add_user(USER, "unused");
    store.add_admin("root", "Adm1n-Interrupt");
    store
}

fn interrupt(child: &Child) {
    let status = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .expect("kill runs");
    assert!(status.success());
}

/// Waits for the child to exit, at most `limit`; returns (exit code, stdout, stderr).
fn wait(mut child: Child, limit: Duration) -> (Option<i32>, String, String) {
    let started = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if started.elapsed() > limit {
            let _ = child.kill();
            panic!("cutover did not exit within {limit:?} of Ctrl-C");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let (mut out, mut err) = (String::new(), String::new());
    child
        .stdout
        .take()
        .unwrap()
        .read_to_string(&mut out)
        .unwrap();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut err)
        .unwrap();
    (status.code(), out, err)
}

#[test]
fn ctrl_c_finishes_the_appends_in_flight_and_books_them() {
    let ca = TestCa::new().unwrap();
    let cert = ca.server_cert(&["localhost", "127.0.0.1"]).unwrap();
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let (source, dest) = runtime.block_on(async {
        let config = MockConfig {
            tls: MockTls::Implicit,
            identity: Some(cert.clone()),
            ..MockConfig::default()
        };
        let slow = MockConfig {
            shaping: Shaping {
                bandwidth: Some(Bandwidth::mbit_per_server(4.0)),
                ..Shaping::default()
            },
            ..config.clone()
        };
        (
            MockServer::start(config, source_store()).await.unwrap(),
            MockServer::start(slow, dest_store()).await.unwrap(),
        )
    });
    let dir = tempfile::tempdir().unwrap();
    let users = dir.path().join("users.csv");
    std::fs::write(
        &users,
        format!("SourceIdentity,SourceLoginID,SourcePassword\n{USER},{USER},Src-pw-1\n"),
    )
    .unwrap();
    let password_file = dir.path().join("admin.pw");
    std::fs::write(&password_file, "Adm1n-Interrupt").unwrap();
    let ca_file = dir.path().join("ca.pem");
    std::fs::write(&ca_file, ca.ca_pem()).unwrap();
    let report = dir.path().join("report.json");
    let start = || {
        Command::new(env!("CARGO_BIN_EXE_cutover"))
            .arg("migrate")
            .arg("--users")
            .arg(&users)
            .args(["--source", &source.url(), "--dest", &dest.url()])
            .args(["--dest-admin", "root", "--dest-admin-password-file"])
            .arg(&password_file)
            .arg("--ca-file")
            .arg(&ca_file)
            .arg("--report")
            .arg(&report)
            .arg("--quiet")
            .arg("--no-state")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("cutover starts")
    };
    let stored = || dest.store().messages(USER, "INBOX").len();
    let wait_for_mail = |at_least: usize| {
        let started = Instant::now();
        while stored() < at_least {
            assert!(
                started.elapsed() < Duration::from_secs(60),
                "no mail arrived"
            );
            std::thread::sleep(Duration::from_millis(10));
        }
    };

    // One Ctrl-C: a clean stop.
    let child = start();
    wait_for_mail(1);
    interrupt(&child);
    let (code, stdout, stderr) = wait(child, Duration::from_secs(30));
    assert_eq!(code, Some(130), "{stdout}\n{stderr}");
    assert!(stderr.contains("stopping"), "{stderr}");
    assert!(stdout.contains("interrupted"), "{stdout}");
    let json: serde_json::Value = serde_json::from_slice(&std::fs::read(&report).unwrap()).unwrap();
    let m = &json["mailboxes"][0];
    assert_eq!(m["outcome"]["state"], "stopped", "{m}");
    let copied = m["copied_messages"].as_u64().unwrap() as usize;
    let there = stored();
    assert_eq!(
        copied, there,
        "every acknowledged APPEND is booked, nothing stored is unaccounted"
    );
    assert!(there > 0 && there < MESSAGES, "{there} of {MESSAGES}");
    assert_eq!(
        m["left"]["messages"].as_u64(),
        Some((MESSAGES - there) as u64)
    );
    // The newest mail went first.
    let newest = dest.store().messages(USER, "INBOX");
    let subject = String::from_utf8_lossy(&newest[0].body[..20]).into_owned();
    assert!(
        subject.starts_with(&format!("Subject: m{}", MESSAGES - 1)),
        "{subject}"
    );
    // Every connection logged out or closed.
    let started = Instant::now();
    while dest.stats().current_connections > 0 || source.stats().current_connections > 0 {
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "connections left open"
        );
        std::thread::sleep(Duration::from_millis(20));
    }

    // Two Ctrl-Cs: abort at once.
    let before = stored();
    let child = start();
    wait_for_mail(before + 1);
    interrupt(&child);
    std::thread::sleep(Duration::from_millis(50));
    interrupt(&child);
    let (code, _, stderr) = wait(child, Duration::from_secs(5));
    assert_eq!(code, Some(130), "{stderr}");
    assert!(stderr.contains("aborted"), "{stderr}");
}
