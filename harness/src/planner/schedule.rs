//! The schedule: batches, egress IPs, how long it all takes, and what holds it back.
//!
//! Batching. Mailboxes are sorted largest first and cut into batches of at most
//! [`Budget::batch_size`] (150, the seeds' recommendation) and never more than one IP's user
//! budget, so similar sizes travel together and the largest start first. All users of a batch
//! go out through one egress IP (all of a user's connections must share an IP).
//!
//! Running. Batches start in order as soon as an egress IP has room for the whole batch
//! (at most [`Budget::users_per_ip`] concurrent users per IP, 2,000 in the guide), the run's
//! concurrency cap allows, and the link has spare capacity (more mailboxes on a full link would
//! only delay the largest ones, which started first); all mailboxes of a batch run at once. Each mailbox moves at
//! its own speed from the [`VelocityModel`] until the link is full; then the link is shared
//! max-min fairly (small demands are met, the rest split evenly). The run is simulated event by
//! event (a mailbox finishing), so the tail of a large mailbox shows. Every interval is booked to
//! the limit that held then: the link full ([`Bottleneck::Bandwidth`]), batches waiting for room
//! while the link has spare capacity ([`Bottleneck::Budget`]), or the slowest running mailbox's
//! own limit (throttling, RTT, or its copy speed). The bottleneck is the one held longest.
//!
//! Invariants (unit-tested): every mailbox is in exactly one batch; no batch exceeds the cap;
//! no IP carries more than `users_per_ip` users at once; on the cases tested, more bandwidth or
//! more IPs never predict a longer run, nor a longer RTT a shorter one (beyond a millionth).

use super::inventory::{Inventory, MailboxSize};
use super::model::{ProfileLimits, VelocityModel};
use super::units::{format_bandwidth, format_bytes, format_duration};
use serde::{Serialize, Serializer};
use std::collections::VecDeque;
use std::time::Duration;

/// The network between the copier and the servers.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Link {
    /// Usable link speed in bits per second (shared by all egress IPs).
    pub bandwidth_bits_per_s: f64,
    /// Round-trip time to the far server.
    #[serde(serialize_with = "seconds")]
    pub rtt: Duration,
    /// Public IPv4 addresses the copier's traffic leaves from.
    pub egress_ips: u32,
}

/// The budgets the schedule never exceeds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Budget {
    /// Connections one user may hold, source and destination together (guide 3.3.4.11: 8).
    /// A mailbox uses half of them on each side.
    pub connections_per_user: u32,
    /// Concurrent users per egress IP (guide 3.3.4.11: 2,000, for ~64k ports).
    pub users_per_ip: u32,
    /// Mailboxes per batch (the seeds recommend 150).
    pub batch_size: u32,
    /// Mailboxes moved at the same time across the run (the engine's `--parallel`), if capped.
    pub max_concurrent_mailboxes: Option<u32>,
}

impl Default for Budget {
    fn default() -> Self {
        Budget {
            connections_per_user: 8,
            users_per_ip: 2000,
            batch_size: 150,
            max_concurrent_mailboxes: None,
        }
    }
}

impl Budget {
    /// Connections a mailbox opens on each side.
    pub fn connections_per_side(&self) -> u32 {
        (self.connections_per_user / 2).max(1)
    }

    /// The largest batch the budgets allow: the batch size, one IP's users, the run's cap.
    pub fn batch_cap(&self) -> u32 {
        let cap = self.batch_size.min(self.users_per_ip);
        self.max_concurrent_mailboxes
            .map_or(cap, |m| cap.min(m))
            .max(1)
    }
}

/// What limits the migration's speed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "kebab-case")]
#[non_exhaustive]
pub enum Bottleneck {
    /// The link is full: more bandwidth helps, more IPs do not.
    Bandwidth,
    /// Messages wait on the round trip: a closer copier (or deeper pipelines) helps.
    Rtt,
    /// The server caps each user's rate: more users at once (IPs, batches) help.
    Throttling,
    /// Mailboxes wait for room under the per-IP user budget or the concurrency cap: more
    /// egress IPs help.
    Budget,
    /// The largest mailboxes alone take that long at full speed: nothing outside helps.
    MailboxSpeed,
}

impl Bottleneck {
    /// Every variant, in reporting order.
    pub const ALL: [Bottleneck; 5] = [
        Bottleneck::Bandwidth,
        Bottleneck::Rtt,
        Bottleneck::Throttling,
        Bottleneck::Budget,
        Bottleneck::MailboxSpeed,
    ];

