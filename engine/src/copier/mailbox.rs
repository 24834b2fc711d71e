//! One mailbox, end to end: connect, plan the folders, create and subscribe them at the
//! destination, settle what the ledger does not know yet (unanswered APPENDs, moved or recreated
//! folders), read every folder's metadata, order newest first, then run the pipeline
//! ([`super::pipeline`]):
//!
//! ```text
//! dispatcher ──(window, budget permit)──► source connections ──(bodies)──► destination writers
//!   plan order; blocks on the            UID FETCH BODY.PEEK[]            one per folder set;
//!   bytes-in-flight semaphore                                             windows in order
//! ```
//! Memory is bounded by the semaphore: a window holds permits for its bytes from dispatch until
//! its last APPEND is acknowledged. Any worker's error ends the attempt; [`attempts`] reconnects
//! or ends the mailbox (the report says why).

use super::appender::{AppendSettings, FolderTally, RewriteStats, RewriteStep};
use super::dest_folders::{copy_subscriptions, create_folders, note_dest_uidnext};
use super::discovery::{self, scan_all};
use super::flag_sync::{sync_flags, FlagSync};
use super::isolation::Isolation;
use super::job::{AppendMode, CompressMode, CopyOptions, MailboxJob};
use super::ledger::{
    adopt_index, recheck_destination, reconcile, register_folders, revalidate_map, Ledger,
    SourceKey,
};
use super::pipeline::{assign_folders, run_pipeline, Routing};
use super::progress_state::ProgressState;
use super::suspects::Suspects;
use super::warnings::{moved_warnings, threshold_warnings};
use crate::budget::{Lease, Side};
use crate::error::{Disposition, Error, Result};
use crate::imap::{connect, ConnectOptions, Connection, TlsClient};
use crate::plan::folders::{
    folders_to_create, mailbox_folder_map, plan_folders, plan_folders_mapped, source_root_found,
    translate_name, FolderPlan,
};
use crate::plan::message_filter::Exclusion;
use crate::plan::order::{sort_newest_first, windows, MessageMeta};
use crate::report::{
    AddressRewriteReport, Filtered, FolderReport, Incremental, LeftBehind, MailboxOutcome,
    MailboxReport, MessageFailure, Phase, ProgressSink,
};
use crate::state::{Leftover, Status as StoreStatus, StopReason};
use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::Instant;
use tokio::sync::Semaphore;

/// Bytes held in memory across all mailboxes of a run: every fetched window takes its size from
/// this as well as from its mailbox's budget, until its messages are acknowledged.
#[derive(Debug, Clone)]
pub struct RunBudget {
    pub(super) semaphore: Arc<Semaphore>,
    pub(super) bytes: u64,
}

impl RunBudget {
    /// A budget of `bytes` (at least one byte; at most 4 GiB).
    pub fn new(bytes: usize) -> Self {
        let bytes = bytes.clamp(1, u32::MAX as usize);
        RunBudget {
            semaphore: Arc::new(Semaphore::new(bytes)),
            bytes: bytes as u64,
        }
    }
}

/// Moves one mailbox. Never panics on server behaviour; failures land in the report.
/// `tls` is built once per run ([`TlsClient::new`]) and shared by every connection, and so is
/// `budget`.
pub async fn copy_mailbox(
    index: usize,
    job: &MailboxJob,
    options: &CopyOptions,
    tls: &TlsClient,
    budget: &RunBudget,
    progress: ProgressSink,
) -> MailboxReport {
    copy_mailbox_leased(index, job, options, tls, budget, None, progress).await
}

