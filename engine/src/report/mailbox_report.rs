//! The outcome of a move: per mailbox, per folder, with every skipped message and the velocity.

use serde::Serialize;
use std::time::Duration;

/// Why a message was not copied.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct MessageFailure {
    /// Source folder (decoded name).
    pub folder: String,
    /// Source UID.
    pub uid: u32,
    /// Size in bytes (RFC822.SIZE).
    pub size: u64,
    /// What the destination or the pipeline said.
    pub reason: String,
}

/// Figures for one folder.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct FolderReport {
    /// Source name, decoded (Unicode).
    pub source: String,
    /// Destination name, decoded.
    pub dest: String,
    /// The source's SPECIAL-USE attribute (`\Sent`, `\Trash`, ...), where it has one: what the
    /// folder is for, whatever its name (a later folder map sends it to the destination's own).
    pub special_use: Option<String>,
    /// Messages in the source folder that the filters selected: what should arrive.
    pub source_messages: u64,
    /// Bytes of those messages.
    pub source_bytes: u64,
    /// Messages acknowledged by the destination.
    pub copied_messages: u64,
    /// Bytes acknowledged by the destination.
    pub copied_bytes: u64,
    /// Messages skipped.
    pub failed_messages: u64,
    /// Messages the filters left out (not failures; not counted in `source_messages`).
    pub filtered: Filtered,
    /// The destination folder's UIDVALIDITY as APPENDUID reported it (UIDPLUS servers): a later
    /// pass that finds another value knows the folder was recreated.
    pub dest_uidvalidity: Option<u32>,
}

/// Messages left out by the message filters (`--since`/`--before`, `--max-message-size`,
/// `\Deleted`), by reason. Deliberate, so they never make a mailbox incomplete.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Filtered {
    /// Outside the date range (the source's SEARCH did not list them).
    pub outside_dates: u64,
    /// Larger than `--max-message-size`.
    pub too_large: u64,
    /// Flagged `\Deleted`.
    pub deleted: u64,
}

impl Filtered {
    /// All reasons together.
    pub fn total(&self) -> u64 {
        self.outside_dates + self.too_large + self.deleted
    }

    /// Adds `other`'s counts to these.
    pub fn add(&mut self, other: &Filtered) {
        self.outside_dates += other.outside_dates;
        self.too_large += other.too_large;
        self.deleted += other.deleted;
    }
}

/// How a mailbox ended.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case", tag = "state", content = "reason")]
pub enum MailboxOutcome {
    /// Every message copied or deliberately skipped (see failures).
    Completed,
    /// The mailbox stopped cleanly for a reason a rerun can fix once it is dealt with (the
    /// destination is full): what was copied is the newest mail, and `left` says what is not.
    Stopped(String),
    /// The mailbox stopped; the reason says why (login rejected, connection lost, ...).
    Failed(String),
}

/// Figures for one mailbox.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct MailboxReport {
    /// The mailbox's id (SourceIdentity).
    pub mailbox: String,
    /// How it ended.
    pub outcome: MailboxOutcome,
    /// Per-folder figures, in source LIST order.
    pub folders: Vec<FolderReport>,
    /// Messages acknowledged by the destination.
    pub copied_messages: u64,
    /// Bytes acknowledged by the destination.
    pub copied_bytes: u64,
    /// Skipped messages with reasons.
    pub failures: Vec<MessageFailure>,
    /// Messages the filters left out, summed over the folders.
    pub filtered: Filtered,
    /// Folders created at the destination.
    pub folders_created: u64,
    /// Subscriptions set at the destination.
    pub subscriptions_copied: u64,
    /// Whether COMPRESS=DEFLATE was on (source, destination).
    pub compressed: (bool, bool),
    /// How APPEND was framed at the destination (`multiappend`, `literal+`, ...).
    pub append_framing: String,
    /// APPEND commands the destination accepted; `copied_messages / append_commands` is the
    /// mean MULTIAPPEND batch, which decides much of the destination's CPU per message.
    pub append_commands: u64,
    /// Things the operator should know that did not stop anything (folders over the
    /// destination's item thresholds).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub warnings: Vec<String>,
    /// Messages found at the destination already, copied by another tool, and recorded instead
    /// of appended (`--adopt-existing`); counted in `copied_messages`.
    #[serde(skip_serializing_if = "is_zero")]
    pub adopted: u64,
    /// What this pass added to what earlier runs had copied (with a state store).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub incremental: Option<Incremental>,
    /// What a mailbox that stopped early left at the source, for a later run.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub left: Option<LeftBehind>,
    /// What the header address rewrite did, when the run asked for one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub address_rewrite: Option<AddressRewriteReport>,
    /// Wall time of the mailbox, login to logout.
    #[serde(with = "duration_secs")]
    pub elapsed: Duration,
}

/// A pass over a mailbox that earlier runs had copied (in part): what it changed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Incremental {
    /// Messages already at the destination before this pass (skipped).
    pub already_there: u64,
    /// Messages this pass copied (new at the source, or left by an earlier run).
    pub new_messages: u64,
    /// Messages whose flags changed at the source and were set at the destination.
    pub flags_updated: u64,
    /// Messages whose flags changed but could not be set: the destination UID is unknown (a
    /// server without UIDPLUS) or was learnt under another UIDVALIDITY (the destination folder
    /// was recreated), so it may name another message.
    pub flags_without_destination_uid: u64,
    /// Messages of a source folder whose UIDVALIDITY changed, recognised by content as copied
    /// already (re-keyed, not copied again).
    pub rematched_after_uidvalidity_change: u64,
    /// Destination folders whose UIDVALIDITY changed since messages were copied into them
    /// (deleted and recreated, restored): their messages were looked for again by content.
    pub recreated_destination_folders: u64,
    /// Messages found again in a recreated destination folder (not copied again).
    pub found_again_at_destination: u64,
    /// Messages a recreated destination folder no longer held: copied again by this pass
    /// (counted in `new_messages` too).
    pub lost_at_destination: u64,
    /// Messages copied again because the folder map now sends their folder elsewhere than the
    /// pass that copied them (the warnings say which folders, and whether the old ones still
    /// hold copies).
    pub moved_by_the_folder_map: u64,
    /// Source folders read by what changed since their last clean pass (CONDSTORE
    /// `CHANGEDSINCE`): new messages and flag changes only. Their `filtered` counts are this
    /// pass's changes only.
    pub folders_read_since_last_pass: u64,
    /// Of those, folders whose HIGHESTMODSEQ had not moved: nothing was read at all.
    pub folders_unchanged: u64,
}

