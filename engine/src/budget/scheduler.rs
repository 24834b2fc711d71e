//! The scheduler's bookkeeping, with no I/O and no clock: who waits, who holds what, and
//! whether a request fits. [`super::Budget`] drives it from async code; the property test at the
//! bottom drives it with random batches and caps.
//!
//! A *lease* is one mailbox's claim: a user slot on one egress address (from admission to the
//! end of the mailbox) and a grant of source and destination connections (from a grant to
//! [`Scheduler::release_connections`]). A mailbox holds no connections while it waits for a
//! grant, so nobody waits while holding what another waits for: the scheduler cannot deadlock.

use std::collections::{BTreeMap, HashMap, HashSet};

/// The caps the scheduler never exceeds. Validated by [`super::BudgetConfig::validate`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Caps {
    /// Counted connections of one user at once (both sides by default).
    pub per_user: u32,
    /// Distinct users on one egress address at once.
    pub users_per_ip: u32,
    /// Counted connections on one egress address at once.
    pub connections_per_ip: u32,
    /// Connections of one login to one server at once (Dovecot's
    /// `mail_max_userip_connections`, Gmail's 15); `None` for no cap.
    pub per_server: Option<u32>,
    /// Mailboxes running at once, over all addresses (the batch's `parallel`).
    pub mailboxes: u32,
}

/// Which connections leave through the egress address, and so count against the per-user and
/// per-address caps and are bound to the address.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum CountedSides {
    /// Source and destination connections (default): both leave through the egress address.
    #[default]
    Both,
    /// Only source connections (the destination is reached another way).
    Source,
    /// Only destination connections.
    Destination,
}

impl CountedSides {
    /// Whether source connections count.
    pub fn source(self) -> bool {
        matches!(self, CountedSides::Both | CountedSides::Source)
    }

    /// Whether destination connections count.
    pub fn dest(self) -> bool {
        matches!(self, CountedSides::Both | CountedSides::Destination)
    }

    /// How many of `source` + `dest` connections count.
    pub fn count(self, source: u32, dest: u32) -> u32 {
        u32::from(self.source()) * source + u32::from(self.dest()) * dest
    }
}

/// What one mailbox asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Demand {
    /// The user (one egress address for all of its connections).
    pub user: String,
    /// The egress address (index) it must use: recorded earlier or given by a static segment;
    /// `None` lets the scheduler pick the address with the most room (pool mode).
    pub pinned: Option<usize>,
    /// The source server and login, for the per-server cap.
    pub source_server: String,
    /// The destination server and login.
    pub dest_server: String,
    /// Source connections wanted (at least 1).
    pub want_source: u32,
    /// Destination connections wanted (at least 1).
    pub want_dest: u32,
}

/// Connections granted to a lease: at least one of each side.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Grant {
    /// The egress address (index).
    pub ip: usize,
    /// Source connections.
    pub source: u32,
    /// Destination connections.
    pub dest: u32,
}

/// A lease's ticket: its place in the FIFO order, kept for its whole life.
pub type Ticket = u64;

/// The load of one egress address.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct IpLoad {
    /// Users holding a slot now.
    pub users: u32,
    /// Counted connections granted now.
    pub connections: u32,
    /// Most users at once.
    pub peak_users: u32,
    /// Most counted connections at once.
    pub peak_connections: u32,
}

#[derive(Debug)]
struct Lease {
    demand: Demand,
    /// Set at admission.
    ip: Option<usize>,
    /// Connections granted now (zero while waiting).
    source: u32,
    dest: u32,
}

/// The scheduler's state. Every method keeps the invariants of the module doc of
/// [`super`]; [`Scheduler::check`] verifies them.
#[derive(Debug)]
pub struct Scheduler {
    caps: Caps,
    sides: CountedSides,
    ips: Vec<IpLoad>,
    /// Every lease not finished, by ticket.
    leases: BTreeMap<Ticket, Lease>,
    /// Tickets waiting for a grant, in FIFO order.
    waiting: BTreeMap<Ticket, ()>,
    /// Per user: its address for the whole batch, and its counted connections and leases now.
    users: HashMap<String, UserLoad>,
    /// Connections per server key now.
    servers: HashMap<String, u32>,
    running: u32,
    next_ticket: Ticket,
}

