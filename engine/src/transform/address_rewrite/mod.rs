//! Header address rewrite: Exchange X.500 (legacyExchangeDN, `EX:`) and IMCEA addresses in
//! address fields become the SMTP addresses a directory export names, renamed users' addresses
//! (the mailbox list's SourceIdentity → TargetIdentity, [`IdentityMap`]) become their new ones,
//! and mapped source domains become target domains, so replies to migrated mail reach someone
//! (guide 3.6.1.4). An address goes through the directory, then the identity map, then (only
//! if the identity map has no entry) the domain map.
//!
//! Invariants:
//! - **Bytes kept.** Only a changed header field is re-emitted (folded at 78 columns where there
//!   is whitespace, with the field's own line ending); every other byte of the message (other
//!   fields, the body, line endings) is copied as it was. Inside a changed field only the address
//!   tokens change: display names, RFC 2047 encoded words, comments and groups stay as written.
//! - **Unresolved left as is.** An address the directory does not know is not touched, and is
//!   reported in [`Rewrite::unresolved`]; [`UnresolvedTally`] counts them for the report.
//! - **Never panics, never fails.** Malformed, 8-bit or non-UTF-8 input is left unchanged.
//! - **Fast path.** A message whose header section holds none of `IMCEA`, `/O=`, a mapped
//!   source domain or a renamed identity's domain returns [`Rewrite::Unchanged`] after one
//!   scan, without allocating.
//!
//! ```
//! use cutover_engine::transform::address_rewrite::{
//!     AddressRewriter, Directory, DomainMap, IdentityMap, Rewrite,
//! };
//!
//! let ldif = "dn: CN=Joe\nlegacyExchangeDN: /o=Adatum/cn=Recipients/cn=joe\nmail: joe@adatum.com\n";
//! let directory = Directory::from_ldif(ldif, "directory.ldif").unwrap();
//! let domains: DomainMap = [("adatum.com", "contoso.com")].into_iter().collect();
//! let rewriter = AddressRewriter::new(directory, domains, false);
//! let message = b"From: Joe <EX:/O=ADATUM/CN=RECIPIENTS/CN=JOE>\r\n\r\nHi /O=ADATUM\r\n";
//! let Rewrite::Changed { bytes, .. } = rewriter.rewrite(message) else { panic!() };
//! assert_eq!(bytes, b"From: Joe <joe@contoso.com>\r\n\r\nHi /O=ADATUM\r\n");
//!
//! // Joe was renamed in the mailbox list: his exact address wins over the domain map.
//! let renamed: IdentityMap = [("joe@adatum.com", "joe.smith@contoso.com")].into_iter().collect();
//! let rewriter = rewriter.with_identities(renamed);
//! let Rewrite::Changed { bytes, .. } = rewriter.rewrite(message) else { panic!() };
//! assert_eq!(bytes, b"From: Joe <joe.smith@contoso.com>\r\n\r\nHi /O=ADATUM\r\n");
//! ```

pub mod address_form;
mod address_list;
pub mod directory;
pub mod domain_map;
pub(crate) mod header_fields;
pub mod identity_map;
pub mod rewriter;
pub mod unresolved;

#[cfg(test)]
mod golden_tests;

pub use address_form::AddressForm;
pub use directory::{Directory, DirectoryError, DirectoryErrorKind};
pub use domain_map::DomainMap;
pub use identity_map::IdentityMap;
pub use rewriter::{AddressRewriter, Rewrite, ADDRESS_FIELDS, ORIGINAL_PREFIX};
pub use unresolved::UnresolvedTally;
