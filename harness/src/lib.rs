//! cutover-harness: what cutover is tested and measured against.
//!
//! - [`certs`]: a throwaway CA and server certificates, so tests verify TLS as users do.

pub mod certs;
