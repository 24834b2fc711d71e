//! Source side of the pipeline: a connection takes windows in plan order, reads their bodies with
//! one `UID FETCH ... BODY.PEEK[]` each, and hands them to the destination writer of the folder.
//! BODY.PEEK on an EXAMINEd folder: the source is never modified.

use crate::error::{Error, Result};
use crate::imap::{imap_err, timed, Connection};
use crate::plan::order::{uid_set, Window};
use bytes::Bytes;
use futures::TryStreamExt;
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
    /// Bodies in window order; `None` where the source no longer had the message.
    pub bodies: Vec<Option<Bytes>>,
    /// Released when the last batch of this window is acknowledged.
    pub permit: Arc<WindowBudget>,
}

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
        let set = uid_set(&uids);
        let mut by_uid: HashMap<u32, Bytes> = HashMap::with_capacity(uids.len());
        let command = format!("UID FETCH BODY.PEEK[] in {wire}");
        timed(timeout, || format!("{server}: {command}"), async {
            let mut stream = conn
                .session
                .uid_fetch(&set, "(UID BODY.PEEK[])")
                .await
                .map_err(|e| imap_err(&server, &command, e))?;
            while let Some(f) = stream
                .try_next()
                .await
                .map_err(|e| imap_err(&server, &command, e))?
            {
                if let (Some(uid), Some(body)) = (f.uid, f.body()) {
                    by_uid.insert(uid, Bytes::copy_from_slice(body));
                }
            }
            Ok::<(), Error>(())
        })
        .await?;
        let bodies = uids.iter().map(|u| by_uid.remove(u)).collect();
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
