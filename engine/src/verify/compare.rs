//! The comparison of one destination folder with what the plan sends to it: pure, no I/O.
//!
//! Invariants:
//! - Messages are matched by content fingerprint (SHA-256 of the bytes the destination should
//!   hold: the source bytes after the address rewrite, if any) as multisets: a fingerprint
//!   expected `e` times and found `f` times gives `min(e, f)` matches, `e - f` missing, and
//!   `f - e` duplicates when `e > 0`, extra messages when `e == 0`. Every expected and every found
//!   message lands in exactly one of matched, missing, duplicate or extra.
//! - Within one fingerprint, pairs whose flags and INTERNALDATE agree are matched first, so two
//!   identical bodies with different flags are never reported as differing when a pairing
//!   without difference exists.
//! - Flags compare as the ledger compares them between passes ([`comparable_flags`]); dates
//!   compare as instants (the time zone written does not matter).

use super::report::{DateDifference, FlagDifference, FolderVerification, MessageRef};
use chrono::{DateTime, FixedOffset};
use std::collections::{BTreeMap, BTreeSet};

/// One message as read from one side: where it is, its fingerprint and what is compared.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SeenMessage {
    /// The message as the report names it (folder, UID, Message-ID or subject, size).
    pub reference: MessageRef,
    /// SHA-256 of the bytes the destination should hold (source side) or holds (destination).
    pub sha256: [u8; 32],
    /// INTERNALDATE, if the server gave one.
    pub internaldate: Option<DateTime<FixedOffset>>,
    /// Flags and keywords as the server gave them.
    pub flags: Vec<String>,
}

/// Flags as the ledger compares them between passes: without `\Recent` and `\Deleted`, system
/// flags case-insensitively (in their canonical capitalisation), keywords as they are, sorted.
pub fn comparable_flags<'a>(flags: impl IntoIterator<Item = &'a String>) -> BTreeSet<String> {
    crate::copier::flag_set(flags.into_iter().map(String::as_str))
}

/// Whether a source message and its destination copy agree on flags and INTERNALDATE.
fn agrees(source: &SeenMessage, dest: &SeenMessage) -> bool {
    comparable_flags(&source.flags) == comparable_flags(&dest.flags)
        && source.internaldate == dest.internaldate
}

