//! An in-memory IMAP4rev1 server for demos, benchmarks and tests: real TLS on loopback,
//! pipelining, LITERAL+/LITERAL-, MULTIAPPEND, UIDPLUS, SPECIAL-USE, admin logins.
//!
//! ```no_run
//! # async fn demo() -> anyhow::Result<()> {
//! use cutover_harness::mock_server::{MockConfig, MockServer, MockStore, MockTls};
//! let store = MockStore::new('/');
//! store.add_user("alice", "secret");
//! store.create_folder("alice", "Sent", Some("\\Sent"), true);
//! let config = MockConfig { tls: MockTls::Plain, ..MockConfig::default() };
//! let server = MockServer::start(config, store).await?;
//! println!("{}", server.url());
//! # Ok(()) }
//! ```
//!
//! Layout: `store` holds the data; `framing` and `command_parser` turn bytes into commands;
//! `session` (with `mailbox_commands`, `message_commands`, `fetch`) is the I/O-free protocol
//! state machine; `connection` is the per-connection read/write loop; `listener` accepts.

mod command_parser;
mod config;
mod connection;
mod fetch;
mod framing;
mod listener;
mod mailbox_commands;
mod mailbox_list;
mod message_commands;
mod message_parts;
mod mutf7;
mod response;
mod sasl;
mod session;
mod stats;
mod store;

pub use config::{Capabilities, MockConfig, MockTls};
pub use listener::MockServer;
pub use stats::MockStats;
pub use store::{Damage, FolderInfo, MockStore, StoredMessage};
