//! The book: what one mailbox's destination holds, as a pure state machine. No store, no
//! network, no clock, no lock: [`super::owner`] owns it, [`super::persist`] loads it and commits
//! the records it asks for ([`Book::take_outbox`]), [`super::reconcile`] and [`super::recheck`]
//! read the destination and hand it what they saw. Its invariants are properties in
//! [`super::model_tests`]:
//!
//! 1. A message is *done* only after a tagged OK for an APPEND that carried it
//!    ([`Book::stored`]), or when a look at the destination found it there ([`Book::settle`],
//!    [`Book::refind`], [`Book::adopt`], [`Book::rematch`]). Done messages are not sent again.
//! 2. A message is in at most one of: done, in flight (sent, unanswered), pending (sent by a
//!    failed attempt or a dead process, answer unknown). A pending message is never sent again
//!    before a look at the destination settled it: found (done) or not (abandoned, sent again).
//! 3. The records the book asks for keep the store's protocol, whatever the order of events: an
//!    intent is recorded once per message before the message is sent, a done record only for a
//!    recorded intent, no intent for a done message. A batch of records that breaks it is a bug
//!    of the book, and the store refuses it.
//! 4. A done record counts only while its destination folder is the one the plan maps its
//!    source folder to, and that folder has the UIDVALIDITY the record was learnt under
//!    ([`Book::revalidate`]): otherwise it is looked for again by content, or forgotten and
//!    copied again. So neither a changed folder map nor a recreated destination folder makes a
//!    message count as there when it is not.
//! 5. Each destination folder is written by one connection whose APPENDs complete in order, so a
//!    pending message of a folder was stored, if at all, above the folder's floor: the highest
//!    UID the destination reported plus one, or the UIDNEXT it had before this run wrote to it.
//!    A floor holds only under the UIDVALIDITY it was learnt under ([`Floor`]): in a folder
//!    recreated since, pending messages are looked for from UID 1.

use super::{SentMessage, SourceKey};
use crate::state::{DoneRecord, FolderId, FolderState, Intent, MessageRecord, Op, RecordBatch};
use chrono::{DateTime, Utc};
use std::collections::{HashMap, HashSet};

/// What the book keeps of a done message: enough to sync its flags and to check its place.
#[derive(Debug, Clone)]
pub(crate) struct DoneInfo {
    /// Flags as copied or last synced, space-separated.
    pub(crate) flags: String,
    /// Destination folder, wire name.
    pub(crate) dest_folder: String,
    /// Destination UID, when known.
    pub(crate) dest_uid: Option<u32>,
    /// The destination folder's UIDVALIDITY when `dest_uid` was learnt.
    pub(crate) dest_uidvalidity: Option<u32>,
    /// Bytes sent.
    pub(crate) sent_size: u64,
}

/// The lowest UID a pending message of a destination folder could have, and the folder's
/// UIDVALIDITY it holds under (`None`: unknown).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Floor {
    pub(crate) uid: u32,
    pub(crate) validity: Option<u32>,
}

impl Floor {
    /// The floor once UIDs below `above` are known to be taken under `validity`: raised, or
    /// replaced when the folder's UIDVALIDITY is not the one the floor held under.
    pub(crate) fn raised(self, above: u32, validity: Option<u32>) -> Floor {
        match (self.validity, validity) {
            (Some(a), Some(b)) if a != b => Floor {
                uid: above,
                validity,
            },
            _ => Floor {
                uid: self.uid.max(above),
                validity: validity.or(self.validity),
            },
        }
    }
}

/// The records kept for a book with a state store: store ids and what waits to be committed.
#[derive(Debug, Default)]
struct Records {
    /// Source folder incarnations as the store numbers them.
    folder_ids: HashMap<(String, u32), FolderId>,
    /// Messages with an intent in the store (committed, or in `outbox`).
    intended: HashSet<SourceKey>,
    /// Changes not committed yet, in the order they happened.
    outbox: RecordBatch,
}

