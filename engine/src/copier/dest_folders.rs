//! Preparing the destination of a pass: folders created, subscriptions copied, and each
//! written folder's UIDNEXT noted before anything is sent (the floor a lost answer is looked for
//! from).

use super::discovery;
use super::ledger::Ledger;
use crate::error::{Error, Result};
use crate::imap::{imap_err, timed, Connection};
use crate::plan::folders::FolderPlan;

/// Notes, for each destination folder about to be written that the ledger has no floor for yet,
/// its UIDNEXT (one LIST-STATUS, or a STATUS each): if an APPEND's answer is lost, its message
/// is looked for from there.
pub(super) async fn note_dest_uidnext(
    dst: &mut Connection,
    plans: &[FolderPlan],
    busy: &[usize],
    ledger: &Ledger,
    t: std::time::Duration,
) -> Result<()> {
    let wires: Vec<String> = busy.iter().map(|&i| plans[i].dest_wire.clone()).collect();
    let wanted: Vec<String> = ledger
        .ask(move |b| wires.into_iter().filter(|w| !b.knows_floor(w)).collect())
        .await;
    let server = dst.server.clone();
    let list_status = dst.caps.list_status;
    let status =
        crate::imap::command::folder_status(&mut dst.session, &server, &wanted, list_status, t)
            .await?;
    ledger
        .update(move |b| {
            for wire in &wanted {
                let (uidnext, validity) = match status.get(wire) {
                    Some(s) => (s.uidnext, s.uidvalidity),
                    None => (None, None),
                };
                b.note_uidnext(wire, uidnext.unwrap_or(1), validity);
            }
        })
        .await;
    Ok(())
}

pub(super) async fn create_folders(
    dst: &mut Connection,
    wires: &[String],
    t: std::time::Duration,
) -> Result<u64> {
    let mut created = 0;
    for wire in wires {
        let server = dst.server.clone();
        let r = timed(t, || format!("{server}: CREATE {wire}"), async {
            dst.session
                .create(wire)
                .await
                .map_err(|e| imap_err(&server, &format!("CREATE {wire}"), e))
        })
        .await;
        match r {
            Ok(()) => created += 1,
            // Created meanwhile (e.g. as a parent of another folder): fine.
            Err(Error::Command { message, .. })
                if message.to_ascii_uppercase().contains("ALREADYEXISTS")
                    || message.to_ascii_lowercase().contains("already exists") => {}
            Err(e) => return Err(e),
        }
    }
    Ok(created)
}

pub(super) async fn copy_subscriptions(
    dst: &mut Connection,
    plans: &[FolderPlan],
    t: std::time::Duration,
) -> Result<u64> {
    let already = discovery::subscribed(&mut dst.session, &dst.server, t).await?;
    let mut n = 0;
    for p in plans
        .iter()
        .filter(|p| p.subscribed && !already.contains(&p.dest_wire))
    {
        let server = dst.server.clone();
        let wire = &p.dest_wire;
        timed(t, || format!("{server}: SUBSCRIBE {wire}"), async {
            dst.session
                .subscribe(wire)
                .await
                .map_err(|e| imap_err(&server, &format!("SUBSCRIBE {wire}"), e))
        })
        .await?;
        n += 1;
    }
    Ok(n)
}
