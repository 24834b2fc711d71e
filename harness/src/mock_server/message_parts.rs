//! Pure helpers over a stored message's bytes: header/text split, header fields, ENVELOPE.
//!
//! Messages are served as stored; these only slice them. Malformed or 8-bit headers are
//! tolerated (the worst outcome is a NIL or a literal in the ENVELOPE).

use bytes::Bytes;

use super::response::OutBuf;

/// Length of the header section, blank line included (the whole message if there is none).
pub(crate) fn header_len(body: &[u8]) -> usize {
    let mut i = 0;
    while let Some(nl) = memchr::memchr(b'\n', &body[i..]) {
        let next = i + nl + 1;
        let line = &body[i..next];
        if line == b"\n" || line == b"\r\n" {
            return next;
        }
        i = next;
    }
    body.len()
}

/// The header fields (raw, folded lines kept) of a header section, as (name, raw bytes).
pub(crate) fn fields(header: &[u8]) -> Vec<(&[u8], &[u8])> {
    let mut out: Vec<(&[u8], &[u8])> = Vec::new();
    let mut i = 0;
    let mut start: Option<usize> = None;
    while i < header.len() {
        let next = memchr::memchr(b'\n', &header[i..]).map_or(header.len(), |n| i + n + 1);
        let line = &header[i..next];
        let continuation = matches!(line.first(), Some(b' ' | b'\t'));
        let blank = line == b"\n" || line == b"\r\n";
        if !continuation {
            if let Some(s) = start.take() {
                push_field(&mut out, &header[s..i]);
            }
            if blank {
                break;
            }
            start = Some(i);
        }
        i = next;
    }
    if let Some(s) = start {
        push_field(&mut out, &header[s..i.min(header.len())]);
    }
    out
}

fn push_field<'a>(out: &mut Vec<(&'a [u8], &'a [u8])>, raw: &'a [u8]) {
    if let Some(colon) = memchr::memchr(b':', raw) {
        out.push((raw[..colon].trim_ascii(), raw));
    }
}

/// `HEADER.FIELDS` / `HEADER.FIELDS.NOT`: the chosen fields, then a blank line.
pub(crate) fn header_fields(body: &[u8], names: &[String], not: bool) -> Bytes {
    let header = &body[..header_len(body)];
    let mut out = Vec::new();
    for (name, raw) in fields(header) {
        let listed = names
            .iter()
            .any(|n| n.as_bytes().eq_ignore_ascii_case(name));
        if listed != not {
            out.extend_from_slice(raw);
        }
    }
    out.extend_from_slice(b"\r\n");
    Bytes::from(out)
}

/// The unfolded value of the first field called `name`.
fn value(fields: &[(&[u8], &[u8])], name: &str) -> Option<Vec<u8>> {
    let (_, raw) = fields
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case(name.as_bytes()))?;
    let colon = memchr::memchr(b':', raw)?;
    let v: Vec<u8> = raw[colon + 1..]
        .iter()
        .copied()
        .filter(|&b| b != b'\r' && b != b'\n')
        .collect();
    Some(v.trim_ascii().to_vec())
}

fn nstring(out: &mut OutBuf, v: Option<&[u8]>) {
    match v {
        Some(v) => out.string(v),
        None => out.put(b"NIL"),
    }
}

/// Writes the ENVELOPE structure (RFC 3501 7.4.2) of a message.
pub(crate) fn write_envelope(out: &mut OutBuf, body: &[u8]) {
    let header = &body[..header_len(body)];
    let fields = fields(header);
    let get = |n: &str| value(&fields, n);
    out.put(b"(");
    nstring(out, get("Date").as_deref());
    out.put(b" ");
    nstring(out, get("Subject").as_deref());
    let from = get("From");
    for name in ["From", "Sender", "Reply-To", "To", "Cc", "Bcc"] {
        out.put(b" ");
        let v = get(name).filter(|v| !v.is_empty());
        let v = match name {
            "Sender" | "Reply-To" => v.or_else(|| from.clone()),
            _ => v,
        };
        write_addresses(out, v.as_deref());
    }
    out.put(b" ");
    nstring(out, get("In-Reply-To").as_deref());
    out.put(b" ");
    nstring(out, get("Message-ID").as_deref());
    out.put(b")");
}

/// Splits at top-level commas (outside quotes, angle brackets and comments).
fn split_addresses(v: &[u8]) -> Vec<&[u8]> {
    let mut parts = Vec::new();
    let (mut quoted, mut angle, mut paren, mut start) = (false, false, 0u32, 0);
    let mut i = 0;
    while i < v.len() {
        match v[i] {
            b'\\' if quoted => i += 1,
            b'"' => quoted = !quoted,
            b'<' if !quoted => angle = true,
            b'>' if !quoted => angle = false,
            b'(' if !quoted => paren += 1,
            b')' if !quoted => paren = paren.saturating_sub(1),
            b',' if !quoted && !angle && paren == 0 => {
                parts.push(&v[start..i]);
                start = i + 1;
            }
            _ => {}
        }
        i += 1;
    }
    parts.push(&v[start.min(v.len())..]);
    parts
}

