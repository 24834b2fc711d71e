//! A message's Message-ID and subject, read from its header for the report: pure, no I/O.
//!
//! Only the first [`HEADER_LIMIT`] bytes are looked at; folded lines are unfolded, 8-bit bytes
//! read lossily, and each value is cut to [`VALUE_LIMIT`] characters. Malformed input gives
//! `None`s, never a panic.

/// Bytes of a message looked at for its header.
pub const HEADER_LIMIT: usize = 64 * 1024;

/// Characters kept of a value.
pub const VALUE_LIMIT: usize = 200;

/// The Message-ID and subject of `message` (or of its first bytes), as far as it has them.
pub fn message_label(message: &[u8]) -> (Option<String>, Option<String>) {
    let head = &message[..message.len().min(HEADER_LIMIT)];
    let (mut id, mut subject) = (None, None);
    let mut field: Option<(String, Vec<u8>)> = None;
    let mut finish = |field: Option<(String, Vec<u8>)>| {
        if let Some((name, value)) = field {
            let slot = match name.as_str() {
                "message-id" => &mut id,
                "subject" => &mut subject,
                _ => return,
            };
            if slot.is_none() {
                let text: String = String::from_utf8_lossy(&value)
                    .split_whitespace()
                    .collect::<Vec<_>>()
                    .join(" ")
                    .chars()
                    .take(VALUE_LIMIT)
                    .collect();
                if !text.is_empty() {
                    *slot = Some(text);
                }
            }
        }
    };
    for line in head.split(|&b| b == b'\n') {
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        if line.is_empty() {
            break; // the end of the header
        }
        if line[0] == b' ' || line[0] == b'\t' {
            if let Some((_, value)) = field.as_mut() {
                value.push(b' ');
                value.extend_from_slice(line);
            }
            continue;
        }
        finish(field.take());
        if let Some(colon) = line.iter().position(|&b| b == b':') {
            let name = String::from_utf8_lossy(&line[..colon])
                .trim()
                .to_ascii_lowercase();
            field = Some((name, line[colon + 1..].to_vec()));
        }
    }
    finish(field);
    (id, subject)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn message_id_and_folded_subject_in_either_line_ending() {
        for eol in ["\r\n", "\n"] {
            let m = format!(
                "From: a@b.c{eol}SUBJECT: hello{eol}\tworld{eol}Message-Id:  <x@y>{eol}{eol}\
                 Subject: not this{eol}"
            );
            let (id, subject) = message_label(m.as_bytes());
            assert_eq!(id.as_deref(), Some("<x@y>"));
            assert_eq!(subject.as_deref(), Some("hello world"));
        }
    }

    #[test]
    fn nothing_from_a_body_or_garbage() {
        assert_eq!(
            message_label(b"\r\nMessage-ID: <no@body>\r\n"),
            (None, None)
        );
        assert_eq!(message_label(b""), (None, None));
        assert_eq!(message_label(b"\xff\xfe: \x00\r\n:\r\n"), (None, None));
        let long = format!("Subject: {}\r\n\r\n", "é".repeat(1000));
        let (_, subject) = message_label(long.as_bytes());
        assert_eq!(subject.unwrap().chars().count(), VALUE_LIMIT);
    }
}
