//! `cutover plan` end to end: the committed sample inventory gives a total duration, the JSON
//! plan and the four charts; bad input exits 2 naming the input.

use std::path::PathBuf;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

/// Runs `cutover plan ARGS`, panicking if it takes longer than a minute.
fn plan(args: &[&str]) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_cutover"))
        .arg("plan")
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("cutover binary starts");
    let started = Instant::now();
    while child.try_wait().expect("wait for cutover").is_none() {
        if started.elapsed() > Duration::from_secs(60) {
            let _ = child.kill();
            panic!("cutover plan did not exit within a minute");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    child.wait_with_output().expect("collect cutover's output")
}

fn sample_inventory() -> String {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("fixtures/inventory/sample.csv")
        .display()
        .to_string()
}

#[test]
fn plan_on_the_sample_inventory_prints_a_duration_and_writes_charts_and_json() {
    let dir = tempfile::tempdir().unwrap();
    let charts = dir.path().join("charts");
    let json = dir.path().join("plan.json");
    let output = plan(&[
        "--inventory",
        &sample_inventory(),
        "--bandwidth",
        "200Mbit",
        "--rtt",
        "40ms",
        "--egress-ips",
        "2",
        "--window",
        "48h",
        "--chart-dir",
        charts.to_str().unwrap(),
        "--json",
        json.to_str().unwrap(),
    ]);
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "stdout:\n{stdout}\nstderr:\n{stderr}"
    );
    assert!(stdout.contains("12 mailboxes"), "{stdout}");
    assert!(stdout.contains("total duration: "), "{stdout}");
    assert!(stdout.contains("bottleneck: "), "{stdout}");
    assert!(stdout.contains("window 2d 0h: fits"), "{stdout}");

    for name in ["timeline.png", "what-if.png"] {
        let png = std::fs::read(charts.join(name)).unwrap();
        assert_eq!(&png[..8], b"\x89PNG\r\n\x1a\n", "{name} is a PNG");
    }
    for name in ["timeline.svg", "what-if.svg"] {
        let svg = std::fs::read_to_string(charts.join(name)).unwrap();
        assert!(svg.contains("<svg"), "{name} is an SVG");
    }

    let document: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    let total = document["plan"]["total"].as_f64().unwrap();
    assert!(total > 0.0);
    let scheduled: usize = document["plan"]["batches"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| b["mailboxes"].as_array().unwrap().len())
        .sum();
    assert_eq!(scheduled, 12);
    assert_eq!(document["what_if"]["ips"].as_array().unwrap().len(), 8);
}

#[test]
fn plan_fits_measured_velocity_samples() {
    let dir = tempfile::tempdir().unwrap();
    let samples = dir.path().join("samples.json");
    let mut entries = Vec::new();
    for (rtt_ms, size) in [
        (1.0, 10_000.0),
        (20.0, 75_000.0),
        (60.0, 200_000.0),
        (5.0, 50_000.0),
    ] {
        let seconds = 0.002 + size * 1e-8 + 0.01 * rtt_ms / 1000.0;
        let msgs = 4.0 / seconds;
        entries.push(serde_json::json!({
            "profile": "mock", "rtt_ms": rtt_ms, "bandwidth_mbit": null,
            "mean_message_bytes": size, "mailboxes": 1, "connections_per_mailbox": 4,
            "msgs_per_s": msgs, "mb_per_s": msgs * size / 1e6,
        }));
    }
    std::fs::write(&samples, serde_json::to_string(&entries).unwrap()).unwrap();
    let output = plan(&[
        "--inventory",
        &sample_inventory(),
        "--bandwidth",
        "10Gbit",
        "--rtt",
        "40ms",
        "--velocity",
        samples.to_str().unwrap(),
    ]);
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(stdout.contains("server profile mock"), "{stdout}");
    assert!(stdout.contains("fitted to 4 samples"), "{stdout}");
}

#[test]
fn bad_input_exits_2_naming_the_input() {
    let output = plan(&[
        "--inventory",
        &sample_inventory(),
        "--bandwidth",
        "200",
        "--rtt",
        "40 parsecs",
    ]);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("--bandwidth: bandwidth \"200\""),
        "{stderr}"
    );
    assert!(
        stderr.contains("--rtt: duration \"40 parsecs\""),
        "{stderr}"
    );

    let dir = tempfile::tempdir().unwrap();
    let csv = dir.path().join("inventory.csv");
    std::fs::write(
        &csv,
        "SourceIdentity,Messages,Bytes\nann@a.com,10,1GB\nbob@a.com,ten,1GB\n",
    )
    .unwrap();
    let output = plan(&[
        "--inventory",
        csv.to_str().unwrap(),
        "--bandwidth",
        "200Mbit",
        "--rtt",
        "40ms",
    ]);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("inventory.csv: line 3, column Messages"),
        "{stderr}"
    );

    let output = plan(&[
        "--inventory",
        &sample_inventory(),
        "--bandwidth",
        "200Mbit",
        "--rtt",
        "40ms",
        "--profile",
        "lotus-notes",
    ]);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("unknown server profile \"lotus-notes\""),
        "{stderr}"
    );
}
