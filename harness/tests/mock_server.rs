//! The mock IMAP server against a real client (async-imap over TLS) and against hostile raw
//! sockets. Every test runs under a timeout so a hang fails instead of blocking.

use std::future::Future;
use std::time::Duration;

use async_imap::types::{Flag, NameAttribute};
use bytes::Bytes;
use chrono::{DateTime, FixedOffset};
use cutover_harness::certs::TestCa;
use cutover_harness::mock_server::{Capabilities, MockConfig, MockServer, MockStore, MockTls};
use futures::TryStreamExt;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;

const LIMIT: Duration = Duration::from_secs(20);

pub(crate) async fn timed<F: Future>(f: F) -> F::Output {
    tokio::time::timeout(LIMIT, f)
        .await
        .expect("test timed out")
}

fn date(s: &str) -> DateTime<FixedOffset> {
    DateTime::parse_from_rfc3339(s).unwrap()
}

pub(crate) fn message(i: usize) -> Bytes {
    Bytes::from(format!(
        "From: a{i}@example.org\r\nTo: b@example.org\r\nSubject: message {i}\r\n\r\nbody {i}\r\n"
    ))
}

pub(crate) fn store_with_mail() -> MockStore {
    let store = MockStore::new('/');
    store.add_user("alice", "pw");
    store.add_admin("root", "secret");
    store.create_folder("alice", "Sent", Some("\\Sent"), true);
    store.create_folder("alice", "Archive/2024", None, true);
    store.create_folder("alice", "Entwürfe", Some("\\Drafts"), false);
    store.append(
        "alice",
        "INBOX",
        &["\\Seen", "$Label1"],
        date("2024-01-05T10:11:12+01:00"),
        message(1),
    );
    store.append(
        "alice",
        "INBOX",
        &[],
        date("2023-12-31T23:59:59-05:00"),
        message(2),
    );
    store.append(
        "alice",
        "INBOX",
        &["\\Flagged"],
        date("2024-02-01T00:00:00+00:00"),
        message(3),
    );
    store
}

pub(crate) fn plain(config: MockConfig) -> MockConfig {
    MockConfig {
        tls: MockTls::Plain,
        ..config
    }
}

fn flag_text(f: &Flag<'_>) -> String {
    match f {
        Flag::Seen => "\\Seen".into(),
        Flag::Answered => "\\Answered".into(),
        Flag::Flagged => "\\Flagged".into(),
        Flag::Deleted => "\\Deleted".into(),
        Flag::Draft => "\\Draft".into(),
        Flag::Recent => "\\Recent".into(),
        Flag::MayCreate => "\\*".into(),
        Flag::Custom(c) => c.to_string(),
    }
}

async fn tls_client(
    server: &MockServer,
    ca_pem: &str,
) -> async_imap::Client<async_native_tls::TlsStream<TcpStream>> {
    let tcp = TcpStream::connect(server.addr()).await.unwrap();
    let connector = async_native_tls::TlsConnector::new()
        .add_root_certificate(native_tls::Certificate::from_pem(ca_pem.as_bytes()).unwrap());
    let tls = connector.connect("localhost", tcp).await.unwrap();
    let mut client = async_imap::Client::new(tls);
    let greeting = client.read_response().await.unwrap().unwrap();
    assert!(format!("{:?}", greeting.parsed()).contains("ready"));
    client
}

