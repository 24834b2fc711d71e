//! `cutover verify`: after a pass, compare every mailbox of the list at the destination with
//! its source, through the same folder map, filters and address rewrite as `cutover migrate`,
//! and say what differs.
//!
//! Read-only on both sides (EXAMINE and BODY.PEEK, through
//! [`cutover_engine::verify::verify_mailbox`]). Lockout-safe like `check`: a rejected password
//! is tried once per run, failed logins counted in the state file. Exit status: 0 every mailbox
//! matches, 1 any differs or could not be read, 2 bad input. No secret reaches any output.

use crate::access::Access;
use crate::args::{DestAccessArgs, MappingArgs, SourceAccessArgs};
use crate::migrate::DANGER_WARNING;
use crate::settings::{
    apply_mapping, mailbox_jobs, read_mailbox_list_with, server, tls_config, BadInput, SourceFlag,
};
use anyhow::Context;
use cutover_engine::imap::TlsClient;
use cutover_engine::verify::{verify_mailbox, MailboxVerification};
use cutover_engine::{CopyOptions, MailboxJob, TlsConfig};
use serde::Serialize;
use std::fmt::Write;
use std::path::PathBuf;
use std::sync::Arc;

/// Differences of one kind listed per folder in the summary (the report has them all).
const SHOWN: usize = 10;

/// Flags of `cutover verify`: the inputs of `cutover migrate` that decide where mail goes.
#[derive(Debug, Clone, clap::Args)]
pub struct VerifyArgs {
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

    /// Where folders and messages go, exactly as given to `cutover migrate`.
    #[command(flatten)]
    pub mapping: MappingArgs,

    /// Mailboxes compared at the same time.
    #[arg(long, value_name = "N", default_value_t = 4)]
    pub parallel: usize,

    /// Write everything found (JSON) to this file.
    #[arg(long, value_name = "FILE.json")]
    pub report: Option<PathBuf>,

    /// The checkpoint file of `cutover migrate`, where failed logins are counted across runs
    /// (nothing else is written to it by a verify).
    #[arg(long, value_name = "FILE", default_value = "cutover-state.sqlite")]
    pub state: PathBuf,

    /// Keep no checkpoint file: failed logins are counted for this run only.
    #[arg(long)]
    pub no_state: bool,

    /// Accept any server certificate and host name. Only for throwaway test servers.
    #[arg(long)]
    pub danger_accept_invalid_certs: bool,

    /// Allow imap+plain:// (cleartext) servers: passwords and mail cross the wire unencrypted.
    #[arg(long)]
    pub allow_plaintext: bool,
}

/// A validated `cutover verify`.
#[derive(Debug)]
pub struct VerifySettings {
    /// One job per row of the list, in list order, as `cutover migrate` makes them.
    pub jobs: Vec<MailboxJob>,
    /// The folder map, filters and address rewrite (the rest of the options is unused).
    pub options: CopyOptions,
    /// Certificate checking.
    pub tls: TlsConfig,
    /// Mailboxes at once.
    pub parallel: usize,
    /// Where to write the JSON report.
    pub report: Option<PathBuf>,
    /// Where failed logins are counted, unless `--no-state`.
    pub state: Option<PathBuf>,
}

impl VerifySettings {
    /// Validates `args`, every problem collected; `env` looks up environment variables.
    pub fn from_args(
        args: &VerifyArgs,
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
        let mut options = CopyOptions::default();
        // One failure per credential owner and server: a rejected secret is never tried again.
        options.login_limit.max_failed = 1;
        apply_mapping(&args.mapping, &rows, &mut options, &mut problems);
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
        Ok(VerifySettings {
            jobs,
            options,
            tls: tls.expect("no problems means TLS was configured"),
            parallel: args.parallel,
            report: args.report.clone(),
            state: (!args.no_state).then(|| args.state.clone()),
        })
    }
}

