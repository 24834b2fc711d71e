//! Progress events, per-mailbox and per-folder figures, velocity.

mod mailbox_report;
mod progress;

pub use mailbox_report::{
    AddressRewriteReport, BatchReport, Filtered, FolderReport, Incremental, LeftBehind,
    MailboxOutcome, MailboxReport, MessageFailure, Totals,
};
pub use progress::{NoProgress, Phase, Progress, ProgressObserver, ProgressSink};
