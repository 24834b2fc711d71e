//! The budget audit: who was connected from where, at most, at once.
//!
//! The server, not the client, counts: connections per client IP from accept to close,
//! logged-in connections per user and distinct logged-in users per client IP from login to
//! close. Peaks are kept for the whole life of the server, so a budget violation of a single
//! instant shows in the report (see [`BudgetAudit::violations`]). The same counters enforce the
//! connection caps of [`Limits`](super::Limits).

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::net::IpAddr;
use std::sync::{Arc, Mutex, MutexGuard};

use serde::{Deserialize, Serialize};

/// Peaks seen by one server since it started.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct BudgetAudit {
    /// Most logged-in connections of each user at once.
    pub peak_connections_per_user: BTreeMap<String, u64>,
    /// Most connections from each client IP at once.
    pub peak_connections_per_ip: BTreeMap<IpAddr, u64>,
    /// Most distinct logged-in users on each client IP at once.
    pub peak_users_per_ip: BTreeMap<IpAddr, u64>,
    /// The client IPs each user logged in from.
    pub ips_per_user: BTreeMap<String, BTreeSet<IpAddr>>,
    /// Connections and logins refused by a connection cap.
    pub refused_by_caps: u64,
}

/// The budget the audit checks against: the seed's 8 connections per user and 2,000 users
/// per public IP by default.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AuditBudget {
    /// Connections per user at once.
    pub connections_per_user: u64,
    /// Users per client IP at once.
    pub users_per_ip: u64,
    /// Connections per client IP at once, if capped.
    pub connections_per_ip: Option<u64>,
}

impl Default for AuditBudget {
    fn default() -> Self {
        AuditBudget {
            connections_per_user: 8,
            users_per_ip: 2000,
            connections_per_ip: None,
        }
    }
}

impl BudgetAudit {
    /// The highest per-user peak (0 when nobody logged in).
    pub fn max_connections_per_user(&self) -> u64 {
        self.peak_connections_per_user
            .values()
            .copied()
            .max()
            .unwrap_or(0)
    }

    /// The highest per-IP connection peak.
    pub fn max_connections_per_ip(&self) -> u64 {
        self.peak_connections_per_ip
            .values()
            .copied()
            .max()
            .unwrap_or(0)
    }

    /// The highest per-IP user peak.
    pub fn max_users_per_ip(&self) -> u64 {
        self.peak_users_per_ip.values().copied().max().unwrap_or(0)
    }

    /// Users whose connections came from more than one client IP.
    pub fn users_on_several_ips(&self) -> Vec<&str> {
        self.ips_per_user
            .iter()
            .filter(|(_, ips)| ips.len() > 1)
            .map(|(user, _)| user.as_str())
            .collect()
    }

    /// Every way the peaks broke `budget`, one sentence each; empty when they did not.
    pub fn violations(&self, budget: &AuditBudget) -> Vec<String> {
        let mut out = Vec::new();
        for (user, &peak) in &self.peak_connections_per_user {
            if peak > budget.connections_per_user {
                out.push(format!(
                    "user {user} had {peak} connections at once (budget {})",
                    budget.connections_per_user
                ));
            }
        }
        for (ip, &peak) in &self.peak_users_per_ip {
            if peak > budget.users_per_ip {
                out.push(format!(
                    "client IP {ip} had {peak} users at once (budget {})",
                    budget.users_per_ip
                ));
            }
        }
        if let Some(cap) = budget.connections_per_ip {
            for (ip, &peak) in &self.peak_connections_per_ip {
                if peak > cap {
                    out.push(format!(
                        "client IP {ip} had {peak} connections at once (budget {cap})"
                    ));
                }
            }
        }
        out
    }
}

/// The live counters behind [`BudgetAudit`].
#[derive(Default)]
pub(crate) struct AuditState(Mutex<Live>);

#[derive(Default)]
struct Live {
    ip_now: HashMap<IpAddr, u64>,
    user_now: HashMap<String, u64>,
    /// Per IP: logged-in connections of each user.
    ip_users_now: HashMap<IpAddr, HashMap<String, u64>>,
    peaks: BudgetAudit,
}

/// Why a connection or login was refused.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct OverCap(pub(crate) u32);

impl AuditState {
    fn live(&self) -> MutexGuard<'_, Live> {
        self.0.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Counts a connection from `ip`, unless `cap` connections from it are open already.
    pub(crate) fn connect(
        self: &Arc<Self>,
        ip: IpAddr,
        cap: Option<u32>,
    ) -> Result<IpTicket, OverCap> {
        let mut live = self.live();
        let now = live.ip_now.get(&ip).copied().unwrap_or(0);
        if let Some(cap) = cap.filter(|&c| now >= u64::from(c)) {
            live.peaks.refused_by_caps += 1;
            return Err(OverCap(cap));
        }
        live.ip_now.insert(ip, now + 1);
        let peak = live.peaks.peak_connections_per_ip.entry(ip).or_default();
        *peak = (*peak).max(now + 1);
        Ok(IpTicket {
            audit: self.clone(),
            ip,
        })
    }

