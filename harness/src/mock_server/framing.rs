//! Splits the input stream into whole commands: a line, and while it ends in a literal marker
//! (`{n}` or `{n+}`), the literal's bytes and the next line.
//!
//! Incremental: bytes may arrive split anywhere; scanning resumes where it stopped, so a command
//! sent one byte at a time costs linear time. A synchronizing literal gets `+ Ready` once its
//! line is complete. A literal the server refuses ends the command: at once for `{n}` (the client
//! waits for `+` and sends nothing more), or after its bytes for `{n+}`, which are read and
//! dropped without being buffered, so the client's stream stays in step.

use bytes::{Buf, Bytes, BytesMut};

use super::response::OutBuf;

/// Longest line (excluding literals) before the connection is closed.
pub(crate) const MAX_LINE: usize = 64 * 1024;
/// Largest literal accepted.
pub(crate) const MAX_LITERAL: u64 = 100 * 1024 * 1024;
/// Largest whole command (several literals of a MULTIAPPEND).
pub(crate) const MAX_COMMAND: u64 = 1024 * 1024 * 1024;

/// What the framer found.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Event {
    /// A whole command, its final line ending included.
    Command(Bytes),
    /// A command refused because of a literal; the answer is `tag status text`.
    Rejected {
        /// The command's tag.
        tag: Bytes,
        /// The upper-cased command name, for statistics.
        command: String,
        /// `NO` or `BAD`.
        status: &'static str,
        /// Response text, response code included.
        text: String,
    },
    /// The stream cannot be followed any more: answer `* BAD text` and close.
    Fatal(&'static str),
}

