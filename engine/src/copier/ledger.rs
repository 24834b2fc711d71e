//! What one mailbox's destination has acknowledged, kept across the attempts of a run, so that a
//! dropped connection costs a reconnect instead of the mailbox, and never a duplicate.
//!
//! Invariants:
//! - A message is *done* only after the destination's tagged OK for the APPEND that carried it.
//!   Done messages are never sent again.
//! - A message whose APPEND was sent but not answered (the connection dropped, the answer was
//!   lost) is *pending*. Before the next attempt sends anything, the destination folder is read
//!   from the lowest UID such a message could have ([`Ledger::floor`]) and every pending message
//!   is either found there (it becomes done) or not (it is sent again). So a lost answer never
//!   makes a duplicate, and a lost message is never taken for stored.
//! - Each destination folder is written by one connection, and a connection's APPENDs complete
//!   in order, so a pending message of a folder was stored, if at all, after every acknowledged
//!   one: above the highest UID APPENDUID reported, or above the UIDNEXT the folder had before
//!   the run wrote to it.
//! - With a state store ([`crate::state`]), the same facts outlive the process: intents are
//!   committed before their APPEND is sent (so a crash leaves them pending, to be reconciled by
//!   the next run), done and cancelled records are buffered and committed with the next intents
//!   or at the end (a crash that loses them leaves their intents pending, which reconciliation
//!   settles). The next run loads what is done and what is pending, and goes on from there.
//! - A done message's destination UID is kept with the destination folder's UIDVALIDITY. When
//!   the folder's UIDVALIDITY changes, the message is looked for again by content
//!   ([`super::dest_rematch`]) before anything relies on that UID.

use super::dest_lookup::{content_candidates, destination_since, fingerprints, Arrivals};
use crate::error::{Error, Result};
use crate::imap::Connection;
use crate::plan::order::MessageMeta;
use crate::state::{
    Fingerprint, FolderId, Intent, MessageFacts, MessageIdHash, RecordBatch, StateStore,
};
use crate::transform::address_rewrite::header_fields;
use chrono::Utc;
use std::collections::{HashMap, HashSet};
use std::sync::Mutex;
use std::time::Duration;

/// A source message, the same across attempts and runs: its folder (wire name), the folder's
/// UIDVALIDITY, and its UID.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
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
                message_id: message_id_hash(sent),
                internal_date: meta.internaldate.map(|d| d.with_timezone(&Utc)),
                flags: meta.flags.join(" "),
            },
            key,
            dest_folder: dest_folder.to_string(),
        }
    }
}

/// The hash of the Message-ID field's value of `message` (unfolded, trimmed), if it has one.
pub fn message_id_hash(message: &[u8]) -> Option<MessageIdHash> {
    let header = &message[..header_fields::header_end(message)];
    header_fields::fields(header)
        .find(|f| message[f.name.clone()].eq_ignore_ascii_case(b"Message-ID"))
        .map(|f| header_fields::unfold(&message[f.value.clone()]))
        .filter(|v| !v.trim_ascii().is_empty())
        .map(|v| MessageIdHash::of(&v))
}

/// What the ledger keeps of a done message: enough to sync its flags in a later pass.
#[derive(Debug, Clone)]
struct DoneInfo {
    /// Flags as copied or last synced, space-separated.
    flags: String,
    /// Destination folder, wire name.
    dest_folder: String,
    /// Destination UID, when known.
    dest_uid: Option<u32>,
    /// The destination folder's UIDVALIDITY when `dest_uid` was learnt: a later pass that finds
    /// another knows the UID no longer names this message.
    dest_uidvalidity: Option<u32>,
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
fn flag_set<'a>(flags: impl Iterator<Item = &'a str>) -> std::collections::BTreeSet<String> {
    flags
        .filter(|f| !f.eq_ignore_ascii_case("\\Recent") && !f.eq_ignore_ascii_case("\\Deleted"))
        .map(|f| match f.starts_with('\\') {
            true => {
                let mut c = f.to_ascii_lowercase();
                // \Seen, \Flagged, ...: the canonical capitalisation.
                if let Some(first) = c.get_mut(1..2) {
                    first.make_ascii_uppercase();
                }
                c
            }
            false => f.to_string(),
        })
        .collect()
}

/// The state store behind a ledger, and what is waiting to be committed to it.
#[derive(Debug)]
struct Persist {
    store: StateStore,
    /// The mailbox's name in the store.
    mailbox: String,
    /// Source folder incarnations as the store numbers them.
    folder_ids: HashMap<(String, u32), FolderId>,
    /// Changes not committed yet.
    ops: RecordBatch,
    /// Messages with an intent in the store (committed or about to be).
    intended: HashSet<SourceKey>,
}

