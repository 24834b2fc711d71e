//! Secrets never leave their files (issue 7): a run that fails in every way a password can make it
//! fail (a wrong user password, a wrong admin password, one mailbox copied next to them) with every
//! log line on, and everything it leaves behind (stdout, stderr, the JSON report, the state file,
//! `cutover status`, `cutover verify`) is searched for each password it was given. None may appear.

use std::path::Path;
use std::process::{Command, Output};
use std::time::Duration;

use cutover_harness::imap_account::{DateTime, SeedMessage};

use crate::cli::run_with_timeout;
use crate::pair::Pair;

const SOURCE_PASSWORD: &str = "S0urce-Secret-4417";
const WRONG_SOURCE_PASSWORD: &str = "Wr0ng-Source-9902";
const ADMIN_PASSWORD: &str = "Adm1n-Secret-5521";
const WRONG_ADMIN_PASSWORD: &str = "Wr0ng-Adm1n-7730";
const ALL: [&str; 4] = [
    SOURCE_PASSWORD,
    WRONG_SOURCE_PASSWORD,
    ADMIN_PASSWORD,
    WRONG_ADMIN_PASSWORD,
];

fn run(command: &mut Command) -> Output {
    // Every log line of every crate, as a user chasing a problem would turn on.
    command.env("RUST_LOG", "trace");
    run_with_timeout(command, Duration::from_secs(120))
}

fn text(output: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

/// Every byte of `path` (SQLite files are searched as bytes: a password would sit there as text).
fn bytes(path: &Path) -> Vec<u8> {
    std::fs::read(path).unwrap_or_default()
}

fn contains(haystack: &[u8], needle: &str) -> bool {
    haystack
        .windows(needle.len())
        .any(|w| w == needle.as_bytes())
}

#[test]
fn no_password_appears_in_any_output_of_a_failing_run() {
    let pair = Pair::start(&["ann", "bob"], SOURCE_PASSWORD, ADMIN_PASSWORD, |_| {});
    let date = DateTime::parse_from_rfc3339("2024-03-01T10:00:00+00:00").unwrap();
    let mail = SeedMessage {
        flags: vec![],
        internaldate: date,
        body: b"Subject: hello\r\nMessage-ID: <1@secrets.test>\r\n\r\nhi\r\n".to_vec(),
    };
    pair.seed_source("ann", "INBOX", std::slice::from_ref(&mail));
    // bob's row carries a wrong password.
    std::fs::write(
        pair.path("users.csv"),
        format!(
            "SourceIdentity,SourceLoginID,SourcePassword\n\
             ann,ann,{SOURCE_PASSWORD}\n\
             bob,bob,{WRONG_SOURCE_PASSWORD}\n"
        ),
    )
    .unwrap();
    let state = pair.path("state.sqlite");
    let report = pair.path("report.json");
    let migrate = |pair: &Pair| {
        let mut c = pair.migrate();
        c.arg("--state").arg(&state).arg("--report").arg(&report);
        run(&mut c)
    };

    let first = migrate(&pair);
    assert_eq!(first.status.code(), Some(1), "{}", text(&first));
    let first_report = bytes(&report);
    assert!(
        contains(&first_report, "credentials rejected"),
        "bob's failure is in the report"
    );
    assert_eq!(
        pair.dest_snapshot("ann").message_count(),
        1,
        "ann was copied"
    );

    // Now the destination admin's password is wrong too.
    std::fs::write(pair.path("admin.pw"), WRONG_ADMIN_PASSWORD).unwrap();
    let second = migrate(&pair);
    assert_eq!(second.status.code(), Some(1), "{}", text(&second));
    let status = run(Command::new(env!("CARGO_BIN_EXE_cutover"))
        .args(["status", "--state"])
        .arg(&state));
    // A verify with the same wrong passwords: it fails, and says so without them.
    let verify_report = pair.path("verify.json");
    let verify = run(pair
        .verify()
        .arg("--state")
        .arg(&state)
        .arg("--report")
        .arg(&verify_report));
    assert_eq!(verify.status.code(), Some(1), "{}", text(&verify));
    assert!(text(&verify).contains("NOT VERIFIED"), "{}", text(&verify));

    let logs = format!(
        "{}{}{}{}",
        text(&first),
        text(&second),
        text(&status),
        text(&verify)
    );
    assert!(
        logs.contains("DEBUG") || logs.contains("TRACE"),
        "the runs logged at debug level:\n{logs}"
    );
    let mut searched: Vec<(String, Vec<u8>)> = vec![
        ("output".into(), logs.into_bytes()),
        ("first report".into(), first_report),
        ("second report".into(), bytes(&report)),
        ("verify report".into(), bytes(&verify_report)),
    ];
    for entry in std::fs::read_dir(pair.path("")).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        if name.starts_with("state.sqlite") {
            searched.push((name, bytes(&path)));
        }
    }
    assert!(
        searched
            .iter()
            .any(|(n, b)| n == "state.sqlite" && b.len() > 4096),
        "the state file was written"
    );
    for (what, data) in &searched {
        for password in ALL {
            assert!(!contains(data, password), "{password} appears in {what}");
        }
    }
}
