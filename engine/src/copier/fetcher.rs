//! Source side of the pipeline: a connection takes windows in plan order, reads their bodies with
//! one `UID FETCH ... BODY.PEEK[]` each, and hands them to the destination writer of the folder.
//! BODY.PEEK on an EXAMINEd folder: the source is never modified.
//!
//! Messages the attempt's [`Isolation`] names unreadable are not asked for: their bodies are
//! `Err(why)`. When the connection fails in the middle of a window's answer, the UIDs that had
//! not arrived are noted in the isolation (for the attempt loop's suspects) and the error is an
//! [`Error::FetchDropped`] naming them.

use super::isolation::Isolation;
use super::suspects::CutWindow;
use crate::error::{Disposition, Error, Result};
use crate::imap::{command, imap_err, timed, Connection};
use crate::plan::order::{uid_set, Window};
use bytes::{Bytes, BytesMut};
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{mpsc, OwnedSemaphorePermit};
use tokio_util::sync::CancellationToken;

/// A window's share of the bytes-in-flight budgets (the mailbox's and the run's), returned when
/// dropped: after the last batch holding the window's messages is acknowledged.
#[derive(Debug)]
// Held, never read: dropping them is the point.
#[allow(dead_code)]
pub struct WindowBudget {
    /// Permits of the mailbox's budget.
    pub mailbox: OwnedSemaphorePermit,
    /// Permits of the run's budget.
    pub run: OwnedSemaphorePermit,
}

/// A window with its bodies, holding its share of the bytes-in-flight budget.
#[derive(Debug)]
pub struct FetchedWindow {
    /// The plan's window.
    pub window: Window,
    /// Bodies in window order, or why a message could not be read (the source no longer has
    /// it, or refused to serve it).
    pub bodies: Vec<std::result::Result<Bytes, String>>,
    /// Released when the last batch of this window is acknowledged.
    pub permit: Arc<WindowBudget>,
}

/// Messages larger than this (by RFC822.SIZE) are read in pieces of this size with
/// `BODY.PEEK[]<offset.length>`: async-imap holds a whole response in its buffer while we copy
/// the body out, so a 30 MB message read whole would briefly take 60 MB. In pieces it takes its
/// own size plus one piece, and every piece has its own timeout, so a slow link only has to move
/// one piece per timeout.
pub const PIECE: u64 = 1 << 20;

/// Largest message read in pieces before giving up on a server that keeps sending.
const MAX_MESSAGE: u64 = 4 << 30;

/// A unit of work for a source connection.
pub type WindowTask = (Window, WindowBudget);

/// Fetches windows until the queue closes or the run is stopped. Each connection has its own queue holding the windows
/// of the folders assigned to it, so it selects a folder once and reads it window after window.
/// `folders[i]` is the source wire name of folder `i`; `route[folder_owner[i]]` its writer.
#[allow(clippy::too_many_arguments)] // one call site; a struct of them would only rename them
pub async fn run_fetcher(
    mut conn: Connection,
    mut queue: mpsc::Receiver<WindowTask>,
    folders: Arc<Vec<String>>,
    route: Arc<Vec<mpsc::Sender<FetchedWindow>>>,
    folder_owner: Arc<Vec<usize>>,
    timeout: Duration,
    shutdown: CancellationToken,
    isolation: Arc<Isolation>,
) -> Result<Connection> {
    let server = conn.server.clone();
    let mut selected: Option<usize> = None;
    loop {
        let next = tokio::select! {
            biased;
            () = shutdown.cancelled() => None,
            next = queue.recv() => next,
        };
        let Some((window, permit)) = next else {
            break;
        };
        let wire = &folders[window.folder];
        if selected != Some(window.folder) {
            timed(timeout, || format!("{server}: EXAMINE {wire}"), async {
                conn.session
                    .examine(wire)
                    .await
                    .map_err(|e| imap_err(&server, &format!("EXAMINE {wire}"), e))
            })
            .await?;
            selected = Some(window.folder);
        }
        let uids: Vec<u32> = window.items.iter().map(|m| m.uid).collect();
        let mut by_uid: HashMap<u32, Bytes> = HashMap::with_capacity(uids.len());
        let mut refused: HashMap<u32, String> = HashMap::new();
        for uid in &uids {
            if let Some(why) = isolation.unreadable(wire, *uid) {
                refused.insert(*uid, why.to_owned());
            }
        }
        let asked = uids.len() - refused.len();
        let read = read_window(&mut conn, wire, &window, &mut by_uid, &mut refused, timeout).await;
        isolation.note_delivered(by_uid.len() as u64);
        if let Err(e) = read {
            let cut = Cut {
                wire,
                asked,
                uids: &uids,
            };
            return Err(cut.error(e, &by_uid, &refused, &isolation));
        }
        let bodies = uids
            .iter()
            .map(|u| {
                by_uid.remove(u).ok_or_else(|| match refused.remove(u) {
                    Some(why) if isolation.unreadable(wire, *u).is_some() => why,
                    Some(why) => format!("the source could not read it: {why}"),
                    None => "message vanished from the source".to_owned(),
                })
            })
            .collect();
        let fetched = FetchedWindow {
            window,
            bodies,
            permit: Arc::new(permit),
        };
        let owner = folder_owner[fetched.window.folder];
        if route[owner].send(fetched).await.is_err() {
            // The writer is gone: it failed, and its error ends the mailbox.
            break;
        }
    }
    Ok(conn)
}

