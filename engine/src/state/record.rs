//! What the store records about messages, and the batch that carries records into one transaction.

use super::fingerprint::{Fingerprint, MessageIdHash};
use chrono::{DateTime, Utc};

/// A source folder incarnation (mailbox, folder name, UIDVALIDITY) as the store numbers it.
/// Obtained from [`super::StateDb::folder`]; only meaningful for the store that issued it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct FolderId(pub(crate) i64);

impl FolderId {
    /// The row id, for messages and logs.
    pub fn get(self) -> i64 {
        self.0
    }
}

/// One source message: the key in its folder plus what identifies its content.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MessageFacts {
    /// The source UID in the folder's UIDVALIDITY.
    pub uid: u32,
    /// RFC822.SIZE at the source.
    pub size: u64,
    /// SHA-256 of the source bytes as fetched.
    pub fingerprint: Fingerprint,
    /// Bytes sent to the destination (after header rewrite; equal to `size` when unchanged).
    /// Reconciliation compares it with the destination's RFC822.SIZE.
    pub sent_size: u64,
    /// SHA-256 of the bytes sent; equal to `fingerprint` when nothing was rewritten. Re-matching
    /// after a destination UIDVALIDITY change uses it.
    pub sent_fingerprint: Fingerprint,
    /// Hash of the Message-ID header, when the message has one.
    pub message_id: Option<MessageIdHash>,
    /// INTERNALDATE at the source ("oldest date copied" when a mailbox stops).
    pub internal_date: Option<DateTime<Utc>>,
    /// Flags as last synced, space-separated (`\Seen \Flagged $Label1`).
    pub flags: String,
}

/// Where the destination put a message, as far as it said.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Destination {
    /// The destination folder name.
    pub folder: String,
    /// The destination folder's UIDVALIDITY, when known (APPENDUID or SELECT).
    pub uidvalidity: Option<u32>,
    /// The destination UID, when APPENDUID (UIDPLUS) gave it.
    pub uid: Option<u32>,
}

/// Written and committed before an APPEND batch is sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Intent {
    /// The source folder.
    pub folder: FolderId,
    /// The message.
    pub facts: MessageFacts,
    /// The destination folder name.
    pub dest_folder: String,
    /// The destination folder's UIDVALIDITY, when known before sending.
    pub dest_uidvalidity: Option<u32>,
    /// UIDNEXT of the destination folder seen before the batch: whatever this batch stored has a
    /// UID at or above it, which bounds the reconciliation search.
    pub dest_uidnext: Option<u32>,
    /// When the intent was recorded.
    pub created_at: DateTime<Utc>,
}

/// A migrated message: the destination said OK (or reconciliation found it there).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MessageRecord {
    /// The source folder.
    pub folder: FolderId,
    /// The message.
    pub facts: MessageFacts,
    /// Where it went.
    pub dest: Destination,
    /// When it was recorded as migrated.
    pub done_at: DateTime<Utc>,
}

/// A migrated message as a later pass sees it (see [`super::StateDb::done_records`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DoneRecord {
    /// The source UID.
    pub uid: u32,
    /// Bytes sent.
    pub sent_size: u64,
    /// Flags as last synced, space-separated.
    pub flags: String,
    /// The destination folder.
    pub dest_folder: String,
    /// The destination UID, when known (APPENDUID or reconciliation).
    pub dest_uid: Option<u32>,
    /// The destination folder's UIDVALIDITY when the UID was learnt, if known.
    pub dest_uidvalidity: Option<u32>,
}

/// One source folder incarnation and its incremental-pass marks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FolderState {
    /// The store's id.
    pub id: FolderId,
    /// The source folder name.
    pub name: String,
    /// The source UIDVALIDITY of this incarnation.
    pub uidvalidity: u32,
    /// The highest source UID a finished pass has seen; the next pass fetches above it.
    pub highest_uid: u32,
    /// HIGHESTMODSEQ at the last finished pass (CONDSTORE), for CHANGEDSINCE: every message of
    /// the folder with a lower mod-sequence was migrated or left out by [`Self::scan_filter`].
    /// Cleared when a record of the folder is forgotten or cancelled.
    pub highest_modseq: Option<u64>,
    /// The message filter that pass applied (its signature): the mark holds only under it.
    pub scan_filter: Option<String>,
    /// When a pass last finished on this folder.
    pub synced_at: Option<DateTime<Utc>>,
}

/// The source UIDs of one folder that are recorded as migrated, sorted: resume skips them.
/// A sorted vector: 4 bytes a UID, binary search, 100k UIDs in 400 KB.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct UidSet(Vec<u32>);

