//! Test-side IMAP helpers, independent of the engine: log in, seed an account, snapshot it.
//!
//! Integration tests seed the source with [`seed`], run the engine, and compare [`snapshot`]s of
//! both sides. This code shares nothing with the engine (it is built on `async-imap`), so a bug in
//! the engine's IMAP code cannot hide itself in the check. TLS is always verified against the
//! test CA.

use std::collections::{BTreeMap, BTreeSet};

use anyhow::{bail, ensure, Context};
use async_imap::imap_proto::{NameAttribute, Response, Status};
use async_imap::types::{Fetch, Flag, Name};
use futures::TryStreamExt;
use sha2::{Digest, Sha256};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

pub use chrono::{DateTime, FixedOffset};

/// The TLS stream the helpers' clients run over.
pub type TlsStream = async_native_tls::TlsStream<TcpStream>;
/// A connected, not yet authenticated client whose greeting has been read.
pub type Client = async_imap::Client<TlsStream>;
/// An authenticated session.
pub type Session = async_imap::Session<TlsStream>;

/// Connects with implicit TLS, verifying the server against `ca_pem`, and reads the greeting.
pub async fn connect_tls((host, port): (&str, u16), ca_pem: &str) -> anyhow::Result<Client> {
    let tcp = TcpStream::connect((host, port))
        .await
        .with_context(|| format!("connecting to {host}:{port}"))?;
    let tls = tls_handshake(host, tcp, ca_pem).await?;
    let mut client = Client::new(tls);
    read_greeting(&mut client).await?;
    Ok(client)
}

/// Connects in cleartext, upgrades with STARTTLS (verifying against `ca_pem`), and returns the
/// client ready for LOGIN or AUTHENTICATE.
pub async fn connect_starttls(host: &str, port: u16, ca_pem: &str) -> anyhow::Result<Client> {
    let mut tcp = TcpStream::connect((host, port))
        .await
        .with_context(|| format!("connecting to {host}:{port}"))?;
    let greeting = read_line_unbuffered(&mut tcp).await?;
    ensure!(greeting.starts_with("* OK"), "greeting was {greeting:?}");
    tcp.write_all(b"S1 STARTTLS\r\n").await?;
    loop {
        let line = read_line_unbuffered(&mut tcp).await?;
        if line.starts_with("S1 ") {
            ensure!(line.starts_with("S1 OK"), "STARTTLS answered {line:?}");
            break;
        }
    }
    let tls = tls_handshake(host, tcp, ca_pem).await?;
    Ok(Client::new(tls))
}

/// Connects with implicit TLS and logs in with LOGIN.
pub async fn login(
    host: &str,
    port: u16,
    ca_pem: &str,
    user: &str,
    password: &str,
) -> anyhow::Result<Session> {
    let client = connect_tls((host, port), ca_pem).await?;
    client
        .login(user, password)
        .await
        .map_err(|(e, _)| anyhow::anyhow!("LOGIN as {user:?}: {e}"))
}

/// Connects with implicit TLS and logs in with AUTHENTICATE PLAIN as `authcid`, acting as
/// `authzid` (empty: as itself): how a master user logs in as another user.
pub async fn authenticate_plain(
    host: &str,
    port: u16,
    ca_pem: &str,
    authzid: &str,
    authcid: &str,
    password: &str,
) -> anyhow::Result<Session> {
    let client = connect_tls((host, port), ca_pem).await?;
    let response = format!("{authzid}\0{authcid}\0{password}");
    client
        .authenticate("PLAIN", PlainResponse(response))
        .await
        .map_err(|(e, _)| anyhow::anyhow!("AUTHENTICATE PLAIN as {authcid:?}: {e}"))
}

/// Answers the single SASL PLAIN challenge.
struct PlainResponse(String);

impl async_imap::Authenticator for PlainResponse {
    type Response = String;

    fn process(&mut self, _challenge: &[u8]) -> String {
        self.0.clone()
    }
}

/// A message to put into an account before a test.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SeedMessage {
    /// Flags and keywords as sent, e.g. `\Seen` or `$Forwarded`.
    pub flags: Vec<String>,
    /// The INTERNALDATE given to APPEND.
    pub internaldate: DateTime<FixedOffset>,
    /// The message, byte for byte (CRLF, 8-bit and malformed content are passed unchanged).
    pub body: Vec<u8>,
}