/// The window in hand when reading it failed: `asked` of its `uids` were asked for (the others
/// are unreadable).
struct Cut<'a> {
    wire: &'a str,
    asked: usize,
    uids: &'a [u32],
}

impl Cut<'_> {
    /// A connection failure while the window was being read: noted in `isolation` and returned
    /// as [`Error::FetchDropped`], naming the messages that had not arrived. Other errors as
    /// they are.
    fn error(
        self,
        e: Error,
        by_uid: &HashMap<u32, Bytes>,
        refused: &HashMap<u32, String>,
        isolation: &Isolation,
    ) -> Error {
        if e.disposition() != Disposition::Retry {
            return e;
        }
        let unreceived: Vec<u32> = self
            .uids
            .iter()
            .copied()
            .filter(|u| !by_uid.contains_key(u) && !refused.contains_key(u))
            .collect();
        isolation.note_cut(CutWindow {
            folder: self.wire.to_owned(),
            asked: self.asked,
            mid_answer: e.is_cut_mid_response(),
            unreceived: unreceived.clone(),
            reason: e.to_string(),
        });
        Error::FetchDropped {
            folder: self.wire.to_owned(),
            unreceived,
            source: Box::new(e),
        }
    }
}

/// Reads the bodies of `window` into `by_uid`, and why the source refused some into `refused`
/// (which on entry holds the messages not to ask for). Only connection trouble is an error;
/// what arrived before it is in `by_uid`.
async fn read_window(
    conn: &mut Connection,
    wire: &str,
    window: &Window,
    by_uid: &mut HashMap<u32, Bytes>,
    refused: &mut HashMap<u32, String>,
    timeout: Duration,
) -> Result<()> {
    let server = conn.server.clone();
    let wanted = || {
        window
            .items
            .iter()
            .filter(|m| !refused.contains_key(&m.uid))
    };
    let small: Vec<u32> = wanted()
        .filter(|m| m.size <= PIECE)
        .map(|m| m.uid)
        .collect();
    let large: Vec<(u32, u64)> = wanted()
        .filter(|m| m.size > PIECE)
        .map(|m| (m.uid, m.size))
        .collect();
    if !small.is_empty() {
        match fetch_whole(conn, wire, &small, by_uid, timeout).await {
            Ok(()) => {}
            Err(e) if e.disposition() == Disposition::SkipMessage => {
                // The server refused part of the window (a message it cannot read, say): read
                // what is missing one by one, so only the bad message is left out.
                tracing::debug!(server = %server, error = %e, "window refused; reading its messages one by one");
                let missing: Vec<u32> = small
                    .iter()
                    .copied()
                    .filter(|u| !by_uid.contains_key(u))
                    .collect();
                for uid in missing {
                    fetch_one(conn, wire, uid, by_uid, refused, timeout).await?;
                }
            }
            Err(e) => return Err(e),
        }
    }
    for (uid, size) in large {
        match fetch_in_pieces(conn, wire, uid, size, timeout).await {
            Ok(Piecewise::Body(body)) => {
                by_uid.insert(uid, body);
            }
            Ok(Piecewise::Vanished) => {}
            Ok(Piecewise::Unreadable(why)) => {
                refused.insert(uid, why);
            }
            Err(e) if e.disposition() == Disposition::SkipMessage => {
                // Refused in pieces (a server without partial FETCH, or a damaged file): one
                // whole read decides, at the cost of holding it twice briefly.
                fetch_one(conn, wire, uid, by_uid, refused, timeout).await?;
            }
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

/// Reads the bodies of `uids` (all small) with one `UID FETCH`. Messages answered before a
/// refusal are kept in `by_uid`.
async fn fetch_whole(
    conn: &mut Connection,
    wire: &str,
    uids: &[u32],
    by_uid: &mut HashMap<u32, Bytes>,
    timeout: Duration,
) -> Result<()> {
    let server = conn.server.clone();
    let label = format!("UID FETCH BODY.PEEK[] in {wire}");
    command::uid_fetch(
        &mut conn.session,
        &server,
        &uid_set(uids),
        "(UID BODY.PEEK[])",
        &label,
        timeout,
        |f| {
            if let (Some(uid), Some(body)) = (f.uid, f.body) {
                by_uid.insert(uid, Bytes::copy_from_slice(body));
            }
            Ok(())
        },
    )
    .await
}

/// Reads one message whole; if the source refuses it, records why in `refused`. Only
/// connection trouble is an error.
async fn fetch_one(
    conn: &mut Connection,
    wire: &str,
    uid: u32,
    by_uid: &mut HashMap<u32, Bytes>,
    refused: &mut HashMap<u32, String>,
    timeout: Duration,
) -> Result<()> {
    match fetch_whole(conn, wire, &[uid], by_uid, timeout).await {
        Err(e) if e.disposition() == Disposition::SkipMessage => {
            refused.insert(uid, e.to_string());
            Ok(())
        }
        other => other,
    }
}

/// What reading a message in pieces gave.
#[derive(Debug, PartialEq)]
enum Piecewise {
    /// The whole message.
    Body(Bytes),
    /// The source no longer has it.
    Vanished,
    /// The source answered, but not with a message we can trust (why).
    Unreadable(String),
}

/// Reads one large message in pieces of [`PIECE`] bytes until a piece comes back short (or
/// empty, or absent once at least one full piece came: RFC 3501 answers a range past the end
/// with an empty string, some servers with NIL). A server that ignores the range and sends the
/// whole message at once is accepted. What the source does wrong with this one message makes it
/// [`Piecewise::Unreadable`]; only connection trouble is an error.
async fn fetch_in_pieces(
    conn: &mut Connection,
    wire: &str,
    uid: u32,
    size_hint: u64,
    timeout: Duration,
) -> Result<Piecewise> {
    let server = conn.server.clone();
    // RFC822.SIZE is the server's word (Exchange's is approximate): allow generously more, but
    // not without end, and do not reserve more than a modest amount up front on its say-so.
    let limit = size_hint
        .saturating_mul(2)
        .max(size_hint + 16 * PIECE)
        .min(MAX_MESSAGE);
    let mut body = BytesMut::with_capacity(size_hint.min(64 * PIECE) as usize);
    loop {
        let offset = body.len() as u64;
        let label = format!("UID FETCH {uid} BODY.PEEK[]<{offset}.{PIECE}> in {wire}");
        let mut piece: Option<(Option<u32>, u64)> = None;
        command::uid_fetch(
            &mut conn.session,
            &server,
            &uid.to_string(),
            &format!("(UID BODY.PEEK[]<{offset}.{PIECE}>)"),
            &label,
            timeout,
            |f| {
                if let (Some(u), Some(data)) = (f.uid, f.body) {
                    if u == uid && piece.is_none() {
                        body.extend_from_slice(data);
                        piece = Some((f.body_origin, data.len() as u64));
                    }
                }
                Ok(())
            },
        )
        .await?;
        let verdict = piece_verdict(offset, piece, body.len() as u64, limit);
        match verdict {
            PieceVerdict::More => {}
            PieceVerdict::Done => return Ok(Piecewise::Body(body.freeze())),
            PieceVerdict::Vanished => return Ok(Piecewise::Vanished),
            PieceVerdict::Bad(why) => return Ok(Piecewise::Unreadable(why)),
        }
    }
}

/// What to do after one piece.
#[derive(Debug, PartialEq, Eq)]
enum PieceVerdict {
    /// Ask for the next piece.
    More,
    /// The message is complete.
    Done,
    /// The source no longer has it.
    Vanished,
    /// Something is wrong with this message's answers.
    Bad(String),
}

/// Judges the answer to the piece asked at `offset`: `piece` is (origin the server named, bytes
/// it sent), `None` when it sent no body; `total` is what the message holds now.
fn piece_verdict(
    offset: u64,
    piece: Option<(Option<u32>, u64)>,
    total: u64,
    limit: u64,
) -> PieceVerdict {
    match piece {
        None if offset == 0 => PieceVerdict::Vanished,
        // Past the end after a full piece: the message was an exact multiple of PIECE.
        None => PieceVerdict::Done,
        // The whole message, the range ignored: fine at the start.
        Some((None, n)) if offset == 0 && n > PIECE => PieceVerdict::Done,
        Some((origin, _)) if offset > 0 && origin != Some(offset as u32) => {
            PieceVerdict::Bad(format!(
                "asked for bytes from {offset}, the server answered {}",
                origin.map_or("without an origin".to_owned(), |o| format!("from {o}"))
            ))
        }
        Some((_, n)) if n > PIECE => PieceVerdict::Bad(format!("asked for {PIECE} bytes, got {n}")),
        Some((_, n)) if n < PIECE => PieceVerdict::Done,
        Some(_) if total >= limit => PieceVerdict::Bad(format!(
            "still sending after {total} bytes (RFC822.SIZE said much less)"
        )),
        Some(_) => PieceVerdict::More,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const P: u64 = PIECE;

    #[test]
    fn pieces_end_short_empty_or_absent_after_a_full_one() {
        let limit = 100 * P;
        assert_eq!(
            piece_verdict(0, Some((Some(0), P)), P, limit),
            PieceVerdict::More
        );
        assert_eq!(
            piece_verdict(P, Some((Some(P as u32), 10)), P + 10, limit),
            PieceVerdict::Done
        );
        // An exact multiple of PIECE: the next range is empty, or NIL, or left out.
        assert_eq!(
            piece_verdict(P, Some((Some(P as u32), 0)), P, limit),
            PieceVerdict::Done
        );
        assert_eq!(piece_verdict(P, None, P, limit), PieceVerdict::Done);
        assert_eq!(piece_verdict(0, None, 0, limit), PieceVerdict::Vanished);
    }

    #[test]
    fn a_server_that_ignores_the_range_is_taken_whole_at_first_and_refused_later() {
        let limit = 100 * P;
        assert_eq!(
            piece_verdict(0, Some((None, 3 * P)), 3 * P, limit),
            PieceVerdict::Done
        );
        // Sending the first MiB again for every range would repeat it forever.
        assert!(matches!(
            piece_verdict(P, Some((Some(0), P)), 2 * P, limit),
            PieceVerdict::Bad(_)
        ));
        assert!(matches!(
            piece_verdict(P, Some((None, P)), 2 * P, limit),
            PieceVerdict::Bad(_)
        ));
        assert!(matches!(
            piece_verdict(P, Some((Some(P as u32), 2 * P)), 3 * P, limit),
            PieceVerdict::Bad(_)
        ));
    }

    #[test]
    fn a_message_far_larger_than_announced_is_refused() {
        assert!(matches!(
            piece_verdict(9 * P, Some((Some(9 * P as u32), P)), 10 * P, 10 * P),
            PieceVerdict::Bad(_)
        ));
        assert_eq!(
            piece_verdict(8 * P, Some((Some(8 * P as u32), P)), 9 * P, 10 * P),
            PieceVerdict::More
        );
    }
}
