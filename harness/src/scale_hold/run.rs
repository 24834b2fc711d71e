//! Runs a hold: starts the mock server as a child process (`cutover-harness serve`), opens every
//! planned connection through the engine's `connect` (TCP bound to the user's egress address,
//! TLS, LOGIN, CAPABILITY), holds them idle, then NOOPs, logs out and closes each; repeats for
//! the cycles asked; and reads both processes' memory and CPU from `/proc` at each phase.
//!
//! The server runs in its own process so the client's memory is the client's alone, and because
//! each side needs one descriptor per connection: 16,000 connections are 32,000 descriptors in
//! one process, past the hard open-files limit of many machines, while each side alone fits.

use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, ensure, Context};
use cutover_engine::copier::{Account, CompressMode};
use cutover_engine::imap::{
    connect, ConnectOptions, Connection, LoginGuard, LoginLimit, TlsClient, TlsConfig,
};
use cutover_engine::{Auth, Secret};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, BufReader};
use tokio::process::{Child, ChildStdout};
use tokio::sync::Semaphore;
use tokio::task::JoinSet;

use super::plan::{ports_in_range, HoldLimits, HoldPlan};
use super::report::{HoldCycle, HoldReport, IpHold, Phases};
use crate::mock_server::{AuditBudget, BudgetAudit};
use crate::open_files::raise_to_hard;
use crate::process_cpu::process_cpu;
use crate::process_memory::{open_descriptors, rss};

/// Descriptors a process needs besides its connections: runtime, files, standard streams.
const SPARE_DESCRIPTORS: u64 = 256;
/// Local ports assumed when `ip_local_port_range` cannot be read (Linux's default range).
const DEFAULT_PORTS: u64 = 28_232;
/// Most distinct failure messages kept per cycle.
const KEPT_ERRORS: usize = 5;
/// How long the server may take to see every connection of a cycle closed.
const DRAIN: Duration = Duration::from_secs(60);

/// What to hold, and how.
#[derive(Clone, Debug)]
pub struct HoldOptions {
    /// The `cutover-harness` binary, whose `serve` command runs the mock server.
    pub harness: PathBuf,
    /// A directory for the server's CA and password files.
    pub work_dir: PathBuf,
    /// Connections to hold at once.
    pub connections: usize,
    /// Connections of each user (the seed's 8).
    pub per_user: usize,
    /// Egress addresses; users are spread over them in static segments.
    pub ips: Vec<IpAddr>,
    /// Open–hold–close cycles (2 or more show whether memory comes back).
    pub cycles: usize,
    /// How long every connection stays open and idle in each cycle.
    pub hold: Duration,
    /// Connections being opened at once (TCP + TLS + login in flight).
    pub open_at_once: usize,
    /// Limit on each network step of a connection.
    pub timeout: Duration,
    /// Turn COMPRESS=DEFLATE on for every connection (it costs per-connection compressor
    /// state and buffers; the engine turns it on by itself only on slow, distant links).
    pub compress: bool,
}

