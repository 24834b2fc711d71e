//! Messages the source cannot deliver: found by the connection drops they cause, across the
//! attempts at one mailbox.
//!
//! Some servers do not refuse a damaged message with a tagged NO: Dovecot, finding a Maildir
//! file shorter than the size it cached, drops the connection in the middle of the
//! `UID FETCH BODY.PEEK[]` answer. Retrying the same window fails the same way forever. The
//! attempt loop owns one [`Suspects`] for the whole mailbox. Each attempt's fetchers share an
//! [`Isolation`]: they skip what it names unreadable, count the bodies they receive, and note
//! every window whose answer a failure cut short (and fail with
//! [`Error::FetchDropped`](crate::error::Error)). After a failed attempt the loop hands those
//! cuts to [`Suspects::attempt_failed`]; the next attempt reads the messages not received one at
//! a time, and a message whose answer is cut twice when asked for alone is reported unreadable
//! and no longer asked for.
//!
//! Invariants:
//! - A message is *unreadable* only after the connection ended twice in the middle of the
//!   answer to a FETCH that asked for it alone ([`CutWindow::asked`], [`CutWindow::mid_answer`]).
//!   One drop is never enough, and neither is a drop before the answer began (a failed write, a
//!   BYE, a timeout) or the last message of a larger window being in flight: random network
//!   drops land on large messages often enough that counting those (tried against the mock's
//!   random drops) left a healthy 40 KB message behind in about one seed of eight.
//! - Every message not received when a window's answer was cut is *read alone* in every later
//!   attempt of the mailbox until it is unreadable (or copied, and then no longer planned).
//! - At [`MAX_UNREADABLE_IN_A_ROW`] unreadable messages found with no body delivered between
//!   them the mailbox gives up ([`Error::SourceKeepsDropping`]): a server that drops every FETCH
//!   costs a few attempts (at most `1 + 2 * MAX_UNREADABLE_IN_A_ROW` when one window fails at a
//!   time, each finding resetting the attempt loop's count of attempts without progress) and no
//!   failed login.
//! - No I/O, no clock: the fetchers read an [`Isolation`] snapshot, count deliveries and note
//!   cuts; the attempt loop alone changes [`Suspects`].

use super::isolation::Isolation;
use crate::error::Error;
use std::collections::{BTreeMap, HashMap, HashSet};

/// Unreadable messages found in a row, with no body delivered between them, before the mailbox
/// gives up on its source.
pub const MAX_UNREADABLE_IN_A_ROW: u32 = 3;

/// Answers cut while a message was asked for alone before it is unreadable.
const DROPS_TO_CONFIRM: u32 = 2;

/// A window whose answer was cut: what the fetcher knew when the connection went.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CutWindow {
    /// Source folder (wire name).
    pub folder: String,
    /// How many messages the window asked the source for: a drop counts against a message
    /// only when it was asked for alone.
    pub asked: usize,
    /// Whether the connection ended in the middle of the answer
    /// ([`Error::is_cut_mid_response`]): only then does the drop count against the message.
    pub mid_answer: bool,
    /// UIDs of the window that had not arrived when the connection dropped.
    pub unreceived: Vec<u32>,
    /// Why the connection ended, as the error said.
    pub reason: String,
}

/// What a failed attempt taught.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// Nothing about messages: the attempt failed elsewhere, or every body had arrived.
    Nothing,
    /// Messages to read alone next time, or a suspect that dropped once alone.
    Narrowed,
    /// These messages, as (folder wire name, UID), are unreadable: they are left out from now
    /// on. Progress.
    Unreadable {
        /// The messages found by this attempt.
        found: Vec<(String, u32)>,
    },
    /// [`MAX_UNREADABLE_IN_A_ROW`] messages found unreadable with nothing delivered between
    /// them: the source is not serving this mailbox; stop.
    GiveUp {
        /// The unreadable messages of that run, as (folder, UID), oldest finding first.
        found: Vec<(String, u32)>,
    },
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Mark {
    /// Read alone; `drops` counts the answers to it alone that were cut.
    Alone { drops: u32 },
    /// Never asked for again; why.
    Unreadable(String),
}

/// The mailbox's record of suspect and unreadable messages; owned by the attempt loop.
#[derive(Debug, Default)]
pub struct Suspects {
    marks: HashMap<String, BTreeMap<u32, Mark>>,
    /// Unreadable messages found since the source last delivered a body, in order.
    in_a_row: Vec<(String, u32)>,
}

impl Suspects {
    /// No suspects.
    pub fn new() -> Self {
        Self::default()
    }

    /// What the next attempt's fetchers and window plan need.
    pub fn isolation(&self) -> Isolation {
        let mut alone: HashMap<String, HashSet<u32>> = HashMap::new();
        let mut unreadable: HashMap<String, HashMap<u32, String>> = HashMap::new();
        for (folder, marks) in &self.marks {
            for (&uid, mark) in marks {
                match mark {
                    Mark::Alone { .. } => {
                        alone.entry(folder.clone()).or_default().insert(uid);
                    }
                    Mark::Unreadable(why) => {
                        unreadable
                            .entry(folder.clone())
                            .or_default()
                            .insert(uid, why.clone());
                    }
                }
            }
        }
        Isolation::new(alone, unreadable)
    }

