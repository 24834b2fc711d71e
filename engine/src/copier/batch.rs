//! Runs many mailboxes under the batch's connection budget ([`crate::budget`]).
//!
//! Every mailbox is a task that waits for its lease (its user's slot on an egress address and
//! a grant of connections), copies with what was granted, and gives it back. Leases are granted
//! in start order per address (FIFO), so a small mailbox never waits behind later ones. The
//! start order is `options.budget.order`; a user's address comes from the state store when it
//! was recorded and is still configured, else from its static segment or, in pool mode, from
//! the address with the most room when the mailbox starts, and is then recorded.

use super::job::{CopyOptions, MailboxJob};
use crate::budget::{static_segment, BatchOrder, Budget, Demand, EgressMode};
use crate::imap::{TlsClient, TlsConfig};
use crate::report::{BatchReport, MailboxOutcome, MailboxReport, ProgressSink};
use crate::state::StateStore;
use std::cmp::Reverse;
use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Arc;
use std::time::Instant;

/// Moves every mailbox of `jobs`, at most `parallel` at once and within `options.budget`, and
/// reports on each (in list order), with each egress address's peaks and load over time.
///
/// A mailbox that fails does not stop the others; its report says why. Budget settings that
/// cannot work fail every mailbox with the reason (the CLI checks them before).
pub async fn run_batch(
    jobs: Vec<MailboxJob>,
    options: CopyOptions,
    tls: TlsConfig,
    parallel: usize,
    progress: ProgressSink,
) -> BatchReport {
    let started = Instant::now();
    let fail_all = |jobs: &[MailboxJob], why: String| {
        let reports = jobs
            .iter()
            .map(|j| MailboxReport::failed(&j.id, why.clone(), started.elapsed()))
            .collect();
        BatchReport::new(reports, started.elapsed())
    };
    let budget = match Budget::new(&options.budget, parallel) {
        Ok(budget) => budget,
        Err(e) => return fail_all(&jobs, format!("connection budget: {e}")),
    };
    let options = Arc::new(options);
    let tls = match TlsClient::new(&tls) {
        Ok(client) => Arc::new(client),
        Err(e) => return fail_all(&jobs, e.to_string()),
    };
    let order = start_order(&jobs, options.budget.order, options.state.as_ref()).await;
    let pins = pinned_addresses(&jobs, &budget, options.state.as_ref()).await;
    let run_budget = super::mailbox::RunBudget::new(options.run_bytes_in_flight);
    let ids: Vec<String> = jobs.iter().map(|j| j.id.clone()).collect();
    let mut jobs: Vec<Option<MailboxJob>> = jobs.into_iter().map(Some).collect();
    let mut tasks = Vec::with_capacity(jobs.len());
    let (want_source, want_dest) = (
        options.source_connections.max(1) as u32,
        options.dest_connections.max(1) as u32,
    );
    for index in order {
        let job = jobs[index].take().expect("each index once");
        let pinned = pins[index];
        let demand = Demand {
            user: job.id.clone(),
            pinned,
            source_server: server_key(&job.source),
            dest_server: server_key(&job.dest),
            want_source,
            want_dest,
        };
        if !budget.can_ever_run(&demand) {
            let why = "connection budget: the per-server cap leaves no room for a source and a \
                       destination connection of this login on this server";
            let report = MailboxReport::failed(&job.id, why.into(), Default::default());
            tasks.push((index, tokio::spawn(async move { report })));
            continue;
        }
        let (options, tls, progress, run_budget, budget) = (
            options.clone(),
            tls.clone(),
            progress.clone(),
            run_budget.clone(),
            budget.clone(),
        );
        // Spawned in start order: each asks for its lease at once, so the budget's queue is in
        // start order.
        let task = tokio::spawn(async move {
            let admitted = tokio::select! {
                lease = budget.admit(demand) => Some(lease),
                () = options.shutdown.cancelled() => None,
            };
            let Some(mut lease) = admitted else {
                let mut report = MailboxReport::failed(&job.id, String::new(), Default::default());
                report.outcome = MailboxOutcome::Stopped("interrupted: not started".into());
                return report;
            };
            if pinned.is_none() {
                record_egress(options.state.as_ref(), &job.id, lease.egress()).await;
            }
            let report = super::mailbox::copy_mailbox_leased(
                index,
                &job,
                &options,
                &tls,
                &run_budget,
                Some(&mut lease),
                progress,
            )
            .await;
            lease.finish().await;
            report
        });
        tasks.push((index, task));
        tokio::task::yield_now().await;
    }
    let sampler = {
        let (budget, every) = (budget.clone(), options.budget.sample_every);
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(every);
            loop {
                tick.tick().await;
                budget.sample();
            }
        })
    };
    let mut reports: Vec<Option<MailboxReport>> = vec![None; ids.len()];
    for (index, task) in tasks {
        // A bug that panics one mailbox's task must not take the other mailboxes' reports along.
        reports[index] = Some(task.await.unwrap_or_else(|e| {
            MailboxReport::failed(
                &ids[index],
                format!("internal error: {e}"),
                started.elapsed(),
            )
        }));
    }
    sampler.abort();
    budget.sample();
    let mut report = BatchReport::new(reports.into_iter().flatten().collect(), started.elapsed());
    report.egress_peaks = budget.peaks();
    report.egress_load = budget.samples();
    report
}

