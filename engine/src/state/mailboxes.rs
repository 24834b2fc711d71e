//! Mailbox and batch statuses in the store: transitions checked by [`check_transition`], "last
//! synced" times, and what was left when a mailbox stopped.

use super::db::{from_ms, ms, StateDb};
use super::error::{sql, Error, Result};
use super::status::{check_transition, Status};
use chrono::{DateTime, Utc};
use rusqlite::{params, OptionalExtension, TransactionBehavior};

/// What was not copied when a mailbox stopped (guide 3.5.4.2: the newest mail is there).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Leftover {
    /// Messages not copied.
    pub messages: u64,
    /// Their bytes.
    pub bytes: u64,
    /// The oldest INTERNALDATE that was copied: mail older than it is missing.
    pub oldest_copied: Option<DateTime<Utc>>,
}

/// A mailbox as `cutover status` shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MailboxState {
    /// The source mailbox.
    pub name: String,
    /// The batch it belongs to, if any.
    pub batch: Option<String>,
    /// Its status.
    pub status: Status,
    /// When the status last changed.
    pub status_at: DateTime<Utc>,
    /// When a pass last reached Synced (or Completed).
    pub last_synced: Option<DateTime<Utc>>,
    /// What was left when it last stopped.
    pub leftover: Option<Leftover>,
}

/// A batch: a list of mailboxes and the settings they run with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BatchState {
    /// Its name.
    pub name: String,
    /// The settings, as JSON, as given to [`StateDb::create_batch`].
    pub settings: String,
    /// Its status.
    pub status: Status,
    /// When the status last changed.
    pub status_at: DateTime<Utc>,
    /// Its mailboxes, by name.
    pub mailboxes: Vec<String>,
}

impl StateDb {
    /// Moves `mailbox` (created if new) to `to`, if [`check_transition`] allows it. Reaching
    /// Synced or Completed sets "last synced" to `at`; reaching Stopped records `leftover`.
    pub fn set_mailbox_status(
        &mut self,
        mailbox: &str,
        to: Status,
        leftover: Option<Leftover>,
        at: DateTime<Utc>,
    ) -> Result<()> {
        self.mailbox_id_or_create(mailbox)?;
        self.change_status("mailbox", mailbox, to, leftover, at, false)
    }

    /// Reopens a Completed mailbox (new mail after the cutover, an operator's decision): the only
    /// way out of Completed. It becomes Syncing.
    pub fn reopen_mailbox(&mut self, mailbox: &str, at: DateTime<Utc>) -> Result<()> {
        self.change_status("mailbox", mailbox, Status::Syncing, None, at, true)
    }

    /// The state of `mailbox`, if known.
    pub fn mailbox_state(&self, mailbox: &str) -> Result<Option<MailboxState>> {
        Ok(self.mailbox_states(Some(mailbox))?.pop())
    }

    /// Every mailbox, by name.
    pub fn mailboxes(&self) -> Result<Vec<MailboxState>> {
        self.mailbox_states(None)
    }

    /// Creates a batch of `mailboxes` (each created if new, and moved into it) with `settings`
    /// (JSON), in status Created. An existing batch of that name is an error.
    pub fn create_batch(
        &mut self,
        name: &str,
        settings: &str,
        mailboxes: &[&str],
        at: DateTime<Utc>,
    ) -> Result<()> {
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(sql("creating a batch"))?;
        tx.execute(
            "INSERT INTO batch (name, settings, status, status_at, created_at)
             VALUES (?1, ?2, 'created', ?3, ?3)",
            params![name, settings, ms(at)],
        )
        .map_err(sql("creating a batch"))?;
        let batch_id = tx.last_insert_rowid();
        for mailbox in mailboxes {
            tx.execute(
                "INSERT INTO mailbox (name, batch_id, status, status_at)
                 VALUES (?1, ?2, 'created', ?3)
                 ON CONFLICT (name) DO UPDATE SET batch_id = excluded.batch_id",
                params![mailbox, batch_id, ms(at)],
            )
            .map_err(sql("adding a mailbox to a batch"))?;
        }
        tx.commit().map_err(sql("creating a batch"))
    }

