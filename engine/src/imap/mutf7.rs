//! Modified UTF-7 (RFC 3501 5.1.3), how IMAP4rev1 servers spell non-ASCII folder names.
//!
//! Printable ASCII stands for itself, `&` is written `&-`, everything else is UTF-16BE in a
//! base64 variant (`,` for `/`, no padding) between `&` and `-`. Decoding is lenient: a name that
//! is not valid modified UTF-7 is kept as it came, so a strange server name still copies.

use base64::alphabet::IMAP_MUTF7;
use base64::engine::general_purpose::{GeneralPurpose, GeneralPurposeConfig};
use base64::engine::DecodePaddingMode;
use base64::Engine;

const MUTF7: GeneralPurpose = GeneralPurpose::new(
    &IMAP_MUTF7,
    GeneralPurposeConfig::new()
        .with_encode_padding(false)
        .with_decode_padding_mode(DecodePaddingMode::RequireNone),
);

/// Encodes a Unicode folder name for the wire.
pub fn encode(name: &str) -> String {
    let mut out = String::with_capacity(name.len() + 8);
    let mut run: Vec<u16> = Vec::new();
    let flush = |run: &mut Vec<u16>, out: &mut String| {
        if run.is_empty() {
            return;
        }
        let bytes: Vec<u8> = run.iter().flat_map(|u| u.to_be_bytes()).collect();
        out.push('&');
        out.push_str(&MUTF7.encode(bytes));
        out.push('-');
        run.clear();
    };
    for ch in name.chars() {
        if (' '..='~').contains(&ch) {
            flush(&mut run, &mut out);
            if ch == '&' {
                out.push_str("&-");
            } else {
                out.push(ch);
            }
        } else {
            let mut buf = [0u16; 2];
            run.extend_from_slice(ch.encode_utf16(&mut buf));
        }
    }
    flush(&mut run, &mut out);
    out
}

/// Decodes a wire folder name; `None` if it is not valid modified UTF-7.
pub fn decode(wire: &str) -> Option<String> {
    let mut out = String::with_capacity(wire.len());
    let mut rest = wire;
    while let Some(pos) = rest.find('&') {
        out.push_str(&rest[..pos]);
        let after = &rest[pos + 1..];
        let end = after.find('-')?;
        let chunk = &after[..end];
        if chunk.is_empty() {
            out.push('&');
        } else {
            let bytes = MUTF7.decode(chunk).ok()?;
            if bytes.len() % 2 != 0 {
                return None;
            }
            let units: Vec<u16> = bytes
                .chunks_exact(2)
                .map(|c| u16::from_be_bytes([c[0], c[1]]))
                .collect();
            let text = String::from_utf16(&units).ok()?;
            // A shift sequence must not encode what could have been written directly.
            if text.chars().any(|c| (' '..='~').contains(&c)) {
                return None;
            }
            out.push_str(&text);
        }
        rest = &after[end + 1..];
    }
    if rest.chars().any(|c| !(' '..='~').contains(&c)) {
        return None;
    }
    out.push_str(rest);
    Some(out)
}

/// Decodes leniently: invalid names come back unchanged.
pub fn decode_lossless(wire: &str) -> String {
    decode(wire).unwrap_or_else(|| wire.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_the_rfc_examples_and_more() {
        let cases = [
            ("~peter/mail/台北/日本語", "~peter/mail/&U,BTFw-/&ZeVnLIqe-"),
            ("Entwürfe", "Entw&APw-rfe"),
            ("Projets/Été", "Projets/&AMk-t&AOk-"),
            ("Tom & Jerry", "Tom &- Jerry"),
            ("INBOX", "INBOX"),
            ("😀 emoji", "&2D3eAA- emoji"),
            ("", ""),
        ];
        for (name, wire) in cases {
            assert_eq!(encode(name), wire, "encode {name}");
            assert_eq!(decode(wire).as_deref(), Some(name), "decode {wire}");
        }
    }

    #[test]
    fn rejects_malformed_and_keeps_it_unchanged() {
        for bad in ["&U,BTFw", "&Jjo!-", "&AGE-", "caf\u{e9}"] {
            assert_eq!(decode(bad), None, "{bad}");
            assert_eq!(decode_lossless(bad), bad);
        }
    }

    #[test]
    fn every_char_class_round_trips() {
        let name: String = ('\u{20}'..'\u{300}').chain(['中', '\u{10348}']).collect();
        assert_eq!(decode(&encode(&name)).as_deref(), Some(name.as_str()));
    }
}