/// [`copy_mailbox`] within a batch's connection budget: the mailbox opens as many connections
/// per side as `lease` grants, each bound to the lease's egress address and holding a permit
/// until it closes, and asks for a new grant before each reconnect.
pub async fn copy_mailbox_leased(
    index: usize,
    job: &MailboxJob,
    options: &CopyOptions,
    tls: &TlsClient,
    budget: &RunBudget,
    lease: Option<&mut Lease>,
    progress: ProgressSink,
) -> MailboxReport {
    let started = Instant::now();
    let state = Arc::new(ProgressState::new(index, &job.id, progress));
    state.set_phase(Phase::Planning);
    let ledger = match Ledger::open(options.state.as_ref(), &job.state_key()).await {
        Ok(ledger) => ledger,
        Err(e) => {
            state.set_phase(Phase::Failed);
            return MailboxReport::failed(&job.id, e.to_string(), started.elapsed());
        }
    };
    tracing::debug!(mailbox = %job.id, elapsed = ?started.elapsed(), "checkpoints loaded");
    let (running, synced) = match options.final_pass {
        false => (StoreStatus::Syncing, StoreStatus::Synced),
        true => (StoreStatus::Completing, StoreStatus::Completed),
    };
    record_status(&ledger, running, None).await;
    let report = attempts(job, options, tls, budget, lease, &state, started, &ledger).await;
    // What is buffered (done, cancelled) is committed before the mailbox is reported.
    if let Err(e) = ledger.commit().await {
        tracing::warn!(mailbox = %job.id, error = %e, "could not commit the last records");
    }
    let (status, leftover) = match &report.outcome {
        MailboxOutcome::Completed => (synced, None),
        MailboxOutcome::Stopped(reason) => {
            let why = match reason.starts_with("destination full") {
                true => StopReason::DestinationFull,
                false => StopReason::Operator,
            };
            let leftover = report.left.as_ref().map(|l| Leftover {
                messages: l.messages,
                bytes: l.bytes,
                oldest_copied: l
                    .oldest_copied
                    .as_deref()
                    .and_then(|d| chrono::DateTime::parse_from_rfc3339(d).ok())
                    .map(|d| d.with_timezone(&chrono::Utc)),
            });
            (StoreStatus::Stopped(why), leftover)
        }
        // The report keeps "failed" for rejected credentials (the text starts "credentials
        // rejected"); the store's status is the seed's "Stopped: credentials rejected".
        MailboxOutcome::Failed(reason) if reason.starts_with("credentials rejected") => {
            (StoreStatus::Stopped(StopReason::CredentialsRejected), None)
        }
        MailboxOutcome::Failed(reason) => (StoreStatus::Failed(reason.clone()), None),
    };
    record_status(&ledger, status, leftover).await;
    report
}

/// Records a mailbox's status in the state store, if there is one. A failure is logged, not
/// fatal: the records of messages are what resume depends on, and they are committed already.
async fn record_status(ledger: &Ledger, status: StoreStatus, leftover: Option<Leftover>) {
    let Some((store, mailbox)) = ledger.store().cloned() else {
        return;
    };
    let name = mailbox.clone();
    let r = store
        .call(move |db| db.set_mailbox_status(&name, status, leftover, chrono::Utc::now()))
        .await;
    if let Err(e) = r {
        tracing::warn!(mailbox = %mailbox, error = %e, "could not record the mailbox's status");
    }
}

/// Runs attempts at one mailbox until one ends it: reconnecting after transient failures.
#[allow(clippy::too_many_arguments)] // one call site; a struct of them would only rename them
async fn attempts(
    job: &MailboxJob,
    options: &CopyOptions,
    tls: &TlsClient,
    budget: &RunBudget,
    mut lease: Option<&mut Lease>,
    state: &Arc<ProgressState>,
    started: Instant,
    ledger: &Ledger,
) -> MailboxReport {
    let mut fruitless = 0;
    let mut first = true;
    // Messages whose FETCH dropped the connection: read alone, then left out (see suspects.rs).
    let mut suspects = Suspects::new();
    loop {
        if let Some(lease) = lease.as_deref_mut().filter(|_| !first) {
            // The failed attempt's connections close, and the reconnect gets what the budget
            // grants now: its old place in line, maybe more connections than before.
            lease.regrant().await;
        }
        first = false;
        let done_before = ledger.ask(|b| b.done_count()).await;
        let isolation = Arc::new(suspects.isolation());
        let e = match run(
            job,
            options,
            tls,
            budget,
            lease.as_deref(),
            state,
            started,
            ledger,
            &isolation,
        )
        .await
        {
            Ok(report) => {
                state.set_phase(Phase::Finished);
                return report;
            }
            Err(e) => e,
        };
        // What was sent without an answer is looked for at the destination next time.
        ledger.update(|b| b.attempt_failed()).await;
        if let Err(e) = ledger.commit().await {
            tracing::warn!(mailbox = %job.id, error = %e, "could not commit records");
        }
        let (e, isolated) = suspects.learn(&isolation, e);
        fruitless = match ledger.ask(|b| b.done_count()).await > done_before || isolated {
            true => 1,
            false => fruitless + 1,
        };
        if e.disposition() == Disposition::Retry
            && fruitless <= MAX_FRUITLESS_ATTEMPTS
            && !options.shutdown.is_cancelled()
        {
            let mut pause = retry_pause(&e, fruitless, options.reconnect_pause);
            if ledger.ask(|b| b.has_pending()).await {
                // A server may still carry out APPENDs it read before the connection went:
                // let it finish before looking for them.
                pause = pause.max(SETTLE_BEFORE_RECONCILING);
            }
            tracing::warn!(mailbox = %job.id, error = %e, ?pause, "connection lost or refused; reconnecting");
            tokio::select! {
                () = tokio::time::sleep(pause) => continue,
                () = options.shutdown.cancelled() => {}
            }
        }
        state.set_phase(Phase::Failed);
        tracing::warn!(mailbox = %job.id, error = %e, "mailbox failed");
        // What the destination acknowledged before the failure is there: say so.
        let (messages, bytes) = ledger.ask(|b| b.done_totals()).await;
        let mut report = MailboxReport::failed(&job.id, e.to_string(), started.elapsed());
        report.outcome = outcome_of(&e);
        report.copied_messages = messages;
        report.copied_bytes = bytes;
        return report;
    }
}

