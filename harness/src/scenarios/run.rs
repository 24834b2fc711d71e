//! Runs one scenario: generates its mail, starts a shaped source and destination mock with a
//! throwaway CA, runs `cutover migrate` between them as a measured child process (wall time,
//! CPU, peak RSS), then reads the report, the servers' wire counters and budget audits, and
//! checks that every message arrived.
//!
//! The client runs in its own process so its CPU and memory are its own, not the servers'.

use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicBool;
use std::time::Duration;

use anyhow::Context;
use rand::distr::{Alphanumeric, SampleString};
use sha2::{Digest, Sha256};

use super::catalogue::Scenario;
use super::results::ScenarioResult;
use crate::certs::TestCa;
use crate::corpus::generate;
use crate::mock_server::{
    AuditBudget, Bandwidth, MockConfig, MockProfile, MockServer, MockStore, Shaping,
};
use crate::open_files::raise_to_hard;
use crate::velocity::measure::{run_measured, GroupUsage, MeasuredCommand};

/// The destination admin that acts for every mailbox.
const ADMIN: &str = "bench-admin";
/// Descriptors a process needs besides its connections: runtime, state store, logs.
const SPARE_DESCRIPTORS: usize = 256;
/// How long the servers may take to see every connection closed after the client exits.
const DRAIN: Duration = Duration::from_secs(10);

/// Where and with what a scenario runs.
#[derive(Clone, Debug)]
pub struct BenchOptions {
    /// The `cutover` binary to measure. It must also act as the measuring wrapper
    /// (`velocity::measure::WRAPPER_ARG`), as the `cutover` command does.
    pub cutover: PathBuf,
    /// A directory for each scenario's files (users, CA, logs, report).
    pub work_dir: PathBuf,
    /// A scenario's client run longer than this fails.
    pub timeout: Duration,
}