/// Done and pending messages of one mailbox.
#[derive(Debug, Default)]
pub struct Ledger {
    done: HashMap<SourceKey, DoneInfo>,
    /// Messages done before this run (loaded from the store).
    loaded_done: u64,
    /// Per source folder name: the incarnations (UIDVALIDITY, store id) with done messages.
    incarnations: HashMap<String, Vec<(u32, FolderId)>>,
    /// Messages recognised by content after their folder's UIDVALIDITY changed.
    rematched: u64,
    /// Messages found at the destination already (`--adopt-existing`) in this run.
    adopted: u64,
    /// Per source folder (wire name): messages and bytes done.
    done_by_folder: HashMap<String, (u64, u64)>,
    /// Per ticket: the messages of an APPEND sent and not yet answered.
    in_flight: HashMap<u64, Vec<SentMessage>>,
    next_ticket: u64,
    /// Sent by an attempt that failed, answer unknown: to look for at the destination.
    pending: Vec<SentMessage>,
    /// Per destination folder (wire name): the lowest UID a pending message could have.
    floor: HashMap<String, u32>,
    /// Where the ledger is kept across runs, if anywhere.
    persist: Option<Persist>,
    /// When the newest pending intent loaded from the store was written: a process that died
    /// then may have left APPENDs the server is still carrying out.
    newest_loaded_intent: Option<chrono::DateTime<Utc>>,
    /// Per source folder (wire name): the CONDSTORE mark of its last clean pass (UIDVALIDITY,
    /// HIGHESTMODSEQ, message filter signature). Dropped as soon as a message of the folder is
    /// forgotten or abandoned, in memory and (by the same records) in the store.
    marks: HashMap<String, (u32, u64, String)>,
}

/// What a reconciliation found.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Reconciled {
    /// Pending messages found at the destination (now done).
    pub found: u64,
    /// Pending messages not there (to be sent again).
    pub missing: u64,
}

impl Ledger {
    /// Whether the destination has acknowledged (or was found to hold) this message.
    pub fn is_done(&self, key: &SourceKey) -> bool {
        self.done.contains_key(key)
    }

    /// Messages done in all.
    pub fn done_count(&self) -> u64 {
        self.done.len() as u64
    }

    /// Messages and bytes done in all.
    pub fn done_totals(&self) -> (u64, u64) {
        self.done_by_folder
            .values()
            .fold((0, 0), |(m, b), (fm, fb)| (m + fm, b + fb))
    }

    /// Messages and bytes done from the source folder `folder` (wire name).
    pub fn done_in(&self, folder: &str) -> (u64, u64) {
        self.done_by_folder.get(folder).copied().unwrap_or_default()
    }

    /// Whether messages sent by a failed attempt are waiting to be looked for.
    pub fn has_pending(&self) -> bool {
        !self.pending.is_empty()
    }

    /// Notes a destination folder's UIDNEXT before this run writes to it, the first time only.
    pub fn note_uidnext(&mut self, dest_folder: &str, uidnext: u32) {
        self.floor.entry(dest_folder.to_string()).or_insert(uidnext);
    }

    /// Whether the folder's starting UIDNEXT is known.
    pub fn knows_floor(&self, dest_folder: &str) -> bool {
        self.floor.contains_key(dest_folder)
    }

    /// Records an APPEND about to be sent; the ticket names it in [`stored`](Self::stored) or
    /// [`refused`](Self::refused).
    pub fn sending(&mut self, messages: Vec<SentMessage>) -> u64 {
        self.next_ticket += 1;
        self.in_flight.insert(self.next_ticket, messages);
        self.next_ticket
    }

    /// The destination said OK: the ticket's messages are done. `uids` are the new UIDs when the
    /// server reported them (APPENDUID), which raise the folder's floor.
    pub fn stored(&mut self, ticket: u64, appended: Option<(u32, &[u32])>) {
        let Some(messages) = self.in_flight.remove(&ticket) else {
            return;
        };
        let validity = appended.map(|(v, _)| v);
        let uids = appended.map(|(_, u)| u);
        if let (Some(first), Some(max)) = (messages.first(), uids.and_then(|u| u.iter().max())) {
            let floor = self.floor.entry(first.dest_folder.clone()).or_insert(0);
            *floor = (*floor).max(max.saturating_add(1));
        }
        let uids = uids.filter(|u| u.len() == messages.len());
        for (i, m) in messages.into_iter().enumerate() {
            let uid = uids.map(|u| u[i]);
            self.book(m, validity, uid);
        }
    }

