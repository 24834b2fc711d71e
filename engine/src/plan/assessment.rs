//! The pre-flight assessment (guide 3.3.4.5): what a mailbox holds, set against the destination's
//! limits, before anything moves. Pure: the network half ([`crate::copier::assess`]) fills a
//! [`MailboxInventory`] and reads [`DestLimits`]; everything decided from them is here.
//!
//! - Folder item thresholds (guide 3.3.4.16): Inbox, Sent Items and Deleted Items hold at most
//!   20,000 items, Calendar and Contacts 5,000. A folder is over its threshold when it holds more.
//!   Source folders are recognised by SPECIAL-USE attribute first, then by their usual names.
//! - Quota: a mailbox is over quota when its size exceeds the room left in the destination quota.
//! - Size limit: every message larger than the destination accepts is listed, largest first.
//!
//! Sizes are RFC822.SIZE as the source reports it; units are binary (1 KB = 1,024 bytes), as
//! Exchange and RFC 2087 count them.

use crate::imap::quota::StorageQuota;
use crate::plan::folders::translate_name;
use crate::transform::folder_map::strip_source_root;
use serde::Serialize;

/// Items a folder of the Inbox, Sent Items and Deleted Items kinds may hold (guide 3.3.4.16).
pub const MAIL_FOLDER_THRESHOLD: u64 = 20_000;
/// Items a Calendar or Contacts folder may hold (guide 3.3.4.16).
pub const CALENDAR_CONTACTS_THRESHOLD: u64 = 5_000;

/// A folder kind with an item threshold at the destination (guide 3.3.4.16).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum FolderCategory {
    /// The Inbox.
    Inbox,
    /// Sent Items (`Sent`, `Sent Messages`, `[Gmail]/Sent Mail`, `\Sent`, ...).
    #[serde(rename = "Sent Items")]
    SentItems,
    /// Deleted Items (`Trash`, `Deleted Messages`, `\Trash`, ...).
    #[serde(rename = "Deleted Items")]
    DeletedItems,
    /// Calendar.
    Calendar,
    /// Contacts.
    Contacts,
}

impl FolderCategory {
    /// The most items the destination keeps in a folder of this kind.
    pub fn threshold(self) -> u64 {
        match self {
            FolderCategory::Inbox | FolderCategory::SentItems | FolderCategory::DeletedItems => {
                MAIL_FOLDER_THRESHOLD
            }
            FolderCategory::Calendar | FolderCategory::Contacts => CALENDAR_CONTACTS_THRESHOLD,
        }
    }

    /// The destination's name for the kind, for messages.
    pub fn label(self) -> &'static str {
        match self {
            FolderCategory::Inbox => "Inbox",
            FolderCategory::SentItems => "Sent Items",
            FolderCategory::DeletedItems => "Deleted Items",
            FolderCategory::Calendar => "Calendar",
            FolderCategory::Contacts => "Contacts",
        }
    }
}

/// Parents under which servers put the well-known folders: Courier-style `INBOX.Sent`, Gmail's
/// `[Gmail]/Sent Mail`.
const WELL_KNOWN_PARENTS: [&str; 3] = ["INBOX", "[Gmail]", "[Google Mail]"];

/// The kind of a source folder, `None` for folders without a threshold. `name` is decoded (not
/// modified UTF-7), `delimiter` its hierarchy delimiter, `special_use` its RFC 6154 attribute.
pub fn folder_category(
    name: &str,
    delimiter: Option<char>,
    special_use: Option<&str>,
) -> Option<FolderCategory> {
    match special_use {
        Some(u) if u.eq_ignore_ascii_case("\\Sent") => return Some(FolderCategory::SentItems),
        Some(u) if u.eq_ignore_ascii_case("\\Trash") => return Some(FolderCategory::DeletedItems),
        _ => {}
    }
    if name.eq_ignore_ascii_case("INBOX") {
        return Some(FolderCategory::Inbox);
    }
    let leaf = match delimiter {
        Some(d) => {
            let leaf = WELL_KNOWN_PARENTS
                .iter()
                .find_map(|parent| {
                    let (head, rest) = name.split_at_checked(parent.len())?;
                    let rest = rest.strip_prefix(d)?;
                    head.eq_ignore_ascii_case(parent).then_some(rest)
                })
                .unwrap_or(name);
            if leaf.contains(d) {
                return None;
            }
            leaf
        }
        None => name,
    };
    match leaf.to_lowercase().as_str() {
        "sent" | "sent items" | "sent messages" | "sent mail" => Some(FolderCategory::SentItems),
        "trash" | "deleted items" | "deleted messages" | "deleted" | "bin" => {
            Some(FolderCategory::DeletedItems)
        }
        "calendar" => Some(FolderCategory::Calendar),
        "contacts" => Some(FolderCategory::Contacts),
        _ => None,
    }
}

