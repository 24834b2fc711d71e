//! How a mock server behaves: transport security, hierarchy delimiter, advertised extensions and
//! limits. Plain data; the listener validates it when the server starts.

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
        }
    }
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
