//! Pipelined APPEND over an async-imap session's stream.
//!
//! async-imap's `append()` waits a round trip per message and has no LITERAL+, so this writes
//! APPEND commands straight onto the session's stream and keeps up to `depth` of them in flight,
//! as mbsync's PipelineDepth does. Commands complete in order; each completion hands the batch
//! back with the server's verdict and, with UIDPLUS, the new UIDs.
//!
//! Invariant: a batch is reported `Ok` only after the server's tagged OK for its command.

use super::append_framing::{frame_append, AppendItem, Segment};
use super::connect::{imap_err, read_error, Session};
use crate::error::{Error, Result};
use bytes::Bytes;
use imap_proto::rfc4315::UidSetMember;
use imap_proto::{Response, ResponseCode, Status};
use std::collections::VecDeque;
use std::time::Duration;
use tokio::io::AsyncWriteExt;

/// Messages for one APPEND command (one message, or a MULTIAPPEND batch), with a caller token.
#[derive(Debug)]
pub struct AppendBatch<T> {
    /// Destination folder, wire (modified UTF-7) name.
    pub mailbox_wire: String,
    /// The messages.
    pub items: Vec<AppendItem>,
    /// Caller's bookkeeping, handed back on completion.
    pub token: T,
}

/// The server's verdict on one batch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AppendVerdict {
    /// Stored. With UIDPLUS: the folder's UIDVALIDITY and the new UIDs, in order.
    Stored(Option<(u32, Vec<u32>)>),
    /// Refused (NO or BAD) with the server's text; nothing of this command was stored
    /// (MULTIAPPEND is all-or-nothing).
    Refused(String),
}

/// A finished batch.
#[derive(Debug)]
pub struct Completed<T> {
    /// The batch as sent.
    pub batch: AppendBatch<T>,
    /// What the server said.
    pub verdict: AppendVerdict,
}

struct InFlight<T> {
    tag: String,
    batch: AppendBatch<T>,
}

/// Keeps APPEND commands in flight on one session.
pub struct AppendPipeline<'s, T> {
    session: &'s mut Session,
    server: String,
    non_sync_limit: Option<u64>,
    depth: usize,
    timeout: Duration,
    inflight: VecDeque<InFlight<T>>,
    next_tag: u64,
    out: Vec<u8>,
}

/// Bytes written per timeout: see [`AppendPipeline::write_raw`].
const WRITE_PIECE: usize = 256 * 1024;

/// Write coalescing: small pieces are gathered so a command and a small message leave in one
/// TLS record; large bodies are written straight through.
const COALESCE: usize = 64 * 1024;

impl<'s, T> AppendPipeline<'s, T> {
    /// A pipeline on `session`. `non_sync_limit`: see [`frame_append`]; `depth`: commands in
    /// flight (1 = one at a time).
    pub fn new(
        session: &'s mut Session,
        server: &str,
        non_sync_limit: Option<u64>,
        depth: usize,
        timeout: Duration,
    ) -> Self {
        AppendPipeline {
            session,
            server: server.to_string(),
            non_sync_limit,
            depth: depth.max(1),
            timeout,
            inflight: VecDeque::new(),
            next_tag: 1,
            out: Vec::with_capacity(COALESCE),
        }
    }

    /// Commands sent and not yet answered.
    pub fn in_flight(&self) -> usize {
        self.inflight.len()
    }

    /// Sends one batch, first collecting completions until there is room. Returns what completed.
    pub async fn send(&mut self, batch: AppendBatch<T>) -> Result<Vec<Completed<T>>> {
        let mut done = Vec::new();
        while self.inflight.len() >= self.depth {
            done.push(self.next_completion().await?);
        }
        let tag = format!("P{}", self.next_tag);
        self.next_tag += 1;
        let segments = frame_append(&tag, &batch.mailbox_wire, &batch.items, self.non_sync_limit);
        tracing::debug!(
            server = %self.server,
            %tag,
            mailbox = %batch.mailbox_wire,
            messages = batch.items.len(),
            bytes = batch.items.iter().map(|i| i.body.len()).sum::<usize>(),
            in_flight = self.inflight.len(),
            "APPEND sent"
        );
        self.inflight.push_back(InFlight { tag, batch });
        let mut segments = segments.into_iter();
        while let Some(seg) = segments.next() {
            match seg {
                Segment::Data(bytes) => self.write(bytes).await?,
                Segment::AwaitContinuation => {
                    self.flush().await?;
                    // Earlier commands may finish first; ours may be refused instead of `+`.
                    if !self.await_continuation(&mut done).await? {
                        // Refused before the literal: the rest of the command is never sent.
                        for _ in segments.by_ref() {}
                        break;
                    }
                }
            }
        }
        self.flush().await?;
        Ok(done)
    }

    /// Waits for every command in flight.
    pub async fn finish(&mut self) -> Result<Vec<Completed<T>>> {
        let mut done = Vec::new();
        while !self.inflight.is_empty() {
            done.push(self.next_completion().await?);
        }
        Ok(done)
    }

    async fn write(&mut self, bytes: Bytes) -> Result<()> {
        if self.out.len() + bytes.len() <= COALESCE {
            self.out.extend_from_slice(&bytes);
            return Ok(());
        }
        self.flush_buffer().await?;
        if bytes.len() < COALESCE / 2 {
            self.out.extend_from_slice(&bytes);
            return Ok(());
        }
        self.write_raw(&bytes).await
    }

    async fn flush_buffer(&mut self) -> Result<()> {
        if !self.out.is_empty() {
            let out = std::mem::take(&mut self.out);
            self.write_raw(&out).await?;
            self.out = out;
            self.out.clear();
        }
        Ok(())
    }