/// One message, by size.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct MessageSize {
    /// UID in its folder.
    pub uid: u32,
    /// RFC822.SIZE.
    pub bytes: u64,
}

/// What one source folder holds, as scanned.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FolderInventory {
    /// Decoded name.
    pub name: String,
    /// Hierarchy delimiter.
    pub delimiter: Option<char>,
    /// RFC 6154 attribute (`\Sent`, ...).
    pub special_use: Option<String>,
    /// Messages whose size the server gave.
    pub messages: u64,
    /// Sum of their sizes.
    pub bytes: u64,
    /// The largest of them.
    pub largest: Option<MessageSize>,
    /// The messages larger than the inventory was asked to keep, in server order.
    pub large_messages: Vec<MessageSize>,
    /// Messages the server would not give a size for.
    pub unreadable: u64,
}

impl FolderInventory {
    /// Sums the `sizes` of a folder, keeping the messages larger than `keep_over` bytes.
    pub fn from_sizes(
        name: String,
        delimiter: Option<char>,
        special_use: Option<String>,
        sizes: impl IntoIterator<Item = MessageSize>,
        keep_over: Option<u64>,
        unreadable: u64,
    ) -> Self {
        let mut folder = FolderInventory {
            name,
            delimiter,
            special_use,
            messages: 0,
            bytes: 0,
            largest: None,
            large_messages: Vec::new(),
            unreadable,
        };
        for m in sizes {
            folder.messages += 1;
            folder.bytes = folder.bytes.saturating_add(m.bytes);
            if folder.largest.is_none_or(|l| m.bytes > l.bytes) {
                folder.largest = Some(m);
            }
            if keep_over.is_some_and(|limit| m.bytes > limit) {
                folder.large_messages.push(m);
            }
        }
        folder
    }
}

/// What one source mailbox holds: its selectable folders, in LIST order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MailboxInventory {
    /// The folders.
    pub folders: Vec<FolderInventory>,
    /// The SourceRootFolder the folders were read under, `/` between levels: a folder's kind
    /// is judged by its name under the root (the root itself is the Inbox).
    pub source_root: Option<String>,
}

/// The destination's limits for one mailbox, from the server or from flags.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DestLimits {
    /// The storage quota, if any.
    pub quota: Option<StorageQuota>,
    /// The largest message it accepts, if limited.
    pub max_message_bytes: Option<u64>,
}

/// One folder in the assessment.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FolderAssessment {
    /// Decoded name.
    pub name: String,
    /// Messages.
    pub messages: u64,
    /// Their total size.
    pub bytes: u64,
    /// The largest message's size (0 for an empty folder).
    pub largest_message_bytes: u64,
    /// The destination kind, if it has a threshold.
    pub category: Option<FolderCategory>,
    /// The item threshold, if any.
    pub threshold: Option<u64>,
    /// More messages than the threshold.
    pub over_threshold: bool,
    /// Messages the source would not give a size for.
    pub unreadable_messages: u64,
}

/// A message larger than the destination accepts.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct OversizeMessage {
    /// Decoded folder name.
    pub folder: String,
    /// UID in that folder.
    pub uid: u32,
    /// RFC822.SIZE.
    pub bytes: u64,
}

