//! The per-connection protocol state machine: commands in, responses out, no I/O.
//!
//! The connection loop feeds it framed commands (and raw lines while an AUTHENTICATE or IDLE is
//! in progress) and writes what it produced. States follow RFC 3501 3: not authenticated,
//! authenticated, selected. Mailbox commands live in `mailbox_commands.rs`, message commands
//! in `message_commands.rs`.

use std::fmt::Write;
use std::net::IpAddr;
use std::sync::Arc;

use bytes::Bytes;

use super::audit::{AuditState, UserTicket};
use super::command_parser::{Cursor, PResult, ParseError};
use super::config::{MockConfig, MockTls};
use super::framing::{trim_eol, Event, Refusal};
use super::mutf7;
use super::response::OutBuf;
use super::sasl;
use super::shaping::{CommandWindows, LinkPacers};
use super::stats::StatsCollector;
use super::store::{Account, MockStore};

/// What every connection of one server shares.
pub(crate) struct Shared {
    /// The configuration.
    pub(crate) config: MockConfig,
    /// The data.
    pub(crate) store: MockStore,
    /// Counters.
    pub(crate) stats: Arc<StatsCollector>,
    /// Who is connected from where: peaks and caps.
    pub(crate) audit: Arc<AuditState>,
    /// Commands per user per second, for throttling.
    pub(crate) windows: CommandWindows,
    /// The link every connection shares, when the bandwidth cap is per server.
    pub(crate) link: Option<LinkPacers>,
    /// When the server started: throttling counts whole seconds from here.
    pub(crate) started: tokio::time::Instant,
}

impl Shared {
    /// Shared state for a server of `config` serving `store`.
    pub(crate) fn new(config: MockConfig, store: MockStore) -> Self {
        let link = config
            .shaping
            .bandwidth
            .map(|b| LinkPacers::new(b.bytes_per_second));
        Shared {
            config,
            store,
            stats: Arc::new(StatsCollector::default()),
            audit: Arc::new(AuditState::default()),
            windows: CommandWindows::default(),
            link,
            started: tokio::time::Instant::now(),
        }
    }
}

/// What the connection loop does next.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Action {
    /// Keep going.
    Continue,
    /// Flush and close.
    Close,
    /// Flush, drop buffered input, start TLS.
    StartTls,
    /// Flush, then DEFLATE both directions (RFC 4978).
    Compress,
}

/// The tagged completion of a command.
pub(crate) enum Reply {
    /// `OK text`.
    Ok(String),
    /// `NO text`.
    No(String),
    /// `BAD text`.
    Bad(String),
    /// No tagged answer: the connection closes once what was written has gone out (a server
    /// failing in the middle of a response).
    Cut,
}

/// A logged-in user.
pub(crate) struct Login {
    /// The data of the user the session acts as.
    pub(crate) account: Arc<Account>,
    /// The user's name, as counted by the audit and throttling.
    pub(crate) user: String,
    /// Counts this connection as the user's until the session ends.
    _audit: UserTicket,
}

/// The selected folder.
pub(crate) struct Selection {
    /// Normalised Unicode name.
    pub(crate) name: String,
    /// EXAMINE rather than SELECT.
    pub(crate) read_only: bool,
    /// Messages the client knows of (sequence numbers 1..=exists).
    pub(crate) exists: u32,
}

/// Session state (RFC 3501 3).
pub(crate) enum State {
    /// Before LOGIN/AUTHENTICATE.
    NotAuthenticated,
    /// Logged in, maybe with a folder selected.
    Authenticated(Login, Option<Selection>),
}

/// A command waiting for a raw line from the client.
enum Pending {
    None,
    Authenticate(Bytes, sasl::Mechanism),
    /// A bearer token was refused and its error report sent: the client's answer comes next.
    BearerRefused(Bytes, sasl::Mechanism),
    Idle(Bytes),
}

/// One connection's protocol state.
pub(crate) struct Session {
    pub(crate) shared: Arc<Shared>,
    pub(crate) state: State,
    pub(crate) tls_active: bool,
    pending: Pending,
    client_ip: IpAddr,
    compressed: bool,
}

impl Session {
    /// A new session for a client at `client_ip`; `tls_active` for implicit TLS.
    pub(crate) fn new(shared: Arc<Shared>, tls_active: bool, client_ip: IpAddr) -> Self {
        Session {
            shared,
            state: State::NotAuthenticated,
            tls_active,
            pending: Pending::None,
            client_ip,
            compressed: false,
        }
    }

    /// Marks TLS as started (after STARTTLS).
    pub(crate) fn tls_started(&mut self) {
        self.tls_active = true;
    }

