//! The rewriter: one message in, the same bytes out except for the address fields it changed.

use aho_corasick::AhoCorasick;

use super::address_form::{classify, AddressForm};
use super::address_list::{address_tokens, write_folded};
use super::directory::Directory;
use super::domain_map::DomainMap;
use super::header_fields::{fields, header_end, unfold, RawField};
use super::identity_map::IdentityMap;

/// The header fields whose addresses are rewritten (case-insensitive).
pub const ADDRESS_FIELDS: &[&str] = &[
    "From",
    "Sender",
    "Reply-To",
    "To",
    "Cc",
    "Bcc",
    "Resent-From",
    "Resent-Sender",
    "Resent-To",
    "Resent-Cc",
    "Resent-Bcc",
    "Return-Path",
    "Disposition-Notification-To",
];

/// The prefix of the header that keeps an original value (`--keep-original-addresses`).
pub const ORIGINAL_PREFIX: &str = "X-Cutover-Original-";

/// Rewritten fields are folded at this many columns where there is whitespace to fold at.
const FOLD_WIDTH: usize = 78;

/// What [`AddressRewriter::rewrite`] did to one message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Rewrite {
    /// Nothing to change: deliver the input as it is (no copy was made).
    Unchanged {
        /// X.500 DNs (and other non-SMTP addresses) that the directory did not resolve, in order
        /// of appearance, repeats included. Empty (no allocation) on the fast path.
        unresolved: Vec<String>,
    },
    /// Some address fields changed.
    Changed {
        /// The whole message: the input with the changed fields replaced.
        bytes: Vec<u8>,
        /// How many header fields were re-emitted.
        fields_rewritten: usize,
        /// How many addresses in them were replaced.
        addresses_rewritten: usize,
        /// As in [`Rewrite::Unchanged`].
        unresolved: Vec<String>,
    },
}

impl Rewrite {
    /// The addresses left as they were because the directory did not know them.
    pub fn unresolved(&self) -> &[String] {
        match self {
            Rewrite::Unchanged { unresolved } | Rewrite::Changed { unresolved, .. } => unresolved,
        }
    }

    /// The message to deliver: the rewritten bytes, or `original` when unchanged.
    pub fn bytes<'a>(&'a self, original: &'a [u8]) -> &'a [u8] {
        match self {
            Rewrite::Unchanged { .. } => original,
            Rewrite::Changed { bytes, .. } => bytes,
        }
    }
}

/// Rewrites Exchange X.500 / IMCEA header addresses to SMTP, renamed users' addresses, and
/// mapped domains, keeping every other byte of the message. Built once per run, shared by every
/// mailbox (it is `Sync`).
///
/// Each address goes through, in order: the directory (X.500 and IMCEA forms to SMTP), then the
/// exact [`IdentityMap`] (the batch's SourceIdentity → TargetIdentity), and only when that has
/// no entry, the [`DomainMap`].
#[derive(Debug)]
pub struct AddressRewriter {
    directory: Directory,
    identities: IdentityMap,
    domains: DomainMap,
    keep_original: bool,
    /// Case-insensitive pre-filter over the header section: `IMCEA`, `/O=`, `@<source domain>`
    /// for the domain map's and the identity map's domains.
    candidates: AhoCorasick,
}

impl AddressRewriter {
    /// A rewriter resolving through `directory` and then mapping `domains`. With
    /// `keep_original`, each changed field is followed by `X-Cutover-Original-<Field>` holding
    /// its original (unfolded) value.
    pub fn new(directory: Directory, domains: DomainMap, keep_original: bool) -> Self {
        let identities = IdentityMap::new();
        Self {
            candidates: candidates(&domains, &identities),
            directory,
            identities,
            domains,
            keep_original,
        }
    }

    /// The same rewriter renaming `identities` too: an SMTP address (as written, or as the
    /// directory resolved it) that the map names becomes its target, before the domain map
    /// is consulted.
    pub fn with_identities(mut self, identities: IdentityMap) -> Self {
        self.candidates = candidates(&self.domains, &identities);
        self.identities = identities;
        self
    }

    /// The renamed identities ([`with_identities`](Self::with_identities)).
    pub fn identities(&self) -> &IdentityMap {
        &self.identities
    }