/// The assessment of one mailbox: one entry of the `--json` file's `mailboxes`. The capacity
/// planner reads `source_identity`, `messages` and `bytes` as its inventory: keep those names.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct MailboxAssessment {
    /// SourceIdentity from the mailbox list.
    pub source_identity: String,
    /// TargetIdentity from the mailbox list.
    pub target_identity: String,
    /// Folders, in the source's LIST order.
    pub folders: Vec<FolderAssessment>,
    /// Messages in all folders.
    pub messages: u64,
    /// Their total size.
    pub bytes: u64,
    /// The largest message's size.
    pub largest_message_bytes: u64,
    /// The destination's storage limit for this mailbox, if known.
    pub dest_quota_bytes: Option<u64>,
    /// What the destination mailbox already holds, if known.
    pub dest_quota_used_bytes: Option<u64>,
    /// The mailbox does not fit in the room left under the quota.
    pub over_quota: bool,
    /// The largest message the destination accepts, if known.
    pub max_message_bytes: Option<u64>,
    /// Messages over that limit, largest first.
    pub over_size_limit: Vec<OversizeMessage>,
    /// Why the source could not be assessed (`None`: it was).
    pub error: Option<String>,
    /// Why the destination could not be read (`None`: it was, or none was given).
    pub dest_error: Option<String>,
}

/// Sets an inventory against the destination's limits.
pub fn assess(
    source_identity: &str,
    target_identity: &str,
    inventory: &MailboxInventory,
    limits: &DestLimits,
) -> MailboxAssessment {
    let mut a = MailboxAssessment::empty(source_identity, target_identity, limits);
    for f in &inventory.folders {
        let special_use = f.special_use.as_deref();
        let category = match &inventory.source_root {
            None => folder_category(&f.name, f.delimiter, special_use),
            Some(root) => {
                let path = translate_name(&f.name, f.delimiter, '/');
                strip_source_root(root, &path)
                    .and_then(|name| folder_category(name, Some('/'), special_use))
            }
        };
        let threshold = category.map(FolderCategory::threshold);
        let largest = f.largest.map_or(0, |m| m.bytes);
        a.folders.push(FolderAssessment {
            name: f.name.clone(),
            messages: f.messages,
            bytes: f.bytes,
            largest_message_bytes: largest,
            category,
            threshold,
            over_threshold: threshold.is_some_and(|t| f.messages > t),
            unreadable_messages: f.unreadable,
        });
        a.messages += f.messages;
        a.bytes = a.bytes.saturating_add(f.bytes);
        a.largest_message_bytes = a.largest_message_bytes.max(largest);
        if let Some(limit) = limits.max_message_bytes {
            a.over_size_limit
                .extend(
                    f.large_messages
                        .iter()
                        .filter(|m| m.bytes > limit)
                        .map(|m| OversizeMessage {
                            folder: f.name.clone(),
                            uid: m.uid,
                            bytes: m.bytes,
                        }),
                );
        }
    }
    a.over_size_limit
        .sort_by(|x, y| y.bytes.cmp(&x.bytes).then(x.uid.cmp(&y.uid)));
    a.over_quota = limits.quota.is_some_and(|q| a.bytes > q.room_bytes());
    a
}

impl MailboxAssessment {
    fn empty(source_identity: &str, target_identity: &str, limits: &DestLimits) -> Self {
        MailboxAssessment {
            source_identity: source_identity.to_string(),
            target_identity: target_identity.to_string(),
            folders: Vec::new(),
            messages: 0,
            bytes: 0,
            largest_message_bytes: 0,
            dest_quota_bytes: limits.quota.map(|q| q.limit_bytes),
            dest_quota_used_bytes: limits.quota.map(|q| q.used_bytes),
            over_quota: false,
            max_message_bytes: limits.max_message_bytes,
            over_size_limit: Vec::new(),
            error: None,
            dest_error: None,
        }
    }

    /// A mailbox whose source could not be read; `error` must hold no secret.
    pub fn failed(
        source_identity: &str,
        target_identity: &str,
        limits: &DestLimits,
        error: String,
    ) -> Self {
        MailboxAssessment {
            error: Some(error),
            ..MailboxAssessment::empty(source_identity, target_identity, limits)
        }
    }

    /// Whether source and destination (if one was given) were both read.
    pub fn complete(&self) -> bool {
        self.error.is_none() && self.dest_error.is_none()
    }

