//! The corpus file: a whole [`Corpus`] in one zstd-compressed file, so benches and tests load a
//! corpus in milliseconds instead of generating it, and fixtures stay small.
//!
//! Layout: 8 bytes of magic (`CUTCORP` and a NUL), a little-endian `u32` format version, then one
//! zstd frame (with its content checksum) holding the payload: the [`CorpusSpec`], the mailboxes,
//! their folders and their messages (flags, INTERNALDATE, length-prefixed raw bytes), then an end
//! marker. Integers are little-endian; strings and bodies are a `u32` length and the bytes.
//!
//! Invariants: [`Corpus::read_zst`] of what [`Corpus::write_zst`] wrote equals the corpus; a file
//! that is not a corpus file, of another version, truncated or damaged gives an error naming the
//! file and what is wrong, never a panic, and never an allocation sized by an unchecked length.
//! Writing goes to a temporary file renamed into place, so a crash leaves no half-written file.

use std::io::{BufWriter, Read, Write};
use std::path::Path;

use anyhow::{bail, Context};
use bytes::Bytes;
use chrono::{DateTime, FixedOffset};

use super::{Corpus, CorpusMessage, CorpusSpec, FolderCorpus, MailboxCorpus};

/// The first bytes of every corpus file.
const MAGIC: &[u8; 8] = b"CUTCORP\0";

/// The payload layout written; a reader refuses any other.
const VERSION: u32 = 1;

/// The last bytes of the payload: a file cut at a record boundary still fails to load.
const END: &[u8; 4] = b"END\0";

/// zstd level: messages are mostly prose, which level 9 packs well at about 50 MB/s.
const LEVEL: i32 = 9;

/// The special-use attributes a corpus folder may carry (RFC 6154), so reading can give back
/// the `&'static str` that [`super::FolderCorpus::special_use`] holds.
const SPECIAL_USES: &[&str] = &[
    "\\All",
    "\\Archive",
    "\\Drafts",
    "\\Flagged",
    "\\Junk",
    "\\Sent",
    "\\Trash",
];

impl Corpus {
    /// Writes the corpus, with its spec, to `path` as a zstd-compressed corpus file (replacing
    /// any file there). Fails if a message is 4 GiB or more, or on I/O errors.
    pub fn write_zst(&self, path: impl AsRef<Path>) -> anyhow::Result<()> {
        let path = path.as_ref();
        let context = || format!("writing corpus file {}", path.display());
        let dir = match path.parent() {
            Some(dir) if !dir.as_os_str().is_empty() => dir,
            _ => Path::new("."),
        };
        let temp = tempfile::NamedTempFile::new_in(dir).with_context(context)?;
        let mut out = BufWriter::new(temp.as_file());
        out.write_all(MAGIC).with_context(context)?;
        out.write_all(&VERSION.to_le_bytes())
            .with_context(context)?;
        let mut encoder = zstd::stream::write::Encoder::new(out, LEVEL).with_context(context)?;
        encoder.include_checksum(true).with_context(context)?;
        write_payload(self, &mut encoder).with_context(context)?;
        let mut out = encoder.finish().with_context(context)?;
        out.flush().with_context(context)?;
        drop(out);
        temp.as_file().sync_all().with_context(context)?;
        // A temporary file is private (0600); a corpus file is as readable as any other.
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(temp.path(), std::fs::Permissions::from_mode(0o644))
                .with_context(context)?;
        }
        temp.persist(path).with_context(context)?;
        Ok(())
    }

    /// Reads a corpus file written by [`Corpus::write_zst`]. Errors name the file and say what
    /// is wrong: not a corpus file (bad magic), another format version, truncated or damaged.
    pub fn read_zst(path: impl AsRef<Path>) -> anyhow::Result<Corpus> {
        let path = path.as_ref();
        let context = || format!("corpus file {}", path.display());
        // One read of the whole file: corpus files are a few MB, and the payload is as large.
        let file = std::fs::read(path).with_context(context)?;
        if file.len() < MAGIC.len() || &file[..MAGIC.len()] != MAGIC {
            bail!("{}: not a corpus file (bad magic)", context());
        }
        let Some((version, frame)) = file[MAGIC.len()..].split_first_chunk::<4>() else {
            bail!("{}: truncated in the header", context());
        };
        let version = u32::from_le_bytes(*version);
        if version != VERSION {
            bail!(
                "{}: format version {version}, this build reads version {VERSION}",
                context()
            );
        }
        // Mail compresses about 2x: start there rather than doubling up from nothing.
        let mut payload = Vec::with_capacity(frame.len().saturating_mul(2));
        zstd::stream::read::Decoder::with_buffer(frame)
            .and_then(|mut decoder| decoder.read_to_end(&mut payload))
            .with_context(|| format!("{}: truncated or damaged (zstd)", context()))?;
        read_payload(Bytes::from(payload)).with_context(context)
    }
}

