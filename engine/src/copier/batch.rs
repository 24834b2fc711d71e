//! Runs many mailboxes, a bounded number at a time.

use super::job::{CopyOptions, MailboxJob};
use crate::imap::{TlsClient, TlsConfig};
use crate::report::{BatchReport, MailboxOutcome, MailboxReport, ProgressSink};
use std::sync::Arc;
use std::time::Instant;

/// Moves every mailbox of `jobs`, at most `parallel` at once, and reports on each.
///
/// A mailbox that fails does not stop the others; its report says why.
pub async fn run_batch(
    jobs: Vec<MailboxJob>,
    options: CopyOptions,
    tls: TlsConfig,
    parallel: usize,
    progress: ProgressSink,
) -> BatchReport {
    let started = Instant::now();
    let options = Arc::new(options);
    let tls = match TlsClient::new(&tls) {
        Ok(client) => Arc::new(client),
        Err(e) => {
            let reports = jobs
                .iter()
                .map(|j| MailboxReport::failed(&j.id, e.to_string(), started.elapsed()))
                .collect();
            return BatchReport::new(reports, started.elapsed());
        }
    };
    let slots = Arc::new(tokio::sync::Semaphore::new(parallel.max(1)));
    let budget = super::mailbox::RunBudget::new(options.run_bytes_in_flight);
    let mut tasks = Vec::with_capacity(jobs.len());
    let ids: Vec<String> = jobs.iter().map(|j| j.id.clone()).collect();
    for (index, job) in jobs.into_iter().enumerate() {
        let (options, tls, slots, progress, budget) = (
            options.clone(),
            tls.clone(),
            slots.clone(),
            progress.clone(),
            budget.clone(),
        );
        tasks.push(tokio::spawn(async move {
            let _slot = slots.acquire_owned().await.expect("semaphore never closed");
            if options.shutdown.is_cancelled() {
                let mut report = MailboxReport::failed(&job.id, String::new(), Default::default());
                report.outcome = MailboxOutcome::Stopped("interrupted: not started".into());
                return report;
            }
            super::mailbox::copy_mailbox(index, &job, &options, &tls, &budget, progress).await
        }));
    }
    let mut reports: Vec<MailboxReport> = Vec::with_capacity(tasks.len());
    for (task, id) in tasks.into_iter().zip(&ids) {
        // A bug that panics one mailbox's task must not take the other mailboxes' reports along.
        reports.push(task.await.unwrap_or_else(|e| {
            MailboxReport::failed(id, format!("internal error: {e}"), started.elapsed())
        }));
    }
    BatchReport::new(reports, started.elapsed())
}