/// How long after a dead run's last intent its APPENDs are looked for: a server may still be
/// carrying out what it read before the connection went.
const SETTLE_AFTER_A_CRASH: std::time::Duration = std::time::Duration::from_secs(2);

/// The least pause before looking at the destination for APPENDs whose answer was lost.
const SETTLE_BEFORE_RECONCILING: std::time::Duration = std::time::Duration::from_millis(500);

/// Attempts in a row that store nothing before a mailbox gives up on a server that keeps
/// dropping the connection or refusing for now.
const MAX_FRUITLESS_ATTEMPTS: u32 = 6;

/// The pause before attempt `n + 1` after `n` fruitless ones: the server's suggested backoff, or
/// `first` doubling up to a minute, plus up to a quarter of jitter so mailboxes do not return in
/// step.
fn retry_pause(e: &Error, n: u32, first: std::time::Duration) -> std::time::Duration {
    let base = super::appender::suggested_backoff(&e.to_string())
        .unwrap_or_else(|| first.saturating_mul(1 << n.saturating_sub(1).min(6)))
        .min(std::time::Duration::from_secs(60));
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos());
    base + base.mul_f64(f64::from(nanos % 1000) / 4000.0)
}

/// Where each folder of `job` would go, without changing anything: logs in to both sides,
/// lists their folders, plans (through the folder map, if any) and logs out. For
/// `cutover migrate --dry-run`.
pub async fn plan_mailbox_folders(
    job: &MailboxJob,
    options: &CopyOptions,
    tls: &TlsClient,
) -> Result<Vec<FolderPlan>> {
    let t = options.io_timeout;
    let copts = ConnectOptions {
        tls: tls.clone(),
        compress: CompressMode::Off,
        compress_min_rtt: options.compress_min_rtt,
        timeout: t,
        logins: options.login_guard(),
        local_address: None,
        budget: None,
    };
    let (mut src, mut dst) =
        tokio::try_join!(connect(&job.source, &copts), connect(&job.dest, &copts))?;
    let (plans, _, _) = folder_plan(&mut src, &mut dst, job, options).await?;
    src.logout(t).await;
    dst.logout(t).await;
    Ok(plans)
}

