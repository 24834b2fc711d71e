//! The directory export that resolves X.500 addresses to SMTP: LDIF as `ldifde` writes it, or CSV.
//!
//! Keys are lowercased: lookup ignores ASCII case. Each entry is indexed by its
//! `legacyExchangeDN`, by every `X500:` proxy address (old DNs from earlier organisations), and by
//! every other non-SMTP proxy as `type:value` (for the generic IMCEA types). The value is the
//! primary SMTP address: the `SMTP:` proxy (uppercase prefix), else `mail`.

use std::collections::HashMap;

use base64::Engine as _;

/// Why a directory export could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{origin}:{line}: {kind}")]
pub struct DirectoryError {
    /// Where the text came from (a file name), as passed in.
    pub origin: String,
    /// The 1-based line of the problem.
    pub line: usize,
    /// The problem.
    pub kind: DirectoryErrorKind,
}

/// The problem a [`DirectoryError`] names.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DirectoryErrorKind {
    /// An LDIF line is neither `attr: value`, `attr:: base64`, a comment nor a continuation.
    #[error("expected `attribute: value`, found {0:?}")]
    MalformedLine(String),
    /// An LDIF continuation line (leading space) with no attribute line before it.
    #[error("continuation line without an attribute before it")]
    StrayContinuation,
    /// An `attr:: value` whose value is not valid base64 or not UTF-8 once decoded.
    #[error("attribute {0} has a base64 value that is not base64-encoded UTF-8")]
    BadBase64(String),
    /// The CSV header lacks a required column.
    #[error("CSV header has no {0} column")]
    MissingColumn(&'static str),
    /// The CSV could not be read (unbalanced quotes, not UTF-8).
    #[error("CSV: {0}")]
    Csv(String),
}

/// X.500 DNs and proxy addresses → primary SMTP address.
#[derive(Debug, Clone, Default)]
pub struct Directory {
    by_key: HashMap<String, String>,
}

/// One person (or group, or contact) read from an export, before indexing.
#[derive(Default)]
struct Entry {
    legacy_dn: Option<String>,
    mail: Option<String>,
    proxies: Vec<String>,
}

impl Directory {
    /// An empty directory: nothing resolves (domain rewrite still works).
    pub fn new() -> Self {
        Self::default()
    }

    /// Reads `ldifde` output: entries separated by blank lines, `#` comments, lines folded with a
    /// leading space, `attr:: base64` values. Only `legacyExchangeDN`, `proxyAddresses` and `mail`
    /// are used; other attributes (and `attr:< url` values) are ignored. `origin` names the text
    /// in errors.
    pub fn from_ldif(text: &str, origin: &str) -> Result<Self, DirectoryError> {
        let error = |line, kind| DirectoryError {
            origin: origin.to_owned(),
            line,
            kind,
        };
        let mut directory = Directory::new();
        let mut entry = Entry::default();
        // The logical (unfolded) line being collected, with its first physical line number.
        let mut logical: Option<(usize, String)> = None;
        let lines = text.lines().map(|l| l.strip_suffix('\r').unwrap_or(l));
        for (index, line) in lines.chain(std::iter::once("")).enumerate() {
            let number = index + 1;
            if let Some(rest) = line.strip_prefix(' ') {
                match logical.as_mut() {
                    Some((_, value)) => value.push_str(rest),
                    None => return Err(error(number, DirectoryErrorKind::StrayContinuation)),
                }
                continue;
            }
            if let Some((start, complete)) = logical.take() {
                apply_ldif_line(&mut entry, &complete).map_err(|kind| error(start, kind))?;
            }
            if line.is_empty() {
                directory.add(std::mem::take(&mut entry));
            } else if !line.starts_with('#') {
                logical = Some((number, line.to_owned()));
            }
        }
        Ok(directory)
    }