impl UidSet {
    /// From UIDs in any order, duplicates removed.
    pub fn from_unsorted(mut uids: Vec<u32>) -> Self {
        uids.sort_unstable();
        uids.dedup();
        UidSet(uids)
    }

    /// Whether `uid` is recorded.
    pub fn contains(&self, uid: u32) -> bool {
        self.0.binary_search(&uid).is_ok()
    }

    /// How many UIDs.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The UIDs, ascending.
    pub fn iter(&self) -> impl Iterator<Item = u32> + '_ {
        self.0.iter().copied()
    }
}

/// One change in a [`RecordBatch`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Op {
    /// Record an intent (before sending).
    Intend(Intent),
    /// The destination said OK for this intent: turn it into a message record.
    Done {
        /// The source folder.
        folder: FolderId,
        /// The source UID.
        uid: u32,
        /// The destination folder's UIDVALIDITY, when APPENDUID gave it.
        dest_uidvalidity: Option<u32>,
        /// The destination UID, when APPENDUID gave it.
        dest_uid: Option<u32>,
    },
    /// The destination said NO (or reconciliation found nothing): forget the intent.
    Cancel {
        /// The source folder.
        folder: FolderId,
        /// The source UID.
        uid: u32,
    },
    /// Record a message found at the destination without an APPEND of ours in this run
    /// (reconciliation, `--adopt-existing`); replaces any intent for the same key.
    Adopt(MessageRecord),
    /// The source folder's UIDVALIDITY changed: move a record to its new key (found by
    /// fingerprint).
    Rekey {
        /// The old folder incarnation.
        from_folder: FolderId,
        /// The old UID.
        from_uid: u32,
        /// The new folder incarnation.
        to_folder: FolderId,
        /// The new UID.
        to_uid: u32,
    },
    /// The destination side changed (a destination UIDVALIDITY change, re-matched): store the new
    /// location.
    SetDestination {
        /// The source folder.
        folder: FolderId,
        /// The source UID.
        uid: u32,
        /// The new location.
        dest: Destination,
    },
    /// The destination no longer holds a migrated message (its folder was recreated without
    /// it, found by fingerprint): the record goes, and the message is copied again.
    Forget {
        /// The source folder.
        folder: FolderId,
        /// The source UID.
        uid: u32,
    },
    /// The flags of a migrated message were synced.
    SetFlags {
        /// The source folder.
        folder: FolderId,
        /// The source UID.
        uid: u32,
        /// The flags now at the destination.
        flags: String,
    },
    /// A pass over the folder finished with every message migrated or filtered out: the marks
    /// of the next incremental pass (the mod-sequence mark is replaced, `None` clears it).
    FolderSynced {
        /// The folder.
        folder: FolderId,
        /// The highest source UID seen.
        highest_uid: u32,
        /// HIGHESTMODSEQ at the start of the pass, with CONDSTORE.
        highest_modseq: Option<u64>,
        /// The signature of the message filter of the pass.
        scan_filter: Option<String>,
    },
}

/// Records gathered by the copier and committed in one transaction by
/// [`super::StateDb::commit`]: all of them or none. Nothing is written until then, so a batch
/// dropped without commit (or a crash before it) leaves no trace.
///
/// The copier commits one batch per APPEND batch: the intents before sending, the `done`s when
/// the tagged OKs arrive.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RecordBatch {
    pub(crate) ops: Vec<Op>,
}

impl RecordBatch {
    /// An empty batch.
    pub fn new() -> Self {
        RecordBatch::default()
    }

    /// Adds a change.
    pub fn push(&mut self, op: Op) {
        self.ops.push(op);
    }

    /// Adds an intent.
    pub fn intend(&mut self, intent: Intent) {
        self.push(Op::Intend(intent));
    }

    /// Marks an intent done: the destination's tagged OK arrived.
    pub fn done(
        &mut self,
        folder: FolderId,
        uid: u32,
        dest_uidvalidity: Option<u32>,
        dest_uid: Option<u32>,
    ) {
        self.push(Op::Done {
            folder,
            uid,
            dest_uidvalidity,
            dest_uid,
        });
    }

    /// Drops an intent: the destination refused the message.
    pub fn cancel(&mut self, folder: FolderId, uid: u32) {
        self.push(Op::Cancel { folder, uid });
    }

    /// How many changes are waiting.
    pub fn len(&self) -> usize {
        self.ops.len()
    }

    /// Whether nothing is waiting.
    pub fn is_empty(&self) -> bool {
        self.ops.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uid_set_sorts_dedups_and_finds() {
        let set = UidSet::from_unsorted(vec![9, 3, 7, 3]);
        assert_eq!(set.iter().collect::<Vec<_>>(), [3, 7, 9]);
        assert!(set.contains(7));
        assert!(!set.contains(8));
        assert_eq!(set.len(), 3);
    }
}
