//! Checkpoints you can trust (issue 15): the cases that once lost or stuck mail, end to end
//! against two Dovecots.
//! - A mailbox imported once (UIDs in import order, INTERNALDATEs shuffled against them) killed
//!   with SIGKILL after a second or so, then run again: every later run completes and the
//!   destination holds exactly the source. (Two writers committing at once used to land their
//!   records out of order: "marked done without a recorded intent", for ever.)
//! - A folder map changed between passes, after the destination was re-provisioned: the
//!   messages whose folders moved are copied to their new folders, none counted as there when
//!   it is not.

use std::collections::BTreeMap;
use std::process::Stdio;
use std::time::Duration;

use cutover_harness::imap_account::{self, SeedMessage};

use crate::cli::run_with_timeout;
use crate::pair::Pair;
use crate::resume::digests;

const PASSWORD: &str = "Ch3ckp0int-Pw";
const ADMIN_PASSWORD: &str = "Adm1n-Ch3ckp0int";

/// A small seeded generator: the same mailbox on every run.
pub(crate) struct Lcg(pub(crate) u64);

impl Lcg {
    pub(crate) fn next(&mut self, below: u64) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (self.0 >> 33) % below
    }

    /// A uniform number in (0, 1).
    fn unit(&mut self) -> f64 {
        (self.next(1 << 30) as f64 + 0.5) / f64::from(1u32 << 30)
    }

    /// Log-normal around `median` (sigma 0.6), by Box-Muller.
    fn log_normal(&mut self, median: f64) -> usize {
        let (u, v) = (self.unit(), self.unit());
        let z = (-2.0 * u.ln()).sqrt() * (2.0 * std::f64::consts::PI * v).cos();
        (median * (0.6 * z).exp()).clamp(400.0, 400_000.0) as usize
    }
}

