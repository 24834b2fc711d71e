//! Model-based test of the ledger: random histories of a mailbox (passes killed at any step,
//! APPEND answers lost, connections dropped before the server read a batch, destination folders
//! recreated with or without their mail, the destination re-provisioned, the folder map
//! changed, source folders recreated, messages arriving and expunged, INTERNALDATEs in any
//! order against UIDs, missing and duplicated Message-IDs) run against the real [`Book`] and the
//! real state store, with in-memory source and destination servers. A driver takes the steps
//! `copier::mailbox` takes, in its order. After a final clean pass the destination equals the
//! source, folder by folder through the current map: nothing lost, nothing twice.
//!
//! `PROPTEST_CASES` sets the number of histories (10,000 by default); a failure shrinks to a
//! minimal one.

mod world;

use super::arrivals::content_candidates;
use super::book::Book;
use super::recheck::RemapPolicy;
use super::{SentMessage, SourceKey};
use crate::state::MessageFacts;
use chrono::{TimeZone, Utc};
use proptest::prelude::*;
use std::collections::{BTreeMap, HashMap, HashSet};
use world::{apply, fingerprint, id_hash, step, world, Folder, Msg, World, MAILBOX};

/// Why an attempt ended early.
enum Interrupt {
    Crash,
    Dropped,
}

fn commit(w: &mut World, book: &mut Book) {
    w.db.commit(book.take_outbox())
        .expect("the book keeps the store's protocol");
}

/// Counts the pass's events; says when the process dies.
struct Clock<'a> {
    n: u16,
    crash: Option<u16>,
    lose: &'a [u16],
    drop: &'a [u16],
}

impl Clock<'_> {
    fn tick(&mut self) -> Result<u16, Interrupt> {
        self.n += 1;
        match self.crash == Some(self.n) {
            true => Err(Interrupt::Crash),
            false => Ok(self.n),
        }
    }
}

fn facts(m: &Msg) -> MessageFacts {
    MessageFacts {
        uid: m.uid,
        size: m.size,
        fingerprint: fingerprint(m.body),
        sent_size: m.size,
        sent_fingerprint: fingerprint(m.body),
        message_id: m.msgid.map(id_hash),
        internal_date: Some(Utc.timestamp_opt(m.date, 0).unwrap()),
        flags: String::new(),
    }
}

/// Recreated destination folders: their done messages looked for again, or forgotten.
fn recheck(w: &mut World, book: &mut Book) {
    let dests: Vec<(String, u32)> = w
        .dst
        .iter()
        .map(|(n, f)| (n.clone(), f.uidvalidity))
        .collect();
    for (name, validity) in dests {
        let stale = book.stale_in(&name, validity);
        if stale.is_empty() {
            continue;
        }
        let wanted: Vec<_> = (stale.into_iter())
            .filter_map(|(k, id)| {
                let r = w.db.message(id, k.uid).expect("store readable")?;
                Some((k, id, r.facts))
            })
            .collect();
        let there = World::arrived(&w.dst[&name], 1);
        let candidates = content_candidates(wanted.iter().map(|(_, _, f)| f), &there);
        let contents = World::contents(&w.dst[&name], &candidates);
        book.refind(&name, validity, wanted, &there, &contents);
    }
}

