//! The state file's schema, its version (`PRAGMA user_version`) and the open-time checks.
//!
//! Version history: 1, the first; 2 adds `folder.scan_filter` (the message filter a CONDSTORE
//! mark was taken under). A migration from version N to N + 1 is appended to
//! [`MIGRATIONS`] and runs in one transaction with the version bump; a file with a version above
//! [`SCHEMA_VERSION`] is refused, never opened read-write by an older build.

use super::error::{Error, Result};
use rusqlite::{Connection, OpenFlags};
use std::path::Path;

/// The schema version this build writes.
pub const SCHEMA_VERSION: i64 = 2;

/// `PRAGMA application_id` of a cutover state file ("cuto" in ASCII): another program's SQLite
/// database is refused instead of being filled with our tables.
pub const APPLICATION_ID: i64 = 0x6375_746f;

/// The migrations, index `i` taking the schema from version `i` to `i + 1`.
const MIGRATIONS: &[&str] = &[V1, V2];

/// A folder's CONDSTORE mark (`highest_modseq`) is only good for the message filter it was taken
/// under: a message the filter left out then would not show up as changed since.
const V2: &str = "ALTER TABLE folder ADD COLUMN scan_filter TEXT;";

/// Times are unix milliseconds (UTC); UIDs, UIDVALIDITY and UIDNEXT are IMAP's unsigned 32-bit
/// numbers; digests are 32-byte SHA-256 blobs.
const V1: &str = "
CREATE TABLE batch (
    id          INTEGER PRIMARY KEY,
    name        TEXT NOT NULL UNIQUE,
    settings    TEXT NOT NULL,           -- JSON, as the caller gave it
    status      TEXT NOT NULL,
    reason      TEXT,                    -- Stopped / Failed: why
    status_at   INTEGER NOT NULL,
    created_at  INTEGER NOT NULL
);

-- One source mailbox (account). Status as in the migration dashboard; `left_*` say what was not
-- copied when it stopped.
CREATE TABLE mailbox (
    id              INTEGER PRIMARY KEY,
    name            TEXT NOT NULL UNIQUE,
    batch_id        INTEGER REFERENCES batch(id),
    status          TEXT NOT NULL,
    reason          TEXT,
    status_at       INTEGER NOT NULL,
    last_synced_at  INTEGER,
    left_messages   INTEGER,
    left_bytes      INTEGER,
    oldest_copied   INTEGER
);

-- One source folder incarnation: a new UIDVALIDITY is a new row, the old rows stay for re-matching.
-- The high-water marks drive incremental passes.
CREATE TABLE folder (
    id              INTEGER PRIMARY KEY,
    mailbox_id      INTEGER NOT NULL REFERENCES mailbox(id),
    name            TEXT NOT NULL,
    uidvalidity     INTEGER NOT NULL,
    highest_uid     INTEGER NOT NULL DEFAULT 0,
    highest_modseq  INTEGER,
    synced_at       INTEGER,
    UNIQUE (mailbox_id, name, uidvalidity)
);

-- Migrated: the destination answered the APPEND with a tagged OK (or reconciliation found it).
CREATE TABLE message (
    folder_id         INTEGER NOT NULL REFERENCES folder(id),
    uid               INTEGER NOT NULL,
    size              INTEGER NOT NULL,
    fingerprint       BLOB NOT NULL,
    sent_size         INTEGER NOT NULL,
    sent_fingerprint  BLOB NOT NULL,
    message_id_hash   BLOB,
    internal_date     INTEGER,
    flags             TEXT NOT NULL,
    dest_folder       TEXT NOT NULL,
    dest_uidvalidity  INTEGER,
    dest_uid          INTEGER,
    done_at           INTEGER NOT NULL,
    PRIMARY KEY (folder_id, uid)
) WITHOUT ROWID;
CREATE INDEX message_fingerprint ON message (fingerprint);
CREATE INDEX message_sent_fingerprint ON message (sent_fingerprint);

