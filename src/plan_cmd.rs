//! `cutover plan`: how long a migration takes and how to batch it, from an inventory, the link
//! and the velocity model (harness::planner). Prints a table; `--json` writes the plan,
//! `--chart-dir` the timeline and what-if charts. Reads files, never touches a server.

use crate::settings::BadInput;
use anyhow::Context;
use cutover_harness::planner::units::{
    format_bandwidth, format_bytes, format_duration, parse_bandwidth, parse_duration,
};
use cutover_harness::planner::{
    plan, timeline_chart, what_if, what_if_chart, Budget, Inventory, Link, Plan, VelocityModel,
    VelocitySample, WhatIf,
};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// Batches listed in the table; the rest are in `--json`.
const BATCHES_SHOWN: usize = 20;
/// Egress IP counts of the what-if chart.
const WHAT_IF_IPS: [u32; 8] = [1, 2, 3, 4, 5, 6, 7, 8];
/// Bandwidths of the what-if chart, as multiples of `--bandwidth`.
const WHAT_IF_BANDWIDTHS: [f64; 5] = [0.25, 0.5, 1.0, 2.0, 4.0];

/// Flags of `cutover plan`.
#[derive(Debug, clap::Args)]
pub struct PlanArgs {
    /// The mailboxes to move: `cutover assess --json` output, or a CSV with SourceIdentity,
    /// Messages and Bytes columns (Bytes may be 4GB, 512MiB, ...).
    #[arg(long, value_name = "assessment.json|inventory.csv")]
    pub inventory: PathBuf,

    /// Usable link speed shared by all egress IPs: 200Mbit, 1Gbit, 25MB/s.
    #[arg(long, value_name = "SPEED")]
    pub bandwidth: String,

    /// Round-trip time to the far server: 40ms.
    #[arg(long, value_name = "TIME")]
    pub rtt: String,

    /// Public IPs the copier's traffic leaves from.
    #[arg(long, value_name = "N", default_value_t = 1)]
    pub egress_ips: u32,

    /// The migration window to fit in: 48h, 3d.
    #[arg(long, value_name = "TIME")]
    pub window: Option<String>,

    /// The destination's behaviour: dovecot, exchange-online, gmail, or one in --velocity.
    /// Default: the profile the model was fitted on.
    #[arg(long, value_name = "NAME")]
    pub profile: Option<String>,

    /// Measured velocity samples (a JSON array, as the velocity bench writes them) to fit the
    /// model on, instead of the built-in defaults.
    #[arg(long, value_name = "FILE.json")]
    pub velocity: Option<PathBuf>,

    /// Mailboxes per batch (the seeds recommend 150).
    #[arg(long, value_name = "N", default_value_t = 150)]
    pub batch_size: u32,

    /// Connections per user, source and destination together (guide 3.3.4.11: 8).
    #[arg(long, value_name = "N", default_value_t = 8)]
    pub connections_per_user: u32,

    /// Concurrent users per egress IP (guide 3.3.4.11: 2,000).
    #[arg(long, value_name = "N", default_value_t = 2000)]
    pub users_per_ip: u32,

    /// Mailboxes moved at the same time across the run (as `migrate --parallel`); default: as
    /// many as the IPs' user budget and the link allow.
    #[arg(long, value_name = "N")]
    pub parallel: Option<u32>,

    /// Write the plan, the what-if grid and the model as JSON to this file.
    #[arg(long, value_name = "FILE")]
    pub json: Option<PathBuf>,

    /// Write timeline.svg, timeline.png, what-if.svg and what-if.png into this directory.
    #[arg(long, value_name = "DIR")]
    pub chart_dir: Option<PathBuf>,
}

