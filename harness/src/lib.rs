//! cutover-harness: what cutover is tested and measured against.
//!
//! - [`certs`]: a throwaway CA and server certificates, so tests verify TLS as users do.
//! - [`corpus`]: deterministic, realistic mailboxes of RFC 5322 mail, for the demo, benches and tests.
//! - [`dovecot`]: throwaway Dovecot servers on loopback, one per test.
//! - [`imap_account`]: engine-independent IMAP helpers to seed and snapshot test accounts.

pub mod certs;
pub mod corpus;
pub mod dovecot;
pub mod imap_account;