-- About to be sent: written and committed before the APPEND batch goes out, turned into a
-- `message` row after the OK, deleted after a NO. What is left here on resume must be reconciled
-- against the destination.
CREATE TABLE intent (
    folder_id         INTEGER NOT NULL REFERENCES folder(id),
    uid               INTEGER NOT NULL,
    size              INTEGER NOT NULL,
    fingerprint       BLOB NOT NULL,
    sent_size         INTEGER NOT NULL,
    sent_fingerprint  BLOB NOT NULL,
    message_id_hash   BLOB,
    internal_date     INTEGER,
    flags             TEXT NOT NULL,
    dest_folder       TEXT NOT NULL,
    dest_uidvalidity  INTEGER,
    dest_uidnext      INTEGER,
    created_at        INTEGER NOT NULL,
    PRIMARY KEY (folder_id, uid)
) WITHOUT ROWID;

-- Login attempts that failed, or that were reserved and never reported (a crash mid-login counts
-- as a failure: the server may have counted it).
CREATE TABLE login_attempt (
    id       INTEGER PRIMARY KEY,
    account  TEXT NOT NULL,
    at       INTEGER NOT NULL
);
CREATE INDEX login_attempt_account_at ON login_attempt (account, at);

-- Egress address per user, sticky across runs.
CREATE TABLE egress (
    user         TEXT PRIMARY KEY,
    ip           TEXT NOT NULL,
    assigned_at  INTEGER NOT NULL
) WITHOUT ROWID;
";

/// Opens (creating if needed) the state file, sets the pragmas and brings the schema to
/// [`SCHEMA_VERSION`].
///
/// WAL lets `cutover status` read while a run writes; `synchronous=FULL` makes each commit
/// durable across a power cut, which the intent-before-APPEND rule needs (see the module doc).
pub(crate) fn open(path: &Path) -> Result<Connection> {
    let open_err = |source| Error::Open {
        path: path.to_path_buf(),
        source,
    };
    let flags = OpenFlags::SQLITE_OPEN_READ_WRITE
        | OpenFlags::SQLITE_OPEN_CREATE
        | OpenFlags::SQLITE_OPEN_NO_MUTEX;
    let mut conn = Connection::open_with_flags(path, flags).map_err(open_err)?;
    // Another process (a second run, `cutover status`) may hold the write lock for a moment.
    conn.busy_timeout(std::time::Duration::from_secs(10))
        .map_err(open_err)?;
    // The first statement that reads the file: "file is not a database" surfaces here.
    let mode: String = conn
        .query_row("PRAGMA journal_mode = WAL", [], |r| r.get(0))
        .map_err(open_err)?;
    if !mode.eq_ignore_ascii_case("wal") {
        return Err(open_err(rusqlite::Error::InvalidParameterName(format!(
            "journal_mode is {mode}, WAL needed (is the file on a network file system?)"
        ))));
    }
    conn.execute_batch("PRAGMA synchronous = FULL; PRAGMA foreign_keys = ON;")
        .map_err(open_err)?;
    migrate(&mut conn, path)?;
    Ok(conn)
}

/// Opens an existing state file read-only, at [`SCHEMA_VERSION`] or an older version whose
/// tables the readers use unchanged (the migrations so far only add columns the readers skip).
pub(crate) fn open_read_only(path: &Path) -> Result<Connection> {
    let open_err = |source| Error::Open {
        path: path.to_path_buf(),
        source,
    };
    let flags = OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX;
    let conn = Connection::open_with_flags(path, flags).map_err(open_err)?;
    // A run may be checkpointing the WAL for a moment.
    conn.busy_timeout(std::time::Duration::from_secs(10))
        .map_err(open_err)?;
    let pragma = |name: &str| -> Result<i64> {
        conn.query_row(&format!("PRAGMA {name}"), [], |r| r.get(0))
            .map_err(open_err)
    };
    let (version, app_id) = (pragma("user_version")?, pragma("application_id")?);
    if app_id != APPLICATION_ID || version <= 0 {
        return Err(Error::NotAStateFile {
            path: path.to_path_buf(),
        });
    }
    if version > SCHEMA_VERSION {
        return Err(Error::NewerSchema {
            path: path.to_path_buf(),
            found: version,
            supported: SCHEMA_VERSION,
        });
    }
    Ok(conn)
}