    /// A short name for tables.
    pub fn name(self) -> &'static str {
        match self {
            Bottleneck::Bandwidth => "bandwidth",
            Bottleneck::Rtt => "rtt",
            Bottleneck::Throttling => "throttling",
            Bottleneck::Budget => "budget",
            Bottleneck::MailboxSpeed => "mailbox-speed",
        }
    }
}

/// Bytes moved by a moment of the run (for the charts).
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct ProgressPoint {
    /// Seconds since the migration started.
    pub at_s: f64,
    /// Bytes moved by then.
    pub bytes: f64,
}

/// One batch: mailboxes started together through one egress IP.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Batch {
    /// 1-based batch number, in start order.
    pub number: u32,
    /// The egress IP it uses (0-based).
    pub egress_ip: u32,
    /// Its mailboxes' source identities.
    pub mailboxes: Vec<String>,
    /// Its messages.
    pub messages: u64,
    /// Its bytes.
    pub bytes: u64,
    /// When it starts, from the start of the migration.
    #[serde(serialize_with = "seconds")]
    pub start: Duration,
    /// How long until its last mailbox is done.
    #[serde(serialize_with = "seconds")]
    pub duration: Duration,
    /// Its own bytes moved over time (start, each of its mailboxes finishing).
    pub progress: Vec<ProgressPoint>,
}

/// What one egress IP carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct IpLoad {
    /// 0-based IP number.
    pub egress_ip: u32,
    /// Batches sent through it.
    pub batches: u32,
    /// Mailboxes sent through it.
    pub mailboxes: u32,
    /// Bytes sent through it.
    pub bytes: u64,
    /// Most users through it at once (never above [`Budget::users_per_ip`]).
    pub peak_users: u32,
    /// Most connections through it at once (source and destination).
    pub peak_connections: u32,
}

/// Whether the plan fits a migration window, and what would make it fit.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct WindowFit {
    /// The window.
    #[serde(serialize_with = "seconds")]
    pub window: Duration,
    /// `true` when the whole migration ends inside it.
    pub fits: bool,
    /// Fewest egress IPs (at the given bandwidth) that fit, if at most 64 do.
    pub ips_needed: Option<u32>,
    /// Least bandwidth in bits/s (with the given IPs) that fits, if up to 100 Gbit/s does.
    pub bandwidth_needed_bits_per_s: Option<f64>,
}

/// The capacity plan: how long, in which batches, through which IPs, and what limits it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Plan {
    /// The server profile planned for.
    pub profile: String,
    /// The link planned for.
    pub link: Link,
    /// The budgets planned with.
    pub budget: Budget,
    /// Mailboxes planned.
    pub mailboxes: u32,
    /// All messages.
    pub messages: u64,
    /// All bytes.
    pub bytes: u64,
    /// From the first batch's start to the last mailbox done.
    #[serde(serialize_with = "seconds")]
    pub total: Duration,
    /// The batches, in start order.
    pub batches: Vec<Batch>,
    /// Load per egress IP.
    pub ips: Vec<IpLoad>,
    /// The limit that held longest.
    pub bottleneck: Bottleneck,
    /// One sentence on the bottleneck, with numbers.
    pub explanation: String,
    /// Share of the run (0..1) each limit held, in [`Bottleneck::ALL`] order.
    pub limit_shares: Vec<(Bottleneck, f64)>,
    /// Bytes moved over time, across all batches.
    pub timeline: Vec<ProgressPoint>,
    /// The window check, when a window was given.
    pub window: Option<WindowFit>,
}

/// Durations of the same migration over other links: `totals[i][j]` is for `ips[i]` and
/// `bandwidths_bits_per_s[j]`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct WhatIf {
    /// Egress IP counts tried.
    pub ips: Vec<u32>,
    /// Bandwidths tried, bits per second.
    pub bandwidths_bits_per_s: Vec<f64>,
    /// Total durations in seconds, by IP count then bandwidth.
    pub totals_s: Vec<Vec<f64>>,
}

/// Plans the migration of `inventory` over `link` within `budget`, using `model` for a server
/// of `profile`. Pure: no I/O, deterministic. With a `window`, also says whether it fits and what
/// would make it fit.
pub fn plan(
    inventory: &Inventory,
    link: &Link,
    budget: &Budget,
    model: &VelocityModel,
    profile: &ProfileLimits,
    window: Option<Duration>,
) -> Plan {
    let mut plan = simulate(inventory, link, budget, model, profile);
    plan.window =
        window.map(|window| fit_window(inventory, link, budget, model, profile, &plan, window));
    plan
}

