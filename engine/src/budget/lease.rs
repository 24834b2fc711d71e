//! The async face of the scheduler: a [`Budget`] shared by a batch's tasks, the [`Lease`] each
//! mailbox holds while it runs, and the per-connection permits that connections carry until
//! they close.

use super::config::BudgetConfig;
use super::rates::{MailboxRates, Rates};
use super::scheduler::{Caps, CountedSides, Demand, Grant, IpLoad, Scheduler, Ticket};
use super::BudgetError;
use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};
use tokio::sync::{oneshot, OwnedSemaphorePermit, Semaphore};

/// The load of one egress address at one instant, for the report.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct LoadSample {
    /// Seconds since the batch started.
    pub at_secs: f64,
    /// The address (`None`: the system's choice).
    pub egress: Option<IpAddr>,
    /// Users on it.
    pub users: u32,
    /// Counted connections granted on it.
    pub connections: u32,
}

/// Peaks of one egress address over the batch.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct EgressPeak {
    /// The address (`None`: the system's choice).
    pub egress: Option<IpAddr>,
    /// Most users at once.
    pub users: u32,
    /// Most counted connections granted at once.
    pub connections: u32,
}

/// A batch's budget: clone it into every mailbox task. See the [module doc](super).
#[derive(Debug, Clone)]
pub struct Budget {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    config: BudgetConfig,
    addresses: Vec<Option<IpAddr>>,
    rates: Rates,
    started: Instant,
    core: Mutex<Core>,
}

#[derive(Debug)]
struct Core {
    scheduler: Scheduler,
    wakers: HashMap<Ticket, oneshot::Sender<Grant>>,
    samples: Vec<LoadSample>,
}

impl Budget {
    /// A budget for a batch of at most `parallel` mailboxes at once; fails on settings that
    /// cannot work (see [`BudgetConfig::validate`]).
    pub fn new(config: &BudgetConfig, parallel: usize) -> Result<Self, BudgetError> {
        let caps: Caps = config.validate(parallel)?;
        let addresses: Vec<Option<IpAddr>> = match config.egress.is_empty() {
            true => vec![None],
            false => config.egress.iter().copied().map(Some).collect(),
        };
        Ok(Budget {
            inner: Arc::new(Inner {
                rates: Rates::new(config),
                started: Instant::now(),
                core: Mutex::new(Core {
                    scheduler: Scheduler::new(caps, config.counted_sides, addresses.len()),
                    wakers: HashMap::new(),
                    samples: Vec::new(),
                }),
                config: config.clone(),
                addresses,
            }),
        })
    }

    /// The settings.
    pub fn config(&self) -> &BudgetConfig {
        &self.inner.config
    }

    /// The egress addresses, by index (`[None]` when the system picks).
    pub fn addresses(&self) -> &[Option<IpAddr>] {
        &self.inner.addresses
    }

    /// The index of `ip` among the egress addresses.
    pub fn index_of(&self, ip: IpAddr) -> Option<usize> {
        self.inner.addresses.iter().position(|a| *a == Some(ip))
    }

    fn core(&self) -> MutexGuard<'_, Core> {
        self.inner.core.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Grants what fits and wakes those it went to. A grant whose waiter is gone goes back.
    fn pump(core: &mut Core) {
        loop {
            let granted = core.scheduler.pump();
            if granted.is_empty() {
                return;
            }
            let mut returned = false;
            for (ticket, grant) in granted {
                let sent = match core.wakers.remove(&ticket) {
                    Some(tx) => tx.send(grant).is_ok(),
                    None => false,
                };
                if !sent {
                    core.scheduler.release_connections(ticket, true);
                    returned = true;
                }
            }
            if !returned {
                return;
            }
        }
    }

    /// Whether `demand` can ever be granted (see [`Scheduler::can_ever_run`]): a mailbox that
    /// cannot must not wait for ever.
    pub fn can_ever_run(&self, demand: &Demand) -> bool {
        self.core().scheduler.can_ever_run(demand)
    }

    /// Waits for `demand`'s turn and its first grant. The lease holds the user's slot on its
    /// address until it is dropped (or [`Lease::finish`]ed).
    pub async fn admit(&self, demand: Demand) -> Lease {
        let (tx, rx) = oneshot::channel();
        let ticket = {
            let mut core = self.core();
            let ticket = core.scheduler.request(demand);
            core.wakers.insert(ticket, tx);
            Self::pump(&mut core);
            ticket
        };
        let mut lease = Lease {
            budget: self.clone(),
            ticket,
            grant: None,
            source: Arc::new(Semaphore::new(0)),
            dest: Arc::new(Semaphore::new(0)),
            held: Mutex::new((0, 0)),
            rates: MailboxRates::new(&self.inner.config),
        };
        // Dropped before the grant (cancelled): the lease's Drop gives back what came.
        let grant = rx.await.expect("the budget answers every waiter");
        lease.take(grant);
        lease
    }

