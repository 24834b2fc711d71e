//! One mailbox, end to end: plan, copy, report.

use super::job::{CopyOptions, MailboxJob};
use crate::imap::TlsConfig;
use crate::report::{MailboxReport, ProgressSink};
use std::time::Instant;

/// Moves one mailbox. Never panics on server behaviour; failures land in the report.
pub async fn copy_mailbox(
    _index: usize,
    job: &MailboxJob,
    _options: &CopyOptions,
    _tls: &TlsConfig,
    _progress: ProgressSink,
) -> MailboxReport {
    let started = Instant::now();
    MailboxReport::failed(&job.id, "not implemented yet".into(), started.elapsed())
}