/// Total durations for every combination of `ips` and `bandwidths_bits_per_s` (RTT as `link`).
pub fn what_if(
    inventory: &Inventory,
    link: &Link,
    budget: &Budget,
    model: &VelocityModel,
    profile: &ProfileLimits,
    ips: &[u32],
    bandwidths_bits_per_s: &[f64],
) -> WhatIf {
    let totals_s = ips
        .iter()
        .map(|&egress_ips| {
            bandwidths_bits_per_s
                .iter()
                .map(|&bandwidth_bits_per_s| {
                    let other = Link {
                        bandwidth_bits_per_s,
                        egress_ips,
                        ..*link
                    };
                    simulate(inventory, &other, budget, model, profile)
                        .total
                        .as_secs_f64()
                })
                .collect()
        })
        .collect();
    WhatIf {
        ips: ips.to_vec(),
        bandwidths_bits_per_s: bandwidths_bits_per_s.to_vec(),
        totals_s,
    }
}

/// Cuts the inventory into batches: largest mailboxes first, at most `cap` per batch.
pub fn batches(inventory: &Inventory, cap: u32) -> Vec<Vec<&MailboxSize>> {
    let mut sorted: Vec<&MailboxSize> = inventory.mailboxes.iter().collect();
    sorted.sort_by(|a, b| {
        b.bytes
            .cmp(&a.bytes)
            .then(b.messages.cmp(&a.messages))
            .then(a.source_identity.cmp(&b.source_identity))
    });
    sorted
        .chunks(cap.max(1) as usize)
        .map(<[&MailboxSize]>::to_vec)
        .collect()
}

fn fit_window(
    inventory: &Inventory,
    link: &Link,
    budget: &Budget,
    model: &VelocityModel,
    profile: &ProfileLimits,
    planned: &Plan,
    window: Duration,
) -> WindowFit {
    let fits_with = |link: &Link| simulate(inventory, link, budget, model, profile).total <= window;
    let fits = planned.total <= window;
    let ips_needed = if fits {
        Some(link.egress_ips)
    } else {
        smallest(link.egress_ips + 1, 64, |n| {
            fits_with(&Link {
                egress_ips: n,
                ..*link
            })
        })
    };
    let bandwidth_needed_bits_per_s = if fits {
        Some(link.bandwidth_bits_per_s)
    } else {
        // Whole Mbit/s steps: a bisection over integers.
        let from = (link.bandwidth_bits_per_s / 1e6).ceil() as u32 + 1;
        smallest(from, 100_000, |mbit| {
            fits_with(&Link {
                bandwidth_bits_per_s: f64::from(mbit) * 1e6,
                ..*link
            })
        })
        .map(|mbit| f64::from(mbit) * 1e6)
    };
    WindowFit {
        window,
        fits,
        ips_needed,
        bandwidth_needed_bits_per_s,
    }
}

/// The smallest `n` in `from..=to` with `ok(n)`, assuming `ok` is monotone; `None` if `ok(to)`
/// fails. Doubling then bisection, so a few dozen plans at most.
fn smallest(from: u32, to: u32, ok: impl Fn(u32) -> bool) -> Option<u32> {
    if from > to || !ok(to) {
        return None;
    }
    let (mut bad, mut good) = (from.saturating_sub(1), to);
    let mut probe = from;
    while probe < good {
        if ok(probe) {
            good = probe;
            break;
        }
        bad = probe;
        probe = probe.saturating_mul(2).min(good);
    }
    while good - bad > 1 {
        let mid = bad + (good - bad) / 2;
        if ok(mid) {
            good = mid;
        } else {
            bad = mid;
        }
    }
    Some(good.max(from))
}

/// One mailbox while it runs.
struct Running {
    batch: usize,
    ip: usize,
    /// Share of the mailbox still to move (1 → 0).
    left: f64,
    /// Share moved per second at its own full speed.
    speed: f64,
    /// Bytes per second at full speed.
    demand: f64,
    bytes: f64,
    throttled: bool,
    rtt_share: f64,
}