/// One attempt of a pass, the steps of `copier::mailbox::run` in their order.
fn attempt(
    w: &mut World,
    book: &mut Book,
    clock: &mut Clock,
    batch: usize,
    depth: usize,
) -> Result<(), Interrupt> {
    // Unanswered APPENDs of an earlier attempt or run: looked for.
    for (folder, floor, pending) in book.take_pending() {
        let (validity, there, contents) = match w.dst.get(&folder) {
            None => (None, Vec::new(), HashMap::new()),
            Some(f) => {
                let mut there = World::arrived(f, floor.uid);
                if floor.validity.is_some_and(|v| v != f.uidvalidity) {
                    there = World::arrived(f, 1);
                }
                let candidates = content_candidates(pending.iter().map(|m| &m.facts), &there);
                (Some(f.uidvalidity), there, World::contents(f, &candidates))
            }
        };
        book.settle(&folder, validity, pending, &there, &contents);
    }
    commit(w, book);
    clock.tick()?;
    // Records the map moved.
    let plan: HashMap<String, String> = w
        .src
        .keys()
        .map(|s| (s.clone(), w.map[s].clone()))
        .collect();
    let moved = book.moved(&plan);
    let dest_now: HashMap<String, Option<u32>> = w
        .dst
        .iter()
        .map(|(n, f)| (n.clone(), Some(f.uidvalidity)))
        .collect();
    book.revalidate_moved(moved, &dest_now, RemapPolicy::Copy)
        .expect("copy never refuses");
    commit(w, book);
    // Folders made.
    for dest in plan.values() {
        if !w.dst.contains_key(dest) {
            let v = w.fresh();
            w.dst.insert(
                dest.clone(),
                Folder {
                    uidvalidity: v,
                    next_uid: 1,
                    msgs: Vec::new(),
                },
            );
        }
    }
    // Recreated destination folders (and records naming a folder made just now).
    recheck(w, book);
    commit(w, book);
    clock.tick()?;
    // Scan, register, classify; re-match recreated source folders.
    let mut all: Vec<(String, Msg)> = Vec::new();
    let sources = w.src.clone();
    for (name, f) in &sources {
        let id =
            w.db.folder(MAILBOX, name, f.uidvalidity)
                .expect("store writable");
        book.register(vec![((name.clone(), f.uidvalidity), id)]);
        let key = |m: &Msg| SourceKey {
            folder: name.clone(),
            uidvalidity: f.uidvalidity,
            uid: m.uid,
        };
        let mut todo: Vec<&Msg> = f.msgs.iter().filter(|m| !book.is_done(&key(m))).collect();
        if book.needs_rematch(name, f.uidvalidity) && !todo.is_empty() {
            commit(w, book);
            let sent: Vec<SentMessage> = todo
                .iter()
                .map(|m| sent(name, f.uidvalidity, &plan[name], m))
                .collect();
            let found = (sent.iter())
                .map(|s| {
                    w.db.find_by_fingerprint(MAILBOX, &s.facts.fingerprint)
                        .expect("store readable")
                })
                .collect();
            let known = book.rematch(&sent, found);
            todo.retain(|m| !known.contains(&key(m)));
        }
        all.extend(todo.into_iter().map(|m| (name.clone(), m.clone())));
    }
    commit(w, book);
    // Newest first, in windows of one folder, each folder written in order.
    all.sort_by_key(|(f, m)| (std::cmp::Reverse(m.date), f.clone(), m.uid));
    let mut floors_noted = HashSet::new();
    let mut unanswered: Vec<(u64, String, (u32, Vec<u32>))> = Vec::new();
    let mut ticket = 0;
    let mut i = 0;
    while i < all.len() {
        let folder = all[i].0.clone();
        let mut j = i;
        while j < all.len() && all[j].0 == folder && j - i < batch {
            j += 1;
        }
        let window: Vec<Msg> = all[i..j].iter().map(|(_, m)| m.clone()).collect();
        i = j;
        let (dest, validity) = (plan[&folder].clone(), w.src[&folder].uidvalidity);
        if floors_noted.insert(dest.clone()) && !book.knows_floor(&dest) {
            let f = &w.dst[&dest];
            book.note_uidnext(&dest, f.next_uid, Some(f.uidvalidity));
        }
        let sent: Vec<SentMessage> = window
            .iter()
            .map(|m| sent(&folder, validity, &dest, m))
            .collect();
        book.intend(&sent, Utc.timestamp_opt(1_700_000_000, 0).unwrap());
        clock.tick()?;
        commit(w, book);
        clock.tick()?;
        ticket += 1;
        book.sending(ticket, sent);
        let event = clock.tick()?;
        if clock.drop.contains(&event) {
            return Err(Interrupt::Dropped);
        }
        let answer = w.store(&dest, &window);
        if clock.lose.contains(&event) {
            return Err(Interrupt::Dropped);
        }
        unanswered.push((ticket, dest, answer));
        while unanswered.len() >= depth.max(1) {
            let (t, _, answer) = unanswered.remove(0);
            book.stored(t, Some(answer));
            clock.tick()?;
        }
    }
    for (t, _, answer) in unanswered {
        book.stored(t, Some(answer));
        clock.tick()?;
    }
    commit(w, book);
    Ok(())
}

