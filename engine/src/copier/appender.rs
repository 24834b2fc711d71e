//! Destination side of the pipeline: one connection writes the folders assigned to it, each
//! folder's windows strictly in plan order, with pipelined APPEND or MULTIAPPEND batches.
//!
//! A MULTIAPPEND batch is all-or-nothing: when the server refuses one, it is split in halves and
//! resent until the refused message stands alone, which is then recorded and skipped. A refusal
//! that means the whole mailbox cannot go on (over quota) ends the mailbox instead. The halves
//! go out after the batches already in flight, so the messages of a refused batch land after
//! somewhat older ones: newest-first order holds everywhere else. Undoing that would mean not
//! pipelining, for a case that skips a message anyway.
//!
//! A throttled refusal (`[THROTTLED]`, `[UNAVAILABLE]`, "Suggested Backoff Time") is not the
//! message's fault: the batch is sent again after the server's suggested backoff, or an
//! exponential one, and the writer pauses meanwhile. Refusals of batches sent before that
//! pause (the pipeline was full) are sent again without another pause. Resent batches land after
//! those in flight, so throttling bends newest-first order a little, as refused halves do. When
//! nothing has been stored for [`MAX_THROTTLED_FOR`] of refusals, the mailbox stops with the
//! server's last word.

use super::fetcher::{FetchedWindow, WindowBudget};
use super::ledger::{rematch, AdoptIndex, Ledger, SentMessage, SourceKey};
use super::progress_state::ProgressState;
use crate::error::{Disposition, Error, Result};
use crate::imap::{AppendBatch, AppendItem, AppendPipeline, AppendVerdict, Completed, Connection};
use crate::report::MessageFailure;
use crate::transform::address_rewrite::{AddressRewriter, Rewrite, UnresolvedTally};
use bytes::Bytes;
use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

/// How long a writer goes on being throttled, with nothing stored, before the mailbox stops.
pub const MAX_THROTTLED_FOR: Duration = Duration::from_secs(600);
/// First backoff when the server suggests none; doubled per refusal in a row.
const FIRST_BACKOFF: Duration = Duration::from_millis(250);
/// Longest backoff, suggested or not.
const MAX_BACKOFF: Duration = Duration::from_secs(60);

/// Header rewrite counters of one mailbox, shared by its writers.
#[derive(Debug, Default)]
pub struct RewriteStats {
    /// Messages whose header addresses changed.
    pub messages: u64,
    /// Addresses replaced.
    pub addresses: u64,
    /// Addresses the directory could not resolve (left as they were).
    pub unresolved: UnresolvedTally,
}

/// The rewriter and where its counters go.
#[derive(Debug, Clone)]
pub struct RewriteStep {
    /// The rewriter of the run.
    pub rewriter: Arc<AddressRewriter>,
    /// This mailbox's counters.
    pub stats: Arc<std::sync::Mutex<RewriteStats>>,
}

impl RewriteStep {
    /// The message to append: `body` itself when nothing changed, else the rewritten bytes.
    fn apply(&self, body: Bytes) -> Bytes {
        let rewrite = self.rewriter.rewrite(&body);
        let mut stats = self.stats.lock().unwrap_or_else(|e| e.into_inner());
        stats.unresolved.record(&rewrite);
        match rewrite {
            Rewrite::Unchanged { .. } => body,
            Rewrite::Changed {
                bytes,
                addresses_rewritten,
                ..
            } => {
                stats.messages += 1;
                stats.addresses += addresses_rewritten as u64;
                Bytes::from(bytes)
            }
        }
    }
}

/// How this writer frames APPENDs.
#[derive(Debug, Clone)]
pub struct AppendSettings {
    /// Messages per command (1 = no MULTIAPPEND).
    pub batch_messages: usize,
    /// Bytes per command.
    pub batch_bytes: u64,
    /// Largest non-synchronizing literal (`None`: all synchronizing).
    pub non_sync_limit: Option<u64>,
    /// Commands in flight.
    pub depth: usize,
    /// Server's APPENDLIMIT: larger messages are skipped without sending.
    pub append_limit: Option<u64>,
    /// Per network step.
    pub timeout: Duration,
    /// Header address rewrite, if the run asked for one.
    pub rewrite: Option<RewriteStep>,
    /// The run's stop request: nothing new is sent once it is cancelled.
    pub shutdown: CancellationToken,
    /// The mailbox's record of what the destination acknowledged, shared by its writers.
    pub ledger: Ledger,
    /// Per folder index: the source folder's wire name and UIDVALIDITY (the messages' keys).
    pub source_folders: Arc<Vec<(String, u32)>>,
    /// Folder indices whose UIDVALIDITY changed since an earlier run copied them: their
    /// messages are recognised by content before anything is sent.
    pub rematch: Arc<std::collections::HashSet<usize>>,
    /// With `--adopt-existing`: what the destination folders held before the pass.
    pub adopt: Option<Arc<AdoptIndex>>,
}