    /// Unreadable messages found since the source last delivered a body.
    #[cfg(test)]
    fn confirmed_in_a_row(&self) -> u32 {
        self.in_a_row.len() as u32
    }

    /// Learns from an attempt that failed: `delivered` bodies had arrived in it, and `cuts` are
    /// the windows whose answers a failure interrupted ([`Isolation::delivered`],
    /// [`Isolation::cuts`]).
    pub fn attempt_failed(&mut self, delivered: u64, cuts: &[CutWindow]) -> Verdict {
        if delivered > 0 {
            self.in_a_row.clear();
        }
        let mut narrowed = false;
        let mut found = Vec::new();
        for cut in cuts.iter().filter(|c| !c.unreceived.is_empty()) {
            narrowed = true;
            found.extend(self.learn_cut(cut));
        }
        if self.in_a_row.len() as u32 >= MAX_UNREADABLE_IN_A_ROW {
            return Verdict::GiveUp {
                found: self.in_a_row.clone(),
            };
        }
        match (found.is_empty(), narrowed) {
            (false, _) => Verdict::Unreadable { found },
            (true, true) => Verdict::Narrowed,
            (true, false) => Verdict::Nothing,
        }
    }

    /// [`Suspects::attempt_failed`] with what `isolation` recorded of the attempt that failed
    /// with `e`: whether it found an unreadable message (progress), and the error to go on with,
    /// which is [`Error::SourceKeepsDropping`] when it is time to give up.
    pub fn learn(&mut self, isolation: &Isolation, e: Error) -> (Error, bool) {
        match self.attempt_failed(isolation.delivered(), &isolation.cuts()) {
            Verdict::Nothing | Verdict::Narrowed => (e, false),
            Verdict::Unreadable { found } => {
                for (folder, uid) in found {
                    tracing::warn!(folder = %folder, uid, "the source cannot deliver this message; leaving it out");
                }
                (e, true)
            }
            Verdict::GiveUp { found } => (
                Error::SourceKeepsDropping {
                    unreadable: found,
                    last: Box::new(e),
                },
                false,
            ),
        }
    }

