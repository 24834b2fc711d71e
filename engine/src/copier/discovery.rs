//! Reading what a mailbox holds: LIST, LSUB, and per folder EXAMINE + UID FETCH of metadata.
//! Read-only: EXAMINE never changes flags, and no message body is touched here.

use crate::error::{Disposition, Error, Result};
use crate::imap::{command, imap_err, timed, Connection, Session};
use crate::plan::folders::{FolderPlan, ListedFolder};
use crate::plan::order::{uid_set, MessageMeta};
use std::collections::HashSet;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::task::JoinSet;

/// `LIST "" "*"`: every folder, with SPECIAL-USE attributes where the server has them.
pub async fn list(
    session: &mut Session,
    server: &str,
    timeout: Duration,
) -> Result<Vec<ListedFolder>> {
    command::list(session, server, "LIST", "\"\" \"*\"", timeout).await
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
    /// Messages whose metadata the server would not give: (UID, why).
    pub unreadable: Vec<(u32, String)>,
    /// Messages the source's SEARCH left out of the date range.
    pub outside_dates: u64,
    /// The folder's UIDVALIDITY (0 when the server gave none): with a UID, names a message
    /// across sessions.
    pub uidvalidity: u32,
    /// HIGHESTMODSEQ when the folder was opened (CONDSTORE servers): this pass's mark.
    pub highest_modseq: Option<u64>,
    /// Set when only the messages changed since this mod-sequence (the folder's mark from its
    /// last clean pass) were read: new ones and those whose flags changed. The others were all
    /// migrated (or filtered out) then and have not changed.
    pub changed_since: Option<u64>,
}

/// `ENABLE CONDSTORE` (RFC 7162, RFC 5161) where the server offers both, so EXAMINE reports
/// HIGHESTMODSEQ and FETCH takes CHANGEDSINCE. Returns whether it is on.
pub async fn enable_condstore(
    session: &mut Session,
    server: &str,
    caps: &crate::imap::Capabilities,
    timeout: Duration,
) -> Result<bool> {
    let has = |name: &str| caps.all.iter().any(|c| c.eq_ignore_ascii_case(name));
    if !(has("CONDSTORE") || has("QRESYNC")) || !has("ENABLE") {
        return Ok(false);
    }
    let mut enabled = false;
    let answer = command::run_checked(
        session,
        server,
        "ENABLE CONDSTORE",
        "ENABLE CONDSTORE",
        timeout,
        |r| {
            if let imap_proto::Response::Capabilities(caps) = r {
                enabled |= caps.iter().any(|c| {
                    matches!(c, imap_proto::Capability::Atom(a) if a.eq_ignore_ascii_case("CONDSTORE"))
                });
            }
            Ok(())
        },
    )
    .await;
    match answer {
        Ok(()) => Ok(enabled),
        // A server that advertises ENABLE and refuses it: whole reads, as without CONDSTORE.
        Err(crate::error::Error::Command { message, .. }) => {
            tracing::debug!(server, %message, "ENABLE CONDSTORE refused");
            Ok(false)
        }
        Err(e) => Err(e),
    }
}

/// Messages per metadata FETCH when a folder has to be read in parts.
const SCAN_CHUNK: usize = 256;