    /// The greeting.
    pub(crate) fn greeting(&self, out: &mut OutBuf) {
        let _ = write!(
            out,
            "* OK [CAPABILITY {}] cutover mock ready\r\n",
            self.capabilities()
        );
    }

    fn capabilities(&self) -> String {
        let c = &self.shared.config;
        let authenticated = matches!(self.state, State::Authenticated(..));
        c.caps.render(c.tls, self.tls_active, authenticated)
    }

    /// Decides whether the framer accepts a literal.
    pub(crate) fn literal_check(
        &self,
        command: &[u8],
        len: u64,
        non_sync: bool,
    ) -> Option<Refusal> {
        let config = &self.shared.config;
        if non_sync && !config.caps.non_sync_allowed(len) {
            let text = if config.caps.literal_minus {
                "[TOOBIG] Non-synchronizing literal over 4096 bytes (LITERAL-)"
            } else {
                "Non-synchronizing literals are not supported"
            };
            return Some(("BAD", text.to_string()));
        }
        if command == b"APPEND" {
            if let Some(max) = config.max_message_size.filter(|&max| len > max) {
                return Some((
                    "NO",
                    format!("[LIMIT] Message size {len} exceeds the limit of {max}"),
                ));
            }
        }
        None
    }

    /// Whether the next input is a raw line rather than a command.
    pub(crate) fn wants_line(&self) -> bool {
        !matches!(self.pending, Pending::None)
    }

    /// Handles a framer event.
    pub(crate) fn handle(&mut self, event: Event, out: &mut OutBuf) -> Action {
        match event {
            Event::Fatal(text) => {
                out.status(b"*", "BAD", text);
                Action::Close
            }
            Event::Rejected {
                tag,
                command,
                status,
                text,
            } => {
                let known = matches!(command.as_str(), "APPEND" | "LOGIN" | "AUTHENTICATE");
                self.shared
                    .stats
                    .command(if known { &command } else { "UNKNOWN" });
                out.status(&tag, status, &text);
                Action::Continue
            }
            Event::Command(frame) => self.command(frame, out),
        }
    }

    /// Handles a raw line for a pending AUTHENTICATE or IDLE.
    pub(crate) fn handle_line(&mut self, line: Bytes, out: &mut OutBuf) -> Action {
        match std::mem::replace(&mut self.pending, Pending::None) {
            Pending::None => {}
            Pending::Authenticate(tag, mechanism) => {
                let reply = if &line[..] == b"*" {
                    Some(Reply::Bad("Authentication canceled".into()))
                } else {
                    self.sasl(&tag, mechanism, &line, out)
                };
                if let Some(reply) = reply {
                    self.reply(&tag, reply, out);
                }
            }
            Pending::BearerRefused(tag, mechanism) => {
                // RFC 7628 3.2.3: the client answers the error report with a single ^A
                // (OAUTHBEARER; XOAUTH2 clients send an empty response), and the exchange
                // fails. Any other answer is a client bug, told apart by BAD.
                let expected: &[u8] = match mechanism {
                    sasl::Mechanism::OAuthBearer => b"AQ==",
                    _ => b"",
                };
                let reply = if &line[..] == b"*" {
                    Reply::Bad("Authentication canceled".into())
                } else if &line[..] != expected {
                    Reply::Bad("Expected the dummy response to the error report".into())
                } else {
                    Reply::No("[AUTHENTICATIONFAILED] Authentication failed.".into())
                };
                self.reply(&tag, reply, out);
            }
            Pending::Idle(tag) => {
                let reply = if line.eq_ignore_ascii_case(b"DONE") {
                    Reply::Ok("Idle completed.".into())
                } else {
                    Reply::Bad("Expected DONE".into())
                };
                self.reply(&tag, reply, out);
            }
        }
        Action::Continue
    }

    fn reply(&self, tag: &[u8], reply: Reply, out: &mut OutBuf) {
        match reply {
            Reply::Ok(t) => out.status(tag, "OK", &t),
            Reply::No(t) => out.status(tag, "NO", &t),
            Reply::Bad(t) => out.status(tag, "BAD", &t),
            Reply::Cut => {}
        }
    }

