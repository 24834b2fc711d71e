//! `cutover assess`: the pre-flight assessment (guide 3.3.4.5). Reads each mailbox of the list
//! read-only (EXAMINE and metadata FETCH only: the source is never modified), optionally reads the
//! destination's quota and size limit, and reports folders, counts, sizes and what will not fit:
//! a table on stdout and, with `--json`, the file the capacity planner takes as its inventory.
//!
//! The source flags and their validation are those of `cutover migrate`; the destination is
//! optional. Exit status: 0 every mailbox assessed, 1 one could not be (source or destination
//! unreadable), 2 bad input. Findings (a folder over its threshold, a mailbox over quota) are
//! reported, not failures. No password reaches any output.

use crate::args::LoginForm;
use crate::assess_table;
use crate::migrate::DANGER_WARNING;
use crate::report_file::write_atomically;
use crate::settings::{
    admin_password, login_form, read_mailbox_list, server, tls_config, BadInput, SourceFlag,
};
use anyhow::Context;
use cutover_engine::copier::assess::{destination_limits, inventory_mailbox};
use cutover_engine::imap::quota::StorageQuota;
use cutover_engine::imap::{ConnectOptions, LoginGuard, LoginLimit, TlsClient};
use cutover_engine::plan::assessment::{assess, parse_size, DestLimits, MailboxAssessment};
use cutover_engine::{Account, Auth, CompressMode, CopyOptions, TlsConfig};
use std::path::PathBuf;
use std::sync::Arc;

/// Flags of `cutover assess`. The source side is the same as `cutover migrate`'s.
#[derive(Debug, Clone, clap::Args)]
pub struct AssessArgs {
    /// The mailbox list (CSV: SourceIdentity, SourceServer, SourceLoginID, SourcePassword,
    /// TargetIdentity, SourceRootFolder), as for `cutover migrate`.
    #[arg(long, value_name = "USERS.csv")]
    pub users: PathBuf,

    /// Source server for rows without SourceServer: imaps://host:port, imap://host:port
    /// (STARTTLS), or imap+plain://host:port (cleartext, needs --allow-plaintext).
    #[arg(long, value_name = "URL")]
    pub source: Option<String>,

    /// Destination server to read each TargetIdentity's quota (GETQUOTAROOT) and the size limit
    /// (APPENDLIMIT) from. Optional: without it, give --dest-quota and --max-message-size.
    #[arg(long, value_name = "URL", requires = "dest_admin")]
    pub dest: Option<String>,

    /// The destination admin that logs in on behalf of each TargetIdentity (with --dest).
    #[arg(long, value_name = "NAME", requires = "dest")]
    pub dest_admin: Option<String>,

    /// File whose first line is the destination admin's password. Without it the password is
    /// read from the environment variable CUTOVER_DEST_ADMIN_PASSWORD.
    #[arg(long, value_name = "FILE", requires = "dest")]
    pub dest_admin_password_file: Option<PathBuf>,

    /// How the admin acts for a mailbox at the destination, as for `cutover migrate`.
    #[arg(long, value_enum, default_value_t = LoginForm::Authzid)]
    pub dest_login_form: LoginForm,

    /// Separator of the master-user login name (with --dest-login-form master-separator).
    #[arg(long, value_name = "CHAR", default_value = "*")]
    pub master_separator: String,

    /// The destination's storage quota per mailbox, e.g. 50GB (binary units: 1 GB = 2^30
    /// bytes). Overrides the quota read from --dest.
    #[arg(long, value_name = "SIZE")]
    pub dest_quota: Option<String>,

    /// The largest message the destination accepts, e.g. 35MB. Overrides the APPENDLIMIT
    /// read from --dest.
    #[arg(long, value_name = "SIZE")]
    pub max_message_size: Option<String>,

    /// Extra trusted CA certificates (PEM), e.g. a private CA.
    #[arg(long, value_name = "PEM")]
    pub ca_file: Option<PathBuf>,

    /// Mailboxes assessed at the same time (one source and one destination connection each).
    #[arg(long, value_name = "N", default_value_t = 4)]
    pub parallel: usize,

    /// Write the assessment (JSON) to this file.
    #[arg(long, value_name = "FILE.json")]
    pub json: Option<PathBuf>,

    /// Accept any server certificate and host name. Only for throwaway test servers.
    #[arg(long)]
    pub danger_accept_invalid_certs: bool,

