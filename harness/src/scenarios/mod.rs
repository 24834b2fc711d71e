//! The velocity benchmark against shaped mock servers: named scenarios (loopback, RTT,
//! bandwidth, server profiles, big attachments, a huge folder, many mailboxes at once), each
//! run with the real `cutover migrate` as a measured child process, and their results as a
//! table, JSON and CSV, comparable with an earlier run.
//!
//! `catalogue` names the scenarios; `run` sets up the servers, runs and measures one;
//! `results` holds what was measured and renders and compares it.

mod catalogue;
mod results;
mod run;

pub use catalogue::{catalogue, Scenario};
pub use results::{compare, render_csv, render_table, ScenarioResult};
pub use run::{run_scenario, BenchOptions};