    fn command(&mut self, frame: Bytes, out: &mut OutBuf) -> Action {
        if trim_eol(&frame).is_empty() {
            return Action::Continue;
        }
        let mut c = Cursor::new(frame);
        let Ok(tag) = c.tag() else {
            out.status(b"*", "BAD", "Invalid tag");
            return Action::Continue;
        };
        let name = match c.sp().and_then(|_| c.keyword()) {
            Ok(n) if n == "UID" => match c.sp().and_then(|_| c.keyword()) {
                Ok(sub) => format!("UID {sub}"),
                Err(e) => {
                    self.shared.stats.command("UID");
                    self.reply(&tag, Reply::Bad(e.0.into()), out);
                    return Action::Continue;
                }
            },
            Ok(n) => n,
            Err(_) => {
                self.reply(&tag, Reply::Bad("Missing command".into()), out);
                return Action::Continue;
            }
        };
        self.refresh_exists(out);
        let (reply, action) = match self.dispatch(&name, &tag, &mut c, out) {
            Ok(Some(r)) => r,
            Ok(None) => return Action::Continue,
            Err(ParseError(text)) => (Reply::Bad(text.into()), Action::Continue),
        };
        if matches!(reply, Reply::Cut) {
            return Action::Close;
        }
        self.reply(&tag, reply, out);
        action
    }

    /// Runs one command; `Ok(None)` when it answers later (AUTHENTICATE, IDLE).
    fn dispatch(
        &mut self,
        name: &str,
        tag: &Bytes,
        c: &mut Cursor,
        out: &mut OutBuf,
    ) -> PResult<Option<(Reply, Action)>> {
        const KNOWN: &[&str] = &[
            "CAPABILITY",
            "NOOP",
            "LOGOUT",
            "STARTTLS",
            "LOGIN",
            "AUTHENTICATE",
            "ID",
            "NAMESPACE",
            "LIST",
            "LSUB",
            "SUBSCRIBE",
            "UNSUBSCRIBE",
            "CREATE",
            "SELECT",
            "EXAMINE",
            "STATUS",
            "CLOSE",
            "UNSELECT",
            "CHECK",
            "SEARCH",
            "UID SEARCH",
            "FETCH",
            "UID FETCH",
            "APPEND",
            "IDLE",
            "UID SORT",
            "COMPRESS",
            "GETQUOTAROOT",
            "GETQUOTA",
        ];
        let caps = &self.shared.config.caps;
        let known = KNOWN.contains(&name)
            && match name {
                "IDLE" => caps.idle,
                "UID SORT" => caps.sort,
                "COMPRESS" => caps.compress,
                "GETQUOTAROOT" | "GETQUOTA" => caps.quota,
                _ => true,
            };
        self.shared
            .stats
            .command(if known { name } else { "UNKNOWN" });
        if !known {
            return Ok(Some((
                Reply::Bad(format!("Unknown command {name}")),
                Action::Continue,
            )));
        }
        let authenticated = matches!(self.state, State::Authenticated(..));
        let selected = matches!(self.state, State::Authenticated(_, Some(_)));
        let needs_auth = !matches!(
            name,
            "CAPABILITY" | "NOOP" | "LOGOUT" | "STARTTLS" | "LOGIN" | "AUTHENTICATE" | "ID"
        );
        let needs_selected = matches!(
            name,
            "CLOSE"
                | "UNSELECT"
                | "CHECK"
                | "SEARCH"
                | "UID SEARCH"
                | "FETCH"
                | "UID FETCH"
                | "UID SORT"
        );
        if (needs_auth && !authenticated) || (needs_selected && !selected) {
            return Ok(Some((
                Reply::Bad(format!("{name} not allowed now")),
                Action::Continue,
            )));
        }
        if !needs_auth && authenticated && matches!(name, "LOGIN" | "AUTHENTICATE" | "STARTTLS") {
            return Ok(Some((
                Reply::Bad("Already authenticated".into()),
                Action::Continue,
            )));
        }
        // An APPEND is known by its text after the tag: a retry of a refused one is timed.
        let append_key = (name == "APPEND").then(|| {
            use std::hash::{Hash, Hasher};
            let mut h = std::collections::hash_map::DefaultHasher::new();
            c.peek_rest().hash(&mut h);
            h.finish()
        });
        if let Some(key) = append_key {
            self.shared.stats.append_arrived(key);
        }
        if let Some(refusal) = self.throttled(name) {
            if let Some(key) = append_key {
                self.shared.stats.append_throttled(key);
            }
            return Ok(Some((Reply::No(refusal), Action::Continue)));
        }
        let reply = match name {
            "CAPABILITY" => {
                c.end()?;
                let _ = write!(out, "* CAPABILITY {}\r\n", self.capabilities());
                Reply::Ok("Capability completed.".into())
            }
            "NOOP" | "CHECK" => {
                c.end()?;
                Reply::Ok(format!("{name} completed."))
            }
            "LOGOUT" => {
                c.end()?;
                out.put(b"* BYE Logging out\r\n");
                return Ok(Some((Reply::Ok("Logout completed.".into()), Action::Close)));
            }
            "STARTTLS" => {
                c.end()?;
                if self.shared.config.tls != MockTls::StartTls || self.tls_active {
                    Reply::Bad("STARTTLS not available".into())
                } else {
                    return Ok(Some((
                        Reply::Ok("Begin TLS negotiation now.".into()),
                        Action::StartTls,
                    )));
                }
            }
            "LOGIN" => self.login(c)?,
            "AUTHENTICATE" => match self.authenticate(tag, c, out)? {
                Some(r) => r,
                None => return Ok(None),
            },
            "ID" => {
                c.sp()?;
                c.skip_nil_or_string_list()?;
                c.end()?;
                out.put(b"* ID NIL\r\n");
                Reply::Ok("ID completed.".into())
            }
            "NAMESPACE" => {
                c.end()?;
                out.put(b"* NAMESPACE ((\"\" ");
                out.string(self.delimiter().to_string().as_bytes());
                out.put(b")) NIL NIL\r\n");
                Reply::Ok("Namespace completed.".into())
            }
            "IDLE" => {
                c.end()?;
                out.put(b"+ idling\r\n");
                self.pending = Pending::Idle(tag.clone());
                return Ok(None);
            }
            "LIST" | "LSUB" => self.list(name == "LSUB", c, out)?,
            "SUBSCRIBE" | "UNSUBSCRIBE" => self.subscribe(name == "SUBSCRIBE", c)?,
            "CREATE" => self.create(c)?,
            "SELECT" | "EXAMINE" => self.select(name == "EXAMINE", c, out)?,
            "STATUS" => self.status(c, out)?,
            "CLOSE" | "UNSELECT" => {
                c.end()?;
                if let State::Authenticated(_, sel) = &mut self.state {
                    *sel = None;
                }
                Reply::Ok(format!("{name} completed."))
            }
            "SEARCH" | "UID SEARCH" => self.search(name == "UID SEARCH", c, out)?,
            "FETCH" | "UID FETCH" => self.fetch(name == "UID FETCH", c, out)?,
            "APPEND" => self.append(c, out)?,
            "UID SORT" => self.sort(c, out)?,
            "GETQUOTAROOT" => self.getquotaroot(c, out)?,
            "GETQUOTA" => self.getquota(c, out)?,
            "COMPRESS" => {
                c.sp()?;
                let mechanism = c.keyword()?;
                c.end()?;
                if self.compressed {
                    Reply::No("[COMPRESSIONACTIVE] DEFLATE is already on".into())
                } else if mechanism != "DEFLATE" {
                    Reply::No(format!("Unsupported compression mechanism {mechanism}"))
                } else {
                    self.compressed = true;
                    return Ok(Some((Reply::Ok("DEFLATE active".into()), Action::Compress)));
                }
            }
            _ => Reply::Bad("Unknown command".into()),
        };
        Ok(Some((reply, Action::Continue)))
    }

