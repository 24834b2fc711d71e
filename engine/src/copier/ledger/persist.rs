//! Everything the ledger reads from and writes to the state store: loading a book, committing
//! its records, numbering source folders, and the look-ups by fingerprint.
//!
//! Invariant: records are committed only by the book's owner ([`super::owner`]), one batch at a
//! time, in the order the book asked for them; so the store sees an intent before its done
//! record, whichever writer's acknowledgement came first.

use super::book::Book;
use crate::error::{Error, Result};
use crate::state::{Fingerprint, MessageFacts};
use crate::state::{FolderId, MessageRecord, RecordBatch, StateStore};

/// A state store failure, as the engine reports it: the mailbox cannot go on safely.
pub(crate) fn state_error(e: crate::state::Error) -> Error {
    Error::State {
        message: e.to_string(),
    }
}

/// The book of `mailbox` as `store` keeps it: done messages (skipped and counted as copied),
/// pending intents (reconciled before anything is sent) and their floors.
pub(crate) async fn load(store: &StateStore, mailbox: &str) -> Result<Book> {
    let name = mailbox.to_string();
    let (folders, pending) = store
        .call(move |db| {
            let mut folders = Vec::new();
            for f in db.folders(&name)? {
                let done = db.done_records(f.id)?;
                folders.push((f, done));
            }
            Ok((folders, db.pending_intents(&name)?))
        })
        .await
        .map_err(state_error)?;
    Ok(Book::from_store(folders, pending))
}

/// Commits `batch` in one transaction (nothing when it is empty).
pub(crate) async fn commit(store: &StateStore, batch: RecordBatch) -> Result<()> {
    if batch.is_empty() {
        return Ok(());
    }
    store
        .call(move |db| db.commit(batch))
        .await
        .map_err(state_error)
}

/// Store ids for the source folder incarnations `folders` of `mailbox`, made where missing.
pub(crate) async fn folder_ids(
    store: &StateStore,
    mailbox: &str,
    folders: Vec<(String, u32)>,
) -> Result<Vec<((String, u32), FolderId)>> {
    let mailbox = mailbox.to_string();
    store
        .call(move |db| {
            folders
                .into_iter()
                .map(|(name, v)| Ok(((name.clone(), v), db.folder(&mailbox, &name, v)?)))
                .collect::<crate::state::Result<Vec<_>>>()
        })
        .await
        .map_err(state_error)
}

/// For each fingerprint of source bytes, the migrated messages of `mailbox` with it.
pub(crate) async fn by_source_fingerprint(
    store: &StateStore,
    mailbox: &str,
    fingerprints: Vec<Fingerprint>,
) -> Result<Vec<Vec<MessageRecord>>> {
    let mailbox = mailbox.to_string();
    store
        .call(move |db| {
            fingerprints
                .iter()
                .map(|fp| db.find_by_fingerprint(&mailbox, fp))
                .collect::<crate::state::Result<Vec<_>>>()
        })
        .await
        .map_err(state_error)
}

/// The facts recorded for the migrated messages `keys` (store folder, source UID); `None` for
/// a key with no record.
pub(crate) async fn facts(
    store: &StateStore,
    keys: Vec<(FolderId, u32)>,
) -> Result<Vec<Option<MessageFacts>>> {
    store
        .call(move |db| {
            keys.iter()
                .map(|(f, u)| Ok(db.message(*f, *u)?.map(|r| r.facts)))
                .collect::<crate::state::Result<Vec<_>>>()
        })
        .await
        .map_err(state_error)
}