/// Per-folder figures from one writer.
#[derive(Debug, Default, Clone, Copy)]
pub struct FolderTally {
    /// Messages acknowledged.
    pub copied_messages: u64,
    /// Bytes acknowledged.
    pub copied_bytes: u64,
    /// Messages skipped.
    pub failed_messages: u64,
    /// The destination folder's UIDVALIDITY, from APPENDUID (UIDPLUS) when the server sends it.
    pub dest_uidvalidity: Option<u32>,
}

/// What a writer hands back.
#[derive(Debug)]
pub struct AppenderResult {
    /// The connection, for LOGOUT.
    pub conn: Connection,
    /// Why the writer stopped early (destination full, folder gone), after booking every
    /// answer to what it had sent; `None` when it wrote everything it was given.
    pub stopped: Option<Error>,
    /// INTERNALDATE of the oldest message the destination acknowledged.
    pub oldest_copied: Option<chrono::DateTime<chrono::FixedOffset>>,
    /// Figures per folder index.
    pub folders: HashMap<usize, FolderTally>,
    /// Skipped messages.
    pub failures: Vec<MessageFailure>,
    /// APPEND commands the destination accepted (messages / commands = batch size).
    pub commands: u64,
}

#[derive(Debug)]
struct Token {
    folder: usize,
    /// (uid, size) of each message in the batch.
    metas: Vec<(u32, u64)>,
    /// The messages as the ledger knows them, in batch order.
    sent: Vec<SentMessage>,
    /// The ledger's name for this batch once sent.
    ticket: u64,
    /// Budget of the windows this batch's messages came from, released with the last batch.
    permits: Vec<Arc<WindowBudget>>,
    /// Throttling pauses the writer had taken when this batch was sent: a refusal of a batch
    /// sent before the latest pause is an echo of the same episode, not a new one.
    sent_after_pauses: u64,
}

struct Tallies<'a> {
    folders: HashMap<usize, FolderTally>,
    commands: u64,
    failures: Vec<MessageFailure>,
    source_names: &'a [String],
    progress: &'a ProgressState,
    server: String,
    /// Since when every answer has been a throttled refusal (`None`: the last one stored).
    throttled_since: Option<tokio::time::Instant>,
    /// Pauses taken since the last stored batch: the exponent of the backoff.
    pauses_in_a_row: u32,
    /// Pauses taken in all.
    pauses_taken: u64,
    /// Wait this long before sending again (set by a throttled refusal).
    pause: Option<Duration>,
    /// Set by a refusal that ends the mailbox: nothing more is sent, answers are still booked.
    stop: Option<Error>,
    /// INTERNALDATE of the oldest message stored.
    oldest_copied: Option<chrono::DateTime<chrono::FixedOffset>>,
    /// The run's stop request.
    shutdown: CancellationToken,
    /// Where acknowledgments are recorded.
    ledger: Ledger,
}

/// The backoff a throttling server suggests ("Suggested Backoff Time: N milliseconds", as
/// Exchange Online words it), if it suggests one.
pub(super) fn suggested_backoff(text: &str) -> Option<Duration> {
    let lower = text.to_ascii_lowercase();
    let at = lower.find("backoff time:")? + "backoff time:".len();
    let digits: String = lower[at..]
        .trim_start()
        .chars()
        .take_while(char::is_ascii_digit)
        .collect();
    digits.parse().ok().map(Duration::from_millis)
}

/// The pause after the `n`th throttled refusal in a row (from 1): the server's suggestion, or
/// an exponential backoff; plus up to a quarter of jitter so writers do not retry in step.
fn throttle_pause(text: &str, n: u32) -> Duration {
    let base = suggested_backoff(text)
        .unwrap_or_else(|| FIRST_BACKOFF.saturating_mul(1 << n.saturating_sub(1).min(16)))
        .min(MAX_BACKOFF);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos());
    base + base.mul_f64(f64::from(nanos % 1000) / 4000.0)
}

