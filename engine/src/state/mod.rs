//! The checkpoint store: what is safely at the destination, kept in an embedded SQLite file
//! (`--state PATH`) so a run that crashed, was stopped or is an incremental pass knows what to
//! skip, what to reconcile and what to copy.
//!
//! SQLite (through `rusqlite`, the library compiled in) rather than redb: one file and no server,
//! like redb, but with secondary indexes (fingerprint look-ups) and ad-hoc queries for
//! `cutover status`, a second process can read while a run writes (WAL; redb locks the file to
//! one process), and an operator can inspect the file with the `sqlite3` shell.
//!
//! # Invariants
//! 1. **A message counts as migrated only after the destination's tagged OK** for its APPEND
//!    (or after reconciliation found it at the destination): only then does it get a `message`
//!    record, and only `message` records are skipped on resume.
//! 2. **Intent before APPEND.** Before an APPEND batch is sent, an intent per message (source key,
//!    sizes, fingerprints, Message-ID hash, destination folder and the UIDNEXT seen before) is
//!    committed. The OK turns it into a `message` record; a NO deletes it. A pending intent on
//!    resume marks the gap between the OK and the record (crash, link lost after the literal):
//!    it is reconciled against the destination, never blindly re-sent. The store enforces the
//!    order: a "done" without an intent, or an intent for a migrated message, fails the batch.
//! 3. **Batches are atomic.** A [`RecordBatch`] is committed in one transaction: after any crash
//!    the file holds every change of a batch or none.
//! 4. **Commits are durable before the next step.** WAL with `synchronous=FULL`: when
//!    [`StateDb::commit`] returns, the batch survives a power cut, not only a killed process. A
//!    lost intent would let a resumed run send a message the destination may already hold (a
//!    duplicate); `synchronous=NORMAL` could lose the last commits on power loss, so it is not
//!    used. The cost is one fsync per commit, i.e. two per APPEND batch.
//! 5. **Records are never re-copied on a UIDVALIDITY change.** A folder incarnation is (mailbox,
//!    folder, UIDVALIDITY); when it changes the old records stay and are re-matched by fingerprint
//!    (SHA-256 of the source bytes, or of the bytes sent for the destination side).
//! 6. **High-water marks only move up**: a folder's highest UID seen never decreases.
//! 7. **A Completed mailbox stays Completed** unless explicitly reopened
//!    ([`StateDb::reopen_mailbox`]); other status changes follow [`check_transition`].
//! 8. **A login attempt is counted before it is made** ([`StateDb::reserve_login`]), so at most
//!    N failed logins per account per window happen across connections, processes and runs.
//! 9. The schema version is `PRAGMA user_version`; a file newer than this build is refused.

mod db;
mod egress;
mod error;
mod fingerprint;
mod logins;
mod mailboxes;
mod messages;
mod record;
mod schema;
mod status;
mod store;
#[cfg(test)]
mod test_support;

pub use db::StateDb;
pub use error::{Error, Result};
pub use fingerprint::{Fingerprint, MessageIdHash};
pub use logins::{LoginAttempt, LoginReservation};
pub use mailboxes::{BatchState, Leftover, MailboxState};
pub use messages::CopiedTotals;
pub use record::{
    Destination, DoneRecord, FolderId, FolderState, Intent, MessageFacts, MessageRecord, Op,
    RecordBatch, UidSet,
};
pub use schema::{APPLICATION_ID, SCHEMA_VERSION};
pub use status::{batch_status, check_transition, Status, StopReason};
pub use store::StateStore;