fn sent(folder: &str, uidvalidity: u32, dest: &str, m: &Msg) -> SentMessage {
    SentMessage {
        key: SourceKey {
            folder: folder.to_string(),
            uidvalidity,
            uid: m.uid,
        },
        dest_folder: dest.to_string(),
        facts: facts(m),
    }
}

fn load(w: &World) -> Book {
    let folders = (w.db.folders(MAILBOX).unwrap().into_iter())
        .map(|f| {
            let done = w.db.done_records(f.id).unwrap();
            (f, done)
        })
        .collect();
    Book::from_store(folders, w.db.pending_intents(MAILBOX).unwrap())
}

/// A pass: attempts until one ends it, as `copier::mailbox::attempts` does. `false` if killed.
fn pass(
    w: &mut World,
    crash: Option<u16>,
    lose: &[u16],
    drop: &[u16],
    batch: usize,
    depth: usize,
) -> bool {
    let mut book = load(w);
    let mut clock = Clock {
        n: 0,
        crash,
        lose,
        drop,
    };
    for _ in 0..50 {
        match attempt(w, &mut book, &mut clock, batch, depth) {
            Ok(()) => return true,
            Err(Interrupt::Crash) => return false,
            Err(Interrupt::Dropped) => {
                book.attempt_failed();
                commit(w, &mut book);
            }
        }
    }
    panic!("a pass that cannot finish");
}

/// The multiset `a` less the multiset `b`.
fn minus<T: PartialEq + Clone>(a: &[T], b: &[T]) -> Vec<T> {
    let mut rest = a.to_vec();
    for x in b {
        if let Some(i) = rest.iter().position(|r| r == x) {
            rest.remove(i);
        }
    }
    rest
}

fn assert_converged(w: &World) -> Result<(), TestCaseError> {
    // Content and INTERNALDATE: identical bytes sent twice must each keep their own date.
    let mut want: BTreeMap<String, Vec<(u32, i64)>> = BTreeMap::new();
    for (name, f) in &w.src {
        want.entry(w.map[name].clone())
            .or_default()
            .extend(f.msgs.iter().map(|m| (m.body, m.date)));
    }
    for (dest, mut want) in want {
        want.sort_unstable();
        let mut got: Vec<(u32, i64)> = w
            .dst
            .get(&dest)
            .map(|f| f.msgs.iter().map(|m| (m.body, m.date)).collect())
            .unwrap_or_default();
        got.sort_unstable();
        // Nothing missing; beyond what is wanted, at most a copy of each message expunged
        // since (a pass never deletes at the destination).
        let missing = minus(&want, &got);
        prop_assert!(
            missing.is_empty(),
            "destination folder {}: missing {:?}",
            dest,
            missing
        );
        let extra = minus(&got, &want);
        let unexplained = minus(&extra, &w.gone);
        prop_assert!(
            unexplained.is_empty(),
            "destination folder {}: twice {:?}",
            dest,
            unexplained
        );
    }
    let book = load(w);
    prop_assert!(
        !book.has_pending(),
        "intents left pending after a clean pass"
    );
    let sources: usize = w.src.values().map(|f| f.msgs.len()).sum();
    prop_assert!(
        book.done_count() as usize >= sources,
        "a migrated message not recorded"
    );
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: std::env::var("PROPTEST_CASES").ok().and_then(|c| c.parse().ok()).unwrap_or(10_000),
        max_shrink_iters: 20_000,
        ..ProptestConfig::default()
    })]

    #[test]
    fn any_history_then_a_clean_pass_leaves_the_destination_equal_to_the_source(
        folders in 1usize..=3,
        steps in proptest::collection::vec(step(), 1..14),
    ) {
        let mut w = world(folders);
        for s in &steps {
            apply(&mut w, s);
        }
        prop_assert!(pass(&mut w, None, &[], &[], 3, 2), "the clean pass ended early");
        assert_converged(&w)?;
    }
}
