//! Prose for message bodies: a fixed word list turned into sentences, paragraphs and lines of at
//! most [`MAX_LINE`] bytes, written to an exact byte count, plus the small encoders headers need
//! (base64, RFC 2047 encoded-words).
//!
//! Invariants: [`fill`] writes exactly the bytes asked for (at least 2), every line ends in CRLF,
//! no line is longer than [`MAX_LINE`] bytes, and only [`Prose::utf8`] prose contains non-ASCII.

use rand::RngCore;
use rand_chacha::ChaCha8Rng;

/// Longest body line, in bytes, without its CRLF (RFC 2045's 76, so lines read well everywhere).
pub(super) const MAX_LINE: usize = 76;

/// Everyday office words; sentences are drawn from these, uniformly.
#[rustfmt::skip]
const WORDS: &[&str] = &[
    "the", "a", "to", "of", "and", "in", "for", "on", "with", "we", "you", "it", "is", "are", "be",
    "this", "that", "will", "can", "please", "thanks", "meeting", "project", "budget", "schedule",
    "review", "draft", "attached", "report", "team", "client", "next", "week", "monday", "friday",
    "today", "tomorrow", "update", "status", "plan", "call", "notes", "agenda", "deadline",
    "invoice", "contract", "proposal", "feedback", "question", "answer", "office", "travel",
    "quarter", "numbers", "figures", "sales", "marketing", "design", "release", "version", "server",
    "migration", "mailbox", "folder", "account", "password", "access", "backup", "support",
    "ticket", "issue", "fixed", "open", "closed", "pending", "approved", "signed", "send", "sent",
    "forward", "reply", "let", "me", "know", "if", "have", "any", "questions", "about", "our",
    "their", "new", "old", "first", "last", "final", "changes", "comments", "slides",
    "presentation", "workshop", "training", "lunch", "coffee", "room", "building", "floor", "desk",
    "phone", "laptop", "printer", "network", "internet", "customer", "supplier", "order",
    "delivery", "shipment", "warehouse", "stock", "price", "cost", "estimate", "forecast", "target",
    "goal", "result", "results", "summary", "overview", "detail", "details", "document",
    "documents", "spreadsheet", "file", "files", "link", "calendar", "invite", "confirm",
    "confirmed", "cancel", "move", "postpone", "earlier", "later", "morning", "afternoon",
    "evening", "soon", "quickly", "carefully", "again", "also", "still", "already", "just", "only",
    "maybe", "probably", "certainly", "should", "would", "could", "might", "must", "need", "needs",
    "want", "think", "believe", "suggest", "agree", "discuss", "decide", "prepare", "finish",
    "start", "continue", "check", "verify", "test", "deploy", "measure", "improve", "reduce",
    "increase", "share", "board", "manager", "director", "colleague", "everyone", "nobody",
    "somebody", "department", "policy", "security", "compliance", "audit", "risk", "legal",
    "holiday", "vacation", "weekend", "conference", "visit", "trip", "hotel", "flight", "train",
    "receipt", "expense", "approval", "request", "requirement", "milestone", "roadmap", "launch",
    "campaign", "newsletter", "website", "database", "archive", "quota", "storage", "limit",
];

/// Words with non-ASCII letters, mixed into [`Prose::utf8`] text (about one word in eight).
#[rustfmt::skip]
const UTF8_WORDS: &[&str] = &[
    "Grüße", "café", "Straße", "über", "Müller", "naïve", "façade", "déjà", "Ärger", "señor",
    "smörgåsbord", "Köln", "Zürich", "crème", "brûlée", "résumé", "Øresund", "Ångström", "Größe",
    "Übersicht", "à", "où", "été", "Noël", "mañana", "São", "Łódź", "Ελλάδα", "Москва", "東京",
];

/// Short ASCII words, longest first, that pad a body to its exact length.
const PAD_WORDS: &[&str] = &["more", "soon", "and", "the", "so", "ok", "a"];

/// How prose is laid out.
#[derive(Clone, Copy, Debug)]
pub(super) struct Prose {
    /// Mix in non-ASCII (UTF-8) words: the body must then be declared 8bit.
    pub(super) utf8: bool,
    /// Separate paragraphs with `</p>`/`<p>` lines instead of blank lines.
    pub(super) html: bool,
}

impl Prose {
    /// What ends one paragraph and starts the next; the next line starts empty.
    fn paragraph_break(self) -> &'static [u8] {
        if self.html {
            b"\r\n</p>\r\n<p>\r\n"
        } else {
            b"\r\n\r\n"
        }
    }
}

/// Picks an index below `len` from 32 random bits (multiply-shift, no division).
fn pick(bits: u32, len: usize) -> usize {
    ((u64::from(bits) * len as u64) >> 32) as usize
}

