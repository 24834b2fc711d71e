//! SASL PLAIN (RFC 4616) and the base64 it travels in.

const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/// Standard base64 with padding (tests build SASL responses with it).
#[cfg(test)]
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
}