    /// Allow imap+plain:// (cleartext) servers: passwords cross the wire unencrypted.
    #[arg(long)]
    pub allow_plaintext: bool,

    /// The checkpoint file of `cutover migrate`, where failed logins are counted across runs
    /// (nothing else is written to it by an assessment).
    #[arg(long, value_name = "FILE", default_value = "cutover-state.sqlite")]
    pub state: PathBuf,

    /// Keep no checkpoint file: failed logins are counted for this run only.
    #[arg(long)]
    pub no_state: bool,

    /// Failed logins allowed per account and server within 15 minutes, as for `cutover migrate`.
    #[arg(long, value_name = "N", default_value_t = 2)]
    pub max_failed_logins: u32,
}

/// One mailbox to assess.
#[derive(Debug)]
pub struct AssessJob {
    /// SourceIdentity.
    pub source_identity: String,
    /// TargetIdentity.
    pub target_identity: String,
    /// The source login.
    pub source: Account,
    /// The destination login, when `--dest` was given.
    pub dest: Option<Account>,
    /// SourceRootFolder: only the folders `cutover migrate` would copy are assessed.
    pub source_root: Option<String>,
}

/// A validated `cutover assess`.
#[derive(Debug)]
pub struct AssessSettings {
    /// One job per row of the mailbox list, in list order.
    pub jobs: Vec<AssessJob>,
    /// Certificate checking.
    pub tls: TlsConfig,
    /// Mailboxes at once.
    pub parallel: usize,
    /// `--dest-quota`, in bytes.
    pub dest_quota: Option<u64>,
    /// `--max-message-size`, in bytes.
    pub max_message_size: Option<u64>,
    /// Where to write the JSON.
    pub json: Option<PathBuf>,
    /// Where failed logins are counted, unless `--no-state`.
    pub state: Option<PathBuf>,
    /// `--max-failed-logins` per 15 minutes.
    pub login_limit: LoginLimit,
}

impl AssessSettings {
    /// Validates `args`, every problem collected; `env` looks up environment variables.
    pub fn from_args(
        args: &AssessArgs,
        env: impl Fn(&str) -> Option<String>,
    ) -> Result<Self, BadInput> {
        let mut problems = Vec::new();
        let source = args.source.as_deref().and_then(|text| {
            server(text, "--source", args.allow_plaintext)
                .map_err(|p| problems.push(p))
                .ok()
        });
        let mut dest_login = None;
        if let Some(dest_text) = &args.dest {
            let dest = server(dest_text, "--dest", args.allow_plaintext)
                .map_err(|p| problems.push(p))
                .ok();
            let admin = args.dest_admin.as_deref().unwrap_or_default().trim();
            if admin.is_empty() {
                problems.push("--dest-admin is empty".into());
            }
            let form = login_form(args.dest_login_form, &args.master_separator)
                .map_err(|p| problems.push(p))
                .ok();
            let password = admin_password(args.dest_admin_password_file.as_deref(), &env)
                .map_err(|p| problems.push(p))
                .ok();
            if let (Some(dest), Some(form), Some(password)) = (dest, form, password) {
                dest_login = Some((dest, form, admin.to_string(), password));
            }
        }
        let size = |flag: &str, text: &Option<String>, problems: &mut Vec<String>| {
            let text = text.as_deref()?;
            match parse_size(text) {
                Ok(0) => {
                    problems.push(format!("{flag} {text:?}: must be more than 0 bytes"));
                    None
                }
                Ok(n) => Some(n),
                Err(e) => {
                    problems.push(format!("{flag} {e}"));
                    None
                }
            }
        };
        let dest_quota = size("--dest-quota", &args.dest_quota, &mut problems);
        let max_message_size = size("--max-message-size", &args.max_message_size, &mut problems);
        let tls = tls_config(args.ca_file.as_deref(), args.danger_accept_invalid_certs)
            .map_err(|p| problems.push(p))
            .ok();
        if args.parallel == 0 {
            problems.push("--parallel must be at least 1".into());
        }
        if args.max_failed_logins == 0 {
            problems.push("--max-failed-logins must be at least 1".into());
        }

        let origin = args.users.display().to_string();
        let rows = read_mailbox_list(&args.users, &mut problems);
        let source_flag = SourceFlag {
            given: args.source.is_some(),
            endpoint: source.as_ref(),
            allow_plaintext: args.allow_plaintext,
        };
        let mut jobs = Vec::new();
        for row in &rows {
            let Some(endpoint) = source_flag.endpoint_for(row, &origin, &mut problems) else {
                continue;
            };
            jobs.push(AssessJob {
                source_identity: row.source_identity.clone(),
                target_identity: row.target_identity.clone(),
                source: Account {
                    endpoint,
                    auth: Auth::Login {
                        user: row.source_login_id.clone(),
                        password: row.source_password.clone(),
                    },
                },
                dest: dest_login
                    .as_ref()
                    .map(|(dest, form, admin, password)| Account {
                        endpoint: dest.clone(),
                        auth: form.auth_for(&row.target_identity, admin, password),
                    }),
                source_root: row.source_root_folder.clone(),
            });
        }
        if !problems.is_empty() {
            return Err(BadInput { problems });
        }
        Ok(AssessSettings {
            jobs,
            tls: tls.expect("no problems means TLS was configured"),
            parallel: args.parallel,
            dest_quota,
            max_message_size,
            json: args.json.clone(),
            state: (!args.no_state).then(|| args.state.clone()),
            login_limit: LoginLimit {
                max_failed: args.max_failed_logins,
                ..LoginLimit::default()
            },
        })
    }
}

