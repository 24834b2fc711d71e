//! Newest first across the whole mailbox, cut into fetch windows.
//!
//! Every message of every folder is ordered by INTERNALDATE, newest first (guide 3.5.4.2: if the
//! destination fills up, the newest mail is there). The order is cut into slices; within a slice
//! each folder's messages form one or more windows (one UID FETCH each). A message therefore
//! waits at most one slice behind strict date order, while each FETCH still carries many
//! messages. Windows of one folder are numbered in order: the destination appends them in that
//! order, so destination UIDs ascend as dates descend.

use chrono::{DateTime, FixedOffset};
use std::collections::HashMap;

/// What the plan knows of a message before fetching it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MessageMeta {
    /// Index of its folder in the folder plan.
    pub folder: usize,
    /// Source UID.
    pub uid: u32,
    /// INTERNALDATE (`None` if the server sent none: ordered last).
    pub internaldate: Option<DateTime<FixedOffset>>,
    /// RFC822.SIZE.
    pub size: u64,
    /// Flags and keywords.
    pub flags: Vec<String>,
}

/// Sorts newest first; ties by folder then UID descending, so the order is total and stable.
pub fn sort_newest_first(items: &mut [MessageMeta]) {
    items.sort_unstable_by(|a, b| {
        b.internaldate
            .cmp(&a.internaldate)
            .then(a.folder.cmp(&b.folder))
            .then(b.uid.cmp(&a.uid))
    });
}

/// One UID FETCH worth of messages of one folder.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Window {
    /// Folder index.
    pub folder: usize,
    /// Position among this folder's windows (0, 1, ...).
    pub seq: u64,
    /// Messages, newest first.
    pub items: Vec<MessageMeta>,
    /// Sum of sizes.
    pub bytes: u64,
}

/// Cuts a newest-first list into windows of at most `max_messages` and (unless a single message
/// is larger) `max_bytes`, flushing every folder's open window at each slice of `slice` messages.
pub fn windows(
    sorted: Vec<MessageMeta>,
    max_messages: usize,
    max_bytes: u64,
    slice: usize,
) -> Vec<Window> {
    let max_messages = max_messages.max(1);
    let slice = slice.max(1);
    let mut out = Vec::new();
    let mut open: HashMap<usize, Window> = HashMap::new();
    // Order in which folders' windows were opened within the slice, for emission order.
    let mut opened: Vec<usize> = Vec::new();
    let mut next_seq: HashMap<usize, u64> = HashMap::new();
    let close = |w: Window, out: &mut Vec<Window>| out.push(w);
    for (i, item) in sorted.into_iter().enumerate() {
        let folder = item.folder;
        let full = open
            .get(&folder)
            .is_some_and(|w| w.items.len() >= max_messages || w.bytes + item.size > max_bytes);
        if full {
            let w = open.remove(&folder).expect("checked");
            opened.retain(|f| *f != folder);
            close(w, &mut out);
        }
        let w = open.entry(folder).or_insert_with(|| {
            opened.push(folder);
            let seq = next_seq.entry(folder).or_insert(0);
            let w = Window {
                folder,
                seq: *seq,
                items: Vec::new(),
                bytes: 0,
            };
            *seq += 1;
            w
        });
        w.bytes += item.size;
        w.items.push(item);
        if (i + 1) % slice == 0 {
            for f in opened.drain(..) {
                close(open.remove(&f).expect("opened windows are open"), &mut out);
            }
        }
    }
    for f in opened.drain(..) {
        close(open.remove(&f).expect("opened windows are open"), &mut out);
    }
    out
}

/// Formats sorted-or-not UIDs as a compact IMAP sequence set (`3:5,9`).
pub fn uid_set(uids: &[u32]) -> String {
    let mut v = uids.to_vec();
    v.sort_unstable();
    v.dedup();
    let mut s = String::new();
    let mut i = 0;
    while i < v.len() {
        let start = v[i];
        let mut end = start;
        while i + 1 < v.len() && v[i + 1] == end + 1 {
            i += 1;
            end = v[i];
        }
        if !s.is_empty() {
            s.push(',');
        }
        if start == end {
            s.push_str(&start.to_string());
        } else {
            s.push_str(&format!("{start}:{end}"));
        }
        i += 1;
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    fn meta(folder: usize, uid: u32, day: u32, size: u64) -> MessageMeta {
        MessageMeta {
            folder,
            uid,
            internaldate: Some(
                DateTime::parse_from_rfc3339(&format!("2024-01-{day:02}T00:00:00+00:00")).unwrap(),
            ),
            size,
            flags: vec![],
        }
    }

    #[test]
    fn orders_newest_first_across_folders() {
        let mut v = vec![
            meta(0, 1, 1, 1),
            meta(1, 1, 3, 1),
            meta(0, 2, 2, 1),
            meta(1, 2, 2, 1),
        ];
        sort_newest_first(&mut v);
        let order: Vec<_> = v.iter().map(|m| (m.folder, m.uid)).collect();
        assert_eq!(order, [(1, 1), (0, 2), (1, 2), (0, 1)]);
    }

    #[test]
    fn missing_dates_go_last() {
        let mut v = vec![
            MessageMeta {
                internaldate: None,
                ..meta(0, 9, 1, 1)
            },
            meta(0, 1, 1, 1),
        ];
        sort_newest_first(&mut v);
        assert_eq!(v[0].uid, 1);
    }

    #[test]
    fn windows_respect_limits_and_number_per_folder() {
        let mut v: Vec<_> = (1..=10).map(|u| meta(0, u, u, 10)).collect();
        v.push(meta(1, 1, 5, 100));
        sort_newest_first(&mut v);
        let ws = windows(v, 3, 25, 1000);
        // folder 0: 10 messages of 10 bytes, at most 2 per window by bytes
        let f0: Vec<_> = ws.iter().filter(|w| w.folder == 0).collect();
        assert_eq!(f0.len(), 5);
        assert!(f0
            .iter()
            .enumerate()
            .all(|(i, w)| w.seq == i as u64 && w.items.len() == 2));
        // a message larger than max_bytes still gets a window of its own
        let f1: Vec<_> = ws.iter().filter(|w| w.folder == 1).collect();
        assert_eq!((f1.len(), f1[0].bytes), (1, 100));
        // every message exactly once
        assert_eq!(ws.iter().map(|w| w.items.len()).sum::<usize>(), 11);
    }

    #[test]
    fn a_small_folder_is_not_held_back_to_the_end() {
        // folder 1 has one message, the newest: it must be in the first slice's windows.
        let mut v: Vec<_> = (1..=20).map(|u| meta(0, u, u, 1)).collect();
        v.push(meta(1, 1, 28, 1));
        sort_newest_first(&mut v);
        let ws = windows(v, 100, u64::MAX, 5);
        let pos = ws.iter().position(|w| w.folder == 1).unwrap();
        assert!(pos <= 1, "folder 1 window at {pos}");
    }

    #[test]
    fn uid_sets_are_compact() {
        assert_eq!(uid_set(&[5, 3, 4, 9, 1]), "1,3:5,9");
        assert_eq!(uid_set(&[7]), "7");
        assert_eq!(uid_set(&[]), "");
    }
}
