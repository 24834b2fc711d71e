//! TLS settings shared by every connection of a run.
//!
//! Certificates are verified by default. A private CA is trusted with [`TlsConfig::ca_pem`];
//! switching verification off is possible only through the loudly named
//! [`TlsConfig::danger_accept_invalid_certs`].

use std::path::Path;

/// How server certificates are checked.
#[derive(Clone, Default)]
pub struct TlsConfig {
    /// Extra trusted roots, PEM (one or more certificates), e.g. a private CA.
    pub ca_pem: Option<Vec<u8>>,
    /// Accept any certificate and host name. Only for throwaway test servers.
    pub danger_accept_invalid_certs: bool,
}

impl std::fmt::Debug for TlsConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TlsConfig")
            .field("ca_pem", &self.ca_pem.as_ref().map(|p| p.len()))
            .field(
                "danger_accept_invalid_certs",
                &self.danger_accept_invalid_certs,
            )
            .finish()
    }
}

impl TlsConfig {
    /// Trusts the certificates in a PEM file in addition to the system roots.
    pub fn with_ca_file(path: &Path) -> std::io::Result<Self> {
        let pem = std::fs::read(path)?;
        Ok(TlsConfig {
            ca_pem: Some(pem),
            danger_accept_invalid_certs: false,
        })
    }
}
