//! The network half of the pre-flight assessment: read what a source mailbox holds and what the
//! destination allows, changing nothing on either side. The decisions are pure, in
//! [`crate::plan::assessment`].
//!
//! Source: one connection, LIST, then per selectable folder EXAMINE (never SELECT) and a
//! metadata UID FETCH (UID INTERNALDATE RFC822.SIZE FLAGS): no body is read, no flag is set.
//! Destination: one connection, CAPABILITY (APPENDLIMIT, RFC 7889) and `GETQUOTAROOT "INBOX"`
//! (RFC 2087) when QUOTA is offered.
//!
//! [`check_login`] is the lighter pass of `cutover check`: one login per mailbox, LIST and
//! `STATUS (MESSAGES)` only (no EXAMINE, no FETCH), and the quota.

use super::discovery;
use super::job::Account;
use crate::error::{Error, Result};
use crate::imap::mutf7;
use crate::imap::quota::storage_quota;
use crate::imap::{connect, ConnectOptions};
use crate::plan::assessment::{DestLimits, FolderInventory, MailboxInventory, MessageSize};
use crate::plan::folders::{mailbox_folder_map, source_root_found, translate_name, ListedFolder};

/// Reads every selectable folder of the source mailbox: counts, sizes, the largest message, and
/// the messages larger than `keep_over` bytes (to check against a size limit).
///
/// With a `source_root` (the mailbox list's SourceRootFolder) only the folders `cutover migrate`
/// would copy are read: the root and those under it
/// ([`crate::plan::folders::mailbox_folder_map`]); a root that names no
/// folder is an error, as it is for the copy.
pub async fn inventory_mailbox(
    account: &Account,
    opts: &ConnectOptions,
    keep_over: Option<u64>,
    source_root: Option<&str>,
) -> Result<MailboxInventory> {
    let t = opts.timeout;
    let mut conn = connect(account, opts).await?;
    let server = conn.server.clone();
    let listed = discovery::list(&mut conn.session, &server, t).await?;
    let map = mailbox_folder_map(None, source_root, &listed);
    let mut inventory = MailboxInventory::default();
    if let (Some(map), Some(root)) = (&map, source_root) {
        if !source_root_found(&listed, map) {
            conn.logout(t).await;
            return Err(Error::SourceRootNotFound {
                server,
                root: root.to_string(),
            });
        }
        inventory.source_root = map.source_root().map(str::to_string);
    }
    let in_mailbox = |f: &&ListedFolder| {
        map.as_ref().is_none_or(|map| {
            let path = translate_name(&mutf7::decode_lossless(&f.wire), f.delimiter, '/');
            map.strip_root(&path).is_some()
        })
    };
    for (index, folder) in listed
        .iter()
        .filter(|f| f.selectable())
        .filter(in_mailbox)
        .enumerate()
    {
        let scan = discovery::scan_folder(
            &mut conn.session,
            &server,
            index,
            &folder.wire,
            None,
            None,
            t,
        )
        .await?;
        inventory.folders.push(FolderInventory::from_sizes(
            mutf7::decode_lossless(&folder.wire),
            folder.delimiter,
            folder.special_use().map(str::to_string),
            scan.messages.iter().map(|m| MessageSize {
                uid: m.uid,
                bytes: m.size,
            }),
            keep_over,
            scan.unreadable.len() as u64,
        ));
    }
    conn.logout(t).await;
    Ok(inventory)
}

/// Reads the destination's limits for the mailbox `account` opens: its tightest storage quota
/// (none when the server offers no QUOTA) and its APPENDLIMIT.
pub async fn destination_limits(account: &Account, opts: &ConnectOptions) -> Result<DestLimits> {
    let t = opts.timeout;
    let mut conn = connect(account, opts).await?;
    let server = conn.server.clone();
    let quota = if conn.caps.all.iter().any(|c| c == "QUOTA") {
        storage_quota(&mut conn.session, &server, "INBOX", t).await?
    } else {
        None
    };
    let limits = DestLimits {
        quota,
        max_message_bytes: conn.caps.append_limit,
    };
    conn.logout(t).await;
    Ok(limits)
}

/// What `cutover check` learns from one read-only login to a mailbox.
#[derive(Debug, Clone)]
pub struct LoginCheck {
    /// Capabilities after login.
    pub caps: crate::imap::Capabilities,
    /// Selectable folders (under the SourceRootFolder when there is one).
    pub folders: u64,
    /// Messages in them, by `STATUS (MESSAGES)`.
    pub messages: u64,
    /// The tightest storage quota, when the server offers QUOTA and `with_quota` asked.
    pub quota: Option<crate::imap::quota::StorageQuota>,
}

/// Why a check stopped, and how far it got.
#[derive(Debug)]
pub struct CheckFailure {
    /// Whether the server answered at all (TCP, TLS and greeting went through).
    pub reachable: bool,
    /// Whether the login was accepted.
    pub authenticated: bool,
    /// The error (never a password).
    pub error: Error,
}

/// Logs in to the mailbox `account` opens (through `opts.logins`, the run's lockout guard),
/// then reads, changing nothing: LIST, `STATUS (MESSAGES)` per selectable folder (under
/// `source_root` when given, as `cutover migrate` would copy), and with `with_quota` the quota
/// of INBOX. No folder is selected and no message is fetched.
pub async fn check_login(
    account: &Account,
    opts: &ConnectOptions,
    source_root: Option<&str>,
    with_quota: bool,
) -> std::result::Result<LoginCheck, CheckFailure> {
    let t = opts.timeout;
    let mut conn = connect(account, opts).await.map_err(|error| {
        let reachable = matches!(
            error,
            Error::AuthRejected { .. }
                | Error::LoginLimitReached { .. }
                | Error::Unsupported { .. }
        );
        CheckFailure {
            reachable,
            authenticated: false,
            error,
        }
    })?;
    let after_login = |error| CheckFailure {
        reachable: true,
        authenticated: true,
        error,
    };
    let server = conn.server.clone();
    let read = async {
        let listed = discovery::list(&mut conn.session, &server, t).await?;
        let map = mailbox_folder_map(None, source_root, &listed);
        if let (Some(map), Some(root)) = (&map, source_root) {
            if !source_root_found(&listed, map) {
                return Err(Error::SourceRootNotFound {
                    server: server.clone(),
                    root: root.to_string(),
                });
            }
        }
        let (mut folders, mut messages) = (0, 0);
        for folder in listed.iter().filter(|f| f.selectable()) {
            let path = translate_name(&mutf7::decode_lossless(&folder.wire), folder.delimiter, '/');
            if map.as_ref().is_some_and(|m| m.strip_root(&path).is_none()) {
                continue;
            }
            // async-imap quotes the name.
            let status = crate::imap::timed(t, || format!("{server}: STATUS"), async {
                conn.session
                    .status(&folder.wire, "(MESSAGES)")
                    .await
                    .map_err(|e| crate::imap::imap_err(&server, "STATUS", e))
            })
            .await?;
            folders += 1;
            messages += u64::from(status.exists);
        }
        let quota = if with_quota && conn.caps.all.iter().any(|c| c == "QUOTA") {
            storage_quota(&mut conn.session, &server, "INBOX", t).await?
        } else {
            None
        };
        Ok(LoginCheck {
            caps: conn.caps.clone(),
            folders,
            messages,
            quota,
        })
    }
    .await;
    conn.logout(t).await;
    read.map_err(after_login)
}
