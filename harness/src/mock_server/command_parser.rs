//! Parses the arguments of one framed command (RFC 3501 section 9 grammar, the parts the mock
//! needs). Literals are sliced out of the frame without copying.

use bytes::Bytes;

/// Why a command could not be parsed; the text goes into the tagged BAD.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct ParseError(pub(crate) &'static str);

/// Parse result.
pub(crate) type PResult<T> = Result<T, ParseError>;

/// A position in one framed command.
pub(crate) struct Cursor {
    buf: Bytes,
    pos: usize,
    end: usize,
}

fn is_atom_char(b: u8) -> bool {
    b > 0x20 && b < 0x7f && !b"(){%*\"\\]".contains(&b)
}

fn is_astring_char(b: u8) -> bool {
    is_atom_char(b) || b == b']'
}

fn is_list_char(b: u8) -> bool {
    is_astring_char(b) || b == b'%' || b == b'*'
}

impl Cursor {
    /// A cursor over a whole frame; the final line ending is not part of the input.
    pub(crate) fn new(frame: Bytes) -> Self {
        let end = super::framing::trim_eol(&frame).len();
        Cursor {
            buf: frame,
            pos: 0,
            end,
        }
    }

    /// The next byte, if any.
    pub(crate) fn peek(&self) -> Option<u8> {
        (self.pos < self.end).then(|| self.buf[self.pos])
    }

    /// Whether the whole command has been read.
    pub(crate) fn at_end(&self) -> bool {
        self.pos >= self.end
    }

    /// Expects the end of the command.
    pub(crate) fn end(&self) -> PResult<()> {
        if self.at_end() {
            Ok(())
        } else {
            Err(ParseError("Unexpected arguments"))
        }
    }

    /// Expects one space.
    pub(crate) fn sp(&mut self) -> PResult<()> {
        self.byte(b' ', "Expected a space")
    }

    /// Expects `b`.
    pub(crate) fn byte(&mut self, b: u8, why: &'static str) -> PResult<()> {
        if self.peek() == Some(b) {
            self.pos += 1;
            Ok(())
        } else {
            Err(ParseError(why))
        }
    }

    /// Consumes `b` if it is next.
    pub(crate) fn eat(&mut self, b: u8) -> bool {
        let yes = self.peek() == Some(b);
        if yes {
            self.pos += 1;
        }
        yes
    }

    /// Takes bytes while `f` holds (possibly none).
    pub(crate) fn take_while(&mut self, f: impl Fn(u8) -> bool) -> Bytes {
        let start = self.pos;
        while self.peek().is_some_and(&f) {
            self.pos += 1;
        }
        self.buf.slice(start..self.pos)
    }

    /// A tag: astring characters except `+`.
    pub(crate) fn tag(&mut self) -> PResult<Bytes> {
        let t = self.take_while(|b| is_astring_char(b) && b != b'+');
        if t.is_empty() {
            Err(ParseError("Missing tag"))
        } else {
            Ok(t)
        }
    }

    /// An atom.
    pub(crate) fn atom(&mut self) -> PResult<Bytes> {
        let a = self.take_while(is_atom_char);
        if a.is_empty() {
            Err(ParseError("Expected an atom"))
        } else {
            Ok(a)
        }
    }

    /// An atom, upper-cased, as a String (command names, keywords).
    pub(crate) fn keyword(&mut self) -> PResult<String> {
        Ok(String::from_utf8_lossy(&self.atom()?).to_ascii_uppercase())
    }

    /// An astring: atom characters (and `]`), a quoted string or a literal.
    pub(crate) fn astring(&mut self) -> PResult<Bytes> {
        match self.peek() {
            Some(b'"' | b'{') => self.string(),
            _ => {
                let a = self.take_while(is_astring_char);
                if a.is_empty() {
                    Err(ParseError("Expected a string"))
                } else {
                    Ok(a)
                }
            }
        }
    }

    /// A mailbox pattern: list characters (with `%` and `*`) or a string.
    pub(crate) fn list_mailbox(&mut self) -> PResult<Bytes> {
        match self.peek() {
            Some(b'"' | b'{') => self.string(),
            _ => {
                let a = self.take_while(is_list_char);
                if a.is_empty() {
                    Err(ParseError("Expected a mailbox pattern"))
                } else {
                    Ok(a)
                }
            }
        }
    }

    /// A quoted string or a literal.
    pub(crate) fn string(&mut self) -> PResult<Bytes> {
        match self.peek() {
            Some(b'"') => self.quoted(),
            Some(b'{') => self.literal(),
            _ => Err(ParseError("Expected a string")),
        }
    }