/// Done, in-flight and pending messages of one mailbox.
#[derive(Debug, Default)]
pub(crate) struct Book {
    pub(super) done: HashMap<SourceKey, DoneInfo>,
    /// Messages done before this run (loaded from the store).
    pub(super) loaded_done: u64,
    /// Per source folder name: the incarnations (UIDVALIDITY, store id) with done messages.
    pub(super) incarnations: HashMap<String, Vec<(u32, FolderId)>>,
    pub(super) rematched: u64,
    pub(super) adopted: u64,
    /// Per source folder (wire name): messages and bytes done.
    pub(super) done_by_folder: HashMap<String, (u64, u64)>,
    /// Per ticket: the messages of an APPEND sent and not yet answered.
    pub(super) in_flight: HashMap<u64, Vec<SentMessage>>,
    /// Sent by an attempt that failed, answer unknown: to look for at the destination.
    pub(super) pending: Vec<SentMessage>,
    /// Per destination folder (wire name): the lowest UID a pending message could have.
    pub(super) floor: HashMap<String, Floor>,
    /// When the newest pending intent loaded from the store was written.
    pub(super) newest_loaded_intent: Option<DateTime<Utc>>,
    /// Per source folder: the CONDSTORE mark of its last clean pass (UIDVALIDITY,
    /// HIGHESTMODSEQ, message filter signature).
    pub(super) marks: HashMap<String, (u32, u64, String)>,
    records: Option<Records>,
}

impl Book {
    /// An empty book that records nothing (no state store).
    pub(crate) fn unrecorded() -> Self {
        Book::default()
    }

    /// The book as a store keeps it: `folders` with their done records, and the intents still
    /// pending (sent by a run that died, answer unknown).
    pub(crate) fn from_store(
        folders: Vec<(FolderState, Vec<DoneRecord>)>,
        pending: Vec<Intent>,
    ) -> Self {
        let mut book = Book {
            records: Some(Records::default()),
            ..Book::default()
        };
        let mut by_id = HashMap::new();
        for (f, done) in folders {
            if let (Some(modseq), Some(filter)) = (f.highest_modseq, &f.scan_filter) {
                book.marks
                    .insert(f.name.clone(), (f.uidvalidity, modseq, filter.clone()));
            }
            by_id.insert(f.id, (f.name.clone(), f.uidvalidity));
            book.records_mut()
                .folder_ids
                .insert((f.name.clone(), f.uidvalidity), f.id);
            if !done.is_empty() {
                book.incarnations
                    .entry(f.name.clone())
                    .or_default()
                    .push((f.uidvalidity, f.id));
            }
            let e = book.done_by_folder.entry(f.name.clone()).or_default();
            for r in done {
                e.0 += 1;
                e.1 += r.sent_size;
                let key = SourceKey {
                    folder: f.name.clone(),
                    uidvalidity: f.uidvalidity,
                    uid: r.uid,
                };
                let info = DoneInfo {
                    flags: r.flags,
                    dest_folder: r.dest_folder,
                    dest_uid: r.dest_uid,
                    dest_uidvalidity: r.dest_uidvalidity,
                    sent_size: r.sent_size,
                };
                book.done.insert(key, info);
            }
        }
        book.loaded_done = book.done.len() as u64;
        for intent in pending {
            let Some((folder, uidvalidity)) = by_id.get(&intent.folder).cloned() else {
                continue;
            };
            let key = SourceKey {
                folder,
                uidvalidity,
                uid: intent.facts.uid,
            };
            let intended = Floor {
                uid: intent.dest_uidnext.unwrap_or(1),
                validity: intent.dest_uidvalidity,
            };
            let floor = book
                .floor
                .entry(intent.dest_folder.clone())
                .or_insert(intended);
            // Intents from two incarnations of the folder: look at all of it.
            *floor = match floor.validity == intended.validity {
                true => Floor {
                    uid: floor.uid.min(intended.uid),
                    validity: floor.validity,
                },
                false => Floor {
                    uid: 1,
                    validity: None,
                },
            };
            book.records_mut().intended.insert(key.clone());
            book.newest_loaded_intent = book.newest_loaded_intent.max(Some(intent.created_at));
            book.pending.push(SentMessage {
                key,
                dest_folder: intent.dest_folder,
                facts: intent.facts,
            });
        }
        book
    }

    fn records_mut(&mut self) -> &mut Records {
        self.records.get_or_insert_with(Records::default)
    }

    /// The store id of `key`'s folder, if the book records and the folder is registered.
    pub(super) fn folder_id(&self, key: &SourceKey) -> Option<FolderId> {
        let r = self.records.as_ref()?;
        r.folder_ids
            .get(&(key.folder.clone(), key.uidvalidity))
            .copied()
    }

    /// Each registered source folder incarnation's UIDVALIDITY by store id (`None`: no store).
    pub(super) fn validities_by_id(&self) -> Option<HashMap<FolderId, u32>> {
        let r = self.records.as_ref()?;
        Some(
            r.folder_ids
                .iter()
                .map(|((_, uv), id)| (*id, *uv))
                .collect(),
        )
    }