/// The messages a stopped mailbox did not copy. The copy is newest first, so these are the
/// oldest: everything received before `oldest_copied` (guide 3.5.4.2).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LeftBehind {
    /// Messages not copied (neither acknowledged nor recorded as failed).
    pub messages: u64,
    /// Their bytes.
    pub bytes: u64,
    /// INTERNALDATE of the oldest message the destination acknowledged, RFC 3339.
    pub oldest_copied: Option<String>,
}

/// The header address rewrite of one mailbox: what changed, and what the directory did not know.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AddressRewriteReport {
    /// Messages whose header addresses changed.
    pub messages_rewritten: u64,
    /// Addresses replaced with SMTP ones.
    pub addresses_rewritten: u64,
    /// X.500 / IMCEA addresses left as they were because the directory did not resolve them
    /// (every occurrence).
    pub unresolved: u64,
    /// The most frequent of those, with their counts.
    pub most_frequent_unresolved: Vec<(String, u64)>,
}

impl MailboxReport {
    /// A report for a mailbox that failed before copying anything.
    pub fn failed(mailbox: &str, reason: String, elapsed: Duration) -> Self {
        MailboxReport {
            mailbox: mailbox.to_string(),
            outcome: MailboxOutcome::Failed(reason),
            folders: Vec::new(),
            copied_messages: 0,
            copied_bytes: 0,
            failures: Vec::new(),
            filtered: Filtered::default(),
            folders_created: 0,
            subscriptions_copied: 0,
            compressed: (false, false),
            append_framing: String::new(),
            append_commands: 0,
            left: None,
            incremental: None,
            warnings: Vec::new(),
            adopted: 0,
            address_rewrite: None,
            elapsed,
        }
    }
}

/// Figures for a whole run.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct BatchReport {
    /// One entry per mailbox, in list order.
    pub mailboxes: Vec<MailboxReport>,
    /// Wall time of the run.
    #[serde(with = "duration_secs")]
    pub elapsed: Duration,
    /// Summary figures.
    pub totals: Totals,
    /// Peaks of every egress address over the run (one entry, `egress: null`, when the system
    /// picked the source address).
    pub egress_peaks: Vec<crate::budget::EgressPeak>,
    /// The load of every egress address over time, sampled every
    /// [`BudgetConfig::sample_every`](crate::budget::BudgetConfig::sample_every).
    pub egress_load: Vec<crate::budget::LoadSample>,
}

/// Summary figures of a run, with velocity.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Totals {
    /// Mailboxes in the run.
    pub mailboxes: u64,
    /// Mailboxes that failed.
    pub mailboxes_failed: u64,
    /// Mailboxes that stopped cleanly before the end (destination full).
    pub mailboxes_stopped: u64,
    /// Messages copied.
    pub messages: u64,
    /// Bytes copied.
    pub bytes: u64,
    /// Messages skipped.
    pub failed_messages: u64,
    /// Messages the filters left out.
    pub filtered_messages: u64,
    /// Messages per second.
    pub msgs_per_sec: f64,
    /// Megabytes (10^6) per second.
    pub mb_per_sec: f64,
    /// Gigabytes (10^9) per hour, the seed's unit for migration velocity.
    pub gb_per_hour: f64,
}

impl BatchReport {
    /// Sums the mailbox reports.
    pub fn new(mailboxes: Vec<MailboxReport>, elapsed: Duration) -> Self {
        let mut t = Totals {
            mailboxes: mailboxes.len() as u64,
            ..Totals::default()
        };
        for m in &mailboxes {
            match m.outcome {
                MailboxOutcome::Failed(_) => t.mailboxes_failed += 1,
                MailboxOutcome::Stopped(_) => t.mailboxes_stopped += 1,
                MailboxOutcome::Completed => {}
            }
            t.messages += m.copied_messages;
            t.bytes += m.copied_bytes;
            t.failed_messages += m.failures.len() as u64;
            t.filtered_messages += m.filtered.total();
        }
        let secs = elapsed.as_secs_f64().max(1e-9);
        t.msgs_per_sec = t.messages as f64 / secs;
        t.mb_per_sec = t.bytes as f64 / 1e6 / secs;
        t.gb_per_hour = t.bytes as f64 / 1e9 / secs * 3600.0;
        BatchReport {
            mailboxes,
            elapsed,
            totals: t,
            egress_peaks: Vec::new(),
            egress_load: Vec::new(),
        }
    }

    /// True when every mailbox completed and no message was skipped.
    pub fn all_copied(&self) -> bool {
        self.totals.mailboxes_failed == 0
            && self.totals.mailboxes_stopped == 0
            && self.totals.failed_messages == 0
    }
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

mod duration_secs {
    use serde::Serializer;
    use std::time::Duration;

    pub fn serialize<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_f64(d.as_secs_f64())
    }
}
