//! Shared fixtures of the store's unit tests.

use super::{Fingerprint, FolderId, Intent, MessageFacts, MessageIdHash, StateDb};
use chrono::{DateTime, TimeZone, Utc};
use std::path::PathBuf;
use tempfile::TempDir;

/// A fresh store in a temporary directory (kept alive by the returned guard).
pub fn open_temp() -> (TempDir, PathBuf, StateDb) {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("cutover.state");
    let db = StateDb::open(&path).expect("open a fresh store");
    (dir, path, db)
}

/// A fixed instant plus `secs`.
pub fn t(secs: i64) -> DateTime<Utc> {
    Utc.timestamp_opt(1_700_000_000 + secs, 0).unwrap()
}

/// Facts of a message whose content is derived from `uid`.
pub fn facts(uid: u32) -> MessageFacts {
    let body = format!("Message-ID: <{uid}@example.com>\r\n\r\nbody {uid}\r\n");
    MessageFacts {
        uid,
        size: body.len() as u64,
        fingerprint: Fingerprint::of(body.as_bytes()),
        sent_size: body.len() as u64,
        sent_fingerprint: Fingerprint::of(body.as_bytes()),
        message_id: Some(MessageIdHash::of(format!("<{uid}@example.com>").as_bytes())),
        internal_date: Some(t(i64::from(uid))),
        flags: "\\Seen".to_string(),
    }
}

/// An intent to copy `uid` of `folder` to the destination's INBOX.
pub fn intent(folder: FolderId, uid: u32) -> Intent {
    Intent {
        folder,
        facts: facts(uid),
        dest_folder: "INBOX".to_string(),
        dest_uidvalidity: Some(77),
        dest_uidnext: Some(500),
        created_at: t(0),
    }
}