/// Writes the spec, the mailboxes and the end marker.
fn write_payload(corpus: &Corpus, out: &mut impl Write) -> anyhow::Result<()> {
    let spec = &corpus.spec;
    for n in [
        spec.seed,
        spec.mailboxes as u64,
        spec.messages_per_mailbox as u64,
        spec.median_size as u64,
        spec.mean_size as u64,
        spec.max_size as u64,
        spec.attachment_share.to_bits(),
    ] {
        out.write_all(&n.to_le_bytes())?;
    }
    out.write_all(&spec.years.to_le_bytes())?;
    write_len(out, corpus.mailboxes.len())?;
    for mailbox in &corpus.mailboxes {
        write_bytes(out, mailbox.user.as_bytes())?;
        write_len(out, mailbox.folders.len())?;
        for folder in &mailbox.folders {
            write_bytes(out, folder.name.as_bytes())?;
            write_bytes(out, folder.special_use.unwrap_or("").as_bytes())?;
            out.write_all(&[u8::from(folder.subscribed)])?;
            write_len(out, folder.messages.len())?;
            for message in &folder.messages {
                out.write_all(&message.internaldate.timestamp().to_le_bytes())?;
                out.write_all(
                    &message
                        .internaldate
                        .offset()
                        .local_minus_utc()
                        .to_le_bytes(),
                )?;
                write_len(out, message.flags.len())?;
                for flag in &message.flags {
                    write_bytes(out, flag.as_bytes())?;
                }
                write_bytes(out, &message.body)?;
            }
        }
    }
    out.write_all(END)?;
    Ok(())
}

/// Writes a count or length as a `u32`.
fn write_len(out: &mut impl Write, len: usize) -> anyhow::Result<()> {
    let len = u32::try_from(len).context("a count or length is 4 GiB or more")?;
    out.write_all(&len.to_le_bytes())?;
    Ok(())
}

/// Writes a `u32` length and the bytes.
fn write_bytes(out: &mut impl Write, bytes: &[u8]) -> anyhow::Result<()> {
    write_len(out, bytes.len())?;
    out.write_all(bytes)?;
    Ok(())
}

/// A cursor over the decompressed payload; message bodies are slices of it, not copies.
struct Payload {
    bytes: Bytes,
    at: usize,
}

impl Payload {
    /// The next `n` bytes, or a "truncated" error saying what was being read.
    fn take(&mut self, n: usize, what: &str) -> anyhow::Result<Bytes> {
        let end = self
            .at
            .checked_add(n)
            .filter(|&end| end <= self.bytes.len());
        let Some(end) = end else {
            bail!(
                "truncated: {what} at payload offset {} needs {n} bytes, {} left",
                self.at,
                self.bytes.len() - self.at
            );
        };
        let taken = self.bytes.slice(self.at..end);
        self.at = end;
        Ok(taken)
    }

    fn array<const N: usize>(&mut self, what: &str) -> anyhow::Result<[u8; N]> {
        let bytes = self.take(N, what)?;
        Ok(bytes[..].try_into().expect("take returned N bytes"))
    }

    fn u32(&mut self, what: &str) -> anyhow::Result<u32> {
        self.array(what).map(u32::from_le_bytes)
    }

    fn u64(&mut self, what: &str) -> anyhow::Result<u64> {
        self.array(what).map(u64::from_le_bytes)
    }

    fn usize(&mut self, what: &str) -> anyhow::Result<usize> {
        let n = self.u64(what)?;
        usize::try_from(n).with_context(|| format!("{what} {n} does not fit this machine"))
    }

