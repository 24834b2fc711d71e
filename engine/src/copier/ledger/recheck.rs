//! Before a pass relies on its done records, each is checked against the plan and the
//! destination as they are now (invariant 4 of [`super::book`]):
//! - **Moved**: the folder map sends the record's source folder elsewhere than the record's
//!   destination folder. If that old folder is gone or was recreated, the copy is gone with it:
//!   the record is forgotten and the message copied to its new folder. If the old folder still
//!   holds it, [`RemapPolicy`] decides: copy it to the new folder too (and say the old one keeps
//!   its copy), or refuse to start, naming the folders.
//! - **Recreated**: the record's destination folder has another UIDVALIDITY than the one its UID
//!   was learnt under. The message is looked for there by content; found, its record points at
//!   the new UID, else it is forgotten and copied again.
//!
//! The book decides ([`Book::moved`], [`Book::revalidate_moved`], [`Book::refind`]); this module
//! reads the destination: one LIST-STATUS (or a STATUS each), and only a changed folder is read.

use super::arrivals::content_candidates;
use super::book::Book;
use super::dest_lookup::{destination_since, fingerprints};
use super::owner::Ledger;
use super::{persist, SourceKey};
use crate::error::{Error, Result};
use crate::imap::{command, Connection};
use std::collections::{BTreeMap, HashMap, HashSet};
use std::time::Duration;

/// What to do with messages whose folder the map now sends elsewhere while their old
/// destination folder still holds them.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum RemapPolicy {
    /// Stop the mailbox before copying anything, naming the folders (the default: a changed map
    /// may be a mistake, and copying makes a second copy).
    #[default]
    Refuse,
    /// Copy them to their new folders; the old folders keep their copies (the report says so).
    Copy,
}

/// A done record the map moved, with the UIDVALIDITY its destination UID was learnt under.
type MovedRecord = (SourceKey, Option<u32>);

/// Done records of one source folder whose destination folder is not the planned one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct MovedFolder {
    /// Source folder, wire name.
    pub(crate) source: String,
    /// Destination folder the records name.
    pub(crate) old_dest: String,
    /// Destination folder the plan names now.
    pub(crate) new_dest: String,
    /// The records, with the UIDVALIDITY their destination UID was learnt under.
    pub(crate) records: Vec<MovedRecord>,
}

/// A moved folder as the pass handled it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Moved {
    /// Source folder, wire name.
    pub(crate) source: String,
    /// Old destination folder.
    pub(crate) old_dest: String,
    /// New destination folder.
    pub(crate) new_dest: String,
    /// Messages copied again to the new folder.
    pub(crate) messages: u64,
    /// Of those, how many the old folder still holds.
    pub(crate) still_there: u64,
}

impl Book {
    /// The done records whose destination folder is not the one `plan` (source wire name →
    /// destination wire name) maps their source folder to, by source and old destination.
    /// Records of source folders the plan does not copy are left alone.
    pub(crate) fn moved(&self, plan: &HashMap<String, String>) -> Vec<MovedFolder> {
        let mut groups: BTreeMap<(String, String), Vec<MovedRecord>> = BTreeMap::new();
        for (key, info) in &self.done {
            match plan.get(&key.folder) {
                Some(dest) if *dest != info.dest_folder => groups
                    .entry((key.folder.clone(), info.dest_folder.clone()))
                    .or_default()
                    .push((key.clone(), info.dest_uidvalidity)),
                _ => {}
            }
        }
        groups
            .into_iter()
            .map(|((source, old_dest), mut records)| {
                records.sort_by_key(|(k, _)| (k.uidvalidity, k.uid));
                MovedFolder {
                    new_dest: plan[&source].clone(),
                    source,
                    old_dest,
                    records,
                }
            })
            .collect()
    }

    /// Settles `moved` given the destination's folders now (`dest_now`: wire name → its
    /// UIDVALIDITY; a folder not listed is gone): every record is forgotten (its message is
    /// copied to its new folder), unless `policy` refuses because an old folder still holds
    /// some: then nothing changes, and the refusal lists what moved.
    pub(crate) fn revalidate_moved(
        &mut self,
        moved: Vec<MovedFolder>,
        dest_now: &HashMap<String, Option<u32>>,
        policy: RemapPolicy,
    ) -> std::result::Result<Vec<Moved>, Vec<Moved>> {
        let outcome: Vec<Moved> = moved
            .iter()
            .map(|m| {
                let now = dest_now.get(&m.old_dest);
                let still_there = (m.records.iter())
                    .filter(|(_, v)| matches!(now, Some(n) if v.is_none() || n.is_none() || v == n))
                    .count() as u64;
                Moved {
                    source: m.source.clone(),
                    old_dest: m.old_dest.clone(),
                    new_dest: m.new_dest.clone(),
                    messages: m.records.len() as u64,
                    still_there,
                }
            })
            .collect();
        if policy == RemapPolicy::Refuse && outcome.iter().any(|m| m.still_there > 0) {
            return Err(outcome);
        }
        for m in moved {
            m.records.iter().for_each(|(key, _)| self.forget(key));
        }
        Ok(outcome)
    }
}