/// Appends exactly `n.max(2)` bytes of prose to `out`, ending in CRLF.
///
/// One 64-bit draw per word decides the word, its punctuation and the sentence and paragraph
/// lengths, and words are copied from static strings: no allocation beyond `out`.
pub(super) fn fill(rng: &mut ChaCha8Rng, out: &mut Vec<u8>, n: usize, prose: Prose) {
    let n = n.max(2);
    out.reserve(n);
    // Bytes still to spend before the final CRLF.
    let mut avail = n - 2;
    let mut line = 0usize;
    let mut words_left = 0u32;
    let mut sentences_left = 3u32;
    let para = prose.paragraph_break();
    loop {
        let bits = rng.next_u64();
        let sentence_start = words_left == 0;
        if sentence_start {
            words_left = 5 + (bits >> 60) as u32; // 5..=20 words
        }
        let word = if prose.utf8 && (bits >> 32) & 7 == 0 {
            UTF8_WORDS[pick(bits as u32, UTF8_WORDS.len())]
        } else {
            WORDS[pick(bits as u32, WORDS.len())]
        };
        let ends_sentence = words_left == 1;
        let comma = !ends_sentence && (bits >> 35) & 15 == 0;
        let punct = usize::from(ends_sentence || comma);
        let mut need = usize::from(line > 0) + word.len() + punct;
        // Lines end one short of MAX_LINE, leaving room for a one-byte pad.
        if line + need >= MAX_LINE {
            if avail < 2 + word.len() + punct {
                if avail >= 2 {
                    out.extend_from_slice(b"\r\n");
                    avail -= 2;
                    line = 0;
                }
                break;
            }
            out.extend_from_slice(b"\r\n");
            avail -= 2;
            line = 0;
            need = word.len() + punct;
        }
        if need > avail {
            break;
        }
        if line > 0 {
            out.push(b' ');
        }
        let start = out.len();
        out.extend_from_slice(word.as_bytes());
        if sentence_start {
            out[start].make_ascii_uppercase();
        }
        if ends_sentence {
            out.push(if (bits >> 40) & 7 == 0 { b'?' } else { b'.' });
        } else if comma {
            out.push(b',');
        }
        line += need;
        avail -= need;
        words_left -= 1;
        if ends_sentence {
            sentences_left = sentences_left.saturating_sub(1);
            if sentences_left == 0 && avail >= para.len() + 24 {
                out.extend_from_slice(para);
                avail -= para.len();
                line = 0;
                sentences_left = 2 + ((bits >> 44) & 3) as u32;
            }
        }
    }
    pad(out, line, avail);
    out.extend_from_slice(b"\r\n");
}

/// Appends exactly `avail` bytes of short words to a line holding `line` bytes; the caller has
/// checked that they fit within [`MAX_LINE`].
fn pad(out: &mut Vec<u8>, line: usize, mut avail: usize) {
    let mut first = line == 0;
    while avail > 0 {
        if !first {
            if avail == 1 {
                out.push(b'.');
                return;
            }
            out.push(b' ');
            avail -= 1;
        }
        first = false;
        let word = PAD_WORDS
            .iter()
            .find(|w| w.len() <= avail)
            .expect("PAD_WORDS ends with a one-letter word");
        out.extend_from_slice(word.as_bytes());
        avail -= word.len();
    }
}

/// The base64 alphabet (RFC 4648, with `+` and `/`).
const BASE64: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/// Appends the base64 encoding of `input`, padded, on one line (for short header values).
pub(super) fn base64_encode(input: &[u8], out: &mut Vec<u8>) {
    for chunk in input.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let v = u32::from(b[0]) << 16 | u32::from(b[1]) << 8 | u32::from(b[2]);
        let sextets = [v >> 18, v >> 12, v >> 6, v];
        for (i, s) in sextets.iter().enumerate() {
            out.push(if i <= chunk.len() {
                BASE64[(s & 63) as usize]
            } else {
                b'='
            });
        }
    }
}

/// The length of `chars` base64 characters laid out in lines of [`MAX_LINE`], each ending CRLF.
pub(super) fn base64_block_len(chars: usize) -> usize {
    chars + 2 * chars.div_ceil(MAX_LINE)
}

/// Appends `chars` (a multiple of 4) base64 characters encoding random bytes, in lines of
/// [`MAX_LINE`] characters, each ending CRLF.
///
/// The base64 of uniformly random bytes is a uniformly random string over the alphabet, so this
/// draws random bytes in bulk into `out` and maps each to the alphabet in place: the same
/// distribution as encoding random bytes, without a second buffer. It decodes to
/// `chars / 4 * 3` incompressible bytes.
pub(super) fn random_base64_block(rng: &mut ChaCha8Rng, out: &mut Vec<u8>, chars: usize) {
    debug_assert_eq!(chars % 4, 0);
    let start = out.len();
    out.resize(start + base64_block_len(chars), 0);
    let block = &mut out[start..];
    rng.fill_bytes(block);
    for line in block.chunks_mut(MAX_LINE + 2) {
        let (text, eol) = line.split_at_mut(line.len() - 2);
        for b in text {
            *b = BASE64[usize::from(*b & 63)];
        }
        eol.copy_from_slice(b"\r\n");
    }
}

