//! The book's rules for messages whose fate a look at the destination decides: pending
//! APPENDs settled by what a destination folder holds ([`Book::settle`]), done messages of a
//! recreated destination folder found again or forgotten ([`Book::refind`]), and messages of
//! a recreated source folder re-matched by content ([`Book::rematch`]). Pure, like the book:
//! the IMAP side hands in what it read.

use super::arrivals::{Arrivals, Arrived};
use super::book::{Book, Floor};
use super::{SentMessage, SourceKey};
use crate::state::{Fingerprint, FolderId, MessageFacts, MessageRecord, Op};
use chrono::{DateTime, Utc};
use std::collections::{HashMap, HashSet};

impl Book {
    /// The pending messages, taken, by destination folder with the folder's floor, in folder
    /// order: to look for at the destination ([`settle`](Self::settle) each folder), from the
    /// floor up if the folder still has the floor's UIDVALIDITY, else from UID 1.
    pub(crate) fn take_pending(&mut self) -> Vec<(String, Floor, Vec<SentMessage>)> {
        let mut by_folder: HashMap<String, Vec<SentMessage>> = HashMap::new();
        for m in std::mem::take(&mut self.pending) {
            by_folder.entry(m.dest_folder.clone()).or_default().push(m);
        }
        let mut folders: Vec<_> = by_folder
            .into_iter()
            .map(|(f, ms)| {
                let floor = (self.floor.get(&f).copied())
                    .map(|fl| Floor {
                        uid: fl.uid.max(1),
                        ..fl
                    })
                    .unwrap_or(Floor {
                        uid: 1,
                        validity: None,
                    });
                (f, floor, ms)
            })
            .collect();
        folders.sort_by(|a, b| a.0.cmp(&b.0));
        folders
    }

    /// Pending messages that could not be looked for (the destination failed): still pending,
    /// never taken for missing.
    pub(crate) fn restore_pending(&mut self, messages: Vec<SentMessage>) {
        self.pending.extend(messages);
    }

    /// What `folder` of the destination holds from its floor up (`there`, read under
    /// `validity`; `contents` the fingerprints of the candidates without Message-ID) settles its
    /// pending `messages`: found ones are done, the others abandoned (sent again). Returns
    /// (found, missing).
    pub(crate) fn settle(
        &mut self,
        folder: &str,
        validity: Option<u32>,
        messages: Vec<SentMessage>,
        there: &[Arrived],
        contents: &HashMap<u32, Fingerprint>,
    ) -> (u64, u64) {
        // Settled already: sent twice by attempts that both failed.
        let messages: Vec<SentMessage> = messages
            .into_iter()
            .filter(|m| !self.done.contains_key(&m.key))
            .collect();
        let mut taken = self.claimed(folder, validity);
        let facts: Vec<&MessageFacts> = messages.iter().map(|m| &m.facts).collect();
        let matched = Arrivals::new(there).match_all(&facts, contents, &mut taken);
        let (mut found, mut missing) = (0, 0);
        for (m, uid) in messages.into_iter().zip(matched) {
            match uid {
                Some(uid) => {
                    found += 1;
                    self.book(m, validity, Some(uid));
                }
                None => {
                    missing += 1;
                    self.abandon(&m.key);
                }
            }
        }
        let above = there
            .iter()
            .map(|a| a.uid)
            .max()
            .map_or(1, |m| m.saturating_add(1));
        let floor = self.floor.entry(folder.to_string()).or_insert(Floor {
            uid: above,
            validity,
        });
        *floor = floor.raised(above, validity);
        (found, missing)
    }

    /// The UIDs of `dest_folder` under `validity` that done messages are known to hold: not to
    /// be taken for another message.
    fn claimed(&self, dest_folder: &str, validity: Option<u32>) -> HashSet<u32> {
        (self.done.values())
            .filter(|i| i.dest_folder == dest_folder && i.dest_uidvalidity == validity)
            .filter_map(|i| i.dest_uid)
            .collect()
    }

    /// Whether the source folder `folder` had messages copied under another UIDVALIDITY: its
    /// messages are then recognised by content ([`rematch`](Self::rematch)).
    pub(crate) fn needs_rematch(&self, folder: &str, uidvalidity: u32) -> bool {
        self.incarnations
            .get(folder)
            .is_some_and(|v| v.iter().any(|(uv, _)| *uv != uidvalidity))
    }

