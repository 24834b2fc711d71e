//! cutover-harness: what cutover is tested and measured against.
//!
//! - [`certs`]: a throwaway CA and server certificates, so tests verify TLS as users do.
//! - [`corpus`]: deterministic, realistic mailboxes of RFC 5322 mail, for the demo, benches and tests.
//! - [`delay_proxy`]: a TCP delay line, to measure over a slow link without netem.
//! - [`dovecot`]: throwaway Dovecot servers on loopback, one per test.
//! - [`imap_account`]: engine-independent IMAP helpers to seed and snapshot test accounts.
//! - [`planner`]: the capacity planner: velocity model, batches, egress IPs, charts (`cutover plan`).
//! - [`process_cpu`]: CPU time of a server's process group, for the velocity bench.
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
pub mod planner;
pub mod process_cpu;
pub mod scenarios;
pub mod velocity;
