//! What a corpus holds, measured from its bytes rather than taken from its spec: sizes, the
//! share of messages with attachments, HTML and Exchange X.500 addresses, the folder shapes, the
//! flags and the date span. Tests check the generator against these; `corpus-tool` prints them.

use std::fmt;

use chrono::{DateTime, FixedOffset};
use memchr::memmem;

use super::Corpus;

/// Measured properties of a [`Corpus`]; shares are fractions of all messages, 0 to 1.
#[derive(Clone, Debug, PartialEq)]
pub struct CorpusStats {
    /// Messages in all mailboxes.
    pub messages: usize,
    /// Their total size in bytes.
    pub bytes: u64,
    /// Median message size in bytes (the upper median for an even count; 0 if empty).
    pub median_size: usize,
    /// Mean message size in bytes (0 if empty).
    pub mean_size: f64,
    /// Share of messages with a `Content-Disposition: attachment` part.
    pub attachment_share: f64,
    /// Bytes in messages with an attachment, as a share of all bytes.
    pub attachment_byte_share: f64,
    /// Share of messages with a `text/html` part.
    pub html_share: f64,
    /// Share of messages whose headers hold a legacyExchangeDN or an `IMCEAEX-` address.
    pub x500_share: f64,
    /// Share of messages with `\Seen`.
    pub seen_share: f64,
    /// Distinct flags and keywords seen, sorted.
    pub flags: Vec<String>,
    /// Folders in all mailboxes.
    pub folders: usize,
    /// Folders with an RFC 6154 special-use attribute.
    pub special_use_folders: usize,
    /// Folders below another (a `/` in the name).
    pub nested_folders: usize,
    /// Folders with non-ASCII names.
    pub non_ascii_folders: usize,
    /// The oldest and newest INTERNALDATE, if there are messages.
    pub dates: Option<(DateTime<FixedOffset>, DateTime<FixedOffset>)>,
}

impl CorpusStats {
    /// Measures `corpus`: one pass over every message's bytes.
    pub fn measure(corpus: &Corpus) -> CorpusStats {
        let attachment = memmem::Finder::new(b"Content-Disposition: attachment");
        let html = memmem::Finder::new(b"Content-Type: text/html");
        let legacy_dn = memmem::Finder::new(b"/OU=EXCHANGE ADMINISTRATIVE GROUP");
        let imcea = memmem::Finder::new(b"IMCEAEX-");
        let header_end = memmem::Finder::new(b"\r\n\r\n");

        let mut sizes = Vec::new();
        let (mut with_attachment, mut attachment_bytes, mut with_html, mut with_x500) =
            (0, 0u64, 0, 0);
        let mut seen = 0;
        let mut flags: Vec<String> = Vec::new();
        let (mut folders, mut special_use, mut nested, mut non_ascii) = (0, 0, 0, 0);
        let mut dates: Option<(DateTime<FixedOffset>, DateTime<FixedOffset>)> = None;
        for folder in corpus.mailboxes.iter().flat_map(|m| &m.folders) {
            folders += 1;
            special_use += usize::from(folder.special_use.is_some());
            nested += usize::from(folder.name.contains('/'));
            non_ascii += usize::from(!folder.name.is_ascii());
            for message in &folder.messages {
                let body = &message.body[..];
                sizes.push(body.len());
                if attachment.find(body).is_some() {
                    with_attachment += 1;
                    attachment_bytes += body.len() as u64;
                }
                with_html += usize::from(html.find(body).is_some());
                let headers = &body[..header_end.find(body).unwrap_or(body.len())];
                with_x500 +=
                    usize::from(legacy_dn.find(headers).is_some() || imcea.find(headers).is_some());
                seen += usize::from(message.flags.iter().any(|f| f == "\\Seen"));
                for flag in &message.flags {
                    if !flags.contains(flag) {
                        flags.push(flag.clone());
                    }
                }
                let date = message.internaldate;
                dates = Some(match dates {
                    None => (date, date),
                    Some((old, new)) => (old.min(date), new.max(date)),
                });
            }
        }
        flags.sort();
        let messages = sizes.len();
        let bytes: u64 = sizes.iter().map(|&s| s as u64).sum();
        sizes.sort_unstable();
        let share = |n: usize| {
            if messages == 0 {
                0.0
            } else {
                n as f64 / messages as f64
            }
        };
        CorpusStats {
            messages,
            bytes,
            median_size: sizes.get(messages / 2).copied().unwrap_or(0),
            mean_size: if messages == 0 {
                0.0
            } else {
                bytes as f64 / messages as f64
            },
            attachment_share: share(with_attachment),
            attachment_byte_share: if bytes == 0 {
                0.0
            } else {
                attachment_bytes as f64 / bytes as f64
            },
            html_share: share(with_html),
            x500_share: share(with_x500),
            seen_share: share(seen),
            flags,
            folders,
            special_use_folders: special_use,
            nested_folders: nested,
            non_ascii_folders: non_ascii,
            dates,
        }
    }

    /// Days between the oldest and the newest message (0 if there are none).
    pub fn span_days(&self) -> i64 {
        self.dates.map_or(0, |(old, new)| (new - old).num_days())
    }
}

impl fmt::Display for CorpusStats {
    /// A few lines for people: counts, sizes, shares, folders, flags, dates.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "{} messages, {:.1} MB; size median {} B, mean {:.0} B",
            self.messages,
            self.bytes as f64 / 1e6,
            self.median_size,
            self.mean_size
        )?;
        writeln!(
            f,
            "attachments {:.1}% of messages, {:.1}% of bytes; HTML {:.1}%; X.500/IMCEAEX {:.1}%; \\Seen {:.1}%",
            self.attachment_share * 100.0,
            self.attachment_byte_share * 100.0,
            self.html_share * 100.0,
            self.x500_share * 100.0,
            self.seen_share * 100.0
        )?;
        writeln!(
            f,
            "{} folders: {} special-use, {} nested, {} non-ASCII; flags {}",
            self.folders,
            self.special_use_folders,
            self.nested_folders,
            self.non_ascii_folders,
            self.flags.join(" ")
        )?;
        match self.dates {
            Some((old, new)) => write!(
                f,
                "dates {} .. {} ({} days)",
                old.format("%Y-%m-%d"),
                new.format("%Y-%m-%d"),
                self.span_days()
            ),
            None => write!(f, "no dates"),
        }
    }
}
