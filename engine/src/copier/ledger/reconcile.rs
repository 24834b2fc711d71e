//! The IMAP side of the ledger, for messages whose fate is unknown: APPENDs whose answer was
//! lost (looked for at the destination before anything is sent again), messages another tool
//! copied (`--adopt-existing`), and source folders whose UIDVALIDITY changed (re-matched by
//! content). It reads; the book decides ([`Book::settle`], [`Book::adopt`], [`Book::rematch`]).
//!
//! Invariants:
//! - A pending message the destination could not be asked about stays pending: never taken for
//!   missing (which would send it twice) nor for found.
//! - Records are committed before the store is searched, so a look-up sees every record.

use super::arrivals::content_candidates;
use super::dest_lookup::{destination_since, fingerprints};
use super::owner::Ledger;
use super::persist;
use super::{SentMessage, SourceKey};
use crate::error::Result;
use crate::imap::Connection;
use crate::state::{Fingerprint, MessageIdHash};
use std::collections::{HashMap, HashSet};
use std::sync::Mutex;
use std::time::Duration;

/// What a reconciliation found.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Reconciled {
    /// Pending messages found at the destination (now done).
    pub(crate) found: u64,
    /// Pending messages not there (to be sent again).
    pub(crate) missing: u64,
}

/// Looks for the pending messages at the destination through `dst` (left with a folder
/// EXAMINEd), whose folders now are `present`: those found are done, the others will be sent
/// again (a folder that is gone holds none of them). Commits the outcome.
pub(crate) async fn reconcile(
    ledger: &Ledger,
    dst: &mut Connection,
    present: &HashSet<String>,
    timeout: Duration,
) -> Result<Reconciled> {
    let mut result = Reconciled::default();
    let mut folders = ledger.ask(|b| b.take_pending()).await.into_iter();
    while let Some((folder, floor, pending)) = folders.next() {
        let looked = async {
            if !present.contains(&folder) {
                return Ok((None, Vec::new(), HashMap::new()));
            }
            let (mut validity, mut there) =
                destination_since(dst, &folder, floor.uid, timeout).await?;
            if floor.uid > 1 && floor.validity.is_some() && validity != floor.validity {
                // Recreated since the floor was learnt: the messages may be anywhere.
                (validity, there) = destination_since(dst, &folder, 1, timeout).await?;
            }
            let candidates = content_candidates(pending.iter().map(|m| &m.facts), &there);
            let contents = fingerprints(dst, &folder, &candidates, timeout).await?;
            Ok::<_, crate::error::Error>((validity, there, contents))
        };
        match looked.await {
            Ok((validity, there, contents)) => {
                let (found, missing) = ledger
                    .ask(move |b| b.settle(&folder, validity, pending, &there, &contents))
                    .await;
                result.found += found;
                result.missing += missing;
            }
            Err(e) => {
                // Still unknown: looked for next time.
                let rest: Vec<SentMessage> = pending
                    .into_iter()
                    .chain(folders.flat_map(|(_, _, ms)| ms))
                    .collect();
                ledger.update(move |b| b.restore_pending(rest)).await;
                ledger.commit().await?;
                return Err(e);
            }
        }
    }
    ledger.commit().await?;
    Ok(result)
}

/// Recognises, among `messages` of a source folder whose UIDVALIDITY changed, those copied
/// before under the old one (same folder name, same SHA-256 of the source bytes): re-keyed and
/// counted done. The keys returned are not to be sent.
pub(crate) async fn rematch(
    ledger: &Ledger,
    messages: &[SentMessage],
) -> Result<HashSet<SourceKey>> {
    let Some((store, mailbox)) = ledger.store().cloned() else {
        return Ok(HashSet::new());
    };
    ledger.commit().await?;
    let prints: Vec<Fingerprint> = messages.iter().map(|m| m.facts.fingerprint).collect();
    let found = persist::by_source_fingerprint(&store, &mailbox, prints).await?;
    let messages = messages.to_vec();
    Ok(ledger.ask(move |b| b.rematch(&messages, found)).await)
}

/// What a destination folder already holds, for `--adopt-existing`.
#[derive(Debug)]
pub(crate) struct AdoptFolder {
    /// The folder's UIDVALIDITY when it was read: kept with each adopted UID.
    pub(crate) uidvalidity: Option<u32>,
    /// Its UIDs by (Message-ID hash, size); each is taken by one source message at most.
    pub(crate) by_key: Mutex<HashMap<(MessageIdHash, u64), Vec<u32>>>,
}

/// Per destination folder (wire name): what it already holds, for `--adopt-existing`.
pub(crate) type AdoptIndex = HashMap<String, AdoptFolder>;

/// Reads the destination folders `dest_folders` for `--adopt-existing`: every message with a
/// Message-ID, except those the ledger already knows as its own copies.
pub(crate) async fn adopt_index(
    dst: &mut Connection,
    dest_folders: &[String],
    ledger: &Ledger,
    timeout: Duration,
) -> Result<AdoptIndex> {
    let mut index = AdoptIndex::new();
    for folder in dest_folders {
        let name = folder.clone();
        let ours = ledger.ask(move |b| b.dest_uids_in(&name)).await;
        let mut by_key: HashMap<(MessageIdHash, u64), Vec<u32>> = HashMap::new();
        let (uidvalidity, there) = destination_since(dst, folder, 1, timeout).await?;
        for a in there {
            if let (Some(id), false) = (a.message_id, ours.contains(&a.uid)) {
                by_key.entry((id, a.size)).or_default().push(a.uid);
            }
        }
        let by_key = Mutex::new(by_key);
        index.insert(
            folder.clone(),
            AdoptFolder {
                uidvalidity,
                by_key,
            },
        );
    }
    Ok(index)
}

/// Numbers the source folders `folders` (wire name, UIDVALIDITY) in the ledger's store, if it
/// has one, so their messages can be recorded.
pub(crate) async fn register_folders(ledger: &Ledger, folders: &[(String, u32)]) -> Result<()> {
    let Some((store, mailbox)) = ledger.store().cloned() else {
        return Ok(());
    };
    let wanted = folders.to_vec();
    let missing = ledger.ask(move |b| b.unregistered(&wanted)).await;
    if missing.is_empty() {
        return Ok(());
    }
    let ids = persist::folder_ids(&store, &mailbox, missing).await?;
    ledger.update(move |b| b.register(ids)).await;
    Ok(())
}