/// Runs a validated assessment; the result says whether every mailbox was assessed.
pub async fn run(settings: AssessSettings) -> anyhow::Result<bool> {
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
    let opts = Arc::new(ConnectOptions {
        tls,
        compress: CompressMode::Auto,
        compress_min_rtt: CopyOptions::default().compress_min_rtt,
        timeout: CopyOptions::default().io_timeout,
        logins: LoginGuard::new(settings.login_limit, store),
        local_address: None,
        budget: None,
    });
    let flags = Arc::new(FlagLimits {
        quota: settings.dest_quota,
        max_message_size: settings.max_message_size,
    });
    let permits = Arc::new(tokio::sync::Semaphore::new(settings.parallel));
    let mut tasks = tokio::task::JoinSet::new();
    let count = settings.jobs.len();
    for (index, job) in settings.jobs.into_iter().enumerate() {
        let (opts, flags, permits) = (opts.clone(), flags.clone(), permits.clone());
        tasks.spawn(async move {
            let _permit = permits.acquire_owned().await;
            (index, assess_one(&job, &opts, &flags).await)
        });
    }
    let mut slots: Vec<Option<MailboxAssessment>> = (0..count).map(|_| None).collect();
    while let Some(done) = tasks.join_next().await {
        let (index, assessment) = done.context("an assessment task failed")?;
        slots[index] = Some(assessment);
    }
    let mailboxes: Vec<MailboxAssessment> = slots.into_iter().flatten().collect();

    print!("{}", assess_table::render(&mailboxes));
    if let Some(path) = &settings.json {
        let json = serde_json::to_vec_pretty(&AssessmentFile {
            mailboxes: &mailboxes,
        })
        .context("cannot serialise the assessment")?;
        write_atomically(path, &json)
            .with_context(|| format!("cannot write the assessment {}", path.display()))?;
        println!("assessment written to {}", path.display());
    }
    Ok(mailboxes.iter().all(MailboxAssessment::complete))
}

/// The `--json` file: `{"mailboxes": [...]}`, fields in declaration order.
#[derive(serde::Serialize)]
struct AssessmentFile<'a> {
    mailboxes: &'a [MailboxAssessment],
}

/// `--dest-quota` and `--max-message-size`, which override what the destination says.
struct FlagLimits {
    quota: Option<u64>,
    max_message_size: Option<u64>,
}

