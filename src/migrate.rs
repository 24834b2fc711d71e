//! `cutover migrate`: runs the batch with the engine, shows progress, prints the summary, writes
//! the report, and turns the outcome into the exit status.

use crate::progress_ui::{Display, ProgressUi};
use crate::settings::MigrateSettings;
use crate::{report_file, summary};
use cutover_engine::{run_batch, BatchReport};
use std::path::Path;

/// The warning printed whenever certificate verification is off.
pub const DANGER_WARNING: &str = "\
WARNING: --danger-accept-invalid-certs: server certificates and host names are NOT checked.
WARNING: anyone on the path can read every password and message of this run.";

/// Runs a validated migration; the result says whether every message was copied.
pub async fn run(settings: MigrateSettings) -> anyhow::Result<bool> {
    if settings.tls.danger_accept_invalid_certs {
        eprintln!("{DANGER_WARNING}");
    }
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
    Ok(report.all_copied())
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
