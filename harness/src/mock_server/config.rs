//! How a mock server behaves: transport security, hierarchy delimiter, advertised extensions and
//! limits. Plain data; the listener validates it when the server starts.

use std::net::SocketAddr;
use std::time::Duration;

use super::faults::FaultPlan;
use crate::certs::ServerCert;

/// Configuration of one [`MockServer`](super::MockServer).
#[derive(Clone)]
pub struct MockConfig {
    /// How the connection is secured.
    pub tls: MockTls,
    /// The server certificate for TLS; `None` makes a fresh throwaway CA whose PEM is then
    /// available from [`MockServer::ca_pem`](super::MockServer::ca_pem).
    pub identity: Option<ServerCert>,
    /// The hierarchy delimiter shown in LIST; must match the store's.
    pub delimiter: char,
    /// The extensions the server advertises and honours.
    pub caps: Capabilities,
    /// An APPEND of a bigger message is answered `NO [LIMIT]`, advertised or not (see
    /// [`Capabilities::appendlimit`] for what is advertised).
    pub max_message_size: Option<u64>,
    /// Where to listen; the default is `127.0.0.1:0` (loopback, any free port).
    pub bind: SocketAddr,
    /// Latency, bandwidth, think time and throttling: how far away and how busy the server is.
    pub shaping: Shaping,
    /// Quota and connection caps.
    pub limits: Limits,
    /// Faults injected on purpose, deterministic from a seed.
    pub faults: FaultPlan,
}

impl Default for MockConfig {
    /// Implicit TLS with a throwaway certificate, `/` delimiter, Dovecot-like capabilities.
    fn default() -> Self {
        MockConfig {
            tls: MockTls::Implicit,
            identity: None,
            delimiter: '/',
            caps: Capabilities::default(),
            max_message_size: None,
            bind: SocketAddr::from(([127, 0, 0, 1], 0)),
            shaping: Shaping::default(),
            limits: Limits::default(),
            faults: FaultPlan::default(),
        }
    }
}

/// How far away and how busy the server looks. The default is no shaping at all.
#[derive(Clone, Debug, Default)]
pub struct Shaping {
    /// Added to every response before it leaves: the link's delay. Commands arrive at once, so
    /// this is the whole round trip as the client sees it.
    pub latency: Duration,
    /// A cap on bytes per second, in each direction (a token bucket on the bytes).
    pub bandwidth: Option<Bandwidth>,
    /// Time the server spends on each command of a connection, one command after another.
    pub think_time: Duration,
    /// Commands per second a user may send before being refused.
    pub throttle: Option<Throttle>,
}

impl Shaping {
    /// Whether any shaping applies (the unshaped path writes straight to the socket).
    pub(crate) fn is_active(&self) -> bool {
        !self.latency.is_zero() || self.bandwidth.is_some() || !self.think_time.is_zero()
    }
}

/// A bandwidth cap.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Bandwidth {
    /// Bytes per second, in each direction.
    pub bytes_per_second: u64,
    /// Whether all connections share the cap (one link) or each has its own.
    pub scope: Scope,
}

impl Bandwidth {
    /// A cap of `mbit` megabits per second (10^6 bits) shared by the whole server.
    pub fn mbit_per_server(mbit: f64) -> Self {
        Bandwidth {
            bytes_per_second: (mbit * 1e6 / 8.0).round().max(1.0) as u64,
            scope: Scope::Server,
        }
    }
}

/// What a limit applies to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Scope {
    /// One budget for the whole server (a shared link).
    Server,
    /// One budget for each connection.
    Connection,
}

/// Refuses a user's commands beyond a rate, as busy hosted servers do.
#[derive(Clone, Debug)]
pub struct Throttle {
    /// Commands per second per user (over all of the user's connections) that pass; the rest
    /// of that second are refused. Counted in whole-second windows.
    pub commands_per_second: u32,
    /// The backoff the refusal suggests.
    pub backoff: Duration,
    /// How the refusal reads.
    pub reply: ThrottleReply,
}

/// The wording of a throttling refusal, after real servers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ThrottleReply {
    /// Exchange Online: `NO Request is throttled. Suggested Backoff Time: N milliseconds`.
    ExchangeBackoff,
    /// Gmail: `NO [THROTTLED] ...`.
    Throttled,
    /// RFC 5530: `NO [UNAVAILABLE] ...`.
    Unavailable,
}

impl ThrottleReply {
    /// The text after `NO `.
    pub(crate) fn text(self, backoff: Duration) -> String {
        let ms = backoff.as_millis();
        match self {
            ThrottleReply::ExchangeBackoff => {
                format!("Request is throttled. Suggested Backoff Time: {ms} milliseconds")
            }
            ThrottleReply::Throttled => {
                format!("[THROTTLED] Too many commands; try again in {ms} milliseconds")
            }
            ThrottleReply::Unavailable => {
                format!("[UNAVAILABLE] Server busy; try again in {ms} milliseconds")
            }
        }
    }
}

/// Quota and connection caps. The default is no limit.
#[derive(Clone, Debug, Default)]
pub struct Limits {
    /// Storage per user, in bytes: an APPEND that would go over is answered `NO [OVERQUOTA]`,
    /// and GETQUOTAROOT reports it.
    pub quota_bytes: Option<u64>,
    /// Logged-in connections per user at once; the next LOGIN is refused (Dovecot's
    /// `mail_max_userip_connections`, Gmail's 15).
    pub max_connections_per_user: Option<u32>,
    /// Connections per client IP at once; the next one is greeted with BYE and closed.
    pub max_connections_per_ip: Option<u32>,
}