    /// The load of every address now, stamped, and kept for [`Budget::samples`].
    pub fn sample(&self) -> Vec<LoadSample> {
        let at_secs = self.inner.started.elapsed().as_secs_f64();
        let mut core = self.core();
        let now: Vec<LoadSample> = core
            .scheduler
            .loads()
            .iter()
            .zip(&self.inner.addresses)
            .map(|(l, a)| LoadSample {
                at_secs,
                egress: *a,
                users: l.users,
                connections: l.connections,
            })
            .collect();
        core.samples.extend(now.iter().cloned());
        now
    }

    /// Every sample taken so far.
    pub fn samples(&self) -> Vec<LoadSample> {
        self.core().samples.clone()
    }

    /// The peaks of every address so far.
    pub fn peaks(&self) -> Vec<EgressPeak> {
        let core = self.core();
        let loads: &[IpLoad] = core.scheduler.loads();
        loads
            .iter()
            .zip(&self.inner.addresses)
            .map(|(l, a)| EgressPeak {
                egress: *a,
                users: l.peak_users,
                connections: l.peak_connections,
            })
            .collect()
    }

    /// The address `user` has in this batch, once placed.
    pub fn egress_of(&self, user: &str) -> Option<Option<IpAddr>> {
        let ip = self.core().scheduler.ip_of(user)?;
        Some(self.inner.addresses[ip])
    }
}

/// One mailbox's claim on the budget: its user's slot on one egress address and a grant of
/// connections. Each connection takes a permit from the grant ([`Lease::connect_budget`]) and
/// gives it back when it closes.
#[derive(Debug)]
pub struct Lease {
    budget: Budget,
    ticket: Ticket,
    grant: Option<Grant>,
    source: Arc<Semaphore>,
    dest: Arc<Semaphore>,
    /// Connections of the grant still held from the budget (granted minus returned unused).
    held: Mutex<(u32, u32)>,
    rates: Arc<MailboxRates>,
}

/// Which side of a mailbox a connection is on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Side {
    /// The server mail is read from.
    Source,
    /// The server mail is written to.
    Destination,
}

impl Lease {
    fn take(&mut self, grant: Grant) {
        self.source = Arc::new(Semaphore::new(grant.source as usize));
        self.dest = Arc::new(Semaphore::new(grant.dest as usize));
        *self.held() = (grant.source, grant.dest);
        self.grant = Some(grant);
    }

    fn held(&self) -> MutexGuard<'_, (u32, u32)> {
        self.held.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn grant(&self) -> Grant {
        self.grant
            .expect("a lease has a grant between admit and finish")
    }

    /// The egress address every connection of this mailbox on a counted side leaves from
    /// (`None`: the system picks).
    pub fn egress(&self) -> Option<IpAddr> {
        self.budget.inner.addresses[self.grant().ip]
    }

    /// Source connections granted.
    pub fn source_connections(&self) -> usize {
        self.grant().source as usize
    }

    /// Destination connections granted.
    pub fn dest_connections(&self) -> usize {
        self.grant().dest as usize
    }

    /// What a connection of `side` needs to open: its permit, its egress address when the side
    /// counts, and the open-rate limits.
    pub fn connect_budget(&self, side: Side) -> ConnectBudget {
        let sides: CountedSides = self.budget.inner.config.counted_sides;
        let (permits, bound) = match side {
            Side::Source => (self.source.clone(), sides.source()),
            Side::Destination => (self.dest.clone(), sides.dest()),
        };
        ConnectBudget {
            permits,
            local_address: if bound { self.egress() } else { None },
            ip: self.grant().ip,
            budget: self.budget.clone(),
        }
    }

    /// Takes more connections from what is free now, up to what the mailbox wants, unless
    /// another mailbox waits for the address; returns the extra (source, dest) permits, to open
    /// that many more connections.
    pub fn grow(&self) -> (usize, usize) {
        let (source, dest) = {
            let mut core = self.budget.core();
            core.scheduler.grow(self.ticket)
        };
        if source + dest > 0 {
            self.source.add_permits(source as usize);
            self.dest.add_permits(dest as usize);
            let mut held = self.held();
            held.0 += source;
            held.1 += dest;
        }
        (source as usize, dest as usize)
    }

    /// Gives the permits no connection holds now back to the batch: the mailbox opened fewer
    /// connections than granted (fewer folders with mail than destination connections).
    pub fn return_unused(&self) {
        let free_source = self.source.available_permits() as u32;
        let free_dest = self.dest.available_permits() as u32;
        if let Ok(p) = self.source.clone().try_acquire_many_owned(free_source) {
            p.forget();
        }
        if let Ok(p) = self.dest.clone().try_acquire_many_owned(free_dest) {
            p.forget();
        }
        {
            let mut held = self.held();
            held.0 -= free_source;
            held.1 -= free_dest;
        }
        let mut core = self.budget.core();
        core.scheduler
            .return_unused(self.ticket, free_source, free_dest);
        Budget::pump(&mut core);
    }