/// Creates `folder_wire_name` (mUTF-7, as on the wire) if LIST does not show it, then APPENDs
/// each message in order, so UIDs follow the slice order.
pub async fn seed(
    session: &mut Session,
    folder_wire_name: &str,
    messages: &[SeedMessage],
) -> anyhow::Result<()> {
    let existing: Vec<Name> = session
        .list(Some(""), Some(&quoted(folder_wire_name)))
        .await?
        .try_collect()
        .await?;
    if existing.is_empty() {
        session
            .create(folder_wire_name)
            .await
            .with_context(|| format!("CREATE {folder_wire_name:?}"))?;
    }
    for (index, message) in messages.iter().enumerate() {
        let flags = format!("({})", message.flags.join(" "));
        let date = format!("\"{}\"", imap_date(&message.internaldate));
        session
            .append(folder_wire_name, Some(&flags), Some(&date), &message.body)
            .await
            .with_context(|| format!("APPEND #{index} to {folder_wire_name:?}"))?;
    }
    Ok(())
}

/// `dd-Mon-yyyy hh:mm:ss +zzzz`, the APPEND date-time.
pub fn imap_date(date: &DateTime<FixedOffset>) -> String {
    date.format("%d-%b-%Y %H:%M:%S %z").to_string()
}

/// The status of a tagged reply.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReplyStatus {
    /// `OK`.
    Ok,
    /// `NO`: the server refused.
    No,
    /// `BAD`: the server did not understand.
    Bad,
}

/// A tagged reply, for commands whose refusal is the outcome a test expects.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TaggedReply {
    /// OK, NO or BAD.
    pub status: ReplyStatus,
    /// The response code and text, as the server wrote them (for messages).
    pub text: String,
}

/// APPENDs `body` with a LITERAL+ literal and returns the server's verdict instead of an
/// error, e.g. to check that a message over the size limit gets `NO`.
///
/// Unlike `Session::append`, this does not wait for a continuation, so a server that refuses by
/// size before the literal (Dovecot does) is reported as `NO` rather than as a protocol error.
pub async fn append_reply(
    session: &mut Session,
    folder_wire_name: &str,
    body: &[u8],
) -> anyhow::Result<TaggedReply> {
    const TAG: &str = "HX1";
    let mut command = format!(
        "{TAG} APPEND {} {{{}+}}\r\n",
        quoted(folder_wire_name),
        body.len()
    )
    .into_bytes();
    command.extend_from_slice(body);
    command.extend_from_slice(b"\r\n");
    let stream: &mut TlsStream = session.as_mut();
    stream.write_all(&command).await?;
    stream.flush().await?;
    loop {
        let response = session
            .read_response()
            .await?
            .context("connection closed during APPEND")?;
        if let Response::Done {
            tag,
            status,
            outcome,
        } = response.parsed()
        {
            if tag.0 != TAG {
                continue;
            }
            let status = match status {
                Status::Ok => ReplyStatus::Ok,
                Status::No => ReplyStatus::No,
                Status::Bad => ReplyStatus::Bad,
                other => bail!("unexpected tagged status {other:?}"),
            };
            let information = outcome.information.as_deref().unwrap_or("");
            let text = match &outcome.code {
                Some(code) => format!("[{code:?}] {information}"),
                None => information.to_owned(),
            };
            return Ok(TaggedReply { status, text });
        }
    }
}

/// Everything a migration must carry over, as seen by a client.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct AccountSnapshot {
    /// Every folder LIST shows, by wire name (mUTF-7).
    pub folders: BTreeMap<String, FolderSnapshot>,
    /// Wire names LSUB shows.
    pub subscribed: BTreeSet<String>,
}

/// One folder of an [`AccountSnapshot`].
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct FolderSnapshot {
    /// UIDVALIDITY from EXAMINE (0 for a `\Noselect` folder).
    pub uidvalidity: u32,
    /// UIDNEXT from EXAMINE (0 for a `\Noselect` folder).
    pub uidnext: u32,
    /// LIST attributes as written (`\HasNoChildren`, `\Sent`, ...). Note `\Marked`/`\UnMarked`
    /// change with access; compare the attributes that matter, not the whole list.
    pub attributes: Vec<String>,
    /// The hierarchy delimiter LIST gave, if any.
    pub delimiter: Option<String>,
    /// The messages, in UID order (empty for a `\Noselect` folder).
    pub messages: Vec<MessageSnapshot>,
}