#[derive(Debug, Default)]
struct UserLoad {
    ip: Option<usize>,
    connections: u32,
    leases: u32,
}

impl Scheduler {
    /// A scheduler of `ips` egress addresses (at least one) under `caps`.
    pub fn new(caps: Caps, sides: CountedSides, ips: usize) -> Self {
        Scheduler {
            caps,
            sides,
            ips: vec![IpLoad::default(); ips.max(1)],
            leases: BTreeMap::new(),
            waiting: BTreeMap::new(),
            users: HashMap::new(),
            servers: HashMap::new(),
            running: 0,
            next_ticket: 0,
        }
    }

    /// Queues a new mailbox; call [`Scheduler::pump`] to see whether it starts.
    pub fn request(&mut self, demand: Demand) -> Ticket {
        let ticket = self.next_ticket;
        self.next_ticket += 1;
        self.leases.insert(
            ticket,
            Lease {
                demand,
                ip: None,
                source: 0,
                dest: 0,
            },
        );
        self.waiting.insert(ticket, ());
        ticket
    }

    /// Gives back every connection of `ticket`'s lease; with `finished`, its user slot too and
    /// the lease ends. Without, the lease waits for a new grant at its original place in line
    /// (a reconnect), which can be larger than the last when others finished meanwhile.
    pub fn release_connections(&mut self, ticket: Ticket, finished: bool) {
        let Some(lease) = self.leases.get_mut(&ticket) else {
            return;
        };
        let (source, dest) = (lease.source, lease.dest);
        lease.source = 0;
        lease.dest = 0;
        let demand = lease.demand.clone();
        let ip = lease.ip;
        self.take_back(ip, &demand, source, dest);
        if !finished {
            if ip.is_some() {
                self.waiting.insert(ticket, ());
            }
            return;
        }
        self.waiting.remove(&ticket);
        self.leases.remove(&ticket);
        let Some(ip) = ip else { return };
        self.running -= 1;
        let user = self
            .users
            .get_mut(&demand.user)
            .expect("a running lease's user");
        user.leases -= 1;
        if user.leases == 0 {
            self.ips[ip].users -= 1;
        }
    }

    /// Grows a running lease's grant towards what it wants, from what is free now, unless a
    /// mailbox waits for the same address (waiting mailboxes come first). Returns the extra
    /// (source, dest) connections granted. This is how a mailbox that started with few
    /// connections gets more when others finish.
    pub fn grow(&mut self, ticket: Ticket) -> (u32, u32) {
        let Some(lease) = self.leases.get(&ticket) else {
            return (0, 0);
        };
        let Some(ip) = lease.ip else { return (0, 0) };
        if self.waiting.contains_key(&ticket)
            || self
                .waiting()
                .iter()
                .any(|(_, w)| w.is_none_or(|w| w == ip))
        {
            return (0, 0);
        }
        let d = &lease.demand;
        let fits = self.fits(d, self.ips[ip].connections);
        let (es, ed) = widen(
            (0, 0),
            (
                d.want_source.saturating_sub(lease.source),
                d.want_dest.saturating_sub(lease.dest),
            ),
            fits,
        );
        if es + ed > 0 {
            let counted = self.sides.count(es, ed);
            let lease = self.leases.get_mut(&ticket).expect("checked above");
            lease.source += es;
            lease.dest += ed;
            let demand = lease.demand.clone();
            if let Some(user) = self.users.get_mut(&demand.user) {
                user.connections += counted;
            }
            let load = &mut self.ips[ip];
            load.connections += counted;
            load.peak_connections = load.peak_connections.max(load.connections);
            *self.servers.entry(demand.source_server).or_default() += es;
            *self.servers.entry(demand.dest_server).or_default() += ed;
        }
        (es, ed)
    }

    /// Gives back `source` and `dest` connections of `ticket`'s grant that the mailbox will not
    /// open (fewer folders than connections): they go to whoever waits.
    pub fn return_unused(&mut self, ticket: Ticket, source: u32, dest: u32) {
        let Some(lease) = self.leases.get_mut(&ticket) else {
            return;
        };
        let source = source.min(lease.source);
        let dest = dest.min(lease.dest);
        lease.source -= source;
        lease.dest -= dest;
        let (ip, demand) = (lease.ip, lease.demand.clone());
        self.take_back(ip, &demand, source, dest);
    }

