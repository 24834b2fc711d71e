//! FETCH: which data items were asked for, and how one message's response is written.
//!
//! Bodies are written as literals straight from the stored `Bytes` (no copy when large).

use std::fmt::Write;

use bytes::Bytes;

use super::command_parser::{Cursor, PResult, ParseError};
use super::message_parts;
use super::response::{format_internaldate, OutBuf};
use super::store::StoredMessage;

/// A body section.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Section {
    /// `[]`: the whole message.
    Full,
    /// `[HEADER]`.
    Header,
    /// `[TEXT]`.
    Text,
    /// `[HEADER.FIELDS (..)]` or, with `not`, `[HEADER.FIELDS.NOT (..)]`.
    Fields {
        /// Field names as asked.
        names: Vec<String>,
        /// Whether the names are excluded.
        not: bool,
    },
}

/// One FETCH data item.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum FetchItem {
    /// `UID`.
    Uid,
    /// `FLAGS`.
    Flags,
    /// `INTERNALDATE`.
    InternalDate,
    /// `RFC822.SIZE`.
    Size,
    /// `ENVELOPE`.
    Envelope,
    /// `RFC822` (like `BODY[]`, answered as `RFC822`).
    Rfc822,
    /// `RFC822.HEADER` (like `BODY.PEEK[HEADER]`).
    Rfc822Header,
    /// `RFC822.TEXT` (like `BODY[TEXT]`).
    Rfc822Text,
    /// `BODY[...]` or `BODY.PEEK[...]`, maybe partial `<origin.count>`.
    Body {
        /// The section.
        section: Section,
        /// `.PEEK`: do not set `\Seen`.
        peek: bool,
        /// `<origin.count>`.
        partial: Option<(u32, u32)>,
    },
}

impl FetchItem {
    /// Whether this item returns message content (which an unreadable message cannot give).
    pub(crate) fn reads_content(&self) -> bool {
        matches!(
            self,
            FetchItem::Rfc822
                | FetchItem::Rfc822Header
                | FetchItem::Rfc822Text
                | FetchItem::Envelope
                | FetchItem::Body { .. }
        )
    }

    /// Whether fetching this sets `\Seen` (in a read-write selected folder).
    pub(crate) fn sets_seen(&self) -> bool {
        matches!(
            self,
            FetchItem::Rfc822 | FetchItem::Rfc822Text | FetchItem::Body { peek: false, .. }
        )
    }
}

/// Parses the item list of FETCH: a macro, one item or a parenthesized list.
pub(crate) fn parse_items(c: &mut Cursor) -> PResult<Vec<FetchItem>> {
    if !c.eat(b'(') {
        return parse_item(c);
    }
    let mut items = Vec::new();
    loop {
        items.extend(parse_item(c)?);
        if c.eat(b')') {
            return Ok(items);
        }
        c.sp()?;
    }
}

/// One item, or the items a macro stands for (macros are also accepted inside a list).
fn parse_item(c: &mut Cursor) -> PResult<Vec<FetchItem>> {
    let name = c.take_while(|b| b.is_ascii_alphanumeric() || b == b'.');
    let name = String::from_utf8_lossy(&name).to_ascii_uppercase();
    let item = match name.as_str() {
        "UID" => FetchItem::Uid,
        "FLAGS" => FetchItem::Flags,
        "INTERNALDATE" => FetchItem::InternalDate,
        "RFC822.SIZE" => FetchItem::Size,
        "ENVELOPE" => FetchItem::Envelope,
        "RFC822" => FetchItem::Rfc822,
        "RFC822.HEADER" => FetchItem::Rfc822Header,
        "RFC822.TEXT" => FetchItem::Rfc822Text,
        "FAST" => {
            return Ok(vec![
                FetchItem::Flags,
                FetchItem::InternalDate,
                FetchItem::Size,
            ])
        }
        "ALL" => {
            return Ok(vec![
                FetchItem::Flags,
                FetchItem::InternalDate,
                FetchItem::Size,
                FetchItem::Envelope,
            ])
        }
        "BODY" | "BODY.PEEK" if c.peek() == Some(b'[') => {
            c.byte(b'[', "Expected [")?;
            let section = parse_section(c)?;
            c.byte(b']', "Expected ] after section")?;
            let partial = if c.eat(b'<') {
                let origin = c.take_while(|b| b.is_ascii_digit());
                let origin = std::str::from_utf8(&origin)
                    .ok()
                    .and_then(|s| s.parse().ok());
                c.byte(b'.', "Expected . in partial")?;
                let count = c.nz_number()?;
                c.byte(b'>', "Expected > after partial")?;
                Some((origin.ok_or(ParseError("Bad partial origin"))?, count))
            } else {
                None
            };
            FetchItem::Body {
                section,
                peek: name == "BODY.PEEK",
                partial,
            }
        }
        _ => return Err(ParseError("Unsupported FETCH item")),
    };
    Ok(vec![item])
}

fn parse_section(c: &mut Cursor) -> PResult<Section> {
    let name = c.take_while(|b| b.is_ascii_alphanumeric() || b == b'.');
    match String::from_utf8_lossy(&name).to_ascii_uppercase().as_str() {
        "" => Ok(Section::Full),
        "HEADER" => Ok(Section::Header),
        "TEXT" => Ok(Section::Text),
        kind @ ("HEADER.FIELDS" | "HEADER.FIELDS.NOT") => {
            c.sp()?;
            c.byte(b'(', "Expected a header list")?;
            let mut names = Vec::new();
            loop {
                names.push(String::from_utf8_lossy(&c.astring()?).into_owned());
                if c.eat(b')') {
                    break;
                }
                c.sp()?;
            }
            Ok(Section::Fields {
                names,
                not: kind == "HEADER.FIELDS.NOT",
            })
        }
        _ => Err(ParseError("Unsupported body section")),
    }
}

