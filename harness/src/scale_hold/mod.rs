//! The scale hold (`cutover-harness hold`): one process holds many idle TLS connections to the
//! mock server, users spread over several egress addresses, and reports memory per idle
//! connection, whether memory comes back after closing, and what the server's budget audit saw
//! on each address.
//!
//! `plan` decides who connects from where (pure); `run` does it; `report` holds the figures.

mod plan;
mod report;
mod run;

pub use plan::{parse_ips, ports_in_range, HoldLimits, HoldPlan};
pub use report::{HoldCycle, HoldReport, IpHold, Phases};
pub use run::{run_hold, HoldOptions};