#[tokio::test]
async fn async_imap_over_tls_reads_and_writes_what_is_stored() {
    timed(async {
        let ca = TestCa::new().unwrap();
        let config = MockConfig {
            identity: Some(ca.server_cert(&["localhost", "127.0.0.1"]).unwrap()),
            ..MockConfig::default()
        };
        let server = MockServer::start(config, store_with_mail()).await.unwrap();
        assert!(server.url().starts_with("imaps://127.0.0.1:"));
        let client = tls_client(&server, &ca.ca_pem()).await;
        let mut session = client.login("alice", "pw").await.map_err(|e| e.0).unwrap();

        let names: Vec<_> = session
            .list(Some(""), Some("*"))
            .await
            .unwrap()
            .try_collect()
            .await
            .unwrap();
        let listed: Vec<(String, String)> = names
            .iter()
            .map(|n| (n.name().to_string(), format!("{:?}", n.attributes())))
            .collect();
        let find = |name: &str| {
            listed
                .iter()
                .find(|(n, _)| n == name)
                .unwrap_or_else(|| panic!("{name} in {listed:?}"))
                .1
                .clone()
        };
        assert!(find("INBOX").contains("HasNoChildren"));
        assert!(find("Sent").contains("Sent"));
        assert!(find("Archive").contains("NoSelect") && find("Archive").contains("HasChildren"));
        assert!(find("Archive/2024").contains("HasNoChildren"));
        assert!(find("Entw&APw-rfe").contains("Drafts"));
        assert!(names.iter().all(|n| n.delimiter() == Some("/")));
        let top: Vec<_> = session
            .list(Some(""), Some("%"))
            .await
            .unwrap()
            .try_collect()
            .await
            .unwrap();
        assert!(top.iter().all(|n| !n.name().contains('/')));
        let subscribed: Vec<_> = session
            .lsub(Some(""), Some("*"))
            .await
            .unwrap()
            .try_collect()
            .await
            .unwrap();
        assert!(!subscribed.iter().any(|n| n.name() == "Entw&APw-rfe"));
        assert!(subscribed.iter().any(|n| n.name() == "Sent"));
        assert!(matches!(
            names
                .iter()
                .find(|n| n.name() == "Sent")
                .unwrap()
                .attributes(),
            [_, NameAttribute::Sent]
        ));

        let mailbox = session.examine("INBOX").await.unwrap();
        assert_eq!(mailbox.exists, 3);
        let fetched: Vec<_> = session
            .uid_fetch("1:*", "(UID FLAGS INTERNALDATE RFC822.SIZE BODY.PEEK[])")
            .await
            .unwrap()
            .try_collect()
            .await
            .unwrap();
        let stored = server.store().messages("alice", "INBOX");
        assert_eq!(fetched.len(), stored.len());
        for (f, s) in fetched.iter().zip(&stored) {
            assert_eq!(f.uid, Some(s.uid));
            assert_eq!(
                f.flags().map(|x| flag_text(&x)).collect::<Vec<_>>(),
                s.flags
            );
            assert_eq!(f.internal_date(), Some(s.internaldate));
            assert_eq!(f.size, Some(s.body.len() as u32));
            assert_eq!(f.body(), Some(&s.body[..]));
        }

        // EXAMINE + BODY[] leaves \Seen alone; SELECT + BODY[] sets it.
        let _: Vec<_> = session
            .fetch("2", "BODY[]")
            .await
            .unwrap()
            .try_collect()
            .await
            .unwrap();
        assert!(server.store().messages("alice", "INBOX")[1]
            .flags
            .is_empty());
        session.select("INBOX").await.unwrap();
        let peek: Vec<_> = session
            .fetch("2", "BODY.PEEK[]")
            .await
            .unwrap()
            .try_collect()
            .await
            .unwrap();
        assert_eq!(peek.len(), 1);
        assert!(server.store().messages("alice", "INBOX")[1]
            .flags
            .is_empty());
        let read: Vec<_> = session
            .fetch("2", "BODY[]")
            .await
            .unwrap()
            .try_collect()
            .await
            .unwrap();
        assert_eq!(
            read[0].flags().map(|x| flag_text(&x)).collect::<Vec<_>>(),
            vec!["\\Seen"]
        );
        assert_eq!(
            server.store().messages("alice", "INBOX")[1].flags,
            vec!["\\Seen"]
        );

        session
            .append(
                "Sent",
                Some("(\\Seen $Sent)"),
                Some("\"05-Jan-2024 10:11:12 +0100\""),
                b"Subject: hi\r\n\r\nx\r\n",
            )
            .await
            .unwrap();
        let sent = server.store().messages("alice", "Sent");
        assert_eq!(sent.len(), 1);
        assert_eq!(sent[0].flags, vec!["\\Seen", "$Sent"]);
        assert_eq!(sent[0].internaldate, date("2024-01-05T10:11:12+01:00"));
        assert_eq!(&sent[0].body[..], b"Subject: hi\r\n\r\nx\r\n");
        let uids = session.uid_search("ALL").await.unwrap();
        assert_eq!(uids.len(), 3);
        // Date keys compare each INTERNALDATE's own calendar day; keys are ANDed.
        for (keys, want) in [
            ("SINCE 1-Jan-2024 BEFORE 1-Feb-2024", vec![1]),
            ("SINCE 31-Dec-2023", vec![1, 2, 3]),
            ("BEFORE 1-Jan-2024 UNDELETED", vec![2]),
            ("ON 1-Feb-2024", vec![3]),
            ("CHARSET UTF-8 UID 2:* SINCE 1-Feb-2024", vec![3]),
            ("DELETED", vec![]),
        ] {
            let mut got: Vec<u32> = session
                .uid_search(keys)
                .await
                .unwrap()
                .into_iter()
                .collect();
            got.sort_unstable();
            assert_eq!(got, want, "UID SEARCH {keys}");
        }
        session.logout().await.unwrap();
        let stats = server.stats();
        assert_eq!(stats.connections_total, 1);
        assert_eq!(stats.appended_messages, 1);
        assert_eq!(stats.commands.get("UID FETCH"), Some(&1));
    })
    .await
}

