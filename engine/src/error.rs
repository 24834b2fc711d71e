//! Errors of the engine, each classified once: retry, skip the message, or stop the mailbox.

use std::io;

/// What the caller should do about an error.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Disposition {
    /// Transient (dropped connection, throttled, timeout): try again, later or elsewhere.
    Retry,
    /// This message cannot be copied (too large, rejected content): record it and go on.
    SkipMessage,
    /// The mailbox cannot go on (credentials rejected, no such folder, TLS refused).
    StopMailbox,
}

/// An engine error.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// TCP connect or I/O failed.
    #[error("{context}: {source}")]
    Io {
        /// What was being done, with the server address.
        context: String,
        /// The I/O error.
        #[source]
        source: io::Error,
    },
    /// TLS could not be set up (handshake, certificate, CA file).
    #[error("{context}: TLS: {message}")]
    Tls {
        /// What was being done.
        context: String,
        /// Why it failed.
        message: String,
    },
    /// The server refused the credentials. Never retried: accounts lock out (guide 3.4.2.3).
    #[error("credentials rejected for {identity} at {server}: {message}")]
    AuthRejected {
        /// The server.
        server: String,
        /// The login identity (never the password).
        identity: String,
        /// The server's text.
        message: String,
    },
    /// Too many logins of this account failed lately: no attempt was made, so that the server
    /// does not lock the account ([`crate::imap::LoginGuard`]).
    #[error(
        "credentials rejected for {identity} at {server}: {failed} failed logins in the last \
         {window_minutes} minutes; not trying again before {} UTC to avoid the server's lockout",
        .until.format("%H:%M")
    )]
    LoginLimitReached {
        /// The server.
        server: String,
        /// The credential owner whose failures are counted (the admin of a proxy login; never
        /// the password).
        identity: String,
        /// Failed logins counted within the window.
        failed: u32,
        /// The window, in minutes.
        window_minutes: i64,
        /// When the account may be tried again (rounded up to the minute).
        until: chrono::DateTime<chrono::Utc>,
    },
    /// The server lacks something we need (STARTTLS, a SASL mechanism).
    #[error("{server}: {message}")]
    Unsupported {
        /// The server.
        server: String,
        /// What is missing.
        message: String,
    },
    /// The server answered NO or BAD to a command.
    #[error("{server}: {command} failed: {message}")]
    Command {
        /// The server.
        server: String,
        /// The command (without arguments that could hold secrets).
        command: String,
        /// The server's text.
        message: String,
    },
    /// The server sent something we could not make sense of.
    #[error("{server}: protocol error: {message}")]
    Protocol {
        /// The server.
        server: String,
        /// What was wrong.
        message: String,
    },
    /// The mailbox's SourceRootFolder names no folder at the source: nothing would be copied.
    #[error(
        "{server}: SourceRootFolder {root:?} is not a folder at the source, nor the parent of one"
    )]
    SourceRootNotFound {
        /// The source server.
        server: String,
        /// The SourceRootFolder as the mailbox list gives it.
        root: String,
    },
    /// No progress within the I/O timeout.
    #[error("{context}: timed out")]
    Timeout {
        /// What was being done.
        context: String,
    },
    /// The state store (checkpoints) failed: going on could lose track of what was copied.
    #[error("state store: {message}")]
    State {
        /// What failed, with the file named.
        message: String,
    },
    /// The folder map sends folders elsewhere than when their messages were copied, and the old
    /// destination folders still hold those copies: the mailbox waits for a choice rather than
    /// copy them twice or count them as where they are not.
    #[error(
        "the folder map changed since the last pass: {moves}; run with --remap copy to copy \
         them to their new folders (the old ones keep their copies), or put the old map back"
    )]
    FolderMapChanged {
        /// Each moved folder: source, old and new destination, messages the old one holds.
        moves: String,
    },
    /// The connection failed while the source was sending a window's bodies (Dovecot drops it
    /// mid-answer on a damaged message, with no tagged NO): which messages had not arrived, so
    /// that the next attempt can read them one at a time ([`crate::copier`]'s suspects).
    #[error("{source} (reading {folder}, {} message(s) not received)", .unreceived.len())]
    FetchDropped {
        /// The source folder (wire name).
        folder: String,
        /// UIDs of the window whose bodies had not arrived.
        unreceived: Vec<u32>,
        /// What failed (a dropped connection, a timeout, a BYE).
        #[source]
        source: Box<Error>,
    },
    /// The source dropped the connection on several messages in a row, each asked for alone
    /// twice, and delivered nothing between them: it is not serving this mailbox. Stops the
    /// mailbox before the login count grows (guide 3.4.2.3).
    #[error(
        "the source dropped the connection on {} messages in a row, each asked for alone twice, \
         and delivered none in between: giving up on the mailbox (UIDs {}; last: {last})",
        .unreadable.len(),
        .unreadable.iter().map(|(f, u)| format!("{f}:{u}")).collect::<Vec<_>>().join(", ")
    )]
    SourceKeepsDropping {
        /// The messages found unreadable in a row, as (folder wire name, UID).
        unreadable: Vec<(String, u32)>,
        /// The last failure.
        #[source]
        last: Box<Error>,
    },
    /// The run was asked to stop (Ctrl-C, [`CopyOptions::shutdown`](crate::CopyOptions)) before
    /// this was done.
    #[error("interrupted: {context}")]
    Interrupted {
        /// What was left undone.
        context: String,
    },
}

