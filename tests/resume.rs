//! Never lose, never duplicate (issue 5): `cutover migrate --state FILE` killed with SIGKILL at
//! 20 seeded random moments and run again each time, against two Dovecots. In the end the
//! destination holds exactly the source: the same multiset of SHA-256 per folder, no message
//! missing, none twice; and the last run counts what earlier runs copied.

use std::collections::BTreeMap;
use std::process::Stdio;
use std::time::{Duration, Instant};

use cutover_harness::imap_account::{self, SeedMessage};

use crate::cli::run_with_timeout;
use crate::pair::Pair;

const PASSWORD: &str = "Res0me-Pw";
const ADMIN_PASSWORD: &str = "Adm1n-Res0me";
const KILLS: usize = 20;

/// A small deterministic generator (the kill points must be the same on every run).
struct Lcg(u64);

impl Lcg {
    fn next(&mut self, below: u64) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (self.0 >> 33) % below
    }
}

fn corpus() -> Vec<(&'static str, Vec<SeedMessage>)> {
    let base = chrono::DateTime::parse_from_rfc3339("2022-03-01T08:00:00+01:00").unwrap();
    let mut folders: Vec<(&'static str, Vec<SeedMessage>)> = vec![
        ("INBOX", vec![]),
        ("Sent", vec![]),
        ("Projects/2022", vec![]),
    ];
    for i in 0..1800usize {
        // One in ten has no Message-ID: recognised at the destination by its content.
        let id = match i % 10 {
            3 => String::new(),
            _ => format!("Message-ID: <r{i}@resume.test>\r\n"),
        };
        let mut body = format!("From: a{i}@example.org\r\nSubject: r{i}\r\n{id}\r\n").into_bytes();
        body.extend(std::iter::repeat_n(
            b'a' + (i % 26) as u8,
            [300, 2500, 9000][i % 3],
        ));
        body.extend_from_slice(b"\r\n");
        folders[i % 3].1.push(SeedMessage {
            flags: if i % 4 == 0 {
                vec![]
            } else {
                vec!["\\Seen".into()]
            },
            internaldate: base + chrono::Duration::minutes(i as i64 * 7),
            body,
        });
    }
    folders
}

/// Folder → sorted SHA-256 of every message (duplicates kept).
pub(crate) fn digests(snapshot: &imap_account::AccountSnapshot) -> BTreeMap<String, Vec<[u8; 32]>> {
    snapshot
        .folders
        .iter()
        .filter(|(_, f)| !f.messages.is_empty())
        .map(|(name, f)| {
            let mut d: Vec<[u8; 32]> = f.messages.iter().map(|m| m.sha256).collect();
            d.sort();
            (name.clone(), d)
        })
        .collect()
}

#[test]
fn killed_twenty_times_and_resumed_nothing_is_lost_or_duplicated() {
    let pair = Pair::start(&["kim"], PASSWORD, ADMIN_PASSWORD, |_| {});
    let folders = corpus();
    let total: usize = folders.iter().map(|(_, m)| m.len()).sum();
    for (name, messages) in &folders {
        pair.seed_source("kim", name, messages);
    }

    let state = pair.path("state.sqlite");
    let report = pair.path("report.json");
    let command = || {
        let mut c = pair.migrate();
        c.arg("--state")
            .arg(&state)
            .arg("--report")
            .arg(&report)
            .args(["--source-connections", "2", "--dest-connections", "2"])
            .arg("--quiet");
        c
    };
    let dest_count = || pair.dest_snapshot("kim");

    // The kill points: 20 seeded moments of the copy, as numbers of messages at the destination
    // (plus a few milliseconds, so some land mid-batch and mid-literal).
    let mut rng = Lcg(20261201);
    let mut points: Vec<u64> = (0..KILLS)
        .map(|_| 1 + rng.next(total as u64 - 50))
        .collect();
    points.sort_unstable();
    let mut watcher = pair.dest_session("kim");
    let mut arrived = || -> u64 {
        pair.runtime.block_on(async {
            let mut n = 0;
            for (name, _) in &folders {
                if let Ok(status) = watcher.status(name, "(MESSAGES)").await {
                    n += u64::from(status.exists);
                }
            }
            n
        })
    };
    let mut kills = 0;
    for point in &points {
        let mut child = command()
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let started = Instant::now();
        while arrived() < *point && child.try_wait().unwrap().is_none() {
            assert!(
                started.elapsed() < Duration::from_secs(60),
                "no progress towards {point}"
            );
            std::thread::sleep(Duration::from_millis(10));
        }
        std::thread::sleep(Duration::from_millis(rng.next(30)));
        assert!(
            child.try_wait().unwrap().is_none(),
            "the run ended before kill point {point}"
        );
        child.kill().unwrap(); // SIGKILL
        child.wait().unwrap();
        kills += 1;
        if std::env::var("RESUME_TRACE").is_ok() {
            eprintln!("kill {kills} at {point}: {} there", arrived());
        }
    }
    assert_eq!(kills, KILLS);

    // The last run completes and counts what the earlier ones copied.
    let output = run_with_timeout(&mut command(), Duration::from_secs(180));
    assert!(
        output.status.success(),
        "{}\n{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    let json: serde_json::Value = serde_json::from_slice(&std::fs::read(&report).unwrap()).unwrap();
    assert_eq!(
        json["mailboxes"][0]["copied_messages"].as_u64(),
        Some(total as u64),
        "after {kills} kills"
    );

    let there = dest_count();
    let want: BTreeMap<String, Vec<[u8; 32]>> = folders
        .iter()
        .map(|(name, messages)| {
            let mut d: Vec<[u8; 32]> = messages
                .iter()
                .map(|m| imap_account::sha256(&m.body))
                .collect();
            d.sort();
            (name.to_string(), d)
        })
        .collect();
    let got = digests(&there);
    for (name, want) in &want {
        let got = got.get(name).cloned().unwrap_or_default();
        let missing = want.iter().filter(|d| !got.contains(d)).count();
        assert_eq!(
            (got.len(), missing),
            (want.len(), 0),
            "{name}: {} at the destination for {} at the source, {missing} missing, after {kills} kills",
            got.len(),
            want.len()
        );
        assert_eq!(&got, want, "{name}");
    }
    assert_eq!(got.len(), want.len(), "folders: {:?}", got.keys());
}
