//! What one mailbox's destination holds, kept across attempts and runs so that a dropped
//! connection costs a reconnect, a crash costs a look at the destination, and neither ever
//! costs a lost or a duplicated message.
//!
//! - [`book`]: the pure state machine (done, in flight, pending, floors) and its invariants;
//!   [`marks`] (flags, CONDSTORE marks), [`settle`] (what a look at the destination decides)
//!   and [`recheck`] (records the plan or the destination changed) add its rules.
//! - [`owner`]: the one task that owns a book; workers send it acknowledgements.
//! - [`persist`]: the state store side; [`reconcile`], [`recheck`] and [`dest_lookup`]: the IMAP
//!   side; [`arrivals`]: recognising sent messages among what a destination folder holds.

mod arrivals;
mod book;
mod dest_lookup;
mod marks;
#[cfg(test)]
mod model_tests;
mod owner;
mod persist;
mod recheck;
mod reconcile;
mod settle;

pub(crate) use owner::Ledger;
pub use recheck::RemapPolicy;
pub(crate) use recheck::{recheck_destination, revalidate_map, Moved};
pub(crate) use reconcile::{adopt_index, reconcile, register_folders, rematch, AdoptIndex};

use crate::plan::order::MessageMeta;
use crate::state::{Fingerprint, MessageFacts, MessageIdHash};
use chrono::Utc;

/// A source message, the same across attempts and runs: its folder (wire name), the folder's
/// UIDVALIDITY, and its UID.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SourceKey {
    /// Source folder, wire name.
    pub folder: String,
    /// The source folder's UIDVALIDITY (0 when the server gave none).
    pub uidvalidity: u32,
    /// Source UID.
    pub uid: u32,
}

/// A message as sent to the destination: what it takes to recognise it there.
#[derive(Debug, Clone)]
pub struct SentMessage {
    /// Which source message it is.
    pub key: SourceKey,
    /// Destination folder, wire name.
    pub dest_folder: String,
    /// Sizes, fingerprints, Message-ID hash, date and flags (as the state store keeps them).
    pub facts: MessageFacts,
}

impl SentMessage {
    /// Describes the source message `key` (`meta`, bytes `source`), appended to `dest_folder` as
    /// `sent` (the same bytes unless a header rewrite changed them).
    pub fn new(
        key: SourceKey,
        dest_folder: &str,
        meta: &MessageMeta,
        source: &[u8],
        sent: &[u8],
    ) -> Self {
        let fingerprint = Fingerprint::of(source);
        let sent_fingerprint = match std::ptr::eq(source, sent) {
            true => fingerprint,
            false => Fingerprint::of(sent),
        };
        SentMessage {
            facts: MessageFacts {
                uid: key.uid,
                size: source.len() as u64,
                fingerprint,
                sent_size: sent.len() as u64,
                sent_fingerprint,
                message_id: MessageIdHash::of_message(sent),
                internal_date: meta.internaldate.map(|d| d.with_timezone(&Utc)),
                flags: meta.flags.join(" "),
            },
            key,
            dest_folder: dest_folder.to_string(),
        }
    }
}

/// A done message whose flags changed at the source since they were copied.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FlagChange {
    /// The message.
    pub key: SourceKey,
    /// Destination folder, wire name.
    pub dest_folder: String,
    /// Destination UID; without it the flags cannot be set.
    pub dest_uid: Option<u32>,
    /// The destination folder's UIDVALIDITY when the UID was learnt, if known.
    pub dest_uidvalidity: Option<u32>,
    /// The flags to set (all of them, replacing the destination's).
    pub flags: Vec<String>,
}

/// Flags as compared between passes: sorted, without `\Recent` and `\Deleted`, system flags
/// case-insensitively.
pub(crate) fn flag_set<'a>(
    flags: impl Iterator<Item = &'a str>,
) -> std::collections::BTreeSet<String> {
    flags
        .filter(|f| !f.eq_ignore_ascii_case("\\Recent") && !f.eq_ignore_ascii_case("\\Deleted"))
        .map(|f| match f.starts_with('\\') {
            true => {
                let mut c = f.to_ascii_lowercase();
                if let Some(first) = c.get_mut(1..2) {
                    first.make_ascii_uppercase();
                }
                c
            }
            false => f.to_string(),
        })
        .collect()
}
