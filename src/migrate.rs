//! `cutover migrate`: runs the batch with the engine, shows progress, prints the summary, writes
//! the report, and turns the outcome into the exit status.

use crate::batch_lifecycle::{self, Refused};
use crate::progress_ui::{Display, ProgressUi};
use crate::settings::{BadInput, MigrateSettings};
use crate::{report_file, summary};
use cutover_engine::imap::TlsClient;
use cutover_engine::{plan_mailbox_folders, run_batch, BatchReport};
use std::path::Path;

/// The warning printed whenever certificate verification is off.
pub const DANGER_WARNING: &str = "\
WARNING: --danger-accept-invalid-certs: server certificates and host names are NOT checked.
WARNING: anyone on the path can read every password and message of this run.";

/// The run was stopped by Ctrl-C (after its summary and report): exit status 130.
#[derive(Debug)]
pub struct Interrupted;

impl std::fmt::Display for Interrupted {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("interrupted")
    }
}

impl std::error::Error for Interrupted {}

/// Ctrl-C: the first stops the run cleanly (the APPENDs in flight are answered and booked, the
/// mailboxes log out, the summary and report are written); a second aborts the process at once.
fn stop_on_ctrl_c(shutdown: tokio_util::sync::CancellationToken) {
    tokio::spawn(async move {
        if tokio::signal::ctrl_c().await.is_err() {
            return; // no signal handling here: Ctrl-C keeps its default, immediate effect
        }
        eprintln!(
            "cutover: stopping: the APPENDs in flight are being answered, then every mailbox \
             logs out (Ctrl-C again to abort at once)"
        );
        shutdown.cancel();
        if tokio::signal::ctrl_c().await.is_ok() {
            eprintln!(
                "cutover: aborted at once: no summary or report; the destination may hold messages this run did not book"
            );
            std::process::exit(130);
        }
    });
}

/// Runs a validated migration; the result says whether every message was copied.
pub async fn run(settings: MigrateSettings) -> anyhow::Result<bool> {
    if settings.tls.danger_accept_invalid_certs {
        eprintln!("{DANGER_WARNING}");
    }
    if let Some(note) = identity_rewrite_note(&settings) {
        tracing::info!("{note}");
    }
    if settings.dry_run {
        return dry_run(&settings).await;
    }
    let mut settings = settings;
    let mut batch = None;
    if let Some(path) = &settings.state {
        let store = cutover_engine::state::StateStore::open(path)
            .await
            .map_err(|e| BadInput {
                problems: vec![format!("--state: {e}")],
            })?;
        if let Some(plan) = settings.batch.take() {
            let jobs = std::mem::take(&mut settings.jobs);
            let begun = batch_lifecycle::begin(&store, &plan, jobs).await?.map_err(
                |Refused(problem)| BadInput {
                    problems: vec![problem],
                },
            )?;
            settings.jobs = begun.jobs;
            if settings.jobs.is_empty() {
                println!("every mailbox of the list is completed: nothing to copy");
                print!(
                    "{}",
                    batch_lifecycle::render_end(&plan, &begun.status, &begun.skipped)
                );
                return Ok(true);
            }
            batch = Some((plan, begun.skipped));
        }
        settings.options.state = Some(store);
    }
    let store = settings.options.state.clone();
    let shutdown = settings.options.shutdown.clone();
    stop_on_ctrl_c(shutdown.clone());
    let ui = ProgressUi::new(Display::detect(settings.quiet), settings.jobs.len());
    tracing::info!(
        mailboxes = settings.jobs.len(),
        parallel = settings.parallel,
        "starting"
    );
    let report = run_batch(
        settings.jobs,
        settings.options,
        settings.tls,
        settings.parallel,
        ui.sink(),
    )
    .await;
    ui.finish();
    finish(&report, settings.report.as_deref())?;
    if let (Some((plan, skipped)), Some(store)) = (&batch, &store) {
        let status = batch_lifecycle::end(store, plan, shutdown.is_cancelled()).await?;
        print!("{}", batch_lifecycle::render_end(plan, &status, skipped));
    }
    if shutdown.is_cancelled() {
        return Err(Interrupted.into());
    }
    Ok(report.all_copied())
}

/// `--dry-run`: each mailbox's folder plan, source name to destination name; nothing is created
/// or copied. `Ok(false)` when a mailbox could not be planned (it says why).
async fn dry_run(settings: &MigrateSettings) -> anyhow::Result<bool> {
    let tls = TlsClient::new(&settings.tls)?;
    let mut all_planned = true;
    for job in &settings.jobs {
        match plan_mailbox_folders(job, &settings.options, &tls).await {
            Ok(plans) => {
                println!("{}: {} folders", job.id, plans.len());
                let width = plans.iter().map(|p| p.source_name.chars().count()).max();
                for p in &plans {
                    let merged = plans.iter().filter(|q| q.dest_wire == p.dest_wire).count() > 1;
                    println!(
                        "  {:<w$} -> {}{}",
                        p.source_name,
                        p.dest_name,
                        if merged { "  (merged)" } else { "" },
                        w = width.unwrap_or(0)
                    );
                }
            }
            Err(e) => {
                all_planned = false;
                println!("{}: cannot plan: {e}", job.id);
            }
        }
    }
    if let Some(note) = identity_rewrite_note(settings) {
        println!("{note}");
    }
    println!("dry run: nothing was created or copied");
    Ok(all_planned)
}

/// Says that the mailbox list's renames will be applied to header addresses, when they will:
/// it happens without a flag, so the dry run and the log say so.
fn identity_rewrite_note(settings: &MigrateSettings) -> Option<String> {
    let rewriter = settings.options.address_rewriter.as_ref()?;
    let renamed = rewriter.identities().len();
    (renamed > 0).then(|| {
        format!(
            "address rewrite: {renamed} renamed identit{} from the mailbox list (TargetIdentity \
             replaces SourceIdentity) in every mailbox's headers; --no-identity-rewrite turns \
             this off",
            if renamed == 1 { "y" } else { "ies" }
        )
    })
}

/// Prints the summary and writes the report file (shared with `demo`).
pub fn finish(report: &BatchReport, report_path: Option<&Path>) -> anyhow::Result<()> {
    let written = match report_path {
        Some(path) => report_file::write_report(path, report).map(|()| Some(path)),
        None => Ok(None),
    };
    print!(
        "{}",
        summary::render(report, written.as_ref().ok().copied().flatten())
    );
    written.map(|_| ())
}
