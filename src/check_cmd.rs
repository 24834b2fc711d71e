//! `cutover check`: before a migration, log in to every source and destination mailbox of the
//! list, read-only, and say what works: reachable, authenticated, the capabilities that matter,
//! the destination's quota, folders and messages found.
//!
//! Read-only: LIST and `STATUS (MESSAGES)` only, through
//! [`cutover_engine::copier::assess::check_login`]. Lockout-safe: every login goes through one
//! guard allowing a single failure per credential owner and server, so a rejected password is
//! tried once and never again in the run (a wrong admin password is tried once for the whole
//! list), counted in the state file across runs like `migrate`'s. Exit status: 0 every mailbox
//! reachable and logged in at both ends, 1 otherwise, 2 bad input. No secret reaches any output.

use crate::access::Access;
use crate::args::{DestAccessArgs, SourceAccessArgs};
use crate::migrate::DANGER_WARNING;
use crate::settings::{
    mailbox_jobs, read_mailbox_list_with, server, tls_config, BadInput, SourceFlag,
};
use anyhow::Context;
use cutover_engine::copier::assess::{check_login, CheckFailure, LoginCheck};
use cutover_engine::imap::{ConnectOptions, LoginGuard, LoginLimit, TlsClient};
use cutover_engine::plan::assessment::format_bytes;
use cutover_engine::{CompressMode, CopyOptions, MailboxJob, TlsConfig};
use std::fmt::Write;
use std::path::PathBuf;
use std::sync::Arc;

/// Flags of `cutover check`: the servers and access flags of `cutover migrate`.
#[derive(Debug, Clone, clap::Args)]
pub struct CheckArgs {
    /// The mailbox list, as for `cutover migrate`.
    #[arg(long, value_name = "USERS.csv")]
    pub users: PathBuf,

    /// Settings from a TOML file, as for `cutover migrate`.
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,

    /// Source server for rows without SourceServer (same forms as for `cutover migrate`).
    #[arg(long, value_name = "URL")]
    pub source: Option<String>,

    /// Destination server.
    #[arg(long, value_name = "URL")]
    pub dest: String,

    /// How each source mailbox is logged in to.
    #[command(flatten)]
    pub source_access: SourceAccessArgs,

    /// How each destination mailbox is logged in to.
    #[command(flatten)]
    pub dest_access: DestAccessArgs,

    /// Extra trusted CA certificates (PEM), e.g. a private CA.
    #[arg(long, value_name = "PEM")]
    pub ca_file: Option<PathBuf>,

    /// Mailboxes checked at the same time.
    #[arg(long, value_name = "N", default_value_t = 4)]
    pub parallel: usize,

    /// The checkpoint file of `cutover migrate`, where failed logins are counted across runs
    /// (nothing else is written to it by a check).
    #[arg(long, value_name = "FILE", default_value = "cutover-state.sqlite")]
    pub state: PathBuf,

    /// Keep no checkpoint file: failed logins are counted for this run only.
    #[arg(long)]
    pub no_state: bool,

    /// Accept any server certificate and host name. Only for throwaway test servers.
    #[arg(long)]
    pub danger_accept_invalid_certs: bool,

    /// Allow imap+plain:// (cleartext) servers: passwords cross the wire unencrypted.
    #[arg(long)]
    pub allow_plaintext: bool,
}

/// A validated `cutover check`.
#[derive(Debug)]
pub struct CheckSettings {
    /// One job per row of the list, in list order: the logins `cutover migrate` would make.
    pub jobs: Vec<MailboxJob>,
    /// Certificate checking.
    pub tls: TlsConfig,
    /// Mailboxes at once.
    pub parallel: usize,
    /// Where failed logins are counted, unless `--no-state`.
    pub state: Option<PathBuf>,
}

