//! The IMAP side of a verify: plans the mailbox as the copier does, reads both sides and hands
//! the messages to [`compare_folder`].
//!
//! Invariants:
//! - Read-only on both sides: LIST, STATUS, EXAMINE and `UID FETCH` of metadata and
//!   `BODY.PEEK[]` only; never SELECT, STORE, APPEND, CREATE or EXPUNGE.
//! - Where folders go comes from the copier's own planner ([`plan_mailbox_folders`]); what the
//!   destination should hold from the copier's own filters and address rewriter.
//! - Memory holds one message body at a time (one FETCH response, or for a large message one
//!   piece, or the whole message when the rewriter needs it) plus a digest and a short label per
//!   message.

use super::compare::{compare_folder, SeenMessage};
use super::message_label::{message_label, HEADER_LIMIT};
use super::report::{FilteredOut, MailboxVerification, MessageRef, UnplannedFolder, Unreadable};
use crate::copier::discovery;
use crate::error::{Disposition, Result};
use crate::imap::{command, connect, mutf7, ConnectOptions, Connection, TlsClient};
use crate::plan::folders::FolderPlan;
use crate::plan::message_filter::Exclusion;
use crate::plan::order::{uid_set, MessageMeta};
use crate::transform::address_rewrite::AddressRewriter;
use crate::{plan_mailbox_folders, CopyOptions, MailboxJob};
use sha2::{Digest, Sha256};
use std::collections::{HashMap, HashSet};
use std::time::Duration;

/// Messages per body FETCH.
const WINDOW_MESSAGES: usize = 200;
/// Bytes (by RFC822.SIZE) per body FETCH.
const WINDOW_BYTES: u64 = 8 << 20;
/// Messages larger than this are read in pieces of this size.
const PIECE: u64 = 8 << 20;

/// Compares one mailbox of the list: where the copier would send each source folder, whether
/// each destination folder holds exactly the messages the filters keep (after the address
/// rewrite), and which destination folders are outside the plan. A failure to read the
/// mailbox at all is reported in [`MailboxVerification::error`].
pub async fn verify_mailbox(
    job: &MailboxJob,
    options: &CopyOptions,
    tls: &TlsClient,
) -> MailboxVerification {
    let mut out = MailboxVerification {
        mailbox: job.id.clone(),
        ..MailboxVerification::default()
    };
    if let Err(e) = verify_into(&mut out, job, options, tls).await {
        out.error = Some(e.to_string());
    }
    out
}

async fn verify_into(
    out: &mut MailboxVerification,
    job: &MailboxJob,
    options: &CopyOptions,
    tls: &TlsClient,
) -> Result<()> {
    let plans = plan_mailbox_folders(job, options, tls).await?;
    let t = options.io_timeout;
    let copts = ConnectOptions {
        tls: tls.clone(),
        compress: options.compress,
        compress_min_rtt: options.compress_min_rtt,
        timeout: t,
        logins: options.login_guard(),
        local_address: None,
        budget: None,
    };
    let (mut src, mut dst) =
        tokio::try_join!(connect(&job.source, &copts), connect(&job.dest, &copts))?;
    let dest_listed = discovery::list(&mut dst.session, &dst.server, t).await?;
    let existing: HashSet<&str> = dest_listed
        .iter()
        .filter(|f| f.selectable())
        .map(|f| f.wire.as_str())
        .collect();
    // Several source folders may map onto one destination folder: compared as one.
    let mut groups: Vec<(&str, &str, Vec<&FolderPlan>)> = Vec::new();
    for p in &plans {
        match groups.iter_mut().find(|g| g.0 == p.dest_wire) {
            Some(g) => g.2.push(p),
            None => groups.push((&p.dest_wire, &p.dest_name, vec![p])),
        }
    }
    let search = options.message_filter.search_criteria();
    let rewriter = options.address_rewriter.as_deref();
    for (dest_wire, dest_name, sources) in &groups {
        let present = existing.contains(dest_wire);
        let source_side = read_sources(&mut src, sources, search.as_deref(), options, rewriter);
        let dest_side = async {
            match present {
                true => read_folder(&mut dst, "dest", dest_wire, dest_name, None, t).await,
                false => Ok(Side::default()),
            }
        };
        let (source_side, dest_side) = tokio::try_join!(source_side, dest_side)?;
        let (expected, source_unreadable, filtered) = source_side;
        out.filtered.outside_dates += filtered.outside_dates;
        out.filtered.deleted += filtered.deleted;
        out.filtered.too_large += filtered.too_large;
        let names = sources.iter().map(|p| p.source_name.clone()).collect();
        let mut v = compare_folder(dest_name, names, expected, dest_side.messages, present);
        v.unreadable = source_unreadable;
        v.unreadable.extend(dest_side.unreadable);
        out.folders.push(v);
    }
    let planned: HashSet<&str> = groups.iter().map(|g| g.0).collect();
    for f in dest_listed
        .iter()
        .filter(|f| f.selectable() && !planned.contains(f.wire.as_str()))
    {
        out.not_in_plan.push(UnplannedFolder {
            folder: mutf7::decode_lossless(&f.wire),
            messages: message_count(&mut dst, &f.wire, t).await?,
        });
    }
    src.logout(t).await;
    dst.logout(t).await;
    Ok(())
}