/// Compares destination folder `dest` (decoded name) with the source folders `sources` that the
/// plan maps onto it: `expected` holds the source messages the filters keep, `found` every
/// message of the destination folder. `found_folder` says whether the folder exists at all.
pub fn compare_folder(
    dest: &str,
    sources: Vec<String>,
    expected: Vec<SeenMessage>,
    found: Vec<SeenMessage>,
    found_folder: bool,
) -> FolderVerification {
    let mut out = FolderVerification {
        dest: dest.to_string(),
        sources,
        folder_missing: !found_folder,
        expected: expected.len() as u64,
        found: found.len() as u64,
        ..FolderVerification::default()
    };
    let mut groups: BTreeMap<[u8; 32], (Vec<SeenMessage>, Vec<SeenMessage>)> = BTreeMap::new();
    for m in expected {
        groups.entry(m.sha256).or_default().0.push(m);
    }
    for m in found {
        groups.entry(m.sha256).or_default().1.push(m);
    }
    for (_, (mut wanted, mut there)) in groups {
        let key = |m: &SeenMessage| (m.reference.folder.clone(), m.reference.uid);
        wanted.sort_by_key(key);
        there.sort_by_key(key);
        // Pairs that agree first, then the rest in UID order.
        let mut pairs = Vec::new();
        let mut left = Vec::new();
        for w in wanted {
            match there.iter().position(|t| agrees(&w, t)) {
                Some(i) => pairs.push((w, there.remove(i))),
                None => left.push(w),
            }
        }
        let had_source = !pairs.is_empty() || !left.is_empty();
        let mut left = left.into_iter();
        let mut there = there.into_iter();
        loop {
            match (left.next(), there.next()) {
                (Some(w), Some(t)) => pairs.push((w, t)),
                (Some(w), None) => {
                    out.missing.push(w.reference);
                    out.missing.extend(left.by_ref().map(|m| m.reference));
                    break;
                }
                (None, Some(t)) => {
                    let rest = std::iter::once(t)
                        .chain(there.by_ref())
                        .map(|m| m.reference);
                    if had_source {
                        out.duplicates.extend(rest);
                    } else {
                        out.extra.extend(rest);
                    }
                    break;
                }
                (None, None) => break,
            }
        }
        for (w, t) in pairs {
            out.matched += 1;
            let (from, to) = (comparable_flags(&w.flags), comparable_flags(&t.flags));
            if from != to {
                out.flag_differences.push(FlagDifference {
                    source: w.reference.clone(),
                    dest_uid: t.reference.uid,
                    source_flags: from.into_iter().collect(),
                    dest_flags: to.into_iter().collect(),
                });
            }
            if w.internaldate != t.internaldate {
                out.date_differences.push(DateDifference {
                    source: w.reference,
                    dest_uid: t.reference.uid,
                    source_date: w.internaldate.map(|d| d.to_rfc3339()),
                    dest_date: t.internaldate.map(|d| d.to_rfc3339()),
                });
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn seen(folder: &str, uid: u32, body: &[u8], flags: &[&str], minute: u32) -> SeenMessage {
        use sha2::Digest;
        let date = format!("2024-05-01T10:{minute:02}:00+02:00");
        SeenMessage {
            reference: MessageRef {
                folder: folder.into(),
                uid,
                message_id: None,
                subject: Some(String::from_utf8_lossy(body).into_owned()),
                size: body.len() as u64,
            },
            sha256: sha2::Sha256::digest(body).into(),
            internaldate: Some(DateTime::parse_from_rfc3339(&date).unwrap()),
            flags: flags.iter().map(|f| f.to_string()).collect(),
        }
    }

    fn uids(refs: &[MessageRef]) -> Vec<(String, u32)> {
        refs.iter().map(|r| (r.folder.clone(), r.uid)).collect()
    }

    #[test]
    fn the_same_messages_match_whatever_their_uids_and_flag_spelling() {
        let expected = vec![
            seen("INBOX", 1, b"a", &["\\Seen"], 1),
            seen("INBOX", 2, b"b", &[], 2),
        ];
        let found = vec![
            seen("INBOX", 7, b"b", &["\\Recent"], 2),
            seen("INBOX", 8, b"a", &["\\SEEN", "\\Deleted"], 1),
        ];
        let v = compare_folder("INBOX", vec!["INBOX".into()], expected, found, true);
        assert!(v.is_ok(), "{v:?}");
        assert_eq!((v.expected, v.found, v.matched), (2, 2, 2));
    }

    #[test]
    fn missing_extra_and_duplicate_messages_are_told_apart() {
        let expected = vec![
            seen("INBOX", 1, b"a", &[], 1),
            seen("Old", 1, b"b", &[], 2),
            seen("INBOX", 3, b"c", &[], 3),
        ];
        let found = vec![
            seen("INBOX", 10, b"a", &[], 1),
            seen("INBOX", 11, b"b", &[], 2),
            seen("INBOX", 12, b"b", &[], 2),
            seen("INBOX", 13, b"z", &[], 9),
        ];
        let v = compare_folder(
            "INBOX",
            vec!["INBOX".into(), "Old".into()],
            expected,
            found,
            true,
        );
        assert!(!v.is_ok());
        assert_eq!(uids(&v.missing), [("INBOX".to_string(), 3)]);
        assert_eq!(uids(&v.duplicates), [("INBOX".to_string(), 12)]);
        assert_eq!(uids(&v.extra), [("INBOX".to_string(), 13)]);
        assert_eq!(v.matched, 2);
        assert!(v.flag_differences.is_empty() && v.date_differences.is_empty());
    }

    #[test]
    fn identical_bodies_pair_so_that_nothing_differs_when_possible() {
        // Two copies of one body, one flagged: the destination has them in the other UID order.
        let expected = vec![
            seen("INBOX", 1, b"same", &["\\Flagged"], 1),
            seen("INBOX", 2, b"same", &[], 1),
        ];
        let found = vec![
            seen("INBOX", 5, b"same", &[], 1),
            seen("INBOX", 6, b"same", &["\\Flagged"], 1),
        ];
        let v = compare_folder("INBOX", vec!["INBOX".into()], expected, found, true);
        assert!(v.is_ok(), "{v:?}");
    }

    #[test]
    fn flag_and_date_differences_name_both_sides() {
        let expected = vec![seen("INBOX", 4, b"a", &["\\Seen", "$Work"], 1)];
        let found = vec![seen("INBOX", 9, b"a", &["\\Seen"], 2)];
        let v = compare_folder("INBOX", vec!["INBOX".into()], expected, found, true);
        assert_eq!(v.flag_differences.len(), 1);
        let f = &v.flag_differences[0];
        assert_eq!((f.source.uid, f.dest_uid), (4, 9));
        assert_eq!(f.source_flags, ["$Work", "\\Seen"]);
        assert_eq!(f.dest_flags, ["\\Seen"]);
        assert_eq!(v.date_differences.len(), 1);
        assert_eq!(
            v.date_differences[0].dest_date.as_deref(),
            Some("2024-05-01T10:02:00+02:00")
        );
        assert_eq!(v.matched, 1);
        assert!(!v.is_ok());
    }

    #[test]
    fn a_date_in_another_time_zone_is_the_same_instant() {
        let expected = vec![seen("INBOX", 1, b"a", &[], 1)];
        let mut found = vec![seen("INBOX", 2, b"a", &[], 1)];
        found[0].internaldate =
            Some(DateTime::parse_from_rfc3339("2024-05-01T08:01:00+00:00").unwrap());
        let v = compare_folder("INBOX", vec!["INBOX".into()], expected, found, true);
        assert!(v.is_ok(), "{v:?}");
    }

    #[test]
    fn a_missing_folder_fails_even_when_nothing_is_expected() {
        let v = compare_folder("Junk", vec!["Spam".into()], vec![], vec![], false);
        assert!(!v.is_ok());
        let v = compare_folder("Junk", vec!["Spam".into()], vec![], vec![], true);
        assert!(v.is_ok());
    }

    /// Every sequence of up to three bodies drawn from three.
    fn sequences() -> Vec<Vec<&'static [u8]>> {
        let bodies: [&'static [u8]; 3] = [b"x", b"y", b"z"];
        let mut all: Vec<Vec<&'static [u8]>> = vec![vec![]];
        let mut last = all.clone();
        for _ in 0..3 {
            last = last
                .iter()
                .flat_map(|s| {
                    bodies.iter().map(move |b| {
                        let mut s = s.clone();
                        s.push(*b);
                        s
                    })
                })
                .collect();
            all.extend(last.iter().cloned());
        }
        all
    }

    #[test]
    fn every_message_lands_in_exactly_one_outcome() {
        let cases = sequences();
        for want in &cases {
            for got in &cases {
                let side = |bodies: &[&[u8]], first: u32| -> Vec<SeenMessage> {
                    bodies
                        .iter()
                        .enumerate()
                        .map(|(i, b)| seen("A", first + i as u32, b, &[], 0))
                        .collect()
                };
                let v = compare_folder("A", vec!["A".into()], side(want, 1), side(got, 10), true);
                let (e, f) = (want.len() as u64, got.len() as u64);
                assert_eq!(v.matched + v.missing.len() as u64, e, "{want:?} {got:?}");
                let surplus = (v.duplicates.len() + v.extra.len()) as u64;
                assert_eq!(v.matched + surplus, f, "{want:?} {got:?}");
                let (mut w, mut g) = (want.clone(), got.clone());
                w.sort();
                g.sort();
                assert_eq!(v.is_ok(), w == g, "{want:?} {got:?}");
            }
        }
    }
}