    /// Counts `user` logged in from `ip`, unless `cap` of the user's connections are open.
    pub(crate) fn login(
        self: &Arc<Self>,
        ip: IpAddr,
        user: &str,
        cap: Option<u32>,
    ) -> Result<UserTicket, OverCap> {
        let mut live = self.live();
        let now = live.user_now.get(user).copied().unwrap_or(0);
        if let Some(cap) = cap.filter(|&c| now >= u64::from(c)) {
            live.peaks.refused_by_caps += 1;
            return Err(OverCap(cap));
        }
        live.user_now.insert(user.to_string(), now + 1);
        let peak = live
            .peaks
            .peak_connections_per_user
            .entry(user.to_string())
            .or_default();
        *peak = (*peak).max(now + 1);
        let users = live.ip_users_now.entry(ip).or_default();
        *users.entry(user.to_string()).or_default() += 1;
        let distinct = users.len() as u64;
        let peak = live.peaks.peak_users_per_ip.entry(ip).or_default();
        *peak = (*peak).max(distinct);
        live.peaks
            .ips_per_user
            .entry(user.to_string())
            .or_default()
            .insert(ip);
        Ok(UserTicket {
            audit: self.clone(),
            ip,
            user: user.to_string(),
        })
    }

    /// The peaks so far.
    pub(crate) fn snapshot(&self) -> BudgetAudit {
        self.live().peaks.clone()
    }
}

/// An open connection from an IP; dropping it counts the connection closed.
pub(crate) struct IpTicket {
    audit: Arc<AuditState>,
    ip: IpAddr,
}

impl IpTicket {
    /// The client's address.
    pub(crate) fn ip(&self) -> IpAddr {
        self.ip
    }
}

impl Drop for IpTicket {
    fn drop(&mut self) {
        let mut live = self.audit.live();
        if let Some(n) = live.ip_now.get_mut(&self.ip) {
            *n = n.saturating_sub(1);
        }
    }
}

/// A logged-in connection; dropping it counts the user's connection closed.
pub(crate) struct UserTicket {
    audit: Arc<AuditState>,
    ip: IpAddr,
    user: String,
}

impl Drop for UserTicket {
    fn drop(&mut self) {
        let mut live = self.audit.live();
        if let Some(n) = live.user_now.get_mut(&self.user) {
            *n = n.saturating_sub(1);
        }
        if let Some(users) = live.ip_users_now.get_mut(&self.ip) {
            if let Some(n) = users.get_mut(&self.user) {
                *n -= 1;
                if *n == 0 {
                    users.remove(&self.user);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(last: u8) -> IpAddr {
        IpAddr::from([127, 0, 0, last])
    }

    #[test]
    fn peaks_outlive_the_connections_and_caps_refuse() {
        let audit = Arc::new(AuditState::default());
        let c1 = audit.connect(ip(2), Some(2)).unwrap();
        let c2 = audit.connect(ip(2), Some(2)).unwrap();
        assert_eq!(audit.connect(ip(2), Some(2)).err(), Some(OverCap(2)));
        let u1 = audit.login(ip(2), "alice", Some(1)).unwrap();
        assert!(audit.login(ip(2), "alice", Some(1)).is_err());
        let u2 = audit.login(ip(2), "bob", None).unwrap();
        drop((u1, u2, c1, c2));
        let again = audit.login(ip(3), "alice", Some(1)).unwrap();
        let snap = audit.snapshot();
        assert_eq!(snap.peak_connections_per_ip[&ip(2)], 2);
        assert_eq!(snap.peak_users_per_ip[&ip(2)], 2);
        assert_eq!(snap.peak_connections_per_user["alice"], 1);
        assert_eq!(snap.refused_by_caps, 2);
        assert_eq!(snap.users_on_several_ips(), vec!["alice"]);
        drop(again);
    }

    #[test]
    fn violations_name_who_broke_which_budget() {
        let audit = Arc::new(AuditState::default());
        let tickets: Vec<_> = (0..9)
            .map(|_| audit.login(ip(2), "carol", None).unwrap())
            .collect();
        let budget = AuditBudget::default();
        let v = audit.snapshot().violations(&budget);
        assert_eq!(v, vec!["user carol had 9 connections at once (budget 8)"]);
        drop(tickets);
        let tight = AuditBudget {
            users_per_ip: 0,
            connections_per_ip: Some(0),
            ..budget
        };
        assert_eq!(audit.snapshot().violations(&tight).len(), 2);
    }
}
