//! What an incremental pass compares with the book: the flags a done message was copied or
//! last synced with, and each source folder's CONDSTORE mark (UIDVALIDITY, HIGHESTMODSEQ and
//! the message filter of its last clean pass). Pure, like the book.

use super::book::Book;
use super::{flag_set, FlagChange, SourceKey};
use crate::state::Op;

impl Book {
    /// Whether the flags of the done message `key` differ from `source` (its flags at the source
    /// now): then where to set them, and the flags to set (without `\Recent` and `\Deleted`).
    pub(crate) fn flag_change(&self, key: &SourceKey, source: &[String]) -> Option<FlagChange> {
        let info = self.done.get(key)?;
        let now = flag_set(source.iter().map(String::as_str));
        if flag_set(info.flags.split_whitespace()) == now {
            return None;
        }
        Some(FlagChange {
            key: key.clone(),
            dest_folder: info.dest_folder.clone(),
            dest_uid: info.dest_uid,
            dest_uidvalidity: info.dest_uidvalidity,
            flags: now.into_iter().collect(),
        })
    }

    /// The destination now has `flags` on the done message `key`.
    pub(crate) fn flags_synced(&mut self, key: &SourceKey, flags: &[String]) {
        let text = flags.join(" ");
        if let Some(info) = self.done.get_mut(key) {
            info.flags = text.clone();
        }
        if let Some(id) = self.folder_id(key) {
            self.record(Op::SetFlags {
                folder: id,
                uid: key.uid,
                flags: text,
            });
        }
    }

    /// The CONDSTORE mark (UIDVALIDITY, HIGHESTMODSEQ) of the source folder `folder`, if its
    /// last clean pass ran under the message filter `filter`.
    pub(crate) fn mark(&self, folder: &str, filter: &str) -> Option<(u32, u64)> {
        self.marks
            .get(folder)
            .filter(|(_, _, f)| f == filter)
            .map(|&(v, m, _)| (v, m))
    }

    /// A pass over `folder` ended with every message migrated or filtered out: records its
    /// marks for the next pass (`modseq` `None` clears the CONDSTORE mark).
    pub(crate) fn folder_synced(
        &mut self,
        folder: &str,
        uidvalidity: u32,
        highest_uid: u32,
        modseq: Option<u64>,
        filter: &str,
    ) {
        let key = SourceKey {
            folder: folder.to_string(),
            uidvalidity,
            uid: 0,
        };
        let Some(id) = self.folder_id(&key) else {
            return;
        };
        self.record(Op::FolderSynced {
            folder: id,
            highest_uid,
            highest_modseq: modseq,
            scan_filter: modseq.map(|_| filter.to_string()),
        });
        match modseq {
            Some(m) => self
                .marks
                .insert(folder.to_string(), (uidvalidity, m, filter.to_string())),
            None => self.marks.remove(folder),
        };
    }
}