/// A raw IMAP client for hostile tests.
pub(crate) struct Raw<S> {
    pub(crate) stream: S,
    pub(crate) buf: Vec<u8>,
}

impl<S: AsyncRead + AsyncWrite + Unpin> Raw<S> {
    pub(crate) async fn send(&mut self, data: &[u8]) {
        self.stream.write_all(data).await.unwrap();
        self.stream.flush().await.unwrap();
    }

    /// Reads until a line starting with `prefix` is complete; returns everything up to it.
    pub(crate) async fn until(&mut self, prefix: &str) -> String {
        loop {
            let mut start = 0;
            while let Some(nl) = self.buf[start..].windows(2).position(|w| w == b"\r\n") {
                let line = &self.buf[start..start + nl];
                start += nl + 2;
                if line.starts_with(prefix.as_bytes()) {
                    let got: Vec<u8> = self.buf.drain(..start).collect();
                    return String::from_utf8_lossy(&got).into_owned();
                }
            }
            let mut chunk = vec![0u8; 65536];
            let n = self.stream.read(&mut chunk).await.unwrap();
            assert!(
                n > 0,
                "connection closed while waiting for {prefix:?}; got {:?}",
                String::from_utf8_lossy(&self.buf)
            );
            self.buf.extend_from_slice(&chunk[..n]);
        }
    }

    /// Reads until the server closes the connection; returns what came.
    pub(crate) async fn until_closed(&mut self) -> String {
        let mut chunk = vec![0u8; 65536];
        loop {
            match self.stream.read(&mut chunk).await {
                Ok(0) | Err(_) => return String::from_utf8_lossy(&self.buf).to_string(),
                Ok(n) => self.buf.extend_from_slice(&chunk[..n]),
            }
        }
    }
}

pub(crate) async fn raw(server: &MockServer) -> Raw<TcpStream> {
    let stream = TcpStream::connect(server.addr()).await.unwrap();
    let mut r = Raw {
        stream,
        buf: Vec::new(),
    };
    let greeting = r.until("* OK").await;
    assert!(
        greeting.starts_with("* OK [CAPABILITY IMAP4rev1"),
        "{greeting}"
    );
    r
}

pub(crate) async fn raw_logged_in(server: &MockServer) -> Raw<TcpStream> {
    let mut r = raw(server).await;
    r.send(b"l LOGIN alice pw\r\n").await;
    assert!(r.until("l ").await.contains("l OK"));
    r
}

async fn plain_server(caps: Capabilities, max: Option<u64>) -> MockServer {
    let config = plain(MockConfig {
        caps,
        max_message_size: max,
        ..MockConfig::default()
    });
    MockServer::start(config, store_with_mail()).await.unwrap()
}

#[tokio::test]
async fn pipelined_literal_plus_appends_in_one_write() {
    timed(async {
        let server = plain_server(Capabilities::default(), None).await;
        let mut r = raw_logged_in(&server).await;
        let mut batch = Vec::new();
        for i in 0..50 {
            let body = message(i);
            batch.extend(format!("a{i} APPEND Sent (\\Seen) {{{}+}}\r\n", body.len()).bytes());
            batch.extend_from_slice(&body);
            batch.extend(b"\r\n");
        }
        batch.extend(b"z NOOP\r\n");
        r.send(&batch).await;
        let text = r.until("z ").await;
        assert!(!text.contains("+ "), "no continuation for LITERAL+: {text}");
        let oks: Vec<&str> = text.lines().filter(|l| l.starts_with('a')).collect();
        assert_eq!(oks.len(), 50);
        for (i, line) in oks.iter().enumerate() {
            assert!(line.starts_with(&format!("a{i} OK [APPENDUID ")), "{line}");
            assert!(line.contains(&format!(" {}] ", i + 1)), "{line}");
        }
        let sent = server.store().messages("alice", "Sent");
        assert_eq!(sent.len(), 50);
        assert_eq!(sent[7].body, message(7));
    })
    .await
}

