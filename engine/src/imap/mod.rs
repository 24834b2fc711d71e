//! IMAP connections: addresses, TLS, STARTTLS, COMPRESS, login methods, folder names, and the
//! pipelined APPEND path that async-imap does not have.

mod auth;
mod endpoint;
mod tls;

pub use auth::{Auth, ProxyLoginForm};
pub use endpoint::{Endpoint, EndpointError, Security};
pub use tls::TlsConfig;
