//! A minimal raw IMAP client over implicit TLS for the benchmark's own chores: seeding the
//! source fast with MULTIAPPEND (LITERAL+, one transaction per batch) and counting messages
//! with STATUS. It speaks only what Dovecot answers to these commands (line responses, no
//! literals), which is all the benchmark needs; it is not a general client.

use std::net::SocketAddr;

use anyhow::{bail, ensure, Context};
use async_native_tls::TlsStream;
use tokio::io::{
    AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader, BufWriter, ReadHalf, WriteHalf,
};
use tokio::net::TcpStream;

use crate::corpus::CorpusMessage;
use crate::imap_account::imap_date;

/// Messages per MULTIAPPEND command, at most.
const BATCH_MESSAGES: usize = 500;
/// Message bytes per MULTIAPPEND command, at most (one message may exceed it alone).
const BATCH_BYTES: usize = 16 * 1024 * 1024;
/// The longest response line accepted.
const MAX_LINE: usize = 1024 * 1024;

/// A logged-in (or about to be) IMAP connection.
pub struct WireSession {
    reader: BufReader<ReadHalf<TlsStream<TcpStream>>>,
    writer: BufWriter<WriteHalf<TlsStream<TcpStream>>>,
    next_tag: u32,
}

/// The tagged completion of a command.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Completion {
    /// Untagged lines received before it.
    pub untagged: Vec<String>,
    /// The tagged line, without the tag.
    pub tagged: String,
}

impl Completion {
    /// Whether the command completed with `OK`.
    pub fn is_ok(&self) -> bool {
        self.tagged.starts_with("OK")
    }
}

impl WireSession {
    /// Connects with implicit TLS to `addr`, trusting `ca_pem` for the name `127.0.0.1`,
    /// and reads the greeting.
    pub async fn connect(addr: SocketAddr, ca_pem: &str) -> anyhow::Result<WireSession> {
        let tcp = TcpStream::connect(addr)
            .await
            .with_context(|| format!("connecting to {addr}"))?;
        tcp.set_nodelay(true)?;
        let ca = native_tls::Certificate::from_pem(ca_pem.as_bytes())?;
        let tls = async_native_tls::TlsConnector::new()
            .add_root_certificate(ca)
            .connect(addr.ip().to_string(), tcp)
            .await
            .with_context(|| format!("TLS handshake with {addr}"))?;
        let (read, write) = tokio::io::split(tls);
        let mut session = WireSession {
            reader: BufReader::new(read),
            writer: BufWriter::new(write),
            next_tag: 1,
        };
        let greeting = session.read_line().await?;
        ensure!(greeting.starts_with("* OK"), "greeting was {greeting:?}");
        Ok(session)
    }

    /// LOGIN; a master user logs in as `user*master`.
    pub async fn login(&mut self, user: &str, password: &str) -> anyhow::Result<()> {
        let done = self
            .command(&format!("LOGIN {} {}", quoted(user), quoted(password)))
            .await?;
        ensure!(done.is_ok(), "LOGIN as {user:?}: {}", done.tagged);
        Ok(())
    }

    /// CREATE `wire_name`; a folder that already exists is fine.
    pub async fn create(&mut self, wire_name: &str) -> anyhow::Result<()> {
        let done = self
            .command(&format!("CREATE {}", quoted(wire_name)))
            .await?;
        ensure!(
            done.is_ok() || done.tagged.contains("[ALREADYEXISTS]"),
            "CREATE {wire_name:?}: {}",
            done.tagged
        );
        Ok(())
    }

    /// APPENDs `messages` to `wire_name` in order, many per MULTIAPPEND command, with LITERAL+.
    pub async fn multiappend(
        &mut self,
        wire_name: &str,
        messages: &[CorpusMessage],
    ) -> anyhow::Result<()> {
        for batch in batches(messages) {
            let tag = self.tag();
            self.writer
                .write_all(format!("{tag} APPEND {}", quoted(wire_name)).as_bytes())
                .await?;
            for message in batch {
                let head = format!(
                    " ({}) \"{}\" {{{}+}}\r\n",
                    message.flags.join(" "),
                    imap_date(&message.internaldate),
                    message.body.len()
                );
                self.writer.write_all(head.as_bytes()).await?;
                self.writer.write_all(&message.body).await?;
            }
            self.writer.write_all(b"\r\n").await?;
            self.writer.flush().await?;
            let done = self.complete(&tag).await?;
            ensure!(
                done.is_ok(),
                "APPEND of {} messages to {wire_name:?}: {}",
                batch.len(),
                done.tagged
            );
        }
        Ok(())
    }

    /// The MESSAGES count of `wire_name` from STATUS; `None` if the server refuses (no such
    /// folder).
    pub async fn message_count(&mut self, wire_name: &str) -> anyhow::Result<Option<u64>> {
        let done = self
            .command(&format!("STATUS {} (MESSAGES)", quoted(wire_name)))
            .await?;
        if !done.is_ok() {
            return Ok(None);
        }
        done.untagged
            .iter()
            .find_map(|line| status_messages(line))
            .map(Some)
            .with_context(|| format!("no MESSAGES in the STATUS of {wire_name:?}"))
    }

