//! SASL PLAIN (RFC 4616), XOAUTH2 and OAUTHBEARER (RFC 7628), and the base64 they travel in.

const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/// Standard base64 with padding (SASL challenges; tests build SASL responses with it).
pub(crate) fn base64_encode(data: &[u8]) -> String {
    let mut out = String::with_capacity(data.len().div_ceil(3) * 4);
    for chunk in data.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(ALPHABET[((n >> (18 - 6 * i)) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// Decodes standard base64 (padding optional); `None` on any invalid character.
pub(crate) fn base64_decode(text: &[u8]) -> Option<Vec<u8>> {
    let text = text.trim_ascii();
    let unpadded = text
        .strip_suffix(b"==")
        .or_else(|| text.strip_suffix(b"="))
        .unwrap_or(text);
    let mut out = Vec::with_capacity(unpadded.len() * 3 / 4);
    let (mut bits, mut nbits) = (0u32, 0);
    for &c in unpadded {
        let v = ALPHABET.iter().position(|&a| a == c)? as u32;
        bits = (bits << 6) | v;
        nbits += 6;
        if nbits >= 8 {
            nbits -= 8;
            out.push((bits >> nbits) as u8);
            bits &= (1 << nbits) - 1;
        }
    }
    (nbits < 6).then_some(out)
}

/// Credentials from a PLAIN message.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct PlainCredentials {
    /// Authorization identity: the user to act as (empty = same as authcid).
    pub(crate) authzid: String,
    /// Authentication identity: who proves the password.
    pub(crate) authcid: String,
    /// Password.
    pub(crate) password: String,
}

/// Parses `authzid NUL authcid NUL password` from its base64 form.
pub(crate) fn parse_plain(b64: &[u8]) -> Option<PlainCredentials> {
    let raw = base64_decode(b64)?;
    let mut parts = raw.split(|&b| b == 0);
    let authzid = String::from_utf8(parts.next()?.to_vec()).ok()?;
    let authcid = String::from_utf8(parts.next()?.to_vec()).ok()?;
    let password = String::from_utf8(parts.next()?.to_vec()).ok()?;
    if parts.next().is_some() || authcid.is_empty() {
        return None;
    }
    Some(PlainCredentials {
        authzid,
        authcid,
        password,
    })
}

/// The SASL mechanisms the mock accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Mechanism {
    /// RFC 4616.
    Plain,
    /// Google's and Microsoft's bearer-token mechanism.
    XOAuth2,
    /// RFC 7628.
    OAuthBearer,
}

impl Mechanism {
    /// The mechanism named in `AUTHENTICATE name`, if supported.
    pub(crate) fn from_name(name: &str) -> Option<Mechanism> {
        match name {
            "PLAIN" => Some(Mechanism::Plain),
            "XOAUTH2" => Some(Mechanism::XOAuth2),
            "OAUTHBEARER" => Some(Mechanism::OAuthBearer),
            _ => None,
        }
    }

    /// The error report a server sends as a challenge when a bearer token is refused (RFC 7628
    /// 3.2.2; Gmail sends the same shape for XOAUTH2). The client must answer it (`^A` for
    /// OAUTHBEARER, an empty line for XOAUTH2) before the tagged NO.
    pub(crate) fn bearer_error(self) -> &'static str {
        match self {
            Mechanism::XOAuth2 => {
                r#"{"status":"401","schemes":"Bearer","scope":"https://mail.google.com/"}"#
            }
            _ => {
                r#"{"status":"invalid_token","scope":"mail","openid-configuration":"https://mock.invalid/.well-known/openid-configuration"}"#
            }
        }
    }
}

/// The user and token of an XOAUTH2 (`user=U ^A auth=Bearer T ^A ^A`) or OAUTHBEARER
/// (`n,a=U, ^A auth=Bearer T ^A ^A`, RFC 7628 3.1) message in base64; `None` when malformed.
pub(crate) fn parse_bearer(mechanism: Mechanism, b64: &[u8]) -> Option<(String, String)> {
    let raw = String::from_utf8(base64_decode(b64)?).ok()?;
    let mut parts = raw.split('\x01');
    let user = match mechanism {
        Mechanism::XOAuth2 => parts.next()?.strip_prefix("user=")?.to_string(),
        Mechanism::OAuthBearer => {
            let header = parts.next()?;
            let rest = header
                .strip_prefix("n,")
                .or_else(|| header.strip_prefix("y,"))?;
            let authzid = rest.strip_suffix(',')?.strip_prefix("a=")?;
            authzid.replace("=2C", ",").replace("=3D", "=")
        }
        Mechanism::Plain => return None,
    };
    let mut token = None;
    for kv in parts.by_ref() {
        if kv.is_empty() {
            break;
        }
        if let Some(t) = kv.strip_prefix("auth=Bearer ") {
            token = Some(t.to_string());
        }
    }
    if !raw.ends_with("\x01\x01") || user.is_empty() {
        return None;
    }
    Some((user, token?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_round_trips() {
        for s in [&b""[..], b"a", b"ab", b"abc", b"\0user\0pass word"] {
            assert_eq!(base64_decode(base64_encode(s).as_bytes()).unwrap(), s);
        }
        assert_eq!(base64_encode(b"\0u\0p"), "AHUAcA==");
        assert!(base64_decode(b"!!!").is_none());
    }

    #[test]
    fn plain_with_and_without_authzid() {
        let c = parse_plain(base64_encode(b"alice\0root\0pw").as_bytes()).unwrap();
        assert_eq!(
            (c.authzid.as_str(), c.authcid.as_str(), c.password.as_str()),
            ("alice", "root", "pw")
        );
        assert!(parse_plain(base64_encode(b"\0\0pw").as_bytes()).is_none());
        assert!(parse_plain(base64_encode(b"nonul").as_bytes()).is_none());
    }

    #[test]
    fn bearer_messages_of_both_mechanisms() {
        let x = base64_encode(b"user=joe@a.com\x01auth=Bearer tok-1\x01\x01");
        assert_eq!(
            parse_bearer(Mechanism::XOAuth2, x.as_bytes()),
            Some(("joe@a.com".into(), "tok-1".into()))
        );
        let o = base64_encode(b"n,a=j=2Coe,\x01host=h\x01auth=Bearer tok-2\x01\x01");
        assert_eq!(
            parse_bearer(Mechanism::OAuthBearer, o.as_bytes()),
            Some(("j,oe".into(), "tok-2".into()))
        );
        let unterminated = base64_encode(b"user=joe\x01auth=Bearer t\x01");
        assert_eq!(
            parse_bearer(Mechanism::XOAuth2, unterminated.as_bytes()),
            None
        );
        let no_token = base64_encode(b"user=joe\x01\x01");
        assert_eq!(parse_bearer(Mechanism::XOAuth2, no_token.as_bytes()), None);
    }
}