    fn take_back(&mut self, ip: Option<usize>, demand: &Demand, source: u32, dest: u32) {
        let Some(ip) = ip else { return };
        let counted = self.sides.count(source, dest);
        self.ips[ip].connections -= counted;
        if let Some(user) = self.users.get_mut(&demand.user) {
            user.connections -= counted;
        }
        for (key, n) in [(&demand.source_server, source), (&demand.dest_server, dest)] {
            if let Some(held) = self.servers.get_mut(key) {
                *held -= n;
            }
        }
    }

    /// Grants whatever fits, in FIFO order, and says to whom. A waiting lease blocks every later
    /// one that could take from the same address (all addresses for a lease not yet placed), so
    /// a small mailbox is never overtaken by later ones; leases on other addresses go on.
    pub fn pump(&mut self) -> Vec<(Ticket, Grant)> {
        let mut granted = Vec::new();
        let mut blocked: HashSet<usize> = HashSet::new();
        let tickets: Vec<Ticket> = self.waiting.keys().copied().collect();
        for ticket in tickets {
            if blocked.len() == self.ips.len() {
                break;
            }
            let lease = &self.leases[&ticket];
            let admitted = lease.ip.is_some();
            let fixed = lease
                .ip
                .or_else(|| self.users.get(&lease.demand.user).and_then(|u| u.ip))
                .or(lease.demand.pinned);
            let candidates: Vec<usize> = match fixed {
                Some(ip) => vec![ip],
                None => {
                    let mut all: Vec<usize> = (0..self.ips.len()).collect();
                    all.sort_by_key(|&i| (self.ips[i].users, self.ips[i].connections, i));
                    all
                }
            };
            if !admitted && self.running >= self.caps.mailboxes {
                blocked.extend(candidates);
                continue;
            }
            let open: Vec<usize> = candidates
                .iter()
                .copied()
                .filter(|ip| !blocked.contains(ip))
                .collect();
            let fit = match open.len() == candidates.len() {
                true => open
                    .iter()
                    .find_map(|&ip| self.fit(ticket, ip).map(|(s, d)| (ip, s, d))),
                false => None,
            };
            match fit {
                Some((ip, source, dest)) => {
                    self.apply(ticket, ip, source, dest);
                    granted.push((ticket, Grant { ip, source, dest }));
                }
                None => blocked.extend(candidates),
            }
        }
        granted
    }

    /// The largest grant `ticket` can have on `ip` now, at least one connection per side.
    fn fit(&self, ticket: Ticket, ip: usize) -> Option<(u32, u32)> {
        let lease = &self.leases[&ticket];
        let d = &lease.demand;
        let load = &self.ips[ip];
        let user = self.users.get(&d.user);
        let user_here = user.is_some_and(|u| u.leases > 0);
        if lease.ip.is_none() && !user_here && load.users >= self.caps.users_per_ip {
            return None;
        }
        let fits = self.fits(d, load.connections);
        if !fits(1, 1) {
            return None;
        }
        Some(widen(
            (1, 1),
            (d.want_source.max(1), d.want_dest.max(1)),
            fits,
        ))
    }

    /// Whether `s` source and `t` destination connections more for `d` stay within the caps
    /// now, with `ip_connections` counted on its address: per user and per address (the
    /// counted sides), and per server (both sides, once when they are the same server).
    fn fits<'a>(&'a self, d: &'a Demand, ip_connections: u32) -> impl Fn(u32, u32) -> bool + 'a {
        let user_held = self.users.get(&d.user).map_or(0, |u| u.connections);
        let room = (self.caps.per_user.saturating_sub(user_held))
            .min(self.caps.connections_per_ip.saturating_sub(ip_connections));
        let server_room = |key: &str| {
            self.caps.per_server.map_or(u32::MAX, |cap| {
                cap.saturating_sub(self.servers.get(key).map_or(0, |n| *n))
            })
        };
        let same_server = d.source_server == d.dest_server;
        let (src_room, dst_room) = (server_room(&d.source_server), server_room(&d.dest_server));
        move |s: u32, t: u32| {
            self.sides.count(s, t) <= room
                && match same_server {
                    true => s + t <= src_room,
                    false => s <= src_room && t <= dst_room,
                }
        }
    }

