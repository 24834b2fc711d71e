//! `cutover verify` against two Dovecots (issue 15): after a migration through a folder map it
//! exits 0; after the destination is damaged on purpose (one message deleted, one appended a
//! second time, one foreign message appended, one flag changed) it exits 1 and its report names
//! exactly those four differences, and nothing else.

use std::time::Duration;

use cutover_harness::imap_account::{self, SeedMessage};
use futures::TryStreamExt;
use serde_json::Value;

use crate::cli::run_with_timeout;
use crate::pair::Pair;

const PASSWORD: &str = "Ver1fy-Pw";
const ADMIN_PASSWORD: &str = "Adm1n-Ver1fy";
const USER: &str = "vic";

fn message(i: usize, flags: &[&str]) -> SeedMessage {
    let base = chrono::DateTime::parse_from_rfc3339("2024-03-01T09:00:00+01:00").unwrap();
    // Every fourth has no Message-ID: the report names it by its subject.
    let id = match i % 4 {
        1 => String::new(),
        _ => format!("Message-ID: <v{i}@verify.test>\r\n"),
    };
    SeedMessage {
        flags: flags.iter().map(|f| f.to_string()).collect(),
        // Dates against UID order, as in an imported mailbox.
        internaldate: base + chrono::Duration::minutes(((i * 37) % 101) as i64),
        body: format!(
            "From: a{i}@example.org\r\nSubject: v{i}\r\n{id}\r\nbody {i} {}\r\n",
            "x".repeat(i * 97 % 3000)
        )
        .into_bytes(),
    }
}

/// The source: several folders, two of them merged into one destination folder by the map,
/// one message flagged \Deleted (left out by the default filter).
fn corpus() -> Vec<(&'static str, Vec<SeedMessage>)> {
    let m = |range: std::ops::Range<usize>| -> Vec<SeedMessage> {
        range
            .map(|i| match i {
                2 => message(i, &["\\Deleted"]),
                _ if i % 3 == 0 => message(i, &["\\Seen", "$Work"]),
                _ => message(i, &[]),
            })
            .collect()
    };
    vec![
        ("INBOX", m(0..10)),
        ("Sent", m(10..15)),
        ("Important Mail", m(15..19)),
        ("Spam", m(19..22)),
        ("Junk", m(22..24)),
        ("Projects/2024", m(24..27)),
    ]
}

/// The UID of the one message of the selected folder with Message-ID `id`.
async fn find_uid(d: &mut imap_account::Session, id: &str) -> String {
    let uids = d
        .uid_search(format!("HEADER Message-ID {id}"))
        .await
        .unwrap();
    assert_eq!(uids.len(), 1, "{id}");
    uids.into_iter().next().unwrap().to_string()
}

fn folder<'a>(report: &'a Value, dest: &str) -> &'a Value {
    report["mailboxes"][0]["folders"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["dest"] == dest)
        .unwrap_or_else(|| panic!("no folder {dest} in {report:#}"))
}

