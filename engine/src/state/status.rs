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
//!
//! The final pass (`cutover migrate --complete`) may start from any status but Completed: it is
//! a whole pass that copies whatever is missing, so a mailbox that stopped (destination full,
//! Ctrl-C) or failed goes back to Completing when it is retried, as it goes back to Syncing on a
//! plain rerun. Completed still follows only Completing, i.e. a final pass that ended cleanly.

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
        (_, Completing) => true,
        (Completing, Completed) => true,
        _ => false,
    }
}

/// A batch's status after a pass, from the statuses of its mailboxes (a mailbox skipped because
/// it is Completed counts as Completed). The worst wins:
/// 1. any mailbox Failed: the batch is Failed (how many, in words);
/// 2. any mailbox Stopped: the batch is Stopped, for the operator's reason when that is every
///    stopped mailbox's reason, else with how many stopped;
/// 3. after a final pass (`final_pass`): Completed when every mailbox is Completed;
/// 4. after a plain pass: Synced when every mailbox is Synced or Completed.
///
/// A mailbox left in any other status (a pass that could not record its end) makes the batch
/// Stopped, saying how many did not finish: never Synced or Completed on a guess.
pub fn batch_status(mailboxes: &[Status], final_pass: bool) -> Status {
    let total = mailboxes.len();
    let count = |f: fn(&Status) -> bool| mailboxes.iter().filter(|s| f(s)).count();
    let of = |n: usize, what: &str| format!("{n} of {total} mailbox(es) {what}");
    let failed = count(|s| matches!(s, Status::Failed(_)));
    if failed > 0 {
        return Status::Failed(of(failed, "failed"));
    }
    let stopped = count(|s| matches!(s, Status::Stopped(_)));
    let by_operator = count(|s| matches!(s, Status::Stopped(StopReason::Operator)));
    if stopped > 0 && stopped == by_operator {
        return Status::Stopped(StopReason::Operator);
    }
    if stopped > 0 {
        return Status::Stopped(StopReason::Other(of(stopped, "stopped")));
    }
    let (done, target, what): (fn(&Status) -> bool, _, _) = if final_pass {
        (
            |s| matches!(s, Status::Completed),
            Status::Completed,
            "not completed",
        )
    } else {
        (
            |s| matches!(s, Status::Synced | Status::Completed),
            Status::Synced,
            "not synced",
        )
    };
    match total - count(done) {
        0 => target,
        n => Status::Stopped(StopReason::Other(of(n, what))),
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
    fn a_final_pass_starts_from_anything_but_completed() {
        for from in [
            Created,
            Syncing,
            Synced,
            Completing,
            Stopped(StopReason::DestinationFull),
            Failed("x".into()),
        ] {
            assert!(check_transition(&from, &Completing), "{from:?}");
        }
        assert!(!check_transition(&Completed, &Completing));
        assert!(!check_transition(&Completing, &Synced));
        assert!(!check_transition(&Completing, &Syncing));
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

    #[test]
    fn a_batch_is_as_bad_as_its_worst_mailbox() {
        let full = || Stopped(StopReason::DestinationFull);
        assert_eq!(batch_status(&[Synced, Synced], false), Synced);
        assert_eq!(batch_status(&[Synced, Completed], false), Synced);
        assert_eq!(batch_status(&[Completed, Completed], true), Completed);
        assert_eq!(
            batch_status(&[Synced, full(), Failed("boom".into())], false),
            Failed("1 of 3 mailbox(es) failed".into())
        );
        assert_eq!(
            batch_status(&[Completed, full()], true),
            Stopped(StopReason::Other("1 of 2 mailbox(es) stopped".into()))
        );
        assert_eq!(
            batch_status(&[Synced, Stopped(StopReason::Operator)], false),
            Stopped(StopReason::Operator)
        );
    }

    #[test]
    fn a_batch_is_never_done_on_a_guess() {
        assert_eq!(
            batch_status(&[Completed, Synced], true),
            Stopped(StopReason::Other("1 of 2 mailbox(es) not completed".into()))
        );
        assert_eq!(
            batch_status(&[Synced, Syncing], false),
            Stopped(StopReason::Other("1 of 2 mailbox(es) not synced".into()))
        );
    }
}