/// Runs `cutover plan`: prints the plan and writes what was asked. `Ok(true)` when done.
pub fn run(args: PlanArgs) -> anyhow::Result<bool> {
    let input = validate(&args)?;
    let model = load_model(args.velocity.as_deref())?;
    let profile_name = args
        .profile
        .clone()
        .unwrap_or_else(|| model.reference_profile.clone());
    let profile = model.profile(&profile_name).map_err(|e| BadInput {
        problems: vec![format!("--profile: {e}")],
    })?;
    let inventory = Inventory::load(&args.inventory).map_err(|e| BadInput {
        problems: vec![e.to_string()],
    })?;

    let planned = plan(
        &inventory,
        &input.link,
        &input.budget,
        &model,
        &profile,
        input.window,
    );
    let grid = (args.json.is_some() || args.chart_dir.is_some()).then(|| {
        let bandwidths: Vec<f64> = WHAT_IF_BANDWIDTHS
            .iter()
            .map(|m| m * input.link.bandwidth_bits_per_s)
            .collect();
        what_if(
            &inventory,
            &input.link,
            &input.budget,
            &model,
            &profile,
            &WHAT_IF_IPS,
            &bandwidths,
        )
    });

    let mut written = Vec::new();
    if let (Some(dir), Some(grid)) = (&args.chart_dir, &grid) {
        std::fs::create_dir_all(dir)
            .with_context(|| format!("{}: cannot create the chart directory", dir.display()))?;
        for extension in ["svg", "png"] {
            let path = dir.join(format!("timeline.{extension}"));
            timeline_chart(&planned, &path)?;
            written.push(path);
            let path = dir.join(format!("what-if.{extension}"));
            what_if_chart(grid, input.window, &path)?;
            written.push(path);
        }
    }
    if let Some(path) = &args.json {
        write_json(path, &planned, grid.as_ref(), &model)?;
        written.push(path.clone());
    }
    print!(
        "{}",
        render(&planned, &model, args.velocity.as_deref(), &written)
    );
    Ok(true)
}

/// The flags turned into the planner's types.
struct PlanInput {
    link: Link,
    budget: Budget,
    window: Option<Duration>,
}

/// Checks every flag and reports every problem at once.
fn validate(args: &PlanArgs) -> Result<PlanInput, BadInput> {
    let mut problems = Vec::new();
    let bandwidth = parse_bandwidth(&args.bandwidth)
        .map_err(|e| problems.push(format!("--bandwidth: {e}")))
        .unwrap_or(1.0);
    let rtt = parse_duration(&args.rtt)
        .map_err(|e| problems.push(format!("--rtt: {e}")))
        .unwrap_or_default();
    let window = match &args.window {
        Some(text) => match parse_duration(text) {
            Ok(w) if w.is_zero() => {
                problems.push(format!("--window {text:?}: must be more than zero"));
                None
            }
            Ok(w) => Some(w),
            Err(e) => {
                problems.push(format!("--window: {e}"));
                None
            }
        },
        None => None,
    };
    let positive = [
        ("--egress-ips", args.egress_ips),
        ("--batch-size", args.batch_size),
        ("--connections-per-user", args.connections_per_user),
        ("--users-per-ip", args.users_per_ip),
        ("--parallel", args.parallel.unwrap_or(1)),
    ];
    for (flag, value) in positive {
        if value == 0 {
            problems.push(format!("{flag} 0: must be at least 1"));
        }
    }
    if args.connections_per_user == 1 {
        problems.push(
            "--connections-per-user 1: a mailbox needs at least one connection on each side \
             (2)"
            .into(),
        );
    }
    if !problems.is_empty() {
        return Err(BadInput { problems });
    }
    Ok(PlanInput {
        link: Link {
            bandwidth_bits_per_s: bandwidth,
            rtt,
            egress_ips: args.egress_ips,
        },
        budget: Budget {
            connections_per_user: args.connections_per_user,
            users_per_ip: args.users_per_ip,
            batch_size: args.batch_size,
            max_concurrent_mailboxes: args.parallel,
        },
        window,
    })
}

/// The built-in model, or one fitted to `--velocity`.
fn load_model(path: Option<&Path>) -> anyhow::Result<VelocityModel> {
    let Some(path) = path else {
        return Ok(VelocityModel::builtin());
    };
    let bad = |problem: String| BadInput {
        problems: vec![format!("{}: {problem}", path.display())],
    };
    let text = std::fs::read_to_string(path).map_err(|e| bad(format!("cannot read: {e}")))?;
    let samples: Vec<VelocitySample> = serde_json::from_str(&text).map_err(|e| {
        bad(format!(
            "not a JSON array of velocity samples (line {}, column {}): {e}",
            e.line(),
            e.column()
        ))
    })?;
    Ok(VelocityModel::fit(&samples).map_err(|e| bad(e.to_string()))?)
}

fn write_json(
    path: &Path,
    planned: &Plan,
    grid: Option<&WhatIf>,
    model: &VelocityModel,
) -> anyhow::Result<()> {
    let document = serde_json::json!({
        "plan": planned,
        "what_if": grid,
        "model": model,
    });
    let text = serde_json::to_string_pretty(&document).context("cannot encode the plan")?;
    std::fs::write(path, text + "\n")
        .with_context(|| format!("{}: cannot write the plan", path.display()))
}

