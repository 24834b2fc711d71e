//! `cutover-harness serve`: the mock IMAP server on its own, filled with a generated corpus,
//! shaped and faulty as asked, until Ctrl-C; then it prints its counters and budget audit.
//!
//! `cutover-harness hold`: the scale test: holds thousands of idle TLS connections to a `serve`
//! child, users spread over several egress addresses, and reports memory per connection.
//!
//! Passwords never go on the command line: every account's password is the first line of
//! `--password-file`, created with a random password (mode 0600) when it does not exist.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{bail, Context};
use clap::{Parser, Subcommand, ValueEnum};
use cutover_harness::certs::TestCa;
use cutover_harness::corpus::{generate, CorpusSpec};
use cutover_harness::mock_server::{
    AuditBudget, Bandwidth, Fault, FaultPlan, FaultRule, MockProfile, MockServer, MockStore,
    MockTls, Scope, Shaping,
};
use cutover_harness::open_files::raise_to_hard;
use cutover_harness::scale_hold::{parse_ips, run_hold, HoldOptions};

/// Mock IMAP servers for testing and measuring IMAP clients.
#[derive(Debug, Parser)]
#[command(name = "cutover-harness", version)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Serve a generated corpus over IMAP until Ctrl-C.
    Serve(ServeArgs),
    /// Hold many idle TLS connections to a mock server (run as a child process) from several
    /// egress addresses, in open-hold-close cycles; report memory per connection and the
    /// server's audit per address. Exits non-zero unless every connection was held and audited.
    Hold(HoldArgs),
}

#[derive(Debug, clap::Args)]
struct HoldArgs {
    /// Connections to hold at once.
    #[arg(long, default_value_t = 16_000)]
    connections: usize,
    /// Connections of each user (the seed's 8).
    #[arg(long, default_value_t = 8)]
    per_user: usize,
    /// Egress addresses: a list and/or IPv4 ranges (127.0.0.x work on Linux loopback as is).
    #[arg(long, default_value = "127.0.0.2-127.0.0.6")]
    ips: String,
    /// Open-hold-close cycles; two or more show whether memory comes back after closing.
    #[arg(long, default_value_t = 3)]
    cycles: usize,
    /// Seconds every connection stays open and idle in each cycle.
    #[arg(long, value_name = "SECONDS", default_value_t = 10)]
    hold_secs: u64,
    /// Connections being opened (TCP, TLS, login) at once.
    #[arg(long, value_name = "N", default_value_t = 64)]
    open_at_once: usize,
    /// Limit on each network step of a connection, in seconds.
    #[arg(long, value_name = "SECONDS", default_value_t = 60)]
    timeout_secs: u64,
    /// Also write the report as JSON here.
    #[arg(long, value_name = "FILE")]
    json: Option<PathBuf>,
    /// Turn COMPRESS=DEFLATE on for every connection, to measure what its state costs.
    #[arg(long)]
    compress: bool,
}