fn migrate(conn: &mut Connection, path: &Path) -> Result<()> {
    let open_err = |source| Error::Open {
        path: path.to_path_buf(),
        source,
    };
    let pragma = |conn: &Connection, name: &str| -> Result<i64> {
        conn.query_row(&format!("PRAGMA {name}"), [], |r| r.get(0))
            .map_err(open_err)
    };
    let version = pragma(conn, "user_version")?;
    let app_id = pragma(conn, "application_id")?;
    if version == 0 {
        let tables: i64 = conn
            .query_row("SELECT count(*) FROM sqlite_master", [], |r| r.get(0))
            .map_err(open_err)?;
        if tables > 0 || app_id != 0 {
            return Err(Error::NotAStateFile {
                path: path.to_path_buf(),
            });
        }
    } else if app_id != APPLICATION_ID || version < 0 {
        return Err(Error::NotAStateFile {
            path: path.to_path_buf(),
        });
    }
    if version > SCHEMA_VERSION {
        return Err(Error::NewerSchema {
            path: path.to_path_buf(),
            found: version,
            supported: SCHEMA_VERSION,
        });
    }
    for (from, sql) in MIGRATIONS.iter().enumerate().skip(version as usize) {
        let tx = conn.transaction().map_err(open_err)?;
        tx.execute_batch(sql).map_err(open_err)?;
        tx.execute_batch(&format!(
            "PRAGMA application_id = {APPLICATION_ID}; PRAGMA user_version = {};",
            from + 1
        ))
        .map_err(open_err)?;
        tx.commit().map_err(open_err)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::super::test_support::open_temp;
    use super::super::{Error, StateDb};
    use super::SCHEMA_VERSION;

    #[test]
    fn a_fresh_file_is_wal_full_sync_at_the_current_version() {
        let (_dir, path, db) = open_temp();
        let get = |p: &str| -> String {
            db.conn
                .query_row(&format!("PRAGMA {p}"), [], |r| {
                    r.get::<_, rusqlite::types::Value>(0)
                })
                .map(|v| format!("{v:?}"))
                .unwrap()
        };
        assert_eq!(get("journal_mode"), "Text(\"wal\")");
        assert_eq!(get("synchronous"), "Integer(2)", "FULL");
        assert_eq!(get("user_version"), format!("Integer({SCHEMA_VERSION})"));
        drop(db);
        StateDb::open(&path).expect("reopening the same version works");
    }

    #[test]
    fn a_newer_schema_is_refused_by_name_and_version() {
        let (_dir, path, db) = open_temp();
        db.conn.execute_batch("PRAGMA user_version = 99").unwrap();
        drop(db);
        let err = StateDb::open(&path).unwrap_err();
        assert!(matches!(err, Error::NewerSchema { found: 99, .. }), "{err}");
        let text = err.to_string();
        assert!(text.contains(&path.display().to_string()), "{text}");
        assert!(text.contains("schema version 99"), "{text}");
    }

    #[test]
    fn another_programs_database_is_left_alone() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("other.db");
        rusqlite::Connection::open(&path)
            .unwrap()
            .execute_batch("CREATE TABLE t (x)")
            .unwrap();
        let err = StateDb::open(&path).unwrap_err();
        assert!(matches!(err, Error::NotAStateFile { .. }), "{err}");
    }

    #[test]
    fn open_errors_name_the_path() {
        let dir = tempfile::tempdir().unwrap();
        let garbage = dir.path().join("notes.txt");
        std::fs::write(&garbage, vec![b'x'; 4096]).unwrap();
        let err = StateDb::open(&garbage).unwrap_err();
        assert!(matches!(err, Error::Open { .. }), "{err}");
        assert!(err.to_string().contains("notes.txt"), "{err}");

        let missing_dir = dir.path().join("no/such/dir/state.db");
        let err = StateDb::open(&missing_dir).unwrap_err();
        assert!(err.to_string().contains("no/such/dir/state.db"), "{err}");
    }

    #[test]
    fn read_only_opens_never_create_and_read_what_a_writer_wrote() {
        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("none.sqlite");
        let err = StateDb::open_read_only(&missing).unwrap_err();
        assert!(err.to_string().contains("none.sqlite"), "{err}");
        assert!(!missing.exists(), "a read-only open creates nothing");

        let (_dir, path, mut writer) = open_temp();
        writer
            .set_mailbox_status(
                "joe",
                crate::state::Status::Syncing,
                None,
                chrono::Utc::now(),
            )
            .unwrap();
        // The writer stays open, as a running migration does.
        let reader = StateDb::open_read_only(&path).unwrap();
        assert_eq!(reader.mailboxes().unwrap().len(), 1);
        assert!(reader.conn.execute_batch("CREATE TABLE t (x)").is_err());
    }
}
