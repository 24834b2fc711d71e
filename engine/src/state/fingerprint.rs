//! Content fingerprints and Message-ID hashes: fixed-size digests the store matches messages by.
//!
//! The fingerprint is SHA-256 of the raw message bytes exactly as fetched from the source
//! (`BODY.PEEK[]`), before any header rewrite. SHA-256 rather than a faster 128-bit hash because it
//! is the digest the fault suite's "SHA-256 multiset per folder" check already computes, `sha2` is
//! already in the workspace, and with SHA-NI it runs at GB/s, far above any IMAP link; a
//! cryptographic digest also means a collision can never merge two different messages.

use sha2::{Digest, Sha256};
use std::fmt;

/// SHA-256 of a message's raw bytes. Identifies one message's content on one side: the source
/// bytes (re-matching after a source UIDVALIDITY change) or the bytes sent (a destination one).
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Fingerprint(pub [u8; 32]);

impl Fingerprint {
    /// The fingerprint of `raw`, the whole message as fetched or as sent.
    pub fn of(raw: &[u8]) -> Self {
        Fingerprint(Sha256::digest(raw).into())
    }
}

/// SHA-256 of a Message-ID value with surrounding whitespace trimmed. Reconciliation fetches the
/// Message-ID of the destination's new UIDs (those at or above the UIDNEXT seen before a batch)
/// and compares hashes; the state file keeps no message identifiers in the clear.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct MessageIdHash(pub [u8; 32]);

impl MessageIdHash {
    /// The hash of a Message-ID header value (for example `<abc@example.com>`), as raw bytes:
    /// 8-bit and malformed values hash as they are.
    pub fn of(value: &[u8]) -> Self {
        MessageIdHash(Sha256::digest(value.trim_ascii()).into())
    }
}

impl MessageIdHash {
    /// The hash of the Message-ID field's value of the whole message `message` (unfolded,
    /// trimmed), if its header has a non-empty one. The destination side of reconciliation
    /// reads the same field with `BODY.PEEK[HEADER.FIELDS (MESSAGE-ID)]` and hashes it here.
    pub fn of_message(message: &[u8]) -> Option<MessageIdHash> {
        use crate::transform::address_rewrite::header_fields;
        let header = &message[..header_fields::header_end(message)];
        header_fields::fields(header)
            .find(|f| message[f.name.clone()].eq_ignore_ascii_case(b"Message-ID"))
            .map(|f| header_fields::unfold(&message[f.value.clone()]))
            .filter(|v| !v.trim_ascii().is_empty())
            .map(|v| MessageIdHash::of(&v))
    }
}

fn hex(f: &mut fmt::Formatter<'_>, bytes: &[u8]) -> fmt::Result {
    bytes.iter().try_for_each(|b| write!(f, "{b:02x}"))
}

impl fmt::Display for Fingerprint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        hex(f, &self.0)
    }
}

impl fmt::Debug for Fingerprint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Fingerprint(")?;
        hex(f, &self.0[..8])?;
        write!(f, "…)")
    }
}

impl fmt::Display for MessageIdHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        hex(f, &self.0)
    }
}

impl fmt::Debug for MessageIdHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "MessageIdHash(")?;
        hex(f, &self.0[..8])?;
        write!(f, "…)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fingerprint_is_sha256_of_the_raw_bytes() {
        assert_eq!(
            Fingerprint::of(b"abc").to_string(),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }

    #[test]
    fn message_id_hash_ignores_surrounding_whitespace_only() {
        assert_eq!(
            MessageIdHash::of(b" <a@b>\r\n"),
            MessageIdHash::of(b"<a@b>")
        );
        assert_ne!(MessageIdHash::of(b"<a@b>"), MessageIdHash::of(b"<A@b>"));
    }

    #[test]
    fn message_ids_are_read_from_the_header_unfolded_and_trimmed() {
        assert_eq!(
            MessageIdHash::of_message(
                b"Subject: a\r\nmessage-id:\r\n  <a@b>  \r\n\r\nMessage-ID: <body@x>\r\n"
            ),
            Some(MessageIdHash::of(b"<a@b>"))
        );
        assert_eq!(
            MessageIdHash::of_message(b"Subject: none\r\n\r\nMessage-ID: <x@y>\r\n"),
            None
        );
        assert_eq!(MessageIdHash::of_message(b"Message-ID:   \r\n\r\n"), None);
    }
}
