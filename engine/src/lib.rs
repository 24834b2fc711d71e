//! cutover-engine: moves whole mailboxes from one IMAP server to another, newest first,
//! pipelined, over TLS.
//!
//! ```text
//! plan: LIST, EXAMINE, UID FETCH (UID INTERNALDATE RFC822.SIZE FLAGS) of every folder
//!   └─► newest first across the mailbox ─► windows ─► source connections: UID FETCH BODY.PEEK[]
//!         (bounded by bytes in flight)        └─► destination connections: pipelined APPEND /
//!                                                 MULTIAPPEND, one writer per folder, in order
//! ```
//! The source is opened with EXAMINE and read with BODY.PEEK: it is never modified.
//!
//! - [`transform::folder_map`]: which destination folder each source folder goes to
//!   (Foldermap.xml, a TOML form with regex rules, the built-in default map, SPECIAL-USE).
//! - [`transform::address_rewrite`]: Exchange X.500 / IMCEA header addresses to SMTP, keeping
//!   every other byte.
//! - [`state`]: the checkpoint store (embedded SQLite): what is safely at the destination, for
//!   resume, reconciliation and incremental passes.

pub mod budget;
pub mod copier;
pub mod error;
pub mod imap;
pub mod plan;
pub mod report;
pub mod secret;
pub mod state;
pub mod transform;
pub mod verify;

pub use copier::{
    copy_mailbox, plan_mailbox_folders, run_batch, Account, AppendMode, CompressMode, CopyOptions,
    MailboxJob, RemapPolicy,
};
pub use error::{Disposition, Error, Result};
pub use imap::{Auth, BearerMechanism, Endpoint, ProxyLoginForm, Security, TlsConfig};
pub use report::{BatchReport, MailboxReport, Progress, ProgressObserver};
pub use secret::Secret;

/// The README's Rust examples, compiled as doctests so they stay true.
#[doc = include_str!("../../README.md")]
#[cfg(doctest)]
pub struct ReadmeDoctests;