    /// The refusal text when the user is over the throttling rate; LOGOUT always passes.
    fn throttled(&self, name: &str) -> Option<String> {
        let throttle = self.shared.config.shaping.throttle.as_ref()?;
        let State::Authenticated(login, _) = &self.state else {
            return None;
        };
        if name == "LOGOUT" {
            return None;
        }
        let second = self.shared.started.elapsed().as_secs();
        let admitted = self
            .shared
            .windows
            .admit(&login.user, second, throttle.commands_per_second);
        if admitted {
            return None;
        }
        self.shared.stats.throttled();
        Some(throttle.reply.text(throttle.backoff))
    }

    /// The store's hierarchy delimiter.
    pub(crate) fn delimiter(&self) -> char {
        self.shared.store.delimiter()
    }

    /// A wire mailbox name as Unicode (modified UTF-7; raw UTF-8 is accepted too).
    pub(crate) fn mailbox_name(raw: &[u8]) -> String {
        match std::str::from_utf8(raw) {
            Ok(s) => mutf7::decode(s).unwrap_or_else(|| s.to_string()),
            Err(_) => String::from_utf8_lossy(raw).into_owned(),
        }
    }

    fn privacy_required(&self) -> bool {
        self.shared.config.tls == MockTls::StartTls && !self.tls_active
    }

    fn login(&mut self, c: &mut Cursor) -> PResult<Reply> {
        c.sp()?;
        let user = c.astring()?;
        c.sp()?;
        let password = c.astring()?;
        c.end()?;
        if self.privacy_required() {
            return Ok(Reply::No("[PRIVACYREQUIRED] Use STARTTLS first.".into()));
        }
        let user = String::from_utf8_lossy(&user);
        let password = String::from_utf8_lossy(&password);
        Ok(self.log_in(None, &user, &password))
    }

