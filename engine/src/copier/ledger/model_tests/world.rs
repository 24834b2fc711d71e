//! The model's world: in-memory source and destination servers, the folder map, the real state
//! store, and the steps of a history that change them between passes.

use super::super::arrivals::Arrived;
use super::pass;
use crate::state::{Fingerprint, MessageIdHash, StateDb};
use proptest::prelude::*;
use std::collections::{BTreeMap, HashMap};

pub(super) const MAILBOX: &str = "kim";

#[derive(Debug, Clone)]
pub(super) struct Msg {
    pub(super) uid: u32,
    pub(super) body: u32,
    pub(super) msgid: Option<u32>,
    pub(super) size: u64,
    pub(super) date: i64,
}

#[derive(Debug, Clone)]
pub(super) struct Folder {
    pub(super) uidvalidity: u32,
    pub(super) next_uid: u32,
    pub(super) msgs: Vec<Msg>,
}

/// Message-ID of a new message: unique, none, or the same as (and the same size as) an
/// earlier message of any folder.
#[derive(Debug, Clone)]
pub(super) enum Id {
    Unique,
    Missing,
    Duplicate(usize),
    /// The same bytes as an earlier message (so the same Message-ID and size), another date.
    SameContent(usize),
}

#[derive(Debug, Clone)]
pub(super) enum Step {
    /// A pass, killed after `crash` events if given; `lose` answers are lost and `drop` batches
    /// never reach the server (both by event number); `batch` messages per APPEND.
    Pass {
        crash: Option<u16>,
        lose: Vec<u16>,
        drop: Vec<u16>,
        batch: usize,
        depth: usize,
    },
    NewMessage {
        folder: usize,
        id: Id,
        date: i64,
        size: u64,
    },
    Expunge {
        folder: usize,
        pick: usize,
    },
    DestRecreated {
        pick: usize,
        keep: bool,
    },
    DestReset,
    MapChange {
        folder: usize,
    },
    SourceRecreated {
        folder: usize,
    },
}

pub(super) struct World {
    pub(super) src: BTreeMap<String, Folder>,
    pub(super) dst: BTreeMap<String, Folder>,
    pub(super) map: BTreeMap<String, String>,
    pub(super) db: StateDb,
    pub(super) next: u32,
    /// Contents expunged at the source: a copy may stay at the destination (a pass never
    /// deletes there).
    pub(super) gone: Vec<(u32, i64)>,
    pub(super) _dir: tempfile::TempDir,
}

pub(super) fn fingerprint(body: u32) -> Fingerprint {
    Fingerprint::of(format!("body {body}").as_bytes())
}

pub(super) fn id_hash(id: u32) -> MessageIdHash {
    MessageIdHash::of(format!("<{id}@model>").as_bytes())
}

impl World {
    pub(super) fn fresh(&mut self) -> u32 {
        self.next += 1;
        self.next
    }

    pub(super) fn arrived(folder: &Folder, floor: u32) -> Vec<Arrived> {
        (folder.msgs.iter().filter(|m| m.uid >= floor))
            .map(|m| Arrived {
                uid: m.uid,
                size: m.size,
                message_id: m.msgid.map(id_hash),
                date: Some(chrono::TimeZone::timestamp_opt(&chrono::Utc, m.date, 0).unwrap()),
            })
            .collect()
    }

    pub(super) fn contents(folder: &Folder, uids: &[u32]) -> HashMap<u32, Fingerprint> {
        (folder.msgs.iter().filter(|m| uids.contains(&m.uid)))
            .map(|m| (m.uid, fingerprint(m.body)))
            .collect()
    }

    pub(super) fn store(&mut self, dest: &str, msgs: &[Msg]) -> (u32, Vec<u32>) {
        let f = self.dst.get_mut(dest).expect("created before writing");
        let uids: Vec<u32> = msgs
            .iter()
            .map(|m| {
                let uid = f.next_uid;
                f.next_uid += 1;
                f.msgs.push(Msg { uid, ..m.clone() });
                uid
            })
            .collect();
        (f.uidvalidity, uids)
    }
}

