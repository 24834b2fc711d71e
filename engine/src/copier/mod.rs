//! The copy pipeline, the batch runner, and the read-only assessment that comes before them.

mod appender;
pub mod assess;
mod batch;
mod dest_folders;
pub(crate) mod discovery;
mod fetcher;
mod flag_sync;
mod isolation;
mod job;
mod ledger;
mod mailbox;
mod pipeline;
mod progress_state;
mod suspects;
mod warnings;

pub use batch::run_batch;
pub use job::{Account, AppendMode, CompressMode, CopyOptions, MailboxJob};
pub(crate) use ledger::flag_set;
pub use ledger::RemapPolicy;
pub use mailbox::{copy_mailbox, copy_mailbox_leased, plan_mailbox_folders, RunBudget};