    /// What an operator must act on before the move, one line each, naming the mailbox.
    pub fn warnings(&self) -> Vec<String> {
        let id = &self.source_identity;
        let mut out = Vec::new();
        if let Some(e) = &self.error {
            out.push(format!("{id}: not assessed: {e}"));
        }
        if let Some(e) = &self.dest_error {
            out.push(format!("{id}: destination not read: {e}"));
        }
        for f in &self.folders {
            if let (true, Some(c), Some(t)) = (f.over_threshold, f.category, f.threshold) {
                out.push(format!(
                    "{id}: folder {:?} holds {} items, over the {} threshold of {} (guide 3.3.4.16)",
                    f.name,
                    f.messages,
                    c.label(),
                    t
                ));
            }
            if f.unreadable_messages > 0 {
                out.push(format!(
                    "{id}: folder {:?}: the source gave no size for {} message(s); they are not counted",
                    f.name, f.unreadable_messages
                ));
            }
        }
        if self.over_quota {
            let limit = self.dest_quota_bytes.unwrap_or(0);
            let used = match self.dest_quota_used_bytes {
                Some(used) if used > 0 => format!(" ({} already in use)", format_bytes(used)),
                _ => String::new(),
            };
            out.push(format!(
                "{id}: {} does not fit the destination quota of {}{used}",
                format_bytes(self.bytes),
                format_bytes(limit),
            ));
        }
        if let (Some(first), Some(limit)) = (self.over_size_limit.first(), self.max_message_bytes) {
            out.push(format!(
                "{id}: {} message(s) over the destination's size limit of {}; the largest is {} (UID {} in {:?})",
                self.over_size_limit.len(),
                format_bytes(limit),
                format_bytes(first.bytes),
                first.uid,
                first.folder
            ));
        }
        out
    }
}

/// Parses a size as operators write it: `50GB`, `35 MB`, `1.5GiB`, `4096`, `512KB`. Units are
/// binary whether written `GB` or `GiB` (Exchange's "50 GB" is 50 × 2³⁰ bytes); no unit or `B`
/// means bytes.
pub fn parse_size(text: &str) -> Result<u64, String> {
    let t = text.trim();
    let split = t
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(t.len());
    let (number, unit) = t.split_at(split);
    let shift = match unit.trim().to_ascii_uppercase().as_str() {
        "" | "B" => 0,
        "K" | "KB" | "KIB" => 10,
        "M" | "MB" | "MIB" => 20,
        "G" | "GB" | "GIB" => 30,
        "T" | "TB" | "TIB" => 40,
        other => {
            return Err(format!(
                "{text:?}: unknown unit {other:?} (use B, KB, MB, GB or TB)"
            ))
        }
    };
    if number.is_empty() {
        return Err(format!("{text:?}: no number"));
    }
    let bytes = if let Ok(whole) = number.parse::<u64>() {
        whole.checked_mul(1u64 << shift)
    } else {
        let value: f64 = number
            .parse()
            .map_err(|_| format!("{text:?}: {number:?} is not a number"))?;
        let bytes = (value * (1u64 << shift) as f64).round();
        (bytes.is_finite() && bytes < u64::MAX as f64).then_some(bytes as u64)
    };
    bytes.ok_or_else(|| format!("{text:?}: too large"))
}

/// A size for people: bytes below 1 KiB, else one decimal in the largest fitting binary unit.
pub fn format_bytes(bytes: u64) -> String {
    const UNITS: [&str; 4] = ["KiB", "MiB", "GiB", "TiB"];
    if bytes < 1024 {
        return format!("{bytes} B");
    }
    let mut value = bytes as f64 / 1024.0;
    let mut unit = 0;
    while value >= 1024.0 && unit + 1 < UNITS.len() {
        value /= 1024.0;
        unit += 1;
    }
    format!("{value:.1} {}", UNITS[unit])
}

#[cfg(test)]
mod tests {
    use super::*;
    use FolderCategory::*;