    /// A `u32` count of records, each at least `min_record` bytes: a count the rest of the
    /// payload cannot hold is damage, caught before anything is allocated for it.
    fn count(&mut self, what: &str, min_record: usize) -> anyhow::Result<usize> {
        let n = self.u32(what)? as usize;
        let left = self.bytes.len() - self.at;
        if n.saturating_mul(min_record) > left {
            bail!("truncated or damaged: {what} is {n}, but only {left} bytes are left");
        }
        Ok(n)
    }

    /// A `u32` length and that many bytes.
    fn bytes(&mut self, what: &str) -> anyhow::Result<Bytes> {
        let len = self.u32(what)? as usize;
        self.take(len, what)
    }

    fn string(&mut self, what: &str) -> anyhow::Result<String> {
        let bytes = self.bytes(what)?;
        String::from_utf8(bytes.to_vec()).with_context(|| format!("{what} is not UTF-8"))
    }
}

/// Parses the payload [`write_payload`] wrote.
fn read_payload(bytes: Bytes) -> anyhow::Result<Corpus> {
    let mut p = Payload { bytes, at: 0 };
    let spec = CorpusSpec {
        seed: p.u64("spec seed")?,
        mailboxes: p.usize("spec mailboxes")?,
        messages_per_mailbox: p.usize("spec messages per mailbox")?,
        median_size: p.usize("spec median size")?,
        mean_size: p.usize("spec mean size")?,
        max_size: p.usize("spec max size")?,
        attachment_share: f64::from_bits(p.u64("spec attachment share")?),
        years: p.u32("spec years")?,
    };
    // Smallest records: a mailbox is a user and a folder count, a folder a name, a special-use,
    // a subscribed byte and a count, a message a date, an offset, a flag count and a body length.
    let n = p.count("mailbox count", 8)?;
    let mut mailboxes = Vec::with_capacity(n);
    for _ in 0..n {
        let user = p.string("user")?;
        let n = p.count("folder count", 13)?;
        let mut folders = Vec::with_capacity(n);
        for _ in 0..n {
            let name = p.string("folder name")?;
            let special_use = match &p.string("special-use")?[..] {
                "" => None,
                s => Some(
                    *SPECIAL_USES
                        .iter()
                        .find(|known| **known == s)
                        .with_context(|| format!("folder {name}: unknown special-use {s:?}"))?,
                ),
            };
            let subscribed = match p.array::<1>("subscribed")? {
                [0] => false,
                [1] => true,
                [b] => bail!("folder {name}: subscribed byte is {b}, not 0 or 1"),
            };
            let n = p.count("message count", 20)?;
            let mut messages = Vec::with_capacity(n);
            for _ in 0..n {
                messages.push(read_message(&mut p, &name)?);
            }
            folders.push(FolderCorpus {
                name,
                special_use,
                subscribed,
                messages,
            });
        }
        mailboxes.push(MailboxCorpus { user, folders });
    }
    if &p.array::<4>("end marker")? != END {
        bail!("damaged: no end marker at payload offset {}", p.at - 4);
    }
    if p.at != p.bytes.len() {
        bail!(
            "damaged: {} bytes after the end marker",
            p.bytes.len() - p.at
        );
    }
    Ok(Corpus { spec, mailboxes })
}