/// The event-by-event run (see the module doc), without the window check.
fn simulate(
    inventory: &Inventory,
    link: &Link,
    budget: &Budget,
    model: &VelocityModel,
    profile: &ProfileLimits,
) -> Plan {
    let ip_count = link.egress_ips.max(1) as usize;
    let cap = budget.batch_cap();
    let groups = batches(inventory, cap);
    let per_side = budget.connections_per_side();
    let capacity = model.link_bytes_per_s(link.bandwidth_bits_per_s).max(1.0);

    let mut out: Vec<Batch> = groups
        .iter()
        .map(|group| Batch {
            number: 0,
            egress_ip: 0,
            mailboxes: group.iter().map(|m| m.source_identity.clone()).collect(),
            messages: group.iter().map(|m| m.messages).sum(),
            bytes: group.iter().map(|m| m.bytes).sum(),
            start: Duration::ZERO,
            duration: Duration::ZERO,
            progress: Vec::new(),
        })
        .collect();
    let mut ips: Vec<IpLoad> = (0..ip_count)
        .map(|i| IpLoad {
            egress_ip: i as u32,
            batches: 0,
            mailboxes: 0,
            bytes: 0,
            peak_users: 0,
            peak_connections: 0,
        })
        .collect();
    let mut users_on = vec![0u32; ip_count];
    let mut unfinished = vec![0usize; groups.len()];
    let mut moved = vec![0f64; groups.len()];
    let mut pending: VecDeque<usize> = (0..groups.len()).collect();
    let mut running: Vec<Running> = Vec::new();
    let mut shares = [0f64; 5];
    let mut timeline = vec![ProgressPoint {
        at_s: 0.0,
        bytes: 0.0,
    }];
    let (mut now, mut total_moved) = (0f64, 0f64);
    let mut started_order = 0u32;

    loop {
        // Start every batch (in order) that has room on the least loaded IP.
        while let Some(&b) = pending.front() {
            let size = groups[b].len() as u32;
            let ip = (0..ip_count).min_by_key(|&i| (users_on[i], i)).unwrap_or(0);
            let room_on_ip = users_on[ip] + size <= budget.users_per_ip.max(size);
            let room_in_run = budget
                .max_concurrent_mailboxes
                .is_none_or(|m| running.len() as u32 + size <= m.max(size));
            // Starting more than the link carries would only split it thinner and hold back
            // the largest mailboxes, which started first: wait for spare capacity.
            let link_has_room = running.iter().map(|r| r.demand).sum::<f64>() < capacity;
            if !(room_on_ip && room_in_run && link_has_room) {
                break;
            }
            pending.pop_front();
            started_order += 1;
            let batch = &mut out[b];
            batch.number = started_order;
            batch.egress_ip = ip as u32;
            batch.start = Duration::from_secs_f64(now);
            batch.progress.push(ProgressPoint {
                at_s: now,
                bytes: 0.0,
            });
            let load = &mut ips[ip];
            load.batches += 1;
            load.mailboxes += size;
            load.bytes += batch.bytes;
            for mailbox in &groups[b] {
                let messages = mailbox.messages as f64;
                let bytes = mailbox.bytes as f64;
                if messages <= 0.0 && bytes <= 0.0 {
                    continue;
                }
                let mean = if messages > 0.0 {
                    bytes / messages
                } else {
                    bytes
                };
                let rate = model.mailbox_rate(profile, mean, link.rtt, per_side);
                // Start-up is spread over the copy: the same duration alone, a slightly
                // lower bandwidth demand than a start-then-copy profile would have.
                let alone_s = model.setup_seconds(link.rtt) + messages.max(1.0) / rate.msgs_per_s;
                running.push(Running {
                    batch: b,
                    ip,
                    left: 1.0,
                    speed: 1.0 / alone_s,
                    demand: bytes / alone_s,
                    bytes,
                    throttled: rate.throttled,
                    rtt_share: rate.rtt_share,
                });
                unfinished[b] += 1;
                users_on[ip] += 1;
            }
            let users = users_on[ip];
            ips[ip].peak_users = ips[ip].peak_users.max(users);
            ips[ip].peak_connections = ips[ip].peak_connections.max(users * per_side * 2);
            if unfinished[b] == 0 {
                // Nothing to move: done as it starts.
                out[b].progress.push(ProgressPoint {
                    at_s: now,
                    bytes: 0.0,
                });
            }
        }
        if running.is_empty() {
            if pending.is_empty() {
                break;
            }
            continue;
        }

        // Share the link: max-min fair over the demands.
        let total_demand: f64 = running.iter().map(|r| r.demand).sum();
        let saturated = total_demand > capacity;
        let level = if saturated {
            fair_level(running.iter().map(|r| r.demand).collect(), capacity)
        } else {
            f64::INFINITY
        };
        let rate_of = |r: &Running| {
            if r.demand > 0.0 && r.demand > level {
                r.speed * level / r.demand
            } else {
                r.speed
            }
        };
        let rates: Vec<f64> = running.iter().map(rate_of).collect();
        let dt = running
            .iter()
            .zip(&rates)
            .map(|(r, rate)| r.left / rate)
            .fold(f64::INFINITY, f64::min);

        // Book the interval to the limit that held.
        let held = if saturated {
            Bottleneck::Bandwidth
        } else if !pending.is_empty() {
            Bottleneck::Budget
        } else {
            let slowest = running
                .iter()
                .zip(&rates)
                .max_by(|a, b| (a.0.left / a.1).total_cmp(&(b.0.left / b.1)))
                .map(|(r, _)| r)
                .expect("running is not empty");
            if slowest.throttled {
                Bottleneck::Throttling
            } else if slowest.rtt_share >= 0.5 {
                Bottleneck::Rtt
            } else {
                Bottleneck::MailboxSpeed
            }
        };
        shares[Bottleneck::ALL.iter().position(|&b| b == held).unwrap_or(0)] += dt;

        now += dt;
        let mut finished_batches = Vec::new();
        let mut i = 0;
        let mut keep_rates = rates.into_iter();
        running.retain_mut(|r| {
            let rate = keep_rates.next().unwrap_or(0.0);
            let step = (rate * dt).min(r.left);
            r.left -= step;
            moved[r.batch] += step * r.bytes;
            total_moved += step * r.bytes;
            i += 1;
            let done = r.left <= 1e-9;
            if done {
                moved[r.batch] += r.left * r.bytes;
                total_moved += r.left * r.bytes;
                users_on[r.ip] -= 1;
                unfinished[r.batch] -= 1;
                finished_batches.push(r.batch);
            }
            !done
        });
        finished_batches.dedup();
        for b in finished_batches {
            out[b].progress.push(ProgressPoint {
                at_s: now,
                bytes: moved[b],
            });
            if unfinished[b] == 0 {
                out[b].duration = Duration::from_secs_f64(now) - out[b].start;
            }
        }
        timeline.push(ProgressPoint {
            at_s: now,
            bytes: total_moved,
        });
    }

    out.sort_by_key(|b| b.number);
    let run = now.max(1e-12);
    let limit_shares: Vec<(Bottleneck, f64)> = Bottleneck::ALL
        .iter()
        .zip(shares)
        .map(|(&b, s)| (b, if now > 0.0 { s / run } else { 0.0 }))
        .collect();
    let bottleneck = limit_shares
        .iter()
        .max_by(|a, b| a.1.total_cmp(&b.1))
        .map(|(b, _)| *b)
        .unwrap_or(Bottleneck::MailboxSpeed);
    let mut plan = Plan {
        profile: profile.name.clone(),
        link: *link,
        budget: *budget,
        mailboxes: inventory.mailboxes.len() as u32,
        messages: inventory.total_messages(),
        bytes: inventory.total_bytes(),
        total: Duration::from_secs_f64(now),
        batches: out,
        ips,
        bottleneck,
        explanation: String::new(),
        limit_shares,
        timeline,
        window: None,
    };
    plan.explanation = explain(&plan, inventory, model, profile);
    plan
}