    fn apply(&mut self, ticket: Ticket, ip: usize, source: u32, dest: u32) {
        self.waiting.remove(&ticket);
        let counted = self.sides.count(source, dest);
        let lease = self.leases.get_mut(&ticket).expect("a waiting lease");
        let newly_admitted = lease.ip.is_none();
        lease.ip = Some(ip);
        lease.source = source;
        lease.dest = dest;
        let demand = lease.demand.clone();
        let user = self.users.entry(demand.user.clone()).or_default();
        user.ip = Some(ip);
        user.connections += counted;
        let load = &mut self.ips[ip];
        if newly_admitted {
            self.running += 1;
            user.leases += 1;
            if user.leases == 1 {
                load.users += 1;
            }
        }
        load.connections += counted;
        load.peak_users = load.peak_users.max(load.users);
        load.peak_connections = load.peak_connections.max(load.connections);
        *self.servers.entry(demand.source_server).or_default() += source;
        *self.servers.entry(demand.dest_server).or_default() += dest;
    }

    /// Whether `demand` fits on an idle address: false only when the per-server cap leaves no
    /// room for one connection per side (1, with the same login on the same server on both
    /// sides), since [`super::BudgetConfig::validate`] rules out every other impossible cap.
    pub fn can_ever_run(&self, demand: &Demand) -> bool {
        let per_side = match demand.source_server == demand.dest_server {
            true => 2,
            false => 1,
        };
        self.caps.per_server.is_none_or(|cap| cap >= per_side)
            && self.sides.count(1, 1) <= self.caps.per_user.min(self.caps.connections_per_ip)
            && self.caps.users_per_ip >= 1
    }

    /// The load of every address, by index.
    pub fn loads(&self) -> &[IpLoad] {
        &self.ips
    }

    /// The address `user` has in this batch, once placed.
    pub fn ip_of(&self, user: &str) -> Option<usize> {
        self.users.get(user).and_then(|u| u.ip)
    }

    /// Whether `ticket` waits for a grant.
    pub fn is_waiting(&self, ticket: Ticket) -> bool {
        self.waiting.contains_key(&ticket)
    }

    /// Tickets waiting, in order, with the address each is bound to (`None`: any).
    pub fn waiting(&self) -> Vec<(Ticket, Option<usize>)> {
        self.waiting
            .keys()
            .map(|t| {
                let l = &self.leases[t];
                let ip =
                    l.ip.or_else(|| self.ip_of(&l.demand.user))
                        .or(l.demand.pinned);
                (*t, ip)
            })
            .collect()
    }

    /// Leases not finished.
    pub fn unfinished(&self) -> usize {
        self.leases.len()
    }

    /// Recounts everything from the leases and says which invariant broke, if one did.
    pub fn check(&self) -> Result<(), String> {
        let mut ip_conns = vec![0u32; self.ips.len()];
        let mut ip_users: Vec<HashSet<&str>> = vec![HashSet::new(); self.ips.len()];
        let mut user_conns: HashMap<&str, u32> = HashMap::new();
        let mut servers: HashMap<&str, u32> = HashMap::new();
        let mut running = 0;
        for lease in self.leases.values() {
            let Some(ip) = lease.ip else { continue };
            running += 1;
            let counted = self.sides.count(lease.source, lease.dest);
            ip_conns[ip] += counted;
            ip_users[ip].insert(&lease.demand.user);
            *user_conns.entry(&lease.demand.user).or_default() += counted;
            *servers.entry(&lease.demand.source_server).or_default() += lease.source;
            *servers.entry(&lease.demand.dest_server).or_default() += lease.dest;
            if self.ip_of(&lease.demand.user) != Some(ip) {
                return Err(format!("user {} on two addresses", lease.demand.user));
            }
        }
        if running > self.caps.mailboxes {
            return Err(format!("{running} mailboxes running"));
        }
        for (i, load) in self.ips.iter().enumerate() {
            if load.connections != ip_conns[i] || load.users as usize != ip_users[i].len() {
                return Err(format!("address {i}: counters drifted"));
            }
            if ip_conns[i] > self.caps.connections_per_ip {
                return Err(format!("address {i}: {} connections", ip_conns[i]));
            }
            if ip_users[i].len() > self.caps.users_per_ip as usize {
                return Err(format!("address {i}: {} users", ip_users[i].len()));
            }
        }
        if let Some((user, n)) = user_conns.iter().find(|(_, n)| **n > self.caps.per_user) {
            return Err(format!("user {user}: {n} connections"));
        }
        if let Some(cap) = self.caps.per_server {
            if let Some((key, n)) = servers.iter().find(|(_, n)| **n > cap) {
                return Err(format!("server {key}: {n} connections"));
            }
        }
        Ok(())
    }
}