/// Lists both sides and plans where each source folder goes (through the folder map and the
/// job's SourceRootFolder, if any): the plan, the destination's existing folders (wire names)
/// and its hierarchy delimiter.
pub(super) async fn folder_plan(
    src: &mut Connection,
    dst: &mut Connection,
    job: &MailboxJob,
    options: &CopyOptions,
) -> Result<(Vec<FolderPlan>, HashSet<String>, char)> {
    let t = options.io_timeout;
    let listed = discovery::list(&mut src.session, &src.server, t).await?;
    let map = mailbox_folder_map(
        options.folder_map.as_deref(),
        job.source_root.as_deref(),
        &listed,
    );
    if let (Some(map), Some(root)) = (&map, &job.source_root) {
        if !source_root_found(&listed, map) {
            return Err(Error::SourceRootNotFound {
                server: src.server.clone(),
                root: root.clone(),
            });
        }
    }
    let subscribed = discovery::subscribed(&mut src.session, &src.server, t).await?;
    let dest_listed = discovery::list(&mut dst.session, &dst.server, t).await?;
    let dest_delimiter = match dest_listed.iter().find_map(|f| f.delimiter) {
        Some(d) => d,
        None => discovery::delimiter(&mut dst.session, &dst.server, t)
            .await?
            .unwrap_or('/'),
    };
    // Patterns see the mailbox's own names: under a SourceRootFolder, the name below it, so one
    // `--exclude-folder Junk` serves every row of a batch whatever its root. Folders outside
    // the root are kept here and left out by the plan.
    let listed: Vec<_> = listed
        .into_iter()
        .filter(|f| {
            let decoded = crate::imap::mutf7::decode_lossless(&f.wire);
            let name = translate_name(&decoded, f.delimiter, '/');
            let own = map
                .as_ref()
                .and_then(|m| m.strip_root(&name))
                .unwrap_or(&name);
            options.folder_filter.keeps(own)
        })
        .collect();
    let plans = match &map {
        Some(map) => plan_folders_mapped(&listed, &subscribed, &dest_listed, dest_delimiter, map),
        None => plan_folders(&listed, &subscribed, dest_delimiter),
    };
    let existing: HashSet<String> = dest_listed.iter().map(|f| f.wire.clone()).collect();
    Ok((plans, existing, dest_delimiter))
}

async fn open_many(
    account: &super::Account,
    opts: &ConnectOptions,
    n: usize,
) -> Result<Vec<Connection>> {
    futures::future::try_join_all((0..n).map(|_| connect(account, opts))).await
}

