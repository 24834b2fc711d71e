//! Recognising sent messages among what a destination folder holds: pure matching, with the
//! destination read by [`super::dest_lookup`].
//!
//! A message is recognised by the hash of its Message-ID and its size, or, when it has no
//! Message-ID, by the SHA-256 of the bytes sent; never by position or UID alone. Each
//! destination UID is taken by one message at most.

use crate::state::{Fingerprint, MessageFacts, MessageIdHash};
use chrono::{DateTime, Utc};
use std::collections::{HashMap, HashSet};

/// A message found at the destination.
#[derive(Debug, Clone)]
pub(crate) struct Arrived {
    /// Its UID.
    pub(crate) uid: u32,
    /// RFC822.SIZE.
    pub(crate) size: u64,
    /// The hash of its Message-ID, if it has one.
    pub(crate) message_id: Option<MessageIdHash>,
    /// Its INTERNALDATE, if the server gave it: tells apart copies of identical content.
    pub(crate) date: Option<DateTime<Utc>>,
}

/// Whether `a` has the INTERNALDATE `facts` was sent with (or either is unknown).
fn same_date(a: &Arrived, facts: &MessageFacts) -> bool {
    match (a.date, facts.internal_date) {
        (Some(a), Some(f)) => a == f,
        _ => true,
    }
}

/// The destination messages of `there` worth reading in full to recognise the messages
/// `wanted`: those without Message-ID of a size one of them was sent with, and those whose
/// Message-ID is not enough, being shared by two wanted messages or two arrivals.
pub(crate) fn content_candidates<'a>(
    wanted: impl Iterator<Item = &'a MessageFacts>,
    there: &[Arrived],
) -> Vec<u32> {
    let mut sizes: HashSet<u64> = HashSet::new();
    let mut ids: HashMap<MessageIdHash, usize> = HashMap::new();
    for f in wanted {
        match f.message_id {
            Some(id) => *ids.entry(id).or_default() += 1,
            None => {
                sizes.insert(f.sent_size);
            }
        }
    }
    let mut arrived: HashMap<MessageIdHash, usize> = HashMap::new();
    for id in there.iter().filter_map(|a| a.message_id) {
        *arrived.entry(id).or_default() += 1;
    }
    there
        .iter()
        .filter(|a| match a.message_id {
            None => sizes.contains(&a.size),
            Some(id) => ids.get(&id).is_some_and(|n| *n > 1 || arrived[&id] > 1),
        })
        .map(|a| a.uid)
        .collect()
}

/// The messages of a destination folder, indexed for [`Arrivals::match_all`]: by Message-ID
/// hash, and by size for those without one. Built once per folder, so looking up every record
/// of a large folder stays linear.
pub(crate) struct Arrivals<'a> {
    by_id: HashMap<MessageIdHash, Vec<&'a Arrived>>,
    anonymous_by_size: HashMap<u64, Vec<&'a Arrived>>,
}

impl<'a> Arrivals<'a> {
    /// Indexes `there`.
    pub(crate) fn new(there: &'a [Arrived]) -> Self {
        let mut index = Arrivals {
            by_id: HashMap::new(),
            anonymous_by_size: HashMap::new(),
        };
        for a in there {
            match a.message_id {
                Some(id) => index.by_id.entry(id).or_default().push(a),
                None => index.anonymous_by_size.entry(a.size).or_default().push(a),
            }
        }
        index
    }

