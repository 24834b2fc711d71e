//! APPEND command framing (RFC 3501 6.3.11, RFC 3502 MULTIAPPEND, RFC 7888 LITERAL+/LITERAL-).
//!
//! Pure: turns messages into the byte segments of one command, with a marker wherever a
//! synchronizing literal must wait for the server's `+`. The network code only walks the segments.

use bytes::Bytes;
use chrono::{DateTime, FixedOffset};

/// One message to append.
#[derive(Debug, Clone)]
pub struct AppendItem {
    /// Flags and keywords as read from the source; `\Recent` and invalid atoms are dropped.
    pub flags: Vec<String>,
    /// INTERNALDATE to preserve.
    pub internaldate: Option<DateTime<FixedOffset>>,
    /// The message, byte for byte.
    pub body: Bytes,
}

/// A piece of a framed command.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Segment {
    /// Bytes to write.
    Data(Bytes),
    /// A synchronizing literal was announced: wait for `+` before writing on.
    AwaitContinuation,
}

/// Quotes a mailbox name (already modified UTF-7, so ASCII) as an IMAP quoted string.
pub fn quote(s: &str) -> String {
    let mut q = String::with_capacity(s.len() + 2);
    q.push('"');
    for c in s.chars() {
        if c == '"' || c == '\\' {
            q.push('\\');
        }
        q.push(c);
    }
    q.push('"');
    q
}

/// True for a flag we can send back: a system flag (`\Seen`) or a keyword atom, never `\Recent`.
pub fn is_appendable_flag(flag: &str) -> bool {
    let body = flag.strip_prefix('\\').unwrap_or(flag);
    !body.is_empty()
        && !flag.eq_ignore_ascii_case("\\Recent")
        && flag != "\\*"
        && body
            .bytes()
            .all(|b| b > 0x20 && b < 0x7f && !b"(){%*\"\\]".contains(&b))
}

/// INTERNALDATE as `date-time`: `"dd-Mon-yyyy hh:mm:ss +zzzz"`.
pub fn format_internaldate(d: &DateTime<FixedOffset>) -> String {
    d.format("\"%d-%b-%Y %H:%M:%S %z\"").to_string()
}

/// Frames `TAG APPEND mailbox msg [msg ...]`. `non_sync_limit` is the largest literal that may be
/// sent without waiting (`None`: every literal synchronizes).
pub fn frame_append(
    tag: &str,
    mailbox_wire: &str,
    items: &[AppendItem],
    non_sync_limit: Option<u64>,
) -> Vec<Segment> {
    let mut segs = Vec::with_capacity(items.len() * 3 + 1);
    let mut line = format!("{tag} APPEND {}", quote(mailbox_wire));
    for item in items {
        line.push_str(" (");
        let mut first = true;
        for f in item.flags.iter().filter(|f| is_appendable_flag(f)) {
            if !first {
                line.push(' ');
            }
            line.push_str(f);
            first = false;
        }
        line.push(')');
        if let Some(d) = &item.internaldate {
            line.push(' ');
            line.push_str(&format_internaldate(d));
        }
        let len = item.body.len() as u64;
        let non_sync = non_sync_limit.is_some_and(|limit| len <= limit);
        line.push_str(&format!(
            " {{{len}{}}}\r\n",
            if non_sync { "+" } else { "" }
        ));
        segs.push(Segment::Data(Bytes::from(std::mem::take(&mut line))));
        if !non_sync {
            segs.push(Segment::AwaitContinuation);
        }
        segs.push(Segment::Data(item.body.clone()));
    }
    line.push_str("\r\n");
    segs.push(Segment::Data(Bytes::from(line)));
    segs
}

#[cfg(test)]
mod tests {
    use super::*;

    fn item(flags: &[&str], body: &'static [u8]) -> AppendItem {
        AppendItem {
            flags: flags.iter().map(|s| s.to_string()).collect(),
            internaldate: Some(DateTime::parse_from_rfc3339("2024-01-05T07:08:09+01:00").unwrap()),
            body: Bytes::from_static(body),
        }
    }

    fn flatten(segs: &[Segment]) -> String {
        segs.iter()
            .map(|s| match s {
                Segment::Data(b) => String::from_utf8_lossy(b).into_owned(),
                Segment::AwaitContinuation => "<+>".into(),
            })
            .collect()
    }

    #[test]
    fn literal_plus_single_append() {
        let segs = frame_append(
            "A1",
            "Sent",
            &[item(&["\\Seen", "\\Recent", "$label1"], b"hi")],
            Some(u64::MAX),
        );
        assert_eq!(
            flatten(&segs),
            "A1 APPEND \"Sent\" (\\Seen $label1) \"05-Jan-2024 07:08:09 +0100\" {2+}\r\nhi\r\n"
        );
    }

    #[test]
    fn multiappend_with_literal_minus_mixes_sync_and_non_sync() {
        static BIG: [u8; 5000] = [b'x'; 5000];
        let segs = frame_append(
            "A2",
            "a\"b",
            &[item(&[], b"one"), item(&["\\Flagged"], &BIG)],
            Some(4096),
        );
        let text = flatten(&segs);
        assert!(text.starts_with(
            "A2 APPEND \"a\\\"b\" () \"05-Jan-2024 07:08:09 +0100\" {3+}\r\none (\\Flagged)"
        ));
        assert!(text.contains("{5000}\r\n<+>xxx"));
        assert!(text.ends_with("xx\r\n"));
        assert_eq!(
            segs.iter()
                .filter(|s| **s == Segment::AwaitContinuation)
                .count(),
            1
        );
    }

    #[test]
    fn synchronizing_only_waits_before_every_literal() {
        let segs = frame_append("A3", "INBOX", &[item(&[], b"a"), item(&[], b"b")], None);
        assert_eq!(flatten(&segs).matches("<+>").count(), 2);
        assert!(flatten(&segs).contains("{1}\r\n<+>a ()"));
    }

    #[test]
    fn flags_that_are_not_atoms_are_dropped() {
        for bad in ["\\Recent", "\\recent", "", "\\", "a b", "x(y", "\\*", "k%"] {
            assert!(!is_appendable_flag(bad), "{bad:?}");
        }
        for good in ["\\Seen", "\\Answered", "$Forwarded", "NonJunk", "$label1"] {
            assert!(is_appendable_flag(good), "{good:?}");
        }
    }

    #[test]
    fn single_digit_days_are_zero_padded() {
        let d = DateTime::parse_from_rfc3339("2009-03-01T23:59:59-05:00").unwrap();
        assert_eq!(format_internaldate(&d), "\"01-Mar-2009 23:59:59 -0500\"");
    }
}