#[tokio::test]
async fn multiappend_is_all_or_nothing_with_an_appenduid_range() {
    timed(async {
        let server = plain_server(Capabilities::default(), Some(100)).await;
        let mut r = raw_logged_in(&server).await;
        r.send(b"m1 APPEND INBOX (\\Seen) {3+}\r\none (\\Flagged \\Recent kw) \" 5-Jan-2024 10:11:12 +0100\" {3+}\r\ntwo {5}\r\n")
            .await;
        r.until("+ ").await;
        r.send(b"three\r\n").await;
        let ok = r.until("m1 ").await;
        assert!(ok.contains("m1 OK [APPENDUID ") && ok.contains(" 4:6] "), "{ok}");
        let inbox = server.store().messages("alice", "INBOX");
        assert_eq!(inbox.len(), 6);
        assert_eq!(inbox[4].flags, vec!["\\Flagged", "kw"]);
        assert_eq!(inbox[4].internaldate, date("2024-01-05T10:11:12+01:00"));

        // A too-big second message (non-synchronizing): its bytes are read, nothing is stored.
        let big = "x".repeat(200);
        r.send(format!("m2 APPEND INBOX {{3+}}\r\none {{200+}}\r\n{big} {{1+}}\r\nz\r\nm3 NOOP\r\n").as_bytes())
            .await;
        let text = r.until("m3 ").await;
        assert!(text.contains("m2 NO [LIMIT]"), "{text}");
        assert!(text.contains("m3 OK"), "{text}");
        // A too-big synchronizing literal is refused before the continuation.
        r.send(b"m4 APPEND INBOX {500}\r\n").await;
        let text = r.until("m4 ").await;
        assert!(text.contains("m4 NO [LIMIT]") && !text.contains("+ "), "{text}");
        // An unknown folder: TRYCREATE, nothing stored.
        r.send(b"m5 APPEND Nope {1+}\r\na {1+}\r\nb\r\n").await;
        assert!(r.until("m5 ").await.contains("m5 NO [TRYCREATE]"));
        assert_eq!(server.store().messages("alice", "INBOX").len(), 6);
        assert_eq!(server.stats().appended_messages, 3);
    })
    .await
}

#[tokio::test]
async fn literal_minus_limits_non_synchronizing_literals() {
    timed(async {
        let caps = Capabilities {
            literal_plus: false,
            literal_minus: true,
            ..Capabilities::default()
        };
        let server = plain_server(caps, None).await;
        let mut r = raw_logged_in(&server).await;
        r.send(b"c CAPABILITY\r\n").await;
        let caps = r.until("c ").await;
        assert!(caps.contains("LITERAL-") && !caps.contains("LITERAL+"), "{caps}");
        let ok = "a".repeat(4096);
        let too_big = "b".repeat(4097);
        r.send(format!("a1 APPEND INBOX {{4096+}}\r\n{ok}\r\na2 APPEND INBOX {{4097+}}\r\n{too_big}\r\na3 NOOP\r\n").as_bytes())
            .await;
        let text = r.until("a3 ").await;
        assert!(text.contains("a1 OK [APPENDUID"), "{text}");
        assert!(text.contains("a2 BAD"), "{text}");
        assert!(text.contains("a3 OK"), "{text}");
        assert_eq!(server.store().messages("alice", "INBOX").len(), 4);
    })
    .await
}

#[tokio::test]
async fn commands_split_at_every_byte_boundary() {
    timed(async {
        let server = plain_server(Capabilities::default(), None).await;
        let mut r = raw(&server).await;
        let script: &[u8] = b"t1 LOGIN {5+}\r\nalice \"pw\"\r\nt2 SELECT \"INBOX\"\r\nt3 APPEND INBOX (\\Draft) {4+}\r\nab\r\n\r\nt4 UID FETCH 4 (UID BODY.PEEK[])\r\n";
        for b in script {
            r.send(std::slice::from_ref(b)).await;
        }
        let text = r.until("t4 ").await;
        for tag in ["t1", "t2", "t3", "t4"] {
            assert!(text.contains(&format!("{tag} OK")), "{tag}: {text}");
        }
        assert!(text.contains("* 4 EXISTS"), "{text}");
        assert!(text.contains("* 4 FETCH (UID 4 BODY[] {4}\r\nab\r\n)"), "{text}");
        // A synchronizing literal, byte by byte, waiting for the continuation.
        for b in b"t5 LOGOUT\r" {
            r.send(std::slice::from_ref(b)).await;
        }
        r.send(b"\n").await;
        let bye = r.until("t5 ").await;
        assert!(bye.contains("* BYE") && bye.contains("t5 OK"), "{bye}");
        assert!(r.until_closed().await.is_empty());
    })
    .await
}