    /// Waits until every connection of the grant has closed, gives the grant back and waits
    /// for a new one at the lease's original place in line, so a reconnect starts with what the
    /// budget grants now (more when other mailboxes finished meanwhile).
    pub async fn regrant(&mut self) {
        self.close_all().await;
        let (tx, rx) = oneshot::channel();
        {
            let mut core = self.budget.core();
            core.scheduler.release_connections(self.ticket, false);
            core.wakers.insert(self.ticket, tx);
            Budget::pump(&mut core);
        }
        self.grant = None;
        let grant = rx.await.expect("the budget answers every waiter");
        self.take(grant);
    }

    /// Waits for the connections still open (a task being aborted) to close.
    async fn close_all(&mut self) {
        let held = *self.held();
        let wait = async {
            let _ = self.source.clone().acquire_many_owned(held.0).await;
            let _ = self.dest.clone().acquire_many_owned(held.1).await;
        };
        // A connection that never closes (a leaked task) must not hold the batch forever.
        let _ = tokio::time::timeout(Duration::from_secs(60), wait).await;
    }

    /// Ends the lease once its connections have closed: its user's slot and connections go to
    /// whoever waits.
    pub async fn finish(mut self) {
        self.close_all().await;
    }

    /// Waits until `messages` messages of `bytes` may be fetched under the rate limits.
    pub async fn pace_fetch(&self, messages: u64, bytes: u64) {
        let ip = self.grant().ip;
        self.budget
            .inner
            .rates
            .fetch(ip, &self.rates, messages, bytes)
            .await;
    }
}

impl Drop for Lease {
    fn drop(&mut self) {
        let mut core = self.budget.core();
        core.wakers.remove(&self.ticket);
        core.scheduler.release_connections(self.ticket, true);
        Budget::pump(&mut core);
    }
}

/// What one connection needs from the budget: a permit of its mailbox's grant, held until the
/// connection closes, its egress address, and the open-rate limits.
#[derive(Debug, Clone)]
pub struct ConnectBudget {
    permits: Arc<Semaphore>,
    local_address: Option<IpAddr>,
    ip: usize,
    budget: Budget,
}

/// A connection's place in its mailbox's grant: given back when dropped (the connection
/// closed).
#[derive(Debug)]
pub struct ConnectionPermit {
    _permit: OwnedSemaphorePermit,
}

impl ConnectBudget {
    /// The address to bind to before connect (`None`: the system picks).
    pub fn local_address(&self) -> Option<IpAddr> {
        self.local_address
    }

    /// Waits for a permit of the grant and for the open-rate limits of the address and
    /// `server`. A mailbox sizes its connections from the grant, so the wait for a permit is
    /// only ever for a closing connection of the same mailbox.
    pub async fn acquire(&self, server: &str) -> ConnectionPermit {
        let permit = self
            .permits
            .clone()
            .acquire_owned()
            .await
            .expect("a lease's semaphores are never closed");
        self.budget.inner.rates.open(self.ip, server).await;
        ConnectionPermit { _permit: permit }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn demand(user: &str) -> Demand {
        Demand {
            user: user.into(),
            pinned: None,
            source_server: "s".into(),
            dest_server: format!("d {user}"),
            want_source: 4,
            want_dest: 4,
        }
    }

    #[tokio::test]
    async fn unused_permits_go_back_and_a_regrant_gets_what_others_freed() {
        let config = BudgetConfig {
            max_connections_per_ip: 10,
            ..BudgetConfig::default()
        };
        let budget = Budget::new(&config, 10).unwrap();
        let a = budget.admit(demand("a")).await;
        assert_eq!((a.source_connections(), a.dest_connections()), (4, 4));
        let mut b = budget.admit(demand("b")).await;
        assert_eq!((b.source_connections(), b.dest_connections()), (1, 1));
        // a holds one connection per side and gives the rest back; b's reconnect gets them.
        let held = [
            a.connect_budget(Side::Source).acquire("s").await,
            a.connect_budget(Side::Destination).acquire("d").await,
        ];
        a.return_unused();
        b.regrant().await;
        assert_eq!((b.source_connections(), b.dest_connections()), (4, 4));
        assert_eq!(budget.peaks()[0].connections, 10);
        // A waiting mailbox gets in when a finishes (its connections closed).
        let c = tokio::spawn({
            let budget = budget.clone();
            async move { budget.admit(demand("c")).await.source_connections() }
        });
        tokio::task::yield_now().await;
        assert!(!c.is_finished());
        drop(held);
        a.finish().await;
        assert_eq!(c.await.unwrap(), 1);
    }
}