impl Tallies<'_> {
    fn interrupted(&mut self) {
        self.stop.get_or_insert_with(|| Error::Interrupted {
            context: format!(
                "{}: the APPENDs in flight were answered; no more sent",
                self.server
            ),
        });
    }

    fn fail(&mut self, folder: usize, uid: u32, size: u64, reason: String) {
        self.folders.entry(folder).or_default().failed_messages += 1;
        self.failures.push(MessageFailure {
            folder: self.source_names[folder].clone(),
            uid,
            size,
            reason,
        });
        self.progress.add_failed(1);
    }

    /// Books a completion; returns halves to resend when a batch was refused.
    async fn complete(
        &mut self,
        c: Completed<Token>,
        resend: &mut VecDeque<AppendBatch<Token>>,
    ) -> Result<()> {
        let Completed { batch, verdict } = c;
        match verdict {
            AppendVerdict::Stored(mut appended) => {
                if let Some((_, uids)) = &appended {
                    // APPENDUID names one UID per message stored. The server said OK, so the
                    // messages are there and are booked; its UIDs are not trusted.
                    if uids.len() != batch.items.len() {
                        tracing::warn!(
                            server = %self.server,
                            mailbox = %batch.mailbox_wire,
                            messages = batch.items.len(),
                            uids = uids.len(),
                            "APPENDUID does not match the messages sent; ignoring it"
                        );
                        appended = None;
                    }
                }
                let (ticket, answer) = (batch.token.ticket, appended.clone());
                self.ledger.update(move |b| b.stored(ticket, answer)).await;
                let bytes: u64 = batch.items.iter().map(|i| i.body.len() as u64).sum();
                let t = self.folders.entry(batch.token.folder).or_default();
                if let Some((validity, _)) = appended {
                    t.dest_uidvalidity = Some(validity);
                }
                t.copied_messages += batch.items.len() as u64;
                t.copied_bytes += bytes;
                let oldest = batch.items.iter().filter_map(|i| i.internaldate).min();
                self.oldest_copied = match (self.oldest_copied, oldest) {
                    (Some(a), Some(b)) => Some(a.min(b)),
                    (a, b) => a.or(b),
                };
                self.commands += 1;
                self.throttled_since = None;
                self.pauses_in_a_row = 0;
                self.progress.add_copied(batch.items.len() as u64, bytes);
                Ok(())
            }
            AppendVerdict::Refused(text) => {
                let ticket = batch.token.ticket;
                self.ledger.update(move |b| b.refused(ticket)).await;
                let err = Error::Command {
                    server: self.server.clone(),
                    command: format!("APPEND to {}", batch.mailbox_wire),
                    message: text.clone(),
                };
                let throttled = err.disposition() == Disposition::Retry;
                let since = match throttled {
                    true => *self
                        .throttled_since
                        .get_or_insert_with(tokio::time::Instant::now),
                    false => tokio::time::Instant::now(),
                };
                if throttled && batch.token.sent_after_pauses < self.pauses_taken {
                    // Sent before the latest pause: already waited for; just send it again.
                    resend.push_back(batch);
                    return Ok(());
                }
                if throttled && since.elapsed() < MAX_THROTTLED_FOR {
                    let pause = throttle_pause(&text, self.pauses_in_a_row + 1);
                    tracing::debug!(
                        server = %self.server,
                        ?pause,
                        "destination throttled an APPEND: {text}"
                    );
                    self.pause = Some(self.pause.map_or(pause, |p| p.max(pause)));
                    resend.push_back(batch);
                    return Ok(());
                }
                // Over quota, a batch is split until the newest messages that fit are stored;
                // a single message that does not fit stops the mailbox. Any other refusal that
                // ends the mailbox stops it at once. Either way, what is in flight is booked.
                let splits = err.disposition() == Disposition::SkipMessage
                    || (err.is_over_quota() && batch.items.len() > 1);
                if !splits {
                    self.stop.get_or_insert(err);
                    return Ok(());
                }
                if batch.items.len() == 1 {
                    let key = batch.token.sent[0].key.clone();
                    self.ledger.update(move |b| b.abandon(&key)).await;
                    let (uid, size) = batch.token.metas[0];
                    self.fail(
                        batch.token.folder,
                        uid,
                        size,
                        format!("destination refused: {text}"),
                    );
                    return Ok(());
                }
                let AppendBatch {
                    mailbox_wire,
                    mut items,
                    token,
                } = batch;
                let mid = items.len() / 2;
                let tail_items = items.split_off(mid);
                let mut metas = token.metas;
                let tail_metas = metas.split_off(mid);
                let mut sent = token.sent;
                let tail_sent = sent.split_off(mid);
                resend.push_back(AppendBatch {
                    mailbox_wire: mailbox_wire.clone(),
                    items,
                    token: Token {
                        folder: token.folder,
                        metas,
                        sent,
                        ticket: 0,
                        permits: token.permits.clone(),
                        sent_after_pauses: token.sent_after_pauses,
                    },
                });
                resend.push_back(AppendBatch {
                    mailbox_wire,
                    items: tail_items,
                    token: Token {
                        folder: token.folder,
                        metas: tail_metas,
                        sent: tail_sent,
                        ticket: 0,
                        permits: token.permits,
                        sent_after_pauses: token.sent_after_pauses,
                    },
                });
                Ok(())
            }
        }
    }
}

