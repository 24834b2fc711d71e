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
//! (a fixed one by default, so CI runs the same history; `random` for a new one; printed at the
//! start and in every failure).

use std::ffi::OsString;
use std::path::PathBuf;
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use cutover_harness::imap_account::Session;
use futures::TryStreamExt;
use serde_json::Value;

use crate::cli::run_with_timeout;
use crate::pair::Pair;

mod corpus;

use corpus::{corpus, diagnosis, multiappend, Rng, MESSAGES, USER};

const PASSWORD: &str = "Cr4sh-Pw";
const ADMIN_PASSWORD: &str = "Adm1n-Cr4sh";
/// Kills in CI.
const KILLS: usize = 25;
/// Change the folder map between some passes (with `--remap copy`); off, the map is chosen once
/// per seed and kept.
const MAP_CHANGES: bool = true;
/// The seed when `CUTOVER_CRASH_SEED` is not set (`random` picks one, printed).
const SEED: u64 = 20_261_207;
/// The longest a kill waits for its moment by messages arrived (a paced run may be slow).
const ARRIVAL_WAIT: Duration = Duration::from_secs(6);

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

/// The warnings and errors of the passes before `pass` (the last 40), and the destination
/// server's errors: what led to a pass that failed.
fn earlier_warnings(pair: &Pair, pass: usize) -> String {
    let mut lines: Vec<String> = Vec::new();
    for p in 0..pass {
        let text = std::fs::read_to_string(pair.path(&format!("pass-{p}.err"))).unwrap_or_default();
        lines.extend(
            text.lines()
                .filter(|l| l.contains("WARN") || l.contains("ERROR"))
                .map(|l| format!("pass {p}: {l}")),
        );
    }
    let dest_log = pair.dest.log();
    lines.extend(
        dest_log
            .lines()
            .filter(|l| l.contains("Error") || l.contains("Panic") || l.contains("Fatal"))
            .map(|l| format!("dest dovecot: {l}")),
    );
    let from = lines.len().saturating_sub(40);
    format!(
        "earlier warnings and server errors:\n{}",
        lines[from..].join("\n")
    )
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
    let seed: u64 = match std::env::var("CUTOVER_CRASH_SEED")
        .as_deref()
        .map(str::trim)
    {
        Ok("random") => std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos() as u64,
        Ok(s) => s
            .parse()
            .expect("CUTOVER_CRASH_SEED is a number or `random`"),
        Err(_) => SEED,
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
            // A login is counted as failed before it is made and un-counted by a success: two
            // passes in a row killed in their first login would stop the mailbox for 15
            // minutes, as they should with a real server's lockout. The test server has none.
            .args(["--max-failed-logins", "100000"])
            .args(map_args(&pair, map));
        if remap {
            c.args(["--remap", "copy"]);
        }
        c
    };

    let (mut kills, mut passes, mut resumes, mut resets, mut map_changes, mut finished) =
        (0usize, 0usize, 0usize, 0usize, 0usize, 0usize);
    // The map of the last pass that ran to its end: a pass killed after a map change may have
    // died before it moved its records (or while it waited for a dead run's APPENDs to land),
    // so `--remap copy` goes on being passed until one has run to its end.
    let mut settled_map: Option<Map> = None;
    let mut used_since_reset = vec![map];
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
            used_since_reset = vec![map];
            if trace {
                eprintln!("destination reset after {passes} passes");
            }
        }
        if MAP_CHANGES && passes > 0 && rng.one_in(5) {
            // Only to a map not used since the last reset: going back would send mail to a
            // folder that still holds the copies of the earlier map, which no record names.
            let fresh: Vec<Map> = maps
                .iter()
                .copied()
                .filter(|m| !used_since_reset.contains(m))
                .collect();
            if !fresh.is_empty() {
                map = fresh[rng.below(fresh.len() as u64) as usize];
                used_since_reset.push(map);
                map_changes += 1;
                // Records of the old map may exist from now on until a pass with this one has
                // run to its end, even if this map ran to its end before.
                settled_map = None;
            }
        }
        let remap = MAP_CHANGES && settled_map != Some(map);
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
        if wait_for(&pair, &mut watcher, &mut child, moment) {
            let status = child.wait().unwrap();
            assert!(
                status.success(),
                "{ctx}: pass {} (after {kills} kills, {resets} resets, map {map:?}) ended by \
                 itself with {status}:\n{}\n{}\n{}",
                passes - 1,
                log_tail(&log),
                log_tail(&pair.path(&format!("pass-{}.err", passes - 1))),
                earlier_warnings(&pair, passes - 1)
            );
            pass_time = started.elapsed();
            finished += 1;
            settled_map = Some(map);
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
    let mut last = migrate(map, MAP_CHANGES && settled_map != Some(map));
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
