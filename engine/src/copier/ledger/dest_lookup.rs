//! Reading a destination folder to recognise messages sent to it ([`super::arrivals`]): after
//! an APPEND whose answer was lost, and after the folder's UIDVALIDITY changed. EXAMINE and
//! BODY.PEEK only: looking changes nothing.

use super::arrivals::Arrived;
use crate::error::Result;
use crate::imap::{command, imap_err, timed, Connection};
use crate::state::{Fingerprint, MessageIdHash};
use std::collections::HashMap;
use std::time::Duration;

/// The folder's UIDVALIDITY, and UID, RFC822.SIZE and Message-ID of the messages of `folder`
/// from UID `floor` up.
pub(crate) async fn destination_since(
    dst: &mut Connection,
    folder: &str,
    floor: u32,
    timeout: Duration,
) -> Result<(Option<u32>, Vec<Arrived>)> {
    let server = dst.server.clone();
    let mailbox = timed(timeout, || format!("{server}: EXAMINE {folder}"), async {
        dst.session
            .examine(folder)
            .await
            .map_err(|e| imap_err(&server, &format!("EXAMINE {folder}"), e))
    })
    .await?;
    let mut found = Vec::new();
    let label = format!("UID FETCH Message-ID in {folder}");
    command::uid_fetch(
        &mut dst.session,
        &server,
        &format!("{floor}:*"),
        "(UID RFC822.SIZE INTERNALDATE BODY.PEEK[HEADER.FIELDS (MESSAGE-ID)])",
        &label,
        timeout,
        |f| {
            if let (Some(uid), Some(size)) = (f.uid, f.size) {
                // `n:*` names the last message even when its UID is below n.
                if uid >= floor {
                    found.push(Arrived {
                        uid,
                        size: u64::from(size),
                        message_id: f.section.and_then(MessageIdHash::of_message),
                        date: f.internaldate.map(|d| d.with_timezone(&chrono::Utc)),
                    });
                }
            }
            Ok(())
        },
    )
    .await?;
    Ok((mailbox.uid_validity, found))
}

/// The fingerprint of each message `uids` of the EXAMINEd `folder`, read in one FETCH.
pub(crate) async fn fingerprints(
    dst: &mut Connection,
    folder: &str,
    uids: &[u32],
    timeout: Duration,
) -> Result<HashMap<u32, Fingerprint>> {
    let mut found = HashMap::new();
    if uids.is_empty() {
        return Ok(found);
    }
    let server = dst.server.clone();
    let label = format!("UID FETCH BODY.PEEK[] in {folder}");
    command::uid_fetch(
        &mut dst.session,
        &server,
        &crate::plan::order::uid_set(uids),
        "(UID BODY.PEEK[])",
        &label,
        timeout,
        |f| {
            if let (Some(uid), Some(body)) = (f.uid, f.body) {
                found.insert(uid, Fingerprint::of(body));
            }
            Ok(())
        },
    )
    .await?;
    Ok(found)
}
