//! The copy pipeline of one attempt: source connections fetch windows in plan order, each
//! folder's destination writer appends them in order, and a dispatcher feeds the fetchers while
//! the bytes-in-flight budgets (the mailbox's and the run's) allow.
//!
//! Invariants: memory is bounded by the semaphores (a window holds its bytes from dispatch until
//! its last APPEND is acknowledged); each destination folder is written by one connection; when
//! one connection fails the others stop taking work and finish what is in flight, so only the
//! failed connection's APPENDs are left unanswered.

use super::appender::{run_appender, AppendSettings, AppenderResult};
use super::fetcher::{run_fetcher, FetchedWindow, WindowBudget, WindowTask};
use super::isolation::Isolation;
use super::job::CopyOptions;
use super::mailbox::RunBudget;
use super::progress_state::ProgressState;
use crate::budget::Lease;
use crate::error::{Error, Result};
use crate::imap::Connection;
use crate::plan::folders::FolderPlan;
use std::sync::Arc;
use tokio::sync::{mpsc, Semaphore};
use tokio::task::JoinSet;

/// What a pipeline task hands back: a source connection, or a destination writer's result.
enum Worker {
    Source(Box<Connection>),
    Dest(Box<AppenderResult>),
}

/// Folder index → writer index, largest folders first onto the least loaded writer.
pub(super) fn assign_folders(
    busy: &[usize],
    counts: &[(u64, u64)],
    n_folders: usize,
    n_writers: usize,
) -> Vec<usize> {
    let mut owner = vec![0usize; n_folders];
    let mut load = vec![0u64; n_writers];
    let mut order = busy.to_vec();
    order.sort_by_key(|i| std::cmp::Reverse(counts[*i].1 + counts[*i].0 * 2048));
    for i in order {
        let (w, _) = load
            .iter()
            .enumerate()
            .min_by_key(|(_, l)| **l)
            .expect("at least one writer");
        owner[i] = w;
        load[w] += counts[i].1 + counts[i].0 * 2048;
    }
    owner
}

/// Which connection serves each folder: `dest[folder]` writes it, `source[folder]` reads it.
pub(super) struct Routing {
    pub(super) dest: Vec<usize>,
    pub(super) source: Vec<usize>,
}

#[allow(clippy::too_many_arguments)] // the pipeline's parts, each used once
pub(super) async fn run_pipeline(
    sources: Vec<Connection>,
    dests: Vec<Connection>,
    window_list: Vec<crate::plan::order::Window>,
    plans: &[FolderPlan],
    routing: Routing,
    mut settings: AppendSettings,
    options: &CopyOptions,
    run_budget: &RunBudget,
    lease: Option<&Lease>,
    state: &Arc<ProgressState>,
    isolation: &Arc<Isolation>,
) -> Result<(Vec<Connection>, Vec<AppenderResult>)> {
    // Cancelled by the run's shutdown, or here when a connection fails.
    let stop = options.shutdown.child_token();
    settings.shutdown = stop.clone();
    let mut failed: Option<Error> = None;
    let budget = options.bytes_in_flight.clamp(1, u32::MAX as usize) as u64;
    let semaphore = Arc::new(Semaphore::new(budget as usize));
    let run_semaphore = run_budget.semaphore.clone();
    let run_bytes = run_budget.bytes;
    let owner = routing.dest;
    let fetch_owner = routing.source;
    let source_wires: Arc<Vec<String>> =
        Arc::new(plans.iter().map(|p| p.source_wire.clone()).collect());
    let dest_wires: Arc<Vec<String>> =
        Arc::new(plans.iter().map(|p| p.dest_wire.clone()).collect());
    let source_names: Arc<Vec<String>> =
        Arc::new(plans.iter().map(|p| p.source_name.clone()).collect());
    let owner = Arc::new(owner);

    let mut set: JoinSet<Result<Worker>> = JoinSet::new();
    let mut routes = Vec::with_capacity(dests.len());
    for conn in dests {
        // One window queued per writer: fetchers run ahead by at most one window each.
        let (tx, rx) = mpsc::channel::<FetchedWindow>(1);
        routes.push(tx);
        let (dw, sn, st, s) = (
            dest_wires.clone(),
            source_names.clone(),
            settings.clone(),
            state.clone(),
        );
        set.spawn(async move {
            run_appender(conn, rx, dw, sn, st, s)
                .await
                .map(|r| Worker::Dest(Box::new(r)))
        });
    }
    let routes = Arc::new(routes);
    let mut queues = Vec::with_capacity(sources.len());
    for conn in sources {
        // Two windows queued per source connection: the next FETCH is ready when one ends.
        let (tx, q) = mpsc::channel::<WindowTask>(2);
        queues.push(tx);
        let (w, r, o) = (source_wires.clone(), routes.clone(), owner.clone());
        let t = options.io_timeout;
        let shutdown = stop.clone();
        let isolation = isolation.clone();
        set.spawn(async move {
            run_fetcher(conn, q, w, r, o, t, shutdown, isolation)
                .await
                .map(|c| Worker::Source(Box::new(c)))
        });
    }
    drop(routes);

    let dispatch = async move {
        for window in window_list {
            let want = |limit: u64| window.bytes.clamp(1, limit) as u32;
            let mailbox = semaphore.clone().acquire_many_owned(want(budget)).await;
            let run = run_semaphore
                .clone()
                .acquire_many_owned(want(run_bytes))
                .await;
            let (Ok(mailbox), Ok(run)) = (mailbox, run) else {
                break;
            };
            if let Some(lease) = lease {
                lease
                    .pace_fetch(window.items.len() as u64, window.bytes)
                    .await;
            }
            let queue = &queues[fetch_owner[window.folder]];
            if queue
                .send((window, WindowBudget { mailbox, run }))
                .await
                .is_err()
            {
                break; // that fetcher is gone; its error is in the join set
            }
        }
    };
    // Dropped when a writer stops early (destination full): the fetchers' queues close, they
    // finish the window in hand, and every writer books what it had sent and returns.
    let mut dispatch = Some(Box::pin(dispatch));
    let mut sources_back = Vec::new();
    let mut results = Vec::new();
    loop {
        tokio::select! {
            _ = async { dispatch.as_mut().expect("guarded").await }, if dispatch.is_some() => dispatch = None,
            () = stop.cancelled(), if dispatch.is_some() => dispatch = None,
            joined = set.join_next() => match joined {
                None => break,
                Some(Ok(Ok(Worker::Source(c)))) => sources_back.push(*c),
                Some(Ok(Ok(Worker::Dest(r)))) => {
                    if r.stopped.is_some() {
                        dispatch = None;
                    }
                    results.push(*r)
                }
                Some(Ok(Err(e))) => {
                    // One connection failed: the others stop taking work and finish what is in
                    // flight, so only the failed connection's APPENDs are left unanswered.
                    tracing::debug!(error = %e, "a connection failed; draining the others");
                    failed.get_or_insert(e);
                    stop.cancel();
                    dispatch = None;
                }
                Some(Err(join)) => {
                    set.abort_all();
                    return Err(Error::Protocol { server: "pipeline".into(), message: format!("worker died: {join}") });
                }
            }
        }
    }
    match failed {
        Some(e) => Err(e),
        None => Ok((sources_back, results)),
    }
}