/// A refusal decided by the literal policy: status and text.
pub(crate) type Refusal = (&'static str, String);

/// Decides whether a literal is accepted: `(command, length, non_synchronizing)`.
pub(crate) type LiteralCheck<'a> = dyn Fn(&[u8], u64, bool) -> Option<Refusal> + 'a;

/// Incremental command framer; one per connection.
#[derive(Default)]
pub(crate) struct Framer {
    /// Bytes `buf[..line_start]` belong to the current command and are scanned.
    line_start: usize,
    /// Where to resume looking for the end of the current line.
    search_from: usize,
    /// Literal bytes still to come.
    literal_left: u64,
    /// Size of the command so far, dropped bytes included.
    command_len: u64,
    /// Tag and upper-cased command name, once the first line is complete.
    head: Option<(Bytes, Vec<u8>)>,
    /// The command is being dropped; this is the answer once it ends.
    refused: Option<Refusal>,
}

impl Framer {
    /// Whether the input stopped in the middle of a literal of `command` (upper-case name).
    pub(crate) fn in_literal_of(&self, command: &[u8]) -> bool {
        self.literal_left > 0 && self.head.as_ref().is_some_and(|(_, c)| c == command)
    }

    /// Finds the next event in `buf`, consuming what it covers; `None` means more bytes are
    /// needed. `check(command, len, non_sync)` decides whether a literal is accepted.
    pub(crate) fn next(
        &mut self,
        buf: &mut BytesMut,
        out: &mut OutBuf,
        check: &LiteralCheck<'_>,
    ) -> Option<Event> {
        loop {
            if self.literal_left > 0 {
                let avail = (buf.len() - self.line_start) as u64;
                let take = avail.min(self.literal_left);
                if self.refused.is_some() {
                    buf.advance(take as usize);
                } else {
                    self.line_start += take as usize;
                }
                self.literal_left -= take;
                if self.literal_left > 0 {
                    return None;
                }
                self.search_from = self.line_start;
                continue;
            }
            let Some(nl) = memchr::memchr(b'\n', &buf[self.search_from..]) else {
                if buf.len() - self.line_start > MAX_LINE {
                    return Some(Event::Fatal("[TOOBIG] Line too long"));
                }
                self.search_from = buf.len();
                return None;
            };
            let end = self.search_from + nl + 1;
            if end - self.line_start > MAX_LINE + 2 {
                return Some(Event::Fatal("[TOOBIG] Line too long"));
            }
            let line = trim_eol(&buf[self.line_start..end]);
            if self.head.is_none() {
                self.head = Some(parse_head(line));
            }
            let marker = literal_marker(line);
            self.command_len += (end - self.line_start) as u64;
            match marker {
                None => return Some(self.finish(buf, end)),
                Some(Err(())) => {
                    // A marker we cannot size: the client will send bytes we cannot skip.
                    return Some(Event::Fatal("Invalid literal size"));
                }
                Some(Ok((len, non_sync))) => {
                    let (_, cmd) = self.head.as_ref().expect("head set above");
                    let refusal = if self.refused.is_some() {
                        None
                    } else if len > MAX_LITERAL || self.command_len + len > MAX_COMMAND {
                        Some(("BAD", "[TOOBIG] Literal too big".to_string()))
                    } else {
                        check(cmd, len, non_sync)
                    };
                    if let Some(r) = refusal {
                        self.refused = Some(r);
                    }
                    if self.refused.is_some() {
                        if !non_sync {
                            // The client waits for a continuation that never comes.
                            return Some(self.finish(buf, end));
                        }
                        buf.advance(end);
                        self.line_start = 0;
                    } else {
                        if !non_sync && ((buf.len() - end) as u64) < len {
                            out.put(b"+ Ready for literal data\r\n");
                        }
                        self.line_start = end;
                    }
                    self.command_len += len;
                    self.literal_left = len;
                    self.search_from = self.line_start;
                    if len == 0 {
                        continue;
                    }
                }
            }
        }
    }

    /// Ends the current command at `end`.
    fn finish(&mut self, buf: &mut BytesMut, end: usize) -> Event {
        let head = self.head.take();
        let refused = self.refused.take();
        let frame = buf.split_to(end).freeze();
        *self = Framer::default();
        match refused {
            None => Event::Command(frame),
            Some((status, text)) => {
                let (tag, command) = head.unwrap_or_else(|| (Bytes::from_static(b"*"), Vec::new()));
                Event::Rejected {
                    tag,
                    command: String::from_utf8_lossy(&command).into_owned(),
                    status,
                    text,
                }
            }
        }
    }

    /// Takes one raw line (an AUTHENTICATE response, IDLE's DONE), without its line ending.
    /// Only valid between commands.
    pub(crate) fn next_line(&mut self, buf: &mut BytesMut) -> Option<Result<Bytes, &'static str>> {
        match memchr::memchr(b'\n', &buf[self.search_from..]) {
            Some(nl) => {
                let end = self.search_from + nl + 1;
                let line = buf.split_to(end).freeze();
                *self = Framer::default();
                let trimmed = trim_eol(&line).len();
                Some(Ok(line.slice(..trimmed)))
            }
            None if buf.len() > MAX_LINE => Some(Err("[TOOBIG] Line too long")),
            None => {
                self.search_from = buf.len();
                None
            }
        }
    }
}

/// The line without its `\r\n` or `\n`.
pub(crate) fn trim_eol(line: &[u8]) -> &[u8] {
    let line = line.strip_suffix(b"\n").unwrap_or(line);
    line.strip_suffix(b"\r").unwrap_or(line)
}

/// Tag and upper-cased command name (`UID FETCH` for UID commands).
fn parse_head(line: &[u8]) -> (Bytes, Vec<u8>) {
    let mut words = line.splitn(4, |&b| b == b' ');
    let tag = Bytes::copy_from_slice(words.next().unwrap_or_default());
    let mut cmd = words.next().unwrap_or_default().to_ascii_uppercase();
    if cmd == b"UID" {
        cmd.push(b' ');
        cmd.extend(words.next().unwrap_or_default().to_ascii_uppercase());
    }
    (tag, cmd)
}