/// The `--report` file.
#[derive(Serialize)]
struct VerifyReport<'a> {
    /// Every mailbox matches.
    ok: bool,
    mailboxes: Vec<MailboxEntry<'a>>,
}

#[derive(Serialize)]
struct MailboxEntry<'a> {
    ok: bool,
    #[serde(flatten)]
    verification: &'a MailboxVerification,
}

/// Runs a validated verify, prints the summary and writes the report; the result says whether
/// every mailbox matches.
pub async fn run(settings: VerifySettings) -> anyhow::Result<bool> {
    if settings.tls.danger_accept_invalid_certs {
        eprintln!("{DANGER_WARNING}");
    }
    let tls = TlsClient::new(&settings.tls).context("cannot set up TLS")?;
    let mut options = settings.options;
    if let Some(path) = &settings.state {
        let store = cutover_engine::state::StateStore::open(path)
            .await
            .map_err(|e| BadInput {
                problems: vec![format!("--state: {e}")],
            })?;
        options.state = Some(store);
    }
    let options = Arc::new(options);
    let permits = Arc::new(tokio::sync::Semaphore::new(settings.parallel));
    let mut tasks = tokio::task::JoinSet::new();
    let count = settings.jobs.len();
    for (index, job) in settings.jobs.into_iter().enumerate() {
        let (options, permits, tls) = (options.clone(), permits.clone(), tls.clone());
        tasks.spawn(async move {
            let _permit = permits.acquire_owned().await;
            (index, verify_mailbox(&job, &options, &tls).await)
        });
    }
    let mut slots: Vec<Option<MailboxVerification>> = (0..count).map(|_| None).collect();
    while let Some(done) = tasks.join_next().await {
        let (index, found) = done.context("a verify task failed")?;
        slots[index] = Some(found);
    }
    let results: Vec<MailboxVerification> = slots.into_iter().flatten().collect();
    let all_ok = results.iter().all(MailboxVerification::is_ok);
    print!("{}", render(&results));
    if let Some(path) = &settings.report {
        let report = VerifyReport {
            ok: all_ok,
            mailboxes: results
                .iter()
                .map(|v| MailboxEntry {
                    ok: v.is_ok(),
                    verification: v,
                })
                .collect(),
        };
        let json = serde_json::to_vec_pretty(&report).context("cannot serialise the report")?;
        crate::report_file::write_atomically(path, &json)
            .with_context(|| format!("cannot write the report {}", path.display()))?;
        println!("report: {}", path.display());
    }
    Ok(all_ok)
}

/// The summary: one line per mailbox, then for each that differs its folders' differences,
/// at most [`SHOWN`] of each kind with the count of the rest.
fn render(results: &[MailboxVerification]) -> String {
    let mut out = String::new();
    for m in results {
        let (expected, found, _) = m.totals();
        if let Some(e) = &m.error {
            let _ = writeln!(out, "{}: NOT VERIFIED: {e}", m.mailbox);
            continue;
        }
        let verdict = if m.is_ok() { "ok" } else { "DIFFERS" };
        let _ = writeln!(
            out,
            "{}: {verdict}: {} folders, {expected} messages expected, {found} at the destination",
            m.mailbox,
            m.folders.len()
        );
        for f in m.folders.iter().filter(|f| !f.is_ok()) {
            let _ = writeln!(
                out,
                "  {} (from {}): {} expected, {} found",
                f.dest,
                f.sources.join(", "),
                f.expected,
                f.found
            );
            if f.folder_missing {
                let _ = writeln!(out, "    the folder does not exist at the destination");
            }
            list(&mut out, "missing", f.missing.iter());
            list(&mut out, "duplicate", f.duplicates.iter());
            list(&mut out, "extra", f.extra.iter());
            list(
                &mut out,
                "flags differ",
                f.flag_differences.iter().map(|d| {
                    format!(
                        "{} -> UID {}: [{}] at the source, [{}] at the destination",
                        d.source,
                        d.dest_uid,
                        d.source_flags.join(" "),
                        d.dest_flags.join(" ")
                    )
                }),
            );
            list(
                &mut out,
                "date differs",
                f.date_differences.iter().map(|d| {
                    let or_none = |d: &Option<String>| d.clone().unwrap_or_else(|| "none".into());
                    format!(
                        "{} -> UID {}: {} at the source, {} at the destination",
                        d.source,
                        d.dest_uid,
                        or_none(&d.source_date),
                        or_none(&d.dest_date)
                    )
                }),
            );
            list(
                &mut out,
                "unreadable",
                f.unreadable
                    .iter()
                    .map(|u| format!("{} {} UID {}: {}", u.side, u.folder, u.uid, u.reason)),
            );
        }
        for u in &m.not_in_plan {
            let count = u
                .messages
                .map_or(String::new(), |n| format!(" ({n} messages)"));
            let _ = writeln!(out, "  not in the plan: {}{count}", u.folder);
        }
    }
    let ok = results.iter().filter(|m| m.is_ok()).count();
    let _ = writeln!(out, "{ok}/{} mailboxes match the source", results.len());
    out
}