    fn quoted(&mut self) -> PResult<Bytes> {
        self.pos += 1;
        let start = self.pos;
        let mut escaped = false;
        loop {
            match self.peek() {
                None | Some(b'\r' | b'\n') => return Err(ParseError("Unterminated quoted string")),
                Some(b'"') => break,
                Some(b'\\') => {
                    escaped = true;
                    self.pos += 1;
                    if !matches!(self.peek(), Some(b'"' | b'\\')) {
                        return Err(ParseError("Bad escape in quoted string"));
                    }
                }
                _ => {}
            }
            self.pos += 1;
        }
        let raw = self.buf.slice(start..self.pos);
        self.pos += 1;
        if !escaped {
            return Ok(raw);
        }
        let mut out = Vec::with_capacity(raw.len());
        let mut it = raw.iter();
        while let Some(&b) = it.next() {
            out.push(if b == b'\\' {
                *it.next().unwrap_or(&b)
            } else {
                b
            });
        }
        Ok(Bytes::from(out))
    }

    /// A literal `{n}` / `{n+}`, line ending, then n bytes (sliced, not copied).
    pub(crate) fn literal(&mut self) -> PResult<Bytes> {
        self.byte(b'{', "Expected a literal")?;
        let digits = self.take_while(|b| b.is_ascii_digit());
        let n: usize = std::str::from_utf8(&digits)
            .ok()
            .and_then(|d| d.parse().ok())
            .ok_or(ParseError("Bad literal size"))?;
        self.eat(b'+');
        self.byte(b'}', "Bad literal")?;
        self.eat(b'\r');
        // A literal's line ending may be the frame's last bytes only for an empty tail; use the
        // raw buffer, not `end`.
        if self.buf.get(self.pos) != Some(&b'\n') {
            return Err(ParseError("Literal marker not at end of line"));
        }
        self.pos += 1;
        if self.pos + n > self.buf.len() {
            return Err(ParseError("Truncated literal"));
        }
        let data = self.buf.slice(self.pos..self.pos + n);
        self.pos += n;
        if self.pos > self.end {
            self.end = self.pos;
        }
        Ok(data)
    }

    /// `NIL`, or a parenthesized list of strings/NILs (as in ID); the content is ignored.
    pub(crate) fn skip_nil_or_string_list(&mut self) -> PResult<()> {
        if self.eat(b'(') {
            while !self.eat(b')') {
                if self.at_end() {
                    return Err(ParseError("Unterminated list"));
                }
                if self.peek() == Some(b' ') {
                    self.pos += 1;
                } else if matches!(self.peek(), Some(b'"' | b'{')) {
                    self.string()?;
                } else {
                    self.atom()?;
                }
            }
            Ok(())
        } else if self.keyword()? == "NIL" {
            Ok(())
        } else {
            Err(ParseError("Expected NIL or a list"))
        }
    }

    /// A parenthesized list of atoms, upper-cased: `(A B C)`.
    pub(crate) fn atom_list(&mut self) -> PResult<Vec<String>> {
        self.byte(b'(', "Expected a list")?;
        let mut items = Vec::new();
        if self.eat(b')') {
            return Ok(items);
        }
        loop {
            items.push(self.keyword()?);
            if self.eat(b')') {
                return Ok(items);
            }
            self.sp()?;
        }
    }

    /// A flag list `(\Seen $Label)`; `\*` and `\Recent` are left for the caller to judge.
    pub(crate) fn flag_list(&mut self) -> PResult<Vec<String>> {
        self.byte(b'(', "Expected a flag list")?;
        let mut flags = Vec::new();
        if self.eat(b')') {
            return Ok(flags);
        }
        loop {
            let backslash = self.eat(b'\\');
            let name = if backslash && self.eat(b'*') {
                Bytes::from_static(b"*")
            } else {
                self.atom().map_err(|_| ParseError("Bad flag"))?
            };
            let name = String::from_utf8_lossy(&name);
            flags.push(if backslash {
                format!("\\{name}")
            } else {
                name.into_owned()
            });
            if self.eat(b')') {
                return Ok(flags);
            }
            self.sp()?;
        }
    }

    /// A non-zero 32-bit number.
    pub(crate) fn nz_number(&mut self) -> PResult<u32> {
        let d = self.take_while(|b| b.is_ascii_digit());
        std::str::from_utf8(&d)
            .ok()
            .and_then(|s| s.parse::<u32>().ok())
            .filter(|&n| n > 0)
            .ok_or(ParseError("Expected a non-zero number"))
    }

