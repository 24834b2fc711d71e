//! Egress address per user, sticky across runs (issue 6): all of a user's connections leave from
//! one address, the same one each run, while that address is still configured.

use super::db::{ms, StateDb};
use super::error::{sql, Result};
use chrono::{DateTime, Utc};
use rusqlite::{params, OptionalExtension, TransactionBehavior};
use std::net::IpAddr;

impl StateDb {
    /// The egress address of `user`: the recorded one if it is among `available`, otherwise the
    /// available address with the fewest users, recorded from now on. `None` when `available` is
    /// empty.
    pub fn sticky_egress(
        &mut self,
        user: &str,
        available: &[IpAddr],
        at: DateTime<Utc>,
    ) -> Result<Option<IpAddr>> {
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(sql("assigning an egress address"))?;
        let recorded: Option<String> = tx
            .query_row("SELECT ip FROM egress WHERE user = ?1", [user], |r| {
                r.get(0)
            })
            .optional()
            .map_err(sql("reading an egress address"))?;
        if let Some(ip) = recorded.and_then(|s| s.parse::<IpAddr>().ok()) {
            if available.contains(&ip) {
                return Ok(Some(ip));
            }
        }
        let mut least: Option<(u64, IpAddr)> = None;
        for ip in available {
            let users: u64 = tx
                .query_row(
                    "SELECT count(*) FROM egress WHERE ip = ?1",
                    [ip.to_string()],
                    |r| r.get(0),
                )
                .map_err(sql("counting egress users"))?;
            if least.is_none_or(|(n, _)| users < n) {
                least = Some((users, *ip));
            }
        }
        let Some((_, ip)) = least else {
            return Ok(None);
        };
        tx.execute(
            "INSERT INTO egress (user, ip, assigned_at) VALUES (?1, ?2, ?3)
             ON CONFLICT (user) DO UPDATE SET ip = excluded.ip, assigned_at = excluded.assigned_at",
            params![user, ip.to_string(), ms(at)],
        )
        .map_err(sql("recording an egress address"))?;
        tx.commit().map_err(sql("assigning an egress address"))?;
        Ok(Some(ip))
    }

    /// The egress address recorded for `user`, if any.
    pub fn egress_of(&self, user: &str) -> Result<Option<IpAddr>> {
        let recorded: Option<String> = self
            .conn
            .query_row("SELECT ip FROM egress WHERE user = ?1", [user], |r| {
                r.get(0)
            })
            .optional()
            .map_err(sql("reading an egress address"))?;
        Ok(recorded.and_then(|s| s.parse().ok()))
    }
}

#[cfg(test)]
mod tests {
    use super::super::test_support::{open_temp, t};
    use super::super::StateDb;
    use std::net::IpAddr;

    fn ips(list: &[&str]) -> Vec<IpAddr> {
        list.iter().map(|s| s.parse().unwrap()).collect()
    }

    #[test]
    fn a_user_keeps_its_address_across_runs_and_users_spread() {
        let (_dir, path, mut db) = open_temp();
        let pool = ips(&["192.0.2.1", "192.0.2.2"]);
        let a = db.sticky_egress("a", &pool, t(0)).unwrap().unwrap();
        let b = db.sticky_egress("b", &pool, t(0)).unwrap().unwrap();
        assert_ne!(a, b, "the second user goes to the emptier address");
        drop(db);
        let mut db = StateDb::open(&path).unwrap();
        let reversed: Vec<IpAddr> = pool.iter().rev().copied().collect();
        assert_eq!(db.sticky_egress("a", &reversed, t(1)).unwrap(), Some(a));
        assert_eq!(db.egress_of("b").unwrap(), Some(b));
    }

    #[test]
    fn a_removed_address_is_replaced_and_recorded() {
        let (_dir, _path, mut db) = open_temp();
        let first = ips(&["192.0.2.1"]);
        db.sticky_egress("a", &first, t(0)).unwrap();
        let second = ips(&["2001:db8::1"]);
        assert_eq!(
            db.sticky_egress("a", &second, t(1)).unwrap(),
            Some(second[0])
        );
        assert_eq!(db.egress_of("a").unwrap(), Some(second[0]));
        assert_eq!(db.sticky_egress("a", &[], t(2)).unwrap(), None);
    }
}