    #[test]
    fn folder_names_map_to_the_guide_categories() {
        /// (name, delimiter, special use, expected kind).
        type Case = (
            &'static str,
            Option<char>,
            Option<&'static str>,
            Option<FolderCategory>,
        );
        let cases: &[Case] = &[
            ("INBOX", Some('/'), None, Some(Inbox)),
            ("inbox", None, None, Some(Inbox)),
            ("Sent", Some('/'), None, Some(SentItems)),
            ("Sent Items", Some('/'), None, Some(SentItems)),
            ("Sent Messages", Some('.'), None, Some(SentItems)),
            ("[Gmail]/Sent Mail", Some('/'), None, Some(SentItems)),
            ("INBOX.Sent", Some('.'), None, Some(SentItems)),
            ("Gesendet", Some('/'), Some("\\Sent"), Some(SentItems)),
            ("Trash", Some('/'), None, Some(DeletedItems)),
            ("Deleted Items", Some('/'), None, Some(DeletedItems)),
            ("Deleted Messages", Some('.'), None, Some(DeletedItems)),
            ("[Gmail]/Bin", Some('/'), None, Some(DeletedItems)),
            ("Papierkorb", Some('/'), Some("\\trash"), Some(DeletedItems)),
            ("Calendar", Some('/'), None, Some(Calendar)),
            ("Contacts", Some('/'), None, Some(Contacts)),
            ("INBOX/Contacts", Some('/'), None, Some(Contacts)),
            // A folder named like a well-known one deeper in the tree is the user's own.
            ("Projects/Sent", Some('/'), None, None),
            ("INBOX/Old/Trash", Some('/'), None, None),
            ("Drafts", Some('/'), Some("\\Drafts"), None),
            ("Sentimental", Some('/'), None, None),
            ("Été", Some('/'), None, None),
        ];
        for (name, delimiter, special_use, want) in cases {
            assert_eq!(
                folder_category(name, *delimiter, *special_use),
                *want,
                "{name:?} {special_use:?}"
            );
        }
        assert_eq!(Inbox.threshold(), 20_000);
        assert_eq!(SentItems.threshold(), 20_000);
        assert_eq!(DeletedItems.threshold(), 20_000);
        assert_eq!(Calendar.threshold(), 5_000);
        assert_eq!(Contacts.threshold(), 5_000);
    }

    fn sizes(list: &[(u32, u64)]) -> Vec<MessageSize> {
        list.iter()
            .map(|&(uid, bytes)| MessageSize { uid, bytes })
            .collect()
    }

    fn folder(name: &str, n: u64, list: &[(u32, u64)], keep_over: Option<u64>) -> FolderInventory {
        let mut f =
            FolderInventory::from_sizes(name.into(), Some('/'), None, sizes(list), keep_over, 0);
        // Stand in for a folder too big to list message by message in a test.
        f.messages += n;
        f
    }

    #[test]
    fn inventory_sums_and_keeps_the_large_messages() {
        let f = FolderInventory::from_sizes(
            "INBOX".into(),
            Some('/'),
            None,
            sizes(&[(1, 10), (2, 300), (3, 50), (4, 300)]),
            Some(100),
            1,
        );
        assert_eq!((f.messages, f.bytes, f.unreadable), (4, 660, 1));
        assert_eq!(f.largest, Some(MessageSize { uid: 2, bytes: 300 }));
        assert_eq!(f.large_messages, sizes(&[(2, 300), (4, 300)]));
        let empty = FolderInventory::from_sizes("x".into(), None, None, [], None, 0);
        assert_eq!((empty.messages, empty.largest), (0, None));
    }

    #[test]
    fn assessment_flags_thresholds_quota_and_oversize_messages() {
        let inventory = MailboxInventory {
            folders: vec![
                folder("INBOX", 20_000, &[(1, 100), (2, 5_000)], Some(1_000)),
                folder("Calendar", 4_999, &[(7, 2_000)], Some(1_000)),
                folder("Archive", 30_000, &[(3, 9_000)], Some(1_000)),
            ],
            source_root: None,
        };
        let limits = DestLimits {
            quota: Some(StorageQuota {
                limit_bytes: 20_000,
                used_bytes: 5_000,
            }),
            max_message_bytes: Some(1_000),
        };
        let a = assess("joe@a.com", "joe@b.com", &inventory, &limits);
        assert_eq!(a.messages, 20_002 + 5_000 + 30_001);
        assert_eq!(a.bytes, 16_100);
        assert_eq!(a.largest_message_bytes, 9_000);
        let over: Vec<_> = a.folders.iter().map(|f| f.over_threshold).collect();
        assert_eq!(over, [true, false, false], "Calendar at 5,000 is not over");
        assert_eq!(a.folders[1].threshold, Some(5_000));
        assert_eq!(a.folders[2].threshold, None);
        assert!(a.over_quota, "16,100 bytes do not fit the 15,000 left");
        let big: Vec<_> = a
            .over_size_limit
            .iter()
            .map(|m| (m.folder.as_str(), m.uid, m.bytes))
            .collect();
        assert_eq!(
            big,
            [
                ("Archive", 3, 9_000),
                ("INBOX", 2, 5_000),
                ("Calendar", 7, 2_000)
            ]
        );
        let warnings = a.warnings();
        assert_eq!(warnings.len(), 3, "{warnings:#?}");
        assert!(
            warnings[0].contains("\"INBOX\" holds 20002 items, over the Inbox threshold of 20000")
        );
        assert!(warnings[1].ends_with(
            "15.7 KiB does not fit the destination quota of 19.5 KiB (4.9 KiB already in use)"
        ));
        assert!(warnings[2].contains("3 message(s) over the destination's size limit of 1000 B; the largest is 8.8 KiB (UID 3 in \"Archive\")"));
    }

