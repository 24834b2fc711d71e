//! Looking at what a destination folder holds, to recognise messages sent to it: after an
//! APPEND whose answer was lost, and after the folder's UIDVALIDITY changed.
//!
//! A message is recognised by the hash of its Message-ID and its size, or, when it has no
//! Message-ID, by the SHA-256 of the bytes sent; never by position or UID alone.

use super::ledger::message_id_hash;
use crate::error::Result;
use crate::imap::{command, imap_err, timed, Connection};
use crate::state::{Fingerprint, MessageFacts, MessageIdHash};
use std::collections::{HashMap, HashSet};
use std::time::Duration;

/// A message found at the destination.
#[derive(Debug)]
pub(super) struct Arrived {
    /// Its UID.
    pub(super) uid: u32,
    /// RFC822.SIZE.
    pub(super) size: u64,
    /// The hash of its Message-ID, if it has one.
    pub(super) message_id: Option<MessageIdHash>,
}

/// The folder's UIDVALIDITY, and UID, RFC822.SIZE and Message-ID of the messages of `folder`
/// from UID `floor` up.
pub(super) async fn destination_since(
    dst: &mut Connection,
    folder: &str,
    floor: u32,
    timeout: Duration,
) -> Result<(Option<u32>, Vec<Arrived>)> {
    let server = dst.server.clone();
    let mailbox = timed(timeout, || format!("{server}: EXAMINE {folder}"), async {
        dst.session
            .examine(folder)
            .await
            .map_err(|e| imap_err(&server, &format!("EXAMINE {folder}"), e))
    })
    .await?;
    let mut found = Vec::new();
    let label = format!("UID FETCH Message-ID in {folder}");
    command::uid_fetch(
        &mut dst.session,
        &server,
        &format!("{floor}:*"),
        "(UID RFC822.SIZE BODY.PEEK[HEADER.FIELDS (MESSAGE-ID)])",
        &label,
        timeout,
        |f| {
            if let (Some(uid), Some(size)) = (f.uid, f.size) {
                // `n:*` names the last message even when its UID is below n.
                if uid >= floor {
                    found.push(Arrived {
                        uid,
                        size: u64::from(size),
                        message_id: f.section.and_then(message_id_hash),
                    });
                }
            }
            Ok(())
        },
    )
    .await?;
    Ok((mailbox.uid_validity, found))
}

/// The fingerprint of each message `uids` of the EXAMINEd `folder`, read in one FETCH.
pub(super) async fn fingerprints(
    dst: &mut Connection,
    folder: &str,
    uids: &[u32],
    timeout: Duration,
) -> Result<HashMap<u32, Fingerprint>> {
    let mut found = HashMap::new();
    if uids.is_empty() {
        return Ok(found);
    }
    let server = dst.server.clone();
    let label = format!("UID FETCH BODY.PEEK[] in {folder}");
    command::uid_fetch(
        &mut dst.session,
        &server,
        &crate::plan::order::uid_set(uids),
        "(UID BODY.PEEK[])",
        &label,
        timeout,
        |f| {
            if let (Some(uid), Some(body)) = (f.uid, f.body) {
                found.insert(uid, Fingerprint::of(body));
            }
            Ok(())
        },
    )
    .await?;
    Ok(found)
}

/// The destination messages of `there` worth reading in full to recognise the messages `wanted`
/// that have no Message-ID: those without one either, of a size one of them was sent with.
pub(super) fn content_candidates<'a>(
    wanted: impl Iterator<Item = &'a MessageFacts>,
    there: &[Arrived],
) -> Vec<u32> {
    let sizes: HashSet<u64> = wanted
        .filter(|f| f.message_id.is_none())
        .map(|f| f.sent_size)
        .collect();
    there
        .iter()
        .filter(|a| a.message_id.is_none() && sizes.contains(&a.size))
        .map(|a| a.uid)
        .collect()
}

/// The messages of a destination folder, indexed for [`Arrivals::find`]: by Message-ID hash,
/// and by size for those without one. Built once per folder, so looking up every record of a
/// large folder stays linear.
pub(super) struct Arrivals<'a> {
    by_id: HashMap<MessageIdHash, Vec<&'a Arrived>>,
    anonymous_by_size: HashMap<u64, Vec<&'a Arrived>>,
}

impl<'a> Arrivals<'a> {
    /// Indexes `there`.
    pub(super) fn new(there: &'a [Arrived]) -> Self {
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

    /// The UID, among these messages and not `taken`, of the message sent as `facts`: the same
    /// Message-ID (the same size decides between copies; a single copy is ours whatever its
    /// size, for a server may count bare line ends as CRLF), or, without Message-ID, the same
    /// size and the same SHA-256 of the content (`contents`, from [`fingerprints`]).
    pub(super) fn find(
        &self,
        facts: &MessageFacts,
        contents: &HashMap<u32, Fingerprint>,
        taken: &HashSet<u32>,
    ) -> Option<u32> {
        match &facts.message_id {
            Some(id) => {
                let same_id: Vec<&Arrived> = (self.by_id.get(id).into_iter().flatten())
                    .filter(|a| !taken.contains(&a.uid))
                    .copied()
                    .collect();
                same_id
                    .iter()
                    .find(|a| a.size == facts.sent_size)
                    .or(same_id.first().filter(|_| same_id.len() == 1))
                    .map(|a| a.uid)
            }
            None => (self
                .anonymous_by_size
                .get(&facts.sent_size)
                .into_iter()
                .flatten())
            .filter(|a| !taken.contains(&a.uid))
            .find(|a| contents.get(&a.uid) == Some(&facts.sent_fingerprint))
            .map(|a| a.uid),
        }
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
            message_id: message_id_hash(body),
            internal_date: None,
            flags: String::new(),
        }
    }

    fn arrived(uid: u32, body: &[u8]) -> Arrived {
        Arrived {
            uid,
            size: body.len() as u64,
            message_id: message_id_hash(body),
        }
    }

    #[test]
    fn a_message_id_is_matched_by_size_among_copies_and_alone_whatever_its_size() {
        let short = b"Message-ID: <a@x>\r\n\r\nshort\r\n";
        let long = b"Message-ID: <a@x>\r\n\r\na longer body\r\n";
        let there = [arrived(3, short), arrived(4, long)];
        let none = HashMap::new();
        let mut taken = HashSet::new();
        assert_eq!(
            Arrivals::new(&there).find(&sent(long), &none, &taken),
            Some(4)
        );
        taken.insert(4);
        // Two copies of another size: neither is taken for this one.
        let other = b"Message-ID: <a@x>\r\n\r\nneither of those\r\n";
        let both = [arrived(3, short), arrived(5, short)];
        assert_eq!(
            Arrivals::new(&both).find(&sent(other), &none, &HashSet::new()),
            None
        );
        // One copy left: ours, even if the server counted its size differently.
        assert_eq!(
            Arrivals::new(&there).find(&sent(other), &none, &taken),
            Some(3)
        );
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
        assert_eq!(
            Arrivals::new(&there).find(&sent(b), &contents, &HashSet::new()),
            Some(2)
        );
        assert_eq!(
            Arrivals::new(&there).find(&sent(b), &contents, &[2].into()),
            None
        );
        // Unread content is never taken for a match.
        assert_eq!(
            Arrivals::new(&there).find(&sent(b), &HashMap::new(), &HashSet::new()),
            None
        );
    }
}