/// The per-server cap's key: the server and the login (Dovecot counts a user's connections per
/// client IP, Gmail per account; a user is on one address, so this is the same).
fn server_key(account: &super::Account) -> String {
    format!("{} {}", account.endpoint, account.auth.login_identity())
}

/// The order mailboxes start in: indices into `jobs`. Sizes come from the state store (bytes
/// copied in earlier passes plus bytes left when one stopped); without a store, or for
/// mailboxes it does not know, the size counts as 0 and the order among them stays as listed.
async fn start_order(
    jobs: &[MailboxJob],
    order: BatchOrder,
    store: Option<&StateStore>,
) -> Vec<usize> {
    if order == BatchOrder::Listed {
        return (0..jobs.len()).collect();
    }
    let sizes: Vec<u64> = match store {
        None => vec![0; jobs.len()],
        Some(store) => {
            let keys: Vec<String> = jobs.iter().map(|j| j.state_key()).collect();
            store
                .call(move |db| {
                    keys.iter()
                        .map(|k| {
                            let copied = db.copied_totals(k)?.bytes;
                            let left = db
                                .mailbox_state(k)?
                                .and_then(|m| m.leftover)
                                .map_or(0, |l| l.bytes);
                            Ok(copied + left)
                        })
                        .collect()
                })
                .await
                .unwrap_or_else(|e| {
                    tracing::warn!(error = %e, "mailbox sizes unknown; starting in list order");
                    vec![0; jobs.len()]
                })
        }
    };
    order_by_size(&sizes, order)
}

/// Indices of `sizes` in `order`; equal sizes keep their listed order.
fn order_by_size(sizes: &[u64], order: BatchOrder) -> Vec<usize> {
    let mut indices: Vec<usize> = (0..sizes.len()).collect();
    match order {
        BatchOrder::Listed => {}
        BatchOrder::LargestFirst => indices.sort_by_key(|&i| Reverse(sizes[i])),
        BatchOrder::SmallestFirst => indices.sort_by_key(|&i| sizes[i]),
    }
    indices
}

/// The address each mailbox must use, by list index: the one recorded for its user if still
/// configured; else in static mode its segment's (recorded from now on); else `None` (pool:
/// placed when it starts).
async fn pinned_addresses(
    jobs: &[MailboxJob],
    budget: &Budget,
    store: Option<&StateStore>,
) -> Vec<Option<usize>> {
    let configured: Vec<IpAddr> = budget.addresses().iter().flatten().copied().collect();
    if configured.is_empty() {
        return vec![None; jobs.len()];
    }
    let users: Vec<String> = jobs.iter().map(|j| j.id.clone()).collect();
    let recorded: Vec<Option<IpAddr>> = match store {
        None => vec![None; jobs.len()],
        Some(store) => {
            let users = users.clone();
            store
                .call(move |db| users.iter().map(|u| db.egress_of(u)).collect())
                .await
                .unwrap_or_else(|e| {
                    tracing::warn!(error = %e, "recorded egress addresses unreadable");
                    vec![None; jobs.len()]
                })
        }
    };
    let mut pins = Vec::with_capacity(jobs.len());
    let mut to_record = Vec::new();
    // A user listed twice keeps its first mailbox's segment.
    let mut segment_of: HashMap<String, usize> = HashMap::new();
    for (i, user) in users.into_iter().enumerate() {
        let pin = match recorded[i].and_then(|ip| budget.index_of(ip)) {
            Some(ip) => Some(ip),
            None if budget.config().egress_mode == EgressMode::Static => {
                let ip = *segment_of.entry(user.clone()).or_insert_with(|| {
                    let ip = static_segment(i, jobs.len(), configured.len());
                    to_record.push((user, configured[ip]));
                    ip
                });
                Some(ip)
            }
            None => None,
        };
        pins.push(pin);
    }
    if let (Some(store), false) = (store, to_record.is_empty()) {
        let at = chrono::Utc::now();
        let recorded = store
            .call(move |db| {
                for (user, ip) in &to_record {
                    db.sticky_egress(user, &[*ip], at)?;
                }
                Ok(())
            })
            .await;
        if let Err(e) = recorded {
            tracing::warn!(error = %e, "could not record the egress addresses");
        }
    }
    pins
}