/// Runs `scenario` and measures it.
pub async fn run_scenario(
    scenario: &Scenario,
    options: &BenchOptions,
) -> anyhow::Result<ScenarioResult> {
    // Client and servers each hold a descriptor per connection; the client inherits the limit.
    let open_files = raise_to_hard().context("raising the open-files limit")?;
    let needed = (scenario.max_connections() + SPARE_DESCRIPTORS) as u64;
    anyhow::ensure!(
        open_files.now >= needed,
        "{}: up to {} connections need about {needed} open files, and the hard limit is {}: \
         raise it (ulimit -Hn, systemd LimitNOFILE=) or run fewer mailboxes at once",
        scenario.name,
        scenario.max_connections(),
        open_files.hard
    );
    let dir = options.work_dir.join(scenario.name);
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    let spec = scenario.corpus.clone();
    let corpus = tokio::task::spawn_blocking(move || generate(&spec))
        .await
        .context("corpus generator")?;

    let ca = TestCa::new()?;
    let cert = ca.server_cert(&["localhost", "127.0.0.1"])?;
    // Random, and the files that hold them are removed after the run.
    let admin_password = Alphanumeric.sample_string(&mut rand::rng(), 24);
    let source_store = MockStore::new('/');
    let dest_store = MockStore::new('/');
    dest_store.add_admin(ADMIN, &admin_password);
    let mut users_csv =
        String::from("SourceIdentity,SourceLoginID,SourcePassword,TargetIdentity\n");
    for mailbox in &corpus.mailboxes {
        let password = Alphanumeric.sample_string(&mut rand::rng(), 24);
        source_store.add_user(&mailbox.user, &password);
        dest_store.add_user(&mailbox.user, &format!("{password}-unused"));
        source_store.fill_from_corpus(mailbox, scenario.one_folder.then_some("INBOX"));
        users_csv.push_str(&format!("{u},{u},{password},{u}\n", u = mailbox.user));
    }
    let mail_bytes: u64 = corpus.total_bytes();
    let messages = corpus.total_messages() as u64;
    drop(corpus);

    let shaping = Shaping {
        latency: scenario.rtt,
        bandwidth: scenario.bandwidth_mbit.map(Bandwidth::mbit_per_server),
        ..Shaping::default()
    };
    let source_config = MockConfig {
        identity: Some(cert.clone()),
        shaping: shaping.clone(),
        ..MockProfile::Dovecot.config()
    };
    let dest_config = MockConfig {
        identity: Some(cert),
        shaping: Shaping {
            throttle: scenario
                .throttle
                .map(|(rate, backoff)| scenario.profile.throttle(rate, backoff)),
            ..shaping
        },
        ..scenario.profile.config()
    };
    let source = MockServer::start(source_config, source_store.clone()).await?;
    let dest = MockServer::start(dest_config, dest_store.clone()).await?;

    let ca_file = dir.join("ca.pem");
    let users_file = dir.join("users.csv");
    let password_file = dir.join("admin-password");
    let report_file = dir.join("report.json");
    let log = dir.join("cutover.log");
    write_private(&ca_file, ca.ca_pem().as_bytes())?;
    write_private(&users_file, users_csv.as_bytes())?;
    write_private(&password_file, admin_password.as_bytes())?;
    // They hold passwords: gone when the scenario ends, however it ends.
    let _secrets = RemoveOnDrop(vec![users_file.clone(), password_file.clone()]);
    let state_file = dir.join("state.sqlite");
    let migrate = Migrate {
        cutover: &options.cutover,
        source: &source,
        dest: &dest,
        ca_file: &ca_file,
        password_file: &password_file,
        timeout: options.timeout,
        scenario,
    };
    let usage = migrate
        .measure(&users_file, &report_file, &state_file, &log)
        .await?;

    drain(&source).await;
    drain(&dest).await;
    let report: serde_json::Value = serde_json::from_slice(
        &std::fs::read(&report_file)
            .with_context(|| format!("reading {}", report_file.display()))?,
    )
    .with_context(|| format!("parsing {}", report_file.display()))?;
    let totals = &report["totals"];
    let copied = totals["messages"].as_u64().unwrap_or(0);
    let copied_bytes = totals["bytes"].as_u64().unwrap_or(0);
    let failed_messages = totals["failed_messages"].as_u64().unwrap_or(0);
    let verified = copied == messages
        && copied_bytes == mail_bytes
        && same_mail(&source_store, &dest_store, &report);

    let wall_s = usage.wall.as_secs_f64().max(1e-9);
    let cpu_s = usage.user_s() + usage.sys_s();
    let (s_stats, d_stats) = (source.stats(), dest.stats());
    let wire_bytes = s_stats.wire_bytes_in
        + s_stats.wire_bytes_out
        + d_stats.wire_bytes_in
        + d_stats.wire_bytes_out;
    let (s_audit, d_audit) = (source.audit(), dest.audit());
    let mut budget_violations = Vec::new();
    for (side, audit) in [("source", &s_audit), ("destination", &d_audit)] {
        budget_violations.extend(
            audit
                .violations(&AuditBudget::default())
                .into_iter()
                .map(|v| format!("{side}: {v}")),
        );
    }
    // Mailboxes at work at once: users logged in to the source at once, over every address.
    let peak_active_mailboxes: u64 = s_audit.peak_users_per_ip.values().sum();
    let peak_rss_mib = usage.rss_max_kib() as f64 / 1024.0;
    let (baseline_rss_mib, memory_per_active_mailbox_kib) = if scenario.measure_mailbox_memory {
        let baseline = migrate
            .baseline_rss_mib(&users_csv, &dir)
            .await
            .context("the one-mailbox baseline run")?;
        let per_mailbox = (peak_rss_mib - baseline).max(0.0) * 1024.0
            / (peak_active_mailboxes.saturating_sub(1).max(1)) as f64;
        (Some(baseline), Some(per_mailbox))
    } else {
        (None, None)
    };
    let mailboxes = scenario.corpus.mailboxes as u64;
    Ok(ScenarioResult {
        scenario: scenario.name.to_string(),
        profile: scenario.profile.name().to_string(),
        rtt_ms: scenario.rtt.as_secs_f64() * 1e3,
        bandwidth_mbit: scenario.bandwidth_mbit,
        mailboxes,
        parallel: scenario.parallel as u64,
        connections_per_mailbox: scenario.connections_per_mailbox as u64,
        messages: copied,
        failed_messages,
        mail_bytes: copied_bytes,
        wall_s,
        msgs_per_s: copied as f64 / wall_s,
        mb_per_s: copied_bytes as f64 / 1e6 / wall_s,
        gb_per_h: copied_bytes as f64 / 1e9 / wall_s * 3600.0,
        mailboxes_per_h: mailboxes as f64 / wall_s * 3600.0,
        wire_bytes,
        wire_per_mail_byte: wire_bytes as f64 / (copied_bytes.max(1)) as f64,
        cpu_s_per_1k_msgs: cpu_s / (copied.max(1) as f64) * 1000.0,
        peak_rss_mib,
        egress_ips: scenario.egress.len() as u64,
        peak_connections: s_stats.peak_concurrent_connections + d_stats.peak_concurrent_connections,
        peak_active_mailboxes,
        baseline_rss_mib,
        memory_per_active_mailbox_kib,
        peak_connections_per_user: s_audit
            .max_connections_per_user()
            .max(d_audit.max_connections_per_user()),
        peak_connections_per_ip: s_audit
            .max_connections_per_ip()
            .max(d_audit.max_connections_per_ip()),
        peak_users_per_ip: s_audit.max_users_per_ip().max(d_audit.max_users_per_ip()),
        budget_violations,
        verified,
    })
}

/// How a scenario runs `cutover migrate`: the servers, the CA and admin password files, the
/// scenario's parallelism, connections and egress addresses.
struct Migrate<'a> {
    cutover: &'a Path,
    source: &'a MockServer,
    dest: &'a MockServer,
    ca_file: &'a Path,
    password_file: &'a Path,
    timeout: Duration,
    scenario: &'a Scenario,
}