/// The water level `L` with `Σ min(dᵢ, L) = capacity` (max-min fair shares).
fn fair_level(mut demands: Vec<f64>, capacity: f64) -> f64 {
    demands.sort_by(f64::total_cmp);
    let mut left = capacity;
    let n = demands.len();
    for (i, d) in demands.iter().enumerate() {
        let even = left / (n - i) as f64;
        if *d >= even {
            return even;
        }
        left -= d;
    }
    f64::INFINITY
}

/// One sentence on the bottleneck, with the numbers that back it.
fn explain(
    plan: &Plan,
    inventory: &Inventory,
    model: &VelocityModel,
    profile: &ProfileLimits,
) -> String {
    let share = plan
        .limit_shares
        .iter()
        .find(|(b, _)| *b == plan.bottleneck)
        .map_or(0.0, |(_, s)| *s);
    let percent = (share * 100.0).round();
    let link = &plan.link;
    let largest = inventory.mailboxes.iter().max_by_key(|m| m.bytes);
    let most_messages = inventory.mailboxes.iter().max_by_key(|m| m.messages);
    match plan.bottleneck {
        Bottleneck::Bandwidth => format!(
            "The link is full {percent}% of the time: {} carries about {} of mail an hour \
             ({:.0}% of it is payload); more bandwidth shortens the run, more egress IPs do not.",
            format_bandwidth(link.bandwidth_bits_per_s),
            format_bytes(model.link_bytes_per_s(link.bandwidth_bits_per_s) * 3600.0),
            model.link_efficiency * 100.0
        ),
        Bottleneck::Budget => {
            let mut room = format!(
                "{} egress IP(s) × {} users",
                link.egress_ips, plan.budget.users_per_ip
            );
            if let Some(m) = plan.budget.max_concurrent_mailboxes {
                room.push_str(&format!(" (at most {m} mailboxes at once)"));
            }
            format!(
                "Batches wait for room {percent}% of the time while the link has spare \
                 capacity: {room} cap the mailboxes in flight; more egress IPs or a higher \
                 concurrency cap shorten the run."
            )
        }
        Bottleneck::Throttling => {
            let cap = profile.max_msgs_per_s_per_user.unwrap_or(f64::INFINITY);
            let detail = most_messages.map_or_else(String::new, |m| {
                format!(
                    ": the mailbox with most messages, {} ({}), alone takes {}",
                    m.source_identity,
                    m.messages,
                    format_duration(Duration::from_secs_f64(
                        model.setup_seconds(link.rtt) + m.messages as f64 / cap
                    ))
                )
            });
            format!(
                "The {} server throttles each user to {cap:.0} messages/s {percent}% of the \
                 time{detail}; more bandwidth does not help, smaller mailboxes or a higher \
                 throttle do.",
                profile.name,
            )
        }
        Bottleneck::Rtt => format!(
            "Round trips of {} dominate each message's time {percent}% of the time, even \
             pipelined; a copier closer to the servers helps more than bandwidth.",
            format_duration_ms(link.rtt)
        ),
        Bottleneck::MailboxSpeed => {
            let detail = largest.map_or_else(String::new, |m| {
                let mean = if m.messages > 0 {
                    m.bytes as f64 / m.messages as f64
                } else {
                    0.0
                };
                let rate =
                    model.mailbox_rate(profile, mean, link.rtt, plan.budget.connections_per_side());
                format!(
                    ": the largest, {} ({}), takes {} alone at {:.0} messages/s over {} \
                     connections per side",
                    m.source_identity,
                    format_bytes(m.bytes as f64),
                    format_duration(Duration::from_secs_f64(
                        model.setup_seconds(link.rtt) + m.messages as f64 / rate.msgs_per_s
                    )),
                    rate.msgs_per_s,
                    rate.connections
                )
            });
            format!(
                "Single mailboxes set the pace {percent}% of the time{detail}; the link and \
                 the budgets have room to spare."
            )
        }
    }
}

