//! cutover-harness: what cutover is tested and measured against.
//!
//! - [`certs`]: a throwaway CA and server certificates, so tests verify TLS as users do.
//! - [`corpus`]: deterministic, realistic mailboxes of RFC 5322 mail, for the demo, benches and tests.
//! - [`delay_proxy`]: a TCP delay line, to measure over a slow link without netem.
//! - [`dovecot`]: throwaway Dovecot servers on loopback, one per test.
//! - [`imap_account`]: engine-independent IMAP helpers to seed and snapshot test accounts.
//! - [`planner`]: the capacity planner: velocity model, batches, egress IPs, charts (`cutover plan`).
//! - [`open_files`]: raises the open-files limit to the hard limit, for thousands of sockets.
//! - [`process_cpu`]: CPU time of a server's process group, for the velocity bench.
//! - [`process_memory`]: resident memory and open descriptors of a process, from `/proc`.
//! - [`scale_hold`]: holds thousands of idle TLS connections over several egress addresses
//!   (`cutover-harness hold`) and measures memory per connection.
//! - [`mock_server`]: an in-memory IMAP server (TLS, pipelining, MULTIAPPEND) for demos, benches, tests,
//!   shaped (latency, bandwidth, throttling), faulty on purpose, auditing connection budgets.
//! - [`scenarios`]: the velocity benchmark (`cutover bench`): named scenarios against shaped mocks.
//! - [`velocity`]: the pieces of the `dovecot-velocity` benchmark (cutover and mbsync, two Dovecots).

pub mod certs;
pub mod corpus;
pub mod delay_proxy;
pub mod dovecot;
pub mod imap_account;
pub mod mock_server;
pub mod open_files;
pub mod planner;
pub mod process_cpu;
pub mod process_memory;
pub mod scale_hold;
pub mod scenarios;
pub mod velocity;