#[tokio::test]
async fn starttls_upgrades_and_login_needs_it() {
    timed(async {
        let ca = TestCa::new().unwrap();
        let config = MockConfig {
            tls: MockTls::StartTls,
            identity: Some(ca.server_cert(&["localhost", "127.0.0.1"]).unwrap()),
            ..MockConfig::default()
        };
        let server = MockServer::start(config, store_with_mail()).await.unwrap();
        assert!(server.url().starts_with("imap://"));
        let stream = TcpStream::connect(server.addr()).await.unwrap();
        let mut r = Raw {
            stream,
            buf: Vec::new(),
        };
        let greeting = r.until("* OK").await;
        assert!(
            greeting.contains("STARTTLS") && greeting.contains("LOGINDISABLED"),
            "{greeting}"
        );
        r.send(b"a LOGIN alice pw\r\n").await;
        assert!(r.until("a ").await.contains("a NO [PRIVACYREQUIRED]"));
        r.send(b"a2 AUTHENTICATE PLAIN AGFsaWNlAHB3\r\n").await;
        assert!(r.until("a2 ").await.contains("a2 NO [PRIVACYREQUIRED]"));
        // Anything pipelined after STARTTLS is dropped, not run.
        r.send(b"b STARTTLS\r\nc LOGIN alice pw\r\n").await;
        let text = r.until("b ").await;
        assert!(text.contains("b OK") && !text.contains("c "), "{text}");
        let connector = async_native_tls::TlsConnector::new().add_root_certificate(
            native_tls::Certificate::from_pem(ca.ca_pem().as_bytes()).unwrap(),
        );
        let tls = connector.connect("localhost", r.stream).await.unwrap();
        let mut r = Raw {
            stream: tls,
            buf: Vec::new(),
        };
        r.send(b"d CAPABILITY\r\n").await;
        let caps = r.until("d ").await;
        assert!(
            caps.contains("AUTH=PLAIN") && !caps.contains("STARTTLS"),
            "{caps}"
        );
        r.send(b"e LOGIN alice pw\r\nf STARTTLS\r\n").await;
        let text = r.until("f ").await;
        assert!(text.contains("e OK") && text.contains("f BAD"), "{text}");
    })
    .await
}

#[tokio::test]
async fn garbage_gets_bad_and_never_kills_the_server() {
    timed(async {
        let server = plain_server(Capabilities::default(), None).await;
        let mut r = raw(&server).await;
        let garbage: &[&[u8]] = &[
            b"\x00\xff(((\r\n",
            b"a\r\n",
            b"a FETCH\r\n",
            b"a FOO bar\r\n",
            b"a LOGIN \"unterminated\r\n",
            b"a LOGIN {x}\r\n",
            b"+ x\r\n",
            b"a UID\r\n",
            b"a SELECT INBOX\r\n",
            b"a LOGIN a b c\r\n",
            b"a AUTHENTICATE PLAIN !!!\r\n",
            b"a UID FETCH 1:* (BODY[)\r\n",
        ];
        for g in garbage {
            r.send(g).await;
        }
        r.send(b"z NOOP\r\n").await;
        let text = r.until("z ").await;
        assert_eq!(text.matches("BAD").count(), garbage.len(), "{text}");
        assert!(text.contains("z OK"));
        r.send(b"y LOGIN alice pw\r\ny2 SELECT INBOX\r\ny3 FETCH 9 FLAGS\r\ny4 FETCH 1:* (BODYSTRUCTURE)\r\ny5 FETCH 0 FLAGS\r\n")
            .await;
        let text = r.until("y5 ").await;
        assert!(text.contains("y3 BAD") && text.contains("y4 BAD") && text.contains("y5 BAD"), "{text}");
        // A line without end: BAD, then the server hangs up.
        r.send(&vec![b'x'; 70 * 1024]).await;
        assert!(r.until_closed().await.contains("* BAD [TOOBIG]"));
        // The server still serves.
        let mut again = raw_logged_in(&server).await;
        again.send(b"q NOOP\r\n").await;
        assert!(again.until("q ").await.contains("q OK"));
        assert_eq!(server.stats().commands.get("UNKNOWN"), Some(&1));
    })
    .await
}

