//! What a verify found, per mailbox and per destination folder: plain data, serialisable as the
//! `--report` JSON. No secret is ever part of it (folder names, UIDs, Message-IDs, subjects,
//! sizes, flags and dates only).

use serde::Serialize;

/// One message as a report names it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct MessageRef {
    /// Its folder (decoded name): the source folder for a missing message, the destination
    /// folder for an extra or duplicate one.
    pub folder: String,
    /// Its UID in that folder.
    pub uid: u32,
    /// Its Message-ID, if it has one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message_id: Option<String>,
    /// Its subject, if it has one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub subject: Option<String>,
    /// Its size in bytes, as read.
    pub size: u64,
}

impl std::fmt::Display for MessageRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} UID {}", self.folder, self.uid)?;
        match (&self.message_id, &self.subject) {
            (Some(id), _) => write!(f, " {id}")?,
            (None, Some(subject)) => write!(f, " \"{subject}\"")?,
            (None, None) => {}
        }
        write!(f, " ({} bytes)", self.size)
    }
}

/// A message whose copy has other flags than the source (compared as the ledger does).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FlagDifference {
    /// The source message.
    pub source: MessageRef,
    /// Its copy's UID in the destination folder.
    pub dest_uid: u32,
    /// The source's flags, as compared.
    pub source_flags: Vec<String>,
    /// The copy's flags, as compared.
    pub dest_flags: Vec<String>,
}

/// A message whose copy has another INTERNALDATE than the source.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DateDifference {
    /// The source message.
    pub source: MessageRef,
    /// Its copy's UID in the destination folder.
    pub dest_uid: u32,
    /// The source's INTERNALDATE (RFC 3339), if it has one.
    pub source_date: Option<String>,
    /// The copy's INTERNALDATE (RFC 3339), if it has one.
    pub dest_date: Option<String>,
}

/// A message one side would not give (its metadata or its body).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Unreadable {
    /// `source` or `dest`.
    pub side: &'static str,
    /// Its folder (decoded name).
    pub folder: String,
    /// Its UID.
    pub uid: u32,
    /// Why, as the server or the connection said.
    pub reason: String,
}

/// One destination folder compared with the source folders the plan maps onto it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct FolderVerification {
    /// The destination folder (decoded name).
    pub dest: String,
    /// The source folders mapped onto it (decoded names), in plan order.
    pub sources: Vec<String>,
    /// The destination folder does not exist.
    pub folder_missing: bool,
    /// Source messages the filters keep: what the destination should hold.
    pub expected: u64,
    /// Messages the destination folder holds.
    pub found: u64,
    /// Expected messages found (by content).
    pub matched: u64,
    /// Expected messages not at the destination (source folder and UID).
    pub missing: Vec<MessageRef>,
    /// Destination messages whose content no source message has.
    pub extra: Vec<MessageRef>,
    /// Destination messages beyond as many copies as the source has.
    pub duplicates: Vec<MessageRef>,
    /// Copies whose flags differ.
    pub flag_differences: Vec<FlagDifference>,
    /// Copies whose INTERNALDATE differs.
    pub date_differences: Vec<DateDifference>,
    /// Messages that could not be read on either side: they cannot be compared.
    pub unreadable: Vec<Unreadable>,
}

impl FolderVerification {
    /// Whether the destination folder holds exactly what the source folders send to it.
    pub fn is_ok(&self) -> bool {
        !self.folder_missing
            && self.missing.is_empty()
            && self.extra.is_empty()
            && self.duplicates.is_empty()
            && self.flag_differences.is_empty()
            && self.date_differences.is_empty()
            && self.unreadable.is_empty()
    }
}

/// Source messages the filters leave out: not expected at the destination.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct FilteredOut {
    /// Outside `--since`/`--before` (the source's SEARCH left them out).
    pub outside_dates: u64,
    /// Flagged `\Deleted` (without `--include-deleted`).
    pub deleted: u64,
    /// Larger than `--max-message-size`.
    pub too_large: u64,
}

/// A destination folder that no source folder maps to: listed, never a failure (it may hold
/// an earlier folder map's copies, or mail the user filed at the destination).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct UnplannedFolder {
    /// Its name (decoded).
    pub folder: String,
    /// Messages in it, if the server said.
    pub messages: Option<u64>,
}

/// One mailbox of the list compared.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct MailboxVerification {
    /// The mailbox (the list's SourceIdentity).
    pub mailbox: String,
    /// Why it could not be compared (login refused, connection lost...), if so.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// Each destination folder of the plan, in plan order.
    pub folders: Vec<FolderVerification>,
    /// Destination folders outside the plan.
    pub not_in_plan: Vec<UnplannedFolder>,
    /// What the filters left out at the source.
    pub filtered: FilteredOut,
}

impl MailboxVerification {
    /// Whether every folder matches and the mailbox could be read at all.
    pub fn is_ok(&self) -> bool {
        self.error.is_none() && self.folders.iter().all(FolderVerification::is_ok)
    }

    /// Totals over the folders: (expected, found, matched).
    pub fn totals(&self) -> (u64, u64, u64) {
        self.folders.iter().fold((0, 0, 0), |(e, f, m), v| {
            (e + v.expected, f + v.found, m + v.matched)
        })
    }
}
