//! The budget's settings, their defaults (the seed's: 8 connections per user, 2,000 users per
//! public IP) and their validation.

use super::scheduler::{Caps, CountedSides};
use std::net::IpAddr;
use std::num::NonZeroU32;
use std::time::Duration;

/// How users are spread over the egress addresses. Either way a user keeps its address for the
/// whole batch and, with a state store, across runs while the address is still configured.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum EgressMode {
    /// Each address takes a contiguous segment of the list: with 2 addresses the first half of
    /// the mailboxes on the first, the second half on the second.
    Static,
    /// A user goes to the address with the most room when it starts (default).
    #[default]
    Pool,
}

/// In which order mailboxes start.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum BatchOrder {
    /// As listed (default).
    #[default]
    Listed,
    /// Largest first, by the size the state store knows from earlier passes (bytes copied plus
    /// bytes left); mailboxes of unknown size count as empty. The order is stable.
    LargestFirst,
    /// Smallest first, sizes as for `LargestFirst`.
    SmallestFirst,
}

/// The connection and rate budget of a batch (see the [module doc](super)). The defaults keep
/// the seed's limits with no rate limits and the system's choice of source address.
#[derive(Debug, Clone, PartialEq)]
pub struct BudgetConfig {
    /// Counted connections of one user at once (default 8).
    pub max_connections_per_user: u32,
    /// Which connections count against the per-user and per-address caps and are bound to the
    /// egress address (default both sides).
    pub counted_sides: CountedSides,
    /// Users on one egress address at once (default 2,000).
    pub max_users_per_ip: u32,
    /// Counted connections on one egress address at once (default 16,000: 2,000 users × 8,
    /// a quarter of an address's ports).
    pub max_connections_per_ip: u32,
    /// Connections of one login to one server at once (Dovecot's
    /// `mail_max_userip_connections`, default 10; Gmail's 15); `None` (default) for no cap.
    pub max_connections_per_server: Option<u32>,
    /// The egress addresses; empty (default) lets the system pick, as one address.
    pub egress: Vec<IpAddr>,
    /// How users are spread over `egress`.
    pub egress_mode: EgressMode,
    /// Connections opened per second from one egress address (default no limit).
    pub opens_per_sec_per_ip: Option<NonZeroU32>,
    /// Connections opened per second to one server (default no limit).
    pub opens_per_sec_per_server: Option<NonZeroU32>,
    /// Message bytes fetched per second through one egress address (default no limit).
    pub bytes_per_sec_per_ip: Option<NonZeroU32>,
    /// Message bytes fetched per second by one mailbox (default no limit).
    pub bytes_per_sec_per_mailbox: Option<NonZeroU32>,
    /// Messages fetched per second through one egress address (default no limit).
    pub messages_per_sec_per_ip: Option<NonZeroU32>,
    /// Messages fetched per second by one mailbox (default no limit).
    pub messages_per_sec_per_mailbox: Option<NonZeroU32>,
    /// In which order mailboxes start.
    pub order: BatchOrder,
    /// How often the load of each address is sampled for the report (default 1 s).
    pub sample_every: Duration,
}

impl Default for BudgetConfig {
    fn default() -> Self {
        BudgetConfig {
            max_connections_per_user: 8,
            counted_sides: CountedSides::Both,
            max_users_per_ip: 2000,
            max_connections_per_ip: 16_000,
            max_connections_per_server: None,
            egress: Vec::new(),
            egress_mode: EgressMode::Pool,
            opens_per_sec_per_ip: None,
            opens_per_sec_per_server: None,
            bytes_per_sec_per_ip: None,
            bytes_per_sec_per_mailbox: None,
            messages_per_sec_per_ip: None,
            messages_per_sec_per_mailbox: None,
            order: BatchOrder::Listed,
            sample_every: Duration::from_secs(1),
        }
    }
}

/// A budget setting that cannot work. `setting` is the command-line flag's name without the
/// dashes (`max-connections-per-user`), so the CLI can name the flag.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{setting}: {message}")]
pub struct BudgetError {
    /// The setting.
    pub setting: &'static str,
    /// What is wrong with it.
    pub message: String,
}