/// Records `ip` as `user`'s egress address in the store, if there is one, so a resumed run
/// uses it again.
async fn record_egress(store: Option<&StateStore>, user: &str, ip: Option<IpAddr>) {
    let (Some(store), Some(ip)) = (store, ip) else {
        return;
    };
    let user = user.to_string();
    let at = chrono::Utc::now();
    if let Err(e) = store
        .call(move |db| db.sticky_egress(&user, &[ip], at))
        .await
    {
        tracing::warn!(error = %e, "could not record an egress address");
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::budget::BudgetConfig;
    use crate::imap::Auth;
    use crate::secret::Secret;

    #[test]
    fn size_orders_are_stable() {
        let sizes = [5, 0, 9, 5, 0];
        assert_eq!(order_by_size(&sizes, BatchOrder::Listed), [0, 1, 2, 3, 4]);
        assert_eq!(
            order_by_size(&sizes, BatchOrder::LargestFirst),
            [2, 0, 3, 1, 4]
        );
        assert_eq!(
            order_by_size(&sizes, BatchOrder::SmallestFirst),
            [1, 4, 0, 3, 2]
        );
    }

    fn job(id: &str) -> MailboxJob {
        let account = super::super::Account {
            endpoint: "imaps://127.0.0.1:993".parse().unwrap(),
            auth: Auth::Login {
                user: id.into(),
                password: Secret::new("pw"),
            },
        };
        MailboxJob {
            id: id.into(),
            source: account.clone(),
            dest: account,
            source_root: None,
        }
    }

    #[tokio::test]
    async fn static_segments_are_recorded_and_a_recorded_address_wins() {
        let dir = tempfile::tempdir().unwrap();
        let store = StateStore::open(dir.path().join("s")).await.unwrap();
        let ips: Vec<IpAddr> = ["127.0.0.1", "127.0.0.2"]
            .iter()
            .map(|s| s.parse().unwrap())
            .collect();
        // "d" has an address from an earlier run: it keeps it, whatever its segment.
        store
            .call({
                let ip = ips[0];
                move |db| db.sticky_egress("d", &[ip], chrono::Utc::now()).map(|_| ())
            })
            .await
            .unwrap();
        let config = BudgetConfig {
            egress: ips.clone(),
            egress_mode: EgressMode::Static,
            ..BudgetConfig::default()
        };
        let budget = Budget::new(&config, 4).unwrap();
        let jobs: Vec<MailboxJob> = ["a", "b", "c", "d"].into_iter().map(job).collect();
        let pins = pinned_addresses(&jobs, &budget, Some(&store)).await;
        assert_eq!(pins, [Some(0), Some(0), Some(1), Some(0)]);
        let c = store.call(|db| db.egress_of("c")).await.unwrap();
        assert_eq!(c, Some(ips[1]), "the segment is recorded for the next run");
        // Pool mode: only recorded users are pinned.
        let pool = Budget::new(
            &BudgetConfig {
                egress_mode: EgressMode::Pool,
                ..config
            },
            4,
        )
        .unwrap();
        let jobs: Vec<MailboxJob> = ["a", "new"].into_iter().map(job).collect();
        assert_eq!(
            pinned_addresses(&jobs, &pool, Some(&store)).await,
            [Some(0), None]
        );
    }
}
