//! `dovecot-velocity`: how fast cutover copies a realistic corpus between two real Dovecot
//! servers, next to mbsync on the same corpus, in one run.
//!
//! One source Dovecot is seeded once; every scenario gets a fresh destination Dovecot, runs the
//! client as child processes (measured by `velocity::measure`), verifies the destination's
//! message count per folder (and, for cutover, its report), and stops the destination. The
//! slow-link scenarios put a `DelayProxy` in front of the destination. Results go to stdout as
//! a table and to `--out` as JSON and CSV. `scripts/bench-dovecot` installs what this needs.

use std::ffi::OsString;
use std::fs;
use std::net::{Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, ensure, Context};
use cutover_harness::certs::{ServerCert, TestCa};
use cutover_harness::corpus::{self, CorpusSpec};
use cutover_harness::delay_proxy::DelayProxy;
use cutover_harness::dovecot::{dovecot_binary, Dovecot, DovecotConfig};
use cutover_harness::velocity::mbsync_config::{self, MbsyncAccount, MbsyncJob};
use cutover_harness::velocity::measure::{self, MeasuredCommand, WRAPPER_ARG};
use cutover_harness::velocity::options::{Options, USAGE};
use cutover_harness::velocity::results::{self, names, ScenarioResult};
use cutover_harness::velocity::seed::{self, Account, FolderCounts};
use cutover_harness::velocity::verify;

/// Set by Ctrl-C; every long wait checks it, so children and servers are cleaned up.
static INTERRUPTED: AtomicBool = AtomicBool::new(false);
/// The destination's master user.
const ADMIN: &str = "admin";
const ADMIN_PASSWORD: &str = "velocity-master-pw";
/// How mbsync names the servers: isync 1.4 matches DNS names in the certificate, not IP
/// addresses, so it connects to `localhost` (which must resolve to 127.0.0.1, where both
/// Dovecots and the delay proxy listen).
const MBSYNC_HOST: &str = "localhost";

fn main() -> ExitCode {
    let args: Vec<OsString> = std::env::args_os().skip(1).collect();
    if args.first().is_some_and(|a| a == WRAPPER_ARG) {
        let code = measure::wrapper_main(&args[1..]);
        return ExitCode::from(u8::try_from(code).unwrap_or(1));
    }
    let args = args.into_iter().map(|a| a.to_string_lossy().into_owned());
    let options = match Options::parse(args) {
        Ok(Some(options)) => options,
        Ok(None) => {
            println!("{USAGE}");
            return ExitCode::SUCCESS;
        }
        Err(message) => {
            eprintln!("dovecot-velocity: {message}");
            return ExitCode::from(2);
        }
    };
    match run(&options) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("dovecot-velocity: {error:#}");
            ExitCode::FAILURE
        }
    }
}

/// What a scenario runs.
#[derive(Debug, Clone)]
enum Client {
    /// `cutover migrate` with these extra flags.
    Cutover(&'static [&'static str]),
    /// One mbsync per mailbox; COMPRESS on or off.
    Mbsync { compress: bool },
}

/// One row of the table.
#[derive(Debug, Clone)]
struct Scenario {
    name: &'static str,
    client: Client,
    /// Through the delay proxy.
    slow_link: bool,
}

fn scenarios() -> Vec<Scenario> {
    let s = |name, client, slow_link| Scenario {
        name,
        client,
        slow_link,
    };
    vec![
        s(names::CUTOVER, Client::Cutover(&[]), false),
        s(
            names::CUTOVER_PIPELINED,
            Client::Cutover(&["--append-mode", "pipelined"]),
            false,
        ),
        s(
            names::CUTOVER_ONE_AT_A_TIME,
            Client::Cutover(&["--append-mode", "one-at-a-time"]),
            false,
        ),
        s(
            names::CUTOVER_COMPRESS,
            Client::Cutover(&["--compress", "on"]),
            false,
        ),
        s(names::MBSYNC, Client::Mbsync { compress: false }, false),
        s(
            names::MBSYNC_COMPRESS,
            Client::Mbsync { compress: true },
            false,
        ),
        s(names::CUTOVER_RTT, Client::Cutover(&[]), true),
        s(names::MBSYNC_RTT, Client::Mbsync { compress: false }, true),
    ]
}

/// Everything scenarios share.
struct Bench {
    options: Options,
    cutover: PathBuf,
    mbsync: Option<PathBuf>,
    cert: ServerCert,
    ca_pem: String,
    scratch: tempfile::TempDir,
    source: Dovecot,
    accounts: Vec<Account>,
    expected: Vec<FolderCounts>,
    messages: u64,
    bytes: u64,
    runtime: tokio::runtime::Runtime,
}