    /// Rewrites the address fields of one message. Never fails and never panics: what cannot be
    /// parsed or resolved is left exactly as it was.
    pub fn rewrite(&self, message: &[u8]) -> Rewrite {
        let header = &message[..header_end(message)];
        let mut unresolved = Vec::new();
        if !self.candidates.is_match(header) {
            return Rewrite::Unchanged { unresolved };
        }
        let message_eol: &[u8] = match memchr::memchr(b'\n', header) {
            Some(i) if i > 0 && header[i - 1] == b'\r' => b"\r\n",
            Some(_) => b"\n",
            None => b"\r\n",
        };
        let mut out: Vec<u8> = Vec::new();
        let mut copied_to = 0;
        let (mut fields_rewritten, mut addresses_rewritten) = (0, 0);
        for field in fields(header) {
            let name = &header[field.name.clone()];
            if !ADDRESS_FIELDS
                .iter()
                .any(|f| f.as_bytes().eq_ignore_ascii_case(name))
            {
                continue;
            }
            let raw_value = &header[field.value.clone()];
            if !self.candidates.is_match(raw_value) {
                continue;
            }
            let value = unfold(raw_value);
            let (new_value, replaced) = self.rewrite_value(&value, &mut unresolved);
            if replaced == 0 {
                continue;
            }
            if out.is_empty() {
                out.reserve(message.len() + 256);
            }
            out.extend_from_slice(&message[copied_to..field.whole.start]);
            self.emit(&mut out, &field, name, &value, &new_value, message_eol);
            copied_to = field.whole.end;
            fields_rewritten += 1;
            addresses_rewritten += replaced;
        }
        if fields_rewritten == 0 {
            return Rewrite::Unchanged { unresolved };
        }
        out.extend_from_slice(&message[copied_to..]);
        Rewrite::Changed {
            bytes: out,
            fields_rewritten,
            addresses_rewritten,
            unresolved,
        }
    }

    /// `value` with each resolvable address token replaced, and how many were.
    fn rewrite_value(&self, value: &[u8], unresolved: &mut Vec<String>) -> (Vec<u8>, usize) {
        let mut out = Vec::with_capacity(value.len());
        let mut copied_to = 0;
        let mut replaced = 0;
        for token in address_tokens(value) {
            let Some(form) = classify(&value[token.clone()]) else {
                continue;
            };
            let Some(smtp) = self.resolve(&form, unresolved) else {
                continue;
            };
            if smtp.as_bytes() == &value[token.clone()] {
                continue;
            }
            out.extend_from_slice(&value[copied_to..token.start]);
            out.extend_from_slice(smtp.as_bytes());
            copied_to = token.end;
            replaced += 1;
        }
        out.extend_from_slice(&value[copied_to..]);
        (out, replaced)
    }

    /// The SMTP address `form` should become, if any; unresolved non-SMTP forms are recorded.
    fn resolve(&self, form: &AddressForm<'_>, unresolved: &mut Vec<String>) -> Option<String> {
        let smtp = match form {
            AddressForm::Smtp { .. } => None,
            AddressForm::LegacyDn(dn) => self.directory.resolve_dn(dn).map(str::to_owned),
            AddressForm::Imcea { kind, address } => {
                let via_directory = if form.dn().is_some() {
                    self.directory.resolve_dn(address)
                } else {
                    self.directory.resolve_proxy(kind, address)
                };
                // Only a plain addr-spec: a decoded `+0A` or `+20` must not reach the header.
                let is_smtp = kind.eq_ignore_ascii_case("SMTP")
                    && matches!(classify(address.as_bytes()), Some(AddressForm::Smtp { .. }));
                via_directory
                    .map(str::to_owned)
                    .or_else(|| is_smtp.then(|| address.to_string()))
            }
        };
        match (form, smtp) {
            (AddressForm::Smtp { local, domain }, _) => {
                let renamed = if self.identities.is_empty() {
                    None
                } else {
                    self.identities.get(&format!("{local}@{domain}"))
                };
                match renamed {
                    Some(target) => Some(target.to_owned()),
                    None => self
                        .domains
                        .get(domain)
                        .map(|target| format!("{local}@{target}")),
                }
            }
            (_, Some(smtp)) => Some(match self.identities.get(&smtp) {
                Some(target) => target.to_owned(),
                None => self.domains.apply(&smtp).unwrap_or(smtp),
            }),
            (AddressForm::LegacyDn(dn), None) => {
                unresolved.push((*dn).to_owned());
                None
            }
            (AddressForm::Imcea { kind, address }, None) => {
                unresolved.push(match form.dn() {
                    Some(dn) => dn.to_owned(),
                    None => format!("{kind}:{address}"),
                });
                None
            }
        }
    }