#[allow(clippy::too_many_arguments)] // one call site; a struct of them would only rename them
async fn run(
    job: &MailboxJob,
    options: &CopyOptions,
    tls: &TlsClient,
    run_budget: &RunBudget,
    lease: Option<&Lease>,
    state: &Arc<ProgressState>,
    started: Instant,
    ledger: &Ledger,
    isolation: &Arc<Isolation>,
) -> Result<MailboxReport> {
    let t = options.io_timeout;
    let side_options = |side: Side| {
        let budget = lease.map(|l| l.connect_budget(side));
        ConnectOptions {
            tls: tls.clone(),
            compress: options.compress,
            compress_min_rtt: options.compress_min_rtt,
            timeout: t,
            logins: options.login_guard(),
            local_address: budget.as_ref().and_then(|b| b.local_address()),
            budget,
        }
    };
    let (src_opts, dst_opts) = (side_options(Side::Source), side_options(Side::Destination));
    // What the budget granted, else what the options ask for.
    let (source_connections, dest_connections) = match lease {
        Some(l) => (l.source_connections(), l.dest_connections()),
        None => (options.source_connections, options.dest_connections),
    };
    let (mut src, mut dst) = tokio::try_join!(
        connect(&job.source, &src_opts),
        connect(&job.dest, &dst_opts)
    )?;
    let compressed = (src.compressed, dst.compressed);
    tracing::debug!(mailbox = %job.id, elapsed = ?started.elapsed(), "logged in on both sides");

    // Folders.
    let (plans, existing, dest_delimiter) = folder_plan(&mut src, &mut dst, job, options).await?;

    // What an earlier attempt sent without an answer: found at the destination, or sent again.
    if ledger.ask(|b| b.has_pending()).await {
        let now = chrono::Utc::now();
        let wait = ledger
            .ask(move |b| b.settle_wait(SETTLE_AFTER_A_CRASH, now))
            .await;
        if !wait.is_zero() {
            tracing::info!(mailbox = %job.id, ?wait, "a previous run stopped with APPENDs unanswered; letting the destination finish them");
            tokio::select! {
                () = tokio::time::sleep(wait) => {}
                () = options.shutdown.cancelled() => {}
            }
        }
        let found = reconcile(ledger, &mut dst, &existing, t).await?;
        tracing::info!(mailbox = %job.id, found = found.found, missing = found.missing, "looked for the messages whose APPEND was not answered");
    }

    // Done records count only where the plan sends their folder now (before anything is made).
    let plan_map: HashMap<String, String> = (plans.iter())
        .map(|p| (p.source_wire.clone(), p.dest_wire.clone()))
        .collect();
    let moved = revalidate_map(&mut dst, ledger, plan_map, &existing, options.remap, t).await?;
    let to_create = folders_to_create(&plans, &existing, dest_delimiter);
    let folders_created = create_folders(&mut dst, &to_create, t).await?;
    let subscriptions_copied = copy_subscriptions(&mut dst, &plans, t).await?;

    // Destination folders recreated since an earlier pass: their messages are looked for again
    // by fingerprint, and those gone are copied again below.
    let present: HashSet<String> = existing.iter().cloned().chain(to_create).collect();
    let rechecked = recheck_destination(&mut dst, ledger, &present, t).await?;
    if rechecked.recreated_folders > 0 {
        tracing::warn!(mailbox = %job.id, folders = rechecked.recreated_folders, found = rechecked.found_again, lost = rechecked.lost, "destination folders were recreated since the last pass");
    }

    tracing::debug!(mailbox = %job.id, elapsed = ?started.elapsed(), "folders planned");
    // Metadata of every folder, spread over the source connections.
    let mut sources = vec![src];
    sources.extend(open_many(&job.source, &src_opts, source_connections.max(1) - 1).await?);
    let search = options.message_filter.search_criteria();
    // With a state store, folders whose last pass ended clean are read by what changed since
    // (CONDSTORE); the marks only hold under the same message filter.
    let filter_signature = options.message_filter.signature();
    let marks: Vec<Option<(u32, u64)>> = {
        let (wires, filter): (Vec<String>, String) = (
            plans.iter().map(|p| p.source_wire.clone()).collect(),
            filter_signature.clone(),
        );
        ledger
            .ask(move |b| wires.iter().map(|w| b.mark(w, &filter)).collect())
            .await
    };
    let condstore = ledger.store().is_some();
    let (sources, scans) =
        scan_all(sources, &plans, search.as_deref(), &marks, condstore, t).await?;
    let mut source_counts = vec![(0u64, 0u64); plans.len()];
    let mut all: Vec<MessageMeta> = Vec::new();
    let mut tallies: HashMap<usize, FolderTally> = HashMap::new();
    let mut failures = Vec::new();
    let mut filtered = vec![Filtered::default(); plans.len()];
    let mut flag_changes = Vec::new();
    let mut source_folders: Vec<(String, u32)> =
        plans.iter().map(|p| (p.source_wire.clone(), 0)).collect();
    // Per folder: HIGHESTMODSEQ at this pass's EXAMINE and the highest UID read, for the marks
    // recorded when the pass ends clean.
    let mut modseqs: Vec<(Option<u64>, u32)> = vec![(None, 0); plans.len()];
    let (mut read_since, mut unchanged) = (0u64, 0u64);
    for (folder, scan) in scans.into_iter().enumerate() {
        let Some(scan) = scan else { continue };
        filtered[folder].outside_dates = scan.outside_dates;
        source_folders[folder].1 = scan.uidvalidity;
        let highest_uid = scan.messages.iter().map(|m| m.uid).max().unwrap_or(0);
        modseqs[folder] = (scan.highest_modseq, highest_uid);
        // Read by what changed: the messages not read are migrated and unchanged, so they
        // count from the ledger, and the changed ones already migrated are not counted twice.
        let partial = scan.changed_since.is_some();
        if let Some(since) = scan.changed_since {
            read_since += 1;
            unchanged += u64::from(scan.highest_modseq == Some(since));
            let wire = plans[folder].source_wire.clone();
            let (messages, bytes) = ledger.ask(move |b| b.done_in(&wire)).await;
            source_counts[folder].0 += messages;
            source_counts[folder].1 += bytes;
        }
        let mut kept = Vec::with_capacity(scan.messages.len());
        for m in scan.messages {
            match options.message_filter.excludes(&m) {
                Some(Exclusion::Deleted) => filtered[folder].deleted += 1,
                Some(Exclusion::TooLarge) => filtered[folder].too_large += 1,
                None => kept.push(m),
            }
        }
        // Read by what changed, a migrated message was counted from the book already.
        for m in kept.iter().filter(|_| !partial) {
            source_counts[folder].0 += 1;
            source_counts[folder].1 += m.size;
        }
        let (wire, uidvalidity) = (plans[folder].source_wire.clone(), scan.uidvalidity);
        let (to_copy, changes) = ledger
            .ask(move |b| {
                let (mut to_copy, mut changes) = (Vec::new(), Vec::new());
                for m in kept {
                    let key = SourceKey {
                        folder: wire.clone(),
                        uidvalidity,
                        uid: m.uid,
                    };
                    match b.is_done(&key) {
                        false => to_copy.push(m),
                        true => changes.extend(b.flag_change(&key, &m.flags)),
                    }
                }
                (to_copy, changes)
            })
            .await;
        if partial {
            for m in &to_copy {
                source_counts[folder].0 += 1;
                source_counts[folder].1 += m.size;
            }
        }
        all.extend(to_copy);
        flag_changes.extend(changes);
        // Messages whose metadata the source would not give: recorded, not copied.
        for (uid, why) in scan.unreadable {
            source_counts[folder].0 += 1;
            tallies.entry(folder).or_default().failed_messages += 1;
            failures.push(MessageFailure {
                folder: plans[folder].source_name.clone(),
                uid,
                size: 0,
                reason: format!("the source could not read its metadata: {why}"),
            });
        }
    }
    tracing::debug!(mailbox = %job.id, elapsed = ?started.elapsed(), "folders scanned");
    register_folders(ledger, &source_folders).await?;
    if options.shutdown.is_cancelled() {
        for c in sources.into_iter().chain([dst]) {
            c.logout(t).await;
        }
        return Err(Error::Interrupted {
            context: "stopped before copying began".into(),
        });
    }
    let planned_bytes: u64 = source_counts.iter().map(|c| c.1).sum();
    let planned_messages: u64 = source_counts.iter().map(|c| c.0).sum();
    state.set_planned(planned_messages, planned_bytes);
    let (done_messages, done_bytes) = ledger.ask(|b| b.done_totals()).await;
    state.set_copied(done_messages, done_bytes);
    state.add_failed(failures.len() as u64);
    state.set_phase(Phase::Copying);

    let framing = framing_for(options, &dst.caps);
    let mut append_commands = 0;
    let rewrite = options
        .address_rewriter
        .as_ref()
        .map(|rewriter| RewriteStep {
            rewriter: rewriter.clone(),
            stats: Arc::new(std::sync::Mutex::new(RewriteStats::default())),
        });
    let mut dests = vec![dst];
    let mut sources = sources;
    let mut stopped: Option<Error> = None;
    let mut oldest_copied = None;
    if all.is_empty() {
        if let Some(lease) = lease {
            lease.return_unused();
        }
    }
    // Connections freed since the start (other mailboxes finished) go to this one too.
    let (more_source, more_dest) = match (lease, all.is_empty()) {
        (Some(lease), false) => lease.grow(),
        _ => (0, 0),
    };
    if more_source > 0 {
        sources.extend(open_many(&job.source, &src_opts, more_source).await?);
    }
    if !all.is_empty() {
        sort_newest_first(&mut all);
        let window_list = windows(
            all,
            options.fetch_window_messages,
            options.fetch_window_bytes,
            options.fetch_window_messages * sources.len(),
        );
        // Messages whose FETCH dropped the connection before are read one at a time.
        let window_list = isolation.split(window_list, |f| plans[f].source_wire.as_str());
        // Destination writers: each folder belongs to one, balanced by bytes.
        let busy: Vec<usize> = (0..plans.len())
            .filter(|i| source_counts[*i].0 > 0)
            .collect();
        note_dest_uidnext(&mut dests[0], &plans, &busy, ledger, t).await?;
        let adopt = match options.adopt_existing {
            true => {
                let folders: Vec<String> =
                    busy.iter().map(|&i| plans[i].dest_wire.clone()).collect();
                Some(Arc::new(
                    adopt_index(&mut dests[0], &folders, ledger, t).await?,
                ))
            }
            false => None,
        };
        let n_dest = (dest_connections + more_dest).max(1).min(busy.len());
        dests.extend(open_many(&job.dest, &dst_opts, n_dest - 1).await?);
        if let Some(lease) = lease {
            lease.return_unused();
        }
        let owner = assign_folders(&busy, &source_counts, plans.len(), n_dest);
        let settings = AppendSettings {
            batch_messages: framing.batch_messages,
            batch_bytes: options.append_batch_bytes,
            non_sync_limit: framing.non_sync_limit,
            depth: framing.depth,
            append_limit: dests[0].caps.append_limit,
            timeout: t,
            rewrite: rewrite.clone(),
            shutdown: options.shutdown.clone(),
            ledger: ledger.clone(),
            rematch: {
                let folders = source_folders.clone();
                Arc::new(
                    ledger
                        .ask(move |b| {
                            (folders.iter().enumerate())
                                .filter(|(_, (name, uv))| b.needs_rematch(name, *uv))
                                .map(|(i, _)| i)
                                .collect()
                        })
                        .await,
                )
            },
            source_folders: Arc::new(source_folders.clone()),
            adopt,
        };
        let routing = Routing {
            source: assign_folders(&busy, &source_counts, plans.len(), sources.len()),
            dest: owner,
        };
        let (workers_sources, results) = run_pipeline(
            sources,
            dests,
            window_list,
            &plans,
            routing,
            settings,
            options,
            run_budget,
            lease,
            state,
            isolation,
        )
        .await?;
        sources = workers_sources;
        dests = Vec::new();
        for r in results {
            for (folder, tally) in r.folders {
                let e = tallies.entry(folder).or_default();
                e.copied_messages += tally.copied_messages;
                e.copied_bytes += tally.copied_bytes;
                e.failed_messages += tally.failed_messages;
                e.dest_uidvalidity = e.dest_uidvalidity.or(tally.dest_uidvalidity);
            }
            failures.extend(r.failures);
            append_commands += r.commands;
            if stopped.is_none() {
                stopped = r.stopped;
            }
            oldest_copied = match (oldest_copied, r.oldest_copied) {
                (Some(a), Some(b)) => Some(std::cmp::min(a, b)),
                (a, b) => a.or(b),
            };
            dests.push(r.conn);
        }
    }
    // An incremental pass: flags changed at the source since the copy are set at the
    // destination too.
    let mut flags = FlagSync::default();
    if stopped.is_none() && !flag_changes.is_empty() {
        if let Some(dst) = dests.first_mut() {
            flags = sync_flags(dst, flag_changes, ledger, t).await?;
        }
    }
    for c in sources.into_iter().chain(dests) {
        c.logout(t).await;
    }
    // Folders that ended clean (every message migrated or filtered out, flags synced) are read
    // by what changed since this pass's HIGHESTMODSEQ next time.
    if stopped.is_none() && search.is_none() && ledger.store().is_some() {
        let synced: Vec<_> = (modseqs.iter().enumerate())
            .filter(|(i, _)| tallies.get(i).is_none_or(|t| t.failed_messages == 0))
            .filter(|(i, _)| source_folders[*i].1 != 0)
            .map(|(i, &(modseq, highest_uid))| (source_folders[i].clone(), highest_uid, modseq))
            .collect();
        let filter = filter_signature.clone();
        ledger
            .update(move |b| {
                for ((name, validity), highest_uid, modseq) in synced {
                    b.folder_synced(&name, validity, highest_uid, modseq, &filter);
                }
            })
            .await;
        ledger.commit().await?;
    }
    let done_by_folder: Vec<(u64, u64)> = {
        let wires: Vec<String> = plans.iter().map(|p| p.source_wire.clone()).collect();
        ledger
            .ask(move |b| wires.iter().map(|w| b.done_in(w)).collect())
            .await
    };

    let folders: Vec<FolderReport> = plans
        .iter()
        .enumerate()
        .map(|(i, p)| {
            let tally = tallies.get(&i).copied().unwrap_or_default();
            let (copied_messages, copied_bytes) = done_by_folder[i];
            FolderReport {
                source: p.source_name.clone(),
                dest: p.dest_name.clone(),
                special_use: p.special_use.clone(),
                source_messages: source_counts[i].0,
                source_bytes: source_counts[i].1,
                copied_messages,
                copied_bytes,
                failed_messages: tally.failed_messages,
                filtered: filtered[i],
                dest_uidvalidity: tally.dest_uidvalidity,
            }
        })
        .collect();
    let copied: (u64, u64) = folders.iter().fold((0, 0), |(m, b), f| {
        (m + f.copied_messages, b + f.copied_bytes)
    });
    let (outcome, left) = match stopped {
        None => (MailboxOutcome::Completed, None),
        Some(e) => {
            tracing::warn!(mailbox = %job.id, error = %e, "mailbox stopped");
            let outcome = outcome_of(&e);
            let failed_bytes: u64 = failures.iter().map(|f| f.size).sum();
            let left = LeftBehind {
                messages: (planned_messages).saturating_sub(copied.0 + failures.len() as u64),
                bytes: planned_bytes.saturating_sub(copied.1 + failed_bytes),
                oldest_copied: oldest_copied
                    .map(|d: chrono::DateTime<chrono::FixedOffset>| d.to_rfc3339()),
            };
            (outcome, Some(left))
        }
    };
    let (done_count, (before, adopted, rematched)) =
        ledger.ask(|b| (b.done_count(), b.counts())).await;
    let incremental = {
        (before > 0 || rechecked.recreated_folders > 0 || !moved.is_empty()).then(|| Incremental {
            already_there: before,
            new_messages: done_count.saturating_sub(before),
            flags_updated: flags.updated,
            flags_without_destination_uid: flags.unknown_uid,
            rematched_after_uidvalidity_change: rematched,
            recreated_destination_folders: rechecked.recreated_folders,
            found_again_at_destination: rechecked.found_again,
            lost_at_destination: rechecked.lost,
            moved_by_the_folder_map: moved.iter().map(|m| m.messages).sum(),
            folders_read_since_last_pass: read_since,
            folders_unchanged: unchanged,
        })
    };
    let mut warnings = threshold_warnings(&folders, dest_delimiter);
    warnings.extend(moved_warnings(&moved));
    Ok(MailboxReport {
        warnings,
        mailbox: job.id.clone(),
        outcome,
        left,
        incremental,
        adopted,
        copied_messages: folders.iter().map(|f| f.copied_messages).sum(),
        copied_bytes: folders.iter().map(|f| f.copied_bytes).sum(),
        filtered: filtered.iter().fold(Filtered::default(), |mut sum, f| {
            sum.add(f);
            sum
        }),
        folders,
        failures,
        folders_created,
        subscriptions_copied,
        compressed,
        append_framing: framing.label,
        append_commands,
        address_rewrite: rewrite.map(|step| {
            let stats = step.stats.lock().unwrap_or_else(|e| e.into_inner());
            AddressRewriteReport {
                messages_rewritten: stats.messages,
                addresses_rewritten: stats.addresses,
                unresolved: stats.unresolved.total(),
                most_frequent_unresolved: stats
                    .unresolved
                    .most_frequent(UNRESOLVED_SHOWN)
                    .into_iter()
                    .map(|(a, n)| (a.to_string(), n))
                    .collect(),
            }
        }),
        elapsed: started.elapsed(),
    })
}