    pub(super) fn record(&mut self, op: Op) {
        if let Some(r) = &mut self.records {
            r.outbox.push(op);
        }
    }

    /// The records waiting to be committed, taken: commit them before acting on what they say.
    pub(crate) fn take_outbox(&mut self) -> RecordBatch {
        self.records
            .as_mut()
            .map(|r| std::mem::take(&mut r.outbox))
            .unwrap_or_default()
    }

    /// Source folder incarnations the store does not number yet.
    pub(crate) fn unregistered(&self, folders: &[(String, u32)]) -> Vec<(String, u32)> {
        match &self.records {
            None => Vec::new(),
            Some(r) => folders
                .iter()
                .filter(|f| !r.folder_ids.contains_key(*f))
                .cloned()
                .collect(),
        }
    }

    /// The store numbered these source folder incarnations.
    pub(crate) fn register(&mut self, ids: Vec<((String, u32), FolderId)>) {
        if let Some(r) = &mut self.records {
            r.folder_ids.extend(ids);
        }
    }

    /// Whether the destination has acknowledged (or was found to hold) this message.
    pub(crate) fn is_done(&self, key: &SourceKey) -> bool {
        self.done.contains_key(key)
    }

    /// Messages done in all.
    pub(crate) fn done_count(&self) -> u64 {
        self.done.len() as u64
    }

    /// Messages and bytes done in all.
    pub(crate) fn done_totals(&self) -> (u64, u64) {
        self.done_by_folder
            .values()
            .fold((0, 0), |(m, b), (fm, fb)| (m + fm, b + fb))
    }

    /// Messages and bytes done from the source folder `folder` (wire name).
    pub(crate) fn done_in(&self, folder: &str) -> (u64, u64) {
        self.done_by_folder.get(folder).copied().unwrap_or_default()
    }

    /// Messages done before this run began; adopted and re-matched in this run.
    pub(crate) fn counts(&self) -> (u64, u64, u64) {
        (self.loaded_done, self.adopted, self.rematched)
    }

    /// Whether messages sent by a failed attempt are waiting to be looked for.
    pub(crate) fn has_pending(&self) -> bool {
        !self.pending.is_empty()
    }

    /// Notes a destination folder's UIDNEXT before this run writes to it, the first time only.
    pub(crate) fn note_uidnext(&mut self, dest_folder: &str, uidnext: u32, validity: Option<u32>) {
        let floor = Floor {
            uid: uidnext,
            validity,
        };
        self.floor.entry(dest_folder.to_string()).or_insert(floor);
    }

    /// Whether the folder's starting UIDNEXT is known.
    pub(crate) fn knows_floor(&self, dest_folder: &str) -> bool {
        self.floor.contains_key(dest_folder)
    }

    /// Records intents for `messages`, about to be sent (at `now`): commit the outbox before
    /// sending them. A message already intended is not intended twice.
    pub(crate) fn intend(&mut self, messages: &[SentMessage], now: DateTime<Utc>) {
        let mut ops = Vec::new();
        for m in messages {
            let Some(id) = self.folder_id(&m.key) else {
                continue;
            };
            if self.done.contains_key(&m.key) {
                continue; // never an intent for a done message (invariant 3)
            }
            let r = self.records.as_mut().expect("folder_id found a record");
            if !r.intended.insert(m.key.clone()) {
                continue;
            }
            ops.push(Op::Intend(Intent {
                folder: id,
                facts: m.facts.clone(),
                dest_folder: m.dest_folder.clone(),
                dest_uidvalidity: self.floor.get(&m.dest_folder).and_then(|f| f.validity),
                dest_uidnext: self.floor.get(&m.dest_folder).map(|f| f.uid),
                created_at: now,
            }));
        }
        ops.into_iter().for_each(|op| self.record(op));
    }

    /// An APPEND carrying `messages` is about to be sent, named `ticket` in
    /// [`stored`](Self::stored) or [`refused`](Self::refused).
    pub(crate) fn sending(&mut self, ticket: u64, messages: Vec<SentMessage>) {
        self.in_flight.insert(ticket, messages);
    }

