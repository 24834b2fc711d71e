//! Source side of the pipeline: a connection takes windows in plan order, reads their bodies with
//! one `UID FETCH ... BODY.PEEK[]` each, and hands them to the destination writer of the folder.
//! BODY.PEEK on an EXAMINEd folder: the source is never modified.

use crate::error::{Disposition, Error, Result};
use crate::imap::{command, imap_err, timed, Connection};
use crate::plan::order::{uid_set, Window};
use bytes::{Bytes, BytesMut};
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{mpsc, OwnedSemaphorePermit};

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

/// Fetches windows until the queue closes. Each connection has its own queue holding the windows
/// of the folders assigned to it, so it selects a folder once and reads it window after window.
/// `folders[i]` is the source wire name of folder `i`; `route[folder_owner[i]]` its writer.
pub async fn run_fetcher(
    mut conn: Connection,
    mut queue: mpsc::Receiver<WindowTask>,
    folders: Arc<Vec<String>>,
    route: Arc<Vec<mpsc::Sender<FetchedWindow>>>,
    folder_owner: Arc<Vec<usize>>,
    timeout: Duration,
) -> Result<Connection> {
    let server = conn.server.clone();
    let mut selected: Option<usize> = None;
    loop {
        let Some((window, permit)) = queue.recv().await else {
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
        let small: Vec<u32> = window
            .items
            .iter()
            .filter(|m| m.size <= PIECE)
            .map(|m| m.uid)
            .collect();
        let mut by_uid: HashMap<u32, Bytes> = HashMap::with_capacity(uids.len());
        let mut refused: HashMap<u32, String> = HashMap::new();
        if !small.is_empty() {
            match fetch_whole(&mut conn, wire, &small, &mut by_uid, timeout).await {
                Ok(()) => {}
                Err(e) if e.disposition() == Disposition::SkipMessage => {
                    // The server refused part of the window (a message it cannot read, say):
                    // read what is missing one by one, so only the bad message is left out.
                    tracing::debug!(server = %server, error = %e, "window refused; reading its messages one by one");
                    let missing: Vec<u32> = small
                        .iter()
                        .copied()
                        .filter(|u| !by_uid.contains_key(u))
                        .collect();
                    for uid in missing {
                        match fetch_whole(&mut conn, wire, &[uid], &mut by_uid, timeout).await {
                            Ok(()) => {}
                            Err(e) if e.disposition() == Disposition::SkipMessage => {
                                refused.insert(uid, e.to_string());
                            }
                            Err(e) => return Err(e),
                        }
                    }
                }
                Err(e) => return Err(e),
            }
        }
        for m in window.items.iter().filter(|m| m.size > PIECE) {
            match fetch_in_pieces(&mut conn, wire, m.uid, m.size, timeout).await {
                Ok(Some(body)) => {
                    by_uid.insert(m.uid, body);
                }
                Ok(None) => {}
                Err(e) if e.disposition() == Disposition::SkipMessage => {
                    refused.insert(m.uid, e.to_string());
                }
                Err(e) => return Err(e),
            }
        }
        let bodies = uids
            .iter()
            .map(|u| {
                by_uid.remove(u).ok_or_else(|| match refused.remove(u) {
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

/// Reads one large message in pieces of [`PIECE`] bytes until a piece comes back short.
/// `None` when the source no longer has it. A server that ignores the range and sends the whole
/// message at once is accepted.
async fn fetch_in_pieces(
    conn: &mut Connection,
    wire: &str,
    uid: u32,
    size_hint: u64,
    timeout: Duration,
) -> Result<Option<Bytes>> {
    let server = conn.server.clone();
    let mut body = BytesMut::with_capacity(size_hint.min(MAX_MESSAGE) as usize);
    loop {
        let offset = body.len() as u64;
        let label = format!("UID FETCH {uid} BODY.PEEK[]<{offset}.{PIECE}> in {wire}");
        let mut piece_len = None;
        command::uid_fetch(
            &mut conn.session,
            &server,
            &uid.to_string(),
            &format!("(UID BODY.PEEK[]<{offset}.{PIECE}>)"),
            &label,
            timeout,
            |f| {
                if let (Some(u), Some(piece)) = (f.uid, f.body) {
                    if u == uid && piece_len.is_none() {
                        body.extend_from_slice(piece);
                        piece_len = Some(piece.len() as u64);
                    }
                }
                Ok(())
            },
        )
        .await?;
        match piece_len {
            // Gone before the first piece: vanished. Gone later: it changed under us, which
            // an EXAMINEd message cannot; say so rather than copy half a message.
            None if offset == 0 => return Ok(None),
            None => {
                return Err(Error::Protocol {
                    server,
                    message: format!("{wire} UID {uid} vanished after {offset} bytes were read"),
                })
            }
            Some(n) if n > PIECE && offset == 0 => break, // the whole message, range ignored
            Some(n) if n > PIECE => {
                return Err(Error::Protocol {
                    server,
                    message: format!("{wire} UID {uid}: asked for {PIECE} bytes, got {n}"),
                })
            }
            Some(n) if n < PIECE => break,
            Some(_) if body.len() as u64 >= MAX_MESSAGE => {
                return Err(Error::Protocol {
                    server,
                    message: format!("{wire} UID {uid} is larger than {MAX_MESSAGE} bytes"),
                })
            }
            Some(_) => {}
        }
    }
    Ok(Some(body.freeze()))
}
