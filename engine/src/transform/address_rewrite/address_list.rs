//! Finding the address tokens in an unfolded address-list value, and folding a value again.
//!
//! Deliberately not a full RFC 5322 parser: the value is cut at top-level `,`, `;` and group `:`
//! (outside quoted strings, comments and angle brackets), and each piece yields at most one
//! token: the inside of its `<...>`, or else the bare addr-spec. Everything around the tokens
//! (display names, encoded words, comments, group syntax) is never touched, so it survives as is.

use std::ops::Range;

/// The byte ranges of the address tokens in `value`, trimmed of surrounding whitespace.
pub(crate) fn address_tokens(value: &[u8]) -> Vec<Range<usize>> {
    let mut tokens = Vec::new();
    let mut segment_start = 0;
    let mut angle: Option<Range<usize>> = None;
    let mut angle_open = None;
    let mut in_quote = false;
    let mut comment_depth = 0usize;
    let mut i = 0;
    while i <= value.len() {
        let b = value.get(i).copied();
        match b {
            Some(b'\\') if in_quote || comment_depth > 0 => i += 1,
            Some(b'"') if comment_depth == 0 && angle_open.is_none() => in_quote = !in_quote,
            _ if in_quote => {}
            Some(b'>') if angle_open.is_some() => {
                let open = angle_open.take().unwrap_or(i);
                angle.get_or_insert(open..i);
            }
            _ if angle_open.is_some() => {}
            Some(b'(') => comment_depth += 1,
            Some(b')') if comment_depth > 0 => comment_depth -= 1,
            _ if comment_depth > 0 => {}
            Some(b'<') => angle_open = Some(i + 1),
            Some(b':') if is_ex_prefix(&value[segment_start..i]) => {}
            Some(b',' | b';' | b':') | None => {
                let segment = segment_start..i.min(value.len());
                if let Some(token) = angle.take().or_else(|| bare_token(value, segment)) {
                    let token = trim(value, token);
                    if !token.is_empty() {
                        tokens.push(token);
                    }
                }
                segment_start = i + 1;
            }
            _ => {}
        }
        i += 1;
    }
    tokens
}

/// The bare addr-spec of a segment with no angle brackets: a DN (`/O=...` or `EX:/O=...`, which
/// may contain spaces and parentheses) is the whole segment, anything else ends at the first
/// whitespace or comment.
fn bare_token(value: &[u8], segment: Range<usize>) -> Option<Range<usize>> {
    let segment = trim(value, segment);
    let text = &value[segment.clone()];
    if text.is_empty() {
        return None;
    }
    let upper3 = text.get(..3).map(<[u8]>::to_ascii_uppercase);
    if matches!(upper3.as_deref(), Some(b"/O=" | b"EX:")) {
        return Some(segment);
    }
    let len = text
        .iter()
        .position(|&b| b.is_ascii_whitespace() || b == b'(')
        .unwrap_or(text.len());
    Some(segment.start..segment.start + len)
}

/// `EX` as the whole segment so far (ignoring whitespace): its colon is the `EX:` prefix of a
/// DN, not a group.
fn is_ex_prefix(segment: &[u8]) -> bool {
    segment.trim_ascii().eq_ignore_ascii_case(b"EX")
}

fn trim(value: &[u8], range: Range<usize>) -> Range<usize> {
    let text = &value[range.clone()];
    let start = range.start + (text.len() - text.trim_ascii_start().len());
    let end = range.end - (text.len() - text.trim_ascii_end().len());
    start..end.max(start)
}

