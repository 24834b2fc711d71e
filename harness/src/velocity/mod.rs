//! The pieces of the `dovecot-velocity` benchmark: cutover and mbsync copy the same generated
//! corpus between two real Dovecot servers, on loopback and through a [`delay_proxy`], and each
//! run is timed, its CPU and memory measured, and its destination verified.
//!
//! [`delay_proxy`]: crate::delay_proxy

pub mod mbsync_config;
pub mod measure;
pub mod options;
pub mod results;
pub mod seed;
pub mod verify;
pub mod wire_session;
