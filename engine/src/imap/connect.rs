//! Opening a logged-in session: TCP, implicit TLS or STARTTLS, login, capabilities, COMPRESS.
//!
//! Every network step races the I/O timeout. A rejected login is reported as
//! [`Error::AuthRejected`] and never retried here: accounts lock out after a few failures, so
//! every login goes through the run's [`LoginGuard`].

use super::auth::Auth;
use super::capabilities::Capabilities;
use super::endpoint::{Endpoint, Security};
use super::login_guard::LoginGuard;
use super::tls::TlsConfig;
use super::transport::{Io, Transport};
use crate::copier::{Account, CompressMode};
use crate::error::{Error, Result};
use std::future::Future;
use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpSocket, TcpStream};

/// An async-imap session over our transport.
pub type Session = async_imap::Session<Transport>;

/// A logged-in connection and what we learned while opening it.
#[derive(Debug)]
pub struct Connection {
    /// The session.
    pub session: Session,
    /// Capabilities after login.
    pub caps: Capabilities,
    /// `scheme://host:port`, for messages.
    pub server: String,
    /// Whether COMPRESS=DEFLATE is on.
    pub compressed: bool,
    /// Round trip of the CAPABILITY command after login.
    pub rtt: Duration,
    /// The connection's permit of its mailbox's budget grant, given back when it is dropped.
    _permit: Option<crate::budget::ConnectionPermit>,
}

/// How to open connections.
#[derive(Clone)]
pub struct ConnectOptions {
    /// The TLS client, built once per run.
    pub tls: TlsClient,
    /// COMPRESS policy.
    pub compress: CompressMode,
    /// With `CompressMode::Auto`, the round trip from which compression pays.
    pub compress_min_rtt: Duration,
    /// Limit on each network step.
    pub timeout: Duration,
    /// Counts login attempts and refuses them past the failed-login limit.
    pub logins: LoginGuard,
    /// The egress address every connection leaves from (bound before connect), so all of a
    /// user's connections come from one public IP (guide 3.3.4.11); `None` lets the system pick.
    pub local_address: Option<IpAddr>,
    /// The mailbox's budget lease for this side ([`crate::budget::Lease::connect_budget`]): a
    /// permit is taken before connecting, under the open-rate limits, and held by the
    /// [`Connection`] until it is dropped. `None` opens without a budget.
    pub budget: Option<crate::budget::ConnectBudget>,
}

/// Runs `fut` under the timeout, naming `context` if it expires.
pub(crate) async fn timed<T>(
    timeout: Duration,
    context: impl FnOnce() -> String,
    fut: impl Future<Output = Result<T>>,
) -> Result<T> {
    match tokio::time::timeout(timeout, fut).await {
        Ok(r) => r,
        Err(_) => Err(Error::Timeout { context: context() }),
    }
}

/// Longest text of a server-caused error kept in our errors: async-imap puts the whole unparsed
/// buffer into its parse errors, which can be megabytes of someone's mail.
const MAX_ERROR_TEXT: usize = 300;

/// `text` cut to [`MAX_ERROR_TEXT`] characters, marked when cut.
pub(crate) fn bounded_text(text: &str) -> String {
    match text.char_indices().nth(MAX_ERROR_TEXT) {
        Some((end, _)) => format!("{}... ({} bytes in all)", &text[..end], text.len()),
        None => text.to_string(),
    }
}

/// An I/O error from reading a response, with its text bounded (see [`bounded_text`]).
pub(crate) fn read_error(server: &str, what: &str, source: std::io::Error) -> Error {
    let text = source.to_string();
    let source = if text.len() > MAX_ERROR_TEXT {
        std::io::Error::new(source.kind(), bounded_text(&text))
    } else {
        source
    };
    Error::Io {
        context: format!("{server}: {what}"),
        source,
    }
}

/// Maps an async-imap error from `command` to ours.
pub(crate) fn imap_err(server: &str, command: &str, e: async_imap::error::Error) -> Error {
    use async_imap::error::Error as E;
    match e {
        E::Io(source) => read_error(server, command, source),
        E::ConnectionLost => Error::Io {
            context: format!("{server}: {command}"),
            source: std::io::Error::new(std::io::ErrorKind::ConnectionAborted, "connection lost"),
        },
        E::No(message) | E::Bad(message) => Error::Command {
            server: server.to_string(),
            command: command.to_string(),
            message: bounded_text(&message),
        },
        other => Error::Protocol {
            server: server.to_string(),
            message: bounded_text(&format!("{command}: {other}")),
        },
    }
}

