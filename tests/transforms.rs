//! Issue 4's transforms end to end against Dovecot: `cutover migrate --directory --rewrite-domain
//! --folder-map` rewrites Exchange X.500 / IMCEAEX header addresses to SMTP (the golden cases'
//! expected bytes arrive exactly) and follows the guide's Foldermap.xml examples.

use std::collections::BTreeSet;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

use cutover_harness::certs::TestCa;
use cutover_harness::dovecot::{Dovecot, DovecotConfig};
use cutover_harness::imap_account::{self, SeedMessage};
use sha2::{Digest, Sha256};

use crate::cli::run_with_timeout;

const PASSWORD: &str = "Tr4nsform-Pw";
const ADMIN_PASSWORD: &str = "Adm1n-Tr4nsform";

/// CRLF line ends, as IMAP carries a message.
fn crlf(bytes: &[u8]) -> Vec<u8> {
    let text = String::from_utf8_lossy(bytes).replace("\r\n", "\n");
    text.replace('\n', "\r\n").into_bytes()
}

/// Golden rewrite pairs (input, expected) that run without --keep-original-addresses.
fn golden_pairs(n: usize) -> Vec<(Vec<u8>, Vec<u8>)> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/messages/rewrite");
    let mut pairs = Vec::new();
    for i in 1..=99 {
        let input = dir.join(format!("{i:03}.eml"));
        let Ok(bytes) = std::fs::read(&input) else {
            continue;
        };
        if String::from_utf8_lossy(&bytes).contains("X-Golden:") {
            continue;
        }
        let expected = std::fs::read(dir.join(format!("{i:03}.expected.eml"))).unwrap();
        pairs.push((crlf(&bytes), crlf(&expected)));
        if pairs.len() == n {
            break;
        }
    }
    pairs
}

fn hashes(folder: &imap_account::FolderSnapshot) -> BTreeSet<[u8; 32]> {
    folder.messages.iter().map(|m| m.sha256).collect()
}

