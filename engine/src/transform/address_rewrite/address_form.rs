//! Recognising the address forms a header can carry: Exchange legacyExchangeDN (X.500), the same
//! with an `EX:` prefix, IMCEA encapsulation, and plain SMTP addr-specs.
//!
//! Pure functions over bytes; nothing here allocates unless an IMCEA address has to be decoded.

use std::borrow::Cow;

/// What one address token is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AddressForm<'a> {
    /// An X.500 distinguished name, `/O=.../CN=JOE`, with any `EX:` prefix removed.
    LegacyDn(&'a str),
    /// `IMCEA<TYPE>-<encoded>@<domain>`, decoded. For `EX` and `X500` the address is a DN.
    Imcea {
        /// The address type, e.g. `EX`, `X500`, `INVALID`, as written.
        kind: &'a str,
        /// The encapsulated address with `_` and `+XX` escapes decoded.
        address: Cow<'a, str>,
    },
    /// `local@domain`, an ordinary SMTP address.
    Smtp {
        /// The part before the last `@`.
        local: &'a str,
        /// The part after the last `@`.
        domain: &'a str,
    },
}

impl AddressForm<'_> {
    /// The X.500 DN this address names, if it names one (legacy DN, IMCEAEX, IMCEAX500).
    pub fn dn(&self) -> Option<&str> {
        match self {
            AddressForm::LegacyDn(dn) => Some(dn),
            AddressForm::Imcea { address, .. } if address.starts_with('/') => Some(address),
            _ => None,
        }
    }
}

/// Classifies one address token (the inside of `<...>` or a bare addr-spec), already trimmed.
/// Returns `None` for anything that is not one of the forms above, including non-UTF-8 bytes.
pub fn classify(token: &[u8]) -> Option<AddressForm<'_>> {
    let token = std::str::from_utf8(token).ok()?;
    let without_ex = strip_prefix_ignore_case(token, "EX:")
        .unwrap_or(token)
        .trim_start();
    if starts_with_ignore_case(without_ex, "/O=") {
        return Some(AddressForm::LegacyDn(without_ex));
    }
    if let Some(rest) = strip_prefix_ignore_case(token, "IMCEA") {
        let (kind, encoded_at_domain) = rest.split_once('-')?;
        let (encoded, _domain) = encoded_at_domain.rsplit_once('@')?;
        if kind.is_empty() || !kind.bytes().all(|b| b.is_ascii_alphanumeric()) {
            return None;
        }
        return Some(AddressForm::Imcea {
            kind,
            address: decode_imcea(encoded)?,
        });
    }
    let (local, domain) = token.rsplit_once('@')?;
    let plausible = !local.is_empty()
        && !domain.is_empty()
        && !token
            .bytes()
            .any(|b| b.is_ascii_whitespace() || b == b'<' || b == b'>');
    plausible.then_some(AddressForm::Smtp { local, domain })
}

/// Decodes the IMCEA local part: `_` is `/`, `+XX` is the byte with hex value XX. `None` when an
/// escape is broken or decodes to something that is not UTF-8.
pub fn decode_imcea(encoded: &str) -> Option<Cow<'_, str>> {
    if !encoded.bytes().any(|b| b == b'_' || b == b'+') {
        return Some(Cow::Borrowed(encoded));
    }
    let bytes = encoded.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'_' => out.push(b'/'),
            b'+' => {
                let hex = bytes.get(i + 1..i + 3)?;
                let hex = std::str::from_utf8(hex).ok()?;
                out.push(u8::from_str_radix(hex, 16).ok()?);
                i += 2;
            }
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8(out).ok().map(Cow::Owned)
}

/// True when `haystack` starts with `prefix`, ASCII case ignored.
pub(crate) fn starts_with_ignore_case(haystack: &str, prefix: &str) -> bool {
    haystack
        .as_bytes()
        .get(..prefix.len())
        .is_some_and(|head| head.eq_ignore_ascii_case(prefix.as_bytes()))
}

fn strip_prefix_ignore_case<'a>(haystack: &'a str, prefix: &str) -> Option<&'a str> {
    starts_with_ignore_case(haystack, prefix).then(|| &haystack[prefix.len()..])
}

#[cfg(test)]
mod tests {
    use super::*;

    const DN: &str =
        "/O=ADATUM/OU=EXCHANGE ADMINISTRATIVE GROUP (FYDIBOHF23SPDLT)/CN=RECIPIENTS/CN=JOE";

    #[test]
    fn legacy_dn_with_and_without_ex_prefix() {
        assert_eq!(classify(DN.as_bytes()), Some(AddressForm::LegacyDn(DN)));
        let ex = format!("EX:{DN}");
        assert_eq!(classify(ex.as_bytes()), Some(AddressForm::LegacyDn(DN)));
        assert_eq!(
            classify(b"ex:/o=adatum/cn=x").unwrap().dn(),
            Some("/o=adatum/cn=x")
        );
    }

    #[test]
    fn imceaex_decodes_underscores_and_hex_escapes() {
        let token = b"IMCEAEX-_O=ADATUM_OU=EXCHANGE+20ADMINISTRATIVE+20GROUP+20+28FYDIBOHF23SPDLT+29_CN=RECIPIENTS_CN=JOE@adatum.com";
        let form = classify(token).unwrap();
        assert_eq!(form.dn(), Some(DN));
        assert!(matches!(form, AddressForm::Imcea { kind: "EX", .. }));
    }

    #[test]
    fn other_imcea_types_decode_generically() {
        let form = classify(b"imceainvalid-joe+40old+2Eexample@adatum.com").unwrap();
        assert_eq!(
            form,
            AddressForm::Imcea {
                kind: "invalid",
                address: Cow::Owned("joe@old.example".into())
            }
        );
        assert_eq!(form.dn(), None);
    }

    #[test]
    fn broken_imcea_escapes_are_not_addresses() {
        assert_eq!(classify(b"IMCEAEX-_O=A+2@adatum.com"), None);
        assert_eq!(classify(b"IMCEAEX-_O=A+ZZ@adatum.com"), None);
        assert_eq!(classify(b"IMCEAEX-no-at-sign"), None);
        assert_eq!(classify(b"IMCEAEX-+FF@adatum.com"), None);
    }

    #[test]
    fn smtp_and_junk() {
        assert_eq!(
            classify(b"joe@adatum.com"),
            Some(AddressForm::Smtp {
                local: "joe",
                domain: "adatum.com"
            })
        );
        assert_eq!(classify(b"joe"), None);
        assert_eq!(classify(b"@x"), None);
        assert_eq!(classify(b"\xff@x"), None);
    }
}
