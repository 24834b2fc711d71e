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

/// A source where an admin reaches each user's mail under `Archive` (guide 3.5.6.2.2), with
/// '.' between levels while the mailbox list writes the roots with '/'.
const ARCHIVE_ADMIN: &str = "archivist";

/// The bytes of a small message with these header lines.
fn message(headers: &str, body: &str) -> Vec<u8> {
    format!("{headers}Subject: test\r\n\r\n{body}\r\n").into_bytes()
}

#[test]
fn source_root_folder_migrates_one_subtree_and_renamed_identities_arrive_renamed() {
    let ca = TestCa::new().unwrap();
    let cert = ca.server_cert(&["localhost", "127.0.0.1"]).unwrap();
    let source = Dovecot::start(
        DovecotConfig {
            users: vec![(ARCHIVE_ADMIN.into(), PASSWORD.into())],
            separator: '.',
            ..DovecotConfig::default()
        },
        &cert,
    )
    .expect("source dovecot");
    let (joe, mary) = ("joe.smith@contoso.com", "mary.major@contoso.com");
    let dest = Dovecot::start(
        DovecotConfig {
            users: vec![
                (joe.into(), "unused".into()),
                (mary.into(), "unused".into()),
            ],
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
    // Joe's root folder: his old address and his colleague Mary's, both renamed in the list.
    let joe_root = message(
        "From: Joe <joe@adatum.com>\r\nTo: \"Mary M.\" <MARY@adatum.com>, bob@example.net\r\n",
        "Write to joe@adatum.com until Friday.",
    );
    let joe_root_expected = message(
        "From: Joe <joe.smith@contoso.com>\r\nTo: \"Mary M.\" <mary.major@contoso.com>, bob@example.net\r\n",
        "Write to joe@adatum.com until Friday.",
    );
    let joe_sent = message("From: joe@adatum.com\r\nTo: bob@example.net\r\n", "sent");
    let joe_sent_expected = message(
        "From: joe.smith@contoso.com\r\nTo: bob@example.net\r\n",
        "sent",
    );
    let joe_project = message("From: bob@example.net\r\n", "no address of ours");
    let mary_root = message("From: mary@adatum.com\r\nCc: Joe <joe@adatum.com>\r\n", "m");
    let mary_root_expected = message(
        "From: mary.major@contoso.com\r\nCc: Joe <joe.smith@contoso.com>\r\n",
        "m",
    );
    let outside = message("From: someone@example.net\r\n", "not Joe's");
    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(async {
        let mut s = imap_account::login(
            "127.0.0.1",
            source.imaps_port(),
            &ca_pem,
            ARCHIVE_ADMIN,
            PASSWORD,
        )
        .await
        .unwrap();
        for (folder, body) in [
            ("INBOX", &outside),
            ("Archive.joe", &joe_root),
            ("Archive.joe.Sent", &joe_sent),
            ("Archive.joe.Projects", &joe_project),
            ("Archive.joey", &outside),
            ("Archive.mary", &mary_root),
        ] {
            imap_account::seed(&mut s, folder, &[seed(body.clone())])
                .await
                .unwrap();
        }
        s.logout().await.ok();
    });

    let dir = tempfile::tempdir().unwrap();
    let users = dir.path().join("users.csv");
    let write_users = |roots: [&str; 2]| {
        std::fs::write(
            &users,
            format!(
                "SourceIdentity,SourceLoginID,SourcePassword,TargetIdentity,SourceRootFolder\n\
                 joe@adatum.com,{ARCHIVE_ADMIN},{PASSWORD},{joe},{}\n\
                 mary@adatum.com,{ARCHIVE_ADMIN},{PASSWORD},{mary},{}\n",
                roots[0], roots[1]
            ),
        )
        .unwrap()
    };
    write_users(["Archive/joe", "Archive/mary/"]);
    let password_file = dir.path().join("admin.pw");
    std::fs::write(&password_file, ADMIN_PASSWORD).unwrap();
    let ca_file = dir.path().join("ca.pem");
    std::fs::write(&ca_file, &ca_pem).unwrap();
    let cutover = |command: &str, extra: &[&str]| {
        let mut c = Command::new(env!("CARGO_BIN_EXE_cutover"));
        c.arg(command)
            .arg("--users")
            .arg(&users)
            .args(["--source", &source.imaps_url()])
            .arg("--ca-file")
            .arg(&ca_file)
            .args(extra);
        if command == "migrate" {
            c.args(["--dest", &dest.imaps_url(), "--dest-admin", "admin"])
                .args(["--dest-login-form", "master-separator"])
                .arg("--dest-admin-password-file")
                .arg(&password_file);
        }
        run_with_timeout(&mut c, Duration::from_secs(120))
    };

    // The dry run and the assessment name the same folders: the root and what is under it.
    let plan = cutover("migrate", &["--dry-run"]);
    let text = String::from_utf8_lossy(&plan.stdout);
    assert!(plan.status.success(), "{text}");
    // Folder lines are indented under their mailbox, in the source's LIST order.
    let mut planned: Vec<(String, String)> = text
        .lines()
        .filter(|l| l.starts_with("  "))
        .filter_map(|l| l.trim().split_once(" -> "))
        .map(|(from, to)| (from.trim().to_string(), to.trim().to_string()))
        .collect();
    planned.sort();
    let pairs = |list: &[(&str, &str)]| -> Vec<(String, String)> {
        list.iter()
            .map(|(a, b)| (a.to_string(), b.to_string()))
            .collect()
    };
    assert_eq!(
        planned,
        pairs(&[
            ("Archive.joe", "INBOX"),
            ("Archive.joe.Projects", "Projects"),
            ("Archive.joe.Sent", "Sent"),
            ("Archive.mary", "INBOX"),
        ]),
        "{text}"
    );
    assert!(
        text.contains("address rewrite: 2 renamed identities"),
        "{text}"
    );
    // Folder patterns see each mailbox's own names, below its root.
    let plan = cutover("migrate", &["--dry-run", "--exclude-folder", "Sent"]);
    let text = String::from_utf8_lossy(&plan.stdout);
    assert!(plan.status.success(), "{text}");
    assert!(
        !text.contains("Archive.joe.Sent") && text.contains("Archive.joe.Projects"),
        "{text}"
    );
    let assessment = dir.path().join("assessment.json");
    let assessed = cutover("assess", &["--json", assessment.to_str().unwrap()]);
    assert!(
        assessed.status.success(),
        "{}",
        String::from_utf8_lossy(&assessed.stdout)
    );
    let json: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&assessment).unwrap()).unwrap();
    let folders = |i: usize| -> Vec<String> {
        json["mailboxes"][i]["folders"]
            .as_array()
            .unwrap()
            .iter()
            .map(|f| f["name"].as_str().unwrap().to_string())
            .collect()
    };
    let sources = |list: &[(String, String)], prefix: &str| -> Vec<String> {
        list.iter()
            .filter(|(s, _)| s.starts_with(prefix))
            .map(|(s, _)| s.clone())
            .collect()
    };
    let sorted = |mut v: Vec<String>| {
        v.sort();
        v
    };
    assert_eq!(sorted(folders(0)), sources(&planned, "Archive.joe"));
    assert_eq!(sorted(folders(1)), sources(&planned, "Archive.mary"));
    assert_eq!(json["mailboxes"][0]["messages"].as_u64(), Some(3));
    assert_eq!(json["mailboxes"][0]["folders"][0]["category"], "Inbox");

    // The migration: only the subtrees, stripped; the renamed addresses arrive renamed.
    let output = cutover("migrate", &[]);
    assert!(
        output.status.success(),
        "{}\n{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    let snapshot = |user: &str| {
        runtime.block_on(async {
            let login = format!("{user}*admin");
            let mut d = imap_account::login(
                "127.0.0.1",
                dest.imaps_port(),
                &ca_pem,
                &login,
                ADMIN_PASSWORD,
            )
            .await
            .unwrap();
            imap_account::snapshot(&mut d).await.unwrap()
        })
    };
    let sha = |b: &[u8]| -> [u8; 32] { Sha256::digest(b).into() };
    let one = |bytes: &[u8]| -> BTreeSet<[u8; 32]> { [sha(bytes)].into_iter().collect() };
    let joe_dest = snapshot(joe);
    assert_eq!(hashes(&joe_dest.folders["INBOX"]), one(&joe_root_expected));
    assert_eq!(hashes(&joe_dest.folders["Sent"]), one(&joe_sent_expected));
    assert_eq!(hashes(&joe_dest.folders["Projects"]), one(&joe_project));
    assert_eq!(joe_dest.message_count(), 3, "{:?}", joe_dest.folders.keys());
    assert!(
        !joe_dest.folders.keys().any(|f| f.starts_with("Archive")),
        "{:?}",
        joe_dest.folders.keys()
    );
    let mary_dest = snapshot(mary);
    assert_eq!(
        hashes(&mary_dest.folders["INBOX"]),
        one(&mary_root_expected)
    );
    assert_eq!(mary_dest.message_count(), 1);

    // A root that names nothing at the source stops that mailbox and says why.
    write_users(["Archive/jo", "Archive/mary"]);
    let plan = cutover("migrate", &["--dry-run"]);
    let text = String::from_utf8_lossy(&plan.stdout);
    assert!(!plan.status.success(), "{text}");
    assert!(
        text.contains("SourceRootFolder \"Archive/jo\" is not a folder at the source"),
        "{text}"
    );
}