/// A TLS client built from a [`TlsConfig`]. Build it once per run and clone it: OpenSSL loads
/// the system trust store on every build, which costs more CPU than the handshake itself.
#[derive(Clone)]
pub struct TlsClient(tokio_native_tls::TlsConnector);

impl std::fmt::Debug for TlsClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("TlsClient")
    }
}

impl TlsClient {
    /// Builds the client: system roots plus the configured CA, verification as configured.
    pub fn new(tls: &TlsConfig) -> Result<Self> {
        tls_connector(tls).map(TlsClient)
    }
}

fn tls_connector(tls: &TlsConfig) -> Result<tokio_native_tls::TlsConnector> {
    let err = |message: String| Error::Tls {
        context: "TLS settings".into(),
        message,
    };
    let mut b = native_tls::TlsConnector::builder();
    if let Some(pem) = &tls.ca_pem {
        let text = String::from_utf8_lossy(pem);
        let mut found = 0;
        for block in text.split_inclusive("-----END CERTIFICATE-----") {
            if !block.contains("-----BEGIN CERTIFICATE-----") {
                continue;
            }
            let cert = native_tls::Certificate::from_pem(block.trim_start().as_bytes())
                .map_err(|e| err(format!("CA certificate unreadable: {e}")))?;
            b.add_root_certificate(cert);
            found += 1;
        }
        if found == 0 {
            return Err(err("the CA file holds no PEM certificate".into()));
        }
    }
    if tls.danger_accept_invalid_certs {
        b.danger_accept_invalid_certs(true)
            .danger_accept_invalid_hostnames(true);
    }
    let connector = b.build().map_err(|e| err(e.to_string()))?;
    Ok(tokio_native_tls::TlsConnector::from(connector))
}

async fn tls_wrap(
    tcp: TcpStream,
    endpoint: &Endpoint,
    connector: &TlsClient,
    server: &str,
) -> Result<Box<dyn Io>> {
    let stream = connector
        .0
        .connect(endpoint.host.as_str(), tcp)
        .await
        .map_err(|e| Error::Tls {
            context: server.to_string(),
            message: e.to_string(),
        })?;
    Ok(Box::new(stream))
}

/// Longest cleartext line accepted before TLS: a greeting or STARTTLS answer is short, and an
/// unauthenticated peer must not make us buffer without end.
const MAX_CLEARTEXT_LINE: u64 = 8 * 1024;

/// Reads one line of at most [`MAX_CLEARTEXT_LINE`] bytes into `line`; 0 at end of stream.
async fn read_short_line(
    reader: &mut BufReader<TcpStream>,
    line: &mut String,
    server: &str,
) -> Result<usize> {
    let n = (&mut *reader)
        .take(MAX_CLEARTEXT_LINE)
        .read_line(line)
        .await
        .map_err(|source| Error::Io {
            context: format!("{server}: STARTTLS"),
            source,
        })?;
    if n as u64 == MAX_CLEARTEXT_LINE && !line.ends_with('\n') {
        return Err(Error::Protocol {
            server: server.into(),
            message: format!("a cleartext line longer than {MAX_CLEARTEXT_LINE} bytes before TLS"),
        });
    }
    Ok(n)
}

/// Reads the cleartext greeting, asks for STARTTLS and returns the socket ready for the handshake.
async fn starttls(tcp: TcpStream, server: &str) -> Result<TcpStream> {
    let io = |source| Error::Io {
        context: format!("{server}: STARTTLS"),
        source,
    };
    let mut reader = BufReader::new(tcp);
    let mut line = String::new();
    read_short_line(&mut reader, &mut line, server).await?;
    let greeting = line.trim_end().to_string();
    if !greeting.to_ascii_uppercase().starts_with("* OK") {
        return Err(Error::Protocol {
            server: server.into(),
            message: format!("greeting {greeting:?}"),
        });
    }
    reader
        .get_mut()
        .write_all(b"S0 STARTTLS\r\n")
        .await
        .map_err(io)?;
    loop {
        line.clear();
        if read_short_line(&mut reader, &mut line, server).await? == 0 {
            return Err(io(std::io::Error::new(
                std::io::ErrorKind::UnexpectedEof,
                "closed",
            )));
        }
        if let Some(rest) = line.strip_prefix("S0 ") {
            if rest.to_ascii_uppercase().starts_with("OK") {
                break;
            }
            return Err(Error::Unsupported {
                server: server.into(),
                message: format!(
                    "STARTTLS refused ({}); use imaps:// or, on a trusted link only, imap+plain://",
                    rest.trim_end()
                ),
            });
        }
    }
    if !reader.buffer().is_empty() {
        return Err(Error::Protocol {
            server: server.into(),
            message: "data after STARTTLS OK (possible injection)".into(),
        });
    }
    Ok(reader.into_inner())
}