    /// Marks the messages of one cut window; returns the one found unreadable, if any.
    fn learn_cut(&mut self, cut: &CutWindow) -> Option<(String, u32)> {
        let marks = self.marks.entry(cut.folder.clone()).or_default();
        let only = match cut.unreceived.as_slice() {
            [uid] if cut.asked == 1 && cut.mid_answer => Some(*uid),
            _ => None,
        };
        for &uid in &cut.unreceived {
            let mark = marks.entry(uid).or_insert(Mark::Alone { drops: 0 });
            let Mark::Alone { drops } = mark else {
                // Not asked for any more; a stale window cannot name it. Ignored.
                continue;
            };
            if only != Some(uid) {
                continue;
            }
            *drops += 1;
            if *drops >= DROPS_TO_CONFIRM {
                *mark = Mark::Unreadable(format!(
                    "the source dropped the connection in the middle of the answer each time it \
                     was asked for this message alone ({DROPS_TO_CONFIRM} times; last: {})",
                    cut.reason
                ));
                self.in_a_row.push((cut.folder.clone(), uid));
                return Some((cut.folder.clone(), uid));
            }
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;
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

    #[test]
    fn a_message_is_unreadable_after_two_drops_alone_and_not_before() {
        let mut s = Suspects::new();
        assert_eq!(s.attempt_failed(3, &(cut(&[7, 8, 9]))), Verdict::Narrowed);
        let iso = s.isolation();
        assert!(iso.reads_alone("INBOX", 8));
        assert!(!iso.reads_alone("INBOX", 6));
        assert_eq!(iso.unreadable("INBOX", 8), None);
        // 7 and 9 arrive alone; 8 drops alone once: still only a suspect.
        assert_eq!(s.attempt_failed(2, &(cut(&[8]))), Verdict::Narrowed);
        assert_eq!(s.isolation().unreadable("INBOX", 8), None);
        assert_eq!(
            s.attempt_failed(0, &(cut(&[8]))),
            Verdict::Unreadable {
                found: vec![("INBOX".into(), 8)]
            }
        );
        let iso = s.isolation();
        assert!(iso
            .unreadable("INBOX", 8)
            .unwrap()
            .contains("connection lost"));
        assert!(!iso.reads_alone("INBOX", 8));
        assert!(iso.reads_alone("INBOX", 9), "still read alone");
        assert_eq!(s.confirmed_in_a_row(), 1);
    }

    #[test]
    fn only_a_cut_in_the_middle_of_an_answer_to_the_message_alone_counts() {
        let mut s = Suspects::new();
        let cut_with = |asked: usize, mid_answer: bool| CutWindow {
            folder: "INBOX".into(),
            asked,
            mid_answer,
            unreceived: vec![8],
            reason: String::new(),
        };
        for _ in 0..5 {
            // The last of a window of ten in flight; the connection gone before the answer.
            assert_eq!(
                s.attempt_failed(0, &[cut_with(10, true)]),
                Verdict::Narrowed
            );
            assert_eq!(
                s.attempt_failed(0, &[cut_with(1, false)]),
                Verdict::Narrowed
            );
        }
        assert!(s.isolation().reads_alone("INBOX", 8));
        assert_eq!(s.attempt_failed(0, &[cut_with(1, true)]), Verdict::Narrowed);
        assert!(matches!(
            s.attempt_failed(0, &[cut_with(1, true)]),
            Verdict::Unreadable { .. }
        ));
    }

    #[test]
    fn failures_that_name_no_message_teach_nothing() {
        let mut s = Suspects::new();
        assert_eq!(s.attempt_failed(0, &[]), Verdict::Nothing);
        // The whole answer had arrived when the connection went.
        assert_eq!(s.attempt_failed(5, &(cut(&[]))), Verdict::Nothing);
        assert!(!s.isolation().reads_alone("INBOX", 1));
    }

    #[test]
    fn a_source_that_drops_every_fetch_is_given_up_after_a_bounded_number_of_attempts() {
        let mut s = Suspects::new();
        let mut attempts = 1;
        let mut verdict = s.attempt_failed(0, &(cut(&(1..=50).collect::<Vec<_>>())));
        while !matches!(verdict, Verdict::GiveUp { .. }) {
            attempts += 1;
            assert!(attempts <= 100, "never gave up");
            // The first message still read alone drops the connection again.
            let first = (1..=50)
                .find(|&u| s.isolation().reads_alone("INBOX", u))
                .unwrap();
            verdict = s.attempt_failed(0, &(cut(&[first])));
        }
        assert_eq!(attempts, 1 + 2 * MAX_UNREADABLE_IN_A_ROW as usize);
        assert_eq!(
            verdict,
            Verdict::GiveUp {
                found: vec![
                    ("INBOX".into(), 1),
                    ("INBOX".into(), 2),
                    ("INBOX".into(), 3)
                ]
            }
        );
    }

    #[test]
    fn a_delivered_body_between_findings_resets_the_count() {
        let mut s = Suspects::new();
        s.attempt_failed(0, &(cut(&[1, 2, 3, 4])));
        for uid in [1, 2, 3, 4] {
            s.attempt_failed(0, &(cut(&[uid])));
            let v = s.attempt_failed(0, &(cut(&[uid])));
            assert!(matches!(
                v,
                Verdict::Unreadable { .. } | Verdict::GiveUp { .. }
            ));
            if uid == 2 {
                // The next attempt delivers something before its drop.
                assert_eq!(s.confirmed_in_a_row(), 2);
                s.attempt_failed(1, &[]);
                assert_eq!(s.confirmed_in_a_row(), 0);
            }
        }
        assert_eq!(s.confirmed_in_a_row(), 2);
    }

    #[test]
    fn every_window_cut_in_one_attempt_is_learnt_from() {
        let mut s = Suspects::new();
        let [inbox] = cut(&[4]);
        let sent = CutWindow {
            folder: "Sent".into(),
            asked: 5,
            mid_answer: true,
            unreceived: vec![9, 10],
            reason: "timed out".into(),
        };
        let cuts = [inbox.clone(), sent];
        assert_eq!(s.attempt_failed(0, &cuts), Verdict::Narrowed);
        assert!(s.isolation().reads_alone("Sent", 10));
        assert_eq!(
            s.attempt_failed(0, &[inbox, cut(&[1]).into_iter().next().unwrap()]),
            Verdict::Unreadable {
                found: vec![("INBOX".into(), 4)]
            }
        );
        assert_eq!(s.isolation().unreadable("Sent", 9), None);
    }

    proptest! {
        /// Whatever drops happen, a message becomes unreadable only after being the only one
        /// not received twice, and the mailbox gives up only after MAX in a row.
        #[test]
        fn unreadable_needs_two_drops_alone(
            events in prop::collection::vec((0u64..2, prop::collection::vec(1u32..6, 0..4)), 0..40),
        ) {
            let mut s = Suspects::new();
            let mut alone_drops: HashMap<u32, u32> = HashMap::new();
            for (delivered, uids) in events {
                let mut uids = uids;
                uids.sort_unstable();
                uids.dedup();
                if uids.iter().any(|u| s.isolation().unreadable("INBOX", *u).is_some()) {
                    continue; // never asked for again, so never cut again
                }
                if let [u] = uids.as_slice() {
                    *alone_drops.entry(*u).or_default() += 1;
                }
                let v = s.attempt_failed(delivered, &(cut(&uids)));
                if let Verdict::Unreadable { found } = &v {
                    for (_, uid) in found {
                        prop_assert_eq!(alone_drops[uid], 2);
                    }
                }
                if let Verdict::GiveUp { found } = v {
                    prop_assert_eq!(found.len() as u32, MAX_UNREADABLE_IN_A_ROW);
                    break;
                }
            }
        }
    }
}
