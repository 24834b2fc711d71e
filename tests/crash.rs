//! Checkpoints you can trust (issue 15): `cutover migrate --state` killed with SIGKILL at seeded
//! random moments, again and again, against two Dovecots, then a clean run, then `cutover
//! verify` must find the destination equal to the source through the current folder map:
//! nothing missing, nothing twice.
//!
//! What makes it harder than `resume.rs`: several folders (a nested one, one with a space),
//! INTERNALDATEs shuffled against UID order, messages without Message-ID, Message-IDs shared by
//! different bodies, identical bodies, some `\Deleted` (left out); kill moments by time as well
//! as by messages arrived; random pacing (connections 1-4 per side, sometimes a byte rate); and
//! between some passes the destination re-provisioned (its mail directory removed: every folder
//! comes back empty with a new UIDVALIDITY) or the folder map changed (behind [`MAP_CHANGES`]).
//!
//! `CUTOVER_CRASH_KILLS` sets the number of kills (25 by default), `CUTOVER_CRASH_SEED` the seed
//! (random by default; printed at the start and in every failure).

use std::ffi::OsString;
use std::path::PathBuf;
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use cutover_harness::imap_account::{self, SeedMessage, Session};
use futures::TryStreamExt;
use serde_json::Value;

use crate::cli::run_with_timeout;
use crate::pair::Pair;

const PASSWORD: &str = "Cr4sh-Pw";
const ADMIN_PASSWORD: &str = "Adm1n-Cr4sh";
const USER: &str = "cal";
/// Kills in CI.
const KILLS: usize = 25;
/// Change the folder map between some passes (with `--remap copy`). Off until `cutover migrate`
/// takes `--remap`; the map is then chosen once per seed and kept.
const MAP_CHANGES: bool = false;
/// Messages in the corpus.
const MESSAGES: usize = 1400;
/// The longest a kill waits for its moment by messages arrived (a paced run may be slow).
const ARRIVAL_WAIT: Duration = Duration::from_secs(6);

/// splitmix64: small, seeded, the same sequence on every machine.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }

    fn between(&mut self, low: u64, high: u64) -> u64 {
        low + self.below(high - low + 1)
    }

    fn one_in(&mut self, n: u64) -> bool {
        self.below(n) == 0
    }
}