    /// Puts `mailboxes` (each created if new) into the existing batch `name`, moving them out of
    /// any other batch; a mailbox already in it is left as it is.
    pub fn add_to_batch(
        &mut self,
        name: &str,
        mailboxes: &[&str],
        at: DateTime<Utc>,
    ) -> Result<()> {
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(sql("adding mailboxes to a batch"))?;
        let batch_id: i64 = tx
            .query_row("SELECT id FROM batch WHERE name = ?1", [name], |r| r.get(0))
            .optional()
            .map_err(sql("adding mailboxes to a batch"))?
            .ok_or_else(|| Error::Unknown(format!("batch {name}")))?;
        for mailbox in mailboxes {
            tx.execute(
                "INSERT INTO mailbox (name, batch_id, status, status_at)
                 VALUES (?1, ?2, 'created', ?3)
                 ON CONFLICT (name) DO UPDATE SET batch_id = excluded.batch_id",
                params![mailbox, batch_id, ms(at)],
            )
            .map_err(sql("adding a mailbox to a batch"))?;
        }
        tx.commit().map_err(sql("adding mailboxes to a batch"))
    }

    /// Reopens a Completed batch, as [`StateDb::reopen_mailbox`] does a mailbox: it becomes
    /// Syncing.
    pub fn reopen_batch(&mut self, name: &str, at: DateTime<Utc>) -> Result<()> {
        self.change_status("batch", name, Status::Syncing, None, at, true)
    }

    /// Every batch, by name.
    pub fn batches(&self) -> Result<Vec<BatchState>> {
        let mut stmt = self
            .conn
            .prepare_cached("SELECT name FROM batch ORDER BY name")
            .map_err(sql("listing batches"))?;
        let names: Vec<String> = stmt
            .query_map([], |r| r.get(0))
            .and_then(|rows| rows.collect::<rusqlite::Result<_>>())
            .map_err(sql("listing batches"))?;
        let mut out = Vec::with_capacity(names.len());
        for name in names {
            out.extend(self.batch(&name)?);
        }
        Ok(out)
    }

    /// Moves batch `name` to `to`, if [`check_transition`] allows it.
    pub fn set_batch_status(&mut self, name: &str, to: Status, at: DateTime<Utc>) -> Result<()> {
        self.change_status("batch", name, to, None, at, false)
    }

    /// The batch called `name`, if any.
    pub fn batch(&self, name: &str) -> Result<Option<BatchState>> {
        let row = self
            .conn
            .query_row(
                "SELECT id, settings, status, reason, status_at FROM batch WHERE name = ?1",
                [name],
                |r| {
                    Ok((
                        r.get::<_, i64>(0)?,
                        r.get::<_, String>(1)?,
                        r.get::<_, String>(2)?,
                        r.get::<_, Option<String>>(3)?,
                        r.get::<_, i64>(4)?,
                    ))
                },
            )
            .optional()
            .map_err(sql("reading a batch"))?;
        let Some((id, settings, status, reason, status_at)) = row else {
            return Ok(None);
        };
        let mut stmt = self
            .conn
            .prepare_cached("SELECT name FROM mailbox WHERE batch_id = ?1 ORDER BY name")
            .map_err(sql("reading a batch"))?;
        let mailboxes = stmt
            .query_map([id], |r| r.get(0))
            .and_then(|rows| rows.collect::<rusqlite::Result<_>>())
            .map_err(sql("reading a batch"))?;
        Ok(Some(BatchState {
            name: name.to_string(),
            settings,
            status: parse_status(&status, reason)?,
            status_at: from_ms(status_at),
            mailboxes,
        }))
    }

