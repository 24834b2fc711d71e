//! Who connects from where: the users of a hold, their connections, and the egress address each
//! user leaves from. Pure: parsing and arithmetic, no I/O.
//!
//! Users are spread over the addresses in static segments (user `i` of `n` on address
//! `i * k / n` of `k`): every connection of a user leaves from one address (guide 3.3.4.11), and
//! the segments differ by at most one user.

use std::net::{IpAddr, Ipv4Addr};

use anyhow::{bail, ensure, Context};

/// Longest address range `--ips` accepts: more is a typing mistake, not a test.
const MAX_RANGE: u32 = 1024;

/// Parses a list of egress addresses: comma-separated items, each an address (`127.0.0.2`,
/// `::1`) or an inclusive IPv4 range (`127.0.0.2-127.0.0.6`). Duplicates are refused: two
/// segments on one address would break its per-IP budget unseen.
pub fn parse_ips(text: &str) -> anyhow::Result<Vec<IpAddr>> {
    let mut ips = Vec::new();
    for item in text.split(',').map(str::trim) {
        ensure!(!item.is_empty(), "--ips {text:?}: an empty item");
        match item.split_once('-') {
            None => ips.push(
                item.parse::<IpAddr>()
                    .with_context(|| format!("--ips: {item:?} is not an IP address"))?,
            ),
            Some((first, last)) => {
                let v4 = |s: &str| {
                    s.trim().parse::<Ipv4Addr>().with_context(|| {
                        format!("--ips: {item:?}: {s:?} is not an IPv4 address (ranges are IPv4)")
                    })
                };
                let (first, last) = (u32::from(v4(first)?), u32::from(v4(last)?));
                ensure!(first <= last, "--ips: {item:?} runs backwards");
                ensure!(
                    last - first < MAX_RANGE,
                    "--ips: {item:?} holds more than {MAX_RANGE} addresses"
                );
                ips.extend((first..=last).map(|n| IpAddr::V4(Ipv4Addr::from(n))));
            }
        }
    }
    let mut sorted = ips.clone();
    sorted.sort();
    if let Some(pair) = sorted.windows(2).find(|w| w[0] == w[1]) {
        bail!("--ips: {} is listed twice", pair[0]);
    }
    Ok(ips)
}

/// Parses the `ip_local_port_range` sysctl (`32768\t60999`): how many local ports one address
/// has for outgoing connections to one server address and port.
pub fn ports_in_range(text: &str) -> Option<u64> {
    let mut parts = text.split_whitespace().map(|p| p.parse::<u64>().ok());
    let (low, high) = (parts.next()??, parts.next()??);
    (high >= low).then(|| high - low + 1)
}

/// The shape of a hold: how many users, connections per user, and their addresses.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HoldPlan {
    /// Users, each with [`HoldPlan::per_user`] connections.
    pub users: usize,
    /// Connections of each user.
    pub per_user: usize,
    /// The egress addresses, in segment order.
    pub ips: Vec<IpAddr>,
}

/// What a plan must fit in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct HoldLimits {
    /// Users one address may carry (the seed's 2,000).
    pub users_per_ip: usize,
    /// Local ports one address has toward one server port (`ip_local_port_range`).
    pub ports_per_ip: u64,
}

impl HoldPlan {
    /// `connections` split into users of `per_user` each, over `ips`; refused, saying why,
    /// when it does not divide evenly or does not fit `limits`.
    pub fn new(
        connections: usize,
        per_user: usize,
        ips: Vec<IpAddr>,
        limits: HoldLimits,
    ) -> anyhow::Result<Self> {
        ensure!(connections > 0, "--connections must be at least 1");
        ensure!(per_user > 0, "--per-user must be at least 1");
        ensure!(!ips.is_empty(), "--ips names no address");
        ensure!(
            connections.is_multiple_of(per_user),
            "--connections {connections} is not a multiple of --per-user {per_user}"
        );
        let plan = HoldPlan {
            users: connections / per_user,
            per_user,
            ips,
        };
        let busiest = (0..plan.ips.len())
            .map(|i| plan.users_on(i))
            .max()
            .unwrap_or(0);
        ensure!(
            busiest <= limits.users_per_ip,
            "{} users over {} address(es) puts {busiest} users on one, more than {} per IP: \
             give more --ips",
            plan.users,
            plan.ips.len(),
            limits.users_per_ip
        );
        let ports = (busiest * per_user) as u64;
        ensure!(
            ports <= limits.ports_per_ip,
            "{ports} connections from one address need more than the {} local ports it has \
             (net.ipv4.ip_local_port_range): give more --ips",
            limits.ports_per_ip
        );
        Ok(plan)
    }

    /// Every connection.
    pub fn connections(&self) -> usize {
        self.users * self.per_user
    }

    /// The index in [`HoldPlan::ips`] of the address user `user` leaves from.
    pub fn ip_index(&self, user: usize) -> usize {
        user * self.ips.len() / self.users
    }

