//! Mailbox and batch statuses, as in the migration dashboard, and the transitions allowed between
//! them. Pure: the store calls [`check_transition`] before it writes a status.
//!
//! ```text
//! Created ─► Syncing ─► Synced ─► Completing ─► Completed ──(reopen only)──► Syncing
//!              ▲  │        │  ▲        │
//!              │  └────────┼──┘ (incremental passes: Synced ─► Syncing ─► Synced)
//!              │           ▼           ▼
//!   rerun ─────┴──── Stopped(reason), Failed(reason)   (from any status but Completed)
//! ```
//! Syncing ─► Syncing and Completing ─► Completing are allowed: a run that crashed left that
//! status behind, and the rerun resumes it.

use std::fmt;

/// Why a mailbox or batch stopped: it can be resumed once the cause is fixed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StopReason {
    /// The destination is over quota (guide 3.5.4.2): the newest mail is there, the rest is not.
    DestinationFull,
    /// The server rejected the credentials; not retried, accounts lock out (guide 3.4.2.3).
    CredentialsRejected,
    /// The operator stopped it (Ctrl-C, `cutover stop`).
    Operator,
    /// Anything else, in words.
    Other(String),
}

impl StopReason {
    /// The text stored in the state file and shown by `cutover status`.
    pub fn as_text(&self) -> &str {
        match self {
            StopReason::DestinationFull => "destination full",
            StopReason::CredentialsRejected => "credentials rejected",
            StopReason::Operator => "stopped by the operator",
            StopReason::Other(text) => text,
        }
    }

    /// The reason a stored text stands for (the inverse of [`StopReason::as_text`]).
    pub fn from_text(text: &str) -> Self {
        match text {
            "destination full" => StopReason::DestinationFull,
            "credentials rejected" => StopReason::CredentialsRejected,
            "stopped by the operator" => StopReason::Operator,
            other => StopReason::Other(other.to_string()),
        }
    }
}

/// The status of a mailbox or a batch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Status {
    /// Known, nothing copied yet.
    Created,
    /// A pass is copying.
    Syncing,
    /// A pass finished; incremental passes continue until completion.
    Synced,
    /// The final pass is running.
    Completing,
    /// Done for good; changing it again needs an explicit reopen.
    Completed,
    /// Stopped cleanly, resumable once the reason is dealt with.
    Stopped(StopReason),
    /// Failed with an error.
    Failed(String),
}

impl Status {
    /// The status column's value.
    pub fn name(&self) -> &'static str {
        match self {
            Status::Created => "created",
            Status::Syncing => "syncing",
            Status::Synced => "synced",
            Status::Completing => "completing",
            Status::Completed => "completed",
            Status::Stopped(_) => "stopped",
            Status::Failed(_) => "failed",
        }
    }

    /// The reason column's value.
    pub fn reason(&self) -> Option<&str> {
        match self {
            Status::Stopped(reason) => Some(reason.as_text()),
            Status::Failed(reason) => Some(reason),
            _ => None,
        }
    }

    /// The status stored as `name` and `reason`; `None` for a name this build does not know.
    pub fn from_columns(name: &str, reason: Option<String>) -> Option<Self> {
        let reason = reason.unwrap_or_default();
        Some(match name {
            "created" => Status::Created,
            "syncing" => Status::Syncing,
            "synced" => Status::Synced,
            "completing" => Status::Completing,
            "completed" => Status::Completed,
            "stopped" => Status::Stopped(StopReason::from_text(&reason)),
            "failed" => Status::Failed(reason),
            _ => return None,
        })
    }
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.reason() {
            Some(reason) => write!(f, "{}: {reason}", self.name()),
            None => f.write_str(self.name()),
        }
    }
}

/// Whether `from` may become `to`. Completed is final except through an explicit reopen, which
/// the store offers separately ([`super::StateDb::reopen_mailbox`]).
pub fn check_transition(from: &Status, to: &Status) -> bool {
    use Status::*;
    match (from, to) {
        (Completed, _) => false,
        (_, Stopped(_) | Failed(_)) => true,
        (Created | Syncing | Synced | Stopped(_) | Failed(_), Syncing) => true,
        (Syncing, Synced) => true,
        (Synced | Completing, Completing) => true,
        (Completing, Completed) => true,
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use Status::*;

    #[test]
    fn the_dashboard_path_is_allowed() {
        let path = [
            Created, Syncing, Synced, Syncing, Synced, Completing, Completed,
        ];
        for pair in path.windows(2) {
            assert!(check_transition(&pair[0], &pair[1]), "{pair:?}");
        }
    }

    #[test]
    fn completed_is_final_and_nothing_skips_a_pass() {
        for to in [Syncing, Synced, Completing, Stopped(StopReason::Operator)] {
            assert!(!check_transition(&Completed, &to), "{to:?}");
        }
        assert!(!check_transition(&Created, &Synced));
        assert!(!check_transition(&Created, &Completed));
        assert!(!check_transition(&Syncing, &Completed));
        assert!(!check_transition(
            &Stopped(StopReason::DestinationFull),
            &Synced
        ));
    }

    #[test]
    fn a_crashed_pass_resumes_in_place_and_stops_resume_through_syncing() {
        assert!(check_transition(&Syncing, &Syncing));
        assert!(check_transition(&Completing, &Completing));
        assert!(check_transition(
            &Stopped(StopReason::DestinationFull),
            &Syncing
        ));
        assert!(check_transition(&Failed("x".into()), &Syncing));
    }

    #[test]
    fn status_columns_round_trip() {
        for status in [
            Created,
            Completed,
            Stopped(StopReason::DestinationFull),
            Stopped(StopReason::Other("no permission".into())),
            Failed("boom".into()),
        ] {
            let back = Status::from_columns(status.name(), status.reason().map(String::from));
            assert_eq!(back, Some(status));
        }
        assert_eq!(Status::from_columns("paused", None), None);
    }
}