struct SaslPlain(Vec<u8>);

impl async_imap::Authenticator for SaslPlain {
    type Response = Vec<u8>;
    fn process(&mut self, _challenge: &[u8]) -> Vec<u8> {
        std::mem::take(&mut self.0)
    }
}

impl Drop for SaslPlain {
    fn drop(&mut self) {
        zeroize::Zeroize::zeroize(&mut self.0);
    }
}

/// What a NO or BAD to a login means: a refusal for now (too many connections of the user,
/// Dovecot's `[LIMIT] Maximum number of connections from user+IP exceeded`; `[UNAVAILABLE]`,
/// `[INUSE]`, `[THROTTLED]`) is retried later and is not a failed login; anything else rejects
/// the credentials.
fn login_refusal(server: &str, identity: &str, message: String) -> Error {
    let m = message.to_ascii_uppercase();
    let for_now = ["[LIMIT]", "[UNAVAILABLE]", "[INUSE]", "[THROTTLED]"];
    if for_now.iter().any(|code| m.contains(code)) {
        return Error::Command {
            server: server.to_string(),
            command: "LOGIN".into(),
            message: bounded_text(&message),
        };
    }
    Error::AuthRejected {
        server: server.to_string(),
        identity: identity.to_string(),
        message,
    }
}

async fn login(
    client: async_imap::Client<Transport>,
    auth: &Auth,
    server: &str,
) -> Result<Session> {
    let rejected = |e: async_imap::error::Error| match e {
        async_imap::error::Error::No(message) | async_imap::error::Error::Bad(message) => {
            login_refusal(server, auth.login_identity(), message)
        }
        other => imap_err(server, "login", other),
    };
    match auth {
        Auth::Login { user, password } => client
            .login(user, password.expose())
            .await
            .map_err(|(e, _)| rejected(e)),
        Auth::PlainAs {
            authzid,
            authcid,
            password,
        } => {
            let msg = Auth::sasl_plain(authzid, authcid, password);
            client
                .authenticate("PLAIN", SaslPlain(msg))
                .await
                .map_err(|(e, _)| rejected(e))
        }
    }
}

/// A TCP connection to `endpoint`, from `local` when given: the socket is bound to that address
/// (any port) before connecting, trying each of the server's addresses of the same family.
async fn open_tcp(endpoint: &Endpoint, local: Option<IpAddr>) -> std::io::Result<TcpStream> {
    let Some(local) = local else {
        return TcpStream::connect((endpoint.host.as_str(), endpoint.port)).await;
    };
    let mut last = None;
    for addr in tokio::net::lookup_host((endpoint.host.as_str(), endpoint.port)).await? {
        if addr.is_ipv4() != local.is_ipv4() {
            continue;
        }
        let socket = if local.is_ipv4() {
            TcpSocket::new_v4()?
        } else {
            TcpSocket::new_v6()?
        };
        socket.bind(SocketAddr::new(local, 0))?;
        match socket.connect(addr).await {
            Ok(tcp) => return Ok(tcp),
            Err(e) => last = Some(e),
        }
    }
    Err(last.unwrap_or_else(|| {
        std::io::Error::new(
            std::io::ErrorKind::AddrNotAvailable,
            format!("no address of {} reachable from {local}", endpoint.host),
        )
    }))
}