#[tokio::test]
async fn admins_log_in_as_users_and_bad_passwords_are_counted() {
    timed(async {
        let server = plain_server(Capabilities::default(), None).await;
        let mut r = raw(&server).await;
        r.send(b"a AUTHENTICATE PLAIN YWxpY2UAcm9vdABzZWNyZXQ=\r\nb STATUS INBOX (MESSAGES UIDNEXT UNSEEN)\r\n").await;
        let text = r.until("b ").await;
        assert!(text.contains("a OK"), "{text}");
        assert!(text.contains("* STATUS \"INBOX\" (MESSAGES 3 UIDNEXT 4 UNSEEN 2)"), "{text}");

        let mut r = raw(&server).await;
        r.send(b"a AUTHENTICATE PLAIN\r\n").await;
        r.until("+ ").await;
        r.send(b"AGFsaWNlAHB3\r\n").await;
        assert!(r.until("a ").await.contains("a OK"));

        let mut r = raw(&server).await;
        r.send(b"a LOGIN \"alice*root\" secret\r\nb SELECT INBOX\r\n").await;
        let text = r.until("b ").await;
        assert!(text.contains("a OK") && text.contains("* 3 EXISTS"), "{text}");

        let mut r = raw(&server).await;
        r.send(b"a LOGIN alice wrong\r\nb AUTHENTICATE PLAIN AGFsaWNlAHdyb25n\r\nc LOGIN \"alice*root\" pw\r\n").await;
        let text = r.until("c ").await;
        assert_eq!(text.matches("NO [AUTHENTICATIONFAILED]").count(), 3, "{text}");
        assert_eq!(server.stats().logins_failed, 3);
        assert_eq!(server.stats().connections_total, 4);
        assert!(server.stats().peak_concurrent_connections >= 1);
    })
    .await
}

#[tokio::test]
async fn folders_namespace_and_create() {
    timed(async {
        let store = MockStore::new('.');
        store.add_user("alice", "pw");
        let config = plain(MockConfig {
            delimiter: '.',
            ..MockConfig::default()
        });
        let server = MockServer::start(config, store).await.unwrap();
        let mut r = raw_logged_in(&server).await;
        r.send(b"a NAMESPACE\r\nb ID (\"name\" \"x\")\r\nc CREATE \"Projekte.&AMQ-rger\"\r\nd CREATE Projekte\r\ne LIST \"\" \"*\"\r\nf LIST \"\" \"\"\r\ng EXAMINE Projekte\r\n")
            .await;
        let text = r.until("g ").await;
        assert!(text.contains("* NAMESPACE ((\"\" \".\")) NIL NIL"), "{text}");
        assert!(text.contains("* ID NIL"), "{text}");
        assert!(text.contains("c OK") && text.contains("d NO [ALREADYEXISTS]"), "{text}");
        assert!(text.contains("* LIST (\\HasChildren) \".\" \"Projekte\""), "{text}");
        assert!(text.contains("* LIST (\\HasNoChildren) \".\" \"Projekte.&AMQ-rger\""), "{text}");
        assert!(text.contains("* LIST (\\Noselect) \".\" \"\""), "{text}");
        assert!(text.contains("g OK [READ-ONLY]"), "{text}");
        let names: Vec<String> = server.store().folders("alice").into_iter().map(|f| f.name).collect();
        assert_eq!(names, vec!["INBOX", "Projekte", "Projekte.Ärger"]);
        drop(server);
        // Dropping the server closes its connections.
        r.until_closed().await;
    })
    .await
}

/// Reads until `needle` appears, searching only new bytes (for large responses).
async fn read_until_bytes(stream: &mut TcpStream, needle: &[u8]) -> Vec<u8> {
    let mut buf = Vec::new();
    let mut chunk = vec![0u8; 256 * 1024];
    loop {
        let n = stream.read(&mut chunk).await.unwrap();
        assert!(n > 0, "closed before {needle:?}");
        let from = buf.len().saturating_sub(needle.len());
        buf.extend_from_slice(&chunk[..n]);
        if buf[from..].windows(needle.len()).any(|w| w == needle) {
            return buf;
        }
    }
}