fn run(options: &Options) -> anyhow::Result<()> {
    let all = scenarios();
    let names: Vec<&str> = all.iter().map(|s| s.name).collect();
    let selected: Vec<Scenario> = all
        .iter()
        .filter(|s| options.selects(s.name, &names))
        .cloned()
        .collect();
    ensure!(!selected.is_empty(), "--only selects no scenario");
    let (cutover, mbsync) = preflight(options, &selected)?;
    let logs = options.out.join("logs");
    fs::create_dir_all(&logs).with_context(|| format!("creating {}", logs.display()))?;
    fs::create_dir_all(options.out.join("reports"))?;

    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    runtime.spawn(async {
        if tokio::signal::ctrl_c().await.is_ok() {
            eprintln!("interrupted: stopping children and servers");
            INTERRUPTED.store(true, Ordering::Relaxed);
        }
    });
    let scratch = tempfile::Builder::new()
        .prefix("cutover-velocity-")
        .tempdir()?;
    let ca = TestCa::new()?;
    let cert = ca.server_cert(&["localhost", "127.0.0.1"])?;
    let ca_pem = ca.ca_pem();
    fs::write(scratch.path().join("ca.pem"), &ca_pem)?;
    fs::write(scratch.path().join("admin-password"), ADMIN_PASSWORD)?;

    let spec = CorpusSpec {
        seed: options.seed,
        mailboxes: options.mailboxes,
        messages_per_mailbox: options.messages,
        ..CorpusSpec::default()
    };
    let started = Instant::now();
    let corpus = corpus::generate(&spec);
    let (messages, bytes) = (corpus.total_messages() as u64, corpus.total_bytes());
    eprintln!(
        "corpus: {} mailboxes x {} messages, {messages} messages, {:.1} MB (seed {}, {:.1} s)",
        spec.mailboxes,
        spec.messages_per_mailbox,
        bytes as f64 / 1e6,
        spec.seed,
        started.elapsed().as_secs_f64()
    );
    let accounts: Vec<Account> = (1..=options.mailboxes)
        .map(|i| Account {
            login: format!("user{i:02}"),
            password: format!("source-pw-{i:02}"),
        })
        .collect();
    let expected: Vec<FolderCounts> = corpus.mailboxes.iter().map(seed::folder_counts).collect();
    write_users_csv(&scratch.path().join("users.csv"), &accounts)?;

    let source = Dovecot::start(
        dovecot_config(&accounts, false, options.server_dir.as_deref()),
        &cert,
    )
    .context("starting the source Dovecot")?;
    let started = Instant::now();
    let source_addr = loopback(source.imaps_port());
    let mailboxes = corpus.mailboxes.into_iter().map(Arc::new).collect();
    runtime.block_on(interruptible(seed::seed_all(
        source_addr,
        &ca_pem,
        &accounts,
        mailboxes,
    )))?;
    eprintln!(
        "seeded the source in {:.1} s",
        started.elapsed().as_secs_f64()
    );
    for (account, want) in accounts.iter().zip(&expected) {
        let found = runtime.block_on(verify::count_folders(source_addr, &ca_pem, account, want))?;
        let differences = verify::differences(want, &found);
        ensure!(
            differences.is_empty(),
            "source {}: {differences:?}",
            account.login
        );
    }

    let bench = Bench {
        options: options.clone(),
        cutover,
        mbsync,
        cert,
        ca_pem,
        scratch,
        source,
        accounts,
        expected,
        messages,
        bytes,
        runtime,
    };
    let mut rows = Vec::new();
    let mut failures = Vec::new();
    let runs: Vec<(usize, &Scenario)> = (1..=options.repeat)
        .flat_map(|round| selected.iter().map(move |s| (round, s)))
        .collect();
    for (index, (round, scenario)) in runs.iter().enumerate() {
        ensure!(!INTERRUPTED.load(Ordering::Relaxed), "interrupted");
        eprintln!("[{}/{}] {} ...", index + 1, runs.len(), scenario.name);
        match bench.run_scenario(scenario, *round) {
            Ok(row) => {
                eprintln!(
                    "      {:.2} s, {:.0} msgs/s, {:.1} MB/s, CPU {:.2} s, servers {:.2}+{:.2} s, \
                     RSS {:.1} MiB, verified",
                    row.seconds,
                    row.msgs_per_s(),
                    row.mb_per_s(),
                    row.cpu_s(),
                    row.source_cpu_s,
                    row.dest_cpu_s,
                    row.peak_rss_mib
                );
                rows.push(row);
            }
            Err(error) => {
                eprintln!("      FAILED: {error:#}");
                failures.push(serde_json::json!({
                    "scenario": scenario.name,
                    "round": round,
                    "error": format!("{error:#}"),
                }));
            }
        }
    }

    let ratios = results::ratios(&rows);
    let table = results::table(&rows, &ratios);
    println!("\n{table}");
    let mut setup = bench.setup_json();
    setup["failures"] = serde_json::Value::Array(failures.clone());
    let json = results::json(setup, &rows, &ratios);
    fs::write(
        options.out.join("velocity.json"),
        serde_json::to_vec_pretty(&json)?,
    )?;
    fs::write(options.out.join("velocity.csv"), results::csv(&rows))?;
    fs::write(options.out.join("velocity.md"), &table)?;
    eprintln!("wrote {}/velocity.{{json,csv,md}}", options.out.display());
    ensure!(
        failures.is_empty(),
        "{} scenario(s) failed (see above and {}/logs)",
        failures.len(),
        options.out.display()
    );
    Ok(())
}