    /// How many users leave from address `ip_index`.
    pub fn users_on(&self, ip_index: usize) -> usize {
        // Users u with floor(u * k / n) == i: from ceil(i * n / k) to ceil((i + 1) * n / k).
        let (n, k) = (self.users, self.ips.len());
        ((ip_index + 1) * n).div_ceil(k) - (ip_index * n).div_ceil(k)
    }

    /// The order connections open in, as `(user, nth connection of that user)`: first every
    /// user's first connection, then every second one, and so on, so connections opening at
    /// once belong to different users (an account logs in one connection at a time).
    pub fn opening_order(&self) -> impl Iterator<Item = (usize, usize)> + '_ {
        (0..self.per_user).flat_map(move |nth| (0..self.users).map(move |user| (user, nth)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    const ROOMY: HoldLimits = HoldLimits {
        users_per_ip: 2000,
        ports_per_ip: 28_232,
    };

    #[test]
    fn address_lists_and_ranges_parse() {
        assert_eq!(
            parse_ips("127.0.0.2-127.0.0.4").unwrap(),
            vec![ip("127.0.0.2"), ip("127.0.0.3"), ip("127.0.0.4")]
        );
        assert_eq!(
            parse_ips("127.0.0.9, ::1,127.0.0.255-127.0.1.0").unwrap(),
            vec![
                ip("127.0.0.9"),
                ip("::1"),
                ip("127.0.0.255"),
                ip("127.0.1.0")
            ]
        );
        for (bad, why) in [
            ("", "empty item"),
            ("127.0.0.2,", "empty item"),
            ("127.0.0.300", "not an IP address"),
            ("127.0.0.6-127.0.0.2", "backwards"),
            ("::1-::2", "ranges are IPv4"),
            ("10.0.0.0-10.0.255.255", "more than 1024"),
            ("127.0.0.2,127.0.0.1-127.0.0.3", "127.0.0.2 is listed twice"),
        ] {
            let e = format!("{:#}", parse_ips(bad).unwrap_err());
            assert!(e.contains(why), "{bad:?}: {e}");
        }
    }

    #[test]
    fn the_port_range_sysctl_parses() {
        assert_eq!(ports_in_range("32768\t60999\n"), Some(28_232));
        assert_eq!(ports_in_range("1024 1024"), Some(1));
        assert_eq!(ports_in_range("60999 32768"), None);
        assert_eq!(ports_in_range("32768"), None);
    }

    #[test]
    fn users_sit_in_balanced_segments_one_address_each() {
        let ips = parse_ips("127.0.0.2-127.0.0.6").unwrap();
        for users in [1, 4, 5, 7, 250, 2000, 2003] {
            let plan = HoldPlan::new(users * 8, 8, ips.clone(), ROOMY).unwrap();
            let mut counted = vec![0; ips.len()];
            let mut last = 0;
            for user in 0..users {
                let i = plan.ip_index(user);
                assert!(i >= last, "segments are contiguous");
                last = i;
                counted[i] += 1;
            }
            let claimed: Vec<_> = (0..ips.len()).map(|i| plan.users_on(i)).collect();
            assert_eq!(counted, claimed, "{users} users");
            let (lo, hi) = (claimed.iter().min().unwrap(), claimed.iter().max().unwrap());
            assert!(hi - lo <= 1, "{users} users: {claimed:?}");
        }
    }

    #[test]
    fn connections_open_round_by_round_each_exactly_once() {
        let plan = HoldPlan::new(12, 4, vec![ip("127.0.0.2")], ROOMY).unwrap();
        let order: Vec<_> = plan.opening_order().collect();
        assert_eq!(order.len(), plan.connections());
        assert_eq!(&order[..4], &[(0, 0), (1, 0), (2, 0), (0, 1)]);
        let mut sorted = order.clone();
        sorted.sort();
        sorted.dedup();
        assert_eq!(sorted.len(), 12);
    }

    #[test]
    fn plans_that_do_not_fit_say_why() {
        let one = vec![ip("127.0.0.2")];
        for (connections, per_user, limits, why) in [
            (0, 8, ROOMY, "at least 1"),
            (100, 8, ROOMY, "not a multiple of --per-user 8"),
            (16_008, 8, ROOMY, "2001 users on one, more than 2000 per IP"),
            (
                4_000,
                8,
                HoldLimits {
                    ports_per_ip: 3_000,
                    ..ROOMY
                },
                "4000 connections from one address need more than the 3000 local ports",
            ),
        ] {
            let e = HoldPlan::new(connections, per_user, one.clone(), limits).unwrap_err();
            assert!(e.to_string().contains(why), "{e}");
        }
        let e = HoldPlan::new(8, 8, Vec::new(), ROOMY).unwrap_err();
        assert!(e.to_string().contains("no address"), "{e}");
    }
}
