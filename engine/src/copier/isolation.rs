//! One attempt's view of the mailbox's [`Suspects`](super::suspects::Suspects): which
//! messages to read alone, which not to ask for; and what the attempt's fetchers tell the
//! attempt loop back: how many bodies the source delivered, which windows a failure cut short.
//!
//! Invariants: a view never changes what to read during its attempt (only the attempt loop
//! changes the suspects, between attempts); [`Isolation::split`] keeps every message exactly
//! once, each folder's windows in order with `seq` 0, 1, 2..., and a message to read alone in a
//! window of its own.

use super::suspects::CutWindow;
use crate::plan::order::Window;
use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;

/// One attempt's view of the suspects: which messages to read alone, which not to ask for, and
/// a count of the bodies the source delivered (shared by the attempt's fetchers).
#[derive(Debug, Default)]
pub struct Isolation {
    alone: HashMap<String, HashSet<u32>>,
    unreadable: HashMap<String, HashMap<u32, String>>,
    delivered: AtomicU64,
    cuts: Mutex<Vec<CutWindow>>,
}

impl Isolation {
    /// A view reading `alone` alone and leaving `unreadable` out (folder wire name → UIDs).
    pub(super) fn new(
        alone: HashMap<String, HashSet<u32>>,
        unreadable: HashMap<String, HashMap<u32, String>>,
    ) -> Self {
        Isolation {
            alone,
            unreadable,
            ..Isolation::default()
        }
    }

    /// Why `uid` of `folder` is not to be asked for, if it is unreadable.
    pub fn unreadable(&self, folder: &str, uid: u32) -> Option<&str> {
        self.unreadable
            .get(folder)
            .and_then(|m| m.get(&uid))
            .map(String::as_str)
    }

    /// Whether `uid` of `folder` is to be read alone.
    pub fn reads_alone(&self, folder: &str, uid: u32) -> bool {
        self.alone.get(folder).is_some_and(|s| s.contains(&uid))
    }

    /// Notes that the source delivered `n` bodies.
    pub fn note_delivered(&self, n: u64) {
        self.delivered.fetch_add(n, Ordering::Relaxed);
    }

    /// Bodies the source delivered in this attempt.
    pub fn delivered(&self) -> u64 {
        self.delivered.load(Ordering::Relaxed)
    }

    /// Notes a window whose answer a failure cut short.
    pub fn note_cut(&self, cut: CutWindow) {
        self.cuts
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(cut);
    }