impl Bench {
    /// Runs one scenario (in round `round`) against a fresh destination and returns its
    /// verified row.
    fn run_scenario(&self, scenario: &Scenario, round: usize) -> anyhow::Result<ScenarioResult> {
        let dest = Dovecot::start(
            dovecot_config(&self.accounts, true, self.options.server_dir.as_deref()),
            &self.cert,
        )
        .context("starting the destination Dovecot")?;
        let result = self.measure_against(scenario, round, &dest);
        if result.is_err() {
            let log = self.log_path(scenario, "dovecot-dest.log");
            let _ = fs::write(&log, dest.log());
        }
        result
    }

    fn measure_against(
        &self,
        scenario: &Scenario,
        round: usize,
        dest: &Dovecot,
    ) -> anyhow::Result<ScenarioResult> {
        let rtt_ms = if scenario.slow_link {
            self.options.rtt_ms
        } else {
            0
        };
        let proxy = if scenario.slow_link {
            let one_way = Duration::from_micros(self.options.rtt_ms * 500);
            Some(DelayProxy::start(loopback(dest.imaps_port()), one_way)?)
        } else {
            None
        };
        let dest_port = proxy
            .as_ref()
            .map_or(dest.imaps_port(), |p| p.addr().port());
        let dir = self.scratch.path().join(slug(scenario.name));
        // A fresh dir per run: mbsync's sync state from an earlier round would not match the
        // fresh destination.
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir)?;
        let report = self
            .options
            .out
            .join("reports")
            .join(format!("{}.json", slug(scenario.name)));
        let _ = fs::remove_file(&report);
        let commands = match &scenario.client {
            Client::Cutover(extra) => {
                vec![self.cutover_command(scenario, dest_port, extra, &report)]
            }
            Client::Mbsync { compress } => {
                self.mbsync_commands(scenario, &dir, dest_port, *compress)?
            }
        };
        let cpu_before = (self.source.cpu_time(), dest.cpu_time());
        let usage = measure::run_measured(&commands, &dir, self.options.timeout, &INTERRUPTED)?;
        drop(proxy);
        // Let the servers notice the logouts and reap the sessions, whose CPU then counts.
        std::thread::sleep(Duration::from_millis(300));
        let source_cpu = self.source.cpu_time().saturating_sub(cpu_before.0);
        let dest_cpu = dest.cpu_time().saturating_sub(cpu_before.1);