pub(super) fn apply(w: &mut World, step: &Step) {
    match step.clone() {
        Step::Pass {
            crash,
            lose,
            drop,
            batch,
            depth,
        } => {
            pass(w, crash, &lose, &drop, batch, depth);
        }
        Step::NewMessage {
            folder,
            id,
            mut date,
            size,
        } => {
            let all: Vec<Msg> = w.src.values().flat_map(|f| f.msgs.clone()).collect();
            let (msgid, size, body) = match id {
                Id::Unique => (Some(w.fresh()), size, w.fresh()),
                Id::Missing => (None, size, w.fresh()),
                // Another date than the message it resembles: a shared Message-ID, size and date
                // with different content is the one case the look-ups cannot tell apart.
                Id::Duplicate(i) if !all.is_empty() => {
                    let other = &all[i % all.len()];
                    if other.date == date {
                        date += 1;
                    }
                    (other.msgid.or(Some(w.fresh())), other.size, w.fresh())
                }
                Id::SameContent(i) if !all.is_empty() => {
                    let other = &all[i % all.len()];
                    if other.date == date {
                        date += 1;
                    }
                    (other.msgid, other.size, other.body)
                }
                Id::Duplicate(_) | Id::SameContent(_) => (Some(w.fresh()), size, w.fresh()),
            };
            let name = w.src.keys().nth(folder % w.src.len()).unwrap().clone();
            let f = w.src.get_mut(&name).unwrap();
            f.msgs.push(Msg {
                uid: f.next_uid,
                body,
                msgid,
                size,
                date,
            });
            f.next_uid += 1;
        }
        Step::Expunge { folder, pick } => {
            let name = w.src.keys().nth(folder % w.src.len()).unwrap().clone();
            let f = w.src.get_mut(&name).unwrap();
            if !f.msgs.is_empty() {
                let m = f.msgs.remove(pick % f.msgs.len());
                w.gone.push((m.body, m.date));
            }
        }
        Step::DestRecreated { pick, keep } => {
            if w.dst.is_empty() {
                return;
            }
            let name = w.dst.keys().nth(pick % w.dst.len()).unwrap().clone();
            let v = w.fresh();
            let f = w.dst.get_mut(&name).unwrap();
            f.uidvalidity = v;
            f.next_uid = 1;
            let old = std::mem::take(&mut f.msgs);
            if keep {
                for m in old {
                    f.msgs.push(Msg {
                        uid: f.next_uid,
                        ..m
                    });
                    f.next_uid += 1;
                }
            }
        }
        Step::DestReset => w.dst.clear(),
        Step::MapChange { folder } => {
            let name = w.src.keys().nth(folder % w.src.len()).unwrap().clone();
            let fresh = format!("D{}", w.fresh());
            w.map.insert(name, fresh);
        }
        Step::SourceRecreated { folder } => {
            let name = w.src.keys().nth(folder % w.src.len()).unwrap().clone();
            let v = w.fresh();
            let f = w.src.get_mut(&name).unwrap();
            f.uidvalidity = v;
            f.next_uid = 1;
            for m in &mut f.msgs {
                m.uid = f.next_uid;
                f.next_uid += 1;
            }
        }
    }
}

/// The destination equals the source through the current map: per destination folder of the
/// plan, the same multiset of contents, but for one copy at most of a message expunged at the
/// source since (passes never delete). Old folders a changed map left may keep copies.
pub(super) fn step() -> impl Strategy<Value = Step> {
    prop_oneof![
        4 => (proptest::option::weighted(0.8, 1u16..60), proptest::collection::vec(1u16..60, 0..3),
              proptest::collection::vec(1u16..60, 0..2), 1usize..4, 1usize..4)
            .prop_map(|(crash, lose, drop, batch, depth)| Step::Pass { crash, lose, drop, batch, depth }),
        3 => (0usize..3, prop_oneof![3 => Just(Id::Unique), 1 => Just(Id::Missing), 1 => (0usize..64).prop_map(Id::Duplicate), 1 => (0usize..64).prop_map(Id::SameContent)],
              0i64..10_000, 100u64..200)
            .prop_map(|(folder, id, date, size)| Step::NewMessage { folder, id, date, size }),
        1 => (0usize..3, 0usize..64).prop_map(|(folder, pick)| Step::Expunge { folder, pick }),
        1 => (0usize..6, any::<bool>()).prop_map(|(pick, keep)| Step::DestRecreated { pick, keep }),
        1 => Just(Step::DestReset),
        1 => (0usize..3).prop_map(|folder| Step::MapChange { folder }),
        1 => (0usize..3).prop_map(|folder| Step::SourceRecreated { folder }),
    ]
}

pub(super) fn world(folders: usize) -> World {
    // tmpfs where there is one: a commit is an fsync.
    let dir = match std::path::Path::new("/dev/shm").is_dir() {
        true => tempfile::tempdir_in("/dev/shm"),
        false => tempfile::tempdir(),
    }
    .unwrap();
    let db = StateDb::open(dir.path().join("state.db")).unwrap();
    let names = ["INBOX", "Sent", "Archive"];
    let src: BTreeMap<String, Folder> = (names.iter().take(folders))
        .enumerate()
        .map(|(i, n)| {
            (
                n.to_string(),
                Folder {
                    uidvalidity: 100 + i as u32,
                    next_uid: 1,
                    msgs: Vec::new(),
                },
            )
        })
        .collect();
    let map = src.keys().map(|n| (n.clone(), n.clone())).collect();
    World {
        src,
        dst: BTreeMap::new(),
        map,
        db,
        next: 1000,
        gone: Vec::new(),
        _dir: dir,
    }
}
