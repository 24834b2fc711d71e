//! An in-memory IMAP4rev1 server for demos, benchmarks and tests: real TLS on loopback,
//! pipelining, LITERAL+/LITERAL-, MULTIAPPEND, UIDPLUS, SPECIAL-USE, SORT, QUOTA,
//! COMPRESS=DEFLATE, admin logins; named profiles after real servers ([`MockProfile`]);
//! shaping (latency, bandwidth, think time, throttling), quota and connection caps
//! ([`Shaping`], [`Limits`]); seeded faults ([`FaultPlan`]); and a budget audit of who was
//! connected from where ([`BudgetAudit`]).
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
//! `session` (with `mailbox_commands`, `message_commands`, `fetch`, `quota`) is the I/O-free
//! protocol state machine; `connection` is the per-connection read/write loop, where `shaping`
//! and `faults` apply; `audit` counts connections; `listener` accepts.

mod audit;
mod command_parser;
mod config;
mod connection;
mod faults;
mod fetch;
mod framing;
mod listener;
mod mailbox_commands;
mod mailbox_list;
mod message_commands;
mod message_parts;
mod mutf7;
mod profile;
mod quota;
mod response;
mod sasl;
mod session;
mod shaping;
mod stats;
mod store;

pub use audit::{AuditBudget, BudgetAudit};
pub use config::{
    Bandwidth, Capabilities, Limits, MockConfig, MockTls, Scope, Shaping, Throttle, ThrottleReply,
};
pub use faults::{Fault, FaultPlan, FaultRule};
pub use listener::MockServer;
pub use profile::MockProfile;
pub use stats::MockStats;
pub use store::{Damage, FolderInfo, MockStore, StoredMessage};