/// `{n}` or `{n+}` at the end of a line: `Some(Ok((n, non_sync)))`, `Some(Err)` if malformed.
fn literal_marker(line: &[u8]) -> Option<Result<(u64, bool), ()>> {
    let inner = line.strip_suffix(b"}")?;
    let open = memchr::memrchr(b'{', inner)?;
    let mut digits = &inner[open + 1..];
    let non_sync = digits.ends_with(b"+");
    if non_sync {
        digits = &digits[..digits.len() - 1];
    }
    if digits.is_empty() || !digits.iter().all(u8::is_ascii_digit) {
        // Not a literal marker, just text the parser will refuse.
        return None;
    }
    match std::str::from_utf8(digits)
        .ok()
        .and_then(|d| d.parse().ok())
    {
        Some(n) => Some(Ok((n, non_sync))),
        None => Some(Err(())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn accept_all(_: &[u8], _: u64, _: bool) -> Option<Refusal> {
        None
    }

    fn run(input: &[u8], chunk: usize, check: &LiteralCheck<'_>) -> (Vec<Event>, Vec<u8>) {
        let mut framer = Framer::default();
        let mut buf = BytesMut::new();
        let mut out = OutBuf::default();
        let mut events = Vec::new();
        for piece in input.chunks(chunk) {
            buf.extend_from_slice(piece);
            while let Some(e) = framer.next(&mut buf, &mut out, check) {
                let fatal = matches!(e, Event::Fatal(_));
                events.push(e);
                if fatal {
                    return (events, out.take().concat());
                }
            }
        }
        (events, out.take().concat())
    }

    #[test]
    fn splits_pipelined_commands_at_every_chunk_size() {
        let input = b"a1 NOOP\r\na2 APPEND x {3+}\r\nabc\r\na3 LOGIN {1}\r\nu {2}\r\npw\r\n";
        for chunk in 1..input.len() {
            let (events, out) = run(input, chunk, &accept_all);
            let frames: Vec<_> = events
                .iter()
                .map(|e| match e {
                    Event::Command(b) => b.clone(),
                    other => panic!("{other:?}"),
                })
                .collect();
            assert_eq!(frames.len(), 3, "chunk {chunk}");
            assert_eq!(&frames[1][..], b"a2 APPEND x {3+}\r\nabc\r\n");
            assert_eq!(&frames[2][..], b"a3 LOGIN {1}\r\nu {2}\r\npw\r\n");
            // One continuation per synchronizing literal whose bytes were not there yet.
            assert!(out.len() <= 2 * b"+ Ready for literal data\r\n".len());
        }
    }

    #[test]
    fn refused_non_sync_literal_is_skipped_then_answered() {
        let check = |cmd: &[u8], len: u64, _: bool| {
            (cmd == b"APPEND" && len > 4).then(|| ("NO", "[LIMIT] too big".to_string()))
        };
        let input = b"a1 APPEND x {10+}\r\n0123456789 {2+}\r\nab\r\na2 NOOP\r\n";
        for chunk in 1..input.len() {
            let (events, _) = run(input, chunk, &check);
            assert_eq!(events.len(), 2);
            assert!(
                matches!(&events[0], Event::Rejected { tag, status: "NO", .. } if &tag[..] == b"a1")
            );
            assert_eq!(
                events[1],
                Event::Command(Bytes::from_static(b"a2 NOOP\r\n"))
            );
        }
    }

    #[test]
    fn refused_sync_literal_ends_the_command_before_continuation() {
        let check =
            |_: &[u8], len: u64, _: bool| (len > 4).then(|| ("NO", "[LIMIT] x".to_string()));
        let (events, out) = run(b"a1 APPEND x {10}\r\na2 NOOP\r\n", 100, &check);
        assert!(out.is_empty());
        assert!(matches!(&events[0], Event::Rejected { .. }));
        assert!(matches!(&events[1], Event::Command(_)));
    }

    #[test]
    fn long_lines_and_bad_markers_are_fatal() {
        let long = vec![b'a'; MAX_LINE + 10];
        let (events, _) = run(&long, 4096, &accept_all);
        assert_eq!(events, vec![Event::Fatal("[TOOBIG] Line too long")]);
        let (events, _) = run(b"a LOGIN {99999999999999999999}\r\n", 5, &accept_all);
        assert!(matches!(events[0], Event::Fatal(_)));
        let (events, _) = run(b"a APPEND x {200000000+}\r\n", 5, &accept_all);
        assert!(matches!(&events[..], [] | [Event::Rejected { .. }]));
    }
}