    /// Reads a CSV export with a header row: `LegacyExchangeDN` and `PrimarySmtpAddress` are
    /// required, `ProxyAddresses` is optional with values separated by `;` (how
    /// `Export-Csv` output is usually joined; commas would clash with the CSV itself). Column
    /// names ignore case; other columns are ignored.
    pub fn from_csv(text: &str, origin: &str) -> Result<Self, DirectoryError> {
        let error = |line, kind| DirectoryError {
            origin: origin.to_owned(),
            line,
            kind,
        };
        let mut reader = csv::ReaderBuilder::new()
            .flexible(true)
            .trim(csv::Trim::All)
            .from_reader(text.as_bytes());
        let headers = reader
            .headers()
            .map_err(|e| error(1, DirectoryErrorKind::Csv(e.to_string())))?
            .clone();
        let column = |name: &str| headers.iter().position(|h| h.eq_ignore_ascii_case(name));
        let dn_column = column("LegacyExchangeDN")
            .ok_or_else(|| error(1, DirectoryErrorKind::MissingColumn("LegacyExchangeDN")))?;
        let smtp_column = column("PrimarySmtpAddress")
            .ok_or_else(|| error(1, DirectoryErrorKind::MissingColumn("PrimarySmtpAddress")))?;
        let proxy_column = column("ProxyAddresses");
        let mut directory = Directory::new();
        for record in reader.records() {
            let record = record.map_err(|e| {
                let line = e.position().map_or(0, |p| p.line() as usize);
                error(line, DirectoryErrorKind::Csv(e.to_string()))
            })?;
            let cell = |i: Option<usize>| {
                i.and_then(|i| record.get(i))
                    .filter(|v| !v.is_empty())
                    .map(str::to_owned)
            };
            directory.add(Entry {
                legacy_dn: cell(Some(dn_column)),
                mail: cell(Some(smtp_column)),
                proxies: cell(proxy_column)
                    .map(|p| p.split(';').map(|v| v.trim().to_owned()).collect())
                    .unwrap_or_default(),
            });
        }
        Ok(directory)
    }

    /// The primary SMTP address for an X.500 DN (legacyExchangeDN or an `X500:` alias).
    pub fn resolve_dn(&self, dn: &str) -> Option<&str> {
        self.by_key
            .get(&dn.trim().to_ascii_lowercase())
            .map(String::as_str)
    }

    /// The primary SMTP address for a proxy address of another type, e.g. `("X400", "c=US;...")`.
    pub fn resolve_proxy(&self, kind: &str, address: &str) -> Option<&str> {
        let key = format!("{kind}:{address}").to_ascii_lowercase();
        self.by_key.get(&key).map(String::as_str)
    }

    /// How many keys (DNs and proxy addresses) resolve.
    pub fn len(&self) -> usize {
        self.by_key.len()
    }

    /// True when nothing resolves.
    pub fn is_empty(&self) -> bool {
        self.by_key.is_empty()
    }

    fn add(&mut self, entry: Entry) {
        let primary = entry
            .proxies
            .iter()
            .find_map(|p| p.strip_prefix("SMTP:"))
            .map(str::to_owned)
            .or(entry.mail);
        let Some(primary) = primary else { return };
        let mut keys: Vec<String> = entry.legacy_dn.into_iter().collect();
        for proxy in &entry.proxies {
            let Some((kind, value)) = proxy.split_once(':') else {
                continue;
            };
            if kind.eq_ignore_ascii_case("smtp") {
                continue;
            }
            if kind.eq_ignore_ascii_case("x500") {
                keys.push(value.to_owned());
            }
            keys.push(proxy.clone());
        }
        for key in keys {
            self.by_key
                .insert(key.trim().to_ascii_lowercase(), primary.clone());
        }
    }
}

fn apply_ldif_line(entry: &mut Entry, line: &str) -> Result<(), DirectoryErrorKind> {
    let Some((attribute, rest)) = line.split_once(':') else {
        return Err(DirectoryErrorKind::MalformedLine(line.to_owned()));
    };
    let slot = if attribute.eq_ignore_ascii_case("legacyExchangeDN") {
        Slot::LegacyDn
    } else if attribute.eq_ignore_ascii_case("mail") {
        Slot::Mail
    } else if attribute.eq_ignore_ascii_case("proxyAddresses") {
        Slot::Proxy
    } else {
        // objectGUID, objectSid and the like are binary: never decoded, never an error.
        return Ok(());
    };
    let value = if let Some(encoded) = rest.strip_prefix(':') {
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(encoded.trim())
            .map_err(|_| DirectoryErrorKind::BadBase64(attribute.to_owned()))?;
        String::from_utf8(bytes).map_err(|_| DirectoryErrorKind::BadBase64(attribute.to_owned()))?
    } else if rest.starts_with('<') {
        return Ok(()); // A value by URL: ldifde does not write these.
    } else {
        rest.trim_start().to_owned()
    };
    match slot {
        Slot::LegacyDn => entry.legacy_dn = Some(value),
        Slot::Mail => entry.mail = Some(value),
        Slot::Proxy => entry.proxies.push(value),
    }
    Ok(())
}

