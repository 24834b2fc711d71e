//! The capacity planner behind `cutover plan`: how long a migration takes and how to batch it.
//!
//! - [`units`]: `200Mbit`, `40ms`, `48h`, `4GB` as operators type them.
//! - [`inventory`]: the mailboxes to move, from `cutover assess --json` or a CSV.
//! - [`model`]: the velocity model, fitted from benchmark samples.
//! - [`schedule`]: batches, egress IPs, duration, bottleneck, window and what-if.
//! - [`chart`]: the timeline and what-if charts, SVG and PNG.
//!
//! Everything but [`chart`] is pure: no printing, no files, typed results a test can compare.

pub mod chart;
pub mod inventory;
pub mod model;
pub mod schedule;
pub mod units;

pub use chart::{timeline_chart, what_if_chart, ChartError};
pub use inventory::{Inventory, InventoryError, MailboxSize};
pub use model::{FitError, ProfileLimits, VelocityModel, VelocitySample};
pub use schedule::{plan, what_if, Bottleneck, Budget, Link, Plan, WhatIf, WindowFit};