/// Opens a logged-in session to `account`.
pub async fn connect(account: &Account, opts: &ConnectOptions) -> Result<Connection> {
    let endpoint = &account.endpoint;
    let server = endpoint.to_string();
    let t = opts.timeout;
    let permit = match &opts.budget {
        Some(budget) => Some(
            timed(
                t,
                || format!("{server}: waiting for a connection of the budget"),
                async { Ok(budget.acquire(&server).await) },
            )
            .await?,
        ),
        None => None,
    };
    let tcp = timed(t, || format!("{server}: connect"), async {
        open_tcp(endpoint, opts.local_address)
            .await
            .map_err(|source| Error::Io {
                context: match opts.local_address {
                    Some(local) => format!("{server}: connect from {local}"),
                    None => format!("{server}: connect"),
                },
                source,
            })
    })
    .await?;
    tcp.set_nodelay(true).ok();
    let loopback = tcp
        .peer_addr()
        .map(|a| a.ip().is_loopback())
        .unwrap_or(false);

    let (stream, greeted): (Box<dyn Io>, bool) = match endpoint.security {
        Security::Tls => (
            timed(
                t,
                || format!("{server}: TLS"),
                tls_wrap(tcp, endpoint, &opts.tls, &server),
            )
            .await?,
            false,
        ),
        Security::StartTls => {
            let tcp = timed(t, || format!("{server}: STARTTLS"), starttls(tcp, &server)).await?;
            (
                timed(
                    t,
                    || format!("{server}: TLS"),
                    tls_wrap(tcp, endpoint, &opts.tls, &server),
                )
                .await?,
                true,
            )
        }
        Security::Plain => (Box::new(tcp), false),
    };
    let mut client = async_imap::Client::new(Transport::new(stream));
    if !greeted {
        let greeting = timed(t, || format!("{server}: greeting"), async {
            client.read_response().await.map_err(|source| Error::Io {
                context: format!("{server}: greeting"),
                source,
            })
        })
        .await?;
        match greeting.as_ref().map(|g| g.parsed()) {
            Some(imap_proto::Response::Data {
                status: imap_proto::Status::Ok,
                ..
            }) => {}
            other => {
                return Err(Error::Protocol {
                    server,
                    message: format!("unexpected greeting {other:?}"),
                })
            }
        }
    }
    let auth = account.auth.clone();
    let identity = auth.login_identity().to_string();
    let at = server.clone();
    let mut session = opts
        .logins
        .login(&identity, &server, async move {
            timed(t, || format!("{at}: login"), login(client, &auth, &at)).await
        })
        .await?;

    let started = Instant::now();
    let caps = timed(t, || format!("{server}: CAPABILITY"), async {
        session
            .capabilities()
            .await
            .map_err(|e| imap_err(&server, "CAPABILITY", e))
    })
    .await?;
    let rtt = started.elapsed();
    let caps = Capabilities::from(&caps);

    let want_compress = should_compress(
        opts.compress,
        caps.compress_deflate,
        loopback,
        rtt,
        opts.compress_min_rtt,
    );
    if want_compress {
        timed(t, || format!("{server}: COMPRESS"), async {
            session
                .run_command_and_check_ok("COMPRESS DEFLATE")
                .await
                .map_err(|e| imap_err(&server, "COMPRESS DEFLATE", e))
        })
        .await?;
        session.get_mut().start_deflate();
    }
    Ok(Connection {
        session,
        caps,
        server,
        compressed: want_compress,
        rtt,
        _permit: permit,
    })
}

/// Whether to turn COMPRESS=DEFLATE on. `Auto` compresses only where the link is slower than
/// the compressor: never on loopback (measured: mbsync with COMPRESS on loopback is 3.7x slower),
/// and elsewhere only when the round trip says the server is not on the local network.
pub fn should_compress(
    mode: CompressMode,
    offered: bool,
    loopback: bool,
    rtt: Duration,
    min_rtt: Duration,
) -> bool {
    offered
        && match mode {
            CompressMode::On => true,
            CompressMode::Off => false,
            CompressMode::Auto => !loopback && rtt >= min_rtt,
        }
}