    /// Writes the rewritten field (and the original, if kept) in place of `field`.
    fn emit(
        &self,
        out: &mut Vec<u8>,
        field: &RawField,
        name: &[u8],
        value: &[u8],
        new_value: &[u8],
        message_eol: &[u8],
    ) {
        // A field at the very end of a header-only message has no line ending of its own.
        let eol = if field.eol.is_empty() {
            message_eol
        } else {
            field.eol
        };
        if self.keep_original {
            write_folded(out, name, new_value, eol, eol, FOLD_WIDTH);
            let mut original_name = ORIGINAL_PREFIX.as_bytes().to_vec();
            original_name.extend_from_slice(name);
            let mut original = b" ".to_vec();
            original.extend_from_slice(value.trim_ascii());
            write_folded(out, &original_name, &original, eol, field.eol, FOLD_WIDTH);
        } else {
            write_folded(out, name, new_value, eol, field.eol, FOLD_WIDTH);
        }
    }
}

/// The fast path's patterns: `IMCEA`, `/O=` and `@<domain>` for every domain an address can
/// be renamed or mapped from.
fn candidates(domains: &DomainMap, identities: &IdentityMap) -> AhoCorasick {
    let mut patterns = vec!["IMCEA".to_owned(), "/O=".to_owned()];
    patterns.extend(
        domains
            .sources()
            .chain(identities.source_domains())
            .map(|d| format!("@{d}")),
    );
    AhoCorasick::builder()
        .ascii_case_insensitive(true)
        .build(&patterns)
        // Literal patterns always build; a failure would be a bug in this function.
        .expect("literal patterns build")
}

#[cfg(test)]
mod tests {
    use super::*;

    const LDIF: &str = "dn: CN=Joe\nlegacyExchangeDN: /o=Adatum/cn=Recipients/cn=joe\n\
proxyAddresses: SMTP:joe@adatum.com\n";

    fn rewriter(keep_original: bool) -> AddressRewriter {
        let directory = Directory::from_ldif(LDIF, "test").unwrap();
        let domains = [("adatum.com", "contoso.com")].into_iter().collect();
        AddressRewriter::new(directory, domains, keep_original)
    }

    fn changed(rewrite: Rewrite) -> (String, usize, usize) {
        match rewrite {
            Rewrite::Changed {
                bytes,
                fields_rewritten,
                addresses_rewritten,
                ..
            } => (
                String::from_utf8(bytes).unwrap(),
                fields_rewritten,
                addresses_rewritten,
            ),
            other => panic!("expected a change, got {other:?}"),
        }
    }

    #[test]
    fn fast_path_returns_unchanged_without_a_copy() {
        let message = b"From: a@example.net\r\nSubject: /x\r\n\r\nbody /O=ADATUM IMCEAEX-\r\n";
        assert_eq!(
            rewriter(false).rewrite(message),
            Rewrite::Unchanged { unresolved: vec![] }
        );
    }

    #[test]
    fn rewrites_only_the_address_and_counts() {
        let message = b"Subject: /O=ADATUM/CN=RECIPIENTS/CN=JOE\r\nTo: Joe <EX:/O=ADATUM/CN=RECIPIENTS/CN=JOE>, \
x@adatum.com\r\n\r\nbody\r\n";
        let (out, fields, addresses) = changed(rewriter(false).rewrite(message));
        assert_eq!(
            out,
            "Subject: /O=ADATUM/CN=RECIPIENTS/CN=JOE\r\nTo: Joe <joe@contoso.com>, x@contoso.com\r\n\r\nbody\r\n"
        );
        assert_eq!((fields, addresses), (1, 2));
    }

    #[test]
    fn unresolved_dns_are_reported_and_kept() {
        let message = b"To: <EX:/O=ADATUM/CN=GHOST>\n\n";
        let rewrite = rewriter(false).rewrite(message);
        assert_eq!(rewrite.unresolved(), ["/O=ADATUM/CN=GHOST"]);
        assert_eq!(rewrite.bytes(message), message);
    }