#[derive(Debug, clap::Args)]
struct ServeArgs {
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1:1993")]
    listen: SocketAddr,
    /// Transport security.
    #[arg(long, value_enum, default_value_t = Tls::Implicit)]
    tls: Tls,
    /// The server to imitate: dovecot, exchange-online or gmail.
    #[arg(long, default_value = "dovecot")]
    profile: MockProfile,
    /// Where to write the throwaway CA's certificate (PEM) that clients must trust.
    #[arg(long, value_name = "FILE", default_value = "mock-ca.pem")]
    ca_out: PathBuf,
    /// Holds the password of every account (first line); created with a random one if absent.
    #[arg(long, value_name = "FILE", default_value = "mock-password")]
    password_file: PathBuf,
    /// Accounts user01, user02, ... to generate.
    #[arg(long, default_value_t = 1)]
    users: usize,
    /// Messages per account.
    #[arg(long, default_value_t = 200)]
    messages: usize,
    /// Seed of the generated mail.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Also an admin that may log in as any user (`user*admin` or SASL PLAIN authzid).
    #[arg(long, value_name = "NAME")]
    admin: Option<String>,
    /// Delay added to every answer, in ms.
    #[arg(long, value_name = "MS", default_value_t = 0)]
    latency_ms: u64,
    /// Link cap in Mbit/s each way, shared by all connections.
    #[arg(long, value_name = "MBIT")]
    bandwidth_mbit: Option<f64>,
    /// Apply --bandwidth-mbit to each connection instead of the whole server.
    #[arg(long)]
    bandwidth_per_connection: bool,
    /// Server time per command, in ms.
    #[arg(long, value_name = "MS", default_value_t = 0)]
    think_ms: u64,
    /// Refuse a user's commands beyond this many per second, worded as the profile words it.
    #[arg(long, value_name = "N")]
    throttle_per_second: Option<u32>,
    /// The backoff a throttling refusal suggests, in ms.
    #[arg(long, value_name = "MS", default_value_t = 1000)]
    throttle_backoff_ms: u64,
    /// Quota per user, in MB (10^6 bytes).
    #[arg(long, value_name = "MB")]
    quota_mb: Option<u64>,
    /// Logged-in connections per user at once (the profile's default otherwise).
    #[arg(long, value_name = "N")]
    max_connections_per_user: Option<u32>,
    /// Connections per client IP at once.
    #[arg(long, value_name = "N")]
    max_connections_per_ip: Option<u32>,
    /// A fault: KIND[:PROBABILITY[:AFTER_MIN-AFTER_MAX]], KIND one of drop, drop-after-bytes=N,
    /// drop-mid-literal, bye, stall=MS, garbage, short-writes. Repeatable.
    #[arg(long = "fault", value_name = "SPEC")]
    faults: Vec<String>,
    /// Seed that decides which connections the faults strike.
    #[arg(long, default_value_t = 1)]
    fault_seed: u64,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum Tls {
    Implicit,
    Starttls,
    Plain,
}

fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(r) => r,
        Err(e) => {
            eprintln!("cutover-harness: cannot start the runtime: {e}");
            return std::process::ExitCode::FAILURE;
        }
    };
    let outcome = match cli.command {
        Command::Serve(args) => runtime.block_on(serve(args)).map(|()| true),
        Command::Hold(args) => runtime.block_on(hold(args)),
    };
    match outcome {
        Ok(true) => std::process::ExitCode::SUCCESS,
        Ok(false) => std::process::ExitCode::FAILURE,
        Err(e) => {
            eprintln!("cutover-harness: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

async fn hold(args: HoldArgs) -> anyhow::Result<bool> {
    let work = tempfile::tempdir().context("a scratch directory")?;
    let options = HoldOptions {
        harness: std::env::current_exe().context("locating cutover-harness")?,
        work_dir: work.path().to_path_buf(),
        connections: args.connections,
        per_user: args.per_user,
        ips: parse_ips(&args.ips)?,
        cycles: args.cycles,
        hold: Duration::from_secs(args.hold_secs),
        open_at_once: args.open_at_once,
        timeout: Duration::from_secs(args.timeout_secs),
        compress: args.compress,
    };
    let report = run_hold(&options).await?;
    print!("{}", report.render());
    if let Some(path) = &args.json {
        std::fs::write(path, serde_json::to_vec_pretty(&report)?)
            .with_context(|| format!("--json {}: cannot write", path.display()))?;
    }
    Ok(report.all_held())
}

async fn serve(args: ServeArgs) -> anyhow::Result<()> {
    // One descriptor per connection: thousands of clients need more than the usual 1,024.
    raise_to_hard().context("raising the open-files limit")?;
    let mut config = args.profile.config();
    config.bind = args.listen;
    config.tls = match args.tls {
        Tls::Implicit => MockTls::Implicit,
        Tls::Starttls => MockTls::StartTls,
        Tls::Plain => MockTls::Plain,
    };
    config.shaping = Shaping {
        latency: Duration::from_millis(args.latency_ms),
        bandwidth: args.bandwidth_mbit.map(|mbit| Bandwidth {
            scope: if args.bandwidth_per_connection {
                Scope::Connection
            } else {
                Scope::Server
            },
            ..Bandwidth::mbit_per_server(mbit)
        }),
        think_time: Duration::from_millis(args.think_ms),
        throttle: args.throttle_per_second.map(|n| {
            args.profile
                .throttle(n, Duration::from_millis(args.throttle_backoff_ms))
        }),
    };
    config.limits.quota_bytes = args.quota_mb.map(|mb| mb * 1_000_000);
    if args.max_connections_per_user.is_some() {
        config.limits.max_connections_per_user = args.max_connections_per_user;
    }
    config.limits.max_connections_per_ip = args.max_connections_per_ip;
    config.faults = FaultPlan {
        seed: args.fault_seed,
        rules: args
            .faults
            .iter()
            .map(|spec| parse_fault(spec))
            .collect::<anyhow::Result<_>>()?,
    };
    let ca = TestCa::new()?;
    config.identity = Some(ca.server_cert(&["localhost", "127.0.0.1"])?);
    if config.tls != MockTls::Plain {
        std::fs::write(&args.ca_out, ca.ca_pem())
            .with_context(|| format!("--ca-out {}: cannot write", args.ca_out.display()))?;
    }
    let password = password(&args.password_file)?;

    let spec = CorpusSpec {
        seed: args.seed,
        mailboxes: args.users,
        messages_per_mailbox: args.messages,
        ..CorpusSpec::default()
    };
    let corpus = tokio::task::spawn_blocking(move || generate(&spec)).await?;
    let store = MockStore::new('/');
    if let Some(admin) = &args.admin {
        store.add_admin(admin, &password);
    }
    for mailbox in &corpus.mailboxes {
        store.add_user(&mailbox.user, &password);
        store.fill_from_corpus(mailbox, None);
    }
    let server = MockServer::start(config, store).await?;
    println!("serving {} ({} profile)", server.url(), args.profile);
    if server.config().tls != MockTls::Plain {
        println!("trust the CA in {}", args.ca_out.display());
    }
    let users: Vec<&str> = corpus.mailboxes.iter().map(|m| m.user.as_str()).collect();
    println!(
        "accounts: {} ({} messages each, {:.1} MB in all), password in {}",
        users.join(", "),
        args.messages,
        corpus.total_bytes() as f64 / 1e6,
        args.password_file.display()
    );
    drop(corpus);
    tokio::signal::ctrl_c()
        .await
        .context("waiting for Ctrl-C")?;
    let stats = server.stats();
    println!(
        "\nconnections {} (peak {}), appended {}, throttled {}, failed logins {}, wire in {} B, out {} B",
        stats.connections_total,
        stats.peak_concurrent_connections,
        stats.appended_messages,
        stats.throttled_commands,
        stats.logins_failed,
        stats.wire_bytes_in,
        stats.wire_bytes_out
    );
    println!("budget audit: {}", serde_json::to_string(&server.audit())?);
    for v in server.budget_violations(&AuditBudget::default()) {
        println!("budget violation: {v}");
    }
    Ok(())
}

/// The password in `path`, or a new random one written there (owner-only) if it is absent.
fn password(path: &Path) -> anyhow::Result<String> {
    match std::fs::read_to_string(path) {
        Ok(text) => {
            let line = text.lines().next().unwrap_or("").trim_end();
            if line.is_empty() {
                bail!(
                    "--password-file {}: the first line is empty",
                    path.display()
                );
            }
            Ok(line.to_string())
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            use rand::distr::{Alphanumeric, SampleString};
            use std::io::Write;
            use std::os::unix::fs::OpenOptionsExt;
            let new = Alphanumeric.sample_string(&mut rand::rng(), 20);
            let mut file = std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(0o600)
                .open(path)
                .with_context(|| format!("--password-file {}: cannot create", path.display()))?;
            writeln!(file, "{new}")?;
            Ok(new)
        }
        Err(e) => {
            Err(e).with_context(|| format!("--password-file {}: cannot read", path.display()))
        }
    }
}

/// `KIND[:PROBABILITY[:MIN-MAX]]`.
fn parse_fault(spec: &str) -> anyhow::Result<FaultRule> {
    let bad = |why: &str| anyhow::anyhow!("--fault {spec:?}: {why}");
    let mut parts = spec.split(':');
    let kind = parts.next().unwrap_or("");
    let (name, value) = kind.split_once('=').unwrap_or((kind, ""));
    let number = |what: &str| -> anyhow::Result<u64> {
        value
            .parse()
            .map_err(|_| bad(&format!("{name} needs ={what}, a whole number")))
    };
    let fault = match name {
        "drop" => Fault::Drop,
        "drop-after-bytes" => Fault::DropAfterBytes(number("BYTES")?),
        "drop-mid-literal" => Fault::DropMidLiteral,
        "bye" => Fault::Bye,
        "stall" => Fault::Stall(Duration::from_millis(number("MS")?)),
        "garbage" => Fault::Garbage,
        "short-writes" => Fault::ShortWrites,
        _ => return Err(bad("unknown kind (drop, drop-after-bytes=N, drop-mid-literal, bye, stall=MS, garbage, short-writes)")),
    };
    let probability = match parts.next() {
        None => 1.0,
        Some(p) => p
            .parse::<f64>()
            .ok()
            .filter(|p| (0.0..=1.0).contains(p))
            .ok_or_else(|| bad("the probability must be a number from 0 to 1"))?,
    };
    let after_commands = match parts.next() {
        None => (0, 0),
        Some(range) => {
            let (lo, hi) = range.split_once('-').unwrap_or((range, range));
            match (lo.parse(), hi.parse()) {
                (Ok(lo), Ok(hi)) if lo <= hi => (lo, hi),
                _ => return Err(bad("the command range must be MIN-MAX, MIN <= MAX")),
            }
        }
    };
    if parts.next().is_some() {
        return Err(bad("too many ':' parts"));
    }
    Ok(FaultRule {
        fault,
        probability,
        after_commands,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fault_specs_parse_and_bad_ones_say_why() {
        let r = parse_fault("bye:0.25:3-9").unwrap();
        assert_eq!(r.fault, Fault::Bye);
        assert_eq!((r.probability, r.after_commands), (0.25, (3, 9)));
        let r = parse_fault("stall=500").unwrap();
        assert_eq!(r.fault, Fault::Stall(Duration::from_millis(500)));
        assert_eq!((r.probability, r.after_commands), (1.0, (0, 0)));
        assert_eq!(
            parse_fault("drop-after-bytes=100:1:5")
                .unwrap()
                .after_commands,
            (5, 5)
        );
        for (spec, why) in [
            ("explode", "unknown kind"),
            ("stall", "needs =MS"),
            ("bye:2", "from 0 to 1"),
            ("bye:1:9-3", "MIN <= MAX"),
            ("bye:1:1:1", "too many"),
        ] {
            let e = parse_fault(spec).unwrap_err().to_string();
            assert!(e.contains(why) && e.contains(spec), "{spec}: {e}");
        }
    }
}