/// EXAMINE a folder and read UID, INTERNALDATE, RFC822.SIZE and FLAGS of every message, or,
/// with `search` (search keys such as `SINCE 1-Jan-2024`), of the messages the server's
/// `UID SEARCH` lists.
///
/// If the server refuses the folder-wide FETCH (a message whose size it cannot compute from a
/// damaged file, say), the UIDs are listed alone and the metadata read in parts, one message at
/// a time where a part fails, so only the damaged message is left out (in `unreadable`).
///
/// With `mark` (UIDVALIDITY, HIGHESTMODSEQ of the folder's last clean pass) on a CONDSTORE
/// server, no date range, and the same UIDVALIDITY, only what changed since is read
/// (`CHANGEDSINCE`), and nothing at all when HIGHESTMODSEQ has not moved.
pub async fn scan_folder(
    session: &mut Session,
    server: &str,
    folder_index: usize,
    wire: &str,
    search: Option<&str>,
    mark: Option<(u32, u64)>,
    timeout: Duration,
) -> Result<FolderScan> {
    let mailbox = timed(timeout, || format!("{server}: EXAMINE {wire}"), async {
        session
            .examine(wire)
            .await
            .map_err(|e| imap_err(server, &format!("EXAMINE {wire}"), e))
    })
    .await?;
    let mut scan = Metadata {
        folder: folder_index,
        // EXISTS sizes the list, within reason: the server's word is no reason to allocate.
        messages: Vec::with_capacity((mailbox.exists as usize).min(1 << 16)),
        seen: HashSet::new(),
    };
    let mut unreadable = Vec::new();
    let mut outside_dates = 0;
    let highest_modseq = mailbox.highest_modseq;
    let mut changed_since = match (mark, highest_modseq, search) {
        (Some((validity, since)), Some(now), None)
            if mailbox.uid_validity == Some(validity) && now >= since =>
        {
            Some(since)
        }
        _ => None,
    };
    if mailbox.exists > 0 {
        let whole = match (search, changed_since) {
            (None, Some(since)) if Some(since) == highest_modseq => Ok(()),
            (None, Some(since)) => {
                let items = format!("{METADATA} (CHANGEDSINCE {since})");
                scan.fetch(session, server, wire, "1:*", &items, timeout)
                    .await
            }
            (None, None) => {
                scan.fetch(session, server, wire, "1:*", METADATA, timeout)
                    .await
            }
            (Some(keys), _) => {
                let uids = uid_search(session, server, wire, keys, timeout).await?;
                outside_dates = u64::from(mailbox.exists).saturating_sub(uids.len() as u64);
                scan.fetch_in_parts(session, server, wire, &uids, &mut unreadable, timeout)
                    .await
            }
        };
        match whole {
            Ok(()) => {}
            Err(e) if e.disposition() == Disposition::SkipMessage && search.is_none() => {
                tracing::debug!(server, folder = wire, error = %e, "metadata refused; reading it in parts");
                changed_since = None;
                let uids = list_uids(session, server, wire, timeout).await?;
                scan.fetch_in_parts(session, server, wire, &uids, &mut unreadable, timeout)
                    .await?;
            }
            Err(e) => return Err(e),
        }
    }
    Ok(FolderScan {
        messages: scan.messages,
        unreadable,
        outside_dates,
        uidvalidity: mailbox.uid_validity.unwrap_or(0),
        highest_modseq,
        changed_since,
    })
}

/// The metadata items read per message.
const METADATA: &str = "(UID INTERNALDATE RFC822.SIZE FLAGS)";

/// Metadata read so far from one folder.
struct Metadata {
    folder: usize,
    messages: Vec<MessageMeta>,
    /// UIDs already in `messages`: an answer repeated by a retry counts once.
    seen: HashSet<u32>,
}

impl Metadata {
    /// Reads the metadata of `uids` in chunks, one message at a time where a chunk is refused;
    /// the messages refused alone go to `unreadable`.
    async fn fetch_in_parts(
        &mut self,
        session: &mut Session,
        server: &str,
        wire: &str,
        uids: &[u32],
        unreadable: &mut Vec<(u32, String)>,
        timeout: Duration,
    ) -> Result<()> {
        for chunk in uids.chunks(SCAN_CHUNK) {
            let set = uid_set(chunk);
            match self
                .fetch(session, server, wire, &set, METADATA, timeout)
                .await
            {
                Ok(()) => continue,
                Err(e) if e.disposition() == Disposition::SkipMessage => {}
                Err(e) => return Err(e),
            }
            let missing: Vec<u32> = chunk
                .iter()
                .copied()
                .filter(|u| !self.seen.contains(u))
                .collect();
            for uid in missing {
                match self
                    .fetch(session, server, wire, &uid.to_string(), METADATA, timeout)
                    .await
                {
                    Ok(()) => {}
                    Err(e) if e.disposition() == Disposition::SkipMessage => {
                        unreadable.push((uid, e.to_string()));
                    }
                    Err(e) => return Err(e),
                }
            }
        }
        Ok(())
    }