    /// A sequence set: `1:*`, `5,7:9`, `*`.
    pub(crate) fn sequence_set(&mut self) -> PResult<SequenceSet> {
        let mut ranges = Vec::new();
        loop {
            let a = self.seq_number()?;
            let b = if self.eat(b':') {
                self.seq_number()?
            } else {
                a
            };
            ranges.push((a, b));
            if !self.eat(b',') {
                return Ok(SequenceSet(ranges));
            }
        }
    }

    fn seq_number(&mut self) -> PResult<SeqNumber> {
        if self.eat(b'*') {
            Ok(SeqNumber::Star)
        } else {
            self.nz_number().map(SeqNumber::Num)
        }
    }

    /// The unread rest of the command, without its final line ending.
    /// What is left of the command, without consuming it.
    pub(crate) fn peek_rest(&self) -> &[u8] {
        &self.buf[self.pos.min(self.end)..self.end]
    }

    /// The rest of the command, consumed.
    pub(crate) fn rest(&mut self) -> Bytes {
        let r = self.buf.slice(self.pos.min(self.end)..self.end);
        self.pos = self.end;
        r
    }
}

/// A number in a sequence set, or `*` (the largest in use).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum SeqNumber {
    /// A number.
    Num(u32),
    /// `*`.
    Star,
}

/// A sequence set as ranges (either order, as written).
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct SequenceSet(pub(crate) Vec<(SeqNumber, SeqNumber)>);

impl SequenceSet {
    /// The ranges with `*` replaced by `largest`, each as (low, high).
    pub(crate) fn resolve(&self, largest: u32) -> Vec<(u32, u32)> {
        self.0
            .iter()
            .map(|&(a, b)| {
                let v = |n| match n {
                    SeqNumber::Num(n) => n,
                    SeqNumber::Star => largest,
                };
                (v(a).min(v(b)), v(a).max(v(b)))
            })
            .collect()
    }

    /// Whether `n` is in the set, given the largest number in use.
    pub(crate) fn contains(ranges: &[(u32, u32)], n: u32) -> bool {
        ranges.iter().any(|&(lo, hi)| lo <= n && n <= hi)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cursor(s: &'static [u8]) -> Cursor {
        Cursor::new(Bytes::from_static(s))
    }

    #[test]
    fn strings_atoms_and_literals() {
        let mut c = cursor(b"a1 LOGIN \"us\\\"er\" {3}\r\np w\r\n");
        assert_eq!(&c.tag().unwrap()[..], b"a1");
        c.sp().unwrap();
        assert_eq!(c.keyword().unwrap(), "LOGIN");
        c.sp().unwrap();
        assert_eq!(&c.astring().unwrap()[..], b"us\"er");
        c.sp().unwrap();
        assert_eq!(&c.astring().unwrap()[..], b"p w");
        c.end().unwrap();
    }

    #[test]
    fn literal_inside_a_command_then_more_arguments() {
        let mut c = cursor(b"t APPEND {5+}\r\nINBOX (\\Seen) {2}\r\nhi\r\n");
        c.tag().unwrap();
        c.sp().unwrap();
        c.atom().unwrap();
        c.sp().unwrap();
        assert_eq!(&c.astring().unwrap()[..], b"INBOX");
        c.sp().unwrap();
        assert_eq!(c.flag_list().unwrap(), vec!["\\Seen"]);
        c.sp().unwrap();
        assert_eq!(&c.string().unwrap()[..], b"hi");
        c.end().unwrap();
    }

    #[test]
    fn sequence_sets() {
        let mut c = cursor(b"1:*,5,9:7 x");
        let set = c.sequence_set().unwrap();
        assert_eq!(set.resolve(20), vec![(1, 20), (5, 5), (7, 9)]);
        // 559:* includes the last UID even when 559 is larger (RFC 3501 6.4.8).
        let set = cursor(b"559:*").sequence_set().unwrap();
        assert!(SequenceSet::contains(&set.resolve(10), 10));
        assert!(cursor(b"0:3").sequence_set().is_err());
        assert!(cursor(b"a").sequence_set().is_err());
    }

    #[test]
    fn garbage_is_an_error_not_a_panic() {
        for g in [
            &b"\"abc"[..],
            b"{",
            b"{9}\r\nab",
            b"{x}",
            b"\"a\\b\"",
            b"(",
            b"(\\",
        ] {
            let mut c = Cursor::new(Bytes::copy_from_slice(g));
            assert!(c.astring().is_err() || c.flag_list().is_err(), "{g:?}");
        }
    }
}