#[test]
fn verify_passes_after_a_migration_and_names_exactly_the_damage_done_to_the_destination() {
    let pair = Pair::start(&[USER], PASSWORD, ADMIN_PASSWORD, |_| {});
    for (name, messages) in corpus() {
        pair.seed_source(USER, name, &messages);
    }
    // A destination folder of its own: outside the plan, listed, never a failure.
    let mut d = pair.dest_session(USER);
    pair.runtime.block_on(async {
        imap_account::seed(&mut d, "Leftover", &[message(99, &[])])
            .await
            .unwrap();
    });
    let map = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fixtures/foldermaps/seed-example.toml");
    let state = pair.path("state.sqlite");
    let mut migrate = pair.migrate();
    migrate
        .arg("--folder-map")
        .arg(&map)
        .arg("--state")
        .arg(&state)
        .arg("--quiet");
    let output = run_with_timeout(&mut migrate, Duration::from_secs(120));
    assert!(output.status.success(), "{output:?}");

    let report_path = pair.path("verify.json");
    let verify = || {
        let mut c = pair.verify();
        c.arg("--folder-map")
            .arg(&map)
            .arg("--report")
            .arg(&report_path)
            .arg("--no-state");
        let output = run_with_timeout(&mut c, Duration::from_secs(120));
        let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
        let report: Value = serde_json::from_slice(&std::fs::read(&report_path).unwrap())
            .unwrap_or_else(|e| panic!("{e}: {stdout}"));
        (output.status.code(), stdout, report)
    };

    let (code, stdout, report) = verify();
    assert_eq!(code, Some(0), "{stdout}\n{report:#}");
    assert!(stdout.contains("vic: ok: "), "{stdout}");
    assert_eq!(report["ok"], true);
    let mailbox = &report["mailboxes"][0];
    assert_eq!(mailbox["filtered"]["deleted"], 1, "{mailbox:#}");
    assert_eq!(
        mailbox["not_in_plan"],
        serde_json::json!([{"folder": "Leftover", "messages": 1}]),
        "{mailbox:#}"
    );
    let junk = folder(&report, "Junk E-mail");
    let mut sources: Vec<&str> = junk["sources"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s.as_str().unwrap())
        .collect();
    sources.sort();
    assert_eq!(sources, ["Junk", "Spam"], "{junk:#}");
    assert_eq!(
        (junk["expected"].as_u64(), junk["matched"].as_u64()),
        (Some(5), Some(5))
    );
    assert_eq!(folder(&report, "INBOX")["expected"], 9, "v2 is \\Deleted");
    assert_eq!(folder(&report, "INBOX/Important")["matched"], 4);

    // The damage, through a direct session at the destination.
    pair.runtime.block_on(async {
        d.select("INBOX").await.unwrap();
        let v3 = find_uid(&mut d, "<v3@verify.test>").await;
        let _: Vec<_> = d
            .uid_store(&v3, "+FLAGS.SILENT (\\Deleted)")
            .await
            .unwrap()
            .try_collect()
            .await
            .unwrap();
        let _: Vec<_> = d.expunge().await.unwrap().try_collect().await.unwrap();
        imap_account::seed(&mut d, "INBOX", &[message(4, &[])])
            .await
            .unwrap();
        let extra = SeedMessage {
            body: b"Subject: not from the source\r\n\r\nhello\r\n".to_vec(),
            ..message(50, &[])
        };
        imap_account::seed(&mut d, "Junk E-mail", &[extra])
            .await
            .unwrap();
        d.select("INBOX/Important").await.unwrap();
        let v16 = find_uid(&mut d, "<v16@verify.test>").await;
        let _: Vec<_> = d
            .uid_store(&v16, "+FLAGS.SILENT (\\Flagged)")
            .await
            .unwrap()
            .try_collect()
            .await
            .unwrap();
        d.logout().await.unwrap();
    });

    let (code, stdout, report) = verify();
    assert_eq!(code, Some(1), "{stdout}\n{report:#}");
    assert_eq!(report["ok"], false);
    assert!(stdout.contains("vic: DIFFERS"), "{stdout}");
    let ids = |list: &Value| -> Vec<(String, String)> {
        list.as_array()
            .unwrap()
            .iter()
            .map(|m| {
                let name = m["message_id"].as_str().or(m["subject"].as_str());
                (m["folder"].as_str().unwrap().into(), name.unwrap().into())
            })
            .collect()
    };
    let pairs = |v: &[(&str, &str)]| -> Vec<(String, String)> {
        v.iter()
            .map(|(a, b)| (a.to_string(), b.to_string()))
            .collect()
    };
    let mut found = Vec::new();
    for f in report["mailboxes"][0]["folders"].as_array().unwrap() {
        let dest = f["dest"].as_str().unwrap();
        for kind in [
            "missing",
            "duplicates",
            "extra",
            "flag_differences",
            "date_differences",
        ] {
            let list = &f[kind];
            if list.as_array().unwrap().is_empty() {
                continue;
            }
            let named = match kind {
                "flag_differences" => ids(&Value::Array(
                    list.as_array()
                        .unwrap()
                        .iter()
                        .map(|d| d["source"].clone())
                        .collect(),
                )),
                "date_differences" => vec![("date".into(), list.to_string())],
                _ => ids(list),
            };
            found.push((dest.to_string(), kind, named));
        }
        assert_eq!(f["unreadable"], serde_json::json!([]), "{f:#}");
        assert_eq!(f["folder_missing"], false, "{f:#}");
    }
    found.sort();
    assert_eq!(
        found,
        vec![
            (
                "INBOX".to_string(),
                "duplicates",
                pairs(&[("INBOX", "<v4@verify.test>")])
            ),
            (
                "INBOX".to_string(),
                "missing",
                pairs(&[("INBOX", "<v3@verify.test>")])
            ),
            (
                "INBOX/Important".to_string(),
                "flag_differences",
                pairs(&[("Important Mail", "<v16@verify.test>")])
            ),
            (
                "Junk E-mail".to_string(),
                "extra",
                pairs(&[("Junk E-mail", "not from the source")])
            ),
        ],
        "{report:#}"
    );
    let flagged = &folder(&report, "INBOX/Important")["flag_differences"][0];
    assert_eq!(
        flagged["source_flags"],
        serde_json::json!([]),
        "{flagged:#}"
    );
    assert_eq!(
        flagged["dest_flags"],
        serde_json::json!(["\\Flagged"]),
        "{flagged:#}"
    );
    assert_eq!(
        folder(&report, "INBOX")["found"],
        9,
        "one deleted, one appended twice"
    );
    assert_eq!(
        report["mailboxes"][0]["not_in_plan"][0]["folder"],
        "Leftover"
    );
}

