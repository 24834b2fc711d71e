//! The copy pipeline and the batch runner.

mod appender;
mod batch;
mod discovery;
mod fetcher;
mod job;
mod mailbox;
mod progress_state;

pub use batch::run_batch;
pub use job::{Account, AppendMode, CompressMode, CopyOptions, MailboxJob};
pub use mailbox::{copy_mailbox, RunBudget};