        let dest_addr = loopback(dest.imaps_port());
        for (account, want) in self.accounts.iter().zip(&self.expected) {
            let master = Account {
                login: format!("{}*{ADMIN}", account.login),
                password: ADMIN_PASSWORD.to_owned(),
            };
            let found = self.runtime.block_on(verify::count_folders(
                dest_addr,
                &self.ca_pem,
                &master,
                want,
            ))?;
            let differences = verify::differences(want, &found);
            ensure!(
                differences.is_empty(),
                "destination {} differs from the source: {differences:?}",
                account.login
            );
        }
        let detail = match &scenario.client {
            Client::Cutover(_) => {
                let text = fs::read_to_string(&report)
                    .with_context(|| format!("reading {}", report.display()))?;
                let summary = verify::check_report(&text, self.messages)?;
                format!(
                    "append framing {}, {:.1} messages per APPEND, dest COMPRESS {}",
                    summary.framings.join("/"),
                    summary.messages as f64 / summary.append_commands.max(1) as f64,
                    if summary.dest_compressed { "on" } else { "off" }
                )
            }
            Client::Mbsync { compress } => format!(
                "{} mbsync processes, COMPRESS {}",
                commands.len(),
                if *compress { "allowed" } else { "disabled" }
            ),
        };
        const MIB: f64 = 1024.0;
        Ok(ScenarioResult {
            scenario: scenario.name.to_owned(),
            round,
            rtt_ms,
            messages: self.messages,
            bytes: self.bytes,
            seconds: usage.wall.as_secs_f64(),
            cpu_user_s: usage.user_s(),
            cpu_sys_s: usage.sys_s(),
            processes: usage.processes.len(),
            source_cpu_s: source_cpu.as_secs_f64(),
            dest_cpu_s: dest_cpu.as_secs_f64(),
            peak_rss_mib: usage.rss_sum_kib() as f64 / MIB,
            peak_rss_mib_max_process: usage.rss_max_kib() as f64 / MIB,
            detail,
        })
    }

    fn cutover_command(
        &self,
        scenario: &Scenario,
        dest_port: u16,
        extra: &[&str],
        report: &Path,
    ) -> MeasuredCommand {
        let scratch = self.scratch.path();
        let mut args: Vec<OsString> = vec![
            "migrate".into(),
            "--users".into(),
            scratch.join("users.csv").into(),
            "--source".into(),
            self.source.imaps_url().into(),
            "--dest".into(),
            format!("imaps://127.0.0.1:{dest_port}").into(),
            "--dest-admin".into(),
            ADMIN.into(),
            "--dest-admin-password-file".into(),
            scratch.join("admin-password").into(),
            "--ca-file".into(),
            scratch.join("ca.pem").into(),
            "--parallel".into(),
            self.accounts.len().to_string().into(),
            "--report".into(),
            report.into(),
            "--state".into(),
            {
                // A fresh checkpoint file per run: the checkpoints' cost is measured, a
                // previous run's records never skip anything.
                let state = report.with_extension("state.sqlite");
                let _ = std::fs::remove_file(&state);
                state.into()
            },
            "--quiet".into(),
        ];
        args.extend(extra.iter().map(OsString::from));
        MeasuredCommand {
            label: scenario.name.to_owned(),
            program: self.cutover.clone(),
            args,
            log: self.log_path(scenario, "log"),
        }
    }

    fn mbsync_commands(
        &self,
        scenario: &Scenario,
        dir: &Path,
        dest_port: u16,
        compress: bool,
    ) -> anyhow::Result<Vec<MeasuredCommand>> {
        let mbsync = self
            .mbsync
            .clone()
            .context("mbsync not found: install isync (scripts/bench-dovecot does)")?;
        let mut commands = Vec::new();
        for account in &self.accounts {
            let state = dir.join(format!("state-{}", account.login));
            fs::create_dir_all(&state)?;
            let job = MbsyncJob {
                far: MbsyncAccount {
                    host: MBSYNC_HOST.to_owned(),
                    port: self.source.imaps_port(),
                    user: account.login.clone(),
                    password: account.password.clone(),
                },
                near: MbsyncAccount {
                    host: MBSYNC_HOST.to_owned(),
                    port: dest_port,
                    user: format!("{}*{ADMIN}", account.login),
                    password: ADMIN_PASSWORD.to_owned(),
                },
                ca_file: self.scratch.path().join("ca.pem"),
                sync_state_dir: state,
                compress,
            };
            let config = dir.join(format!("mbsyncrc-{}", account.login));
            fs::write(&config, mbsync_config::render(&job))?;
            commands.push(MeasuredCommand {
                label: format!("{} {}", scenario.name, account.login),
                program: mbsync.clone(),
                args: vec!["-c".into(), config.into(), mbsync_config::CHANNEL.into()],
                log: self.log_path(scenario, &format!("{}.log", account.login)),
            });
        }
        Ok(commands)
    }

    fn log_path(&self, scenario: &Scenario, suffix: &str) -> PathBuf {
        self.options
            .out
            .join("logs")
            .join(format!("{}.{suffix}", slug(scenario.name)))
    }

    /// What was measured, on what: the JSON file's `setup`.
    fn setup_json(&self) -> serde_json::Value {
        let first_line = |program: &Path, flag: &str| {
            Command::new(program)
                .arg(flag)
                .output()
                .ok()
                .map(|o| {
                    let text = [o.stdout, o.stderr].concat();
                    String::from_utf8_lossy(&text)
                        .lines()
                        .next()
                        .unwrap_or("")
                        .to_owned()
                })
                .unwrap_or_default()
        };
        serde_json::json!({
            "mailboxes": self.options.mailboxes,
            "messages_per_mailbox": self.options.messages,
            "seed": self.options.seed,
            "median_size": CorpusSpec::default().median_size,
            "mean_size": CorpusSpec::default().mean_size,
            "messages": self.messages,
            "bytes": self.bytes,
            "rtt_ms": self.options.rtt_ms,
            "rounds": self.options.repeat,
            "server_dir": self.options.server_dir.as_ref().map_or("system temp dir".to_owned(), |d| d.display().to_string()),
            "cores": std::thread::available_parallelism().map_or(0, |n| n.get()),
            "kernel": fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default().trim(),
            "dovecot": dovecot_binary().map(|d| first_line(&d, "--version")).unwrap_or_default(),
            "mbsync": self.mbsync.as_deref().map(|m| first_line(m, "--version")).unwrap_or_default(),
            "cutover": first_line(&self.cutover, "--version"),
            "notes": "MB = 10^6 bytes of message data; CPU and peak RSS are the client processes' \
                      own (getrusage of each, summed over processes); server CPU is each Dovecot's \
                      process group (live processes plus reaped sessions) over the run. \
                      Destination Dovecot is fresh per scenario; source and destination share the \
                      machine with the client.",
        })
    }
}