    /// The destination said NO: nothing of the ticket was stored.
    pub fn refused(&mut self, ticket: u64) {
        self.in_flight.remove(&ticket);
    }

    /// The attempt ended without answers to what was in flight: those become pending.
    pub fn attempt_failed(&mut self) {
        let mut tickets: Vec<u64> = self.in_flight.keys().copied().collect();
        tickets.sort_unstable();
        for t in tickets {
            let messages = self.in_flight.remove(&t).unwrap_or_default();
            self.pending.extend(messages);
        }
    }

    /// `m` is at the destination (as `dest_uid`, when known).
    fn book(&mut self, m: SentMessage, dest_uidvalidity: Option<u32>, dest_uid: Option<u32>) {
        if let Some(p) = &mut self.persist {
            if p.intended.remove(&m.key) {
                if let Some(&id) = p.folder_ids.get(&(m.key.folder.clone(), m.key.uidvalidity)) {
                    p.ops.done(id, m.key.uid, dest_uidvalidity, dest_uid);
                }
            }
        }
        let info = DoneInfo {
            flags: m.facts.flags.clone(),
            dest_folder: m.dest_folder.clone(),
            dest_uid,
            dest_uidvalidity,
        };
        if self.done.insert(m.key.clone(), info).is_none() {
            let e = self.done_by_folder.entry(m.key.folder).or_default();
            e.0 += 1;
            e.1 += m.facts.sent_size;
        }
    }

    /// Whether the source folder `folder` had messages copied under another UIDVALIDITY: its
    /// messages are then recognised by content ([`rematch`]) instead of copied again.
    pub fn needs_rematch(&self, folder: &str, uidvalidity: u32) -> bool {
        self.incarnations
            .get(folder)
            .is_some_and(|v| v.iter().any(|(uv, _)| *uv != uidvalidity))
    }

    /// Destination UIDs of `dest_folder` that hold messages this ledger knows as done: not to be
    /// adopted for another source message.
    pub fn dest_uids_in(&self, dest_folder: &str) -> HashSet<u32> {
        self.done
            .values()
            .filter(|i| i.dest_folder == dest_folder)
            .filter_map(|i| i.dest_uid)
            .collect()
    }

    /// `m` was found at the destination as `dest_uid` (under `dest_uidvalidity`) without being
    /// sent (`--adopt-existing`: another tool copied it): it is done, recorded as adopted.
    pub fn adopt(&mut self, m: &SentMessage, dest_uidvalidity: Option<u32>, dest_uid: u32) {
        if let Some(p) = &mut self.persist {
            if let Some(&id) = p.folder_ids.get(&(m.key.folder.clone(), m.key.uidvalidity)) {
                p.intended.remove(&m.key);
                p.ops
                    .push(crate::state::Op::Adopt(crate::state::MessageRecord {
                        folder: id,
                        facts: m.facts.clone(),
                        dest: crate::state::Destination {
                            folder: m.dest_folder.clone(),
                            uidvalidity: dest_uidvalidity,
                            uid: Some(dest_uid),
                        },
                        done_at: Utc::now(),
                    }));
            }
        }
        let info = DoneInfo {
            flags: m.facts.flags.clone(),
            dest_folder: m.dest_folder.clone(),
            dest_uid: Some(dest_uid),
            dest_uidvalidity,
        };
        if self.done.insert(m.key.clone(), info).is_none() {
            let e = self.done_by_folder.entry(m.key.folder.clone()).or_default();
            e.0 += 1;
            e.1 += m.facts.sent_size;
        }
        self.adopted += 1;
    }

    /// Messages adopted in this run.
    pub fn adopted(&self) -> u64 {
        self.adopted
    }

    /// Messages recognised by content after a UIDVALIDITY change, in this run.
    pub fn rematched(&self) -> u64 {
        self.rematched
    }

    /// Messages done before this run began (loaded from the state store).
    pub fn done_before_this_run(&self) -> u64 {
        self.loaded_done
    }