/// What one side of one folder gave.
#[derive(Default)]
struct Side {
    messages: Vec<SeenMessage>,
    unreadable: Vec<Unreadable>,
}

/// The source folders of one destination folder: the messages the filters keep (with their
/// expected destination fingerprints), those unreadable, and what the filters left out.
async fn read_sources(
    src: &mut Connection,
    sources: &[&FolderPlan],
    search: Option<&str>,
    options: &CopyOptions,
    rewriter: Option<&AddressRewriter>,
) -> Result<(Vec<SeenMessage>, Vec<Unreadable>, FilteredOut)> {
    let t = options.io_timeout;
    let (mut expected, mut unreadable) = (Vec::new(), Vec::new());
    let mut filtered = FilteredOut::default();
    for plan in sources {
        let server = src.server.clone();
        let scan = discovery::scan_folder(
            &mut src.session,
            &server,
            0,
            &plan.source_wire,
            search,
            None,
            t,
        )
        .await?;
        filtered.outside_dates += scan.outside_dates;
        let kept: Vec<MessageMeta> = scan
            .messages
            .into_iter()
            .filter(|m| match options.message_filter.excludes(m) {
                Some(Exclusion::Deleted) => {
                    filtered.deleted += 1;
                    false
                }
                Some(Exclusion::TooLarge) => {
                    filtered.too_large += 1;
                    false
                }
                None => true,
            })
            .collect();
        unreadable.extend(scan.unreadable.into_iter().map(|(uid, reason)| Unreadable {
            side: "source",
            folder: plan.source_name.clone(),
            uid,
            reason,
        }));
        let side = read_bodies(
            src,
            "source",
            &plan.source_wire,
            &plan.source_name,
            kept,
            rewriter,
            t,
        )
        .await?;
        expected.extend(side.messages);
        unreadable.extend(side.unreadable);
    }
    Ok((expected, unreadable, filtered))
}

/// Every message of one folder (destination side: no filter, no rewrite).
async fn read_folder(
    conn: &mut Connection,
    side: &'static str,
    wire: &str,
    name: &str,
    rewriter: Option<&AddressRewriter>,
    t: Duration,
) -> Result<Side> {
    let server = conn.server.clone();
    let scan = discovery::scan_folder(&mut conn.session, &server, 0, wire, None, None, t).await?;
    let mut out = read_bodies(conn, side, wire, name, scan.messages, rewriter, t).await?;
    out.unreadable
        .extend(scan.unreadable.into_iter().map(|(uid, reason)| Unreadable {
            side,
            folder: name.to_string(),
            uid,
            reason,
        }));
    Ok(out)
}