/// One message of a [`FolderSnapshot`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MessageSnapshot {
    /// The UID.
    pub uid: u32,
    /// Flags and keywords, without the session-only `\Recent`.
    pub flags: BTreeSet<String>,
    /// INTERNALDATE.
    pub internaldate: DateTime<FixedOffset>,
    /// RFC822.SIZE.
    pub size: u32,
    /// SHA-256 of BODY[], so comparing snapshots compares contents without holding them.
    pub sha256: [u8; 32],
}

/// What a migration must reproduce of one folder: each message's content hash, flags and
/// INTERNALDATE, sorted (UIDs and UIDVALIDITY differ between servers by nature).
pub type FolderMail = Vec<([u8; 32], BTreeSet<String>, DateTime<FixedOffset>)>;

impl AccountSnapshot {
    /// All messages of all folders.
    pub fn message_count(&self) -> usize {
        self.folders.values().map(|f| f.messages.len()).sum()
    }

    /// The mail of every folder, comparable between source and destination: two accounts hold
    /// the same mail when their `mail()` are equal.
    pub fn mail(&self) -> BTreeMap<String, FolderMail> {
        self.folders
            .iter()
            .map(|(name, f)| {
                let mut mail: FolderMail = f
                    .messages
                    .iter()
                    .map(|m| (m.sha256, m.flags.clone(), m.internaldate))
                    .collect();
                mail.sort();
                (name.clone(), mail)
            })
            .collect()
    }
}

/// SHA-256 of `bytes`, as in [`MessageSnapshot::sha256`].
pub fn sha256(bytes: &[u8]) -> [u8; 32] {
    Sha256::digest(bytes).into()
}

/// LISTs every folder, LSUBs the subscriptions, and EXAMINEs and fetches every selectable
/// folder (read-only: flags and `\Recent` state are not changed).
pub async fn snapshot(session: &mut Session) -> anyhow::Result<AccountSnapshot> {
    let names: Vec<Name> = session
        .list(Some(""), Some("*"))
        .await?
        .try_collect()
        .await
        .context("LIST")?;
    let subscribed: Vec<Name> = session
        .lsub(Some(""), Some("*"))
        .await?
        .try_collect()
        .await
        .context("LSUB")?;
    let mut snapshot = AccountSnapshot {
        subscribed: subscribed.iter().map(|n| n.name().to_owned()).collect(),
        ..AccountSnapshot::default()
    };
    for name in &names {
        let selectable = !name.attributes().iter().any(|a| {
            matches!(a, NameAttribute::NoSelect)
                || matches!(a, NameAttribute::Extension(e) if e.eq_ignore_ascii_case("\\NonExistent"))
        });
        let mut folder = FolderSnapshot {
            attributes: name.attributes().iter().map(attribute_text).collect(),
            delimiter: name.delimiter().map(str::to_owned),
            ..FolderSnapshot::default()
        };
        if selectable {
            let mailbox = session
                .examine(name.name())
                .await
                .with_context(|| format!("EXAMINE {:?}", name.name()))?;
            folder.uidvalidity = mailbox.uid_validity.unwrap_or(0);
            folder.uidnext = mailbox.uid_next.unwrap_or(0);
            if mailbox.exists > 0 {
                folder.messages = fetch_messages(session)
                    .await
                    .with_context(|| format!("UID FETCH in {:?}", name.name()))?;
            }
        }
        snapshot.folders.insert(name.name().to_owned(), folder);
    }
    Ok(snapshot)
}

/// UID FETCH 1:* of the examined folder, in UID order.
async fn fetch_messages(session: &mut Session) -> anyhow::Result<Vec<MessageSnapshot>> {
    let fetches: Vec<Fetch> = session
        .uid_fetch("1:*", "(UID FLAGS INTERNALDATE RFC822.SIZE BODY.PEEK[])")
        .await?
        .try_collect()
        .await?;
    let mut messages = Vec::with_capacity(fetches.len());
    for fetch in &fetches {
        // A FETCH without UID is an unsolicited update, not an answer.
        let Some(uid) = fetch.uid else { continue };
        messages.push(MessageSnapshot {
            uid,
            flags: fetch
                .flags()
                .filter(|f| *f != Flag::Recent)
                .map(|f| flag_text(&f))
                .collect(),
            internaldate: fetch
                .internal_date()
                .with_context(|| format!("no INTERNALDATE for UID {uid}"))?,
            size: fetch
                .size
                .with_context(|| format!("no RFC822.SIZE for UID {uid}"))?,
            sha256: sha256(
                fetch
                    .body()
                    .with_context(|| format!("no BODY[] for UID {uid}"))?,
            ),
        });
    }
    messages.sort_by_key(|m| m.uid);
    Ok(messages)
}

