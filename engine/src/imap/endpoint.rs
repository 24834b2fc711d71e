//! Where a server is and how to secure the connection to it.
//!
//! `imaps://host[:993]` is implicit TLS, `imap://host[:143]` upgrades with STARTTLS (and fails if
//! the server does not offer it), `imap+plain://host[:143]` is cleartext and exists only for tests
//! and trusted links. A bare `host` or `host:port` means implicit TLS, as on every modern server.

use std::fmt;
use std::str::FromStr;

/// How the connection is secured.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Security {
    /// TLS from the first byte (`imaps://`, port 993).
    Tls,
    /// Cleartext greeting, then `STARTTLS` (`imap://`, port 143). Refuses servers without it.
    StartTls,
    /// No TLS at all (`imap+plain://`). Credentials cross the wire in the clear.
    Plain,
}

/// A server address with its security mode.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoint {
    /// Host name or IP address (also used for certificate verification).
    pub host: String,
    /// TCP port.
    pub port: u16,
    /// TLS mode.
    pub security: Security,
}

/// Why an endpoint string could not be parsed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid server address {input:?}: {problem}")]
pub struct EndpointError {
    /// The text as given.
    pub input: String,
    /// What is wrong with it.
    pub problem: &'static str,
}

impl FromStr for Endpoint {
    type Err = EndpointError;

    fn from_str(input: &str) -> Result<Self, Self::Err> {
        let err = |problem| EndpointError {
            input: input.to_string(),
            problem,
        };
        let trimmed = input.trim();
        let (security, rest) = if let Some(rest) = strip_prefix_ci(trimmed, "imaps://") {
            (Security::Tls, rest)
        } else if let Some(rest) = strip_prefix_ci(trimmed, "imap+plain://") {
            (Security::Plain, rest)
        } else if let Some(rest) = strip_prefix_ci(trimmed, "imap://") {
            (Security::StartTls, rest)
        } else if trimmed.contains("://") {
            return Err(err(
                "unknown scheme (use imaps://, imap:// or imap+plain://)",
            ));
        } else {
            (Security::Tls, trimmed)
        };
        let rest = rest.trim_end_matches('/');
        if rest.is_empty() {
            return Err(err("no host"));
        }
        if rest.contains('/') || rest.contains('@') || rest.contains(char::is_whitespace) {
            return Err(err("expected host or host:port only"));
        }
        let default_port = match security {
            Security::Tls => 993,
            Security::StartTls | Security::Plain => 143,
        };
        let (host, port) = split_host_port(rest).ok_or_else(|| err("bad port"))?;
        if host.is_empty() {
            return Err(err("no host"));
        }
        Ok(Endpoint {
            host: host.to_string(),
            port: port.unwrap_or(default_port),
            security,
        })
    }
}

fn strip_prefix_ci<'a>(s: &'a str, prefix: &str) -> Option<&'a str> {
    (s.len() >= prefix.len() && s[..prefix.len()].eq_ignore_ascii_case(prefix))
        .then(|| &s[prefix.len()..])
}

/// Splits `host`, `host:port`, `[v6]` or `[v6]:port`.
fn split_host_port(s: &str) -> Option<(&str, Option<u16>)> {
    if let Some(rest) = s.strip_prefix('[') {
        let end = rest.find(']')?;
        let host = &rest[..end];
        let after = &rest[end + 1..];
        if after.is_empty() {
            return Some((host, None));
        }
        let port = after.strip_prefix(':')?.parse().ok()?;
        return Some((host, Some(port)));
    }
    match s.rsplit_once(':') {
        Some((host, port)) if !host.contains(':') => Some((host, Some(port.parse().ok()?))),
        Some(_) => Some((s, None)), // bare IPv6 without brackets
        None => Some((s, None)),
    }
}

impl fmt::Display for Endpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let scheme = match self.security {
            Security::Tls => "imaps",
            Security::StartTls => "imap",
            Security::Plain => "imap+plain",
        };
        if self.host.contains(':') {
            write!(f, "{scheme}://[{}]:{}", self.host, self.port)
        } else {
            write!(f, "{scheme}://{}:{}", self.host, self.port)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_forms_users_write() {
        let e: Endpoint = "imaps://mail.example.com".parse().unwrap();
        assert_eq!(
            (e.host.as_str(), e.port, e.security),
            ("mail.example.com", 993, Security::Tls)
        );
        let e: Endpoint = "imap://127.0.0.1:1143".parse().unwrap();
        assert_eq!((e.port, e.security), (1143, Security::StartTls));
        let e: Endpoint = "mail.example.com:10993".parse().unwrap();
        assert_eq!((e.port, e.security), (10993, Security::Tls));
        let e: Endpoint = "imap+plain://[::1]:143".parse().unwrap();
        assert_eq!((e.host.as_str(), e.security), ("::1", Security::Plain));
        assert_eq!(e.to_string(), "imap+plain://[::1]:143");
    }

    #[test]
    fn rejects_what_is_not_an_address() {
        for bad in [
            "",
            "http://x",
            "imaps://",
            "host:99999",
            "imaps://u@host",
            "a b",
        ] {
            assert!(bad.parse::<Endpoint>().is_err(), "{bad:?} accepted");
        }
    }
}