    fn authenticate(
        &mut self,
        tag: &Bytes,
        c: &mut Cursor,
        out: &mut OutBuf,
    ) -> PResult<Option<Reply>> {
        c.sp()?;
        let mechanism = c.keyword()?;
        let initial = if c.eat(b' ') { Some(c.rest()) } else { None };
        c.end()?;
        let Some(mechanism) = sasl::Mechanism::from_name(&mechanism) else {
            return Ok(Some(Reply::No(
                "Unsupported authentication mechanism.".into(),
            )));
        };
        if self.privacy_required() {
            return Ok(Some(Reply::No(
                "[PRIVACYREQUIRED] Use STARTTLS first.".into(),
            )));
        }
        match initial {
            Some(_) if !self.shared.config.caps.sasl_ir => {
                Ok(Some(Reply::Bad("SASL-IR not supported".into())))
            }
            Some(ir) if &ir[..] == b"=" => Ok(self.sasl(tag, mechanism, b"", out)),
            Some(ir) => Ok(self.sasl(tag, mechanism, &ir, out)),
            None => {
                out.put(b"+ \r\n");
                self.pending = Pending::Authenticate(tag.clone(), mechanism);
                Ok(None)
            }
        }
    }

    /// The client's (base64) SASL message: the final reply, or `None` when a challenge was sent
    /// and the exchange goes on.
    fn sasl(
        &mut self,
        tag: &Bytes,
        mechanism: sasl::Mechanism,
        b64: &[u8],
        out: &mut OutBuf,
    ) -> Option<Reply> {
        if mechanism == sasl::Mechanism::Plain {
            return Some(self.plain(b64));
        }
        let Some((user, token)) = sasl::parse_bearer(mechanism, b64) else {
            self.shared.stats.login_failed();
            return Some(Reply::Bad(format!("Invalid {mechanism:?} response")));
        };
        if self.shared.store.token_ok(&user, &token) {
            return Some(self.log_in_as(user));
        }
        self.shared.stats.login_failed();
        let report = sasl::base64_encode(mechanism.bearer_error().as_bytes());
        out.put(format!("+ {report}\r\n").as_bytes());
        self.pending = Pending::BearerRefused(tag.clone(), mechanism);
        None
    }

    fn plain(&mut self, b64: &[u8]) -> Reply {
        match sasl::parse_plain(b64) {
            Some(creds) => self.log_in(Some(&creds.authzid), &creds.authcid, &creds.password),
            None => {
                self.shared.stats.login_failed();
                Reply::Bad("Invalid SASL PLAIN response".into())
            }
        }
    }

    fn log_in(&mut self, authzid: Option<&str>, authcid: &str, password: &str) -> Reply {
        let Some(user) = self.shared.store.authenticate(authzid, authcid, password) else {
            self.shared.stats.login_failed();
            return Reply::No("[AUTHENTICATIONFAILED] Authentication failed.".into());
        };
        self.log_in_as(user)
    }

    /// Opens `user`'s mailbox once its credentials were accepted.
    fn log_in_as(&mut self, user: String) -> Reply {
        let Some(account) = self.shared.store.account(&user) else {
            self.shared.stats.login_failed();
            return Reply::No("[AUTHENTICATIONFAILED] Authentication failed.".into());
        };
        let cap = self.shared.config.limits.max_connections_per_user;
        let ticket = match self.shared.audit.login(self.client_ip, &user, cap) {
            Ok(t) => t,
            Err(over) => {
                return Reply::No(format!(
                    "[UNAVAILABLE] Maximum number of connections for this user exceeded ({})",
                    over.0
                ))
            }
        };
        self.state = State::Authenticated(
            Login {
                account,
                user,
                _audit: ticket,
            },
            None,
        );
        Reply::Ok(format!("[CAPABILITY {}] Logged in", self.capabilities()))
    }

    /// Tells the client about messages appended since it last looked (`* n EXISTS`).
    pub(crate) fn refresh_exists(&mut self, out: &mut OutBuf) {
        if let State::Authenticated(login, Some(sel)) = &mut self.state {
            let now = login
                .account
                .mailboxes()
                .selectable(&sel.name)
                .map(|f| f.messages.len() as u32)
                .unwrap_or(sel.exists);
            if now != sel.exists {
                sel.exists = now;
                let _ = write!(out, "* {now} EXISTS\r\n");
            }
        }
    }
}