/// `counts` messages per folder, every Message-ID unique, sizes log-normal around 22 KB, and
/// INTERNALDATEs shuffled against the order the messages are appended in (so against UIDs).
fn imported_mailbox(
    folders: &[(&'static str, usize)],
    seed: u64,
) -> Vec<(&'static str, Vec<SeedMessage>)> {
    let mut rng = Lcg(seed);
    let base = chrono::DateTime::parse_from_rfc3339("2019-01-07T08:00:00+00:00").unwrap();
    let total: usize = folders.iter().map(|(_, n)| n).sum();
    let mut minutes: Vec<i64> = (0..total as i64).map(|i| i * 37).collect();
    for i in (1..minutes.len()).rev() {
        minutes.swap(i, rng.next(i as u64 + 1) as usize);
    }
    let mut next = 0;
    folders
        .iter()
        .map(|(name, n)| {
            let messages = (0..*n)
                .map(|_| {
                    let i = next;
                    next += 1;
                    let size = rng.log_normal(22_000.0);
                    let mut body = format!(
                        "From: sender{}@example.org\r\nTo: kim@example.com\r\nSubject: m{i}\r\n\
                         Message-ID: <m{i}.{seed}@imported.test>\r\n\r\n",
                        i % 97
                    )
                    .into_bytes();
                    let line = format!("line of message {i} in {name} ");
                    while body.len() < size {
                        body.extend_from_slice(line.as_bytes());
                        body.extend_from_slice(b"\r\n");
                    }
                    SeedMessage {
                        flags: match i % 3 {
                            0 => vec![],
                            _ => vec!["\\Seen".into()],
                        },
                        internaldate: base + chrono::Duration::minutes(minutes[i]),
                        body,
                    }
                })
                .collect();
            (*name, messages)
        })
        .collect()
}

/// What `folders` should look like at the destination, with `rename` applied to folder names.
fn expected(
    folders: &[(&'static str, Vec<SeedMessage>)],
    rename: impl Fn(&str) -> String,
) -> BTreeMap<String, Vec<[u8; 32]>> {
    let mut want: BTreeMap<String, Vec<[u8; 32]>> = BTreeMap::new();
    for (name, messages) in folders {
        want.entry(rename(name))
            .or_default()
            .extend(messages.iter().map(|m| imap_account::sha256(&m.body)));
    }
    want.values_mut().for_each(|v| v.sort());
    want
}

fn assert_destination(
    got: &BTreeMap<String, Vec<[u8; 32]>>,
    want: &BTreeMap<String, Vec<[u8; 32]>>,
    when: &str,
) {
    let all = got;
    for (name, want) in want {
        let got = all.get(name).cloned().unwrap_or_default();
        let missing = want.iter().filter(|d| !got.contains(d)).count();
        assert_eq!(
            (got.len(), missing),
            (want.len(), 0),
            "{when}: {name} holds {} for {} at the source, {missing} missing; folders: {:?}",
            got.len(),
            want.len(),
            all.keys().collect::<Vec<_>>()
        );
        assert_eq!(&got, want, "{when}: {name} (a duplicate)");
    }
    assert_eq!(
        all.keys().collect::<Vec<_>>(),
        want.keys().collect::<Vec<_>>(),
        "{when}: destination folders"
    );
}

fn report_json(path: &std::path::Path) -> serde_json::Value {
    serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap()
}

#[test]
fn a_run_killed_with_dates_shuffled_against_uids_resumes_to_completion() {
    let pair = Pair::start(&["kim"], PASSWORD, ADMIN_PASSWORD, |_| {});
    let folders = imported_mailbox(&[("INBOX", 3000), ("Sent", 500)], 15_001);
    for (name, messages) in &folders {
        pair.seed_source("kim", name, messages);
    }
    let total: usize = folders.iter().map(|(_, m)| m.len()).sum();
    let state = pair.path("state.sqlite");
    let report = pair.path("report.json");
    let command = |paced: bool| {
        let mut c = pair.migrate();
        c.arg("--state")
            .arg(&state)
            .arg("--report")
            .arg(&report)
            .arg("--quiet");
        if paced {
            c.args(["--bytes-per-sec-per-mailbox", "6000000"]);
        }
        c
    };
    // Killed three times in the middle of the copy (the bug's report: 1.2 to 1.5 s into a
    // release build's run), once paced as in that report.
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
    for (at, after_ms, paced) in [(150, 200, false), (900, 300, true), (1700, 100, false)] {
        let mut child = command(paced)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let started = std::time::Instant::now();
        while arrived() < at && child.try_wait().unwrap().is_none() {
            assert!(
                started.elapsed() < Duration::from_secs(120),
                "no progress to {at}"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        std::thread::sleep(Duration::from_millis(after_ms));
        let finished = child.try_wait().unwrap();
        child.kill().ok(); // SIGKILL
        child.wait().unwrap();
        assert!(finished.is_none(), "the run ended before the kill at {at}");
    }
    let output = run_with_timeout(&mut command(false), Duration::from_secs(300));
    assert!(
        output.status.success(),
        "the run after the kills: {}\n{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    let json = report_json(&report);
    assert_eq!(
        json["mailboxes"][0]["copied_messages"].as_u64(),
        Some(total as u64),
        "{json}"
    );
    let want = expected(&folders, str::to_string);
    assert_destination(&digests(&pair.dest_snapshot("kim")), &want, "after 3 kills");
}

/// A small mailbox for the folder-map case: INBOX, Spam and `Important Mail`.
fn remapped_mailbox() -> Vec<(&'static str, Vec<SeedMessage>)> {
    imported_mailbox(
        &[("INBOX", 96), ("Spam", 18), ("Important Mail", 24)],
        15_002,
    )
}

/// Pass 1 without a map; `reset` runs between the passes; pass 2 with the seed's Foldermap.xml
/// (Spam → Junk, `Important Mail` → `INBOX/Important`) and `extra` flags. Returns pass 2's
/// output and report, and the servers.
fn two_passes_with_a_new_map(
    reset: impl FnOnce(&Pair),
    extra: &[&str],
) -> (std::process::Output, serde_json::Value, Pair) {
    let pair = Pair::start(&["kim"], PASSWORD, ADMIN_PASSWORD, |_| {});
    for (name, messages) in &remapped_mailbox() {
        pair.seed_source("kim", name, messages);
    }
    let state = pair.path("state.sqlite");
    let report = pair.path("report.json");
    let map = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/fixtures/foldermaps/seed-example.xml"
    );
    let pass = |with_map: bool, extra: &[&str]| {
        let mut c = pair.migrate();
        c.arg("--state").arg(&state).arg("--report").arg(&report);
        if with_map {
            c.args(["--folder-map", map]);
        }
        c.args(extra);
        run_with_timeout(&mut c, Duration::from_secs(120))
    };
    let first = pass(false, &[]);
    assert!(
        first.status.success(),
        "{}",
        String::from_utf8_lossy(&first.stderr)
    );
    reset(&pair);
    let second = pass(true, extra);
    let json = report_json(&report);
    (second, json, pair)
}

/// Where the new map sends each folder: `Important Mail` under INBOX, and Spam to the
/// destination's junk folder: `Spam` itself where the destination has one by that name (a
/// junk folder's name the built-in map knows), else a new `Junk E-mail`.
fn renamed(junk: &'static str) -> impl Fn(&str) -> String {
    move |name| match name {
        "Spam" => junk.into(),
        "Important Mail" => "INBOX/Important".into(),
        other => other.into(),
    }
}

#[test]
fn a_folder_map_changed_after_the_destination_was_reprovisioned_copies_every_message() {
    let (output, json, pair) = two_passes_with_a_new_map(
        |pair| {
            // Re-provisioned, as an admin does after a pilot: the user's mail is gone, and its
            // folders come back with new UIDVALIDITYs.
            std::thread::sleep(Duration::from_millis(1100));
            std::fs::remove_dir_all(pair.dest.user_home("kim").join("mail")).unwrap();
        },
        &[],
    );
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let want = expected(&remapped_mailbox(), renamed("Junk E-mail"));
    assert_destination(&digests(&pair.dest_snapshot("kim")), &want, "pass 2");
    assert_eq!(
        json["mailboxes"][0]["copied_messages"].as_u64(),
        Some(138),
        "{json}"
    );
    // The 42 whose folders moved, and INBOX's 96 (its folder was recreated), copied again.
    let incremental = &json["mailboxes"][0]["incremental"];
    assert_eq!(incremental["moved_by_the_folder_map"], 42, "{json}");
    assert_eq!(incremental["lost_at_destination"], 96, "{json}");
}

#[test]
fn a_folder_map_changed_while_the_old_folders_still_hold_the_mail_is_refused_or_copied() {
    // Refused by default, naming the folders and the choice; nothing is copied.
    let (output, json, pair) = two_passes_with_a_new_map(|_| {}, &[]);
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    assert_eq!(output.status.code(), Some(1), "{text}");
    let error = json["mailboxes"][0]["outcome"]["reason"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    for needle in [
        "\"Important Mail\"",
        "\"INBOX/Important\"",
        "24",
        "--remap copy",
    ] {
        assert!(
            error.contains(needle),
            "{needle} not named: {error}\n{json}"
        );
    }
    let dest = digests(&pair.dest_snapshot("kim"));
    assert_destination(
        &dest,
        &expected(&remapped_mailbox(), str::to_string),
        "refused",
    );

    // --remap copy: copied to the new folders, the old ones keep their copies, and the report
    // says so.
    let (output, json, pair) = two_passes_with_a_new_map(|_| {}, &["--remap", "copy"]);
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    // Spam stays where it is (the destination's `Spam` is a junk folder by name); `Important
    // Mail` is copied under INBOX and its old folder keeps its copies.
    let mut want = expected(&remapped_mailbox(), renamed("Spam"));
    want.extend(expected(&remapped_mailbox()[2..], str::to_string));
    assert_destination(&digests(&pair.dest_snapshot("kim")), &want, "--remap copy");
    let warnings: Vec<&str> = json["mailboxes"][0]["warnings"]
        .as_array()
        .map(|w| w.iter().filter_map(|w| w.as_str()).collect())
        .unwrap_or_default();
    assert!(
        warnings
            .iter()
            .any(|w| w.contains("\"Important Mail\" still holds 24")
                && w.contains("\"INBOX/Important\"")),
        "{warnings:?}"
    );
}