    /// Among `messages` of a source folder whose UIDVALIDITY changed, those copied before under
    /// the old one (`found[i]`: the store's records with the same source fingerprint as
    /// `messages[i]`): re-keyed and counted done. The keys returned are not to be sent.
    pub(crate) fn rematch(
        &mut self,
        messages: &[SentMessage],
        found: Vec<Vec<MessageRecord>>,
    ) -> HashSet<SourceKey> {
        let mut matched = HashSet::new();
        let Some(by_id) = self.validities_by_id() else {
            return matched;
        };
        for (m, records) in messages.iter().zip(found) {
            let Some(to_folder) = self.folder_id(&m.key) else {
                continue;
            };
            if self.done.contains_key(&m.key) {
                continue;
            }
            let old: Vec<FolderId> = (self.incarnations.get(&m.key.folder).into_iter().flatten())
                .filter(|(uv, _)| *uv != m.key.uidvalidity)
                .map(|(_, id)| *id)
                .collect();
            let old_key = |r: &MessageRecord| SourceKey {
                folder: m.key.folder.clone(),
                uidvalidity: by_id[&r.folder],
                uid: r.facts.uid,
            };
            // An old record not yet claimed by another message of this run, of the same
            // INTERNALDATE (a folder recreated keeps its messages' dates; identical bytes with
            // another date are another message, copied rather than taken for this one).
            let same_date = |r: &MessageRecord| match (r.facts.internal_date, m.facts.internal_date)
            {
                (Some(a), Some(b)) => a == b,
                _ => true,
            };
            let Some(record) = records.into_iter().find(|r| {
                old.contains(&r.folder)
                    && by_id.contains_key(&r.folder)
                    && same_date(r)
                    && self.done.contains_key(&old_key(r))
            }) else {
                continue;
            };
            let info = self.done.remove(&old_key(&record)).expect("checked above");
            self.done.insert(m.key.clone(), info);
            self.record(Op::Rekey {
                from_folder: record.folder,
                from_uid: record.facts.uid,
                to_folder,
                to_uid: m.key.uid,
            });
            self.rematched += 1;
            matched.insert(m.key.clone());
        }
        matched
    }

    /// Every done message that names `dest_folder`, with its store id and facts wanted for a
    /// content look-up: those whose UID was learnt under a UIDVALIDITY other than `validity`.
    pub(crate) fn stale_in(&self, dest_folder: &str, validity: u32) -> Vec<(SourceKey, FolderId)> {
        self.done
            .iter()
            .filter(|(_, i)| {
                i.dest_folder == dest_folder && i.dest_uidvalidity.is_some_and(|v| v != validity)
            })
            .filter_map(|(k, _)| Some((k.clone(), self.folder_id(k)?)))
            .collect()
    }

    /// What a recreated destination folder holds now (`there` under `validity`, `contents` for
    /// candidates without Message-ID) re-finds its done messages `wanted` (their facts from the
    /// store): found ones point at their new UIDs, the others are forgotten (copied again).
    /// Returns (found again, lost).
    pub(crate) fn refind(
        &mut self,
        folder: &str,
        validity: u32,
        wanted: Vec<(SourceKey, FolderId, MessageFacts)>,
        there: &[Arrived],
        contents: &HashMap<u32, Fingerprint>,
    ) -> (u64, u64) {
        let mut taken = self.claimed(folder, Some(validity));
        let facts: Vec<&MessageFacts> = wanted.iter().map(|(_, _, f)| f).collect();
        let matched = Arrivals::new(there).match_all(&facts, contents, &mut taken);
        let (mut found, mut lost) = (0, 0);
        for ((key, id, _), uid) in wanted.into_iter().zip(matched) {
            match uid {
                Some(uid) => {
                    found += 1;
                    let Some(info) = self.done.get_mut(&key) else {
                        continue;
                    };
                    info.dest_uidvalidity = Some(validity);
                    info.dest_uid = Some(uid);
                    let dest = crate::state::Destination {
                        folder: info.dest_folder.clone(),
                        uidvalidity: Some(validity),
                        uid: Some(uid),
                    };
                    self.record(Op::SetDestination {
                        folder: id,
                        uid: key.uid,
                        dest,
                    });
                }
                None => {
                    lost += 1;
                    self.forget(&key);
                }
            }
        }
        (found, lost)
    }

    /// How long to wait before reconciling at `now`, so that APPENDs a dead process left in a
    /// server's buffers are carried out first: until `settle` after the newest pending intent.
    pub(crate) fn settle_wait(
        &self,
        settle: std::time::Duration,
        now: DateTime<Utc>,
    ) -> std::time::Duration {
        match (self.has_pending(), self.newest_loaded_intent) {
            (true, Some(at)) => (at + settle - now).to_std().unwrap_or_default(),
            _ => std::time::Duration::ZERO,
        }
    }

    /// The done message `key` is no longer where its record says: it is not done any more, and
    /// this pass copies it again.
    pub(crate) fn forget(&mut self, key: &SourceKey) {
        let Some(info) = self.done.remove(key) else {
            return;
        };
        self.marks.remove(&key.folder);
        if let Some(e) = self.done_by_folder.get_mut(&key.folder) {
            e.0 = e.0.saturating_sub(1);
            e.1 = e.1.saturating_sub(info.sent_size);
        }
        self.loaded_done = self.loaded_done.saturating_sub(1);
        if let Some(id) = self.folder_id(key) {
            self.record(Op::Forget {
                folder: id,
                uid: key.uid,
            });
        }
    }
}