/// Holds `options.connections` connections as described in the module doc and reports.
pub async fn run_hold(options: &HoldOptions) -> anyhow::Result<HoldReport> {
    ensure!(options.cycles >= 1, "--cycles must be at least 1");
    ensure!(
        options.open_at_once >= 1,
        "--open-at-once must be at least 1"
    );
    let ports_per_ip = std::fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range")
        .ok()
        .and_then(|t| ports_in_range(&t))
        .unwrap_or(DEFAULT_PORTS);
    let plan = HoldPlan::new(
        options.connections,
        options.per_user,
        options.ips.clone(),
        HoldLimits {
            users_per_ip: AuditBudget::default().users_per_ip as usize,
            ports_per_ip,
        },
    )?;
    let open_files = raise_to_hard().context("raising the open-files limit")?;
    let needed = plan.connections() as u64 + SPARE_DESCRIPTORS;
    ensure!(
        open_files.now >= needed,
        "holding {} connections needs about {needed} open files in each process, and the hard \
         limit is {}: raise it (ulimit -Hn, systemd LimitNOFILE=) or hold fewer",
        plan.connections(),
        open_files.hard
    );
    std::fs::create_dir_all(&options.work_dir)
        .with_context(|| format!("creating {}", options.work_dir.display()))?;

    let mut server = ServerProcess::start(&options.harness, &options.work_dir, plan.users).await?;
    let result = hold_cycles(&plan, options, &server).await;
    let audit = server.stop().await;
    let (cycles, client_baseline, server_baseline) = result?;
    let audit = audit?;

    let per_ip = plan
        .ips
        .iter()
        .enumerate()
        .map(|(i, &ip)| IpHold {
            ip,
            users: plan.users_on(i) as u64,
            connections: (plan.users_on(i) * plan.per_user) as u64,
            audited_connections: audit.peak_connections_per_ip.get(&ip).copied().unwrap_or(0),
            audited_users: audit.peak_users_per_ip.get(&ip).copied().unwrap_or(0),
        })
        .collect();
    Ok(HoldReport {
        connections: plan.connections() as u64,
        users: plan.users as u64,
        per_user: plan.per_user as u64,
        compress: options.compress,
        open_files,
        client_baseline_bytes: client_baseline,
        server_baseline_bytes: server_baseline,
        cycles,
        per_ip,
        peak_connections_per_user: audit.max_connections_per_user(),
        users_on_several_ips: audit
            .users_on_several_ips()
            .into_iter()
            .map(String::from)
            .collect(),
        budget_violations: audit.violations(&AuditBudget {
            connections_per_user: plan.per_user as u64,
            ..AuditBudget::default()
        }),
    })
}

/// The cycles, with the client's and the server's resident bytes before the first.
async fn hold_cycles(
    plan: &HoldPlan,
    options: &HoldOptions,
    server: &ServerProcess,
) -> anyhow::Result<(Vec<HoldCycle>, u64, u64)> {
    let endpoint = server
        .url
        .parse()
        .with_context(|| format!("the server's URL {}", server.url))?;
    let accounts: Arc<Vec<Account>> = Arc::new(
        server
            .users
            .iter()
            .map(|user| Account {
                endpoint: Clone::clone(&endpoint),
                auth: Auth::Login {
                    user: user.clone(),
                    password: Secret::new(server.password.clone()),
                },
            })
            .collect(),
    );
    ensure!(
        accounts.len() == plan.users,
        "the server made {} accounts, not {}",
        accounts.len(),
        plan.users
    );
    let tls = TlsClient::new(&TlsConfig {
        ca_pem: Some(server.ca_pem.clone()),
        danger_accept_invalid_certs: false,
    })?;
    let logins = LoginGuard::new(LoginLimit::default(), None);
    let per_ip: Arc<Vec<ConnectOptions>> = Arc::new(
        plan.ips
            .iter()
            .map(|&ip| ConnectOptions {
                tls: tls.clone(),
                compress: if options.compress {
                    CompressMode::On
                } else {
                    CompressMode::Off
                },
                compress_min_rtt: Duration::from_millis(5),
                timeout: options.timeout,
                logins: logins.clone(),
                local_address: Some(ip),
                // The plan places users itself (static segments) and never exceeds the caps:
                // the hold measures connections, not the scheduler.
                budget: None,
            })
            .collect(),
    );
    let client_baseline = rss(None)?.now;
    let server_baseline = rss(Some(server.pid))?.now;
    let mut cycles = Vec::with_capacity(options.cycles);
    for _ in 0..options.cycles {
        cycles.push(one_cycle(plan, options, server.pid, &accounts, &per_ip).await?);
    }
    Ok((cycles, client_baseline, server_baseline))
}