/// What a body gave: its fingerprint (after the rewrite, if any), size and label.
struct Digested {
    sha256: [u8; 32],
    size: u64,
    message_id: Option<String>,
    subject: Option<String>,
}

fn digest(body: &[u8], rewriter: Option<&AddressRewriter>) -> Digested {
    let rewritten = rewriter.map(|r| r.rewrite(body));
    let bytes = rewritten.as_ref().map_or(body, |r| r.bytes(body));
    let (message_id, subject) = message_label(body);
    Digested {
        sha256: Sha256::digest(bytes).into(),
        size: body.len() as u64,
        message_id,
        subject,
    }
}

/// Reads the bodies of `metas` (of the folder EXAMINEd last on `conn`) in windows, large
/// messages in pieces; a message the server will not give is unreadable, not an error.
async fn read_bodies(
    conn: &mut Connection,
    side: &'static str,
    wire: &str,
    name: &str,
    mut metas: Vec<MessageMeta>,
    rewriter: Option<&AddressRewriter>,
    t: Duration,
) -> Result<Side> {
    metas.sort_by_key(|m| m.uid);
    let mut digests: HashMap<u32, Digested> = HashMap::with_capacity(metas.len());
    let mut refused: HashMap<u32, String> = HashMap::new();
    let mut window: Vec<u32> = Vec::new();
    let mut bytes = 0;
    let server = conn.server.clone();
    for (i, m) in metas.iter().enumerate() {
        if m.size > PIECE {
            match read_in_pieces(conn, &server, wire, m.uid, rewriter, t).await {
                Ok(Some(d)) => {
                    digests.insert(m.uid, d);
                }
                Ok(None) => {}
                Err(e) if e.disposition() == Disposition::SkipMessage => {
                    refused.insert(m.uid, e.to_string());
                }
                Err(e) => return Err(e),
            }
        } else {
            window.push(m.uid);
            bytes += m.size;
        }
        let last = i + 1 == metas.len();
        if !window.is_empty() && (last || window.len() >= WINDOW_MESSAGES || bytes >= WINDOW_BYTES)
        {
            let label = format!("UID FETCH BODY.PEEK[] in {wire}");
            let answer = fetch_window(conn, &server, &window, &label, rewriter, &mut digests, t);
            match answer.await {
                Ok(()) => {}
                Err(e) if e.disposition() == Disposition::SkipMessage => {
                    // One at a time, so only the message the server cannot give is left out.
                    let unanswered: Vec<u32> = window
                        .iter()
                        .copied()
                        .filter(|u| !digests.contains_key(u))
                        .collect();
                    for uid in unanswered {
                        let one = [uid];
                        let one =
                            fetch_window(conn, &server, &one, &label, rewriter, &mut digests, t);
                        match one.await {
                            Ok(()) => {}
                            Err(e) if e.disposition() == Disposition::SkipMessage => {
                                refused.insert(uid, e.to_string());
                            }
                            Err(e) => return Err(e),
                        }
                    }
                }
                Err(e) => return Err(e),
            }
            window.clear();
            bytes = 0;
        }
    }
    let mut out = Side::default();
    for m in metas {
        match digests.remove(&m.uid) {
            Some(d) => out.messages.push(SeenMessage {
                reference: MessageRef {
                    folder: name.to_string(),
                    uid: m.uid,
                    message_id: d.message_id,
                    subject: d.subject,
                    size: d.size,
                },
                sha256: d.sha256,
                internaldate: m.internaldate,
                flags: m.flags,
            }),
            None => out.unreadable.push(Unreadable {
                side,
                folder: name.to_string(),
                uid: m.uid,
                reason: refused
                    .remove(&m.uid)
                    .unwrap_or_else(|| "the server returned no body for it".into()),
            }),
        }
    }
    Ok(out)
}

