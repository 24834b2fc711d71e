//! Response formatting: the output buffer, strings (quoted or literal) and dates.
//!
//! Small pieces are copied into one buffer; large message bodies are queued as their own
//! `Bytes` so FETCH never copies them.

use std::fmt;

use bytes::{BufMut, Bytes, BytesMut};
use chrono::{DateTime, Datelike, FixedOffset, NaiveDate, TimeZone, Timelike};

/// Bodies at least this big are queued by reference instead of copied.
const ZERO_COPY_MIN: usize = 16 * 1024;

/// Responses waiting to be written, in order.
#[derive(Default)]
pub(crate) struct OutBuf {
    done: Vec<Bytes>,
    cur: BytesMut,
}

impl OutBuf {
    /// Appends raw bytes.
    pub(crate) fn put(&mut self, bytes: &[u8]) {
        self.cur.extend_from_slice(bytes);
    }

    /// Appends a body: copied when small, queued by reference when large.
    pub(crate) fn put_bytes(&mut self, bytes: Bytes) {
        if bytes.len() < ZERO_COPY_MIN {
            self.cur.extend_from_slice(&bytes);
        } else {
            if !self.cur.is_empty() {
                self.done.push(self.cur.split().freeze());
            }
            self.done.push(bytes);
        }
    }

    /// Whether nothing is waiting.
    pub(crate) fn is_empty(&self) -> bool {
        self.done.is_empty() && self.cur.is_empty()
    }

    /// Takes everything waiting, in order.
    pub(crate) fn take(&mut self) -> Vec<Bytes> {
        let mut chunks = std::mem::take(&mut self.done);
        if !self.cur.is_empty() {
            chunks.push(self.cur.split().freeze());
        }
        chunks
    }

    /// A tagged or untagged status line: `tag status text\r\n`.
    pub(crate) fn status(&mut self, tag: &[u8], status: &str, text: &str) {
        self.cur.reserve(tag.len() + status.len() + text.len() + 4);
        self.cur.put_slice(tag);
        self.cur.put_u8(b' ');
        self.cur.put_slice(status.as_bytes());
        self.cur.put_u8(b' ');
        self.cur.put_slice(text.as_bytes());
        self.cur.put_slice(b"\r\n");
    }

    /// A string: quoted when it can be, else a (synchronizing form) literal.
    pub(crate) fn string(&mut self, s: &[u8]) {
        if s.iter()
            .all(|&b| (0x01..0x80).contains(&b) && b != b'\r' && b != b'\n')
        {
            self.cur.reserve(s.len() + 2);
            self.cur.put_u8(b'"');
            for &b in s {
                if b == b'"' || b == b'\\' {
                    self.cur.put_u8(b'\\');
                }
                self.cur.put_u8(b);
            }
            self.cur.put_u8(b'"');
        } else {
            self.literal(Bytes::copy_from_slice(s));
        }
    }

    /// A literal: `{n}\r\n` then the bytes.
    pub(crate) fn literal(&mut self, bytes: Bytes) {
        use fmt::Write;
        let _ = write!(self, "{{{}}}\r\n", bytes.len());
        self.put_bytes(bytes);
    }
}

impl fmt::Write for OutBuf {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        self.cur.extend_from_slice(s.as_bytes());
        Ok(())
    }
}

const MONTHS: [&str; 12] = [
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
];

/// `dd-Mon-yyyy hh:mm:ss +zzzz` (RFC 3501 date-time without the quotes).
pub(crate) fn format_internaldate(d: &DateTime<FixedOffset>) -> String {
    let offset = d.offset().local_minus_utc();
    let sign = if offset < 0 { '-' } else { '+' };
    let abs = offset.unsigned_abs() / 60;
    format!(
        "{:02}-{}-{:04} {:02}:{:02}:{:02} {sign}{:02}{:02}",
        d.day(),
        MONTHS[d.month0() as usize],
        d.year(),
        d.hour(),
        d.minute(),
        d.second(),
        abs / 60,
        abs % 60
    )
}

/// Parses an RFC 3501 date-time (day one or two digits, maybe space-padded).
pub(crate) fn parse_internaldate(s: &[u8]) -> Option<DateTime<FixedOffset>> {
    let s = std::str::from_utf8(s).ok()?.trim_start();
    let (date, rest) = s.split_once(' ')?;
    let (time, zone) = rest.split_once(' ')?;
    let mut dparts = date.split('-');
    let day: u32 = dparts
        .next()
        .filter(|d| (1..=2).contains(&d.len()))?
        .parse()
        .ok()?;
    let mon = dparts.next()?;
    let month = MONTHS.iter().position(|m| m.eq_ignore_ascii_case(mon))? as u32 + 1;
    let year = dparts.next().filter(|y| y.len() == 4)?;
    let year: i32 = year.parse().ok()?;
    if dparts.next().is_some() {
        return None;
    }
    let mut tparts = time
        .split(':')
        .map(|p| (p.len() == 2).then(|| p.parse::<u32>().ok()).flatten());
    let (h, m, sec) = (tparts.next()??, tparts.next()??, tparts.next()??);
    if tparts.next().is_some() {
        return None;
    }
    let zb = zone.as_bytes();
    if zb.len() != 5 || !(zb[0] == b'+' || zb[0] == b'-') || !zb[1..].iter().all(u8::is_ascii_digit)
    {
        return None;
    }
    let zh: i32 = zone[1..3].parse().ok()?;
    let zm: i32 = zone[3..5].parse().ok()?;
    let secs = (zh * 3600 + zm * 60) * if zb[0] == b'-' { -1 } else { 1 };
    let tz = FixedOffset::east_opt(secs)?;
    let naive = NaiveDate::from_ymd_opt(year, month, day)?.and_hms_opt(h, m, sec)?;
    tz.from_local_datetime(&naive).single()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_round_trip_and_accept_short_days() {
        let d = parse_internaldate(b"05-Jan-2024 10:11:12 +0100").unwrap();
        assert_eq!(format_internaldate(&d), "05-Jan-2024 10:11:12 +0100");
        assert_eq!(parse_internaldate(b" 5-Jan-2024 10:11:12 +0100"), Some(d));
        assert_eq!(parse_internaldate(b"5-jan-2024 10:11:12 +0100"), Some(d));
        let neg = parse_internaldate(b"31-Dec-1999 23:59:59 -0930").unwrap();
        assert_eq!(format_internaldate(&neg), "31-Dec-1999 23:59:59 -0930");
        for bad in [
            "",
            "05-Jan-2024",
            "32-Jan-2024 10:11:12 +0100",
            "05-Foo-2024 10:11:12 +0100",
            "05-Jan-2024 1:11:12 +0100",
            "05-Jan-2024 10:11:12 0100",
        ] {
            assert!(parse_internaldate(bad.as_bytes()).is_none(), "{bad}");
        }
    }

    #[test]
    fn strings_quote_or_literal() {
        let mut out = OutBuf::default();
        out.string(b"a \"b\" \\c");
        out.put(b" ");
        out.string("é".as_bytes());
        let all: Vec<u8> = out.take().concat();
        assert_eq!(all, b"\"a \\\"b\\\" \\\\c\" {2}\r\n\xc3\xa9");
    }

    #[test]
    fn large_bodies_are_not_copied() {
        let mut out = OutBuf::default();
        let body = Bytes::from(vec![b'x'; ZERO_COPY_MIN]);
        out.put(b"head ");
        out.put_bytes(body.clone());
        out.put(b")\r\n");
        let chunks = out.take();
        assert_eq!(chunks.len(), 3);
        assert_eq!(chunks[1].as_ptr(), body.as_ptr());
    }
}
