//! `cutover bench --smoke`, as CI runs it: every scenario runs against the shaped mocks, moves
//! every message, stays within the connection budget, and writes its results in three forms;
//! `--compare` reads them back.

use std::process::Command;
use std::time::Duration;

use cutover_harness::scenarios::{catalogue, ScenarioResult};

use crate::cli::run_with_timeout;

fn cutover() -> Command {
    Command::new(env!("CARGO_BIN_EXE_cutover"))
}

#[test]
fn the_smoke_bench_runs_every_scenario_and_writes_its_results() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("bench");
    let run = run_with_timeout(
        cutover().args(["bench", "--smoke", "--out"]).arg(&out),
        Duration::from_secs(600),
    );
    let stdout = String::from_utf8_lossy(&run.stdout);
    assert!(
        run.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&run.stderr)
    );
    let results: Vec<ScenarioResult> =
        serde_json::from_slice(&std::fs::read(out.join("results.json")).unwrap()).unwrap();
    let names: Vec<&str> = results.iter().map(|r| r.scenario.as_str()).collect();
    let expected: Vec<&str> = catalogue(true).iter().map(|s| s.name).collect();
    assert_eq!(names, expected);
    for r in &results {
        assert!(
            r.verified && r.failed_messages == 0,
            "{}: {r:?}",
            r.scenario
        );
        assert!(r.messages > 0 && r.msgs_per_s > 0.0 && r.cpu_s_per_1k_msgs > 0.0);
        // Down from the source and up to the destination: at least twice the mail.
        assert!(
            r.wire_per_mail_byte >= 2.0,
            "{}: {}",
            r.scenario,
            r.wire_per_mail_byte
        );
        assert!(r.budget_violations.is_empty(), "{:?}", r.budget_violations);
        assert!(r.peak_connections_per_user <= 8);
        assert!(
            stdout.contains(&r.scenario),
            "the table names {}",
            r.scenario
        );
    }
    let many = results
        .iter()
        .find(|r| r.scenario == "mailboxes-200")
        .unwrap();
    assert_eq!(many.peak_users_per_ip, many.mailboxes, "all at once");
    // The issue 6 batch, smoke size: every mailbox at once through the budget scheduler, users
    // spread over the five egress addresses (no address holds them all), one connection per
    // side. Both many-mailbox scenarios measure the client with one mailbox too, and report
    // memory per active mailbox above it.
    let fleet = results
        .iter()
        .find(|r| r.scenario == "mailboxes-10k-5ips")
        .unwrap();
    assert_eq!(fleet.egress_ips, 5);
    assert!(
        fleet.peak_active_mailboxes > 0 && fleet.peak_active_mailboxes <= fleet.mailboxes,
        "{fleet:?}"
    );
    assert!(
        fleet.peak_users_per_ip < fleet.peak_active_mailboxes,
        "spread over the addresses: {fleet:?}"
    );
    assert!(fleet.peak_connections <= 2 * fleet.mailboxes, "{fleet:?}");
    for r in [many, fleet] {
        let (baseline, per_mailbox) = (
            r.baseline_rss_mib.unwrap(),
            r.memory_per_active_mailbox_kib.unwrap(),
        );
        assert!(baseline > 0.0 && baseline <= r.peak_rss_mib, "{r:?}");
        assert!(per_mailbox > 0.0, "{r:?}");
    }
    let csv = std::fs::read_to_string(out.join("results.csv")).unwrap();
    assert_eq!(csv.lines().count(), results.len() + 1);
    let samples: Vec<serde_json::Value> =
        serde_json::from_slice(&std::fs::read(out.join("velocity-samples.json")).unwrap()).unwrap();
    assert_eq!(samples.len(), results.len());

    // A second run of one scenario, compared with the first.
    let again = run_with_timeout(
        cutover()
            .args(["bench", "--smoke", "--scenario", "loopback", "--out"])
            .arg(dir.path().join("again"))
            .arg("--compare")
            .arg(out.join("results.json")),
        Duration::from_secs(120),
    );
    let text = String::from_utf8_lossy(&again.stdout);
    assert!(again.status.success(), "{text}");
    assert!(text.contains("msgs/s ×") && text.lines().any(|l| l.starts_with("loopback ")));
}

#[test]
fn an_unknown_scenario_is_bad_input() {
    let run = run_with_timeout(
        cutover().args(["bench", "--scenario", "rtt-5ms"]),
        Duration::from_secs(30),
    );
    assert_eq!(run.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert!(
        stderr.contains("--scenario rtt-5ms: no such scenario"),
        "{stderr}"
    );
}