/// `UID FETCH uids (UID BODY.PEEK[])`, each body digested as it arrives.
async fn fetch_window(
    conn: &mut Connection,
    server: &str,
    uids: &[u32],
    label: &str,
    rewriter: Option<&AddressRewriter>,
    digests: &mut HashMap<u32, Digested>,
    t: Duration,
) -> Result<()> {
    let wanted: HashSet<u32> = uids.iter().copied().collect();
    command::uid_fetch(
        &mut conn.session,
        server,
        &uid_set(uids),
        "(UID BODY.PEEK[])",
        label,
        t,
        |f| {
            if let (Some(uid), Some(body)) = (f.uid, f.body) {
                if wanted.contains(&uid) {
                    digests.insert(uid, digest(body, rewriter));
                }
            }
            Ok(())
        },
    )
    .await
}

/// Reads one large message in pieces of [`PIECE`] bytes, hashing as they come (or gathering
/// them when the rewriter needs the whole message). `None` when the server has no body for it.
async fn read_in_pieces(
    conn: &mut Connection,
    server: &str,
    wire: &str,
    uid: u32,
    rewriter: Option<&AddressRewriter>,
    t: Duration,
) -> Result<Option<Digested>> {
    let label = format!("UID FETCH BODY.PEEK[] in pieces in {wire}");
    let (mut hasher, mut head, mut whole) = (Sha256::new(), Vec::new(), Vec::new());
    let mut offset: u64 = 0;
    loop {
        let mut piece: Option<(Vec<u8>, Option<u32>)> = None;
        let items = format!("(UID BODY.PEEK[]<{offset}.{PIECE}>)");
        command::uid_fetch(
            &mut conn.session,
            server,
            &uid.to_string(),
            &items,
            &label,
            t,
            |f| {
                if let (Some(u), Some(body)) = (f.uid, f.body) {
                    if u == uid {
                        piece = Some((body.to_vec(), f.body_origin));
                    }
                }
                Ok(())
            },
        )
        .await?;
        let Some((bytes, origin)) = piece else {
            if offset == 0 {
                return Ok(None);
            }
            break;
        };
        // A server that ignores the range sends the whole message at once.
        let whole_at_once = origin.is_none() && offset == 0;
        if head.len() < HEADER_LIMIT {
            let take = (HEADER_LIMIT - head.len()).min(bytes.len());
            head.extend_from_slice(&bytes[..take]);
        }
        match rewriter {
            Some(_) => whole.extend_from_slice(&bytes),
            None => hasher.update(&bytes),
        }
        offset += bytes.len() as u64;
        if whole_at_once || (bytes.len() as u64) < PIECE {
            break;
        }
    }
    let (message_id, subject) = message_label(&head);
    let sha256 = match rewriter {
        Some(r) => {
            let rewritten = r.rewrite(&whole);
            Sha256::digest(rewritten.bytes(&whole)).into()
        }
        None => hasher.finalize().into(),
    };
    Ok(Some(Digested {
        sha256,
        size: offset,
        message_id,
        subject,
    }))
}

/// `STATUS folder (MESSAGES)`; `None` when the server would not say.
async fn message_count(conn: &mut Connection, wire: &str, t: Duration) -> Result<Option<u64>> {
    let mut count = None;
    let command = format!("STATUS {} (MESSAGES)", quoted(wire));
    let label = format!("STATUS {wire}");
    let answer = command::run_checked(
        &mut conn.session,
        &conn.server.clone(),
        &command,
        &label,
        t,
        |r| {
            if let imap_proto::Response::MailboxData(imap_proto::MailboxDatum::Status {
                status,
                ..
            }) = r
            {
                for a in status {
                    if let imap_proto::StatusAttribute::Messages(n) = a {
                        count = Some(u64::from(*n));
                    }
                }
            }
            Ok(())
        },
    )
    .await;
    match answer {
        Ok(()) => Ok(count),
        Err(e) if e.disposition() != Disposition::Retry => Ok(None),
        Err(e) => Err(e),
    }
}

/// `text` as an IMAP quoted string.
fn quoted(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 2);
    out.push('"');
    for c in text.chars() {
        if c == '"' || c == '\\' {
            out.push('\\');
        }
        out.push(c);
    }
    out.push('"');
    out
}