/// Grows (source, dest) from `start` one connection at a time, alternating sides, while each
/// stays below its `max` and `fits` allows it: the largest balanced grant the caps leave.
fn widen(start: (u32, u32), max: (u32, u32), fits: impl Fn(u32, u32) -> bool) -> (u32, u32) {
    let (mut s, mut t) = start;
    loop {
        let more_s = s < max.0 && fits(s + 1, t);
        if more_s {
            s += 1;
        }
        let more_t = t < max.1 && fits(s, t + 1);
        if more_t {
            t += 1;
        }
        if !more_s && !more_t {
            return (s, t);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn demand(user: &str, pinned: Option<usize>, want: (u32, u32)) -> Demand {
        Demand {
            user: user.into(),
            pinned,
            source_server: "src".into(),
            dest_server: format!("dst {user}"),
            want_source: want.0,
            want_dest: want.1,
        }
    }

    fn caps(per_user: u32, users_per_ip: u32, connections_per_ip: u32) -> Caps {
        Caps {
            per_user,
            users_per_ip,
            connections_per_ip,
            per_server: None,
            mailboxes: 1000,
        }
    }

    #[test]
    fn a_grant_shrinks_to_what_the_address_has_left_and_grows_on_regrant() {
        let mut s = Scheduler::new(caps(8, 10, 10), CountedSides::Both, 1);
        let a = s.request(demand("a", None, (4, 4)));
        let b = s.request(demand("b", None, (4, 4)));
        let granted = s.pump();
        assert_eq!(
            granted[0],
            (
                a,
                Grant {
                    ip: 0,
                    source: 4,
                    dest: 4
                }
            )
        );
        assert_eq!(
            granted[1],
            (
                b,
                Grant {
                    ip: 0,
                    source: 1,
                    dest: 1
                }
            )
        );
        s.release_connections(a, true);
        assert!(
            s.pump().is_empty(),
            "b is running; it grows only when it asks again"
        );
        s.release_connections(b, false);
        assert_eq!(
            s.pump(),
            [(
                b,
                Grant {
                    ip: 0,
                    source: 4,
                    dest: 4
                }
            )]
        );
        s.check().unwrap();
    }

    #[test]
    fn a_waiting_mailbox_is_not_overtaken_on_its_address() {
        let mut s = Scheduler::new(caps(8, 10, 10), CountedSides::Both, 1);
        let big = s.request(demand("big", None, (4, 4)));
        let second = s.request(demand("second", None, (4, 4)));
        let small = s.request(demand("small", None, (1, 1)));
        // big takes 8 of 10, second the 2 left; small waits.
        let g: Vec<Ticket> = s.pump().into_iter().map(|(t, _)| t).collect();
        assert_eq!(g, [big, second]);
        assert!(s.is_waiting(small));
        // A later mailbox does not overtake the waiting one when connections free up.
        let later = s.request(demand("later", None, (1, 1)));
        s.release_connections(second, true);
        let g: Vec<Ticket> = s.pump().into_iter().map(|(t, _)| t).collect();
        assert_eq!(g, [small]);
        assert!(s.is_waiting(later));
    }

    #[test]
    fn the_per_server_cap_counts_one_login_on_one_server() {
        let mut c = caps(8, 10, 100);
        c.per_server = Some(5);
        let mut s = Scheduler::new(c, CountedSides::Both, 1);
        let a = s.request(demand("a", None, (4, 4)));
        let b = s.request(demand("b", None, (4, 4)));
        let g = s.pump();
        // Both read from "src": 4 + 1 source connections; each has its own destination login.
        assert_eq!(g[0].1.source, 4);
        assert_eq!(g[1].1.source, 1);
        assert_eq!(g[1].1.dest, 4);
        s.check().unwrap();
        let _ = (a, b);
    }

    #[test]
    fn a_running_mailbox_grows_when_others_finish_unless_someone_waits() {
        let mut s = Scheduler::new(caps(8, 10, 10), CountedSides::Both, 1);
        let a = s.request(demand("a", None, (4, 4)));
        let b = s.request(demand("b", None, (4, 4)));
        assert_eq!(s.pump().len(), 2); // a: 4 + 4, b: 1 + 1
        let c = s.request(demand("c", None, (1, 1)));
        s.pump();
        assert!(s.is_waiting(c));
        s.release_connections(a, true);
        assert_eq!(s.grow(b), (0, 0), "c waits: it comes first");
        assert_eq!(s.pump().len(), 1);
        assert_eq!(s.grow(b), (3, 3), "8 of 10 left after c: b grows to 4 + 4");
        s.check().unwrap();
    }

    #[test]
    fn one_login_on_one_server_with_a_cap_of_one_can_never_run() {
        let mut c = caps(8, 10, 100);
        c.per_server = Some(1);
        let s = Scheduler::new(c, CountedSides::Both, 1);
        let mut same = demand("a", None, (4, 4));
        same.dest_server = same.source_server.clone();
        assert!(!s.can_ever_run(&same));
        assert!(s.can_ever_run(&demand("a", None, (4, 4))));
    }

    #[test]
    fn uncounted_sides_do_not_take_the_address() {
        let mut s = Scheduler::new(caps(4, 10, 4), CountedSides::Source, 1);
        s.request(demand("a", None, (4, 8)));
        let g = s.pump();
        assert_eq!((g[0].1.source, g[0].1.dest), (4, 8));
        assert_eq!(s.loads()[0].connections, 4);
        s.check().unwrap();
    }

    /// One step of a random run.
    #[derive(Debug, Clone)]
    enum Step {
        /// Finish the n-th running lease (modulo).
        Finish(usize),
        /// The n-th running lease reconnects.
        Reconnect(usize),
        /// The n-th running lease returns part of its grant unused.
        ReturnUnused(usize, u32, u32),
        /// The n-th running lease asks for more connections.
        Grow(usize),
    }

    fn step() -> impl Strategy<Value = Step> {
        prop_oneof![
            3 => any::<usize>().prop_map(Step::Finish),
            1 => any::<usize>().prop_map(Step::Reconnect),
            1 => (any::<usize>(), 0..3u32, 0..3u32).prop_map(|(n, s, d)| Step::ReturnUnused(n, s, d)),
            1 => any::<usize>().prop_map(Step::Grow),
        ]
    }

    #[derive(Debug, Clone)]
    struct Case {
        caps: Caps,
        sides: CountedSides,
        ips: usize,
        /// (user index, pinned address, wanted source, wanted dest).
        mailboxes: Vec<(usize, Option<usize>, u32, u32)>,
        steps: Vec<Step>,
    }

    fn case() -> impl Strategy<Value = Case> {
        (
            1..5usize,
            prop_oneof![
                Just(CountedSides::Both),
                Just(CountedSides::Source),
                Just(CountedSides::Destination)
            ],
        )
            .prop_flat_map(|(ips, sides)| {
                let min = sides.count(1, 1);
                (
                    (
                        min..10u32,
                        1..5u32,
                        min..30u32,
                        prop::option::of(1..6u32),
                        1..12u32,
                    ),
                    prop::collection::vec(
                        // A user's pin is the same for all of its mailboxes (a recorded
                        // address, or its first mailbox's static segment).
                        (0..25usize, any::<bool>(), 1..6u32, 1..6u32)
                            .prop_map(move |(u, pin, s, d)| (u, pin.then_some(u % ips), s, d)),
                        1..60,
                    ),
                    prop::collection::vec(step(), 0..200),
                )
                    .prop_map(
                        move |((per_user, upi, cpi, per_server, mailboxes), m, steps)| Case {
                            caps: Caps {
                                per_user,
                                users_per_ip: upi,
                                connections_per_ip: cpi.max(min),
                                per_server: per_server.map(|p| p.max(2)),
                                mailboxes,
                            },
                            sides,
                            ips,
                            mailboxes: m,
                            steps,
                        },
                    )
            })
    }

    /// Grants of one pump are FIFO per address: no ticket waiting afterwards, bound to the
    /// granted address or to none, is older than a granted one.
    fn check_fifo(s: &Scheduler, granted: &[(Ticket, Grant)]) -> Result<(), String> {
        let waiting = s.waiting();
        for (ticket, grant) in granted {
            if let Some((older, _)) = waiting
                .iter()
                .find(|(w, ip)| w < ticket && ip.is_none_or(|ip| ip == grant.ip))
            {
                return Err(format!("{ticket} overtook {older} on address {}", grant.ip));
            }
        }
        Ok(())
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(400))]

        #[test]
        fn invariants_hold_and_every_mailbox_runs(case in case()) {
            let mut s = Scheduler::new(case.caps, case.sides, case.ips);
            let mut placed: HashMap<String, usize> = HashMap::new();
            let mut running: Vec<Ticket> = Vec::new();
            let mut finished = 0usize;
            for &(user, pinned, ws, wd) in &case.mailboxes {
                s.request(Demand {
                    user: format!("u{user}"),
                    pinned,
                    // Users share a source server (and its cap); each has its own destination.
                    source_server: "source".into(),
                    dest_server: format!("dest u{user}"),
                    want_source: ws,
                    want_dest: wd,
                });
            }
            let mut pump = |s: &mut Scheduler, running: &mut Vec<Ticket>| -> Result<(), TestCaseError> {
                let granted = s.pump();
                check_fifo(s, &granted).map_err(TestCaseError::fail)?;
                for (ticket, grant) in &granted {
                    let user = s.leases[ticket].demand.user.clone();
                    let ip = *placed.entry(user.clone()).or_insert(grant.ip);
                    prop_assert_eq!(ip, grant.ip, "user {} moved address", user);
                    if let Some(pin) = s.leases[ticket].demand.pinned {
                        // A pin holds unless the user was already placed elsewhere this batch.
                        prop_assert!(pin == grant.ip || placed[&user] == grant.ip);
                    }
                    prop_assert!(grant.source >= 1 && grant.dest >= 1);
                    if !running.contains(ticket) {
                        running.push(*ticket);
                    }
                }
                s.check().map_err(TestCaseError::fail)?;
                Ok(())
            };
            pump(&mut s, &mut running)?;
            for st in &case.steps {
                let active: Vec<Ticket> = running.iter().copied().filter(|t| !s.is_waiting(*t)).collect();
                if active.is_empty() {
                    break;
                }
                match *st {
                    Step::Finish(n) => {
                        let t = active[n % active.len()];
                        s.release_connections(t, true);
                        running.retain(|r| *r != t);
                        finished += 1;
                    }
                    Step::Reconnect(n) => s.release_connections(active[n % active.len()], false),
                    Step::ReturnUnused(n, a, b) => s.return_unused(active[n % active.len()], a, b),
                    Step::Grow(n) => {
                        let t = active[n % active.len()];
                        let ip = s.leases[&t].ip.unwrap();
                        let waiting_here = s.waiting().iter().any(|(_, w)| w.is_none_or(|w| w == ip));
                        let grown = s.grow(t);
                        prop_assert!(!waiting_here || grown == (0, 0), "grew past a waiting mailbox");
                        let l = &s.leases[&t];
                        prop_assert!(l.source <= l.demand.want_source && l.dest <= l.demand.want_dest);
                    }
                }
                pump(&mut s, &mut running)?;
            }
            // Finishing whatever runs lets everything else run: nothing starves.
            let mut rounds = 0;
            while s.unfinished() > 0 {
                rounds += 1;
                prop_assert!(rounds <= case.mailboxes.len() * 2 + 2, "stuck: {:?}", s.waiting());
                let active: Vec<Ticket> = running.iter().copied().filter(|t| !s.is_waiting(*t)).collect();
                prop_assert!(!active.is_empty(), "nothing runs while {:?} wait", s.waiting());
                for t in active {
                    s.release_connections(t, true);
                    running.retain(|r| *r != t);
                    finished += 1;
                }
                pump(&mut s, &mut running)?;
            }
            prop_assert_eq!(finished, case.mailboxes.len());
        }
    }
}
