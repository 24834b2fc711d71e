//! The folders of a generated mailbox, how its messages are shared among them, and the flags a
//! message carries in each: the shape of a real user's mailbox, including the awkward parts
//! (nested, non-ASCII, unsubscribed, empty).

use rand::{Rng, RngCore};
use rand_chacha::ChaCha8Rng;

/// What a folder is for; decides dates, flags and whether its mail was sent or received.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum FolderKind {
    /// Received mail.
    Inbox,
    /// Mail the owner sent.
    Sent,
    /// Unsent drafts.
    Drafts,
    /// Recently deleted mail.
    Trash,
    /// Recent spam.
    Junk,
    /// Old received mail filed by hand.
    Archive,
    /// Mail of one calendar year.
    ArchiveYear(i32),
    /// A user-made folder of received mail.
    Personal,
    /// A folder with no messages.
    Empty,
}

impl FolderKind {
    /// Whether the owner wrote this mail (sent or drafts) rather than received it.
    pub(super) fn outgoing(self) -> bool {
        matches!(self, FolderKind::Sent | FolderKind::Drafts)
    }
}

/// One folder to create: its name, attributes and share of the mailbox's messages.
#[derive(Clone, Debug)]
pub(super) struct FolderTemplate {
    pub(super) name: &'static str,
    pub(super) special_use: Option<&'static str>,
    pub(super) subscribed: bool,
    pub(super) share: f64,
    pub(super) kind: FolderKind,
}

const fn folder(
    name: &'static str,
    special_use: Option<&'static str>,
    share: f64,
    kind: FolderKind,
) -> FolderTemplate {
    FolderTemplate {
        name,
        special_use,
        subscribed: true,
        share,
        kind,
    }
}

/// The folders of mailbox `index`, in creation order (parents before children). Even mailboxes
/// have "Entwürfe", odd ones "Projets" and "Projets/Été"; "Archive/2023" is not subscribed.
pub(super) fn folders(index: usize) -> Vec<FolderTemplate> {
    let mut folders = vec![
        folder("INBOX", None, 0.50, FolderKind::Inbox),
        folder("Sent", Some("\\Sent"), 0.15, FolderKind::Sent),
        folder("Drafts", Some("\\Drafts"), 0.01, FolderKind::Drafts),
        folder("Trash", Some("\\Trash"), 0.05, FolderKind::Trash),
        folder("Junk", Some("\\Junk"), 0.03, FolderKind::Junk),
        folder("Archive", None, 0.02, FolderKind::Archive),
        FolderTemplate {
            subscribed: false,
            ..folder("Archive/2023", None, 0.09, FolderKind::ArchiveYear(2023))
        },
        folder("Archive/2024", None, 0.10, FolderKind::ArchiveYear(2024)),
    ];
    if index.is_multiple_of(2) {
        folders.push(folder("Entwürfe", None, 0.05, FolderKind::Personal));
    } else {
        folders.push(folder("Projets", None, 0.01, FolderKind::Personal));
        folders.push(folder("Projets/Été", None, 0.04, FolderKind::Personal));
    }
    folders.push(folder("Empty", None, 0.0, FolderKind::Empty));
    folders
}

/// Splits exactly `total` messages among `folders` by their shares, each share but INBOX's
/// jittered by ±25% so mailboxes differ (largest-remainder rounding, ties to the earlier folder).
pub(super) fn allocate(
    rng: &mut ChaCha8Rng,
    folders: &[FolderTemplate],
    total: usize,
) -> Vec<usize> {
    let weights: Vec<f64> = folders
        .iter()
        .map(|f| {
            let jitter = rng.random_range(0.75..1.25);
            if f.kind == FolderKind::Inbox {
                f.share
            } else {
                f.share * jitter
            }
        })
        .collect();
    let sum: f64 = weights.iter().sum();
    let exact: Vec<f64> = weights.iter().map(|w| w / sum * total as f64).collect();
    let mut counts: Vec<usize> = exact.iter().map(|e| e.floor() as usize).collect();
    let mut order: Vec<usize> = (0..folders.len()).filter(|&i| weights[i] > 0.0).collect();
    order.sort_by(|&a, &b| {
        let (fa, fb) = (exact[a] - exact[a].floor(), exact[b] - exact[b].floor());
        fb.total_cmp(&fa).then(a.cmp(&b))
    });
    let short = total - counts.iter().sum::<usize>();
    for &i in order.iter().cycle().take(short) {
        counts[i] += 1;
    }
    counts
}

