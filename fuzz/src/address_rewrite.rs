//! `address_rewrite`: arbitrary bytes as a message, through the rewriter the golden cases use
//! (`fixtures/messages/rewrite/directory.ldif`, `adatum.com` → `contoso.com`), with and without
//! `keep_original`. Checked, from the module's invariants:
//! - never panics;
//! - the fast path: a header without `IMCEA`, `/O=` or `@adatum.com` is `Unchanged`, nothing
//!   unresolved;
//! - bytes kept: the body (from the blank line on) is the input's; every header line that is
//!   not a changed address field is the input's, in order; a changed field keeps its name and,
//!   with `keep_original`, is followed by `X-Cutover-Original-<Field>` holding its old value;
//! - the counts: `fields_rewritten` is the number of fields that differ, with at least one
//!   address each;
//! - stable: the output rewritten again is `Unchanged` (every address this directory resolves
//!   to is outside the mapped domain);
//! - line endings: an all-LF message in CRLF form gives the CRLF form of the LF result.

use std::sync::LazyLock;

use cutover_engine::transform::address_rewrite::{
    AddressRewriter, Directory, DomainMap, Rewrite, ADDRESS_FIELDS, ORIGINAL_PREFIX,
};

const DIRECTORY: &str = include_str!("../../fixtures/messages/rewrite/directory.ldif");

fn rewriter(keep_original: bool) -> AddressRewriter {
    let directory = Directory::from_ldif(DIRECTORY, "directory.ldif").expect("fixture directory");
    let domains: DomainMap = [("adatum.com", "contoso.com")].into_iter().collect();
    AddressRewriter::new(directory, domains, keep_original)
}

static PLAIN: LazyLock<AddressRewriter> = LazyLock::new(|| rewriter(false));
static KEEPING: LazyLock<AddressRewriter> = LazyLock::new(|| rewriter(true));

/// Rewrites `message` with both rewriters and checks the result (see the module docs).
pub fn check(message: &[u8]) {
    for (rewriter, keep_original) in [(&*PLAIN, false), (&*KEEPING, true)] {
        let rewrite = rewriter.rewrite(message);
        check_one(rewriter, keep_original, message, &rewrite);
        check_line_endings(rewriter, message, &rewrite);
    }
}

fn check_one(rewriter: &AddressRewriter, keep_original: bool, message: &[u8], rewrite: &Rewrite) {
    let (header, body) = message.split_at(header_end(message));
    let candidate = ["IMCEA", "/O=", "@adatum.com"]
        .iter()
        .any(|p| contains_ignore_case(header, p.as_bytes()));
    if !candidate {
        assert_eq!(
            rewrite,
            &Rewrite::Unchanged { unresolved: vec![] },
            "no candidate in the header: the fast path answers Unchanged"
        );
    }
    let Rewrite::Changed {
        bytes,
        fields_rewritten,
        addresses_rewritten,
        ..
    } = rewrite
    else {
        return;
    };
    assert!(candidate, "changed a header without a candidate");
    assert!(*fields_rewritten >= 1, "Changed with no field rewritten");
    assert!(addresses_rewritten >= fields_rewritten);

    let (out_header, out_body) = bytes.split_at(header_end(bytes));
    assert_eq!(
        String::from_utf8_lossy(out_body),
        String::from_utf8_lossy(body),
        "the body changed"
    );

    let before = logical_lines(header);
    let after = logical_lines(out_header);
    let mut after = after.iter().peekable();
    let mut differing = 0;
    for line in &before {
        let out = after.next().unwrap_or_else(|| {
            panic!(
                "output header ends before {:?}",
                String::from_utf8_lossy(line)
            )
        });
        if out == line {
            continue;
        }
        differing += 1;
        let name = field_name(line).unwrap_or_else(|| {
            panic!(
                "a line that is not a field changed: {:?} became {:?}",
                String::from_utf8_lossy(line),
                String::from_utf8_lossy(out)
            )
        });
        assert!(
            ADDRESS_FIELDS
                .iter()
                .any(|f| f.as_bytes().eq_ignore_ascii_case(name)),
            "a field that is not an address field changed: {:?}",
            String::from_utf8_lossy(line)
        );
        assert_eq!(field_name(out), Some(name), "a changed field lost its name");
        if keep_original {
            let original = after
                .next()
                .expect("the original follows the changed field");
            let mut original_name = ORIGINAL_PREFIX.as_bytes().to_vec();
            original_name.extend_from_slice(name);
            assert_eq!(field_name(original), Some(&original_name[..]));
            let kept = unfold(&original[original_name.len() + 1..]);
            let old = unfold(&line[name.len() + 1..]);
            assert_eq!(
                String::from_utf8_lossy(kept.trim_ascii()),
                String::from_utf8_lossy(old.trim_ascii()),
                "the original value was not kept"
            );
        }
    }
    assert!(after.next().is_none(), "the output header has extra lines");
    assert_eq!(differing, *fields_rewritten, "fields_rewritten miscounts");

    let again = rewriter.rewrite(bytes);
    assert!(
        matches!(again, Rewrite::Unchanged { .. }),
        "rewriting the output changed it again: {:?}",
        String::from_utf8_lossy(again.bytes(bytes))
    );
}