/// The source mailbox, and how many of its messages the default filter keeps.
struct Corpus {
    folders: Vec<(&'static str, Vec<SeedMessage>)>,
    kept: u64,
    deleted: u64,
}

fn corpus(rng: &mut Rng) -> Corpus {
    let names = [
        "INBOX",
        "Sent",
        "Important Mail",
        "Spam",
        "Projects/2024/Q1",
    ];
    let mut folders: Vec<(&'static str, Vec<SeedMessage>)> =
        names.iter().map(|n| (*n, Vec::new())).collect();
    // Dates: a seeded permutation of minutes, so UID order says nothing about date order.
    let mut minutes: Vec<u64> = (0..MESSAGES as u64).collect();
    for i in (1..minutes.len()).rev() {
        let j = rng.below(i as u64 + 1) as usize;
        minutes.swap(i, j);
    }
    let base = chrono::DateTime::parse_from_rfc3339("2023-01-02T07:00:00+01:00").unwrap();
    let (mut kept, mut deleted) = (0, 0);
    let mut bodies: Vec<Vec<u8>> = Vec::new();
    for (i, minute) in minutes.iter().enumerate() {
        let folder = match rng.below(100) {
            0..=39 => 0,
            40..=59 => 1,
            60..=74 => 2,
            75..=87 => 3,
            _ => 4,
        };
        let size = match rng.below(100) {
            0..=69 => rng.between(200, 4_000),
            70..=95 => rng.between(8_000, 40_000),
            _ => rng.between(60_000, 120_000),
        } as usize;
        let body = match rng.below(100) {
            // An identical copy of an earlier message (same folder or not).
            0..=1 if !bodies.is_empty() => bodies[rng.below(bodies.len() as u64) as usize].clone(),
            roll => {
                let id = match roll {
                    // No Message-ID at all.
                    2..=9 => String::new(),
                    // The Message-ID of an earlier message, with another body.
                    10..=13 if i > 0 => {
                        format!("Message-ID: <c{}@crash.test>\r\n", rng.below(i as u64))
                    }
                    _ => format!("Message-ID: <c{i}@crash.test>\r\n"),
                };
                let mut b = format!(
                    "From: s{i}@example.org\r\nTo: {USER}@example.net\r\nSubject: crash {i}\r\n\
                     Date: Mon, 2 Jan 2023 07:00:00 +0100\r\n{id}\r\n"
                )
                .into_bytes();
                let fill = b'a' + (i % 26) as u8;
                while b.len() < size {
                    let line = (b.len() / 76) % 1000;
                    b.extend(std::iter::repeat_n(fill, 70));
                    b.extend_from_slice(format!(" {line:03}\r\n").as_bytes());
                }
                b
            }
        };
        bodies.push(body.clone());
        let mut flags: Vec<String> = Vec::new();
        for (flag, one_in) in [
            ("\\Seen", 2),
            ("\\Flagged", 9),
            ("\\Answered", 7),
            ("$Label1", 11),
        ] {
            if rng.one_in(one_in) {
                flags.push(flag.into());
            }
        }
        if rng.one_in(40) {
            flags.push("\\Deleted".into());
            deleted += 1;
        } else {
            kept += 1;
        }
        folders[folder].1.push(SeedMessage {
            flags,
            internaldate: base + chrono::Duration::minutes(*minute as i64),
            body,
        });
    }
    Corpus {
        folders,
        kept,
        deleted,
    }
}

/// The folder maps a pass may run with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Map {
    /// No `--folder-map`: every folder keeps its name.
    Names,
    /// Foldermap.xml: Spam to the Junk folder, `Important Mail` under INBOX.
    Xml,
    /// The TOML form: Spam to `Junk`, `Important Mail` to `INBOX/Important Mail`.
    Toml,
}

const XML_MAP: &str = r#"<?xml version="1.0" encoding="utf-8"?>
<FolderMap>
  <Folder path="Spam"><Property SpecialFolder="Junk E-mail" /></Folder>
  <Folder path="Important Mail"><Property Name="Inbox/Important" /></Folder>
</FolderMap>
"#;

const TOML_MAP: &str = r#"[exact]
"Spam" = "Junk"
"Important Mail" = "INBOX/Important Mail"
"#;

fn map_args(pair: &Pair, map: Map) -> Vec<OsString> {
    let file = |name: &str, text: &str| -> PathBuf {
        let path = pair.path(name);
        std::fs::write(&path, text).unwrap();
        path
    };
    match map {
        Map::Names => vec![],
        Map::Xml => vec!["--folder-map".into(), file("Foldermap.xml", XML_MAP).into()],
        Map::Toml => vec!["--folder-map".into(), file("map.toml", TOML_MAP).into()],
    }
}

/// Creates `folder` and APPENDs `messages` to it in MULTIAPPEND commands of 100 with LITERAL+
/// (one round trip and one sync each, not one per message), UIDs in slice order.
async fn multiappend(s: &mut Session, folder: &str, messages: &[SeedMessage]) {
    imap_account::seed(s, folder, &[]).await.unwrap();
    for chunk in messages.chunks(100) {
        let mut command = format!("APPEND \"{folder}\"");
        for m in chunk {
            let body = std::str::from_utf8(&m.body).expect("an ASCII corpus");
            command.push_str(&format!(
                " ({}) \"{}\" {{{}+}}\r\n{body}",
                m.flags.join(" "),
                imap_account::imap_date(&m.internaldate),
                m.body.len()
            ));
        }
        s.run_command_and_check_ok(&command).await.unwrap();
    }
    s.logout().await.ok();
}

/// Messages in every folder of the destination (LIST, then STATUS each), through `watcher`.
fn dest_total(pair: &Pair, watcher: &mut Session) -> u64 {
    let d = watcher;
    pair.runtime.block_on(async {
        let names: Vec<_> = d
            .list(Some(""), Some("*"))
            .await
            .unwrap()
            .try_collect()
            .await
            .unwrap();
        let mut n = 0;
        for name in &names {
            if let Ok(status) = d.status(name.name(), "(MESSAGES)").await {
                n += u64::from(status.exists);
            }
        }
        n
    })
}

/// When a pass is killed.
#[derive(Debug, Clone, Copy)]
enum Moment {
    /// This long after it started.
    After(Duration),
    /// Once the destination holds this many messages (or after [`ARRIVAL_WAIT`]).
    Arrived(u64),
}

/// The end of one killed or finished pass's wait: `true` if it ended by itself.
fn wait_for(pair: &Pair, watcher: &mut Session, child: &mut Child, moment: Moment) -> bool {
    let started = Instant::now();
    loop {
        if child.try_wait().unwrap().is_some() {
            return true;
        }
        let due = match moment {
            Moment::After(d) => started.elapsed() >= d,
            Moment::Arrived(n) => {
                started.elapsed() >= ARRIVAL_WAIT || dest_total(pair, watcher) >= n
            }
        };
        if due {
            return false;
        }
        std::thread::sleep(Duration::from_millis(match moment {
            Moment::After(_) => 2,
            Moment::Arrived(_) => 20,
        }));
    }
}

fn log_tail(path: &std::path::Path) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(30)..].join("\n")
}