/// Opens, holds and closes every connection once.
async fn one_cycle(
    plan: &HoldPlan,
    options: &HoldOptions,
    server_pid: u32,
    accounts: &Arc<Vec<Account>>,
    per_ip: &Arc<Vec<ConnectOptions>>,
) -> anyhow::Result<HoldCycle> {
    let server_fds = open_descriptors(Some(server_pid))?;
    let (client_before, server_before) = (rss(None)?.now, rss(Some(server_pid))?.now);
    let (client_cpu, server_cpu) = (own_cpu(), process_cpu(server_pid));
    let gate = Arc::new(Semaphore::new(options.open_at_once));

    let started = Instant::now();
    let mut opening = JoinSet::new();
    for (user, _) in plan.opening_order() {
        let ip = plan.ip_index(user);
        let (accounts, per_ip, gate) = (accounts.clone(), per_ip.clone(), gate.clone());
        opening.spawn(async move {
            let _turn = gate
                .acquire_owned()
                .await
                .expect("the gate is never closed");
            connect(&accounts[user], &per_ip[ip]).await
        });
    }
    let mut held = Vec::with_capacity(plan.connections());
    let mut errors = Vec::new();
    let mut failed = 0u64;
    while let Some(joined) = opening.join_next().await {
        let error = match joined {
            Ok(Ok(connection)) => {
                held.push(connection);
                continue;
            }
            Ok(Err(e)) => e.to_string(),
            Err(e) => format!("connection task: {e}"),
        };
        failed += 1;
        if errors.len() < KEPT_ERRORS && !errors.contains(&error) {
            errors.push(error);
        }
    }
    let open_s = started.elapsed().as_secs_f64();
    let established = held.len() as u64;
    let compressed = held.iter().filter(|c| c.compressed).count() as u64;

    tokio::time::sleep(options.hold).await;
    let (client_held, server_held) = (rss(None)?.now, rss(Some(server_pid))?.now);

    let started = Instant::now();
    let answered = close_all(held, &gate, options.timeout).await;
    let close_s = started.elapsed().as_secs_f64();
    let server_drained = wait_for_descriptors(server_pid, server_fds).await;
    let (client_after, server_after) = (rss(None)?.now, rss(Some(server_pid))?.now);
    Ok(HoldCycle {
        established,
        failed,
        compressed,
        errors,
        open_s,
        answered_after_hold: answered,
        close_s,
        server_drained,
        client_rss: Phases {
            before: client_before,
            held: client_held,
            after: client_after,
        },
        server_rss: Phases {
            before: server_before,
            held: server_held,
            after: server_after,
        },
        client_cpu_s: (own_cpu() - client_cpu).as_secs_f64(),
        server_cpu_s: process_cpu(server_pid)
            .saturating_sub(server_cpu)
            .as_secs_f64(),
    })
}

/// NOOPs, logs out and drops every connection, `gate` permits at a time; how many answered
/// the NOOP.
async fn close_all(held: Vec<Connection>, gate: &Arc<Semaphore>, timeout: Duration) -> u64 {
    let mut closing = JoinSet::new();
    for mut connection in held {
        let gate = gate.clone();
        closing.spawn(async move {
            let _turn = gate
                .acquire_owned()
                .await
                .expect("the gate is never closed");
            let answered = matches!(
                tokio::time::timeout(timeout, connection.session.noop()).await,
                Ok(Ok(()))
            );
            connection.logout(timeout).await;
            answered
        });
    }
    let mut answered = 0;
    while let Some(joined) = closing.join_next().await {
        answered += u64::from(joined.unwrap_or(false));
    }
    answered
}

/// Waits until process `pid` has at most `count` descriptors open (it saw its connections
/// close), up to [`DRAIN`]; whether it got there.
async fn wait_for_descriptors(pid: u32, count: usize) -> bool {
    let deadline = Instant::now() + DRAIN;
    loop {
        match open_descriptors(Some(pid)) {
            Ok(n) if n <= count => return true,
            Err(_) => return false,
            Ok(_) if Instant::now() >= deadline => return false,
            Ok(_) => tokio::time::sleep(Duration::from_millis(50)).await,
        }
    }
}

/// This process's CPU time, user and system.
fn own_cpu() -> Duration {
    use nix::sys::resource::{getrusage, UsageWho};
    match getrusage(UsageWho::RUSAGE_SELF) {
        Ok(usage) => {
            let d = |t: nix::sys::time::TimeVal| {
                Duration::from_secs(t.tv_sec().max(0) as u64)
                    + Duration::from_micros(t.tv_usec().max(0) as u64)
            };
            d(usage.user_time()) + d(usage.system_time())
        }
        Err(_) => Duration::ZERO,
    }
}