/// The flags of a message in a folder of `kind`, `age_days` old, in a fixed order. Overall about
/// 70% are `\Seen`; unread mail is mostly recent INBOX mail.
pub(super) fn flags(rng: &mut ChaCha8Rng, kind: FolderKind, age_days: i64) -> Vec<String> {
    // Per mille chances: seen, answered (if seen), flagged, $Forwarded, $label1.
    let (seen, answered, flagged, forwarded, label) = match kind {
        FolderKind::Inbox if age_days < 14 => (250, 100, 60, 20, 20),
        FolderKind::Inbox => (620, 150, 50, 40, 30),
        FolderKind::Sent => (1000, 0, 10, 0, 10),
        FolderKind::Drafts => (500, 0, 0, 0, 0),
        FolderKind::Trash => (900, 50, 0, 10, 0),
        FolderKind::Junk => (300, 0, 0, 0, 0),
        FolderKind::Archive | FolderKind::ArchiveYear(_) | FolderKind::Personal => {
            (970, 200, 30, 30, 50)
        }
        FolderKind::Empty => (0, 0, 0, 0, 0),
    };
    let bits = rng.next_u64();
    let chance = |shift: u32, per_mille: u64| ((bits >> shift) & 0x3ff) * 1000 < per_mille * 1024;
    let mut flags = Vec::new();
    let is_seen = chance(0, seen);
    if is_seen {
        flags.push("\\Seen".to_owned());
        if chance(10, answered) {
            flags.push("\\Answered".to_owned());
        }
    }
    if chance(20, flagged) {
        flags.push("\\Flagged".to_owned());
    }
    if kind == FolderKind::Drafts {
        flags.push("\\Draft".to_owned());
    }
    if chance(30, forwarded) {
        flags.push("$Forwarded".to_owned());
    }
    if chance(40, label) {
        flags.push("$label1".to_owned());
    }
    if kind == FolderKind::Junk && chance(50, 600) {
        flags.push("$Junk".to_owned());
    }
    flags
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    #[test]
    fn allocation_is_exact_and_follows_shares() {
        let mut rng = ChaCha8Rng::seed_from_u64(3);
        for index in 0..4 {
            let folders = folders(index);
            for total in [0, 1, 7, 100, 1_000, 12_345] {
                let counts = allocate(&mut rng, &folders, total);
                assert_eq!(counts.iter().sum::<usize>(), total);
                let empty = folders
                    .iter()
                    .position(|f| f.kind == FolderKind::Empty)
                    .unwrap();
                assert_eq!(counts[empty], 0);
                if total >= 1_000 {
                    let inbox = counts[0] as f64 / total as f64;
                    assert!((0.45..0.56).contains(&inbox), "INBOX share {inbox}");
                    assert!(counts.iter().enumerate().all(|(i, &c)| c > 0 || i == empty));
                }
            }
        }
    }

    #[test]
    fn parents_come_before_children() {
        for index in 0..2 {
            let folders = folders(index);
            for (i, f) in folders.iter().enumerate() {
                if let Some((parent, _)) = f.name.rsplit_once('/') {
                    assert!(folders[..i].iter().any(|p| p.name == parent), "{}", f.name);
                }
            }
            assert_eq!(folders.iter().filter(|f| !f.subscribed).count(), 1);
        }
    }
}