    fn change_status(
        &mut self,
        table: &'static str,
        name: &str,
        to: Status,
        leftover: Option<Leftover>,
        at: DateTime<Utc>,
        reopen: bool,
    ) -> Result<()> {
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(sql("changing a status"))?;
        let current: Option<(String, Option<String>)> = tx
            .query_row(
                &format!("SELECT status, reason FROM {table} WHERE name = ?1"),
                [name],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .optional()
            .map_err(sql("reading a status"))?;
        let Some((status, reason)) = current else {
            return Err(Error::Unknown(format!("{table} {name}")));
        };
        let from = parse_status(&status, reason)?;
        let allowed = if reopen {
            from == Status::Completed
        } else {
            check_transition(&from, &to)
        };
        if !allowed {
            return Err(Error::InvalidTransition {
                what: format!("{table} {name}"),
                from: from.to_string(),
                to: if reopen {
                    "syncing (reopen)".to_string()
                } else {
                    to.to_string()
                },
            });
        }
        tx.execute(
            &format!("UPDATE {table} SET status = ?2, reason = ?3, status_at = ?4 WHERE name = ?1"),
            params![name, to.name(), to.reason(), ms(at)],
        )
        .map_err(sql("writing a status"))?;
        if table == "mailbox" {
            if matches!(to, Status::Synced | Status::Completed) {
                tx.execute(
                    "UPDATE mailbox SET last_synced_at = ?2 WHERE name = ?1",
                    params![name, ms(at)],
                )
                .map_err(sql("writing a status"))?;
            }
            if let Some(left) = leftover {
                tx.execute(
                    "UPDATE mailbox SET left_messages = ?2, left_bytes = ?3, oldest_copied = ?4
                     WHERE name = ?1",
                    params![name, left.messages, left.bytes, left.oldest_copied.map(ms)],
                )
                .map_err(sql("writing what is left"))?;
            }
        }
        tx.commit().map_err(sql("changing a status"))
    }

    fn mailbox_states(&self, only: Option<&str>) -> Result<Vec<MailboxState>> {
        let mut stmt = self
            .conn
            .prepare_cached(
                "SELECT m.name, b.name, m.status, m.reason, m.status_at, m.last_synced_at,
                        m.left_messages, m.left_bytes, m.oldest_copied
                 FROM mailbox m LEFT JOIN batch b ON b.id = m.batch_id
                 WHERE ?1 IS NULL OR m.name = ?1 ORDER BY m.name",
            )
            .map_err(sql("reading mailboxes"))?;
        let rows = stmt
            .query_map([only], |r| {
                let left_messages: Option<u64> = r.get(6)?;
                Ok((
                    r.get::<_, String>(0)?,
                    r.get::<_, Option<String>>(1)?,
                    r.get::<_, String>(2)?,
                    r.get::<_, Option<String>>(3)?,
                    r.get::<_, i64>(4)?,
                    r.get::<_, Option<i64>>(5)?,
                    left_messages.map(|messages| -> rusqlite::Result<Leftover> {
                        Ok(Leftover {
                            messages,
                            bytes: r.get::<_, Option<u64>>(7)?.unwrap_or(0),
                            oldest_copied: r.get::<_, Option<i64>>(8)?.map(from_ms),
                        })
                    }),
                ))
            })
            .map_err(sql("reading mailboxes"))?;
        let mut out = Vec::new();
        for row in rows {
            let (name, batch, status, reason, status_at, last_synced, leftover) =
                row.map_err(sql("reading mailboxes"))?;
            out.push(MailboxState {
                name,
                batch,
                status: parse_status(&status, reason)?,
                status_at: from_ms(status_at),
                last_synced: last_synced.map(from_ms),
                leftover: leftover.transpose().map_err(sql("reading mailboxes"))?,
            });
        }
        Ok(out)
    }
}

fn parse_status(name: &str, reason: Option<String>) -> Result<Status> {
    Status::from_columns(name, reason).ok_or_else(|| Error::Unknown(format!("status {name:?}")))
}

#[cfg(test)]
mod tests {
    use super::super::test_support::{open_temp, t};
    use super::super::{Error, StateDb, Status, StopReason};
    use super::Leftover;

    #[test]
    fn a_mailbox_walks_the_dashboard_and_keeps_last_synced() {
        let (_dir, path, mut db) = open_temp();
        db.set_mailbox_status("joe", Status::Syncing, None, t(1))
            .unwrap();
        db.set_mailbox_status("joe", Status::Synced, None, t(2))
            .unwrap();
        db.set_mailbox_status("joe", Status::Syncing, None, t(3))
            .unwrap();
        drop(db);
        let db = StateDb::open(&path).unwrap();
        let state = db.mailbox_state("joe").unwrap().unwrap();
        assert_eq!(state.status, Status::Syncing);
        assert_eq!(state.status_at, t(3));
        assert_eq!(state.last_synced, Some(t(2)));
        assert_eq!(db.mailbox_state("nobody").unwrap(), None);
    }

    #[test]
    fn invalid_transitions_are_refused_with_both_statuses_named() {
        let (_dir, _path, mut db) = open_temp();
        let err = db
            .set_mailbox_status("joe", Status::Completed, None, t(1))
            .unwrap_err();
        assert!(matches!(err, Error::InvalidTransition { .. }));
        assert_eq!(
            err.to_string(),
            "mailbox joe: cannot go from created to completed"
        );
        assert_eq!(
            db.mailbox_state("joe").unwrap().unwrap().status,
            Status::Created,
            "a refused change writes nothing"
        );
    }