impl Migrate<'_> {
    /// Runs `cutover migrate` over the mailboxes of `users_file` as a measured child process.
    async fn measure(
        &self,
        users_file: &Path,
        report_file: &Path,
        state_file: &Path,
        log: &Path,
    ) -> anyhow::Result<GroupUsage> {
        let scenario = self.scenario;
        let _ = std::fs::remove_file(report_file);
        let _ = std::fs::remove_file(log);
        let _ = std::fs::remove_file(state_file);
        let conns = scenario.connections_per_mailbox.to_string();
        let mut args: Vec<String> = vec![
            "migrate".into(),
            "--users".into(),
            users_file.display().to_string(),
            "--source".into(),
            format!("imaps://127.0.0.1:{}", self.source.addr().port()),
            "--dest".into(),
            format!("imaps://127.0.0.1:{}", self.dest.addr().port()),
            "--dest-admin".into(),
            ADMIN.into(),
            "--dest-admin-password-file".into(),
            self.password_file.display().to_string(),
            "--ca-file".into(),
            self.ca_file.display().to_string(),
            "--parallel".into(),
            scenario.parallel.to_string(),
            "--source-connections".into(),
            conns.clone(),
            "--dest-connections".into(),
            conns,
            "--report".into(),
            report_file.display().to_string(),
            // The checkpoints are part of every real run's cost: measured with them, fresh
            // each time.
            "--state".into(),
            state_file.display().to_string(),
            "--quiet".into(),
        ];
        if !scenario.egress.is_empty() {
            let list: Vec<String> = scenario.egress.iter().map(|ip| ip.to_string()).collect();
            args.extend(["--egress".into(), list.join(",")]);
        }
        let command = MeasuredCommand {
            label: format!("cutover migrate ({})", scenario.name),
            program: self.cutover.to_path_buf(),
            args: args.into_iter().map(Into::into).collect(),
            log: log.to_path_buf(),
        };
        let scratch = log.parent().unwrap_or(Path::new(".")).to_path_buf();
        let timeout = self.timeout;
        tokio::task::spawn_blocking(move || {
            run_measured(&[command], &scratch, timeout, &AtomicBool::new(false))
        })
        .await
        .context("measuring thread")?
    }

    /// Peak RSS, MiB, of `cutover migrate` moving only the first mailbox of `users_csv` again
    /// (already at the destination, so it is matched, not copied): the client's cost with one
    /// mailbox, which the per-mailbox figure subtracts.
    async fn baseline_rss_mib(&self, users_csv: &str, dir: &Path) -> anyhow::Result<f64> {
        let first: String = users_csv
            .lines()
            .take(2)
            .map(|l| format!("{l}\n"))
            .collect();
        let users_file = dir.join("baseline-users.csv");
        write_private(&users_file, first.as_bytes())?;
        let usage = self
            .measure(
                &users_file,
                &dir.join("baseline-report.json"),
                &dir.join("baseline-state.sqlite"),
                &dir.join("baseline.log"),
            )
            .await;
        let _ = std::fs::remove_file(&users_file);
        Ok(usage?.rss_max_kib() as f64 / 1024.0)
    }
}

/// Whether every folder of every user arrived whole: the same multiset of SHA-256 body hashes
/// in the destination folder the report maps it to.
fn same_mail(source: &MockStore, dest: &MockStore, report: &serde_json::Value) -> bool {
    let hashes = |store: &MockStore, user: &str, folder: &str| {
        let mut h: Vec<[u8; 32]> = store
            .messages(user, folder)
            .iter()
            .map(|m| Sha256::digest(&m.body).into())
            .collect();
        h.sort_unstable();
        h
    };
    let empty = Vec::new();
    for user in source.users() {
        let folders = report["mailboxes"]
            .as_array()
            .and_then(|all| all.iter().find(|m| m["mailbox"] == user.as_str()))
            .and_then(|m| m["folders"].as_array())
            .unwrap_or(&empty);
        for info in source.folders(&user).iter().filter(|f| !f.noselect) {
            let dest_name = folders
                .iter()
                .find(|f| f["source"] == info.name.as_str())
                .and_then(|f| f["dest"].as_str())
                .unwrap_or(&info.name);
            if hashes(source, &user, &info.name) != hashes(dest, &user, dest_name) {
                return false;
            }
        }
    }
    true
}

/// Waits until the server has seen every connection close, so its counters are final.
async fn drain(server: &MockServer) {
    let deadline = tokio::time::Instant::now() + DRAIN;
    while server.stats().current_connections > 0 && tokio::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Removes its files when dropped.
struct RemoveOnDrop(Vec<PathBuf>);

impl Drop for RemoveOnDrop {
    fn drop(&mut self) {
        for path in &self.0 {
            let _ = std::fs::remove_file(path);
        }
    }
}

/// Writes a file only its owner can read: it may hold passwords. A file left by an earlier run
/// is removed first, so its permissions cannot carry over.
fn write_private(path: &Path, data: &[u8]) -> anyhow::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let _ = std::fs::remove_file(path);
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .with_context(|| format!("writing {}", path.display()))?;
    file.write_all(data)
        .with_context(|| format!("writing {}", path.display()))
}