fn invalid(setting: &'static str, message: impl Into<String>) -> BudgetError {
    BudgetError {
        setting,
        message: message.into(),
    }
}

impl BudgetConfig {
    /// The caps for a batch running at most `parallel` mailboxes at once, after checking that
    /// every mailbox can run: no cap is zero, a user may hold one connection per counted side,
    /// and every egress address is an address of this machine, given once.
    pub fn validate(&self, parallel: usize) -> Result<Caps, BudgetError> {
        let min = self.counted_sides.count(1, 1);
        if self.max_connections_per_user < min {
            return Err(invalid(
                "max-connections-per-user",
                format!(
                    "must be at least {min}: a mailbox needs a source and a destination connection"
                ),
            ));
        }
        if self.max_users_per_ip == 0 {
            return Err(invalid("max-users-per-ip", "must be at least 1"));
        }
        if self.max_connections_per_ip < min {
            return Err(invalid(
                "max-connections-per-ip",
                format!(
                    "must be at least {min}: a mailbox needs a source and a destination connection"
                ),
            ));
        }
        if self.max_connections_per_server == Some(0) {
            return Err(invalid("max-connections-per-server", "must be at least 1"));
        }
        if self.sample_every.is_zero() {
            return Err(invalid("sample-every", "must be above zero"));
        }
        for (i, ip) in self.egress.iter().enumerate() {
            if self.egress[..i].contains(ip) {
                return Err(invalid("egress", format!("{ip} is given twice")));
            }
            if let Err(e) = std::net::UdpSocket::bind((*ip, 0)) {
                return Err(invalid(
                    "egress",
                    format!("{ip} is not an address of this machine ({e})"),
                ));
            }
        }
        Ok(Caps {
            per_user: self.max_connections_per_user,
            users_per_ip: self.max_users_per_ip,
            connections_per_ip: self.max_connections_per_ip,
            per_server: self.max_connections_per_server,
            mailboxes: u32::try_from(parallel.max(1)).unwrap_or(u32::MAX),
        })
    }
}

/// The address index of mailbox `index` of `count` in static mode: contiguous segments of
/// (nearly) equal size, one per address.
pub fn static_segment(index: usize, count: usize, addresses: usize) -> usize {
    if addresses == 0 || count == 0 {
        return 0;
    }
    (index.min(count - 1) * addresses) / count
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zero_caps_and_foreign_addresses_name_their_setting() {
        let bad = |c: BudgetConfig| c.validate(4).unwrap_err().setting;
        let d = BudgetConfig::default;
        assert_eq!(
            bad(BudgetConfig {
                max_connections_per_user: 1,
                ..d()
            }),
            "max-connections-per-user"
        );
        assert_eq!(
            bad(BudgetConfig {
                max_users_per_ip: 0,
                ..d()
            }),
            "max-users-per-ip"
        );
        assert_eq!(
            bad(BudgetConfig {
                max_connections_per_ip: 0,
                ..d()
            }),
            "max-connections-per-ip"
        );
        assert_eq!(
            bad(BudgetConfig {
                max_connections_per_server: Some(0),
                ..d()
            }),
            "max-connections-per-server"
        );
        let foreign = BudgetConfig {
            egress: vec!["192.0.2.77".parse().unwrap()],
            ..d()
        };
        let e = foreign.validate(1).unwrap_err();
        assert_eq!(e.setting, "egress");
        assert!(e.message.contains("not an address of this machine"), "{e}");
        let twice = BudgetConfig {
            egress: vec!["127.0.0.1".parse().unwrap(); 2],
            ..d()
        };
        assert!(twice.validate(1).unwrap_err().message.contains("twice"));
        // One counted side: a single connection per user is enough.
        let one_side = BudgetConfig {
            max_connections_per_user: 1,
            counted_sides: CountedSides::Source,
            ..d()
        };
        assert_eq!(one_side.validate(1).unwrap().per_user, 1);
    }

    #[test]
    fn static_segments_are_contiguous_and_even() {
        let seg: Vec<usize> = (0..10).map(|i| static_segment(i, 10, 3)).collect();
        assert_eq!(seg, [0, 0, 0, 0, 1, 1, 1, 2, 2, 2]);
        assert_eq!(static_segment(0, 0, 3), 0);
    }
}
