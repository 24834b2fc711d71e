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

use crate::error::{Error, Result};
use crate::imap::{command, imap_err, timed, Connection};
use crate::transform::address_rewrite::header_fields;
use bytes::Bytes;
use std::collections::{HashMap, HashSet};
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
    /// Bytes appended (after any header rewrite).
    pub size: u64,
    /// Its Message-ID, as written (unfolded, trimmed), if it has one.
    pub message_id: Option<String>,
    /// The bytes appended, kept only for a message without Message-ID: the destination's copy is
    /// then recognised by its content.
    pub body_without_id: Option<Bytes>,
}

impl SentMessage {
    /// Describes `body`, appended to `dest_folder` for the source message `key`.
    pub fn new(key: SourceKey, dest_folder: &str, body: &Bytes) -> Self {
        let message_id = message_id(body);
        SentMessage {
            key,
            dest_folder: dest_folder.to_string(),
            size: body.len() as u64,
            body_without_id: message_id.is_none().then(|| body.clone()),
            message_id,
        }
    }
}

/// The Message-ID field's value of `message` (unfolded, trimmed), if it has one.
pub fn message_id(message: &[u8]) -> Option<String> {
    let header = &message[..header_fields::header_end(message)];
    header_fields::fields(header)
        .find(|f| message[f.name.clone()].eq_ignore_ascii_case(b"Message-ID"))
        .map(|f| {
            let value = header_fields::unfold(&message[f.value.clone()]);
            String::from_utf8_lossy(&value).trim().to_string()
        })
        .filter(|v| !v.is_empty())
}

/// Done and pending messages of one mailbox.
#[derive(Debug, Default)]
pub struct Ledger {
    done: HashSet<SourceKey>,
    /// Per source folder (wire name): messages and bytes done.
    done_by_folder: HashMap<String, (u64, u64)>,
    /// Per ticket: the messages of an APPEND sent and not yet answered.
    in_flight: HashMap<u64, Vec<SentMessage>>,
    next_ticket: u64,
    /// Sent by an attempt that failed, answer unknown: to look for at the destination.
    pending: Vec<SentMessage>,
    /// Per destination folder (wire name): the lowest UID a pending message could have.
    floor: HashMap<String, u32>,
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
        self.done.contains(key)
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
    pub fn stored(&mut self, ticket: u64, uids: Option<&[u32]>) {
        let Some(messages) = self.in_flight.remove(&ticket) else {
            return;
        };
        if let (Some(first), Some(max)) = (messages.first(), uids.and_then(|u| u.iter().max())) {
            let floor = self.floor.entry(first.dest_folder.clone()).or_insert(0);
            *floor = (*floor).max(max.saturating_add(1));
        }
        for m in messages {
            self.book(m);
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

    fn book(&mut self, m: SentMessage) {
        if self.done.insert(m.key.clone()) {
            let e = self.done_by_folder.entry(m.key.folder).or_default();
            e.0 += 1;
            e.1 += m.size;
        }
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
            let there = match destination_since(dst, &folder, floor, timeout).await {
                Ok(there) => there,
                Err(e) => {
                    // Still unknown: looked for next time, never taken for missing.
                    self.pending.extend(pending);
                    self.pending.extend(by_folder.into_values().flatten());
                    return Err(e);
                }
            };
            let mut taken: HashSet<u32> = HashSet::new();
            let mut rest = pending.into_iter();
            while let Some(m) = rest.next() {
                let found = match &m.message_id {
                    Some(id) => {
                        let same_id: Vec<&Arrived> = there
                            .iter()
                            .filter(|a| !taken.contains(&a.uid))
                            .filter(|a| a.message_id.as_deref() == Some(id.as_str()))
                            .collect();
                        // The same size decides between copies; one copy is ours whatever its
                        // size (a server may count bare line ends as CRLF).
                        same_id
                            .iter()
                            .find(|a| a.size == m.size)
                            .or(same_id.first().filter(|_| same_id.len() == 1))
                            .map(|a| a.uid)
                    }
                    None => {
                        let mut hit = None;
                        for a in there.iter().filter(|a| {
                            a.message_id.is_none() && a.size == m.size && !taken.contains(&a.uid)
                        }) {
                            let body = fetch_body(dst, &folder, a.uid, timeout).await;
                            let body = match body {
                                Ok(body) => body,
                                Err(e) => {
                                    self.pending.push(m);
                                    self.pending.extend(rest);
                                    self.pending.extend(by_folder.into_values().flatten());
                                    return Err(e);
                                }
                            };
                            if Some(&body) == m.body_without_id.as_ref() {
                                hit = Some(a.uid);
                                break;
                            }
                        }
                        hit
                    }
                };
                match found {
                    Some(uid) => {
                        taken.insert(uid);
                        result.found += 1;
                        self.book(m);
                    }
                    None => result.missing += 1,
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

/// A message found at the destination.
#[derive(Debug)]
struct Arrived {
    uid: u32,
    size: u64,
    message_id: Option<String>,
}

/// UID, RFC822.SIZE and Message-ID of the messages of `folder` from UID `floor` up.
async fn destination_since(
    dst: &mut Connection,
    folder: &str,
    floor: u32,
    timeout: Duration,
) -> Result<Vec<Arrived>> {
    let server = dst.server.clone();
    timed(timeout, || format!("{server}: EXAMINE {folder}"), async {
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
                        message_id: f.section.and_then(message_id),
                    });
                }
            }
            Ok(())
        },
    )
    .await?;
    Ok(found)
}

/// The whole message `uid` of the EXAMINEd `folder`.
async fn fetch_body(
    dst: &mut Connection,
    folder: &str,
    uid: u32,
    timeout: Duration,
) -> Result<Bytes> {
    let server = dst.server.clone();
    let mut body = None;
    let label = format!("UID FETCH BODY.PEEK[] in {folder}");
    command::uid_fetch(
        &mut dst.session,
        &server,
        &uid.to_string(),
        "(UID BODY.PEEK[])",
        &label,
        timeout,
        |f| {
            if f.uid == Some(uid) {
                body = f.body.map(Bytes::copy_from_slice);
            }
            Ok(())
        },
    )
    .await?;
    body.ok_or_else(|| Error::Protocol {
        server,
        message: format!("UID FETCH {uid} in {folder} returned no body"),
    })
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
        let body = Bytes::from(format!("Message-ID: <{uid}@x>\r\n\r\nbody\r\n"));
        SentMessage::new(key(uid), "INBOX", &body)
    }

    #[test]
    fn message_ids_are_read_unfolded_and_trimmed() {
        assert_eq!(
            message_id(b"Subject: a\r\nmessage-id:\r\n  <a@b>  \r\n\r\nMessage-ID: <body@x>\r\n")
                .as_deref(),
            Some("<a@b>")
        );
        assert_eq!(
            message_id(b"Subject: none\r\n\r\nMessage-ID: <x@y>\r\n"),
            None
        );
        assert_eq!(message_id(b"Message-ID:   \r\n\r\n"), None);
    }

    #[test]
    fn only_an_acknowledged_append_makes_a_message_done() {
        let mut l = Ledger::default();
        let a = l.sending(vec![sent(1), sent(2)]);
        let b = l.sending(vec![sent(3)]);
        let c = l.sending(vec![sent(4)]);
        l.stored(a, Some(&[10, 11]));
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
}
