//! `cutover bench`: the velocity benchmark. Runs named scenarios (see
//! `cutover_harness::scenarios`) with this very binary as the measured client, prints a table
//! and writes `results.json`, `results.csv` and `velocity-samples.json` (the capacity
//! planner's input). `--compare` prints ratios against an earlier `results.json`.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context;
use cutover_harness::scenarios::{
    catalogue, compare, render_csv, render_table, run_scenario, BenchOptions, ScenarioResult,
};

use crate::settings::BadInput;

/// Flags of `cutover bench`.
#[derive(Debug, Clone, clap::Args)]
pub struct BenchArgs {
    /// Run only these scenarios (repeatable); all by default. `--list` names them.
    #[arg(long = "scenario", value_name = "NAME")]
    pub scenarios: Vec<String>,

    /// Every scenario shrunk to seconds: checks that they all work (CI runs this).
    #[arg(long)]
    pub smoke: bool,

    /// List the scenarios and exit.
    #[arg(long)]
    pub list: bool,

    /// Directory for results.json, results.csv, velocity-samples.json and each scenario's
    /// files.
    #[arg(long, value_name = "DIR", default_value = "target/bench")]
    pub out: PathBuf,

    /// An earlier results.json: print this run's ratios against it.
    #[arg(long, value_name = "BASELINE.json")]
    pub compare: Option<PathBuf>,

    /// Messages per mailbox in every chosen scenario, instead of the catalogue's.
    #[arg(long, value_name = "N")]
    pub messages: Option<usize>,

    /// Mailboxes in every chosen scenario, instead of the catalogue's (moved at once up to
    /// the scenario's parallelism).
    #[arg(long, value_name = "N")]
    pub mailboxes: Option<usize>,

    /// A scenario's client run longer than this many seconds fails.
    #[arg(long, value_name = "SECONDS", default_value_t = 900)]
    pub timeout: u64,
}

/// Runs the benchmark; `Ok(false)` when a scenario failed or did not move every message.
pub async fn run(args: BenchArgs) -> anyhow::Result<bool> {
    let all = catalogue(args.smoke);
    if args.list {
        for s in &all {
            println!("{:<16} {}", s.name, s.description);
        }
        return Ok(true);
    }
    let unknown: Vec<String> = args
        .scenarios
        .iter()
        .filter(|n| !all.iter().any(|s| s.name == n.as_str()))
        .map(|n| format!("--scenario {n}: no such scenario (see cutover bench --list)"))
        .collect();
    if !unknown.is_empty() {
        return Err(BadInput { problems: unknown }.into());
    }
    let baseline: Option<Vec<ScenarioResult>> = match &args.compare {
        Some(path) => {
            let data = std::fs::read(path)
                .with_context(|| format!("--compare {}: cannot read", path.display()))?;
            Some(serde_json::from_slice(&data).with_context(|| {
                format!(
                    "--compare {}: not a results.json of cutover bench",
                    path.display()
                )
            })?)
        }
        None => None,
    };
    if args.messages == Some(0) || args.mailboxes == Some(0) {
        let problems = vec!["--messages and --mailboxes must be at least 1".to_string()];
        return Err(BadInput { problems }.into());
    }
    let chosen: Vec<_> = all
        .into_iter()
        .filter(|s| args.scenarios.is_empty() || args.scenarios.iter().any(|n| n == s.name))
        .map(|mut s| {
            if let Some(n) = args.messages {
                s.corpus.messages_per_mailbox = n;
            }
            if let Some(n) = args.mailboxes {
                s.corpus.mailboxes = n;
                s.parallel = s.parallel.min(n);
            }
            s
        })
        .collect();
    std::fs::create_dir_all(&args.out)
        .with_context(|| format!("creating {}", args.out.display()))?;
    let options = BenchOptions {
        cutover: std::env::current_exe().context("locating the cutover binary")?,
        work_dir: args.out.clone(),
        timeout: Duration::from_secs(args.timeout),
    };

    let mut results = Vec::new();
    let mut all_good = true;
    for scenario in &chosen {
        eprintln!("bench: {} ({})", scenario.name, scenario.description);
        match run_scenario(scenario, &options).await {
            Ok(r) => {
                all_good &= r.verified && r.failed_messages == 0;
                results.push(r);
            }
            Err(e) => {
                all_good = false;
                eprintln!("bench: {} failed: {e:#}", scenario.name);
            }
        }
    }

    print!("{}", render_table(&results));
    let json = serde_json::to_vec_pretty(&results)?;
    let samples: Vec<_> = results
        .iter()
        .map(ScenarioResult::velocity_sample)
        .collect();
    let files = [
        ("results.json", json),
        ("results.csv", render_csv(&results)?.into_bytes()),
        (
            "velocity-samples.json",
            serde_json::to_vec_pretty(&samples)?,
        ),
    ];
    for (name, data) in files {
        let path = args.out.join(name);
        std::fs::write(&path, data).with_context(|| format!("writing {}", path.display()))?;
    }
    println!("results: {}", args.out.join("results.json").display());
    if let Some(baseline) = baseline {
        print!("\n{}", compare(&baseline, &results));
    }
    Ok(all_good)
}
