//! Reading what a mailbox holds: LIST, LSUB, and per folder EXAMINE + UID FETCH of metadata.
//! Read-only: EXAMINE never changes flags, and no message body is touched here.

use crate::error::{Error, Result};
use crate::imap::{command, imap_err, timed, Session};
use crate::plan::folders::ListedFolder;
use crate::plan::order::MessageMeta;
use std::collections::HashSet;
use std::time::Duration;

fn listed(entries: Vec<command::ListEntry>) -> Vec<ListedFolder> {
    entries
        .into_iter()
        .map(|e| ListedFolder {
            wire: e.wire,
            delimiter: e.delimiter,
            attributes: e.attributes,
        })
        .collect()
}

/// `LIST "" "*"`: every folder, with SPECIAL-USE attributes where the server has them.
pub async fn list(
    session: &mut Session,
    server: &str,
    timeout: Duration,
) -> Result<Vec<ListedFolder>> {
    Ok(listed(
        command::list(session, server, "LIST", "\"\" \"*\"", timeout).await?,
    ))
}

/// The hierarchy delimiter, from `LIST "" ""` (RFC 3501 6.3.8).
pub async fn delimiter(
    session: &mut Session,
    server: &str,
    timeout: Duration,
) -> Result<Option<char>> {
    let entries = command::list(session, server, "LIST", "\"\" \"\"", timeout).await?;
    Ok(entries.iter().find_map(|e| e.delimiter))
}

/// `LSUB "" "*"`: wire names of subscribed folders.
pub async fn subscribed(
    session: &mut Session,
    server: &str,
    timeout: Duration,
) -> Result<HashSet<String>> {
    let entries = command::list(session, server, "LSUB", "\"\" \"*\"", timeout).await?;
    Ok(entries.into_iter().map(|e| e.wire).collect())
}

/// What a folder scan found.
#[derive(Debug)]
pub struct FolderScan {
    /// Messages, in server order.
    pub messages: Vec<MessageMeta>,
}

/// EXAMINE a folder and read UID, INTERNALDATE, RFC822.SIZE and FLAGS of every message.
pub async fn scan_folder(
    session: &mut Session,
    server: &str,
    folder_index: usize,
    wire: &str,
    timeout: Duration,
) -> Result<FolderScan> {
    let mailbox = timed(timeout, || format!("{server}: EXAMINE {wire}"), async {
        session
            .examine(wire)
            .await
            .map_err(|e| imap_err(server, &format!("EXAMINE {wire}"), e))
    })
    .await?;
    // EXISTS sizes the list, within reason: the server's word is not a reason to allocate.
    let mut messages = Vec::with_capacity((mailbox.exists as usize).min(1 << 16));
    if mailbox.exists > 0 {
        let label = format!("UID FETCH metadata in {wire}");
        command::uid_fetch(
            session,
            server,
            "1:*",
            "(UID INTERNALDATE RFC822.SIZE FLAGS)",
            &label,
            timeout,
            |f| {
                let Some(uid) = f.uid else {
                    return Err(Error::Protocol {
                        server: server.into(),
                        message: format!("FETCH in {wire} without UID"),
                    });
                };
                messages.push(MessageMeta {
                    folder: folder_index,
                    uid,
                    internaldate: f.internaldate,
                    size: f.size.map(u64::from).unwrap_or(0),
                    flags: f.flags.unwrap_or_default(),
                });
                Ok(())
            },
        )
        .await?;
    }
    Ok(FolderScan { messages })
}