#[test]
fn verify_expects_the_rewritten_bytes_where_migrate_rewrites_addresses() {
    let pair = Pair::start(&[USER], PASSWORD, ADMIN_PASSWORD, |_| {});
    let base = chrono::DateTime::parse_from_rfc3339("2024-03-01T09:00:00+01:00").unwrap();
    let mail: Vec<SeedMessage> = (0..6)
        .map(|i| SeedMessage {
            flags: vec![],
            internaldate: base + chrono::Duration::minutes(i),
            // Every other message names an address of the renamed domain.
            body: format!(
                "From: {}\r\nSubject: r{i}\r\nMessage-ID: <r{i}@verify.test>\r\n\r\nhi\r\n",
                if i % 2 == 0 {
                    "ann@adatum.com"
                } else {
                    "ann@elsewhere.org"
                }
            )
            .into_bytes(),
        })
        .collect();
    pair.seed_source(USER, "INBOX", &mail);
    let rewrite = ["--rewrite-domain", "adatum.com=contoso.com"];
    let mut migrate = pair.migrate();
    migrate.args(rewrite).arg("--no-state").arg("--quiet");
    let output = run_with_timeout(&mut migrate, Duration::from_secs(120));
    assert!(output.status.success(), "{output:?}");

    let report_path = pair.path("verify.json");
    let verify = |extra: &[&str]| {
        let mut c = pair.verify();
        c.args(extra)
            .arg("--report")
            .arg(&report_path)
            .arg("--no-state");
        let output = run_with_timeout(&mut c, Duration::from_secs(120));
        let report: Value = serde_json::from_slice(&std::fs::read(&report_path).unwrap()).unwrap();
        (output.status.code(), report)
    };
    let (code, report) = verify(&rewrite);
    assert_eq!(code, Some(0), "{report:#}");
    // Without the rewrite, the three rewritten messages are not what the source has.
    let (code, report) = verify(&[]);
    assert_eq!(code, Some(1), "{report:#}");
    let inbox = folder(&report, "INBOX");
    assert_eq!(
        (
            inbox["missing"].as_array().unwrap().len(),
            inbox["extra"].as_array().unwrap().len()
        ),
        (3, 3),
        "{inbox:#}"
    );
    assert_eq!(inbox["matched"], 3, "{inbox:#}");
}