/// `kind: item` lines, at most [`SHOWN`], then how many more.
fn list<T: std::fmt::Display>(
    out: &mut String,
    kind: &str,
    items: impl ExactSizeIterator<Item = T>,
) {
    let total = items.len();
    for item in items.take(SHOWN) {
        let _ = writeln!(out, "    {kind}: {item}");
    }
    if total > SHOWN {
        let _ = writeln!(
            out,
            "    ... and {} more {kind} (all in --report)",
            total - SHOWN
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use cutover_engine::verify::report::{FolderVerification, MessageRef, UnplannedFolder};

    fn message(uid: u32) -> MessageRef {
        MessageRef {
            folder: "INBOX".into(),
            uid,
            message_id: Some(format!("<{uid}@x>")),
            subject: None,
            size: 10,
        }
    }

    #[test]
    fn the_summary_says_ok_or_lists_capped_differences() {
        let ok = MailboxVerification {
            mailbox: "ann".into(),
            folders: vec![FolderVerification {
                dest: "INBOX".into(),
                sources: vec!["INBOX".into()],
                expected: 3,
                found: 3,
                matched: 3,
                ..FolderVerification::default()
            }],
            not_in_plan: vec![UnplannedFolder {
                folder: "Old".into(),
                messages: Some(2),
            }],
            ..MailboxVerification::default()
        };
        let differs = MailboxVerification {
            mailbox: "joe".into(),
            folders: vec![FolderVerification {
                dest: "Junk".into(),
                sources: vec!["Spam".into()],
                expected: 20,
                found: 3,
                matched: 3,
                missing: (1..=17).map(message).collect(),
                ..FolderVerification::default()
            }],
            ..MailboxVerification::default()
        };
        let broken = MailboxVerification {
            mailbox: "kim".into(),
            error: Some("credentials rejected for kim".into()),
            ..MailboxVerification::default()
        };
        let text = render(&[ok, differs, broken]);
        assert!(
            text.starts_with("ann: ok: 1 folders, 3 messages expected"),
            "{text}"
        );
        assert!(
            text.contains("  not in the plan: Old (2 messages)\n"),
            "{text}"
        );
        assert!(text.contains("joe: DIFFERS"), "{text}");
        assert!(
            text.contains("  Junk (from Spam): 20 expected, 3 found\n"),
            "{text}"
        );
        assert!(
            text.contains("    missing: INBOX UID 1 <1@x> (10 bytes)\n"),
            "{text}"
        );
        assert_eq!(text.matches("    missing: ").count(), SHOWN, "{text}");
        assert!(text.contains("... and 7 more missing"), "{text}");
        assert!(
            text.contains("kim: NOT VERIFIED: credentials rejected"),
            "{text}"
        );
        assert!(text.ends_with("1/3 mailboxes match the source\n"), "{text}");
    }
}