/// How a mailbox that `e` ended is reported: stopped, for what a rerun continues once dealt
/// with (a full destination, a stop request), else failed.
fn outcome_of(e: &Error) -> MailboxOutcome {
    match e {
        e if e.is_over_quota() => MailboxOutcome::Stopped(format!("destination full: {e}")),
        Error::Interrupted { .. } => MailboxOutcome::Stopped(e.to_string()),
        e => MailboxOutcome::Failed(e.to_string()),
    }
}

/// Unresolved addresses named in a mailbox's report, most frequent first.
const UNRESOLVED_SHOWN: usize = 10;

struct Framing {
    batch_messages: usize,
    non_sync_limit: Option<u64>,
    depth: usize,
    label: String,
}

fn framing_for(options: &CopyOptions, caps: &crate::imap::Capabilities) -> Framing {
    let literal = if caps.literal_plus {
        "literal+"
    } else if caps.literal_minus {
        "literal-"
    } else {
        "synchronizing"
    };
    match options.append_mode {
        AppendMode::Auto if caps.multiappend => Framing {
            batch_messages: options.append_batch_messages.max(1),
            non_sync_limit: caps.max_non_sync_literal(),
            depth: options.pipeline_depth,
            label: format!("multiappend, {literal}"),
        },
        AppendMode::Auto | AppendMode::Pipelined => Framing {
            batch_messages: 1,
            non_sync_limit: caps.max_non_sync_literal(),
            depth: options.pipeline_depth,
            label: format!("pipelined, {literal}"),
        },
        AppendMode::OneAtATime => Framing {
            batch_messages: 1,
            non_sync_limit: None,
            depth: 1,
            label: "one at a time, synchronizing".into(),
        },
    }
}
