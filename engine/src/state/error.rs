//! Errors of the state store.

use std::path::PathBuf;

/// A state store error. Every one of them stops the run: without a trustworthy record the copier
/// could duplicate or lose mail, so none is retried silently.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The state file could not be opened or set up (permissions, not a database, locked, disk).
    #[error("cannot open the state file {path}: {source}")]
    Open {
        /// The state file.
        path: PathBuf,
        /// What SQLite said.
        #[source]
        source: rusqlite::Error,
    },
    /// The file is an SQLite database, but not one of cutover's.
    #[error("{path} is an SQLite database but not a cutover state file; refusing to change it")]
    NotAStateFile {
        /// The file.
        path: PathBuf,
    },
    /// The state file was written by a newer cutover; an older one must not guess at it.
    #[error(
        "the state file {path} has schema version {found}, newer than this cutover's \
         {supported}: run a newer cutover"
    )]
    NewerSchema {
        /// The file.
        path: PathBuf,
        /// The file's `user_version`.
        found: i64,
        /// The newest version this build knows.
        supported: i64,
    },
    /// A read or a write failed after opening.
    #[error("state store: {context}: {source}")]
    Sqlite {
        /// What was being done.
        context: &'static str,
        /// What SQLite said.
        #[source]
        source: rusqlite::Error,
    },
    /// A mailbox or batch status change that the state machine does not allow.
    #[error("{what}: cannot go from {from} to {to}")]
    InvalidTransition {
        /// The mailbox or batch.
        what: String,
        /// Its current status.
        from: String,
        /// The status asked for.
        to: String,
    },
    /// A change that breaks the recording protocol (a "done" without its intent, an intent for
    /// a message already migrated): the copier has a bug, and the whole batch is rolled back.
    #[error("folder #{folder} UID {uid}: {problem}")]
    Protocol {
        /// The source folder's store id.
        folder: i64,
        /// The source UID.
        uid: u32,
        /// What was wrong.
        problem: &'static str,
    },
    /// A mailbox or batch the store has no record of.
    #[error("state store: no record of {0}")]
    Unknown(String),
    /// The blocking task running a store call panicked or was cancelled.
    #[error("state store task failed: {0}")]
    Task(String),
}

/// Result with the state store's error.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Wraps an SQLite error with what was being done.
pub(crate) fn sql(context: &'static str) -> impl FnOnce(rusqlite::Error) -> Error {
    move |source| Error::Sqlite { context, source }
}
