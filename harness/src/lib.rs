//! cutover-harness: what cutover is tested and measured against.
//!
//! - [`certs`]: a throwaway CA and server certificates, so tests verify TLS as users do.
//! - [`dovecot`]: throwaway Dovecot servers on loopback, one per test.
//! - [`imap_account`]: engine-independent IMAP helpers to seed and snapshot test accounts.

pub mod certs;
pub mod dovecot;
pub mod imap_account;