    #[test]
    fn keep_original_follows_the_changed_field() {
        let message = b"From: <IMCEAEX-_o=Adatum_cn=Recipients_cn=joe@adatum.com>\n\nx";
        let (out, _, _) = changed(rewriter(true).rewrite(message));
        assert_eq!(
            out,
            "From: <joe@contoso.com>\nX-Cutover-Original-From: \
<IMCEAEX-_o=Adatum_cn=Recipients_cn=joe@adatum.com>\n\nx"
        );
    }

    fn renaming(identities: &[(&str, &str)]) -> AddressRewriter {
        rewriter(false).with_identities(identities.iter().copied().collect())
    }

    #[test]
    fn a_renamed_identity_beats_the_domain_map_ignoring_case() {
        let r = renaming(&[("joe@adatum.com", "joe.smith@contoso.com")]);
        let message =
            b"From: \"Joe\" <JOE@Adatum.COM>\r\nTo: ann@adatum.com, joe@adatum.com.au\r\n\
Subject: joe@adatum.com\r\n\r\njoe@adatum.com\r\n";
        let (out, fields, addresses) = changed(r.rewrite(message));
        assert_eq!(
            out,
            "From: \"Joe\" <joe.smith@contoso.com>\r\nTo: ann@contoso.com, joe@adatum.com.au\r\n\
Subject: joe@adatum.com\r\n\r\njoe@adatum.com\r\n"
        );
        assert_eq!((fields, addresses), (2, 2));
    }

    #[test]
    fn directory_resolution_comes_first_then_the_rename() {
        let r = renaming(&[("joe@adatum.com", "joe.smith@contoso.com")]);
        let message = b"From: <EX:/O=ADATUM/CN=RECIPIENTS/CN=JOE>\n\
Reply-To: <IMCEAEX-_o=Adatum_cn=Recipients_cn=joe@adatum.com>\n\
Cc: <IMCEASMTP-joe+40adatum+2Ecom@adatum.com>\n\nx";
        let (out, fields, addresses) = changed(r.rewrite(message));
        assert_eq!(
            out,
            "From: <joe.smith@contoso.com>\nReply-To: <joe.smith@contoso.com>\n\
Cc: <joe.smith@contoso.com>\n\nx"
        );
        assert_eq!((fields, addresses), (3, 3));
    }

    #[test]
    fn a_rename_outside_the_mapped_domains_is_found_by_the_fast_path() {
        let r = renaming(&[("lee@fabrikam.com", "lee.chen@contoso.com")]);
        let (out, _, _) = changed(r.rewrite(b"To: Lee <Lee@fabrikam.com>\r\n\r\n"));
        assert_eq!(out, "To: Lee <lee.chen@contoso.com>\r\n\r\n");
        let other = b"To: kim@fabrikam.com\r\n\r\n";
        assert_eq!(
            r.rewrite(other),
            Rewrite::Unchanged { unresolved: vec![] },
            "another address of the domain is kept"
        );
        let message = b"To: x@example.net\r\n\r\nlee@fabrikam.com\r\n";
        assert_eq!(
            r.rewrite(message),
            Rewrite::Unchanged { unresolved: vec![] }
        );
    }

    #[test]
    fn imcea_smtp_decoding_to_a_line_break_is_not_injected_into_the_header() {
        let message = b"To: <IMCEASMTP-joe+40adatum+0ABcc:+20x+40y.com@adatum.com>\n\nbody\n";
        let rewrite = rewriter(false).rewrite(message);
        assert_eq!(rewrite.bytes(message), message);
        let message = b"To: <IMCEASMTP-joe+40adatum.com@adatum.com>\n\nbody\n";
        let (out, _, _) = changed(rewriter(false).rewrite(message));
        assert_eq!(out, "To: <joe@contoso.com>\n\nbody\n");
    }

    #[test]
    fn hostile_inputs_do_not_panic() {
        let r = rewriter(true);
        let inputs: [&[u8]; 9] = [
            b"",
            b"\r\n",
            b"To:",
            b"To: <",
            b"To: /O=\xff\xfe",
            b"To: IMCEAEX-+\r\n",
            b"\xff\xfe: /O=A\r\n\r\n",
            b"To: \"/O=A\\",
            b"To: (/O=A\\",
        ];
        for input in inputs {
            let _ = r.rewrite(input);
        }
        for cut in 0..120 {
            let message =
                b"To: Joe <EX:/O=ADATUM/CN=RECIPIENTS/CN=JOE>,\r\n (c) x@adatum.com\r\n\r\nb";
            let _ = r.rewrite(&message[..cut.min(message.len())]);
        }
    }
}