/// A flag as written on the wire.
fn flag_text(flag: &Flag<'_>) -> String {
    match flag {
        Flag::Seen => "\\Seen".to_owned(),
        Flag::Answered => "\\Answered".to_owned(),
        Flag::Flagged => "\\Flagged".to_owned(),
        Flag::Deleted => "\\Deleted".to_owned(),
        Flag::Draft => "\\Draft".to_owned(),
        Flag::Recent => "\\Recent".to_owned(),
        Flag::MayCreate => "\\*".to_owned(),
        Flag::Custom(name) => name.to_string(),
    }
}

/// A LIST attribute as written on the wire.
fn attribute_text(attribute: &NameAttribute<'_>) -> String {
    match attribute {
        NameAttribute::NoInferiors => "\\Noinferiors".to_owned(),
        NameAttribute::NoSelect => "\\Noselect".to_owned(),
        NameAttribute::Marked => "\\Marked".to_owned(),
        NameAttribute::Unmarked => "\\Unmarked".to_owned(),
        NameAttribute::All => "\\All".to_owned(),
        NameAttribute::Archive => "\\Archive".to_owned(),
        NameAttribute::Drafts => "\\Drafts".to_owned(),
        NameAttribute::Flagged => "\\Flagged".to_owned(),
        NameAttribute::Junk => "\\Junk".to_owned(),
        NameAttribute::Sent => "\\Sent".to_owned(),
        NameAttribute::Trash => "\\Trash".to_owned(),
        NameAttribute::Extension(name) => name.to_string(),
        // imap-proto may add attributes; keep their debug form rather than fail.
        #[allow(unreachable_patterns)]
        other => format!("{other:?}"),
    }
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

/// Completes the TLS handshake over `tcp`, trusting only `ca_pem` (plus the system roots).
async fn tls_handshake(host: &str, tcp: TcpStream, ca_pem: &str) -> anyhow::Result<TlsStream> {
    let ca = native_tls::Certificate::from_pem(ca_pem.as_bytes()).context("parsing the CA PEM")?;
    async_native_tls::TlsConnector::new()
        .add_root_certificate(ca)
        .connect(host, tcp)
        .await
        .with_context(|| format!("TLS handshake with {host}"))
}

/// Reads the untagged greeting and checks it is `OK`.
async fn read_greeting(client: &mut Client) -> anyhow::Result<()> {
    let greeting = client
        .read_response()
        .await?
        .context("connection closed before the greeting")?;
    match greeting.parsed() {
        Response::Data {
            status: Status::Ok, ..
        } => Ok(()),
        other => bail!("greeting was {other:?}"),
    }
}

/// One CRLF-terminated line, read a byte at a time so nothing after it is consumed (the TLS
/// handshake follows STARTTLS's OK on the same socket).
async fn read_line_unbuffered(tcp: &mut TcpStream) -> anyhow::Result<String> {
    let mut line = Vec::new();
    while !line.ends_with(b"\r\n") {
        ensure!(line.len() < 64 * 1024, "line too long");
        let byte = tcp.read_u8().await.context("reading a line")?;
        line.push(byte);
    }
    Ok(String::from_utf8_lossy(&line).into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn imap_date_is_append_form() {
        let date = DateTime::parse_from_rfc3339("2021-03-04T05:06:07+02:00").unwrap();
        assert_eq!(imap_date(&date), "04-Mar-2021 05:06:07 +0200");
        let west = DateTime::parse_from_rfc3339("1999-12-31T23:59:59-08:30").unwrap();
        assert_eq!(imap_date(&west), "31-Dec-1999 23:59:59 -0830");
    }

    #[test]
    fn quoted_escapes_quote_and_backslash() {
        assert_eq!(quoted("Entw&APw-rfe"), "\"Entw&APw-rfe\"");
        assert_eq!(quoted("a\"b\\c"), "\"a\\\"b\\\\c\"");
    }

    #[test]
    fn flag_text_round_trips_system_flags() {
        assert_eq!(flag_text(&Flag::Seen), "\\Seen");
        assert_eq!(flag_text(&Flag::Custom("$Label1".into())), "$Label1");
    }
}