fn unquote(s: &[u8]) -> Vec<u8> {
    let s = s.trim_ascii();
    let s = s
        .strip_prefix(b"\"")
        .and_then(|s| s.strip_suffix(b"\""))
        .unwrap_or(s);
    let mut out = Vec::with_capacity(s.len());
    let mut it = s.iter();
    while let Some(&b) = it.next() {
        out.push(if b == b'\\' {
            *it.next().unwrap_or(&b)
        } else {
            b
        });
    }
    out
}

/// One element of an address list in ENVELOPE.
enum Address<'a> {
    GroupStart(Vec<u8>),
    GroupEnd,
    Mailbox {
        name: Option<Vec<u8>>,
        mailbox: &'a [u8],
        host: Option<&'a [u8]>,
    },
}

fn parse_addresses(v: &[u8]) -> Vec<Address<'_>> {
    let mut list = Vec::new();
    for part in split_addresses(v) {
        let mut part = part.trim_ascii();
        // Group syntax: `name: a, b;`.
        let first_special = [b'<', b'@', b'"']
            .iter()
            .filter_map(|&c| memchr::memchr(c, part))
            .min()
            .unwrap_or(part.len());
        if let Some(colon) = memchr::memchr(b':', part).filter(|&c| c < first_special) {
            list.push(Address::GroupStart(unquote(&part[..colon])));
            part = part[colon + 1..].trim_ascii();
        }
        let ends_group = part.ends_with(b";");
        if ends_group {
            part = part[..part.len() - 1].trim_ascii();
        }
        if !part.is_empty() {
            let (name, addr) = match (memchr::memrchr(b'<', part), memchr::memrchr(b'>', part)) {
                (Some(l), Some(r)) if l < r => (Some(unquote(&part[..l])), &part[l + 1..r]),
                _ => (None, part),
            };
            let (mailbox, host) = match memchr::memrchr(b'@', addr) {
                Some(a) => (addr[..a].trim_ascii(), Some(addr[a + 1..].trim_ascii())),
                None => (addr.trim_ascii(), None),
            };
            list.push(Address::Mailbox {
                name: name.filter(|n| !n.is_empty()),
                mailbox,
                host,
            });
        }
        if ends_group {
            list.push(Address::GroupEnd);
        }
    }
    list
}

fn write_addresses(out: &mut OutBuf, v: Option<&[u8]>) {
    let list = v.map(parse_addresses).unwrap_or_default();
    if list.is_empty() {
        // The grammar has no empty address list.
        out.put(b"NIL");
        return;
    }
    out.put(b"(");
    for a in list {
        match a {
            Address::GroupStart(name) => {
                out.put(b"(NIL NIL ");
                out.string(&name);
                out.put(b" NIL)");
            }
            Address::GroupEnd => out.put(b"(NIL NIL NIL NIL)"),
            Address::Mailbox {
                name,
                mailbox,
                host,
            } => {
                out.put(b"(");
                nstring(out, name.as_deref());
                out.put(b" NIL ");
                out.string(mailbox);
                out.put(b" ");
                nstring(out, host);
                out.put(b")");
            }
        }
    }
    out.put(b")");
}

#[cfg(test)]
mod tests {
    use super::*;

    const MSG: &[u8] = b"From: \"Doe, J\" <j@x.org>\r\nTo: a@b.c, Bob <bob@d.e>\r\nSubject: hi\r\n  there\r\nX-Tuid: 1\r\n\r\nbody\r\n";

    #[test]
    fn splits_header_and_picks_fields() {
        assert_eq!(&MSG[header_len(MSG)..], b"body\r\n");
        assert_eq!(header_len(b"no blank line"), 13);
        let picked = header_fields(MSG, &["subject".into()], false);
        assert_eq!(&picked[..], b"Subject: hi\r\n  there\r\n\r\n");
        let rest = header_fields(MSG, &["SUBJECT".into(), "from".into(), "to".into()], true);
        assert_eq!(&rest[..], b"X-Tuid: 1\r\n\r\n");
    }

    #[test]
    fn envelope_has_addresses_and_defaults() {
        let mut out = OutBuf::default();
        write_envelope(&mut out, MSG);
        let env = String::from_utf8(out.take().concat()).unwrap();
        assert_eq!(
            env,
            "(NIL \"hi  there\" ((\"Doe, J\" NIL \"j\" \"x.org\")) ((\"Doe, J\" NIL \"j\" \"x.org\")) \
             ((\"Doe, J\" NIL \"j\" \"x.org\")) ((NIL NIL \"a\" \"b.c\")(\"Bob\" NIL \"bob\" \"d.e\")) NIL NIL NIL NIL)"
        );
        let mut out = OutBuf::default();
        write_envelope(&mut out, b"To: undisclosed-recipients:;\r\n\r\n");
        let env = String::from_utf8(out.take().concat()).unwrap();
        assert!(
            env.contains("((NIL NIL \"undisclosed-recipients\" NIL)(NIL NIL NIL NIL))"),
            "{env}"
        );
        let mut out = OutBuf::default();
        write_envelope(&mut out, b"garbage\xff\r\n");
        assert_eq!(
            out.take().concat(),
            b"(NIL NIL NIL NIL NIL NIL NIL NIL NIL NIL)"
        );
    }
}
