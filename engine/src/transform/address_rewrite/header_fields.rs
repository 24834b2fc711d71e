//! Finding header fields by byte range, without copying: the rewriter replaces a field's range and
//! copies every other byte as it was.

use std::ops::Range;

/// One header field as it sits in the message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct RawField {
    /// From the first byte of the name to just after the last line ending.
    pub whole: Range<usize>,
    /// The field name, without the colon.
    pub name: Range<usize>,
    /// After the colon up to (not including) the last line ending; may contain folds.
    pub value: Range<usize>,
    /// The field's own line ending (`\r\n`, `\n`, or empty when the message ends without one).
    pub eol: &'static [u8],
}

/// The end of the header section: the offset of the blank line that ends it (or the message
/// length when there is none). Lines are found with memchr, so this is as fast as the memory.
pub(crate) fn header_end(message: &[u8]) -> usize {
    let mut pos = 0;
    while pos < message.len() {
        let rest = &message[pos..];
        if rest.starts_with(b"\n") || rest.starts_with(b"\r\n") {
            return pos;
        }
        match memchr::memchr(b'\n', rest) {
            Some(i) => pos += i + 1,
            None => return message.len(),
        }
    }
    message.len()
}

/// The well-formed fields of a header section (`header` is `message[..header_end]`). A line that
/// is not `name: value` (no colon, a space in the name, 8-bit name) is skipped, together with its
/// continuation lines, and so left exactly as it was.
pub(crate) fn fields(header: &[u8]) -> impl Iterator<Item = RawField> + '_ {
    let mut pos = 0;
    std::iter::from_fn(move || {
        while pos < header.len() {
            let start = pos;
            let mut end = line_end(header, start);
            while end < header.len() && matches!(header[end], b' ' | b'\t') {
                end = line_end(header, end);
            }
            pos = end;
            let first_line = &header[start..line_end(header, start)];
            let Some(colon) = memchr::memchr(b':', first_line) else {
                continue;
            };
            let name_ok = colon > 0 && first_line[..colon].iter().all(|&b| (33..=126).contains(&b));
            if !name_ok {
                continue;
            }
            let eol: &'static [u8] = if header[..end].ends_with(b"\r\n") {
                b"\r\n"
            } else if header[..end].ends_with(b"\n") {
                b"\n"
            } else {
                b""
            };
            return Some(RawField {
                whole: start..end,
                name: start..start + colon,
                value: start + colon + 1..end - eol.len(),
                eol,
            });
        }
        None
    })
}

/// Just after the `\n` ending the line that starts at `start` (or the end of `bytes`).
fn line_end(bytes: &[u8], start: usize) -> usize {
    memchr::memchr(b'\n', &bytes[start..]).map_or(bytes.len(), |i| start + i + 1)
}

/// `value` with its folds removed: a line ending followed by a space or tab is dropped, the
/// space or tab kept (RFC 5322 section 2.2.3).
pub(crate) fn unfold(value: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(value.len());
    let mut i = 0;
    while i < value.len() {
        let fold = match &value[i..] {
            [b'\r', b'\n', b' ' | b'\t', ..] => 2,
            [b'\n', b' ' | b'\t', ..] => 1,
            _ => 0,
        };
        if fold > 0 {
            i += fold;
        } else {
            out.push(value[i]);
            i += 1;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_end_finds_the_blank_line() {
        assert_eq!(header_end(b"A: b\r\n\r\nbody"), 6);
        assert_eq!(header_end(b"A: b\n\nbody"), 5);
        assert_eq!(header_end(b"A: b"), 4);
        assert_eq!(header_end(b"\r\nbody"), 0);
        assert_eq!(header_end(b""), 0);
    }

    #[test]
    fn fields_with_folds_and_junk_lines() {
        let h = b"To: a,\r\n b\r\nnot a header\r\nBad Name: x\r\n cont\r\nCc: c";
        let fields: Vec<_> = fields(h).collect();
        assert_eq!(fields.len(), 2);
        assert_eq!(&h[fields[0].name.clone()], b"To");
        assert_eq!(&h[fields[0].value.clone()], b" a,\r\n b");
        assert_eq!(fields[0].eol, b"\r\n");
        assert_eq!(&h[fields[1].value.clone()], b" c");
        assert_eq!(fields[1].eol, b"");
    }

    #[test]
    fn unfold_keeps_the_whitespace() {
        assert_eq!(unfold(b" a,\r\n b,\n\tc\r\n"), b" a, b,\tc\r\n");
    }
}