impl Connection {
    /// Logs out politely, ignoring errors: the work is already acknowledged.
    ///
    /// Then waits (at most a second) for the server to close its end: the server counts the
    /// connection until then, so a budget permit given back earlier could let a new connection
    /// in while the server still sees the old one.
    pub async fn logout(mut self, timeout: Duration) {
        if let Ok(Ok(())) = tokio::time::timeout(timeout, self.session.logout()).await {
            let transport = self.session.get_mut();
            let mut sink = [0u8; 512];
            let _ = tokio::time::timeout(Duration::from_secs(1), async {
                while let Ok(n) = transport.read(&mut sink).await {
                    if n == 0 {
                        break;
                    }
                }
            })
            .await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_login_refused_for_too_many_connections_is_retried_not_a_bad_password() {
        use crate::error::Disposition;
        let dovecot = "[LIMIT] Maximum number of connections from user+IP exceeded (mail_max_userip_connections=3)";
        let e = login_refusal("imaps://d:993", "ann*admin", dovecot.into());
        assert_eq!(e.disposition(), Disposition::Retry, "{e:?}");
        assert!(!matches!(e, Error::AuthRejected { .. }));
        let e = login_refusal("imaps://d:993", "ann", "[UNAVAILABLE] busy".into());
        assert_eq!(e.disposition(), Disposition::Retry);
        let e = login_refusal("imaps://d:993", "ann", "[AUTHENTICATIONFAILED] no".into());
        assert!(matches!(e, Error::AuthRejected { .. }));
        assert_eq!(e.disposition(), Disposition::StopMailbox);
    }

    #[test]
    fn auto_compresses_only_slow_remote_links() {
        let ms = Duration::from_millis;
        let auto = |offered, loopback, rtt| {
            should_compress(CompressMode::Auto, offered, loopback, ms(rtt), ms(5))
        };
        assert!(auto(true, false, 40), "WAN link");
        assert!(!auto(true, false, 1), "LAN link");
        assert!(!auto(true, true, 40), "loopback, however slow the server");
        assert!(!auto(false, false, 40), "not offered");
        assert!(should_compress(CompressMode::On, true, true, ms(0), ms(5)));
        assert!(!should_compress(
            CompressMode::On,
            false,
            false,
            ms(50),
            ms(5)
        ));
        assert!(!should_compress(
            CompressMode::Off,
            true,
            false,
            ms(50),
            ms(5)
        ));
    }

    /// A cleartext peer that answers `answer` to everything, after `greeting`.
    async fn cleartext_peer(greeting: Vec<u8>, answer: Vec<u8>) -> TcpStream {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            let (mut s, _) = listener.accept().await.unwrap();
            let _ = s.write_all(&greeting).await;
            let mut buf = [0u8; 64];
            let _ = tokio::io::AsyncReadExt::read(&mut s, &mut buf).await;
            let _ = s.write_all(&answer).await;
            tokio::time::sleep(Duration::from_secs(5)).await;
        });
        TcpStream::connect(addr).await.unwrap()
    }

    #[tokio::test]
    async fn a_connection_leaves_from_the_bound_local_address() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let endpoint: Endpoint = format!("imap+plain://127.0.0.1:{port}").parse().unwrap();
        for local in ["127.0.0.3", "127.0.0.5"] {
            let local: IpAddr = local.parse().unwrap();
            let _tcp = open_tcp(&endpoint, Some(local)).await.unwrap();
            let (_, peer) = listener.accept().await.unwrap();
            assert_eq!(peer.ip(), local);
        }
        let v6: IpAddr = "::1".parse().unwrap();
        let e = open_tcp(&endpoint, Some(v6)).await.unwrap_err();
        assert!(e.to_string().contains("reachable from ::1"), "{e}");
    }

    #[test]
    fn server_text_in_errors_is_bounded() {
        let short = "NO [SERVERBUG] Internal error";
        assert_eq!(bounded_text(short), short);
        let mail = "é".repeat(100_000);
        let cut = bounded_text(&mail);
        assert!(cut.chars().count() < 400, "{}", cut.len());
        assert!(cut.ends_with("(200000 bytes in all)"), "{cut}");
        let e = read_error("s", "FETCH", std::io::Error::other(mail));
        assert!(e.to_string().len() < 1000);
    }

    #[tokio::test]
    async fn starttls_refuses_endless_lines_and_injected_data() {
        let endless = vec![b'x'; 100_000];
        let tcp = cleartext_peer(endless, Vec::new()).await;
        let e = starttls(tcp, "peer").await.unwrap_err().to_string();
        assert!(e.contains("longer than 8192 bytes"), "{e}");

        let tcp = cleartext_peer(
            b"* OK hi\r\n".to_vec(),
            b"S0 OK go\r\nA1 OK injected\r\n".to_vec(),
        )
        .await;
        let e = starttls(tcp, "peer").await.unwrap_err().to_string();
        assert!(e.contains("injection"), "{e}");

        let tcp = cleartext_peer(b"* OK hi\r\n".to_vec(), b"S0 NO not here\r\n".to_vec()).await;
        let e = starttls(tcp, "peer").await.unwrap_err().to_string();
        assert!(e.contains("STARTTLS refused (NO not here)"), "{e}");

        let tcp = cleartext_peer(
            b"* OK hi\r\n".to_vec(),
            b"* CAPABILITY IMAP4rev1\r\nS0 OK go\r\n".to_vec(),
        )
        .await;
        assert!(starttls(tcp, "peer").await.is_ok());
    }
}