    /// Whether the flags of the done message `key` differ from `source` (its flags at the source
    /// now): then where to set them at the destination, and the flags to set. `\Recent` and
    /// `\Deleted` are left out of the comparison and of what is set: the one is per session, the
    /// other would have the destination throw the message away.
    pub fn flag_change(&self, key: &SourceKey, source: &[String]) -> Option<FlagChange> {
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
    pub fn flags_synced(&mut self, key: &SourceKey, flags: &[String]) {
        let text = flags.join(" ");
        if let Some(info) = self.done.get_mut(key) {
            info.flags = text.clone();
        }
        if let Some(p) = &mut self.persist {
            if let Some(&id) = p.folder_ids.get(&(key.folder.clone(), key.uidvalidity)) {
                p.ops.push(crate::state::Op::SetFlags {
                    folder: id,
                    uid: key.uid,
                    flags: text,
                });
            }
        }
    }

    /// The mark (UIDVALIDITY, HIGHESTMODSEQ) from which the source folder `folder` may be read
    /// by what changed since (CHANGEDSINCE), if its last clean pass ran under the message filter
    /// `filter` (a [`crate::plan::message_filter::MessageFilter::signature`]).
    pub fn mark(&self, folder: &str, filter: &str) -> Option<(u32, u64)> {
        self.marks
            .get(folder)
            .filter(|(_, _, f)| f == filter)
            .map(|&(validity, modseq, _)| (validity, modseq))
    }

    /// A pass over the source folder `folder` ended with every message migrated or filtered
    /// out: records its marks for the next pass (`modseq` `None` clears the CONDSTORE mark).
    pub fn folder_synced(
        &mut self,
        folder: &str,
        uidvalidity: u32,
        highest_uid: u32,
        modseq: Option<u64>,
        filter: &str,
    ) {
        let Some(p) = &mut self.persist else { return };
        let Some(&id) = p.folder_ids.get(&(folder.to_string(), uidvalidity)) else {
            return;
        };
        p.ops.push(crate::state::Op::FolderSynced {
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

    /// `key` will not be sent again in this run (the destination refused it, or it was not
    /// found where it would be): its intent, if any, is dropped.
    pub fn abandon(&mut self, key: &SourceKey) {
        // Not migrated and unchanged at the source: only a whole read finds it again.
        self.marks.remove(&key.folder);
        if let Some(p) = &mut self.persist {
            if p.intended.remove(key) {
                if let Some(&id) = p.folder_ids.get(&(key.folder.clone(), key.uidvalidity)) {
                    p.ops.cancel(id, key.uid);
                }
            }
        }
    }

    /// Records intents for `messages`, about to be sent: commit them ([`flush`]) before sending.
    pub fn intend(&mut self, messages: &[SentMessage]) {
        let floor = &self.floor;
        let Some(p) = &mut self.persist else {
            return;
        };
        let now = Utc::now();
        for m in messages {
            let Some(&id) = p.folder_ids.get(&(m.key.folder.clone(), m.key.uidvalidity)) else {
                continue;
            };
            if !p.intended.insert(m.key.clone()) {
                continue; // already intended (a batch sent again)
            }
            p.ops.intend(Intent {
                folder: id,
                facts: m.facts.clone(),
                dest_folder: m.dest_folder.clone(),
                dest_uidvalidity: None,
                dest_uidnext: floor.get(&m.dest_folder).copied(),
                created_at: now,
            });
        }
    }

    /// How long to wait before reconciling, so that APPENDs a dead process left in a server's
    /// buffers are carried out before the destination is read: until `settle` after the newest
    /// pending intent of the store. Zero when there is none, or it is old.
    pub fn settle_wait(&self, settle: Duration) -> Duration {
        match (self.has_pending(), self.newest_loaded_intent) {
            (true, Some(at)) => (at + settle - Utc::now()).to_std().unwrap_or_default(),
            _ => Duration::ZERO,
        }
    }

    /// Per destination folder: the UIDVALIDITYs under which its done messages' UIDs were learnt.
    /// More than one, or one the folder no longer has, means the folder was recreated.
    pub fn dest_validities(&self) -> HashMap<String, HashSet<u32>> {
        let mut by_folder: HashMap<String, HashSet<u32>> = HashMap::new();
        for info in self.done.values() {
            if let Some(v) = info.dest_uidvalidity {
                by_folder
                    .entry(info.dest_folder.clone())
                    .or_default()
                    .insert(v);
            }
        }
        by_folder
    }

    /// The done messages of `dest_folder` whose UID was learnt under a UIDVALIDITY other than
    /// `validity`, with their source folder's store id: their UIDs name nothing now.
    pub(super) fn stale_in(&self, dest_folder: &str, validity: u32) -> Vec<(SourceKey, FolderId)> {
        let Some(p) = &self.persist else {
            return Vec::new();
        };
        self.done
            .iter()
            .filter(|(_, i)| i.dest_folder == dest_folder)
            .filter(|(_, i)| i.dest_uidvalidity.is_some_and(|v| v != validity))
            .filter_map(|(k, _)| {
                let id = p.folder_ids.get(&(k.folder.clone(), k.uidvalidity))?;
                Some((k.clone(), *id))
            })
            .collect()
    }

    /// The UIDs of `dest_folder` under `validity` that done messages are known to hold.
    pub(super) fn claimed_in(&self, dest_folder: &str, validity: u32) -> HashSet<u32> {
        self.done
            .values()
            .filter(|i| i.dest_folder == dest_folder && i.dest_uidvalidity == Some(validity))
            .filter_map(|i| i.dest_uid)
            .collect()
    }

    /// The done message `key` (store folder `folder`) was found again, as `uid` of its
    /// destination folder under `validity`.
    pub(super) fn relocate(&mut self, key: &SourceKey, folder: FolderId, validity: u32, uid: u32) {
        let Some(info) = self.done.get_mut(key) else {
            return;
        };
        info.dest_uidvalidity = Some(validity);
        info.dest_uid = Some(uid);
        if let Some(p) = &mut self.persist {
            p.ops.push(crate::state::Op::SetDestination {
                folder,
                uid: key.uid,
                dest: crate::state::Destination {
                    folder: info.dest_folder.clone(),
                    uidvalidity: Some(validity),
                    uid: Some(uid),
                },
            });
        }
    }

    /// The done message `key` (store folder `folder`) is no longer at the destination (its
    /// folder was recreated without it): it is not done any more, and this pass copies it again.
    pub(super) fn forget(&mut self, key: &SourceKey, folder: FolderId, sent_size: u64) {
        if self.done.remove(key).is_none() {
            return;
        }
        self.marks.remove(&key.folder);
        if let Some(e) = self.done_by_folder.get_mut(&key.folder) {
            e.0 = e.0.saturating_sub(1);
            e.1 = e.1.saturating_sub(sent_size);
        }
        self.loaded_done = self.loaded_done.saturating_sub(1);
        if let Some(p) = &mut self.persist {
            p.ops.push(crate::state::Op::Forget {
                folder,
                uid: key.uid,
            });
        }
    }

    /// Whether the ledger is kept in a state store.
    pub fn is_persisted(&self) -> bool {
        self.persist.is_some()
    }

    /// The store and the mailbox's name in it, when the ledger is persisted.
    pub fn store(&self) -> Option<(StateStore, String)> {
        self.persist
            .as_ref()
            .map(|p| (p.store.clone(), p.mailbox.clone()))
    }

    /// Source folder incarnations the store does not number yet.
    fn unregistered(&self, folders: &[(String, u32)]) -> Vec<(String, u32)> {
        match &self.persist {
            None => Vec::new(),
            Some(p) => folders
                .iter()
                .filter(|f| !p.folder_ids.contains_key(*f))
                .cloned()
                .collect(),
        }
    }

    /// The ledger of `mailbox` as the store keeps it: done messages (skipped by this run and
    /// counted as copied), pending intents (reconciled before anything is sent) and their floors.
    pub async fn load(store: StateStore, mailbox: String) -> Result<Ledger> {
        let name = mailbox.clone();
        let (folders, pending) = store
            .call(move |db| {
                let mut folders = Vec::new();
                for f in db.folders(&name)? {
                    let done = db.done_records(f.id)?;
                    folders.push((f, done));
                }
                Ok((folders, db.pending_intents(&name)?))
            })
            .await
            .map_err(state_error)?;
        let mut ledger = Ledger::default();
        let mut by_id = HashMap::new();
        let mut folder_ids = HashMap::new();
        for (f, done) in folders {
            if let (Some(modseq), Some(filter)) = (f.highest_modseq, &f.scan_filter) {
                ledger
                    .marks
                    .insert(f.name.clone(), (f.uidvalidity, modseq, filter.clone()));
            }
            by_id.insert(f.id, (f.name.clone(), f.uidvalidity));
            folder_ids.insert((f.name.clone(), f.uidvalidity), f.id);
            if !done.is_empty() {
                ledger
                    .incarnations
                    .entry(f.name.clone())
                    .or_default()
                    .push((f.uidvalidity, f.id));
            }
            let e = ledger.done_by_folder.entry(f.name.clone()).or_default();
            for r in done {
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
                };
                ledger.done.insert(key, info);
                e.0 += 1;
                e.1 += r.sent_size;
            }
        }
        ledger.loaded_done = ledger.done.len() as u64;
        let mut intended = HashSet::new();
        for intent in pending {
            let Some((folder, uidvalidity)) = by_id.get(&intent.folder).cloned() else {
                continue;
            };
            let key = SourceKey {
                folder,
                uidvalidity,
                uid: intent.facts.uid,
            };
            let floor = ledger
                .floor
                .entry(intent.dest_folder.clone())
                .or_insert(u32::MAX);
            *floor = (*floor).min(intent.dest_uidnext.unwrap_or(1));
            intended.insert(key.clone());
            ledger.newest_loaded_intent = ledger.newest_loaded_intent.max(Some(intent.created_at));
            ledger.pending.push(SentMessage {
                key,
                dest_folder: intent.dest_folder,
                facts: intent.facts,
            });
        }
        ledger.persist = Some(Persist {
            store,
            mailbox,
            folder_ids,
            ops: RecordBatch::new(),
            intended,
        });
        Ok(ledger)
    }

    /// Looks for the pending messages at the destination, through `dst` (which is left with a
    /// folder EXAMINEd): those found are done, the others will be sent again.
    pub async fn reconcile(
        &mut self,
        dst: &mut Connection,
        timeout: Duration,
    ) -> Result<Reconciled> {
        let mut result = Reconciled::default();
        let mut by_folder: HashMap<String, Vec<SentMessage>> = HashMap::new();
        for m in std::mem::take(&mut self.pending) {
            by_folder.entry(m.dest_folder.clone()).or_default().push(m);
        }
        let mut folders: Vec<String> = by_folder.keys().cloned().collect();
        folders.sort();
        for folder in folders {
            let pending = by_folder.remove(&folder).unwrap_or_default();
            let floor = self.floor.get(&folder).copied().unwrap_or(1).max(1);
            let (validity, there) = match destination_since(dst, &folder, floor, timeout).await {
                Ok(there) => there,
                Err(e) => {
                    // Still unknown: looked for next time, never taken for missing.
                    self.pending.extend(pending);
                    self.pending.extend(by_folder.into_values().flatten());
                    return Err(e);
                }
            };
            let candidates = content_candidates(pending.iter().map(|m| &m.facts), &there);
            let contents = match fingerprints(dst, &folder, &candidates, timeout).await {
                Ok(c) => c,
                Err(e) => {
                    self.pending.extend(pending);
                    self.pending.extend(by_folder.into_values().flatten());
                    return Err(e);
                }
            };
            let arrivals = Arrivals::new(&there);
            let mut taken: HashSet<u32> = HashSet::new();
            for m in pending {
                let found = arrivals.find(&m.facts, &contents, &taken);
                match found {
                    Some(uid) => {
                        taken.insert(uid);
                        result.found += 1;
                        self.book(m, validity, Some(uid));
                    }
                    None => {
                        result.missing += 1;
                        self.abandon(&m.key);
                    }
                }
            }
            if let Some(max) = there.iter().map(|a| a.uid).max() {
                // Whatever is there now has been looked at.
                let f = self.floor.entry(folder).or_insert(0);
                *f = (*f).max(max.saturating_add(1));
            }
        }
        Ok(result)
    }
}

/// The ledger, even if a task panicked holding it: its facts are each set in one step.
pub(super) fn lock(ledger: &Mutex<Ledger>) -> std::sync::MutexGuard<'_, Ledger> {
    ledger.lock().unwrap_or_else(|e| e.into_inner())
}

/// A state store failure, as the engine reports it: the mailbox cannot go on safely.
fn state_error(e: crate::state::Error) -> Error {
    Error::State {
        message: e.to_string(),
    }
}

/// Commits what `ledger` has waiting for its store (intents, done, cancelled), if it has a
/// store and anything waits. Intents must be committed this way before their APPEND is sent.
pub async fn flush(ledger: &Mutex<Ledger>) -> Result<()> {
    let taken = {
        let mut l = ledger.lock().unwrap_or_else(|e| e.into_inner());
        match &mut l.persist {
            Some(p) if !p.ops.is_empty() => Some((p.store.clone(), std::mem::take(&mut p.ops))),
            _ => None,
        }
    };
    if let Some((store, ops)) = taken {
        store
            .call(move |db| db.commit(ops))
            .await
            .map_err(state_error)?;
    }
    Ok(())
}

/// Recognises, among `messages` of a source folder whose UIDVALIDITY changed, those copied
/// before under the old one: same folder name, same SHA-256 of the source bytes. Each is
/// re-keyed in the store and counted done; the keys returned are not to be sent.
pub async fn rematch(
    ledger: &Mutex<Ledger>,
    messages: &[SentMessage],
) -> Result<HashSet<SourceKey>> {
    let Some((store, mailbox)) = ledger.lock().unwrap_or_else(|e| e.into_inner()).store() else {
        return Ok(HashSet::new());
    };
    let fingerprints: Vec<Fingerprint> = messages.iter().map(|m| m.facts.fingerprint).collect();
    let found = store
        .call(move |db| {
            fingerprints
                .iter()
                .map(|fp| db.find_by_fingerprint(&mailbox, fp))
                .collect::<crate::state::Result<Vec<_>>>()
        })
        .await
        .map_err(state_error)?;
    let mut l = ledger.lock().unwrap_or_else(|e| e.into_inner());
    let mut matched = HashSet::new();
    // Store folder id → its UIDVALIDITY, once for the window.
    let by_id: HashMap<FolderId, u32> = match &l.persist {
        Some(p) => p
            .folder_ids
            .iter()
            .map(|((_, uv), id)| (*id, *uv))
            .collect(),
        None => return Ok(matched),
    };
    for (m, records) in messages.iter().zip(found) {
        let old: Vec<FolderId> = l
            .incarnations
            .get(&m.key.folder)
            .map(|v| {
                v.iter()
                    .filter(|(uv, _)| *uv != m.key.uidvalidity)
                    .map(|(_, id)| *id)
                    .collect()
            })
            .unwrap_or_default();
        let Some(p) = &l.persist else { break };
        let Some(&to_folder) = p.folder_ids.get(&(m.key.folder.clone(), m.key.uidvalidity)) else {
            continue;
        };
        // An old record not yet claimed by another message of this run.
        let Some(record) = records.into_iter().find(|r| {
            old.contains(&r.folder)
                && by_id.get(&r.folder).is_some_and(|uv| {
                    l.done.contains_key(&SourceKey {
                        folder: m.key.folder.clone(),
                        uidvalidity: *uv,
                        uid: r.facts.uid,
                    })
                })
        }) else {
            continue;
        };
        let old_key = SourceKey {
            folder: m.key.folder.clone(),
            uidvalidity: by_id[&record.folder],
            uid: record.facts.uid,
        };
        let info = l.done.remove(&old_key).expect("checked above");
        l.done.insert(m.key.clone(), info);
        if let Some(p) = &mut l.persist {
            p.ops.push(crate::state::Op::Rekey {
                from_folder: record.folder,
                from_uid: record.facts.uid,
                to_folder,
                to_uid: m.key.uid,
            });
        }
        l.rematched += 1;
        matched.insert(m.key.clone());
    }
    Ok(matched)
}

/// What a destination folder already holds, for `--adopt-existing`.
#[derive(Debug)]
pub struct AdoptFolder {
    /// The folder's UIDVALIDITY when it was read: kept with each adopted UID.
    pub uidvalidity: Option<u32>,
    /// Its UIDs by (Message-ID hash, size); each is taken by one source message at most.
    pub by_key: Mutex<HashMap<(MessageIdHash, u64), Vec<u32>>>,
}

/// Per destination folder (wire name): what it already holds, for `--adopt-existing`.
pub type AdoptIndex = HashMap<String, AdoptFolder>;

/// Reads the destination folders `dest_folders` for `--adopt-existing`: every message with a
/// Message-ID, except those the ledger already knows as its own copies.
pub async fn adopt_index(
    dst: &mut Connection,
    dest_folders: &[String],
    ledger: &Mutex<Ledger>,
    timeout: Duration,
) -> Result<AdoptIndex> {
    let mut index = AdoptIndex::new();
    for folder in dest_folders {
        let ours = ledger
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .dest_uids_in(folder);
        let mut by_key: HashMap<(MessageIdHash, u64), Vec<u32>> = HashMap::new();
        let (uidvalidity, there) = destination_since(dst, folder, 1, timeout).await?;
        for a in there {
            if let (Some(id), false) = (a.message_id, ours.contains(&a.uid)) {
                by_key.entry((id, a.size)).or_default().push(a.uid);
            }
        }
        let by_key = Mutex::new(by_key);
        index.insert(
            folder.clone(),
            AdoptFolder {
                uidvalidity,
                by_key,
            },
        );
    }
    Ok(index)
}

/// Numbers the source folders `folders` (wire name, UIDVALIDITY) in the ledger's store, if it
/// has one, so their messages can be recorded.
pub async fn register_folders(ledger: &Mutex<Ledger>, folders: &[(String, u32)]) -> Result<()> {
    let (missing, store) = {
        let l = ledger.lock().unwrap_or_else(|e| e.into_inner());
        (l.unregistered(folders), l.store())
    };
    let Some((store, mailbox)) = store else {
        return Ok(());
    };
    if missing.is_empty() {
        return Ok(());
    }
    let ids = store
        .call(move |db| {
            missing
                .into_iter()
                .map(|(name, v)| Ok(((name.clone(), v), db.folder(&mailbox, &name, v)?)))
                .collect::<crate::state::Result<Vec<_>>>()
        })
        .await
        .map_err(state_error)?;
    let mut l = ledger.lock().unwrap_or_else(|e| e.into_inner());
    if let Some(p) = &mut l.persist {
        p.folder_ids.extend(ids);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(uid: u32) -> SourceKey {
        SourceKey {
            folder: "INBOX".into(),
            uidvalidity: 7,
            uid,
        }
    }

    fn sent(uid: u32) -> SentMessage {
        let body = format!("Message-ID: <{uid}@x>\r\n\r\nbody\r\n").into_bytes();
        let meta = MessageMeta {
            folder: 0,
            uid,
            internaldate: None,
            size: body.len() as u64,
            flags: vec!["\\Seen".into()],
        };
        SentMessage::new(key(uid), "INBOX", &meta, &body, &body)
    }

    #[test]
    fn message_ids_are_read_unfolded_and_trimmed() {
        assert_eq!(
            message_id_hash(
                b"Subject: a\r\nmessage-id:\r\n  <a@b>  \r\n\r\nMessage-ID: <body@x>\r\n"
            ),
            Some(MessageIdHash::of(b"<a@b>"))
        );
        assert_eq!(
            message_id_hash(b"Subject: none\r\n\r\nMessage-ID: <x@y>\r\n"),
            None
        );
        assert_eq!(message_id_hash(b"Message-ID:   \r\n\r\n"), None);
    }

    #[test]
    fn only_an_acknowledged_append_makes_a_message_done() {
        let mut l = Ledger::default();
        let a = l.sending(vec![sent(1), sent(2)]);
        let b = l.sending(vec![sent(3)]);
        let c = l.sending(vec![sent(4)]);
        l.stored(a, Some((3, &[10, 11])));
        l.refused(b);
        assert!(l.is_done(&key(1)) && l.is_done(&key(2)));
        assert!(!l.is_done(&key(3)) && !l.is_done(&key(4)));
        assert_eq!(l.done_in("INBOX").0, 2);
        assert!(!l.has_pending());
        l.attempt_failed();
        assert!(l.has_pending());
        // The unanswered ticket is gone: a late answer changes nothing.
        l.stored(c, None);
        assert!(!l.is_done(&key(4)));
        // APPENDUID raised the floor above what was acknowledged.
        assert_eq!(l.floor.get("INBOX"), Some(&12));
    }

    #[test]
    fn the_first_uidnext_is_kept() {
        let mut l = Ledger::default();
        l.note_uidnext("INBOX", 5);
        l.note_uidnext("INBOX", 9);
        assert_eq!(l.floor.get("INBOX"), Some(&5));
        assert!(l.knows_floor("INBOX") && !l.knows_floor("Sent"));
    }

    #[tokio::test]
    async fn a_persisted_ledger_comes_back_with_done_and_pending_messages() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("state.db");
        let store = StateStore::open(&path).await.unwrap();
        let ledger = Mutex::new(Ledger::load(store.clone(), "joe".into()).await.unwrap());
        register_folders(&ledger, &[("INBOX".into(), 7)])
            .await
            .unwrap();
        {
            let mut l = ledger.lock().unwrap();
            l.note_uidnext("INBOX", 40);
            l.intend(&[sent(1), sent(2), sent(3)]);
        }
        flush(&ledger).await.unwrap();
        {
            let mut l = ledger.lock().unwrap();
            let t = l.sending(vec![sent(1), sent(2)]);
            l.stored(t, Some((3, &[40, 41])));
            let t = l.sending(vec![sent(3)]);
            // No answer to this one: the process dies here.
            let _ = t;
        }
        flush(&ledger).await.unwrap();
        drop(ledger);
        drop(store);

        let store = StateStore::open(&path).await.unwrap();
        let l = Ledger::load(store, "joe".into()).await.unwrap();
        assert!(l.is_done(&key(1)) && l.is_done(&key(2)) && !l.is_done(&key(3)));
        assert_eq!(l.done_in("INBOX"), (2, 2 * sent(1).facts.sent_size));
        assert!(l.has_pending());
        assert_eq!(l.pending.len(), 1);
        assert_eq!(l.pending[0].key, key(3));
        // Looked for from the floor the intent carried: above what was acknowledged.
        assert_eq!(l.floor.get("INBOX"), Some(&40));
    }
}