/// Checks the tools are there before anything starts; returns cutover's and mbsync's paths.
fn preflight(
    options: &Options,
    selected: &[Scenario],
) -> anyhow::Result<(PathBuf, Option<PathBuf>)> {
    if dovecot_binary().is_none() {
        bail!(
            "dovecot not found: install dovecot-imapd (scripts/bench-dovecot installs it and \
             isync when run as root)"
        );
    }
    let mbsync = find_on_path("mbsync");
    let wants_mbsync = selected
        .iter()
        .any(|s| matches!(s.client, Client::Mbsync { .. }));
    if wants_mbsync && mbsync.is_none() {
        bail!(
            "mbsync not found: install isync (scripts/bench-dovecot installs it when run as \
             root), or pass --only cutover"
        );
    }
    let cutover = match &options.cutover {
        Some(path) => path.clone(),
        None => std::env::current_exe()?
            .parent()
            .context("the benchmark binary has no directory")?
            .join("cutover"),
    };
    ensure!(
        cutover.is_file(),
        "{} not found: build it (cargo build --release -p cutover, as scripts/bench-dovecot \
         does) or pass --cutover PATH",
        cutover.display()
    );
    Ok((cutover, mbsync))
}

fn find_on_path(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join(name))
        .find(|candidate| candidate.is_file())
}

/// Users with their source passwords; the destination also gets the master user.
fn dovecot_config(
    accounts: &[Account],
    destination: bool,
    server_dir: Option<&Path>,
) -> DovecotConfig {
    DovecotConfig {
        users: accounts
            .iter()
            .map(|a| (a.login.clone(), a.password.clone()))
            .collect(),
        master: destination.then(|| (ADMIN.to_owned(), ADMIN_PASSWORD.to_owned())),
        master_separator: '*',
        login_aliases: Vec::new(),
        separator: '/',
        quota_bytes: None,
        max_mail_size: None,
        compress: true,
        parent_dir: server_dir.map(Path::to_path_buf),
        max_userip_connections: 100,
        maildir: false,
    }
}

fn write_users_csv(path: &Path, accounts: &[Account]) -> anyhow::Result<()> {
    let mut csv = String::from("SourceIdentity,SourceLoginID,SourcePassword,TargetIdentity\n");
    for a in accounts {
        csv.push_str(&format!("{0},{0},{1},{0}\n", a.login, a.password));
    }
    fs::write(path, csv).with_context(|| format!("writing {}", path.display()))
}

fn loopback(port: u16) -> SocketAddr {
    SocketAddr::from((Ipv4Addr::LOCALHOST, port))
}

/// A scenario name as a file name: `cutover --compress on` becomes `cutover-compress-on`.
fn slug(name: &str) -> String {
    let mut slug = String::new();
    for c in name.chars() {
        if c.is_ascii_alphanumeric() {
            slug.push(c);
        } else if c == '+' {
            slug.push_str("-plus-");
        } else if !slug.ends_with('-') && !slug.is_empty() {
            slug.push('-');
        }
    }
    slug.trim_matches('-').replace("--", "-")
}

/// Runs `work` unless Ctrl-C comes first.
async fn interruptible<T>(
    work: impl std::future::Future<Output = anyhow::Result<T>>,
) -> anyhow::Result<T> {
    let interrupted = async {
        while !INTERRUPTED.load(Ordering::Relaxed) {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    };
    tokio::select! {
        result = work => result,
        () = interrupted => bail!("interrupted"),
    }
}