async fn submit(
    pipeline: &mut AppendPipeline<'_, Token>,
    tallies: &mut Tallies<'_>,
    batch: AppendBatch<Token>,
) -> Result<()> {
    let mut queue = VecDeque::from([batch]);
    while let Some(mut b) = queue.pop_front() {
        if tallies.shutdown.is_cancelled() {
            tallies.interrupted();
        }
        if tallies.stop.is_some() {
            return Ok(()); // the mailbox is ending: nothing more is sent
        }
        if let Some(pause) = tallies.pause.take() {
            tallies.pauses_in_a_row += 1;
            tallies.pauses_taken += 1;
            tokio::select! {
                () = tokio::time::sleep(pause) => {}
                () = tallies.shutdown.cancelled() => {
                    tallies.interrupted();
                    return Ok(());
                }
            }
        }
        b.token.sent_after_pauses = tallies.pauses_taken;
        b.token.ticket = tallies.ledger.ticket();
        let (ticket, sent) = (b.token.ticket, b.token.sent.clone());
        tallies
            .ledger
            .update(move |l| l.sending(ticket, sent))
            .await;
        for c in pipeline.send(b).await? {
            tallies.complete(c, &mut queue).await?;
        }
    }
    Ok(())
}

async fn drain(pipeline: &mut AppendPipeline<'_, Token>, tallies: &mut Tallies<'_>) -> Result<()> {
    loop {
        let done = pipeline.finish().await?;
        if done.is_empty() {
            return Ok(());
        }
        let mut queue = VecDeque::new();
        for c in done {
            tallies.complete(c, &mut queue).await?;
        }
        for b in queue {
            submit(pipeline, tallies, b).await?;
        }
    }
}