    /// The windows of this attempt whose answers a failure cut short.
    pub fn cuts(&self) -> Vec<CutWindow> {
        self.cuts.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// Cuts every message to be read alone out of its window into a window of its own, right
    /// after what remains of that window (if anything), and renumbers each folder's windows so
    /// their `seq` is 0, 1, 2... in the order returned, which keeps the writers' order.
    /// `wire(folder)` is the source wire name of folder index `folder`.
    pub fn split<'a>(&self, windows: Vec<Window>, wire: impl Fn(usize) -> &'a str) -> Vec<Window> {
        if self.alone.is_empty() {
            return windows;
        }
        let mut next_seq: HashMap<usize, u64> = HashMap::new();
        let mut out = Vec::with_capacity(windows.len());
        let mut push = |mut w: Window, out: &mut Vec<Window>| {
            let seq = next_seq.entry(w.folder).or_insert(0);
            w.seq = *seq;
            w.bytes = w.items.iter().map(|m| m.size).sum();
            *seq += 1;
            out.push(w);
        };
        for w in windows {
            let folder = wire(w.folder);
            let (alone, rest): (Vec<_>, Vec<_>) = w
                .items
                .into_iter()
                .partition(|m| self.reads_alone(folder, m.uid));
            if !rest.is_empty() {
                push(Window { items: rest, ..w }, &mut out);
            }
            for m in alone {
                push(
                    Window {
                        folder: w.folder,
                        seq: 0,
                        items: vec![m],
                        bytes: 0,
                    },
                    &mut out,
                );
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::copier::suspects::Suspects;
    use crate::plan::order::MessageMeta;
    use proptest::prelude::*;

    fn cut(uids: &[u32]) -> [CutWindow; 1] {
        [CutWindow {
            folder: "INBOX".into(),
            asked: uids.len().max(1),
            mid_answer: true,
            unreceived: uids.to_vec(),
            reason: "connection lost".into(),
        }]
    }

    fn meta(folder: usize, uid: u32, size: u64) -> MessageMeta {
        MessageMeta {
            folder,
            uid,
            internaldate: None,
            size,
            flags: vec![],
        }
    }

    fn window(folder: usize, seq: u64, uids: &[u32]) -> Window {
        let items: Vec<_> = uids
            .iter()
            .map(|&u| meta(folder, u, u64::from(u)))
            .collect();
        Window {
            folder,
            seq,
            bytes: items.iter().map(|m| m.size).sum(),
            items,
        }
    }

    #[test]
    fn suspects_get_windows_of_their_own_in_place() {
        let mut s = Suspects::new();
        s.attempt_failed(0, &(cut(&[5, 6])));
        let wires = ["INBOX".to_owned(), "Sent".to_owned()];
        let out = s.isolation().split(
            vec![
                window(0, 0, &[9, 6, 7]),
                window(1, 0, &[6]),
                window(0, 1, &[5]),
                window(0, 2, &[4, 3]),
            ],
            |f| wires[f].as_str(),
        );
        let shape: Vec<(usize, u64, Vec<u32>, u64)> = out
            .iter()
            .map(|w| {
                (
                    w.folder,
                    w.seq,
                    w.items.iter().map(|m| m.uid).collect(),
                    w.bytes,
                )
            })
            .collect();
        assert_eq!(
            shape,
            vec![
                (0, 0, vec![9, 7], 16),
                (0, 1, vec![6], 6),
                (1, 0, vec![6], 6),
                (0, 2, vec![5], 5),
                (0, 3, vec![4, 3], 7),
            ]
        );
    }

    proptest! {
        /// Splitting keeps every message once, in order per folder; suspects stand alone; no
        /// window is empty; each folder's seq counts 0, 1, 2... in order.
        #[test]
        fn split_keeps_every_message_and_the_order(
            plan in prop::collection::vec((0usize..3, prop::collection::vec(1u32..40, 1..8)), 0..12),
            suspects in prop::collection::vec((0usize..3, 1u32..40), 0..10),
        ) {
            let wires = ["A".to_owned(), "B".to_owned(), "C".to_owned()];
            let mut s = Suspects::new();
            for (f, uid) in &suspects {
                s.attempt_failed(0, &[CutWindow {
                    folder: wires[*f].clone(),
                    asked: 2,
                    mid_answer: true,
                    unreceived: vec![*uid, 1000],
                    reason: String::new(),
                }]);
            }
            let mut seqs: HashMap<usize, u64> = HashMap::new();
            let windows: Vec<Window> = plan.iter().map(|(f, uids)| {
                let seq = seqs.entry(*f).or_insert(0);
                *seq += 1;
                window(*f, *seq - 1, uids)
            }).collect();
            let iso = s.isolation();
            let out = iso.split(windows.clone(), |f| wires[f].as_str());
            for (f, wire) in wires.iter().enumerate() {
                let before: Vec<u32> = windows.iter().filter(|w| w.folder == f)
                    .flat_map(|w| w.items.iter().map(|m| m.uid)).collect();
                let after: Vec<u32> = out.iter().filter(|w| w.folder == f)
                    .flat_map(|w| w.items.iter().map(|m| m.uid)).collect();
                let mut b = before.clone();
                let mut a = after.clone();
                b.sort_unstable();
                a.sort_unstable();
                prop_assert_eq!(a, b);
                // What stays in shared windows keeps its order.
                let shared = |v: &[u32]| -> Vec<u32> {
                    v.iter().copied().filter(|u| !iso.reads_alone(wire, *u)).collect()
                };
                prop_assert_eq!(shared(&after), shared(&before));
                let seq: Vec<u64> = out.iter().filter(|w| w.folder == f).map(|w| w.seq).collect();
                prop_assert_eq!(seq, (0..out.iter().filter(|w| w.folder == f).count() as u64).collect::<Vec<_>>());
            }
            for w in &out {
                prop_assert!(!w.items.is_empty());
                prop_assert_eq!(w.bytes, w.items.iter().map(|m| m.size).sum::<u64>());
                if w.items.iter().any(|m| iso.reads_alone(&wires[w.folder], m.uid)) {
                    prop_assert_eq!(w.items.len(), 1);
                }
            }
        }

    }
}