/// The attributes of an LDIF entry that the directory uses.
enum Slot {
    LegacyDn,
    Mail,
    Proxy,
}

#[cfg(test)]
mod tests {
    use super::*;

    const LDIF: &str = "version: 1\r\n\
# a comment\r\n\
dn: CN=Joe,OU=Users,DC=adatum,DC=com\r\n\
legacyExchangeDN: /o=ADATUM/ou=Exchange Administrative Group (FYDIBOHF23SPDLT)/cn=Re\r\n\
\x20cipients/cn=joe\r\n\
mail: joe.other@adatum.com\r\n\
proxyAddresses: smtp:joe.old@adatum.com\r\n\
proxyAddresses: SMTP:joe@adatum.com\r\n\
proxyAddresses: X500:/o=OldOrg/ou=First Administrative Group/cn=Recipients/cn=joe\r\n\
\r\n\
dn: CN=Ann,OU=Users,DC=adatum,DC=com\r\n\
legacyExchangeDN:: L289QURBVFVNL2NuPUFOTg==\r\n\
mail: ann@adatum.com\r\n\
\r\n\
dn: CN=NoMail,DC=adatum,DC=com\r\n\
legacyExchangeDN: /o=ADATUM/cn=nomail\r\n";

    #[test]
    fn ldif_folding_base64_primary_and_aliases() {
        let d = Directory::from_ldif(LDIF, "dir.ldif").unwrap();
        let joe =
            "/O=ADATUM/OU=EXCHANGE ADMINISTRATIVE GROUP (FYDIBOHF23SPDLT)/CN=RECIPIENTS/CN=JOE";
        assert_eq!(d.resolve_dn(joe), Some("joe@adatum.com"));
        assert_eq!(
            d.resolve_dn("/O=OLDORG/OU=FIRST ADMINISTRATIVE GROUP/CN=RECIPIENTS/CN=JOE"),
            Some("joe@adatum.com")
        );
        assert_eq!(d.resolve_dn("/o=adatum/cn=ann"), Some("ann@adatum.com"));
        assert_eq!(d.resolve_dn("/o=adatum/cn=nomail"), None);
        assert_eq!(
            d.resolve_proxy(
                "x500",
                "/o=OldOrg/ou=First Administrative Group/cn=Recipients/cn=joe"
            ),
            Some("joe@adatum.com")
        );
    }

    #[test]
    fn ldif_errors_name_origin_and_line() {
        let err = Directory::from_ldif("dn: x\nno colon here\n", "d.ldif").unwrap_err();
        assert_eq!(err.line, 2);
        assert!(err.to_string().starts_with("d.ldif:2: expected"), "{err}");
        let err = Directory::from_ldif(" stray\n", "d.ldif").unwrap_err();
        assert_eq!(err.kind, DirectoryErrorKind::StrayContinuation);
        let err = Directory::from_ldif("dn: x\nmail:: !!!\n", "d.ldif").unwrap_err();
        assert_eq!(
            (err.line, err.kind),
            (2, DirectoryErrorKind::BadBase64("mail".into()))
        );
    }

    #[test]
    fn binary_attributes_are_ignored() {
        let ldif = "dn: CN=Joe\nobjectGUID:: /w==\nlegacyExchangeDN: /o=a/cn=joe\nmail: j@a.com\n";
        let d = Directory::from_ldif(ldif, "d.ldif").unwrap();
        assert_eq!(d.resolve_dn("/O=A/CN=JOE"), Some("j@a.com"));
    }

    #[test]
    fn csv_with_proxy_addresses() {
        let csv = "Name,legacyexchangedn,PrimarySmtpAddress,ProxyAddresses\n\
Joe,/o=ADATUM/cn=joe,joe@adatum.com,\"smtp:j@adatum.com; X500:/o=Old/cn=joe\"\n\
Ann,/o=ADATUM/cn=ann,ann@adatum.com\n";
        let d = Directory::from_csv(csv, "d.csv").unwrap();
        assert_eq!(d.resolve_dn("/O=OLD/CN=JOE"), Some("joe@adatum.com"));
        assert_eq!(d.resolve_dn("/o=adatum/cn=ANN"), Some("ann@adatum.com"));
        let err = Directory::from_csv("LegacyExchangeDN,Mail\n", "d.csv").unwrap_err();
        assert_eq!(
            err.kind,
            DirectoryErrorKind::MissingColumn("PrimarySmtpAddress")
        );
        assert_eq!(
            err.to_string(),
            "d.csv:1: CSV header has no PrimarySmtpAddress column"
        );
    }
}