/// Writes windows as they arrive, each folder in window order, until the channel closes.
///
/// A MULTIAPPEND batch may span consecutive windows of a folder, so small fetch windows (little
/// memory) still make large batches (little server CPU). An open batch is sent when it is full,
/// when the writer moves to another folder, or before the writer waits for more input.
pub async fn run_appender(
    mut conn: Connection,
    mut rx: mpsc::Receiver<FetchedWindow>,
    dest_wire: Arc<Vec<String>>,
    source_names: Arc<Vec<String>>,
    settings: AppendSettings,
    progress: Arc<ProgressState>,
) -> Result<AppenderResult> {
    let server = conn.server.clone();
    let mut tallies = Tallies {
        folders: HashMap::new(),
        commands: 0,
        failures: Vec::new(),
        source_names: &source_names,
        progress: &progress,
        server: server.clone(),
        throttled_since: None,
        pauses_in_a_row: 0,
        pauses_taken: 0,
        pause: None,
        stop: None,
        oldest_copied: None,
        shutdown: settings.shutdown.clone(),
        ledger: settings.ledger.clone(),
    };
    {
        let mut pipeline = AppendPipeline::new(
            &mut conn.session,
            &server,
            settings.non_sync_limit,
            settings.depth,
            settings.timeout,
        );
        let mut pending: HashMap<usize, BTreeMap<u64, FetchedWindow>> = HashMap::new();
        let mut next_seq: HashMap<usize, u64> = HashMap::new();
        let mut open: Option<OpenBatch> = None;
        'input: loop {
            if tallies.shutdown.is_cancelled() {
                tallies.interrupted();
            }
            if tallies.stop.is_some() {
                break;
            }
            let fw = match rx.try_recv() {
                Ok(fw) => fw,
                Err(mpsc::error::TryRecvError::Empty) => {
                    // Nothing ready: send what we hold, so no budget waits in an open batch
                    // (with a small budget the fetchers would wait for us while we wait for
                    // them), then wait for input while booking answers as they arrive. The
                    // pipeline stays full: on a slow link, waiting for every answer here would
                    // cost a round trip each time the writer catches up with the fetchers.
                    if let Some(b) = open.take() {
                        submit(&mut pipeline, &mut tallies, b.batch).await?;
                    }
                    loop {
                        if tallies.stop.is_some() {
                            break 'input;
                        }
                        if pipeline.in_flight() == 0 {
                            tokio::select! {
                                () = tallies.shutdown.cancelled() => {
                                    tallies.interrupted();
                                    break 'input;
                                }
                                fw = rx.recv() => match fw {
                                    Some(fw) => break fw,
                                    None => break 'input,
                                }
                            }
                        }
                        let shutdown = tallies.shutdown.clone();
                        tokio::select! {
                            biased;
                            () = shutdown.cancelled() => {
                                tallies.interrupted();
                                break 'input;
                            }
                            fw = rx.recv() => match fw {
                                Some(fw) => break fw,
                                None => break 'input,
                            },
                            c = pipeline.next_completion() => {
                                let mut resend = VecDeque::new();
                                tallies.complete(c?, &mut resend).await?;
                                for b in resend {
                                    submit(&mut pipeline, &mut tallies, b).await?;
                                }
                            }
                        }
                    }
                }
                Err(mpsc::error::TryRecvError::Disconnected) => break,
            };
            let folder = fw.window.folder;
            pending.entry(folder).or_default().insert(fw.window.seq, fw);
            // Write every window of this folder that is next in order.
            loop {
                let seq = next_seq.entry(folder).or_insert(0);
                let Some(fw) = pending.get_mut(&folder).and_then(|p| p.remove(seq)) else {
                    break;
                };
                *seq += 1;
                write_window(
                    &mut pipeline,
                    &mut tallies,
                    &dest_wire,
                    &settings,
                    fw,
                    &mut open,
                )
                .await?;
            }
        }
        if let Some(b) = open.take() {
            submit(&mut pipeline, &mut tallies, b.batch).await?;
        }
        drain(&mut pipeline, &mut tallies).await?;
        if tallies.stop.is_some() {
            // Windows still queued are not written: their messages are left for a later run.
        } else if let Some((folder, p)) = pending.iter().find(|(_, p)| !p.is_empty()) {
            return Err(Error::Protocol {
                server,
                message: format!(
                    "internal: windows of folder {folder} left unwritten ({})",
                    p.len()
                ),
            });
        }
    }
    let Tallies {
        folders,
        failures,
        commands,
        stop,
        oldest_copied,
        ..
    } = tallies;
    Ok(AppenderResult {
        conn,
        stopped: stop,
        oldest_copied,
        folders,
        failures,
        commands,
    })
}

/// A batch being filled.
struct OpenBatch {
    batch: AppendBatch<Token>,
    bytes: u64,
}

