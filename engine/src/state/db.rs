//! The blocking store: one SQLite connection, opened and migrated, with the lookups shared by the
//! files that add records, statuses, logins and egress addresses.

use super::error::{sql, Error, Result};
use super::fingerprint::{Fingerprint, MessageIdHash};
use super::record::{FolderId, FolderState, MessageFacts};
use super::schema;
use chrono::{DateTime, Utc};
use rusqlite::{params, Connection, OptionalExtension, Row};
use std::path::{Path, PathBuf};

/// The state store, blocking. Every method is one transaction (or one read): call it from a
/// blocking context, or through [`super::StateStore`] from async code.
pub struct StateDb {
    pub(crate) conn: Connection,
    path: PathBuf,
}

impl std::fmt::Debug for StateDb {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StateDb").field("path", &self.path).finish()
    }
}

impl StateDb {
    /// Opens the state file at `path`, creating it (and its schema) if it does not exist.
    /// Errors name the path; a file of a newer schema or of another program is refused.
    pub fn open(path: impl AsRef<Path>) -> Result<Self> {
        let path = path.as_ref();
        Ok(StateDb {
            conn: schema::open(path)?,
            path: path.to_path_buf(),
        })
    }

    /// Opens the existing state file at `path` for reading only (`cutover status`): never
    /// created, never migrated, never written, so it can be read while a run writes to it (WAL).
    /// A missing file is an error naming the path.
    pub fn open_read_only(path: impl AsRef<Path>) -> Result<Self> {
        let path = path.as_ref();
        Ok(StateDb {
            conn: schema::open_read_only(path)?,
            path: path.to_path_buf(),
        })
    }

    /// The state file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The store's id of a mailbox, created (status Created) if new.
    pub(crate) fn mailbox_id_or_create(&mut self, mailbox: &str) -> Result<i64> {
        self.conn
            .execute(
                "INSERT INTO mailbox (name, status, status_at) VALUES (?1, 'created', ?2)
                 ON CONFLICT (name) DO NOTHING",
                params![mailbox, ms(Utc::now())],
            )
            .map_err(sql("adding a mailbox"))?;
        self.mailbox_id(mailbox)
    }

    /// The store's id of a known mailbox.
    pub(crate) fn mailbox_id(&self, mailbox: &str) -> Result<i64> {
        self.conn
            .query_row("SELECT id FROM mailbox WHERE name = ?1", [mailbox], |r| {
                r.get(0)
            })
            .optional()
            .map_err(sql("looking up a mailbox"))?
            .ok_or_else(|| Error::Unknown(format!("mailbox {mailbox}")))
    }

    /// The id of a source folder incarnation (mailbox, folder, UIDVALIDITY), created if new (and
    /// the mailbox with it). Call it once per folder per pass; records then use the id.
    pub fn folder(&mut self, mailbox: &str, folder: &str, uidvalidity: u32) -> Result<FolderId> {
        let mailbox_id = self.mailbox_id_or_create(mailbox)?;
        self.conn
            .execute(
                "INSERT INTO folder (mailbox_id, name, uidvalidity) VALUES (?1, ?2, ?3)
                 ON CONFLICT (mailbox_id, name, uidvalidity) DO NOTHING",
                params![mailbox_id, folder, uidvalidity],
            )
            .map_err(sql("adding a folder"))?;
        self.conn
            .query_row(
                "SELECT id FROM folder WHERE mailbox_id = ?1 AND name = ?2 AND uidvalidity = ?3",
                params![mailbox_id, folder, uidvalidity],
                |r| r.get(0).map(FolderId),
            )
            .map_err(sql("looking up a folder"))
    }

    /// Every recorded incarnation of every folder of `mailbox`, by name then UIDVALIDITY. A
    /// folder whose UIDVALIDITY differs from the server's has changed: its records are re-matched
    /// by fingerprint.
    pub fn folders(&self, mailbox: &str) -> Result<Vec<FolderState>> {
        let Some(mailbox_id) = self.known_mailbox(mailbox)? else {
            return Ok(Vec::new());
        };
        let mut stmt = self
            .conn
            .prepare_cached(
                "SELECT id, name, uidvalidity, highest_uid, highest_modseq, synced_at, scan_filter
                 FROM folder WHERE mailbox_id = ?1 ORDER BY name, uidvalidity",
            )
            .map_err(sql("listing folders"))?;
        let rows = stmt
            .query_map([mailbox_id], |r| {
                Ok(FolderState {
                    id: FolderId(r.get(0)?),
                    name: r.get(1)?,
                    uidvalidity: r.get(2)?,
                    highest_uid: r.get(3)?,
                    highest_modseq: r.get(4)?,
                    synced_at: r.get::<_, Option<i64>>(5)?.map(from_ms),
                    scan_filter: r.get(6)?,
                })
            })
            .map_err(sql("listing folders"))?;
        rows.collect::<rusqlite::Result<_>>()
            .map_err(sql("listing folders"))
    }

    /// The mailbox's id, or `None` if the store has never heard of it.
    pub(crate) fn known_mailbox(&self, mailbox: &str) -> Result<Option<i64>> {
        match self.mailbox_id(mailbox) {
            Ok(id) => Ok(Some(id)),
            Err(Error::Unknown(_)) => Ok(None),
            Err(e) => Err(e),
        }
    }
}

/// Unix milliseconds, the store's time format.
pub(crate) fn ms(t: DateTime<Utc>) -> i64 {
    t.timestamp_millis()
}

/// The inverse of [`ms`]; out-of-range values (a hand-edited file) read as the epoch.
pub(crate) fn from_ms(ms: i64) -> DateTime<Utc> {
    DateTime::from_timestamp_millis(ms).unwrap_or_default()
}

/// The columns [`facts`] reads, in its order.
pub(crate) const FACT_COLUMNS: &str =
    "uid, size, fingerprint, sent_size, sent_fingerprint, message_id_hash, internal_date, flags";

/// Reads [`FACT_COLUMNS`] starting at column `at`.
pub(crate) fn facts(r: &Row<'_>, at: usize) -> rusqlite::Result<MessageFacts> {
    Ok(MessageFacts {
        uid: r.get(at)?,
        size: r.get(at + 1)?,
        fingerprint: Fingerprint(digest(r, at + 2)?),
        sent_size: r.get(at + 3)?,
        sent_fingerprint: Fingerprint(digest(r, at + 4)?),
        message_id: optional_digest(r, at + 5)?.map(MessageIdHash),
        internal_date: r.get::<_, Option<i64>>(at + 6)?.map(from_ms),
        flags: r.get(at + 7)?,
    })
}

fn digest(r: &Row<'_>, idx: usize) -> rusqlite::Result<[u8; 32]> {
    optional_digest(r, idx)?.ok_or(rusqlite::Error::InvalidColumnType(
        idx,
        "digest".into(),
        rusqlite::types::Type::Null,
    ))
}

fn optional_digest(r: &Row<'_>, idx: usize) -> rusqlite::Result<Option<[u8; 32]>> {
    let Some(blob) = r.get::<_, Option<Vec<u8>>>(idx)? else {
        return Ok(None);
    };
    blob.try_into().map(Some).map_err(|_| {
        rusqlite::Error::InvalidColumnType(
            idx,
            "32-byte digest".into(),
            rusqlite::types::Type::Blob,
        )
    })
}
