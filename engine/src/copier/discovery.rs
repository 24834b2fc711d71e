//! Reading what a mailbox holds: LIST, LSUB, and per folder EXAMINE + UID FETCH of metadata.
//! Read-only: EXAMINE never changes flags, and no message body is touched here.

use crate::error::{Error, Result};
use crate::imap::{imap_err, timed, Session};
use crate::plan::folders::ListedFolder;
use crate::plan::order::MessageMeta;
use async_imap::types::NameAttribute;
use futures::TryStreamExt;
use std::collections::HashSet;
use std::time::Duration;

fn attribute_text(a: &NameAttribute<'_>) -> String {
    match a {
        NameAttribute::NoInferiors => "\\Noinferiors".into(),
        NameAttribute::NoSelect => "\\Noselect".into(),
        NameAttribute::Marked => "\\Marked".into(),
        NameAttribute::Unmarked => "\\Unmarked".into(),
        NameAttribute::All => "\\All".into(),
        NameAttribute::Archive => "\\Archive".into(),
        NameAttribute::Drafts => "\\Drafts".into(),
        NameAttribute::Flagged => "\\Flagged".into(),
        NameAttribute::Junk => "\\Junk".into(),
        NameAttribute::Sent => "\\Sent".into(),
        NameAttribute::Trash => "\\Trash".into(),
        NameAttribute::Extension(s) => s.to_string(),
        other => format!("{other:?}"),
    }
}

/// `LIST "" "*"`.
pub async fn list(
    session: &mut Session,
    server: &str,
    timeout: Duration,
) -> Result<Vec<ListedFolder>> {
    timed(timeout, || format!("{server}: LIST"), async {
        let names: Vec<_> = session
            .list(Some(""), Some("*"))
            .await
            .map_err(|e| imap_err(server, "LIST", e))?
            .try_collect()
            .await
            .map_err(|e| imap_err(server, "LIST", e))?;
        Ok(names
            .iter()
            .map(|n| ListedFolder {
                wire: n.name().to_string(),
                delimiter: n.delimiter().and_then(|d| d.chars().next()),
                attributes: n.attributes().iter().map(attribute_text).collect(),
            })
            .collect())
    })
    .await
}

/// The hierarchy delimiter, from `LIST "" ""` (RFC 3501 6.3.8).
pub async fn delimiter(
    session: &mut Session,
    server: &str,
    timeout: Duration,
) -> Result<Option<char>> {
    timed(timeout, || format!("{server}: LIST delimiter"), async {
        let names: Vec<_> = session
            .list(Some(""), Some("\"\""))
            .await
            .map_err(|e| imap_err(server, "LIST", e))?
            .try_collect()
            .await
            .map_err(|e| imap_err(server, "LIST", e))?;
        Ok(names
            .iter()
            .find_map(|n| n.delimiter().and_then(|d| d.chars().next())))
    })
    .await
}

/// `LSUB "" "*"`: wire names of subscribed folders.
pub async fn subscribed(
    session: &mut Session,
    server: &str,
    timeout: Duration,
) -> Result<HashSet<String>> {
    timed(timeout, || format!("{server}: LSUB"), async {
        let names: Vec<_> = session
            .lsub(Some(""), Some("*"))
            .await
            .map_err(|e| imap_err(server, "LSUB", e))?
            .try_collect()
            .await
            .map_err(|e| imap_err(server, "LSUB", e))?;
        Ok(names.iter().map(|n| n.name().to_string()).collect())
    })
    .await
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
    let mut messages = Vec::with_capacity(mailbox.exists as usize);
    if mailbox.exists > 0 {
        let command = format!("UID FETCH {wire}");
        let fetches: Vec<_> = timed(timeout, || format!("{server}: {command}"), async {
            session
                .uid_fetch("1:*", "(UID INTERNALDATE RFC822.SIZE FLAGS)")
                .await
                .map_err(|e| imap_err(server, &command, e))?
                .try_collect()
                .await
                .map_err(|e| imap_err(server, &command, e))
        })
        .await?;
        for f in &fetches {
            let Some(uid) = f.uid else {
                return Err(Error::Protocol {
                    server: server.into(),
                    message: format!("FETCH in {wire} without UID"),
                });
            };
            messages.push(MessageMeta {
                folder: folder_index,
                uid,
                internaldate: f.internal_date(),
                size: f.size.map(u64::from).unwrap_or(0),
                flags: f.flags().map(flag_text).collect(),
            });
        }
    }
    Ok(FolderScan { messages })
}

fn flag_text(f: async_imap::types::Flag<'_>) -> String {
    use async_imap::types::Flag;
    match f {
        Flag::Seen => "\\Seen".into(),
        Flag::Answered => "\\Answered".into(),
        Flag::Flagged => "\\Flagged".into(),
        Flag::Deleted => "\\Deleted".into(),
        Flag::Draft => "\\Draft".into(),
        Flag::Recent => "\\Recent".into(),
        Flag::MayCreate => "\\*".into(),
        Flag::Custom(s) => s.into_owned(),
    }
}