/// Appends `text` as RFC 2047 encoded-words, `B` (base64) or `Q` encoding, each word at most 66
/// characters, folded onto continuation lines (CRLF SP) between words.
pub(super) fn encoded_words(text: &str, b_encoding: bool, out: &mut Vec<u8>) {
    // Input bytes per encoded-word, kept on char boundaries, so that a word (at most 66
    // characters) fits a 76-character line after `Subject: `.
    let limit = if b_encoding { 39 } else { 18 };
    let mut rest = text;
    let mut first = true;
    while !rest.is_empty() {
        let mut cut = rest.len().min(limit);
        while !rest.is_char_boundary(cut) {
            cut -= 1;
        }
        let (word, tail) = rest.split_at(cut);
        if !first {
            out.extend_from_slice(b"\r\n ");
        }
        first = false;
        if b_encoding {
            out.extend_from_slice(b"=?UTF-8?B?");
            base64_encode(word.as_bytes(), out);
        } else {
            out.extend_from_slice(b"=?UTF-8?Q?");
            q_encode(word.as_bytes(), out);
        }
        out.extend_from_slice(b"?=");
        rest = tail;
    }
}

/// Appends `bytes` in RFC 2047 `Q` encoding, safe in a phrase: letters and digits as they are,
/// space as `_`, everything else as `=XX`.
pub(super) fn q_encode(bytes: &[u8], out: &mut Vec<u8>) {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    for &b in bytes {
        match b {
            b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' => out.push(b),
            b' ' => out.push(b'_'),
            _ => out.extend_from_slice(&[b'=', HEX[usize::from(b >> 4)], HEX[usize::from(b & 15)]]),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    fn lines(bytes: &[u8]) -> Vec<&[u8]> {
        assert!(bytes.ends_with(b"\r\n"), "ends in CRLF");
        bytes[..bytes.len() - 2]
            .split(|&b| b == b'\n')
            .map(|l| l.strip_suffix(b"\r").unwrap_or(l))
            .collect()
    }

    #[test]
    fn fill_writes_exact_lengths_in_short_crlf_lines() {
        let mut rng = ChaCha8Rng::seed_from_u64(7);
        for html in [false, true] {
            for utf8 in [false, true] {
                for n in (0..400).chain([1_000, 4_321, 77_777]) {
                    let mut out = b"prefix".to_vec();
                    fill(&mut rng, &mut out, n, Prose { utf8, html });
                    let body = &out[6..];
                    assert_eq!(body.len(), n.max(2), "n={n} html={html} utf8={utf8}");
                    assert!(std::str::from_utf8(body).is_ok());
                    assert_eq!(
                        body.iter().filter(|&&b| b == b'\n').count(),
                        body.iter().filter(|&&b| b == b'\r').count()
                    );
                    for line in lines(body) {
                        assert!(
                            line.len() <= MAX_LINE,
                            "{:?}",
                            String::from_utf8_lossy(line)
                        );
                        assert!(!line.contains(&b'\r'));
                    }
                    assert!(utf8 || body.is_ascii());
                }
            }
        }
    }

    #[test]
    fn base64_encode_matches_rfc4648_vectors() {
        for (input, expected) in [
            ("", ""),
            ("f", "Zg=="),
            ("fo", "Zm8="),
            ("foo", "Zm9v"),
            ("foobar", "Zm9vYmFy"),
        ] {
            let mut out = Vec::new();
            base64_encode(input.as_bytes(), &mut out);
            assert_eq!(out, expected.as_bytes());
        }
    }

    #[test]
    fn random_base64_block_is_lines_of_76_alphabet_characters() {
        let mut rng = ChaCha8Rng::seed_from_u64(1);
        for chars in [4, 76, 152, 1_000, 4_000] {
            let mut out = Vec::new();
            random_base64_block(&mut rng, &mut out, chars);
            assert_eq!(out.len(), base64_block_len(chars));
            let ls = lines(&out);
            assert_eq!(ls.iter().map(|l| l.len()).sum::<usize>(), chars);
            for (i, l) in ls.iter().enumerate() {
                assert!(l.len() == MAX_LINE || i == ls.len() - 1);
                assert!(l.iter().all(|b| BASE64.contains(b)));
            }
        }
    }

    #[test]
    fn encoded_words_stay_under_75_characters() {
        let mut out = Vec::new();
        encoded_words(
            "Grüße aus München und Zürich — Überprüfung der Größe für Q3 2024",
            true,
            &mut out,
        );
        out.push(b' ');
        encoded_words("Réunion de l'équipe", false, &mut out);
        assert!(out.is_ascii());
        for word in out.split(|&b| b == b' ' || b == b'\n') {
            assert!(word.len() <= 76);
        }
        let mut q = Vec::new();
        encoded_words("café à 9h", false, &mut q);
        assert_eq!(q, b"=?UTF-8?Q?caf=C3=A9_=C3=A0_9h?=");
    }
}
