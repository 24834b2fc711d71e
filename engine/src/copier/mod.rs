//! The copy pipeline and the batch runner.

mod batch;
mod job;
mod mailbox;

pub use batch::run_batch;
pub use job::{Account, AppendMode, CompressMode, CopyOptions, MailboxJob};
pub use mailbox::copy_mailbox;
