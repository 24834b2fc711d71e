//! Connection and rate budgets, egress addresses, and the scheduler that keeps a batch within
//! them (guide 3.3.4.11: at most 8 persistent connections per user, about 2,000 users per
//! public IP, all of a user's connections from one IP, users spread over several IPs).
//!
//! A batch has one [`Budget`]. Each mailbox asks it for a [`Lease`]: its user's slot on one
//! egress address and a grant of source and destination connections, sized to what the caps
//! leave (at least one per side, at most what the mailbox wants). Every connection takes a
//! [`ConnectionPermit`] of the grant before it connects, bound to the lease's address, and
//! gives it back when it closes; a reconnect waits for its mailbox's connections to close and
//! asks for a new grant ([`Lease::regrant`]), which may be larger than the last. Once its
//! folders are scanned, a mailbox also takes what others freed meanwhile ([`Lease::grow`]),
//! up to what it wants, unless a mailbox waits for the same address.
//!
//! Invariants, at every instant (checked by [`Scheduler::check`] and the property test):
//! - counted connections of a user ≤ `max_connections_per_user`; of an address ≤
//!   `max_connections_per_ip`; users on an address ≤ `max_users_per_ip`; connections of one
//!   login to one server ≤ `max_connections_per_server`; running mailboxes ≤ `parallel`;
//! - a user has one address for the whole batch, and the one recorded in the state store
//!   across runs while that address is still configured;
//! - grants on one address go in FIFO order: a waiting mailbox is never overtaken by a later
//!   one on its address (a mailbox not yet placed, by any later one), so every mailbox runs;
//! - a mailbox holds no connections while it waits, so waiting cannot deadlock.
//!
//! Connections the grant counts are those leaving through the egress address: both sides by
//! default ([`CountedSides`]). Rates (governor) are paced, not counted: connection opens per
//! address and per server, message bytes and messages fetched per address and per mailbox.

mod config;
mod lease;
mod rates;
mod scheduler;

pub use config::{static_segment, BatchOrder, BudgetConfig, BudgetError, EgressMode};
pub use lease::{Budget, ConnectBudget, ConnectionPermit, EgressPeak, Lease, LoadSample, Side};
pub use scheduler::{Caps, CountedSides, Demand, Grant, IpLoad, Scheduler, Ticket};
