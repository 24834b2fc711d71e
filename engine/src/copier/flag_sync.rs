//! An incremental pass's flag sync: flags changed at the source since a message was copied
//! are set at the destination, one `UID STORE ... FLAGS.SILENT` per folder and set of flags,
//! and recorded. A UID learnt under another UIDVALIDITY is never used: the folder was
//! recreated, and the UID names some other message now, or none.

use super::ledger::{FlagChange, Ledger};
use crate::error::Result;
use crate::imap::{imap_err, timed, Connection};

/// What an incremental pass did to flags.
#[derive(Debug, Default, Clone, Copy)]
pub(super) struct FlagSync {
    /// Messages whose flags were set at the destination.
    pub(super) updated: u64,
    /// Messages whose flags changed but whose destination UID is unknown.
    pub(super) unknown_uid: u64,
}

/// Sets at the destination the flags that changed at the source, one `UID STORE ... FLAGS.SILENT`
/// per destination folder and set of flags, and records them.
pub(super) async fn sync_flags(
    dst: &mut Connection,
    changes: Vec<FlagChange>,
    ledger: &Ledger,
    t: std::time::Duration,
) -> Result<FlagSync> {
    let mut done = FlagSync::default();
    let mut groups: std::collections::BTreeMap<(String, Vec<String>), Vec<FlagChange>> =
        Default::default();
    for c in changes {
        if c.dest_uid.is_none() {
            done.unknown_uid += 1;
            continue;
        }
        groups
            .entry((c.dest_folder.clone(), c.flags.clone()))
            .or_default()
            .push(c);
    }
    let mut selected: Option<(String, Option<u32>)> = None;
    for ((folder, flags), changes) in groups {
        let server = dst.server.clone();
        if selected.as_ref().map(|(name, _)| name) != Some(&folder) {
            let mailbox = timed(t, || format!("{server}: SELECT {folder}"), async {
                dst.session
                    .select(&folder)
                    .await
                    .map_err(|e| imap_err(&server, &format!("SELECT {folder}"), e))
            })
            .await?;
            selected = Some((folder.clone(), mailbox.uid_validity));
        }
        // A UID learnt under another UIDVALIDITY (the folder was recreated) names some other
        // message now, or none: those flags are left alone rather than set on the wrong mail.
        let validity = selected.as_ref().and_then(|(_, v)| *v);
        let (changes, stale): (Vec<FlagChange>, Vec<FlagChange>) = changes
            .into_iter()
            .partition(|c| c.dest_uidvalidity.is_none() || c.dest_uidvalidity == validity);
        done.unknown_uid += stale.len() as u64;
        if changes.is_empty() {
            continue;
        }
        let uids: Vec<u32> = changes.iter().filter_map(|c| c.dest_uid).collect();
        let command = format!(
            "UID STORE {} FLAGS.SILENT ({})",
            crate::plan::order::uid_set(&uids),
            flags.join(" ")
        );
        let label = format!("UID STORE FLAGS in {folder}");
        crate::imap::command::run_checked(&mut dst.session, &server, &command, &label, t, |_| {
            Ok(())
        })
        .await?;
        done.updated += changes.len() as u64;
        ledger
            .update(move |b| changes.iter().for_each(|c| b.flags_synced(&c.key, &flags)))
            .await;
    }
    ledger.commit().await?;
    Ok(done)
}