    /// `UID FETCH set items` (the [`METADATA`] items, perhaps with a modifier). Answers without
    /// UID or RFC822.SIZE are unsolicited (a flag change pushed by the server) and not ours.
    async fn fetch(
        &mut self,
        session: &mut Session,
        server: &str,
        wire: &str,
        set: &str,
        items: &str,
        timeout: Duration,
    ) -> Result<()> {
        let label = format!("UID FETCH metadata in {wire}");
        let (folder, messages, seen) = (self.folder, &mut self.messages, &mut self.seen);
        command::uid_fetch(session, server, set, items, &label, timeout, |f| {
            if let (Some(uid), Some(size)) = (f.uid, f.size) {
                if seen.insert(uid) {
                    messages.push(MessageMeta {
                        folder,
                        uid,
                        internaldate: f.internaldate,
                        size: u64::from(size),
                        flags: f.flags.unwrap_or_default(),
                    });
                }
            }
            Ok(())
        })
        .await
    }
}

/// The UIDs of the selected folder that `UID SEARCH keys` lists, ascending.
async fn uid_search(
    session: &mut Session,
    server: &str,
    wire: &str,
    keys: &str,
    timeout: Duration,
) -> Result<Vec<u32>> {
    let mut uids = Vec::new();
    let label = format!("UID SEARCH {keys} in {wire}");
    let command = format!("UID SEARCH {keys}");
    command::run_checked(session, server, &command, &label, timeout, |r| {
        if let imap_proto::Response::MailboxData(imap_proto::MailboxDatum::Search(found)) = r {
            uids.extend_from_slice(found);
        }
        Ok(())
    })
    .await?;
    uids.sort_unstable();
    uids.dedup();
    Ok(uids)
}

/// Every UID of the selected folder, ascending (`UID FETCH 1:* (UID)`).
async fn list_uids(
    session: &mut Session,
    server: &str,
    wire: &str,
    timeout: Duration,
) -> Result<Vec<u32>> {
    let mut uids = Vec::new();
    let label = format!("UID FETCH UID in {wire}");
    command::uid_fetch(session, server, "1:*", "(UID)", &label, timeout, |f| {
        uids.extend(f.uid);
        Ok(())
    })
    .await?;
    uids.sort_unstable();
    uids.dedup();
    Ok(uids)
}

/// Per folder of a plan, what its scan found.
pub(super) type Scans = Vec<Option<FolderScan>>;

/// Scans every folder, each connection taking the next unscanned folder.
pub(super) async fn scan_all(
    sources: Vec<Connection>,
    plans: &[FolderPlan],
    search: Option<&str>,
    marks: &[Option<(u32, u64)>],
    condstore: bool,
    t: std::time::Duration,
) -> Result<(Vec<Connection>, Scans)> {
    let search: Option<Arc<str>> = search.map(Arc::from);
    let marks: Arc<Vec<Option<(u32, u64)>>> = Arc::new(marks.to_vec());
    let next = Arc::new(AtomicUsize::new(0));
    let wires: Arc<Vec<String>> = Arc::new(plans.iter().map(|p| p.source_wire.clone()).collect());
    let mut set = JoinSet::new();
    for mut conn in sources {
        let (next, wires, search, marks) =
            (next.clone(), wires.clone(), search.clone(), marks.clone());
        set.spawn(async move {
            let mut found = Vec::new();
            if condstore {
                let server = conn.server.clone();
                enable_condstore(&mut conn.session, &server, &conn.caps, t).await?;
            }
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= wires.len() {
                    break;
                }
                let server = conn.server.clone();
                let scan = scan_folder(
                    &mut conn.session,
                    &server,
                    i,
                    &wires[i],
                    search.as_deref(),
                    marks[i],
                    t,
                )
                .await?;
                found.push((i, scan));
            }
            Ok::<_, Error>((conn, found))
        });
    }
    let mut conns = Vec::new();
    let mut scans: Scans = (0..plans.len()).map(|_| None).collect();
    while let Some(r) = set.join_next().await {
        let (conn, found) = r.map_err(|e| Error::Protocol {
            server: "scan".into(),
            message: e.to_string(),
        })??;
        conns.push(conn);
        for (i, m) in found {
            scans[i] = Some(m);
        }
    }
    Ok((conns, scans))
}