/// Writes `name:value` folded at `width` columns where possible: a line break goes before a space
/// or tab outside quoted strings, comments and angle brackets (so an address is never split),
/// never before the first word. A word longer than the width stays whole on its own line. Each
/// line ends with `eol`; the last with `last_eol`.
pub(crate) fn write_folded(
    out: &mut Vec<u8>,
    name: &[u8],
    value: &[u8],
    eol: &[u8],
    last_eol: &[u8],
    width: usize,
) {
    out.extend_from_slice(name);
    out.push(b':');
    let mut column = name.len() + 1;
    let mut piece_start = 0;
    let (mut in_quote, mut in_angle, mut comment_depth) = (false, false, 0usize);
    let mut i = 0;
    while i <= value.len() {
        let b = value.get(i).copied();
        let boundary = match b {
            None => true,
            Some(b'\\') if in_quote || comment_depth > 0 => {
                // Not past the end: the end is where the last piece is written.
                i = (i + 2).min(value.len());
                continue;
            }
            Some(b'"') if comment_depth == 0 && !in_angle => {
                in_quote = !in_quote;
                false
            }
            _ if in_quote => false,
            Some(b'<') if comment_depth == 0 => {
                in_angle = true;
                false
            }
            Some(b'>') if comment_depth == 0 => {
                in_angle = false;
                false
            }
            Some(b'(') if !in_angle => {
                comment_depth += 1;
                false
            }
            Some(b')') if !in_angle => {
                comment_depth = comment_depth.saturating_sub(1);
                false
            }
            // Never after a bare CR: the fold's line ending would make it a CRLF.
            Some(b' ' | b'\t') => {
                !in_angle
                    && comment_depth == 0
                    && i > 0
                    && !matches!(value[i - 1], b' ' | b'\t' | b'\r')
            }
            Some(_) => false,
        };
        if boundary && i > piece_start {
            let piece = &value[piece_start..i.min(value.len())];
            let has_word = piece.iter().any(|b| !b.is_ascii_whitespace());
            let starts_with_space = matches!(piece.first(), Some(b' ' | b'\t'));
            if column + piece.len() > width && piece_start > 0 && starts_with_space && has_word {
                out.extend_from_slice(eol);
                column = 0;
            }
            out.extend_from_slice(piece);
            column += piece.len();
            piece_start = i;
        }
        i += 1;
    }
    out.extend_from_slice(last_eol);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tokens(value: &str) -> Vec<&str> {
        address_tokens(value.as_bytes())
            .into_iter()
            .map(|r| &value[r])
            .collect()
    }

    #[test]
    fn angle_bare_and_dn_tokens() {
        assert_eq!(
            tokens(r#" "Doe, Joe" <joe@a.com>, ann@b.com (Ann), <EX:/O=X/CN=Y>"#),
            ["joe@a.com", "ann@b.com", "EX:/O=X/CN=Y"]
        );
        assert_eq!(
            tokens(" /O=ADATUM/OU=GROUP (FYDIBOHF23SPDLT)/CN=JOE, EX:/o=a/cn=b"),
            [
                "/O=ADATUM/OU=GROUP (FYDIBOHF23SPDLT)/CN=JOE",
                "EX:/o=a/cn=b"
            ]
        );
    }

    #[test]
    fn groups_and_comments() {
        assert_eq!(
            tokens(" Team: a@x.com, \"b:c\" <b@x.com>;, d@x.com (x, y: z)"),
            ["Team", "a@x.com", "b@x.com", "d@x.com"]
        );
        assert_eq!(
            tokens(" undisclosed-recipients:;"),
            ["undisclosed-recipients"]
        );
    }

    #[test]
    fn malformed_values_do_not_panic() {
        for value in [
            "<", ">", "\"", "(", "\\", "<a@b", "a@b>", ":;,", "\"\\", "(\\", "EX:",
        ] {
            let _ = tokens(value);
        }
    }

    #[test]
    fn folding_at_width() {
        let mut out = Vec::new();
        write_folded(
            &mut out,
            b"To",
            b" aaaa, bbbb, \"c c c\" <c@d>",
            b"\n",
            b"\n",
            14,
        );
        assert_eq!(out, b"To: aaaa,\n bbbb, \"c c c\"\n <c@d>\n");
        out.clear();
        write_folded(&mut out, b"To", b" short", b"\r\n", b"", 78);
        assert_eq!(out, b"To: short");
        out.clear();
        write_folded(&mut out, b"To", b" J <a b c d>, (e f g) x", b"\n", b"", 6);
        assert_eq!(out, b"To: J\n <a b c d>,\n (e f g)\n x");
    }

    #[test]
    fn folding_keeps_a_value_ending_in_a_backslash() {
        for value in [&b" a (b \\"[..], b" a \"b\\", b" a (b\\"] {
            let mut out = Vec::new();
            write_folded(&mut out, b"To", value, b"\n", b"\n", 78);
            assert_eq!(out, [&b"To:"[..], value, b"\n"].concat());
        }
    }

    #[test]
    fn folding_never_turns_a_bare_cr_into_a_line_ending() {
        let mut out = Vec::new();
        write_folded(&mut out, b"To", b" aaaa,\r bbbb", b"\n", b"\n", 8);
        assert_eq!(out, b"To: aaaa,\r bbbb\n");
    }
}