async fn write_window(
    pipeline: &mut AppendPipeline<'_, Token>,
    tallies: &mut Tallies<'_>,
    dest_wire: &[String],
    settings: &AppendSettings,
    fw: FetchedWindow,
    open: &mut Option<OpenBatch>,
) -> Result<()> {
    let FetchedWindow {
        window,
        bodies,
        permit,
    } = fw;
    let folder = window.folder;
    if open
        .as_ref()
        .is_some_and(|b| b.batch.token.folder != folder)
    {
        let b = open.take().expect("checked");
        submit(pipeline, tallies, b.batch).await?;
    }
    // First every message of the window is prepared (rewritten, described); their intents are
    // committed to the state store, if any, before the first of them is sent.
    let mut ready = Vec::with_capacity(window.items.len());
    for (meta, body) in window.items.into_iter().zip(bodies) {
        let source = match body {
            Ok(body) => body,
            Err(why) => {
                tallies.fail(folder, meta.uid, meta.size, why);
                continue;
            }
        };
        let body = match &settings.rewrite {
            Some(step) => step.apply(source.clone()),
            None => source.clone(),
        };
        let len = body.len() as u64;
        if let Some(limit) = settings.append_limit {
            if len > limit {
                tallies.fail(
                    folder,
                    meta.uid,
                    len,
                    format!("{len} bytes is over the destination's APPENDLIMIT of {limit}"),
                );
                continue;
            }
        }
        let (source_folder, uidvalidity) = &settings.source_folders[folder];
        let key = SourceKey {
            folder: source_folder.clone(),
            uidvalidity: *uidvalidity,
            uid: meta.uid,
        };
        let sent = SentMessage::new(key, &dest_wire[folder], &meta, &source, &body);
        ready.push((meta, body, sent));
    }
    if settings.rematch.contains(&folder) {
        let sent: Vec<SentMessage> = ready.iter().map(|(_, _, s)| s.clone()).collect();
        let known = rematch(&tallies.ledger, &sent).await?;
        ready.retain(|(_, _, s)| !known.contains(&s.key));
    }
    if let Some(index) = &settings.adopt {
        if let Some(there) = index.get(&dest_wire[folder]) {
            let validity = there.uidvalidity;
            let mut adopted = Vec::new();
            {
                let mut there = there.by_key.lock().unwrap_or_else(|e| e.into_inner());
                ready.retain(|(_, _, s)| {
                    let Some(id) = s.facts.message_id else {
                        return true;
                    };
                    match there.get_mut(&(id, s.facts.sent_size)).and_then(Vec::pop) {
                        Some(uid) => {
                            adopted.push((s.clone(), uid));
                            false
                        }
                        None => true,
                    }
                });
            }
            let now = chrono::Utc::now();
            tallies
                .ledger
                .update(move |b| {
                    for (s, uid) in adopted {
                        b.adopt(&s, validity, uid, now);
                    }
                })
                .await;
        }
    }
    // Sent only once their intents are durable (a no-op without a state store).
    let sent: Vec<SentMessage> = ready.iter().map(|(_, _, s)| s.clone()).collect();
    tallies.ledger.intend(sent).await?;
    for (meta, body, sent) in ready {
        let len = body.len() as u64;
        let full = open.as_ref().is_some_and(|b| {
            b.batch.items.len() >= settings.batch_messages || b.bytes + len > settings.batch_bytes
        });
        if full {
            let b = open.take().expect("checked");
            submit(pipeline, tallies, b.batch).await?;
        }
        let b = open.get_or_insert_with(|| OpenBatch {
            batch: AppendBatch {
                mailbox_wire: dest_wire[folder].clone(),
                items: Vec::new(),
                token: Token {
                    folder,
                    metas: Vec::new(),
                    sent: Vec::new(),
                    ticket: 0,
                    permits: Vec::new(),
                    sent_after_pauses: 0,
                },
            },
            bytes: 0,
        });
        if !b
            .batch
            .token
            .permits
            .iter()
            .any(|p| Arc::ptr_eq(p, &permit))
        {
            b.batch.token.permits.push(permit.clone());
        }
        b.bytes += len;
        b.batch.token.metas.push((meta.uid, len));
        b.batch.token.sent.push(sent);
        b.batch.items.push(AppendItem {
            flags: meta.flags,
            internaldate: meta.internaldate,
            body,
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_servers_suggested_backoff_is_read() {
        let exo = "Request is throttled. Suggested Backoff Time: 1500 milliseconds";
        assert_eq!(suggested_backoff(exo), Some(Duration::from_millis(1500)));
        assert_eq!(suggested_backoff("[THROTTLED] slow down"), None);
        let p = throttle_pause(exo, 5);
        assert!(p >= Duration::from_millis(1500) && p <= Duration::from_millis(1875));
    }

    #[test]
    fn without_a_suggestion_the_backoff_doubles_up_to_a_cap() {
        let text = "[THROTTLED] slow down";
        let first = throttle_pause(text, 1);
        assert!(first >= FIRST_BACKOFF && first <= FIRST_BACKOFF.mul_f64(1.25));
        let third = throttle_pause(text, 3);
        assert!(third >= FIRST_BACKOFF * 4);
        assert!(throttle_pause(text, 40) <= MAX_BACKOFF.mul_f64(1.25));
    }
}