    /// Writes `bytes` in pieces, each racing the timeout: a large message on a slow link fails
    /// only if the link stops moving, not because the whole message takes longer than the
    /// timeout.
    async fn write_raw(&mut self, bytes: &[u8]) -> Result<()> {
        let server = &self.server;
        let stream = self.session.get_mut();
        for piece in bytes.chunks(WRITE_PIECE) {
            match tokio::time::timeout(self.timeout, stream.write_all(piece)).await {
                Ok(Ok(())) => {}
                Ok(Err(source)) => {
                    return Err(Error::Io {
                        context: format!("{server}: APPEND write"),
                        source,
                    })
                }
                Err(_) => {
                    return Err(Error::Timeout {
                        context: format!("{server}: APPEND write"),
                    })
                }
            }
        }
        Ok(())
    }

    async fn flush(&mut self) -> Result<()> {
        self.flush_buffer().await?;
        let server = &self.server;
        match tokio::time::timeout(self.timeout, self.session.get_mut().flush()).await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(source)) => Err(Error::Io {
                context: format!("{server}: APPEND flush"),
                source,
            }),
            Err(_) => Err(Error::Timeout {
                context: format!("{server}: APPEND flush"),
            }),
        }
    }

    /// Reads until the server's `+` for the newest command (true) or its tagged refusal (false),
    /// completing older commands on the way.
    async fn await_continuation(&mut self, done: &mut Vec<Completed<T>>) -> Result<bool> {
        loop {
            match self.next_event().await? {
                Event::Continue => return Ok(true),
                Event::Done { tag, verdict } => {
                    let newest = self.inflight.back().map(|f| f.tag == tag).unwrap_or(false);
                    let c = self.take(&tag, verdict)?;
                    done.push(c);
                    if newest {
                        return Ok(false);
                    }
                }
            }
        }
    }

    /// Waits for the oldest command in flight to complete. Cancel-safe: dropped before it
    /// returns, nothing is lost (a partly read answer stays buffered in the session, and the
    /// in-flight list changes only once a whole answer is read), so it can race other work in
    /// `select!`. Call only with commands in flight.
    pub async fn next_completion(&mut self) -> Result<Completed<T>> {
        match self.next_event().await? {
            Event::Continue => Err(Error::Protocol {
                server: self.server.clone(),
                message: "unexpected continuation during APPEND".into(),
            }),
            Event::Done { tag, verdict } => self.take(&tag, verdict),
        }
    }

    fn take(&mut self, tag: &str, verdict: AppendVerdict) -> Result<Completed<T>> {
        match self.inflight.front() {
            Some(f) if f.tag == tag => {
                let f = self.inflight.pop_front().expect("front exists");
                Ok(Completed {
                    batch: f.batch,
                    verdict,
                })
            }
            _ => Err(Error::Protocol {
                server: self.server.clone(),
                message: format!("APPEND answered out of order (tag {tag})"),
            }),
        }
    }

    async fn next_event(&mut self) -> Result<Event> {
        loop {
            let server = self.server.clone();
            let resp = match tokio::time::timeout(self.timeout, self.session.read_response()).await
            {
                Ok(Ok(Some(r))) => r,
                Ok(Ok(None)) => {
                    return Err(imap_err(
                        &server,
                        "APPEND",
                        async_imap::error::Error::ConnectionLost,
                    ))
                }
                Ok(Err(source)) => return Err(read_error(&server, "APPEND read", source)),
                Err(_) => {
                    return Err(Error::Timeout {
                        context: format!("{server}: APPEND"),
                    })
                }
            };
            match resp.parsed() {
                Response::Continue(_) => return Ok(Event::Continue),
                Response::Done {
                    tag,
                    status,
                    outcome,
                } => {
                    let verdict = match status {
                        Status::Ok => AppendVerdict::Stored(match &outcome.code {
                            Some(ResponseCode::AppendUid(validity, set)) => {
                                Some((*validity, expand_uid_set(set, MAX_BATCH_UIDS)))
                            }
                            _ => None,
                        }),
                        _ => AppendVerdict::Refused(super::command::outcome_text(outcome)),
                    };
                    return Ok(Event::Done {
                        tag: tag.0.clone(),
                        verdict,
                    });
                }
                Response::Data {
                    status: Status::Bye,
                    outcome,
                } => return Err(super::command::bye(&server, "APPEND", outcome)),
                _ => continue, // untagged EXISTS, alerts, ...: not ours
            }
        }
    }
}

enum Event {
    Continue,
    Done { tag: String, verdict: AppendVerdict },
}

/// More UIDs than any batch holds: an APPENDUID set expanding past this is a lie.
const MAX_BATCH_UIDS: usize = 100_000;

/// The UIDs of an APPENDUID set, in order; stops at `limit` + 1 so a range such as
/// `1:4294967295` costs nothing (the caller sees more UIDs than messages and refuses it).
fn expand_uid_set(set: &[UidSetMember], limit: usize) -> Vec<u32> {
    let mut uids = Vec::new();
    for m in set {
        match m {
            UidSetMember::Uid(u) => uids.push(*u),
            UidSetMember::UidRange(r) => uids.extend(r.clone().take(limit + 1 - uids.len())),
        }
        if uids.len() > limit {
            break;
        }
    }
    uids
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uid_sets_expand_in_order_and_huge_ranges_stop_early() {
        let set = [UidSetMember::Uid(4), UidSetMember::UidRange(7..=9)];
        assert_eq!(expand_uid_set(&set, 10), [4, 7, 8, 9]);
        let huge = [UidSetMember::UidRange(1..=u32::MAX)];
        assert_eq!(expand_uid_set(&huge, 10).len(), 11);
    }
}