    /// LOGOUT, ignoring errors (the session is finished either way).
    pub async fn logout(mut self) {
        let _ = self.command("LOGOUT").await;
    }

    /// Sends one command line and waits for its completion.
    pub async fn command(&mut self, text: &str) -> anyhow::Result<Completion> {
        let tag = self.tag();
        self.writer
            .write_all(format!("{tag} {text}\r\n").as_bytes())
            .await?;
        self.writer.flush().await?;
        self.complete(&tag).await
    }

    fn tag(&mut self) -> String {
        let tag = format!("v{}", self.next_tag);
        self.next_tag += 1;
        tag
    }

    /// Reads lines until the one tagged `tag`.
    async fn complete(&mut self, tag: &str) -> anyhow::Result<Completion> {
        let mut untagged = Vec::new();
        loop {
            let line = self.read_line().await?;
            if let Some(rest) = line.strip_prefix(tag).and_then(|r| r.strip_prefix(' ')) {
                return Ok(Completion {
                    untagged,
                    tagged: rest.to_owned(),
                });
            }
            if line.starts_with("* BYE") {
                bail!("server closed the session: {line}");
            }
            untagged.push(line);
        }
    }

    /// One response line, without its CRLF.
    async fn read_line(&mut self) -> anyhow::Result<String> {
        let mut line = Vec::new();
        let n = (&mut self.reader)
            .take(MAX_LINE as u64)
            .read_until(b'\n', &mut line)
            .await?;
        ensure!(n > 0, "connection closed");
        ensure!(line.ends_with(b"\n"), "response line too long or cut");
        while line.last().is_some_and(|b| *b == b'\n' || *b == b'\r') {
            line.pop();
        }
        Ok(String::from_utf8_lossy(&line).into_owned())
    }
}

/// Splits `messages` into MULTIAPPEND batches of at most [`BATCH_MESSAGES`] messages and about
/// [`BATCH_BYTES`] bytes, never empty.
fn batches(messages: &[CorpusMessage]) -> Vec<&[CorpusMessage]> {
    let mut out = Vec::new();
    let mut start = 0;
    let mut bytes = 0;
    for (index, message) in messages.iter().enumerate() {
        let full = index - start >= BATCH_MESSAGES || bytes + message.body.len() > BATCH_BYTES;
        if index > start && full {
            out.push(&messages[start..index]);
            start = index;
            bytes = 0;
        }
        bytes += message.body.len();
    }
    if start < messages.len() {
        out.push(&messages[start..]);
    }
    out
}

/// The MESSAGES number of an untagged `* STATUS name (MESSAGES n)` line.
fn status_messages(line: &str) -> Option<u64> {
    if !line.starts_with("* STATUS ") {
        return None;
    }
    let items = &line[line.rfind('(')? + 1..];
    let mut words = items.trim_end_matches(')').split_whitespace();
    while let Some(word) = words.next() {
        if word.eq_ignore_ascii_case("MESSAGES") {
            return words.next()?.parse().ok();
        }
    }
    None
}

/// `text` as an IMAP quoted string.
fn quoted(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 2);
    out.push('"');
    for c in text.chars() {
        if c == '"' || c == '\\' {
            out.push('\\');
        }
        out.push(c);
    }
    out.push('"');
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;

    fn message(size: usize) -> CorpusMessage {
        CorpusMessage {
            flags: Vec::new(),
            internaldate: chrono::DateTime::parse_from_rfc3339("2024-01-02T03:04:05+00:00")
                .unwrap(),
            body: Bytes::from(vec![b'x'; size]),
        }
    }

    #[test]
    fn batches_respect_count_and_bytes() {
        let small: Vec<_> = (0..1_200).map(|_| message(10)).collect();
        let sizes: Vec<usize> = batches(&small).iter().map(|b| b.len()).collect();
        assert_eq!(sizes, [500, 500, 200]);

        let big = vec![message(BATCH_BYTES + 1), message(10), message(BATCH_BYTES)];
        let sizes: Vec<usize> = batches(&big).iter().map(|b| b.len()).collect();
        assert_eq!(sizes, [1, 1, 1]);
        assert!(batches(&[]).is_empty());
    }

    #[test]
    fn status_messages_reads_the_count() {
        assert_eq!(
            status_messages("* STATUS \"Archive/2024\" (MESSAGES 231)"),
            Some(231)
        );
        assert_eq!(
            status_messages("* STATUS INBOX (UIDNEXT 4 MESSAGES 3)"),
            Some(3)
        );
        assert_eq!(status_messages("* 3 EXISTS"), None);
    }

    #[test]
    fn quoted_escapes() {
        assert_eq!(quoted("a\"b\\c"), "\"a\\\"b\\\\c\"");
    }
}