/// Transport security of a mock server.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MockTls {
    /// TLS from the first byte (`imaps://`, port 993 style).
    Implicit,
    /// Plaintext until STARTTLS; LOGIN and AUTHENTICATE are refused before it.
    StartTls,
    /// No TLS at all: for raw-socket tests and benchmarks that measure the protocol alone.
    Plain,
}

/// Which extensions the server advertises and honours; the default is what a modern Dovecot
/// offers.
#[derive(Clone, Debug)]
pub struct Capabilities {
    /// RFC 7888 LITERAL+: `{n+}` literals of any size without a continuation.
    pub literal_plus: bool,
    /// RFC 7888 LITERAL-: `{n+}` only up to 4096 bytes. Ignored when `literal_plus` is set.
    pub literal_minus: bool,
    /// RFC 3502 MULTIAPPEND: several messages in one APPEND, stored all or nothing.
    pub multiappend: bool,
    /// RFC 4315 UIDPLUS: `APPENDUID` in the APPEND completion.
    pub uidplus: bool,
    /// RFC 6154 SPECIAL-USE: `\Sent` and friends in LIST.
    pub special_use: bool,
    /// RFC 7889 APPENDLIMIT=n advertised in CAPABILITY (enforcement is
    /// [`MockConfig::max_message_size`], so tests can make a server that lies).
    pub appendlimit: Option<u64>,
    /// RFC 2177 IDLE (accepted and ended by DONE; no updates are pushed while idling).
    pub idle: bool,
    /// RFC 4959 SASL-IR: AUTHENTICATE with the initial response on the command line.
    pub sasl_ir: bool,
    /// RFC 5256 SORT (ARRIVAL, DATE, SIZE, REVERSE).
    pub sort: bool,
    /// RFC 4978 COMPRESS=DEFLATE.
    pub compress: bool,
    /// RFC 2087 QUOTA: GETQUOTAROOT and GETQUOTA.
    pub quota: bool,
}

impl Default for Capabilities {
    fn default() -> Self {
        Capabilities {
            literal_plus: true,
            literal_minus: false,
            multiappend: true,
            uidplus: true,
            special_use: true,
            appendlimit: None,
            idle: true,
            sasl_ir: true,
            sort: true,
            compress: true,
            quota: true,
        }
    }
}

impl Capabilities {
    /// Whether `{n+}` is acceptable for a literal of `len` bytes.
    pub(crate) fn non_sync_allowed(&self, len: u64) -> bool {
        self.literal_plus || (self.literal_minus && len <= 4096)
    }

    /// The CAPABILITY list, space separated, for a connection in the given state.
    pub(crate) fn render(&self, tls: MockTls, tls_active: bool, authenticated: bool) -> String {
        let mut caps = vec!["IMAP4rev1".to_string()];
        let login_allowed = tls != MockTls::StartTls || tls_active;
        if !authenticated {
            if tls == MockTls::StartTls && !tls_active {
                caps.push("STARTTLS".into());
                caps.push("LOGINDISABLED".into());
            }
            if login_allowed {
                caps.push("AUTH=PLAIN".into());
                caps.push("AUTH=XOAUTH2".into());
                caps.push("AUTH=OAUTHBEARER".into());
            }
        }
        if self.sasl_ir {
            caps.push("SASL-IR".into());
        }
        if self.literal_plus {
            caps.push("LITERAL+".into());
        } else if self.literal_minus {
            caps.push("LITERAL-".into());
        }
        caps.extend(["ID", "NAMESPACE", "UNSELECT", "CHILDREN"].map(String::from));
        if self.idle {
            caps.push("IDLE".into());
        }
        if self.uidplus {
            caps.push("UIDPLUS".into());
        }
        if self.multiappend {
            caps.push("MULTIAPPEND".into());
        }
        if self.special_use {
            caps.push("SPECIAL-USE".into());
        }
        if self.sort {
            caps.push("SORT".into());
        }
        if self.quota {
            caps.push("QUOTA".into());
        }
        if self.compress && authenticated {
            caps.push("COMPRESS=DEFLATE".into());
        }
        if let Some(limit) = self.appendlimit {
            caps.push(format!("APPENDLIMIT={limit}"));
        }
        caps.join(" ")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn literal_plus_and_minus_are_exclusive() {
        let mut caps = Capabilities {
            literal_minus: true,
            ..Capabilities::default()
        };
        let line = caps.render(MockTls::Plain, false, false);
        assert!(line.contains("LITERAL+") && !line.contains("LITERAL-"));
        caps.literal_plus = false;
        let line = caps.render(MockTls::Plain, false, false);
        assert!(line.contains("LITERAL-") && !line.contains("LITERAL+"));
        assert!(caps.non_sync_allowed(4096) && !caps.non_sync_allowed(4097));
    }

    #[test]
    fn starttls_mode_hides_auth_until_tls() {
        let caps = Capabilities::default();
        let before = caps.render(MockTls::StartTls, false, false);
        assert!(before.contains("STARTTLS") && before.contains("LOGINDISABLED"));
        assert!(!before.contains("AUTH=PLAIN"));
        let after = caps.render(MockTls::StartTls, true, false);
        assert!(!after.contains("STARTTLS") && after.contains("AUTH=PLAIN"));
    }
}