/// Writes `* seq FETCH (...)` for one message.
pub(crate) fn write_fetch(out: &mut OutBuf, seq: u32, msg: &StoredMessage, items: &[FetchItem]) {
    let _ = write!(out, "* {seq} FETCH (");
    for (i, item) in items.iter().enumerate() {
        if i > 0 {
            out.put(b" ");
        }
        match item {
            FetchItem::Uid => {
                let _ = write!(out, "UID {}", msg.uid);
            }
            FetchItem::Flags => {
                out.put(b"FLAGS (");
                out.put(msg.flags.join(" ").as_bytes());
                out.put(b")");
            }
            FetchItem::InternalDate => {
                let _ = write!(
                    out,
                    "INTERNALDATE \"{}\"",
                    format_internaldate(&msg.internaldate)
                );
            }
            FetchItem::Size => {
                let _ = write!(out, "RFC822.SIZE {}", msg.body.len());
            }
            FetchItem::Envelope => {
                out.put(b"ENVELOPE ");
                message_parts::write_envelope(out, &msg.body);
            }
            FetchItem::Rfc822 => {
                out.put(b"RFC822 ");
                out.literal(msg.body.clone());
            }
            FetchItem::Rfc822Header => {
                out.put(b"RFC822.HEADER ");
                out.literal(msg.body.slice(..message_parts::header_len(&msg.body)));
            }
            FetchItem::Rfc822Text => {
                out.put(b"RFC822.TEXT ");
                out.literal(msg.body.slice(message_parts::header_len(&msg.body)..));
            }
            FetchItem::Body {
                section, partial, ..
            } => {
                let (label, data) = section_data(section, &msg.body);
                let _ = write!(out, "BODY[{label}]");
                let data = match partial {
                    None => data,
                    Some((origin, count)) => {
                        let _ = write!(out, "<{origin}>");
                        let start = (*origin as usize).min(data.len());
                        let end = start.saturating_add(*count as usize).min(data.len());
                        data.slice(start..end)
                    }
                };
                out.put(b" ");
                out.literal(data);
            }
        }
    }
    out.put(b")\r\n");
}

/// The response label and bytes of a section.
fn section_data(section: &Section, body: &Bytes) -> (String, Bytes) {
    match section {
        Section::Full => (String::new(), body.clone()),
        Section::Header => (
            "HEADER".into(),
            body.slice(..message_parts::header_len(body)),
        ),
        Section::Text => ("TEXT".into(), body.slice(message_parts::header_len(body)..)),
        Section::Fields { names, not } => {
            let kind = if *not {
                "HEADER.FIELDS.NOT"
            } else {
                "HEADER.FIELDS"
            };
            let quoted: Vec<String> = names
                .iter()
                .map(|n| format!("\"{}\"", n.replace(['"', '\\'], "")))
                .collect();
            (
                format!("{kind} ({})", quoted.join(" ")),
                message_parts::header_fields(body, names, *not),
            )
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::DateTime;

    fn items(s: &'static str) -> PResult<Vec<FetchItem>> {
        parse_items(&mut Cursor::new(Bytes::from_static(s.as_bytes())))
    }

    #[test]
    fn parses_lists_macros_and_sections() {
        assert_eq!(items("FAST").unwrap().len(), 3);
        assert_eq!(items("all").unwrap().len(), 4);
        let list =
            items("(UID FLAGS body.peek[] BODY[HEADER.FIELDS (From \"To\")]<0.10>)").unwrap();
        assert_eq!(
            list[2],
            FetchItem::Body {
                section: Section::Full,
                peek: true,
                partial: None
            }
        );
        assert!(
            matches!(&list[3], FetchItem::Body { section: Section::Fields { names, not: false }, peek: false, partial: Some((0, 10)) } if names == &["From", "To"])
        );
        for bad in [
            "",
            "(",
            "(UID",
            "BODY[1.2]",
            "BODYSTRUCTURE",
            "(UID)x",
            "BODY[]<1.0>",
        ] {
            let r = items(bad);
            assert!(r.is_err() || bad == "(UID)x", "{bad}");
        }
    }

    #[test]
    fn writes_the_documented_format() {
        let msg = StoredMessage {
            uid: 7,
            flags: vec!["\\Seen".into()],
            internaldate: DateTime::parse_from_rfc3339("2024-01-05T10:11:12+01:00").unwrap(),
            body: Bytes::from_static(b"Subject: x\r\n\r\nhello"),
        };
        let mut out = OutBuf::default();
        let list =
            items("(UID FLAGS INTERNALDATE RFC822.SIZE BODY[] BODY.PEEK[TEXT]<1.3>)").unwrap();
        write_fetch(&mut out, 3, &msg, &list);
        assert_eq!(
            String::from_utf8(out.take().concat()).unwrap(),
            "* 3 FETCH (UID 7 FLAGS (\\Seen) INTERNALDATE \"05-Jan-2024 10:11:12 +0100\" RFC822.SIZE 19 \
             BODY[] {19}\r\nSubject: x\r\n\r\nhello BODY[TEXT]<1> {3}\r\nell)\r\n"
        );
    }
}