/// Assesses one mailbox: the destination's limits first (they decide which messages are too
/// large), then the source. A destination that cannot be read leaves the source assessed.
async fn assess_one(
    job: &AssessJob,
    opts: &ConnectOptions,
    flags: &FlagLimits,
) -> MailboxAssessment {
    let mut limits = DestLimits::default();
    let mut dest_error = None;
    if let Some(dest) = &job.dest {
        match destination_limits(dest, opts).await {
            Ok(read) => limits = read,
            Err(e) => {
                tracing::warn!(mailbox = %job.source_identity, error = %e, "destination not read");
                dest_error = Some(e.to_string());
            }
        }
    }
    if let Some(limit_bytes) = flags.quota {
        limits.quota = Some(StorageQuota {
            limit_bytes,
            used_bytes: limits.quota.map_or(0, |q| q.used_bytes),
        });
    }
    if let Some(max) = flags.max_message_size {
        limits.max_message_bytes = Some(max);
    }
    let (source, target) = (&job.source_identity, &job.target_identity);
    let root = job.source_root.as_deref();
    let mut assessment =
        match inventory_mailbox(&job.source, opts, limits.max_message_bytes, root).await {
            Ok(inventory) => assess(source, target, &inventory, &limits),
            Err(e) => {
                tracing::warn!(mailbox = %source, error = %e, "source not read");
                MailboxAssessment::failed(source, target, &limits, e.to_string())
            }
        };
    assessment.dest_error = dest_error;
    assessment
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::args::{Cli, Command};
    use clap::Parser;

    const USERS: &str = "SourceIdentity,SourceLoginID,SourcePassword,TargetIdentity\n\
                         joe@a.com,joe,Joe-pw-1,joe@b.com\n";

    fn parse(dir: &tempfile::TempDir, extra: &[&str]) -> Result<AssessArgs, clap::Error> {
        let users = dir.path().join("users.csv");
        std::fs::write(&users, USERS).unwrap();
        let users = users.display().to_string();
        let mut argv = vec![
            "cutover",
            "assess",
            "--users",
            &users,
            "--source",
            "imaps://src.example",
        ];
        argv.extend_from_slice(extra);
        Cli::try_parse_from(argv).map(|cli| match cli.command {
            Command::Assess(a) => a,
            _ => unreachable!(),
        })
    }

    fn no_env(_: &str) -> Option<String> {
        None
    }

    #[test]
    fn without_destination_sizes_come_from_flags() {
        let dir = tempfile::tempdir().unwrap();
        let args = parse(
            &dir,
            &["--dest-quota", "50GB", "--max-message-size", "35MB"],
        )
        .unwrap();
        let s = AssessSettings::from_args(&args, no_env).unwrap();
        assert_eq!(s.dest_quota, Some(50 << 30));
        assert_eq!(s.max_message_size, Some(35 << 20));
        assert_eq!(s.jobs.len(), 1);
        assert!(s.jobs[0].dest.is_none());
        assert_eq!(s.jobs[0].target_identity, "joe@b.com");
        assert!(matches!(&s.jobs[0].source.auth, Auth::Login { user, .. } if user == "joe"));
    }

    #[test]
    fn destination_logs_in_as_admin_for_the_target() {
        let dir = tempfile::tempdir().unwrap();
        let args = parse(
            &dir,
            &["--dest", "imaps://dst.example", "--dest-admin", "admin"],
        )
        .unwrap();
        let env = |name: &str| (name == "CUTOVER_DEST_ADMIN_PASSWORD").then(|| "adm".to_string());
        let s = AssessSettings::from_args(&args, env).unwrap();
        let dest = s.jobs[0].dest.as_ref().unwrap();
        assert_eq!(dest.auth.mailbox_identity(), "joe@b.com");
        assert_eq!(dest.auth.login_identity(), "admin");
        let problems = AssessSettings::from_args(&args, no_env)
            .unwrap_err()
            .problems;
        assert!(
            problems[0].contains("CUTOVER_DEST_ADMIN_PASSWORD"),
            "{problems:?}"
        );
    }

    #[test]
    fn every_bad_flag_is_named() {
        let dir = tempfile::tempdir().unwrap();
        let args = parse(
            &dir,
            &[
                "--dest-quota",
                "lots",
                "--max-message-size",
                "0",
                "--parallel",
                "0",
            ],
        )
        .unwrap();
        let problems = AssessSettings::from_args(&args, no_env)
            .unwrap_err()
            .problems;
        assert_eq!(problems.len(), 3, "{problems:?}");
        assert!(
            problems[0].starts_with("--dest-quota \"lots\""),
            "{problems:?}"
        );
        assert!(
            problems[1].starts_with("--max-message-size \"0\""),
            "{problems:?}"
        );
        assert!(problems[2].contains("--parallel"), "{problems:?}");
        assert!(
            parse(&dir, &["--dest", "imaps://dst.example"]).is_err(),
            "--dest needs --dest-admin"
        );
    }
}
