//! The copy pipeline, the batch runner, and the read-only assessment that comes before them.

mod appender;
pub mod assess;
mod batch;
mod dest_lookup;
mod dest_rematch;
pub(crate) mod discovery;
mod fetcher;
mod job;
mod ledger;
mod mailbox;
mod progress_state;

pub use batch::run_batch;
pub use job::{Account, AppendMode, CompressMode, CopyOptions, MailboxJob};
pub use mailbox::{copy_mailbox, copy_mailbox_leased, plan_mailbox_folders, RunBudget};