/// An all-LF message, in CRLF form, must come out as the CRLF form of its LF result.
fn check_line_endings(rewriter: &AddressRewriter, message: &[u8], rewrite: &Rewrite) {
    if message.contains(&b'\r') || !message.contains(&b'\n') {
        return;
    }
    let crlf = |bytes: &[u8]| -> Vec<u8> {
        bytes
            .iter()
            .flat_map(|&b| {
                if b == b'\n' {
                    vec![b'\r', b'\n']
                } else {
                    vec![b]
                }
            })
            .collect()
    };
    let other = crlf(message);
    let other_rewrite = rewriter.rewrite(&other);
    assert_eq!(
        matches!(rewrite, Rewrite::Changed { .. }),
        matches!(other_rewrite, Rewrite::Changed { .. }),
        "LF and CRLF forms disagree on whether to change"
    );
    assert_eq!(
        String::from_utf8_lossy(other_rewrite.bytes(&other)),
        String::from_utf8_lossy(&crlf(rewrite.bytes(message))),
        "the CRLF form's result is not the CRLF form of the LF result"
    );
}

/// The offset of the blank line ending the header section, or the length (RFC 5322; the same
/// rule as the rewriter's, written again here so the check does not trust the code it checks).
fn header_end(message: &[u8]) -> usize {
    let mut pos = 0;
    while pos < message.len() {
        let rest = &message[pos..];
        if rest.starts_with(b"\n") || rest.starts_with(b"\r\n") {
            return pos;
        }
        match rest.iter().position(|&b| b == b'\n') {
            Some(i) => pos += i + 1,
            None => break,
        }
    }
    message.len()
}

/// The header's lines with their continuation lines (those starting with a space or tab),
/// line endings included.
fn logical_lines(header: &[u8]) -> Vec<&[u8]> {
    let line_end = |from: usize| {
        header[from..]
            .iter()
            .position(|&b| b == b'\n')
            .map_or(header.len(), |i| from + i + 1)
    };
    let mut lines = Vec::new();
    let mut pos = 0;
    while pos < header.len() {
        let mut end = line_end(pos);
        while end < header.len() && matches!(header[end], b' ' | b'\t') {
            end = line_end(end);
        }
        lines.push(&header[pos..end]);
        pos = end;
    }
    lines
}

/// The name of a `name: value` line whose name is printable ASCII without spaces.
fn field_name(line: &[u8]) -> Option<&[u8]> {
    let first_line = line.split(|&b| b == b'\n').next().unwrap_or(line);
    let colon = first_line.iter().position(|&b| b == b':')?;
    let name = &line[..colon];
    (!name.is_empty() && name.iter().all(|b| (33..=126).contains(b))).then_some(name)
}

/// `value` with every line break that is followed by a space or tab removed.
fn unfold(value: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(value.len());
    let mut i = 0;
    while i < value.len() {
        match &value[i..] {
            [b'\r', b'\n', b' ' | b'\t', ..] => i += 2,
            [b'\n', b' ' | b'\t', ..] => i += 1,
            _ => {
                out.push(value[i]);
                i += 1;
            }
        }
    }
    out
}

fn contains_ignore_case(haystack: &[u8], needle: &[u8]) -> bool {
    haystack
        .windows(needle.len())
        .any(|w| w.eq_ignore_ascii_case(needle))
}
