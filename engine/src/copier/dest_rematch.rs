//! A destination folder recreated since messages were copied into it: deleted and made again by
//! a user or an admin, restored from a backup, renumbered by the server. Its UIDVALIDITY changed,
//! so the UIDs recorded for its messages name nothing now, and the messages themselves may or
//! may not still be there.
//!
//! Invariants:
//! - A done message whose destination UID was learnt under a UIDVALIDITY the folder no longer
//!   has is looked for in the folder by fingerprint ([`super::dest_lookup`]): Message-ID and
//!   size, or the SHA-256 of the bytes sent. Found, its record points at the new UID (flags can
//!   be synced again). Not found, it stops being done and this pass copies it again.
//! - Nothing is copied again blindly: a recreated folder that still holds its messages gets no
//!   duplicate, and one that lost them is refilled.
//! - Each destination UID is claimed by one message at most, and UIDs the folder's current
//!   records already hold are not claimed again.
//! - Folders are checked with one LIST-STATUS (RFC 5819) where the server has it, else one
//!   STATUS each; only a folder whose UIDVALIDITY changed is read.

use super::dest_lookup::{content_candidates, destination_since, fingerprints, Arrivals};
use super::ledger::{flush, lock, Ledger};
use crate::error::{Error, Result};
use crate::imap::{command, Connection};
use std::collections::HashSet;
use std::sync::Mutex;
use std::time::Duration;

/// What checking the destination folders' UIDVALIDITY found.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub(super) struct Rechecked {
    /// Destination folders whose UIDVALIDITY changed since messages were copied into them.
    pub(super) recreated_folders: u64,
    /// Messages found again in such a folder (their records now point at the new UIDs).
    pub(super) found_again: u64,
    /// Messages such a folder no longer holds: to be copied again by this pass.
    pub(super) lost: u64,
}

/// Checks every destination folder in `present` that holds done messages of `ledger` for a
/// UIDVALIDITY change, and re-matches the messages of those that changed (see the module doc).
/// Needs the ledger's state store (the fingerprints are kept there); without one it does nothing.
pub(super) async fn recheck_destination(
    dst: &mut Connection,
    ledger: &Mutex<Ledger>,
    present: &HashSet<String>,
    timeout: Duration,
) -> Result<Rechecked> {
    let mut result = Rechecked::default();
    let Some((store, _)) = lock(ledger).store() else {
        return Ok(result);
    };
    let mut folders: Vec<_> = lock(ledger)
        .dest_validities()
        .into_iter()
        .filter(|(f, _)| present.contains(f))
        .collect();
    folders.sort_by(|a, b| a.0.cmp(&b.0));
    let names: Vec<String> = folders.iter().map(|(f, _)| f.clone()).collect();
    let server = dst.server.clone();
    let list_status = dst.caps.list_status;
    let status =
        command::folder_status(&mut dst.session, &server, &names, list_status, timeout).await?;
    for (folder, recorded) in folders {
        let Some(now) = status.get(&folder).and_then(|s| s.uidvalidity) else {
            continue;
        };
        if recorded.iter().all(|v| *v == now) {
            continue;
        }
        // The folder as it is now; its UIDVALIDITY as EXAMINE gives it is the one that counts.
        let (validity, there) = destination_since(dst, &folder, 1, timeout).await?;
        let validity = validity.unwrap_or(now);
        let stale = lock(ledger).stale_in(&folder, validity);
        if stale.is_empty() {
            continue;
        }
        result.recreated_folders += 1;
        tracing::warn!(folder = %folder, messages = stale.len(), "the destination folder's UIDVALIDITY changed: looking for its messages again");
        let keys: Vec<_> = stale.iter().map(|(k, id)| (*id, k.uid)).collect();
        let records = store
            .call(move |db| {
                keys.iter()
                    .map(|(f, u)| db.message(*f, *u))
                    .collect::<crate::state::Result<Vec<_>>>()
            })
            .await
            .map_err(|e| Error::State {
                message: e.to_string(),
            })?;
        let wanted: Vec<_> = stale
            .into_iter()
            .zip(records)
            .filter_map(|((key, id), r)| r.map(|r| (key, id, r.facts)))
            .collect();
        let candidates = content_candidates(wanted.iter().map(|(_, _, f)| f), &there);
        let contents = fingerprints(dst, &folder, &candidates, timeout).await?;
        let mut l = lock(ledger);
        let mut taken = l.claimed_in(&folder, validity);
        let arrivals = Arrivals::new(&there);
        for (key, id, facts) in wanted {
            match arrivals.find(&facts, &contents, &taken) {
                Some(uid) => {
                    taken.insert(uid);
                    l.relocate(&key, id, validity, uid);
                    result.found_again += 1;
                }
                None => {
                    l.forget(&key, id, facts.sent_size);
                    result.lost += 1;
                }
            }
        }
    }
    flush(ledger).await?;
    Ok(result)
}