#[test]
fn migrate_rewrites_x500_addresses_and_follows_a_foldermap() {
    let ca = TestCa::new().unwrap();
    let cert = ca.server_cert(&["localhost", "127.0.0.1"]).unwrap();
    let source = Dovecot::start(
        DovecotConfig {
            users: vec![("ann".into(), PASSWORD.into())],
            ..DovecotConfig::default()
        },
        &cert,
    )
    .expect("source dovecot");
    let dest = Dovecot::start(
        DovecotConfig {
            users: vec![("ann".into(), "unused".into())],
            master: Some(("admin".into(), ADMIN_PASSWORD.into())),
            ..DovecotConfig::default()
        },
        &cert,
    )
    .expect("dest dovecot");
    let ca_pem = ca.ca_pem();
    let date = chrono::DateTime::parse_from_rfc3339("2024-05-06T07:08:09+02:00").unwrap();
    let seed = |body: Vec<u8>| SeedMessage {
        flags: vec!["\\Seen".into()],
        internaldate: date,
        body,
    };
    let pairs = golden_pairs(8);
    assert!(pairs.len() >= 8, "golden cases found: {}", pairs.len());
    let rewritten = pairs.iter().filter(|(i, e)| i != e).count();
    assert!(rewritten >= 4, "cases that change: {rewritten}");
    let spam = seed(b"Subject: cheap pills\r\n\r\nspam\r\n".to_vec());
    let important = seed(b"Subject: board meeting\r\n\r\nimportant\r\n".to_vec());
    let already_junk = seed(b"Subject: old junk\r\n\r\nalready there\r\n".to_vec());
    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(async {
        let mut s = imap_account::login("127.0.0.1", source.imaps_port(), &ca_pem, "ann", PASSWORD)
            .await
            .unwrap();
        let inbox: Vec<SeedMessage> = pairs.iter().map(|(input, _)| seed(input.clone())).collect();
        imap_account::seed(&mut s, "INBOX", &inbox).await.unwrap();
        imap_account::seed(&mut s, "Spam", std::slice::from_ref(&spam))
            .await
            .unwrap();
        imap_account::seed(&mut s, "Important Mail", std::slice::from_ref(&important))
            .await
            .unwrap();
        s.logout().await.ok();
        // The destination has its \Junk folder (Dovecot's "Junk") with mail in it already.
        let mut d = imap_account::login(
            "127.0.0.1",
            dest.imaps_port(),
            &ca_pem,
            "ann*admin",
            ADMIN_PASSWORD,
        )
        .await
        .unwrap();
        imap_account::seed(&mut d, "Junk", std::slice::from_ref(&already_junk))
            .await
            .unwrap();
        d.logout().await.ok();
    });

    let dir = tempfile::tempdir().unwrap();
    let users = dir.path().join("users.csv");
    std::fs::write(
        &users,
        format!("SourceIdentity,SourceLoginID,SourcePassword\nann,ann,{PASSWORD}\n"),
    )
    .unwrap();
    let password_file = dir.path().join("admin.pw");
    std::fs::write(&password_file, ADMIN_PASSWORD).unwrap();
    let ca_file = dir.path().join("ca.pem");
    std::fs::write(&ca_file, &ca_pem).unwrap();
    let report = dir.path().join("report.json");
    let fixtures = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures");
    let migrate = |extra: &[&str]| {
        let mut command = Command::new(env!("CARGO_BIN_EXE_cutover"));
        command
            .arg("migrate")
            .arg("--users")
            .arg(&users)
            .args(["--source", &source.imaps_url(), "--dest", &dest.imaps_url()])
            .args([
                "--dest-admin",
                "admin",
                "--dest-login-form",
                "master-separator",
            ])
            .arg("--dest-admin-password-file")
            .arg(&password_file)
            .arg("--ca-file")
            .arg(&ca_file)
            .arg("--folder-map")
            .arg(fixtures.join("foldermaps/seed-example.xml"))
            .args(extra);
        run_with_timeout(&mut command, Duration::from_secs(120))
    };
    // --dry-run says where each folder goes and creates nothing.
    let plan = migrate(&["--dry-run"]);
    let text = String::from_utf8_lossy(&plan.stdout);
    assert!(plan.status.success(), "{text}");
    let arrow = |from: &str, to: &str| {
        text.lines().any(|l| {
            l.trim_start().starts_with(from) && l.trim_end().ends_with(&format!("-> {to}"))
        })
    };
    assert!(
        arrow("Spam", "Junk") && arrow("Important Mail", "INBOX/Important"),
        "{text}"
    );
    // --exclude-folder leaves a folder out of the plan.
    let plan = migrate(&["--dry-run", "--exclude-folder", "imp*"]);
    let text = String::from_utf8_lossy(&plan.stdout);
    assert!(plan.status.success() && text.contains("Spam"), "{text}");
    assert!(!text.contains("Important Mail"), "{text}");
    let after_dry_run = runtime.block_on(async {
        let mut d = imap_account::login(
            "127.0.0.1",
            dest.imaps_port(),
            &ca_pem,
            "ann*admin",
            ADMIN_PASSWORD,
        )
        .await
        .unwrap();
        imap_account::snapshot(&mut d).await.unwrap()
    });
    assert_eq!(
        after_dry_run.message_count(),
        1,
        "only the Junk mail seeded before"
    );
    assert!(!after_dry_run.folders.contains_key("INBOX/Important"));

    let directory = fixtures.join("messages/rewrite/directory.ldif");
    let output = migrate(&[
        "--directory",
        directory.to_str().unwrap(),
        "--rewrite-domain",
        "adatum.com=contoso.com",
        "--report",
        report.to_str().unwrap(),
    ]);
    assert!(
        output.status.success(),
        "{}\n{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );

    let (dest_snap, source_snap) = runtime.block_on(async {
        let mut d = imap_account::login(
            "127.0.0.1",
            dest.imaps_port(),
            &ca_pem,
            "ann*admin",
            ADMIN_PASSWORD,
        )
        .await
        .unwrap();
        let mut s = imap_account::login("127.0.0.1", source.imaps_port(), &ca_pem, "ann", PASSWORD)
            .await
            .unwrap();
        (
            imap_account::snapshot(&mut d).await.unwrap(),
            imap_account::snapshot(&mut s).await.unwrap(),
        )
    });
    let sha = |b: &[u8]| -> [u8; 32] { Sha256::digest(b).into() };
    // INBOX: exactly the expected bytes of every golden case, rewritten or not.
    let want: BTreeSet<[u8; 32]> = pairs.iter().map(|(_, expected)| sha(expected)).collect();
    assert_eq!(hashes(&dest_snap.folders["INBOX"]), want, "INBOX differs");
    // Spam went into the destination's \Junk folder, beside what was there.
    let junk = &dest_snap.folders["Junk"];
    assert_eq!(
        hashes(junk),
        [sha(&spam.body), sha(&already_junk.body)]
            .into_iter()
            .collect()
    );
    assert!(
        !dest_snap.folders.contains_key("Spam") && !dest_snap.folders.contains_key("Junk E-mail")
    );
    // "Important Mail" became Inbox/Important.
    let important_dest = &dest_snap.folders["INBOX/Important"];
    assert_eq!(
        hashes(important_dest),
        [sha(&important.body)].into_iter().collect()
    );
    // The source is untouched.
    assert_eq!(
        hashes(&source_snap.folders["INBOX"]),
        pairs.iter().map(|(i, _)| sha(i)).collect()
    );

    let report: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&report).unwrap()).unwrap();
    let m = &report["mailboxes"][0];
    let rw = &m["address_rewrite"];
    assert_eq!(
        rw["messages_rewritten"].as_u64(),
        Some(rewritten as u64),
        "{rw}"
    );
    assert!(rw["addresses_rewritten"].as_u64().unwrap() >= rewritten as u64);
}