    fn alike(&self, facts: &MessageFacts) -> impl Iterator<Item = &&'a Arrived> {
        match &facts.message_id {
            Some(id) => self.by_id.get(id),
            None => self.anonymous_by_size.get(&facts.sent_size),
        }
        .into_iter()
        .flatten()
    }

    /// For each message sent as `wanted[i]`, the UID it is found as here, each UID taken once
    /// and none of `taken` (which gains those found). First every exact match: the SHA-256 of
    /// an arrival's content (`contents`, from [`super::dest_lookup::fingerprints`]) equals the
    /// bytes sent. Then, for a message with a Message-ID still unfound, an arrival with the
    /// same Message-ID whose content was not read: the same size decides between copies, and a
    /// single copy is ours whatever its size (a server may count bare line ends as CRLF). A
    /// message without Message-ID is found by content only.
    pub(crate) fn match_all(
        &self,
        wanted: &[&MessageFacts],
        contents: &HashMap<u32, Fingerprint>,
        taken: &mut HashSet<u32>,
    ) -> Vec<Option<u32>> {
        let mut found: Vec<Option<u32>> = vec![None; wanted.len()];
        // Identical content sent twice (with other flags or dates) is told apart by date: first
        // the matches whose INTERNALDATE agrees too, then any.
        for dated in [true, false] {
            for (i, facts) in wanted.iter().enumerate() {
                if found[i].is_some() {
                    continue;
                }
                let exact = (self.alike(facts))
                    .filter(|a| !dated || same_date(a, facts))
                    .find(|a| {
                        !taken.contains(&a.uid)
                            && contents.get(&a.uid) == Some(&facts.sent_fingerprint)
                    })
                    .map(|a| a.uid);
                if let Some(uid) = exact {
                    taken.insert(uid);
                    found[i] = Some(uid);
                }
            }
        }
        for (i, facts) in wanted.iter().enumerate() {
            if found[i].is_some() || facts.message_id.is_none() {
                continue;
            }
            // Another INTERNALDATE is another message (a server keeps the date APPEND gives):
            // sent again rather than taken for one it is not.
            let same_id: Vec<&Arrived> = (self.alike(facts))
                .filter(|a| !taken.contains(&a.uid) && !contents.contains_key(&a.uid))
                .filter(|a| same_date(a, facts))
                .copied()
                .collect();
            let uid = (same_id.iter())
                .find(|a| a.size == facts.sent_size)
                .or(same_id.first().filter(|_| same_id.len() == 1))
                .map(|a| a.uid);
            if let Some(uid) = uid {
                taken.insert(uid);
                found[i] = Some(uid);
            }
        }
        found
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sent(body: &[u8]) -> MessageFacts {
        MessageFacts {
            uid: 1,
            size: body.len() as u64,
            fingerprint: Fingerprint::of(body),
            sent_size: body.len() as u64,
            sent_fingerprint: Fingerprint::of(body),
            message_id: MessageIdHash::of_message(body),
            internal_date: None,
            flags: String::new(),
        }
    }

    fn find(
        there: &[Arrived],
        facts: &MessageFacts,
        contents: &HashMap<u32, Fingerprint>,
        taken: &HashSet<u32>,
    ) -> Option<u32> {
        Arrivals::new(there).match_all(&[facts], contents, &mut taken.clone())[0]
    }

    fn arrived(uid: u32, body: &[u8]) -> Arrived {
        Arrived {
            uid,
            size: body.len() as u64,
            message_id: MessageIdHash::of_message(body),
            date: None,
        }
    }

    #[test]
    fn a_message_id_is_matched_by_size_among_copies_and_alone_whatever_its_size() {
        let short = b"Message-ID: <a@x>\r\n\r\nshort\r\n";
        let long = b"Message-ID: <a@x>\r\n\r\na longer body\r\n";
        let there = [arrived(3, short), arrived(4, long)];
        let none = HashMap::new();
        let mut taken = HashSet::new();
        assert_eq!(find(&there, &sent(long), &none, &taken), Some(4));
        taken.insert(4);
        // Two copies of another size: neither is taken for this one.
        let other = b"Message-ID: <a@x>\r\n\r\nneither of those\r\n";
        let both = [arrived(3, short), arrived(5, short)];
        assert_eq!(find(&both, &sent(other), &none, &HashSet::new()), None);
        // One copy left: ours, even if the server counted its size differently.
        assert_eq!(find(&there, &sent(other), &none, &taken), Some(3));
    }

    #[test]
    fn a_message_without_message_id_is_matched_by_content_only() {
        let a = b"Subject: a\r\n\r\nsame size A\r\n";
        let b = b"Subject: a\r\n\r\nsame size B\r\n";
        let there = [arrived(1, a), arrived(2, b)];
        let candidates = content_candidates([sent(b)].iter(), &there);
        assert_eq!(candidates, vec![1, 2]);
        let contents: HashMap<u32, Fingerprint> =
            [(1, Fingerprint::of(a)), (2, Fingerprint::of(b))].into();
        assert_eq!(find(&there, &sent(b), &contents, &HashSet::new()), Some(2));
        assert_eq!(find(&there, &sent(b), &contents, &[2].into()), None);
        // Unread content is never taken for a match.
        assert_eq!(
            find(&there, &sent(b), &HashMap::new(), &HashSet::new()),
            None
        );
    }

    #[test]
    fn two_messages_with_one_message_id_and_size_are_told_apart_by_content() {
        let a = b"Message-ID: <dup@x>\r\n\r\nbody A\r\n";
        let b = b"Message-ID: <dup@x>\r\n\r\nbody B\r\n";
        // Only B arrived; A and B were both sent without an answer.
        let there = [arrived(7, b)];
        let wanted = [sent(a), sent(b)];
        let candidates = content_candidates(wanted.iter(), &there);
        assert_eq!(candidates, vec![7]);
        let contents: HashMap<u32, Fingerprint> = [(7, Fingerprint::of(b))].into();
        let found = Arrivals::new(&there).match_all(
            &[&wanted[0], &wanted[1]],
            &contents,
            &mut HashSet::new(),
        );
        assert_eq!(found, vec![None, Some(7)]);
    }
}