impl CheckSettings {
    /// Validates `args`, every problem collected; `env` looks up environment variables.
    pub fn from_args(
        args: &CheckArgs,
        env: impl Fn(&str) -> Option<String>,
    ) -> Result<Self, BadInput> {
        let mut problems = Vec::new();
        let source = args.source.as_deref().and_then(|text| {
            server(text, "--source", args.allow_plaintext)
                .map_err(|p| problems.push(p))
                .ok()
        });
        let dest = server(&args.dest, "--dest", args.allow_plaintext)
            .map_err(|p| problems.push(p))
            .ok();
        let source_access = Access::source(&args.source_access, &env)
            .map_err(|p| problems.extend(p))
            .ok();
        let dest_access = Access::dest(&args.dest_access, &env)
            .map_err(|p| problems.extend(p))
            .ok();
        let tls = tls_config(args.ca_file.as_deref(), args.danger_accept_invalid_certs)
            .map_err(|p| problems.push(p))
            .ok();
        if args.parallel == 0 {
            problems.push("--parallel must be at least 1".into());
        }
        let origin = args.users.display().to_string();
        let rules = source_access
            .as_ref()
            .map(Access::list_rules)
            .unwrap_or_default();
        let rows = read_mailbox_list_with(&args.users, &rules, &mut problems);
        let source_flag = SourceFlag {
            given: args.source.is_some(),
            endpoint: source.as_ref(),
            allow_plaintext: args.allow_plaintext,
        };
        let jobs = mailbox_jobs(
            &rows,
            &origin,
            &source_flag,
            dest.as_ref(),
            (source_access.as_ref(), dest_access.as_ref()),
            &mut problems,
        );
        if !problems.is_empty() {
            return Err(BadInput { problems });
        }
        Ok(CheckSettings {
            jobs,
            tls: tls.expect("no problems means TLS was configured"),
            parallel: args.parallel,
            state: (!args.no_state).then(|| args.state.clone()),
        })
    }
}

/// What one side of one mailbox showed.
type SideResult = Result<LoginCheck, CheckFailure>;

/// Runs a validated check and prints the table; the result says whether every login worked.
pub async fn run(settings: CheckSettings) -> anyhow::Result<bool> {
    if settings.tls.danger_accept_invalid_certs {
        eprintln!("{DANGER_WARNING}");
    }
    let tls = TlsClient::new(&settings.tls).context("cannot set up TLS")?;
    let store = match &settings.state {
        None => None,
        Some(path) => Some(
            cutover_engine::state::StateStore::open(path)
                .await
                .map_err(|e| BadInput {
                    problems: vec![format!("--state: {e}")],
                })?,
        ),
    };
    // One failure per credential owner and server: a rejected secret is never tried again.
    let limit = LoginLimit {
        max_failed: 1,
        ..LoginLimit::default()
    };
    let opts = Arc::new(ConnectOptions {
        tls,
        compress: CompressMode::Off,
        compress_min_rtt: CopyOptions::default().compress_min_rtt,
        timeout: CopyOptions::default().io_timeout,
        logins: LoginGuard::new(limit, store),
        local_address: None,
        budget: None,
    });
    let permits = Arc::new(tokio::sync::Semaphore::new(settings.parallel));
    let mut tasks = tokio::task::JoinSet::new();
    let count = settings.jobs.len();
    for (index, job) in settings.jobs.into_iter().enumerate() {
        let (opts, permits) = (opts.clone(), permits.clone());
        tasks.spawn(async move {
            let _permit = permits.acquire_owned().await;
            let source = check_login(&job.source, &opts, job.source_root.as_deref(), false).await;
            let dest = check_login(&job.dest, &opts, None, true).await;
            (index, job.id, source, dest)
        });
    }
    let mut slots: Vec<Option<(String, SideResult, SideResult)>> =
        (0..count).map(|_| None).collect();
    while let Some(done) = tasks.join_next().await {
        let (index, name, source, dest) = done.context("a check task failed")?;
        slots[index] = Some((name, source, dest));
    }
    let results: Vec<_> = slots.into_iter().flatten().collect();
    print!("{}", render(&results));
    Ok(results
        .iter()
        .all(|(_, source, dest)| source.is_ok() && dest.is_ok()))
}

/// The capabilities `cutover check` reports, as (shown name, capability atoms that count).
const CAPABILITIES: [(&str, &[&str]); 7] = [
    ("LITERAL+", &["LITERAL+", "LITERAL-"]),
    ("MULTIAPPEND", &["MULTIAPPEND"]),
    ("COMPRESS", &["COMPRESS=DEFLATE"]),
    ("SORT", &["SORT"]),
    ("QUOTA", &["QUOTA", "QUOTA=RES-STORAGE"]),
    ("UIDPLUS", &["UIDPLUS"]),
    ("CONDSTORE", &["CONDSTORE"]),
];