impl Error {
    /// The one place that decides what an error means for the run.
    pub fn disposition(&self) -> Disposition {
        match self {
            Error::Io { .. } | Error::Timeout { .. } => Disposition::Retry,
            Error::Protocol { .. } => Disposition::Retry,
            Error::Tls { .. }
            | Error::AuthRejected { .. }
            | Error::LoginLimitReached { .. }
            | Error::Unsupported { .. }
            | Error::Interrupted { .. }
            | Error::State { .. }
            | Error::FolderMapChanged { .. }
            | Error::SourceRootNotFound { .. }
            | Error::SourceKeepsDropping { .. } => Disposition::StopMailbox,
            Error::FetchDropped { source, .. } => source.disposition(),
            Error::Command {
                message, command, ..
            } => {
                let m = message.to_ascii_uppercase();
                let login_limit = command == "LOGIN" && m.contains("[LIMIT]");
                if login_limit
                    || m.contains("[THROTTLED]")
                    || m.contains("[UNAVAILABLE]")
                    || m.contains("[INUSE]")
                    || m.contains("SUGGESTED BACKOFF")
                {
                    Disposition::Retry
                } else if self.is_over_quota()
                    || m.contains("[TRYCREATE]")
                    || m.contains("[NONEXISTENT]")
                {
                    Disposition::StopMailbox
                } else {
                    Disposition::SkipMessage
                }
            }
        }
    }
}

impl Error {
    /// Whether the connection ended in the middle of a response (end of stream with part of a
    /// response read): the server stopped while answering, as Dovecot does on a damaged
    /// message; not a refusal before the answer began (a write that failed, a BYE, a timeout).
    pub fn is_cut_mid_response(&self) -> bool {
        match self {
            Error::Io { source, .. } => source.kind() == io::ErrorKind::UnexpectedEof,
            Error::FetchDropped { source, .. } => source.is_cut_mid_response(),
            _ => false,
        }
    }

    /// Whether the server refused because the account is full: the `[OVERQUOTA]` response code
    /// (RFC 5530), or a NO whose text speaks of quota (older servers). Stops the mailbox, not
    /// the run: the copy is newest first, so the newest mail is there.
    pub fn is_over_quota(&self) -> bool {
        match self {
            Error::Command { message, .. } => message.to_ascii_uppercase().contains("QUOTA"),
            _ => false,
        }
    }
}

/// Result with the engine's error.
pub type Result<T, E = Error> = std::result::Result<T, E>;