fn format_duration_ms(d: Duration) -> String {
    format!("{} ms", d.as_millis())
}

/// Serializes a duration as fractional seconds.
fn seconds<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_f64(d.as_secs_f64())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn inventory(count: usize, messages: u64, bytes: u64) -> Inventory {
        Inventory {
            mailboxes: (0..count)
                .map(|i| MailboxSize {
                    source_identity: format!("user{i:05}@example.com"),
                    messages,
                    bytes: bytes + i as u64 % 7 * 1000,
                })
                .collect(),
        }
    }

    fn link(mbit: f64, rtt_ms: u64, ips: u32) -> Link {
        Link {
            bandwidth_bits_per_s: mbit * 1e6,
            rtt: Duration::from_millis(rtt_ms),
            egress_ips: ips,
        }
    }

    fn dovecot(model: &VelocityModel) -> ProfileLimits {
        model.profile("dovecot").unwrap()
    }

    #[test]
    fn every_mailbox_once_and_no_batch_over_the_cap() {
        let model = VelocityModel::builtin();
        let inv = inventory(1234, 2_000, 150_000_000);
        let budget = Budget::default();
        let plan = plan(
            &inv,
            &link(200.0, 40, 2),
            &budget,
            &model,
            &dovecot(&model),
            None,
        );
        let mut seen: HashMap<&str, u32> = HashMap::new();
        for batch in &plan.batches {
            assert!(batch.mailboxes.len() <= 150, "batch {}", batch.number);
            assert!(!batch.mailboxes.is_empty());
            for m in &batch.mailboxes {
                *seen.entry(m).or_default() += 1;
            }
        }
        assert_eq!(seen.len(), 1234);
        assert!(seen.values().all(|&n| n == 1));
        assert_eq!(plan.batches.len(), 9);
        let numbers: Vec<u32> = plan.batches.iter().map(|b| b.number).collect();
        assert_eq!(numbers, (1..=9).collect::<Vec<_>>());
        assert_eq!(plan.bytes, inv.total_bytes());
        let moved = plan.timeline.last().unwrap().bytes;
        assert!((moved - inv.total_bytes() as f64).abs() < 1.0, "{moved}");
        let end = plan
            .batches
            .iter()
            .map(|b| b.start + b.duration)
            .max()
            .unwrap();
        assert!((end.as_secs_f64() - plan.total.as_secs_f64()).abs() < 1e-6);
    }

    #[test]
    fn a_lone_mailbox_on_a_fat_link_takes_messages_over_its_rate() {
        let model = VelocityModel::builtin();
        let inv = inventory(1, 100_000, 7_500_000_000);
        let budget = Budget::default();
        let p = plan(
            &inv,
            &link(100_000.0, 40, 1),
            &budget,
            &model,
            &dovecot(&model),
            None,
        );
        // 10 round trips to start, then 4 connections per side, each
        // 1.5 ms + 75 KB x 13.3 ns + 0.0069 x 40 ms per message.
        let per_message = model.cost.seconds(75_000.0, Duration::from_millis(40));
        let expected = 10.0 * 0.040 + 100_000.0 * per_message / 4.0;
        let total = p.total.as_secs_f64();
        assert!(
            (total - expected).abs() < 1e-6 * expected,
            "{total} vs {expected}"
        );
        assert!((expected - 69.8).abs() < 0.5, "{expected}");
    }

    #[test]
    fn users_per_ip_never_above_the_budget() {
        // A throttled server and a fat link: nothing but the user budget holds batches back.
        let model = VelocityModel::builtin();
        let exo = model.profile("exchange-online").unwrap();
        let inv = inventory(5000, 100, 5_000_000);
        let budget = Budget {
            batch_size: 300,
            ..Budget::default()
        };
        let plan = plan(&inv, &link(100_000.0, 40, 2), &budget, &model, &exo, None);
        assert_eq!(plan.ips.len(), 2);
        for ip in &plan.ips {
            assert!(ip.peak_users <= 2000, "{ip:?}");
            assert_eq!(ip.peak_connections, ip.peak_users * 8);
        }
        assert_eq!(plan.ips.iter().map(|ip| ip.mailboxes).sum::<u32>(), 5000);
        // 6 batches of 300 fit on an IP (1,800 users), not 7.
        assert_eq!(plan.ips[0].peak_users, 1800);
    }

    #[test]
    fn a_small_link_is_the_bottleneck() {
        let model = VelocityModel::builtin();
        let inv = inventory(300, 20_000, 1_500_000_000);
        let plan = plan(
            &inv,
            &link(50.0, 40, 1),
            &Budget::default(),
            &model,
            &dovecot(&model),
            None,
        );
        assert_eq!(
            plan.bottleneck,
            Bottleneck::Bandwidth,
            "{:?}",
            plan.limit_shares
        );
        // 450 GB over 50 Mbit/s at 92%: about 21.7 hours.
        let expected = inv.total_bytes() as f64 / model.link_bytes_per_s(50e6);
        let total = plan.total.as_secs_f64();
        assert!(
            (total - expected).abs() / expected < 0.02,
            "{total} vs {expected}"
        );
        assert!(
            plan.explanation.contains("50 Mbit/s"),
            "{}",
            plan.explanation
        );
    }

    #[test]
    fn one_ip_with_a_throttled_server_is_budget_bound() {
        let model = VelocityModel::builtin();
        let exo = model.profile("exchange-online").unwrap();
        let inv = inventory(8000, 2_000, 150_000_000);
        let fat = link(100_000.0, 40, 1);
        let one = plan(&inv, &fat, &Budget::default(), &model, &exo, None);
        assert_eq!(one.bottleneck, Bottleneck::Budget, "{:?}", one.limit_shares);
        let eight = plan(
            &inv,
            &link(100_000.0, 40, 8),
            &Budget::default(),
            &model,
            &exo,
            None,
        );
        assert_eq!(
            eight.bottleneck,
            Bottleneck::Throttling,
            "{:?}",
            eight.limit_shares
        );
        assert!(eight.total < one.total);
    }

    #[test]
    fn a_huge_rtt_is_the_bottleneck_and_a_lone_mailbox_is_its_own_limit() {
        let model = VelocityModel::builtin();
        let inv = inventory(10, 50_000, 3_000_000_000);
        let far = plan(
            &inv,
            &link(10_000.0, 2_000, 1),
            &Budget::default(),
            &model,
            &dovecot(&model),
            None,
        );
        assert_eq!(far.bottleneck, Bottleneck::Rtt, "{:?}", far.limit_shares);
        let near = plan(
            &inv,
            &link(10_000.0, 1, 1),
            &Budget::default(),
            &model,
            &dovecot(&model),
            None,
        );
        assert_eq!(
            near.bottleneck,
            Bottleneck::MailboxSpeed,
            "{:?}",
            near.limit_shares
        );
        assert!(
            near.explanation.contains("user00006@example.com"),
            "{}",
            near.explanation
        );
    }

    #[test]
    fn more_bandwidth_or_ips_never_slower_more_rtt_never_faster() {
        let model = VelocityModel::builtin();
        let mut inv = inventory(700, 3_000, 200_000_000);
        inv.mailboxes[3].bytes = 20_000_000_000;
        inv.mailboxes[3].messages = 200_000;
        for profile in [dovecot(&model), model.profile("exchange-online").unwrap()] {
            let budget = Budget {
                users_per_ip: 200,
                ..Budget::default()
            };
            let mut last = f64::INFINITY;
            for mbit in [10.0, 50.0, 100.0, 200.0, 1000.0, 10_000.0] {
                let t = plan(&inv, &link(mbit, 40, 2), &budget, &model, &profile, None).total;
                assert!(t.as_secs_f64() <= last * (1.0 + 1e-6), "{mbit} Mbit: {t:?}");
                last = t.as_secs_f64();
            }
            let mut last = f64::INFINITY;
            for ips in 1..=8 {
                let t = plan(
                    &inv,
                    &link(1000.0, 40, ips),
                    &budget,
                    &model,
                    &profile,
                    None,
                )
                .total;
                assert!(
                    t.as_secs_f64() <= last * (1.0 + 1e-6),
                    "{ips} IPs: {t:?} after {last}"
                );
                last = t.as_secs_f64();
            }
            let mut last = 0.0;
            for rtt in [0, 10, 40, 100, 400] {
                let t = plan(&inv, &link(1000.0, rtt, 2), &budget, &model, &profile, None).total;
                assert!(t.as_secs_f64() >= last * (1.0 - 1e-6), "{rtt} ms: {t:?}");
                last = t.as_secs_f64();
            }
        }
    }

    #[test]
    fn window_says_what_would_fit() {
        let model = VelocityModel::builtin();
        let inv = inventory(300, 20_000, 1_500_000_000);
        let slow = link(50.0, 40, 1);
        let p = plan(
            &inv,
            &slow,
            &Budget::default(),
            &model,
            &dovecot(&model),
            Some(Duration::from_secs(12 * 3600)),
        );
        let fit = p.window.unwrap();
        assert!(!fit.fits);
        assert_eq!(fit.ips_needed, None, "IPs do not help a full link");
        let needed = fit.bandwidth_needed_bits_per_s.unwrap();
        assert!(needed > 50e6 && needed < 120e6, "{needed}");
        let check = plan(
            &inv,
            &link(needed / 1e6, 40, 1),
            &Budget::default(),
            &model,
            &dovecot(&model),
            None,
        );
        assert!(check.total <= Duration::from_secs(12 * 3600));
        let p = plan(
            &inv,
            &slow,
            &Budget::default(),
            &model,
            &dovecot(&model),
            Some(Duration::from_secs(48 * 3600)),
        );
        assert!(p.window.unwrap().fits);
    }

    #[test]
    fn empty_inventory_and_empty_mailboxes() {
        let model = VelocityModel::builtin();
        let p = plan(
            &Inventory::default(),
            &link(100.0, 40, 1),
            &Budget::default(),
            &model,
            &dovecot(&model),
            None,
        );
        assert_eq!(p.total, Duration::ZERO);
        assert!(p.batches.is_empty());
        let inv = inventory(3, 0, 0);
        let p = plan(
            &inv,
            &link(100.0, 40, 1),
            &Budget::default(),
            &model,
            &dovecot(&model),
            None,
        );
        assert_eq!(p.batches.len(), 1);
        assert_eq!(p.batches[0].mailboxes.len(), 3);
    }

    #[test]
    fn what_if_grid_shape() {
        let model = VelocityModel::builtin();
        let inv = inventory(50, 1000, 100_000_000);
        let grid = what_if(
            &inv,
            &link(100.0, 40, 1),
            &Budget::default(),
            &model,
            &dovecot(&model),
            &[1, 2, 3],
            &[50e6, 100e6],
        );
        assert_eq!(grid.totals_s.len(), 3);
        assert!(grid.totals_s.iter().all(|row| row.len() == 2));
        assert!(grid.totals_s[0][0] >= grid.totals_s[0][1]);
    }

    #[test]
    fn fair_level_meets_small_demands_and_splits_the_rest() {
        assert_eq!(fair_level(vec![1.0, 10.0, 10.0], 9.0), 4.0);
        assert_eq!(fair_level(vec![5.0, 5.0], 20.0), f64::INFINITY);
        assert_eq!(smallest(3, 100, |n| n >= 37), Some(37));
        assert_eq!(smallest(3, 100, |_| true), Some(3));
        assert_eq!(smallest(3, 100, |_| false), None);
    }
}