/// For each message missing or twice, what is special about it in the corpus: how many source
/// messages share its Message-ID, and how many its exact body.
fn diagnosis(report: &Value, corpus: &Corpus) -> String {
    let mut ids: std::collections::HashMap<String, usize> = Default::default();
    let mut bodies: std::collections::HashMap<&[u8], usize> = Default::default();
    for m in corpus.folders.iter().flat_map(|(_, m)| m) {
        let (id, _) = cutover_engine::verify::message_label::message_label(&m.body);
        *ids.entry(id.unwrap_or_default()).or_default() += 1;
        *bodies.entry(&m.body).or_default() += 1;
    }
    let mut out = String::from("what the messages missing or twice have in common:\n");
    let folders = report["mailboxes"][0]["folders"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    for f in &folders {
        for kind in ["missing", "duplicates"] {
            for m in f[kind].as_array().into_iter().flatten() {
                let id = m["message_id"].as_str().unwrap_or("");
                out.push_str(&format!(
                    "  {kind} in {}: {} UID {} {} ({} bytes): Message-ID shared by {} source \
                     messages\n",
                    f["dest"],
                    m["folder"],
                    m["uid"],
                    if id.is_empty() {
                        "without Message-ID"
                    } else {
                        id
                    },
                    m["size"],
                    if id.is_empty() {
                        0
                    } else {
                        ids.get(id).copied().unwrap_or(0)
                    },
                ));
            }
        }
    }
    let same_body = bodies.values().filter(|n| **n > 1).count();
    out.push_str(&format!(
        "  ({same_body} bodies occur more than once in the corpus)\n"
    ));
    out
}

/// Sums the lengths of the list `kind` over every folder of a verify report.
fn count(report: &Value, kind: &str) -> usize {
    report["mailboxes"]
        .as_array()
        .into_iter()
        .flatten()
        .flat_map(|m| m["folders"].as_array().into_iter().flatten())
        .map(|f| f[kind].as_array().map_or(0, Vec::len))
        .sum()
}

#[test]
fn killed_at_random_moments_resumed_remapped_and_reset_the_destination_equals_the_source() {
    let seed: u64 = match std::env::var("CUTOVER_CRASH_SEED") {
        Ok(s) => s.trim().parse().expect("CUTOVER_CRASH_SEED is a number"),
        Err(_) => std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos() as u64,
    };
    let target: usize = std::env::var("CUTOVER_CRASH_KILLS")
        .ok()
        .map(|s| s.trim().parse().expect("CUTOVER_CRASH_KILLS is a number"))
        .unwrap_or(KILLS);
    let ctx = format!("CUTOVER_CRASH_SEED={seed} CUTOVER_CRASH_KILLS={target}");
    eprintln!("crash harness: {ctx}");
    let mut rng = Rng(seed);
    let trace = std::env::var("CUTOVER_CRASH_TRACE").is_ok();
    let begun = Instant::now();

    let pair = Pair::start(&[USER], PASSWORD, ADMIN_PASSWORD, |_| {});
    let corpus = corpus(&mut rng);
    let sessions: Vec<Session> = corpus
        .folders
        .iter()
        .map(|_| pair.source_session(USER))
        .collect();
    pair.runtime.block_on(
        futures::future::join_all(sessions.into_iter().zip(&corpus.folders).map(
            |(mut s, (name, messages))| async move { multiappend(&mut s, name, messages).await },
        )),
    );
    if trace {
        eprintln!("seeded {} messages in {:?}", MESSAGES, begun.elapsed());
    }
    let state = pair.path("state.sqlite");
    let report = pair.path("report.json");
    let maps = [Map::Names, Map::Xml, Map::Toml];
    let mut map = maps[rng.below(3) as usize];
    let migrate = |map: Map, remap: bool| {
        let mut c = pair.migrate();
        c.arg("--state")
            .arg(&state)
            .arg("--report")
            .arg(&report)
            .arg("--quiet")
            .args(map_args(&pair, map));
        if remap {
            c.args(["--remap", "copy"]);
        }
        c
    };

    let (mut kills, mut passes, mut resumes, mut resets, mut map_changes, mut finished) =
        (0usize, 0usize, 0usize, 0usize, 0usize, 0usize);
    let mut last_map: Option<Map> = None;
    let mut killed_last = false;
    let mut force_reset = false;
    // A time-based moment falls within about one whole pass: measured when one finishes.
    let mut pass_time = Duration::from_millis(2500);
    let mut watcher = pair.dest_session(USER);
    while kills < target {
        assert!(
            passes < 4 * target + 20,
            "{ctx}: {passes} passes, only {kills} killed: most finished before their moment"
        );
        if passes > 0 && (force_reset || rng.one_in(8)) {
            // Re-provisioned: no session open (the killed run's are gone), the mail dir removed.
            // The killed run's server processes finish what they had read, then see its
            // connections closed; the mail dir goes once they are gone.
            pair.runtime.block_on(watcher.logout()).ok();
            std::thread::sleep(Duration::from_millis(1000));
            let dir = pair.dest.mail_dir(USER);
            if dir.exists() {
                std::fs::remove_dir_all(&dir).unwrap();
            }
            watcher = pair.dest_session(USER);
            resets += 1;
            force_reset = false;
            if trace {
                eprintln!("destination reset after {passes} passes");
            }
        }
        if MAP_CHANGES && passes > 0 && rng.one_in(5) {
            let others: Vec<Map> = maps.iter().copied().filter(|m| *m != map).collect();
            map = others[rng.below(others.len() as u64) as usize];
            map_changes += 1;
        }
        let remap = MAP_CHANGES && last_map.is_some_and(|m| m != map);
        let mut command = migrate(map, remap);
        command.args([
            "--source-connections",
            &rng.between(1, 4).to_string(),
            "--dest-connections",
            &rng.between(1, 4).to_string(),
        ]);
        if rng.one_in(3) {
            let rate = rng.between(300_000, 4_000_000);
            command.args(["--bytes-per-sec-per-mailbox", &rate.to_string()]);
        }
        let moment = if rng.one_in(2) {
            let most = pass_time.as_millis() as u64 * 6 / 5;
            Moment::After(Duration::from_millis(rng.between(10, most.max(300))))
        } else {
            Moment::Arrived(dest_total(&pair, &mut watcher) + 1 + rng.below(corpus.kept / 2))
        };
        let log = pair.path(&format!("pass-{passes}.log"));
        let started = Instant::now();
        let mut child = command
            .stdin(Stdio::null())
            .stdout(std::fs::File::create(&log).unwrap())
            .stderr(std::fs::File::create(pair.path(&format!("pass-{passes}.err"))).unwrap())
            .spawn()
            .unwrap();
        passes += 1;
        resumes += usize::from(killed_last);
        last_map = Some(map);
        if wait_for(&pair, &mut watcher, &mut child, moment) {
            let status = child.wait().unwrap();
            assert!(
                status.success(),
                "{ctx}: pass {} (after {kills} kills, {resets} resets, map {map:?}) ended by \
                 itself with {status}:\n{}\n{}",
                passes - 1,
                log_tail(&log),
                log_tail(&pair.path(&format!("pass-{}.err", passes - 1)))
            );
            pass_time = started.elapsed();
            finished += 1;
            killed_last = false;
            // Nothing left to copy: the next pass starts from an empty destination.
            force_reset = true;
            continue;
        }
        std::thread::sleep(Duration::from_millis(rng.below(25)));
        child.kill().unwrap(); // SIGKILL
        child.wait().unwrap();
        kills += 1;
        if trace {
            eprintln!(
                "kill {kills} ({moment:?}, map {map:?}) after {:?}: {} at the destination",
                started.elapsed(),
                dest_total(&pair, &mut watcher)
            );
        }
        killed_last = true;
    }

    // The last run completes, with the map of the last pass.
    let mut last = migrate(map, false);
    let output = run_with_timeout(&mut last, Duration::from_secs(300));
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    let figures = |report: Option<&Value>| {
        let n = |kind| report.map_or(0, |r| count(r, kind));
        format!(
            "{ctx}: {kills} kills, {resumes} resumes, {resets} destination resets, {map_changes} \
             map changes, {finished} passes finished before their moment; at the end {} \
             duplicates, {} losses, {} extra, {} flag and {} date differences",
            n("duplicates"),
            n("missing"),
            n("extra"),
            n("flag_differences"),
            n("date_differences")
        )
    };
    assert!(
        output.status.success(),
        "{}: the last run failed:\n{stdout}\n{stderr}",
        figures(None)
    );
    let run: Value = serde_json::from_slice(&std::fs::read(&report).unwrap()).unwrap();
    let mailbox = &run["mailboxes"][0];
    assert_eq!(
        mailbox["failures"],
        serde_json::json!([]),
        "{ctx}: {mailbox:#}"
    );
    assert_eq!(
        mailbox["filtered"]["deleted"].as_u64(),
        Some(corpus.deleted),
        "{ctx}: the \\Deleted messages are filtered, not copied: {mailbox:#}"
    );
    assert_eq!(
        mailbox["copied_messages"].as_u64(),
        Some(corpus.kept),
        "{ctx}: the last run counts every message kept, copied by any run: {mailbox:#}"
    );

    // And the destination is the source, through the map of the last run.
    let verify_report = pair.path("verify.json");
    let mut verify = pair.verify();
    verify
        .args(map_args(&pair, map))
        .arg("--report")
        .arg(&verify_report)
        .arg("--no-state");
    let output = run_with_timeout(&mut verify, Duration::from_secs(300));
    let found: Option<Value> = std::fs::read(&verify_report)
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok());
    let figures = figures(found.as_ref());
    eprintln!("crash harness: {figures}");
    let text = String::from_utf8_lossy(&output.stdout);
    assert_eq!(
        output.status.code(),
        Some(0),
        "{figures}\n{text}\n{}\n{}",
        String::from_utf8_lossy(&output.stderr),
        found
            .as_ref()
            .map(|r| diagnosis(r, &corpus))
            .unwrap_or_default()
    );
    let found = found.expect("the verify report");
    let expected: u64 = found["mailboxes"][0]["folders"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["expected"].as_u64().unwrap())
        .sum();
    assert_eq!(expected, corpus.kept, "{figures}: what verify expected");
    assert_eq!(kills, target, "{figures}");
}
