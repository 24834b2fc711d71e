//! `verify`: compares a migrated mailbox's destination with its source, read-only, through the
//! same folder plan, filters and address rewrite as the copier.
//!
//! - [`compare`]: the pure part: one destination folder against the source messages mapped onto
//!   it, as multisets of content fingerprints, then flags and INTERNALDATE of the pairs.
//! - [`read`]: the IMAP part: EXAMINE and `BODY.PEEK[]` only, one body in memory at a time.
//! - [`report`]: what was found, serialisable as JSON.
//!
//! A mailbox verifies when every planned destination folder exists and holds exactly the
//! source messages the filters keep (no message missing, extra or twice; flags and dates
//! equal) and nothing could not be read. Destination folders outside the plan are listed but
//! never make a mailbox fail.

pub mod compare;
pub mod message_label;
pub mod read;
pub mod report;

pub use read::verify_mailbox;
pub use report::{FolderVerification, MailboxVerification};