/// The human report: inputs, total, batches, IPs, bottleneck, window, files written.
fn render(
    planned: &Plan,
    model: &VelocityModel,
    velocity: Option<&Path>,
    written: &[PathBuf],
) -> String {
    let mut out = String::new();
    let link = &planned.link;
    let budget = &planned.budget;
    let _ = writeln!(
        out,
        "cutover plan: {} mailboxes, {} messages, {}, server profile {}",
        planned.mailboxes,
        planned.messages,
        format_bytes(planned.bytes as f64),
        planned.profile
    );
    let _ = writeln!(
        out,
        "link: {}, RTT {} ms, {} egress IP(s); budget: {} connections/user, {} users/IP, \
         batches of at most {}{}",
        format_bandwidth(link.bandwidth_bits_per_s),
        link.rtt.as_millis(),
        link.egress_ips,
        budget.connections_per_user,
        budget.users_per_ip,
        budget.batch_cap(),
        budget
            .max_concurrent_mailboxes
            .map_or_else(String::new, |m| format!(", {m} mailboxes at once"))
    );
    match velocity {
        Some(path) => {
            let _ = writeln!(
                out,
                "model: fitted to {} samples from {}",
                model.samples,
                path.display()
            );
        }
        None => {
            let _ = writeln!(
                out,
                "model: built-in defaults (fixtures/velocity/default-samples.json, hand-written \
                 from figures measured once); pass --velocity with the bench's samples"
            );
        }
    }
    for warning in &model.warnings {
        let _ = writeln!(out, "model warning: {warning}");
    }
    let _ = writeln!(out);
    let _ = writeln!(out, "total duration: {}", format_duration(planned.total));
    let _ = writeln!(out);

    let _ = writeln!(
        out,
        "{:>5}  {:>9}  {:>10}  {:>10}  {:>3}  {:>9}  {:>9}",
        "batch", "mailboxes", "messages", "size", "IP", "starts", "takes"
    );
    for batch in planned.batches.iter().take(BATCHES_SHOWN) {
        let _ = writeln!(
            out,
            "{:>5}  {:>9}  {:>10}  {:>10}  {:>3}  {:>9}  {:>9}",
            batch.number,
            batch.mailboxes.len(),
            batch.messages,
            format_bytes(batch.bytes as f64),
            batch.egress_ip,
            format_duration(batch.start),
            format_duration(batch.duration)
        );
    }
    if planned.batches.len() > BATCHES_SHOWN {
        let _ = writeln!(
            out,
            "  ... {} more batches (all of them in --json)",
            planned.batches.len() - BATCHES_SHOWN
        );
    }
    let _ = writeln!(out);
    let _ = writeln!(
        out,
        "{:>3}  {:>7}  {:>9}  {:>10}  {:>10}  {:>16}",
        "IP", "batches", "mailboxes", "size", "peak users", "peak connections"
    );
    for ip in &planned.ips {
        let _ = writeln!(
            out,
            "{:>3}  {:>7}  {:>9}  {:>10}  {:>10}  {:>16}",
            ip.egress_ip,
            ip.batches,
            ip.mailboxes,
            format_bytes(ip.bytes as f64),
            ip.peak_users,
            ip.peak_connections
        );
    }
    let _ = writeln!(out);
    let _ = writeln!(out, "bottleneck: {}", planned.bottleneck.name());
    let _ = writeln!(out, "  {}", planned.explanation);
    let shares: Vec<String> = planned
        .limit_shares
        .iter()
        .filter(|(_, share)| *share > 0.0)
        .map(|(limit, share)| format!("{} {:.0}%", limit.name(), share * 100.0))
        .collect();
    if !shares.is_empty() {
        let _ = writeln!(out, "  time held by each limit: {}", shares.join(", "));
    }
    if let Some(fit) = &planned.window {
        let window = format_duration(fit.window);
        if fit.fits {
            let _ = writeln!(out, "window {window}: fits");
        } else {
            let now = format!(
                "at {} with {} egress IP(s)",
                format_bandwidth(link.bandwidth_bits_per_s),
                link.egress_ips
            );
            let remedies: Vec<String> = [
                fit.ips_needed.map(|n| format!("{n} egress IPs")),
                fit.bandwidth_needed_bits_per_s.map(format_bandwidth),
            ]
            .into_iter()
            .flatten()
            .collect();
            let advice = if remedies.is_empty() {
                "neither more egress IPs (up to 64) nor more bandwidth (up to 100 Gbit/s) \
                 would make it fit; see the bottleneck"
                    .to_string()
            } else {
                format!("{} would make it fit", remedies.join(" or "))
            };
            let _ = writeln!(out, "window {window}: does NOT fit {now}; {advice}");
        }
    }
    for path in written {
        let _ = writeln!(out, "wrote {}", path.display());
    }
    out
}