/// The capabilities that matter: those offered by name, those missing as `-NAME`.
fn capabilities(all: &[String]) -> String {
    CAPABILITIES
        .iter()
        .map(|(name, atoms)| {
            if atoms.iter().any(|a| all.iter().any(|c| c == a)) {
                name.to_string()
            } else {
                format!("-{name}")
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// The table: one line per mailbox and side, then every problem on its own line.
fn render(results: &[(String, SideResult, SideResult)]) -> String {
    let header = [
        "mailbox",
        "side",
        "reachable",
        "login",
        "capabilities",
        "quota",
        "folders",
        "messages",
    ];
    let yes_no = |b: bool| if b { "yes" } else { "NO" }.to_string();
    let mut rows: Vec<[String; 8]> = Vec::new();
    let mut problems = Vec::new();
    for (name, source, dest) in results {
        for (side, result) in [("source", source), ("dest", dest)] {
            let row = match result {
                Ok(c) => [
                    name.clone(),
                    side.into(),
                    yes_no(true),
                    "ok".into(),
                    capabilities(&c.caps.all),
                    match (&c.quota, side) {
                        (Some(q), _) => format!(
                            "{} of {}",
                            format_bytes(q.used_bytes),
                            format_bytes(q.limit_bytes)
                        ),
                        (None, "dest") => "none".into(),
                        (None, _) => "-".into(),
                    },
                    c.folders.to_string(),
                    c.messages.to_string(),
                ],
                Err(f) => {
                    problems.push(format!("{name} ({side}): {}", f.error));
                    let login = match (f.reachable, f.authenticated) {
                        (_, true) => "ok",
                        (true, false) => "FAILED",
                        (false, false) => "-",
                    };
                    let dash = || "-".to_string();
                    [
                        name.clone(),
                        side.into(),
                        yes_no(f.reachable),
                        login.into(),
                        dash(),
                        dash(),
                        dash(),
                        dash(),
                    ]
                }
            };
            rows.push(row);
        }
    }
    let mut widths = header.map(str::len);
    for row in &rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let mut out = String::new();
    let mut line = |cells: &[String]| {
        let text: Vec<String> = cells
            .iter()
            .zip(widths)
            .map(|(c, w)| format!("{c:<w$}"))
            .collect();
        let _ = writeln!(out, "{}", text.join("  ").trim_end());
    };
    line(&header.map(String::from));
    for row in &rows {
        line(row);
    }
    let ok = results
        .iter()
        .filter(|(_, s, d)| s.is_ok() && d.is_ok())
        .count();
    let _ = writeln!(out, "{ok}/{} mailboxes ready", results.len());
    if !problems.is_empty() {
        let _ = writeln!(out, "\nproblems ({}):", problems.len());
        for p in problems {
            let _ = writeln!(out, "  {p}");
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use cutover_engine::imap::Capabilities;
    use cutover_engine::Error;

    #[test]
    fn the_table_says_what_worked_and_what_is_missing() {
        let caps = Capabilities::from_atoms(["IMAP4rev1", "LITERAL+", "UIDPLUS", "QUOTA"]);
        let ok = |quota| {
            Ok(LoginCheck {
                caps: caps.clone(),
                folders: 3,
                messages: 42,
                quota,
            })
        };
        let rejected = Err(CheckFailure {
            reachable: true,
            authenticated: false,
            error: Error::AuthRejected {
                server: "imaps://old:993".into(),
                identity: "joe".into(),
                message: "[AUTHENTICATIONFAILED] no".into(),
            },
        });
        let quota = cutover_engine::imap::quota::StorageQuota {
            limit_bytes: 10 << 20,
            used_bytes: 0,
        };
        let text = render(&[
            ("joe".into(), rejected, ok(Some(quota))),
            ("ann".into(), ok(None), ok(None)),
        ]);
        let lines: Vec<&str> = text.lines().collect();
        assert!(
            lines[0].starts_with("mailbox  side    reachable  login"),
            "{text}"
        );
        assert!(
            lines[1].starts_with("joe      source  yes        FAILED  -"),
            "{text}"
        );
        assert!(
            lines[2].contains("LITERAL+ -MULTIAPPEND -COMPRESS -SORT QUOTA UIDPLUS -CONDSTORE"),
            "{text}"
        );
        assert!(lines[2].contains(" of "), "the destination quota: {text}");
        assert!(
            lines[4].contains("none"),
            "a destination without QUOTA: {text}"
        );
        assert!(text.contains("1/2 mailboxes ready"), "{text}");
        assert!(
            text.contains("joe (source): credentials rejected for joe at imaps://old:993"),
            "{text}"
        );
    }
}