/// One message: INTERNALDATE (seconds and offset), flags, body.
fn read_message(p: &mut Payload, folder: &str) -> anyhow::Result<CorpusMessage> {
    let seconds = i64::from_le_bytes(p.array("INTERNALDATE")?);
    let offset = i32::from_le_bytes(p.array("INTERNALDATE offset")?);
    let offset = FixedOffset::east_opt(offset)
        .with_context(|| format!("folder {folder}: time zone offset {offset} s out of range"))?;
    let internaldate = DateTime::from_timestamp(seconds, 0)
        .with_context(|| format!("folder {folder}: INTERNALDATE {seconds} out of range"))?
        .with_timezone(&offset);
    let n = p.count("flag count", 4)?;
    let mut flags = Vec::with_capacity(n);
    for _ in 0..n {
        flags.push(p.string("flag")?);
    }
    let body = p.bytes("message body")?;
    Ok(CorpusMessage {
        flags,
        internaldate,
        body,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::corpus::generate;

    fn small() -> Corpus {
        generate(&CorpusSpec {
            seed: 42,
            mailboxes: 2,
            messages_per_mailbox: 60,
            median_size: 2_000,
            mean_size: 5_000,
            max_size: 100_000,
            ..CorpusSpec::default()
        })
    }

    fn error_of(path: &Path) -> String {
        match Corpus::read_zst(path) {
            Ok(_) => panic!("{} loaded", path.display()),
            Err(e) => format!("{e:#}"),
        }
    }

    #[test]
    fn round_trip_gives_the_same_corpus() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("small.corpus.zst");
        let corpus = small();
        corpus.write_zst(&path).unwrap();
        let read = Corpus::read_zst(&path).unwrap();
        assert!(read == corpus, "round trip changed the corpus");
        assert_eq!(read.spec, corpus.spec);
        let compressed = std::fs::metadata(&path).unwrap().len();
        assert!(compressed < corpus.total_bytes(), "{compressed} bytes");
        // The empty corpus too.
        let empty = generate(&CorpusSpec {
            mailboxes: 0,
            ..corpus.spec.clone()
        });
        empty.write_zst(&path).unwrap();
        assert!(Corpus::read_zst(&path).unwrap() == empty);
    }

    #[test]
    fn damaged_files_give_clear_errors() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c.corpus.zst");
        small().write_zst(&path).unwrap();
        let good = std::fs::read(&path).unwrap();
        let bad = dir.path().join("bad.corpus.zst");
        let with = |bytes: &[u8]| {
            std::fs::write(&bad, bytes).unwrap();
            let e = error_of(&bad);
            assert!(e.contains("bad.corpus.zst"), "no file name in {e}");
            e
        };
        assert!(with(b"").contains("bad magic"));
        assert!(with(b"hello, world").contains("bad magic"));
        assert!(with(&good[..10]).contains("truncated"));
        let mut other = good.clone();
        other[8] = 7;
        assert!(with(&other).contains("version 7"));
        for cut in [12, 13, 100, good.len() / 2, good.len() - 1] {
            let e = with(&good[..cut]);
            assert!(e.contains("truncated"), "cut at {cut}: {e}");
        }
        // Flipped bytes anywhere in the frame: zstd's checksum or our parser says so.
        for at in (12..good.len()).step_by(good.len() / 50) {
            let mut damaged = good.clone();
            damaged[at] ^= 0x55;
            let e = with(&damaged);
            assert!(
                e.contains("damaged") || e.contains("truncated"),
                "{at}: {e}"
            );
        }
        let missing = dir.path().join("missing.corpus.zst");
        assert!(error_of(&missing).contains("missing.corpus.zst"));
    }

    /// The committed fixture loads and is exactly what its stored spec generates, so it cannot
    /// drift from the generator unnoticed (regenerate it as `fixtures/corpus/README.md` says).
    #[test]
    fn committed_fixture_equals_what_its_spec_generates() {
        let path = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../fixtures/corpus/standard.corpus.zst"
        );
        let corpus = Corpus::read_zst(path).unwrap();
        assert!(corpus.total_messages() > 0);
        assert!(
            corpus == generate(&corpus.spec),
            "{path} differs from generate({:?}): regenerate it",
            corpus.spec
        );
    }

    #[test]
    fn damaged_payloads_never_panic() {
        let corpus = small();
        let mut payload = Vec::new();
        write_payload(&corpus, &mut payload).unwrap();
        assert!(read_payload(Bytes::from(payload.clone())).unwrap() == corpus);
        // Every cut, and a byte set to 0xff at many places (huge lengths and counts).
        for cut in (0..payload.len()).step_by(97) {
            let e = read_payload(Bytes::copy_from_slice(&payload[..cut])).unwrap_err();
            assert!(format!("{e:#}").contains("truncated"), "{cut}: {e:#}");
        }
        for at in (0..payload.len()).step_by(89) {
            let mut damaged = payload.clone();
            damaged[at] = 0xff;
            let _ = read_payload(Bytes::from(damaged));
        }
        let mut trailing = payload.clone();
        trailing.push(0);
        let e = read_payload(Bytes::from(trailing)).unwrap_err();
        assert!(format!("{e:#}").contains("after the end marker"));
    }
}
