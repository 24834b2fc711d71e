//! Which messages of a folder are copied: the date range (`--since`, `--before`), the size limit
//! (`--max-message-size`) and messages flagged `\Deleted` (left out unless asked for).
//!
//! The date range is the seed's: it is decided by the source server with `UID SEARCH SINCE ...
//! BEFORE ...` on INTERNALDATE, so only the messages inside it are even listed. IMAP compares
//! dates only, disregarding time and time zone (RFC 3501 6.4.4): `SINCE` keeps the day itself,
//! `BEFORE` is exclusive, so `--since 2024-01-01 --before 2024-02-01` is January 2024. Size and
//! flags are read with the rest of the metadata and decided here.
//!
//! A message left out by a filter is not a failure: reports count it apart (by reason), and it
//! does not make a mailbox incomplete.

use super::order::MessageMeta;
use chrono::NaiveDate;

/// The message filters of a run. The default copies every message except those flagged
/// `\Deleted`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MessageFilter {
    since: Option<NaiveDate>,
    before: Option<NaiveDate>,
    max_size: Option<u64>,
    include_deleted: bool,
}

/// Why a filter left a message out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exclusion {
    /// Larger than `--max-message-size`.
    TooLarge,
    /// Flagged `\Deleted` (expunged at the source's next EXPUNGE; the user already threw it
    /// away).
    Deleted,
}

impl MessageFilter {
    /// The filters, checked: a range that keeps no day at all is refused, since it would copy
    /// nothing while looking like a success. `max_size` is in bytes (RFC822.SIZE); zero is
    /// refused for the same reason.
    pub fn new(
        since: Option<NaiveDate>,
        before: Option<NaiveDate>,
        max_size: Option<u64>,
        include_deleted: bool,
    ) -> Result<Self, String> {
        if let (Some(s), Some(b)) = (since, before) {
            if s >= b {
                return Err(format!(
                    "--since {s} is not before --before {b}: the range holds no day \
                     (--before is exclusive)"
                ));
            }
        }
        if max_size == Some(0) {
            return Err("--max-message-size 0 would leave out every message".into());
        }
        Ok(MessageFilter {
            since,
            before,
            max_size,
            include_deleted,
        })
    }

    /// The search keys of the date range (`SINCE 1-Jan-2024 BEFORE 1-Feb-2024`), or `None` when
    /// there is no range and every message is listed.
    pub fn search_criteria(&self) -> Option<String> {
        let key = |name: &str, d: NaiveDate| format!("{name} {}", d.format("%-d-%b-%Y"));
        let keys: Vec<String> = [
            self.since.map(|d| key("SINCE", d)),
            self.before.map(|d| key("BEFORE", d)),
        ]
        .into_iter()
        .flatten()
        .collect();
        (!keys.is_empty()).then(|| keys.join(" "))
    }

    /// A text naming these filters exactly: a folder's CONDSTORE mark is only used under the
    /// filters it was taken with, since a message left out then never shows up as changed.
    pub fn signature(&self) -> String {
        format!(
            "since={:?};before={:?};max_size={:?};include_deleted={}",
            self.since, self.before, self.max_size, self.include_deleted
        )
    }

    /// Whether a message listed in the date range is left out, and why.
    pub fn excludes(&self, meta: &MessageMeta) -> Option<Exclusion> {
        if !self.include_deleted
            && meta
                .flags
                .iter()
                .any(|f| f.eq_ignore_ascii_case("\\Deleted"))
        {
            return Some(Exclusion::Deleted);
        }
        match self.max_size {
            Some(max) if meta.size > max => Some(Exclusion::TooLarge),
            _ => None,
        }
    }

    /// Whether the filters are the default ones (every message not flagged `\Deleted`).
    pub fn is_default(&self) -> bool {
        *self == MessageFilter::default()
    }
}

/// Parses a `--since` / `--before` date: `YYYY-MM-DD`. The error names the flag and the value.
pub fn parse_date(flag: &str, text: &str) -> Result<NaiveDate, String> {
    NaiveDate::parse_from_str(text.trim(), "%Y-%m-%d").map_err(|e| {
        format!("{flag} {text:?} is not a date as YYYY-MM-DD (for example 2024-01-31): {e}")
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn meta(size: u64, flags: &[&str]) -> MessageMeta {
        MessageMeta {
            folder: 0,
            uid: 1,
            internaldate: None,
            size,
            flags: flags.iter().map(|f| f.to_string()).collect(),
        }
    }

    fn date(s: &str) -> NaiveDate {
        parse_date("--since", s).unwrap()
    }

    #[test]
    fn the_date_range_becomes_search_keys() {
        let f = MessageFilter::new(
            Some(date("2024-01-01")),
            Some(date("2024-02-01")),
            None,
            false,
        )
        .unwrap();
        assert_eq!(
            f.search_criteria().as_deref(),
            Some("SINCE 1-Jan-2024 BEFORE 1-Feb-2024")
        );
        let f = MessageFilter::new(None, Some(date("2023-12-25")), None, false).unwrap();
        assert_eq!(f.search_criteria().as_deref(), Some("BEFORE 25-Dec-2023"));
        assert_eq!(MessageFilter::default().search_criteria(), None);
    }

    #[test]
    fn an_empty_range_is_refused() {
        let e = MessageFilter::new(
            Some(date("2024-02-01")),
            Some(date("2024-02-01")),
            None,
            false,
        )
        .unwrap_err();
        assert!(
            e.contains("--since 2024-02-01 is not before --before 2024-02-01"),
            "{e}"
        );
        assert!(MessageFilter::new(None, None, Some(0), false).is_err());
    }

    #[test]
    fn deleted_messages_are_left_out_unless_asked_for() {
        let f = MessageFilter::default();
        assert_eq!(
            f.excludes(&meta(10, &["\\Seen", "\\deleted"])),
            Some(Exclusion::Deleted)
        );
        assert_eq!(f.excludes(&meta(10, &["\\Seen"])), None);
        let f = MessageFilter::new(None, None, None, true).unwrap();
        assert_eq!(f.excludes(&meta(10, &["\\Deleted"])), None);
    }

    #[test]
    fn messages_over_the_size_limit_are_left_out() {
        let f = MessageFilter::new(None, None, Some(1000), false).unwrap();
        assert_eq!(f.excludes(&meta(1000, &[])), None);
        assert_eq!(f.excludes(&meta(1001, &[])), Some(Exclusion::TooLarge));
    }

    #[test]
    fn dates_parse_or_say_why_not() {
        assert_eq!(date("2024-03-09").to_string(), "2024-03-09");
        let e = parse_date("--before", "09/03/2024").unwrap_err();
        assert!(
            e.starts_with("--before \"09/03/2024\" is not a date"),
            "{e}"
        );
    }
}