/// The mock server as a child process: `cutover-harness serve` on a free loopback port, with
/// one account per user, no mail, and a CA and a random password written to the work directory.
struct ServerProcess {
    child: Child,
    pid: u32,
    stdout: BufReader<ChildStdout>,
    /// `imaps://127.0.0.1:PORT`.
    url: String,
    users: Vec<String>,
    password: String,
    ca_pem: Vec<u8>,
    password_file: PathBuf,
}

impl ServerProcess {
    /// Starts the server and reads what it prints when ready.
    async fn start(harness: &Path, dir: &Path, users: usize) -> anyhow::Result<Self> {
        let ca_file = dir.join("mock-ca.pem");
        let password_file = dir.join("mock-password");
        // A fresh random password each run, never one left behind.
        match std::fs::remove_file(&password_file) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                return Err(e).with_context(|| format!("removing {}", password_file.display()))
            }
            _ => {}
        }
        let mut child = tokio::process::Command::new(harness)
            .args(["serve", "--listen", "127.0.0.1:0", "--messages", "0"])
            .args(["--users", &users.to_string()])
            .arg("--ca-out")
            .arg(&ca_file)
            .arg("--password-file")
            .arg(&password_file)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .with_context(|| format!("starting {} serve", harness.display()))?;
        let pid = child.id().context("the server exited at once")?;
        let mut stdout = BufReader::new(child.stdout.take().context("no stdout")?);
        let (mut url, mut names) = (None, None);
        let mut line = String::new();
        while url.is_none() || names.is_none() {
            line.clear();
            let read = tokio::time::timeout(Duration::from_secs(300), stdout.read_line(&mut line))
                .await
                .context("the mock server did not start within 300 s")??;
            if read == 0 {
                bail!("the mock server exited before serving (its errors are above)");
            }
            if let Some(rest) = line.strip_prefix("serving ") {
                url = rest.split_whitespace().next().map(String::from);
            } else if let Some(rest) = line.strip_prefix("accounts: ") {
                names = Some(parse_accounts(rest));
            }
        }
        let password = std::fs::read_to_string(&password_file)
            .with_context(|| format!("reading {}", password_file.display()))?
            .lines()
            .next()
            .unwrap_or_default()
            .to_string();
        let ca_pem =
            std::fs::read(&ca_file).with_context(|| format!("reading {}", ca_file.display()))?;
        Ok(ServerProcess {
            child,
            pid,
            stdout,
            url: url.unwrap_or_default(),
            users: names.unwrap_or_default(),
            password,
            ca_pem,
            password_file,
        })
    }

    /// Stops the server as Ctrl-C does and reads the budget audit it prints on the way out.
    async fn stop(&mut self) -> anyhow::Result<BudgetAudit> {
        let _ = std::fs::remove_file(&self.password_file);
        let pid = rustix::process::Pid::from_raw(self.pid as i32).context("server pid")?;
        rustix::process::kill_process(pid, rustix::process::Signal::INT)
            .context("stopping the mock server")?;
        let mut rest = String::new();
        tokio::time::timeout(
            Duration::from_secs(120),
            self.stdout.read_to_string(&mut rest),
        )
        .await
        .context("the mock server did not stop within 120 s")??;
        let status = self.child.wait().await?;
        ensure!(status.success(), "the mock server failed: {status}");
        let json = rest
            .lines()
            .find_map(|l| l.strip_prefix("budget audit: "))
            .context("the mock server printed no budget audit")?;
        serde_json::from_str(json).context("reading the mock server's budget audit")
    }
}

/// The account names of `serve`'s `accounts: a, b, c (N messages each, ...)` line.
fn parse_accounts(rest: &str) -> Vec<String> {
    let list = rest.split(" (").next().unwrap_or("");
    list.split(", ")
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(String::from)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_account_line_of_serve_parses() {
        let line = "user01@example.com, user02@example.com (0 messages each, 0.0 MB in all), \
                    password in /tmp/x/mock-password\n";
        assert_eq!(
            parse_accounts(line),
            vec!["user01@example.com", "user02@example.com"]
        );
    }
}