/// What checking the destination folders' UIDVALIDITY found.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Rechecked {
    /// Destination folders whose UIDVALIDITY changed since messages were copied into them.
    pub(crate) recreated_folders: u64,
    /// Messages found again in such a folder (their records now point at the new UIDs).
    pub(crate) found_again: u64,
    /// Messages such a folder no longer held: copied again by this pass.
    pub(crate) lost: u64,
}

/// Checks the done records of `ledger` against `plan` (source wire name → destination wire
/// name), with the destination's folders `present` now, before anything is created: records
/// the map moved are forgotten (copied to their new folders), or the mailbox is refused by
/// `policy`. Commits what changed.
pub(crate) async fn revalidate_map(
    dst: &mut Connection,
    ledger: &Ledger,
    plan: HashMap<String, String>,
    present: &HashSet<String>,
    policy: RemapPolicy,
    timeout: Duration,
) -> Result<Vec<Moved>> {
    let moved = ledger.ask(move |b| b.moved(&plan)).await;
    if moved.is_empty() {
        return Ok(Vec::new());
    }
    let old: Vec<String> = (moved.iter().map(|m| m.old_dest.clone()))
        .filter(|f| present.contains(f))
        .collect::<HashSet<_>>()
        .into_iter()
        .collect();
    let server = dst.server.clone();
    let list_status = dst.caps.list_status;
    let status =
        command::folder_status(&mut dst.session, &server, &old, list_status, timeout).await?;
    let dest_now: HashMap<String, Option<u32>> = (old.into_iter())
        .map(|f| (f.clone(), status.get(&f).and_then(|s| s.uidvalidity)))
        .collect();
    match ledger
        .ask(move |b| b.revalidate_moved(moved, &dest_now, policy))
        .await
    {
        Ok(moved) => {
            ledger.commit().await?;
            Ok(moved)
        }
        Err(refused) => {
            let moves = (refused.iter().filter(|m| m.still_there > 0))
                .map(|m| {
                    format!(
                        "{:?} went to {:?}, which still holds {} of its messages, and now goes \
                         to {:?}",
                        m.source, m.old_dest, m.still_there, m.new_dest
                    )
                })
                .collect::<Vec<_>>()
                .join("; ");
            Err(Error::FolderMapChanged { moves })
        }
    }
}

/// Checks every destination folder in `present` that holds done messages of `ledger` for a
/// UIDVALIDITY change, and looks for the messages of those that changed again (see the module
/// doc). Needs the ledger's state store (the fingerprints are kept there). Commits what changed.
pub(crate) async fn recheck_destination(
    dst: &mut Connection,
    ledger: &Ledger,
    present: &HashSet<String>,
    timeout: Duration,
) -> Result<Rechecked> {
    let mut result = Rechecked::default();
    let Some((store, _)) = ledger.store().cloned() else {
        return Ok(result);
    };
    let server = dst.server.clone();
    let list_status = dst.caps.list_status;
    let mut folders: Vec<(String, HashSet<u32>)> = ledger
        .ask(|b| {
            let mut by_folder: HashMap<String, HashSet<u32>> = HashMap::new();
            for info in b.done.values() {
                if let Some(v) = info.dest_uidvalidity {
                    by_folder
                        .entry(info.dest_folder.clone())
                        .or_default()
                        .insert(v);
                }
            }
            by_folder.into_iter().collect()
        })
        .await;
    folders.retain(|(f, _)| present.contains(f));
    folders.sort_by(|a, b| a.0.cmp(&b.0));
    let names: Vec<String> = folders.iter().map(|(f, _)| f.clone()).collect();
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
        let name = folder.clone();
        let stale = ledger.ask(move |b| b.stale_in(&name, validity)).await;
        if stale.is_empty() {
            continue;
        }
        result.recreated_folders += 1;
        tracing::warn!(folder = %folder, messages = stale.len(), "the destination folder's UIDVALIDITY changed: looking for its messages again");
        let keys = stale.iter().map(|(k, id)| (*id, k.uid)).collect();
        let facts = persist::facts(&store, keys).await?;
        let wanted: Vec<_> = (stale.into_iter().zip(facts))
            .filter_map(|((key, id), f)| f.map(|f| (key, id, f)))
            .collect();
        let candidates = content_candidates(wanted.iter().map(|(_, _, f)| f), &there);
        let contents = fingerprints(dst, &folder, &candidates, timeout).await?;
        let (found, lost) = ledger
            .ask(move |b| b.refind(&folder, validity, wanted, &there, &contents))
            .await;
        result.found_again += found;
        result.lost += lost;
    }
    ledger.commit().await?;
    Ok(result)
}