#[tokio::test]
async fn thousands_of_appends_and_fetches_smoke() {
    timed(async {
        const N: usize = 3000;
        let server = plain_server(Capabilities::default(), None).await;
        let mut r = raw_logged_in(&server).await;
        let body = vec![b'x'; 2000];
        let started = std::time::Instant::now();
        for batch in 0..N / 500 {
            let mut out = Vec::with_capacity(500 * 2100);
            for i in 0..500 {
                out.extend(format!("a{batch}.{i} APPEND Sent {{{}+}}\r\n", body.len()).bytes());
                out.extend_from_slice(&body);
                out.extend(b"\r\n");
            }
            out.extend(format!("n{batch} NOOP\r\n").bytes());
            r.send(&out).await;
            read_until_bytes(&mut r.stream, format!("n{batch} OK").as_bytes()).await;
        }
        let appended = started.elapsed();
        let started = std::time::Instant::now();
        r.send(b"s EXAMINE Sent\r\nf UID FETCH 1:* (UID FLAGS RFC822.SIZE BODY.PEEK[])\r\n")
            .await;
        let text = read_until_bytes(&mut r.stream, b"f OK").await;
        let fetched = started.elapsed();
        assert!(text.len() > N * body.len());
        println!(
            "{N} APPENDs in {appended:?} ({:.0}/s), {N} FETCHes in {fetched:?} ({:.0}/s)",
            N as f64 / appended.as_secs_f64(),
            N as f64 / fetched.as_secs_f64()
        );
        assert_eq!(server.store().messages("alice", "Sent").len(), N);
    })
    .await
}

#[tokio::test]
async fn a_50_mb_message_round_trips() {
    timed(async {
        let server = plain_server(Capabilities::default(), None).await;
        let mut r = raw_logged_in(&server).await;
        let body: Vec<u8> = (0..50 * 1024 * 1024)
            .map(|i| b'a' + (i % 26) as u8)
            .collect();
        r.send(format!("a APPEND INBOX {{{}}}\r\n", body.len()).as_bytes())
            .await;
        r.until("+ ").await;
        r.send(&body).await;
        r.send(b"\r\n").await;
        assert!(r.until("a ").await.contains("a OK [APPENDUID"));
        r.send(b"s EXAMINE INBOX\r\nf UID FETCH 4 BODY.PEEK[]\r\n")
            .await;
        let text = read_until_bytes(&mut r.stream, b"f OK").await;
        let header = format!("BODY[] {{{}}}\r\n", body.len());
        let at = text
            .windows(header.len())
            .position(|w| w == header.as_bytes())
            .unwrap()
            + header.len();
        assert_eq!(&text[at..at + body.len()], &body[..]);
        assert_eq!(
            server.store().messages("alice", "INBOX")[3].body.len(),
            body.len()
        );
    })
    .await
}

/// Python's imaplib as a second, independent client (skipped when python3 is missing).
#[tokio::test]
async fn python_imaplib_works() {
    timed(async {
        if std::process::Command::new("python3").arg("-c").arg("import imaplib").output().is_err() {
            eprintln!("python3 not found; skipping");
            return;
        }
        let server = plain_server(Capabilities::default(), None).await;
        let script = format!(
            r#"
import imaplib, time
m = imaplib.IMAP4("127.0.0.1", {port})
m.login("alice", "pw")
typ, names = m.list()
assert typ == "OK" and any(b'"Sent"' in n for n in names), names
typ, data = m.append("Sent", r"(\Seen)", imaplib.Time2Internaldate(time.time()), b"Subject: py\r\n\r\nhello\r\n")
assert typ == "OK" and b"APPENDUID" in data[0], data
typ, data = m.select("Sent", readonly=True)
assert data == [b"1"], data
typ, data = m.uid("FETCH", "1:*", "(UID FLAGS BODY.PEEK[])")
assert typ == "OK" and data[0][1] == b"Subject: py\r\n\r\nhello\r\n", data
typ, data = m.status("INBOX", "(MESSAGES UNSEEN)")
assert typ == "OK", data
m.logout()
print("ok")
"#,
            port = server.addr().port()
        );
        let out = tokio::process::Command::new("python3").arg("-c").arg(script).output().await.unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        assert_eq!(server.store().messages("alice", "Sent").len(), 1);
    })
    .await
}