    /// The destination said OK: the ticket's messages are done. `appended` is the folder's
    /// UIDVALIDITY and the new UIDs when the server reported them (APPENDUID).
    pub(crate) fn stored(&mut self, ticket: u64, appended: Option<(u32, Vec<u32>)>) {
        let Some(messages) = self.in_flight.remove(&ticket) else {
            return;
        };
        let validity = appended.as_ref().map(|(v, _)| *v);
        let uids = appended.map(|(_, u)| u);
        if let (Some(first), Some(max)) =
            (messages.first(), uids.as_ref().and_then(|u| u.iter().max()))
        {
            let above = max.saturating_add(1);
            let floor = self.floor.entry(first.dest_folder.clone());
            let floor = floor.or_insert(Floor {
                uid: above,
                validity,
            });
            *floor = floor.raised(above, validity);
        }
        let uids = uids.filter(|u| u.len() == messages.len());
        for (i, m) in messages.into_iter().enumerate() {
            let uid = uids.as_ref().map(|u| u[i]);
            self.book(m, validity, uid);
        }
    }

    /// The destination said NO: nothing of the ticket was stored.
    pub(crate) fn refused(&mut self, ticket: u64) {
        self.in_flight.remove(&ticket);
    }

    /// The attempt ended without answers to what was in flight: those become pending.
    pub(crate) fn attempt_failed(&mut self) {
        let mut tickets: Vec<u64> = self.in_flight.keys().copied().collect();
        tickets.sort_unstable();
        for t in tickets {
            let messages = self.in_flight.remove(&t).unwrap_or_default();
            self.pending.extend(messages);
        }
    }

    /// `m` is at the destination (as `dest_uid`, when known).
    pub(super) fn book(
        &mut self,
        m: SentMessage,
        dest_uidvalidity: Option<u32>,
        dest_uid: Option<u32>,
    ) {
        let id = self.folder_id(&m.key);
        if let (Some(r), Some(id)) = (&mut self.records, id) {
            if r.intended.remove(&m.key) {
                r.outbox.done(id, m.key.uid, dest_uidvalidity, dest_uid);
            }
        }
        self.count_done(&m, dest_uidvalidity, dest_uid);
    }

    pub(super) fn count_done(
        &mut self,
        m: &SentMessage,
        dest_uidvalidity: Option<u32>,
        dest_uid: Option<u32>,
    ) {
        let info = DoneInfo {
            flags: m.facts.flags.clone(),
            dest_folder: m.dest_folder.clone(),
            dest_uid,
            dest_uidvalidity,
            sent_size: m.facts.sent_size,
        };
        if self.done.insert(m.key.clone(), info).is_none() {
            let e = self.done_by_folder.entry(m.key.folder.clone()).or_default();
            e.0 += 1;
            e.1 += m.facts.sent_size;
        }
        // An incarnation with done messages: if the folder is recreated at the source, its
        // messages are re-matched by content, whenever they became done.
        if let Some(id) = self.folder_id(&m.key) {
            let known = self.incarnations.entry(m.key.folder.clone()).or_default();
            if !known.contains(&(m.key.uidvalidity, id)) {
                known.push((m.key.uidvalidity, id));
            }
        }
    }

    /// `key` will not be sent again in this run (the destination refused it, or it was not
    /// found where it would be): its intent, if any, is dropped.
    pub(crate) fn abandon(&mut self, key: &SourceKey) {
        // Not migrated and unchanged at the source: only a whole read finds it again.
        self.marks.remove(&key.folder);
        let id = self.folder_id(key);
        if let (Some(r), Some(id)) = (&mut self.records, id) {
            if r.intended.remove(key) {
                r.outbox.cancel(id, key.uid);
            }
        }
    }

    /// `m` was found at the destination as `dest_uid` without being sent by this book
    /// (`--adopt-existing`): it is done, recorded as adopted.
    pub(crate) fn adopt(
        &mut self,
        m: &SentMessage,
        dest_uidvalidity: Option<u32>,
        dest_uid: u32,
        now: DateTime<Utc>,
    ) {
        if self.done.contains_key(&m.key) {
            return;
        }
        if let Some(id) = self.folder_id(&m.key) {
            self.records_mut().intended.remove(&m.key);
            self.record(Op::Adopt(MessageRecord {
                folder: id,
                facts: m.facts.clone(),
                dest: crate::state::Destination {
                    folder: m.dest_folder.clone(),
                    uidvalidity: dest_uidvalidity,
                    uid: Some(dest_uid),
                },
                done_at: now,
            }));
        }
        self.count_done(m, dest_uidvalidity, Some(dest_uid));
        self.adopted += 1;
    }

    /// Destination UIDs of `dest_folder` that hold messages this book knows as done.
    pub(crate) fn dest_uids_in(&self, dest_folder: &str) -> HashSet<u32> {
        self.done
            .values()
            .filter(|i| i.dest_folder == dest_folder)
            .filter_map(|i| i.dest_uid)
            .collect()
    }
}
