//! IMAP connections: addresses, TLS, STARTTLS, COMPRESS, login methods and the lockout guard,
//! folder names, quotas,
//! and the pipelined APPEND path that async-imap does not have.

mod append_framing;
mod append_pipeline;
mod auth;
mod capabilities;
pub mod command;
mod connect;
mod endpoint;
mod login_guard;
pub mod mutf7;
pub mod quota;
mod tls;
mod transport;

pub use append_framing::{
    format_internaldate, frame_append, is_appendable_flag, AppendItem, Segment,
};
pub use append_pipeline::{AppendBatch, AppendPipeline, AppendVerdict, Completed};
pub use auth::{Auth, BearerMechanism, ProxyLoginForm};
pub use capabilities::Capabilities;
pub use connect::{connect, ConnectOptions, Connection, Session, TlsClient};
pub(crate) use connect::{imap_err, timed};
pub use endpoint::{Endpoint, EndpointError, Security};
pub use login_guard::{LoginAttempts, LoginGuard, LoginLimit};
pub use tls::TlsConfig;
pub use transport::{Io, Transport, WireCounters};