    #[test]
    fn under_a_source_root_kinds_come_from_the_name_under_the_root() {
        let inventory = MailboxInventory {
            folders: vec![
                folder("Archive/joe", 20_001, &[], None),
                folder("Archive/joe/Sent", 20_001, &[], None),
                folder("Archive/joe/Old/Sent", 20_001, &[], None),
            ],
            source_root: Some("Archive/joe".into()),
        };
        let a = assess("joe", "joe", &inventory, &DestLimits::default());
        let kinds: Vec<_> = a.folders.iter().map(|f| f.category).collect();
        assert_eq!(
            kinds,
            [
                Some(FolderCategory::Inbox),
                Some(FolderCategory::SentItems),
                None
            ]
        );
        assert_eq!(a.folders[0].name, "Archive/joe", "source names are kept");
        assert!(a.folders[0].over_threshold && a.folders[1].over_threshold);
    }

    #[test]
    fn without_limits_nothing_is_over() {
        let inventory = MailboxInventory {
            folders: vec![folder("Sent", 0, &[(1, 1 << 30)], None)],
            source_root: None,
        };
        let a = assess("joe", "joe", &inventory, &DestLimits::default());
        assert!(!a.over_quota && a.over_size_limit.is_empty());
        assert_eq!((a.dest_quota_bytes, a.max_message_bytes), (None, None));
        assert!(a.warnings().is_empty());
        assert!(a.complete());
    }

    #[test]
    fn failed_mailbox_serialises_the_planner_fields() {
        let a = MailboxAssessment::failed("joe", "joe@b", &DestLimits::default(), "no".into());
        assert!(!a.complete());
        let json = serde_json::to_value(&a).unwrap();
        assert_eq!(json["source_identity"], "joe");
        assert_eq!(json["messages"], 0);
        assert_eq!(json["bytes"], 0);
        assert_eq!(json["error"], "no");
        assert_eq!(json["dest_quota_bytes"], serde_json::Value::Null);
        assert_eq!(a.warnings(), ["joe: not assessed: no"]);
    }

    #[test]
    fn sizes_parse_in_binary_units() {
        assert_eq!(parse_size("50GB"), Ok(50 << 30));
        assert_eq!(parse_size("35 MB"), Ok(35 << 20));
        assert_eq!(parse_size("35mib"), Ok(35 << 20));
        assert_eq!(parse_size("1.5K"), Ok(1536));
        assert_eq!(parse_size("4096"), Ok(4096));
        assert_eq!(parse_size("12B"), Ok(12));
        assert!(parse_size("MB").unwrap_err().contains("no number"));
        assert!(parse_size("5 parsecs")
            .unwrap_err()
            .contains("unknown unit"));
        assert!(parse_size("1.2.3GB").unwrap_err().contains("not a number"));
        assert!(parse_size("99999999999TB")
            .unwrap_err()
            .contains("too large"));
    }

    #[test]
    fn sizes_format_for_people() {
        assert_eq!(format_bytes(0), "0 B");
        assert_eq!(format_bytes(1023), "1023 B");
        assert_eq!(format_bytes(1536), "1.5 KiB");
        assert_eq!(format_bytes(35 << 20), "35.0 MiB");
        assert_eq!(format_bytes(50 << 30), "50.0 GiB");
    }
}