    #[test]
    fn completed_reopens_only_explicitly() {
        let (_dir, _path, mut db) = open_temp();
        for s in [
            Status::Syncing,
            Status::Synced,
            Status::Completing,
            Status::Completed,
        ] {
            db.set_mailbox_status("joe", s, None, t(1)).unwrap();
        }
        let err = db
            .set_mailbox_status("joe", Status::Syncing, None, t(2))
            .unwrap_err();
        assert!(
            err.to_string().contains("from completed to syncing"),
            "{err}"
        );
        db.reopen_mailbox("joe", t(3)).unwrap();
        assert_eq!(
            db.mailbox_state("joe").unwrap().unwrap().status,
            Status::Syncing
        );
        let err = db.reopen_mailbox("joe", t(4)).unwrap_err();
        assert!(err.to_string().contains("syncing (reopen)"), "{err}");
    }

    #[test]
    fn a_full_destination_stops_with_what_is_left() {
        let (_dir, _path, mut db) = open_temp();
        db.set_mailbox_status("joe", Status::Syncing, None, t(1))
            .unwrap();
        let left = Leftover {
            messages: 120,
            bytes: 9_000_000,
            oldest_copied: Some(t(-86_400)),
        };
        db.set_mailbox_status(
            "joe",
            Status::Stopped(StopReason::DestinationFull),
            Some(left.clone()),
            t(2),
        )
        .unwrap();
        let state = db.mailbox_state("joe").unwrap().unwrap();
        assert_eq!(state.status.to_string(), "stopped: destination full");
        assert_eq!(state.leftover, Some(left));
        // Quota raised: the rerun resumes it.
        db.set_mailbox_status("joe", Status::Syncing, None, t(3))
            .unwrap();
    }

    #[test]
    fn a_batch_holds_its_mailboxes_settings_and_status() {
        let (_dir, _path, mut db) = open_temp();
        db.create_batch("wave1", r#"{"connections":4}"#, &["b@x", "a@x"], t(0))
            .unwrap();
        db.set_batch_status("wave1", Status::Syncing, t(1)).unwrap();
        let batch = db.batch("wave1").unwrap().unwrap();
        assert_eq!(batch.mailboxes, ["a@x", "b@x"]);
        assert_eq!(batch.settings, r#"{"connections":4}"#);
        assert_eq!(batch.status, Status::Syncing);
        assert_eq!(db.mailboxes().unwrap()[0].batch.as_deref(), Some("wave1"));
        assert!(db.create_batch("wave1", "{}", &[], t(2)).is_err());
        assert!(db.batch("wave2").unwrap().is_none());
        let err = db
            .set_batch_status("wave2", Status::Syncing, t(3))
            .unwrap_err();
        assert!(
            err.to_string().contains("no record of batch wave2"),
            "{err}"
        );
    }

    #[test]
    fn mailboxes_join_an_existing_batch_and_batches_list_by_name() {
        let (_dir, _path, mut db) = open_temp();
        db.create_batch("wave2", "{}", &["a@x"], t(0)).unwrap();
        db.create_batch("wave1", "{}", &[], t(0)).unwrap();
        db.set_mailbox_status("a@x", Status::Syncing, None, t(1))
            .unwrap();
        db.add_to_batch("wave1", &["a@x", "b@x"], t(2)).unwrap();
        let batches = db.batches().unwrap();
        let names: Vec<&str> = batches.iter().map(|b| b.name.as_str()).collect();
        assert_eq!(names, ["wave1", "wave2"]);
        assert_eq!(batches[0].mailboxes, ["a@x", "b@x"]);
        assert!(batches[1].mailboxes.is_empty(), "a@x moved to wave1");
        assert_eq!(
            db.mailbox_state("a@x").unwrap().unwrap().status,
            Status::Syncing,
            "joining a batch keeps the status"
        );
        let err = db.add_to_batch("wave3", &["c@x"], t(3)).unwrap_err();
        assert!(err.to_string().contains("batch wave3"), "{err}");
    }

    #[test]
    fn a_completed_batch_reopens_only_explicitly() {
        let (_dir, _path, mut db) = open_temp();
        db.create_batch("wave1", "{}", &[], t(0)).unwrap();
        for s in [Status::Completing, Status::Completed] {
            db.set_batch_status("wave1", s, t(1)).unwrap();
        }
        assert!(db.set_batch_status("wave1", Status::Syncing, t(2)).is_err());
        db.reopen_batch("wave1", t(3)).unwrap();
        assert_eq!(db.batch("wave1").unwrap().unwrap().status, Status::Syncing);
    }
}
