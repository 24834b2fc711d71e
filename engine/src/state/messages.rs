//! Message records: the batch commit (intents, dones, adoptions, re-keys) and the lookups that
//! resume, reconciliation and re-matching use.

use super::db::{facts, from_ms, ms, StateDb, FACT_COLUMNS};
use super::error::{sql, Error, Result};
use super::fingerprint::Fingerprint;
use super::record::{
    Destination, DoneRecord, FolderId, Intent, MessageFacts, MessageRecord, Op, RecordBatch, UidSet,
};
use chrono::{DateTime, Utc};
use rusqlite::{params, Transaction, TransactionBehavior};

impl StateDb {
    /// Commits every change of `batch` in one transaction, in order: all or none. A change that
    /// breaks the protocol ([`Error::Protocol`]) rolls the whole batch back.
    pub fn commit(&mut self, batch: RecordBatch) -> Result<()> {
        if batch.is_empty() {
            return Ok(());
        }
        let now = ms(Utc::now());
        // IMMEDIATE takes the write lock up front, so another process cannot make this
        // transaction fail half-way with SQLITE_BUSY on the upgrade from read to write.
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(sql("starting a batch"))?;
        for op in batch.ops {
            apply(&tx, op, now)?;
        }
        tx.commit().map_err(sql("committing a batch"))
    }

    /// The source UIDs of `folder` recorded as migrated: resume skips them. One index range scan;
    /// 100k UIDs come back in tens of milliseconds.
    pub fn done_uids(&self, folder: FolderId) -> Result<UidSet> {
        let mut stmt = self
            .conn
            .prepare_cached("SELECT uid FROM message WHERE folder_id = ?1 ORDER BY uid")
            .map_err(sql("reading done UIDs"))?;
        let uids = stmt
            .query_map([folder.0], |r| r.get(0))
            .map_err(sql("reading done UIDs"))?
            .collect::<rusqlite::Result<Vec<u32>>>()
            .map_err(sql("reading done UIDs"))?;
        Ok(UidSet::from_unsorted(uids))
    }

    /// The migrated messages of `folder`, by UID, with what a later pass needs: a resumed run
    /// skips them and counts them as copied, an incremental pass compares their flags.
    pub fn done_records(&self, folder: FolderId) -> Result<Vec<DoneRecord>> {
        let mut stmt = self
            .conn
            .prepare_cached(
                "SELECT uid, sent_size, flags, dest_folder, dest_uid, dest_uidvalidity FROM message
                 WHERE folder_id = ?1 ORDER BY uid",
            )
            .map_err(sql("reading done messages"))?;
        let rows = stmt
            .query_map([folder.0], |r| {
                Ok(DoneRecord {
                    uid: r.get(0)?,
                    sent_size: r.get(1)?,
                    flags: r.get(2)?,
                    dest_folder: r.get(3)?,
                    dest_uid: r.get(4)?,
                    dest_uidvalidity: r.get(5)?,
                })
            })
            .map_err(sql("reading done messages"))?;
        rows.collect::<rusqlite::Result<_>>()
            .map_err(sql("reading done messages"))
    }

    /// The record of one source message, if migrated.
    pub fn message(&self, folder: FolderId, uid: u32) -> Result<Option<MessageRecord>> {
        let mut records =
            self.messages_where("m.folder_id = ?1 AND m.uid = ?2", params![folder.0, uid])?;
        Ok(records.pop())
    }

    /// The intents of `mailbox` still pending: messages that may or may not have reached the
    /// destination. On resume each is reconciled against the destination (UIDs at or above
    /// `dest_uidnext`, Message-ID hash, sent size) and then marked done, adopted or cancelled.
    pub fn pending_intents(&self, mailbox: &str) -> Result<Vec<Intent>> {
        let Some(mailbox_id) = self.known_mailbox(mailbox)? else {
            return Ok(Vec::new());
        };
        let mut stmt = self
            .conn
            .prepare_cached(&format!(
                "SELECT i.folder_id, i.dest_folder, i.dest_uidvalidity, i.dest_uidnext,
                        i.created_at, {}
                 FROM intent i JOIN folder f ON f.id = i.folder_id
                 WHERE f.mailbox_id = ?1 ORDER BY i.folder_id, i.uid",
                prefixed("i")
            ))
            .map_err(sql("reading pending intents"))?;
        let rows = stmt
            .query_map([mailbox_id], |r| {
                Ok(Intent {
                    folder: FolderId(r.get(0)?),
                    dest_folder: r.get(1)?,
                    dest_uidvalidity: r.get(2)?,
                    dest_uidnext: r.get(3)?,
                    created_at: from_ms(r.get(4)?),
                    facts: facts(r, 5)?,
                })
            })
            .map_err(sql("reading pending intents"))?;
        rows.collect::<rusqlite::Result<_>>()
            .map_err(sql("reading pending intents"))
    }

    /// The migrated messages of `mailbox` whose source bytes have this fingerprint: after a
    /// source UIDVALIDITY change, each message of the new incarnation is looked up here and
    /// re-keyed ([`Op::Rekey`]) instead of copied again.
    pub fn find_by_fingerprint(
        &self,
        mailbox: &str,
        fp: &Fingerprint,
    ) -> Result<Vec<MessageRecord>> {
        self.find_digest(mailbox, "fingerprint", fp)
    }

    /// The migrated messages of `mailbox` whose sent bytes have this fingerprint: after a
    /// destination UIDVALIDITY change, or to adopt what another tool copied.
    pub fn find_by_sent_fingerprint(
        &self,
        mailbox: &str,
        fp: &Fingerprint,
    ) -> Result<Vec<MessageRecord>> {
        self.find_digest(mailbox, "sent_fingerprint", fp)
    }

    /// How many messages and bytes (source sizes) of `mailbox` are migrated, and the oldest
    /// INTERNALDATE among them: the report of a stopped mailbox.
    pub fn copied_totals(&self, mailbox: &str) -> Result<CopiedTotals> {
        let Some(mailbox_id) = self.known_mailbox(mailbox)? else {
            return Ok(CopiedTotals::default());
        };
        self.conn
            .query_row(
                "SELECT count(*), coalesce(sum(m.size), 0), min(m.internal_date)
                 FROM message m JOIN folder f ON f.id = m.folder_id WHERE f.mailbox_id = ?1",
                [mailbox_id],
                |r| {
                    Ok(CopiedTotals {
                        messages: r.get(0)?,
                        bytes: r.get(1)?,
                        oldest: r.get::<_, Option<i64>>(2)?.map(from_ms),
                    })
                },
            )
            .map_err(sql("totalling a mailbox"))
    }

    fn find_digest(
        &self,
        mailbox: &str,
        column: &str,
        fp: &Fingerprint,
    ) -> Result<Vec<MessageRecord>> {
        let Some(mailbox_id) = self.known_mailbox(mailbox)? else {
            return Ok(Vec::new());
        };
        self.messages_where(
            &format!(
                "m.{column} = ?1 AND m.folder_id IN (SELECT id FROM folder WHERE mailbox_id = ?2)"
            ),
            params![fp.0.as_slice(), mailbox_id],
        )
    }

    fn messages_where(
        &self,
        condition: &str,
        params: &[&dyn rusqlite::ToSql],
    ) -> Result<Vec<MessageRecord>> {
        let mut stmt = self
            .conn
            .prepare_cached(&format!(
                "SELECT m.folder_id, m.dest_folder, m.dest_uidvalidity, m.dest_uid, m.done_at, {}
                 FROM message m WHERE {condition} ORDER BY m.folder_id, m.uid",
                prefixed("m")
            ))
            .map_err(sql("reading messages"))?;
        let rows = stmt
            .query_map(params, |r| {
                Ok(MessageRecord {
                    folder: FolderId(r.get(0)?),
                    dest: Destination {
                        folder: r.get(1)?,
                        uidvalidity: r.get(2)?,
                        uid: r.get(3)?,
                    },
                    done_at: from_ms(r.get(4)?),
                    facts: facts(r, 5)?,
                })
            })
            .map_err(sql("reading messages"))?;
        rows.collect::<rusqlite::Result<_>>()
            .map_err(sql("reading messages"))
    }
}

/// What of a mailbox is migrated.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CopiedTotals {
    /// Messages recorded as migrated.
    pub messages: u64,
    /// Their source sizes, summed.
    pub bytes: u64,
    /// The oldest INTERNALDATE among them.
    pub oldest: Option<DateTime<Utc>>,
}

/// [`FACT_COLUMNS`] with a table alias.
fn prefixed(alias: &str) -> String {
    FACT_COLUMNS
        .split(", ")
        .map(|c| format!("{alias}.{c}"))
        .collect::<Vec<_>>()
        .join(", ")
}

fn protocol(folder: FolderId, uid: u32, problem: &'static str) -> Error {
    Error::Protocol {
        folder: folder.0,
        uid,
        problem,
    }
}

fn is_migrated(tx: &Transaction<'_>, folder: FolderId, uid: u32) -> Result<bool> {
    tx.prepare_cached("SELECT 1 FROM message WHERE folder_id = ?1 AND uid = ?2")
        .and_then(|mut s| s.exists(params![folder.0, uid]))
        .map_err(sql("checking a message"))
}

fn fact_params(f: &MessageFacts) -> [Box<dyn rusqlite::ToSql + '_>; 8] {
    [
        Box::new(f.uid),
        Box::new(f.size),
        Box::new(f.fingerprint.0.as_slice()),
        Box::new(f.sent_size),
        Box::new(f.sent_fingerprint.0.as_slice()),
        Box::new(f.message_id.as_ref().map(|h| h.0.as_slice())),
        Box::new(f.internal_date.map(ms)),
        Box::new(f.flags.as_str()),
    ]
}

fn apply(tx: &Transaction<'_>, op: Op, now: i64) -> Result<()> {
    match op {
        Op::Intend(intent) => {
            let (folder, uid) = (intent.folder, intent.facts.uid);
            if is_migrated(tx, folder, uid)? {
                return Err(protocol(
                    folder,
                    uid,
                    "intent for a message already migrated",
                ));
            }
            let mut stmt = tx
                .prepare_cached(&format!(
                    "INSERT INTO intent (folder_id, dest_folder, dest_uidvalidity, dest_uidnext,
                         created_at, {FACT_COLUMNS})
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13)
                     ON CONFLICT DO NOTHING"
                ))
                .map_err(sql("recording an intent"))?;
            let facts = fact_params(&intent.facts);
            let mut values: Vec<&dyn rusqlite::ToSql> = vec![
                &folder.0,
                &intent.dest_folder,
                &intent.dest_uidvalidity,
                &intent.dest_uidnext,
            ];
            let created = ms(intent.created_at);
            values.push(&created);
            values.extend(facts.iter().map(|b| b.as_ref()));
            let inserted = stmt
                .execute(values.as_slice())
                .map_err(sql("recording an intent"))?;
            if inserted == 0 {
                return Err(protocol(
                    folder,
                    uid,
                    "an intent is already pending: reconcile it first",
                ));
            }
        }
        Op::Done {
            folder,
            uid,
            dest_uidvalidity,
            dest_uid,
        } => {
            let moved = tx
                .prepare_cached(&format!(
                    "INSERT INTO message (folder_id, dest_folder, dest_uidvalidity, dest_uid,
                         done_at, {FACT_COLUMNS})
                     SELECT folder_id, dest_folder, coalesce(?3, dest_uidvalidity), ?4, ?5,
                         {FACT_COLUMNS}
                     FROM intent WHERE folder_id = ?1 AND uid = ?2"
                ))
                .and_then(|mut s| {
                    s.execute(params![folder.0, uid, dest_uidvalidity, dest_uid, now])
                })
                .map_err(sql("recording a message"))?;
            if moved == 0 {
                return Err(protocol(
                    folder,
                    uid,
                    "marked done without a recorded intent",
                ));
            }
            delete_intent(tx, folder, uid)?;
        }
        Op::Cancel { folder, uid } => {
            delete_intent(tx, folder, uid)?;
            clear_mark(tx, folder)?;
        }
        Op::Adopt(record) => {
            let (folder, uid) = (record.folder, record.facts.uid);
            if is_migrated(tx, folder, uid)? {
                return Err(protocol(folder, uid, "adopting a message already migrated"));
            }
            delete_intent(tx, folder, uid)?;
            let mut stmt = tx
                .prepare_cached(&format!(
                    "INSERT INTO message (folder_id, dest_folder, dest_uidvalidity, dest_uid,
                         done_at, {FACT_COLUMNS})
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13)"
                ))
                .map_err(sql("adopting a message"))?;
            let facts = fact_params(&record.facts);
            let done_at = ms(record.done_at);
            let mut values: Vec<&dyn rusqlite::ToSql> = vec![
                &folder.0,
                &record.dest.folder,
                &record.dest.uidvalidity,
                &record.dest.uid,
                &done_at,
            ];
            values.extend(facts.iter().map(|b| b.as_ref()));
            stmt.execute(values.as_slice())
                .map_err(sql("adopting a message"))?;
        }
        Op::Rekey {
            from_folder,
            from_uid,
            to_folder,
            to_uid,
        } => {
            let changed = tx
                .prepare_cached(
                    "UPDATE message SET folder_id = ?3, uid = ?4 WHERE folder_id = ?1 AND uid = ?2",
                )
                .and_then(|mut s| s.execute(params![from_folder.0, from_uid, to_folder.0, to_uid]))
                .map_err(sql("re-keying a message"))?;
            if changed == 0 {
                return Err(protocol(
                    from_folder,
                    from_uid,
                    "re-keying a message not recorded",
                ));
            }
        }
        Op::SetDestination { folder, uid, dest } => {
            let changed = tx
                .prepare_cached(
                    "UPDATE message SET dest_folder = ?3, dest_uidvalidity = ?4, dest_uid = ?5
                     WHERE folder_id = ?1 AND uid = ?2",
                )
                .and_then(|mut s| {
                    s.execute(params![
                        folder.0,
                        uid,
                        dest.folder,
                        dest.uidvalidity,
                        dest.uid
                    ])
                })
                .map_err(sql("moving a message's destination"))?;
            if changed == 0 {
                return Err(protocol(
                    folder,
                    uid,
                    "new destination for a message not recorded",
                ));
            }
        }
        Op::Forget { folder, uid } => {
            let changed = tx
                .prepare_cached("DELETE FROM message WHERE folder_id = ?1 AND uid = ?2")
                .and_then(|mut s| s.execute(params![folder.0, uid]))
                .map_err(sql("forgetting a message"))?;
            if changed == 0 {
                return Err(protocol(folder, uid, "forgetting a message not recorded"));
            }
            // The message is to be copied again, but nothing changed at the source: the next
            // pass must read the whole folder, not only what changed since the mark.
            clear_mark(tx, folder)?;
        }
        Op::SetFlags { folder, uid, flags } => {
            let changed = tx
                .prepare_cached("UPDATE message SET flags = ?3 WHERE folder_id = ?1 AND uid = ?2")
                .and_then(|mut s| s.execute(params![folder.0, uid, flags]))
                .map_err(sql("recording flags"))?;
            if changed == 0 {
                return Err(protocol(folder, uid, "flags for a message not recorded"));
            }
        }
        Op::FolderSynced {
            folder,
            highest_uid,
            highest_modseq,
            scan_filter,
        } => {
            tx.prepare_cached(
                "UPDATE folder SET highest_uid = max(highest_uid, ?2),
                     highest_modseq = ?3, scan_filter = ?5, synced_at = ?4
                 WHERE id = ?1",
            )
            .and_then(|mut s| {
                s.execute(params![
                    folder.0,
                    highest_uid,
                    highest_modseq,
                    now,
                    scan_filter
                ])
            })
            .map_err(sql("recording a folder pass"))?;
        }
    }
    Ok(())
}

/// Drops the folder's CONDSTORE mark: the next pass reads the whole folder.
fn clear_mark(tx: &Transaction<'_>, folder: FolderId) -> Result<()> {
    tx.prepare_cached("UPDATE folder SET highest_modseq = NULL WHERE id = ?1")
        .and_then(|mut s| s.execute(params![folder.0]))
        .map_err(sql("clearing a folder's mark"))?;
    Ok(())
}

fn delete_intent(tx: &Transaction<'_>, folder: FolderId, uid: u32) -> Result<()> {
    tx.prepare_cached("DELETE FROM intent WHERE folder_id = ?1 AND uid = ?2")
        .and_then(|mut s| s.execute(params![folder.0, uid]))
        .map_err(sql("dropping an intent"))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::super::test_support::{facts, intent, open_temp, t};
    use super::super::{Destination, Error, Fingerprint, MessageRecord, Op, RecordBatch, StateDb};

    fn intents(folder: super::FolderId, uids: impl IntoIterator<Item = u32>) -> RecordBatch {
        let mut batch = RecordBatch::new();
        for uid in uids {
            batch.intend(intent(folder, uid));
        }
        batch
    }

    fn dones(folder: super::FolderId, uids: impl IntoIterator<Item = u32>) -> RecordBatch {
        let mut batch = RecordBatch::new();
        for uid in uids {
            batch.done(folder, uid, Some(77), Some(uid + 1000));
        }
        batch
    }

    #[test]
    fn records_survive_reopen() {
        let (_dir, path, mut db) = open_temp();
        let inbox = db.folder("joe", "INBOX", 1).unwrap();
        db.commit(intents(inbox, 1..=3)).unwrap();
        db.commit(dones(inbox, 1..=3)).unwrap();
        drop(db);

        let db = StateDb::open(&path).unwrap();
        assert_eq!(
            db.done_uids(inbox).unwrap().iter().collect::<Vec<_>>(),
            [1, 2, 3]
        );
        let record = db.message(inbox, 2).unwrap().unwrap();
        assert_eq!(record.facts, facts(2));
        assert_eq!(
            record.dest,
            Destination {
                folder: "INBOX".into(),
                uidvalidity: Some(77),
                uid: Some(1002)
            }
        );
        assert!(db.pending_intents("joe").unwrap().is_empty());
    }

    #[test]
    fn a_batch_dropped_without_commit_leaves_nothing() {
        let (_dir, path, mut db) = open_temp();
        let inbox = db.folder("joe", "INBOX", 1).unwrap();
        let batch = intents(inbox, 1..=3);
        assert_eq!(batch.len(), 3);
        drop(batch); // the crash comes before commit
        drop(db);
        let db = StateDb::open(&path).unwrap();
        assert!(db.pending_intents("joe").unwrap().is_empty());
        assert!(db.done_uids(inbox).unwrap().is_empty());
    }

    #[test]
    fn a_batch_that_fails_half_way_is_rolled_back_whole() {
        let (_dir, path, mut db) = open_temp();
        let inbox = db.folder("joe", "INBOX", 1).unwrap();
        db.commit(intents(inbox, 1..=2)).unwrap();
        // Two good dones, then one for a UID that has no intent.
        let err = db.commit(dones(inbox, [1, 2, 3])).unwrap_err();
        assert!(matches!(err, Error::Protocol { uid: 3, .. }), "{err}");
        assert!(
            err.to_string().contains("without a recorded intent"),
            "{err}"
        );
        drop(db);
        let db = StateDb::open(&path).unwrap();
        assert!(db.done_uids(inbox).unwrap().is_empty());
        assert_eq!(db.pending_intents("joe").unwrap().len(), 2);
    }

    #[test]
    fn done_uids_are_per_folder_incarnation() {
        let (_dir, _path, mut db) = open_temp();
        let inbox = db.folder("joe", "INBOX", 1).unwrap();
        let sent = db.folder("joe", "Sent", 1).unwrap();
        let inbox_again = db.folder("joe", "INBOX", 2).unwrap();
        assert_eq!(
            db.folder("joe", "INBOX", 1).unwrap(),
            inbox,
            "ids are stable"
        );
        db.commit(intents(inbox, [5, 3, 9])).unwrap();
        db.commit(dones(inbox, [9, 3])).unwrap();
        db.commit(intents(sent, [3])).unwrap();
        db.commit(dones(sent, [3])).unwrap();

        let done = db.done_uids(inbox).unwrap();
        assert_eq!(done.iter().collect::<Vec<_>>(), [3, 9]);
        assert!(!done.contains(5), "5 is only intended");
        assert_eq!(db.done_uids(sent).unwrap().len(), 1);
        assert!(db.done_uids(inbox_again).unwrap().is_empty());
    }

    #[test]
    fn pending_intents_are_what_resume_reconciles() {
        let (_dir, path, mut db) = open_temp();
        let inbox = db.folder("joe", "INBOX", 1).unwrap();
        db.commit(intents(inbox, 1..=4)).unwrap();
        db.commit(dones(inbox, [1, 2])).unwrap(); // the OK for 3 and 4 never came
        drop(db);

        let mut db = StateDb::open(&path).unwrap();
        let pending = db.pending_intents("joe").unwrap();
        assert_eq!(pending, vec![intent(inbox, 3), intent(inbox, 4)]);
        assert_eq!(pending[0].dest_uidnext, Some(500));

        // Reconciliation: 3 is at the destination, 4 is not and is sent again.
        let mut batch = RecordBatch::new();
        batch.done(inbox, 3, Some(77), Some(503));
        batch.cancel(inbox, 4);
        batch.intend(intent(inbox, 4));
        db.commit(batch).unwrap();
        assert_eq!(db.done_uids(inbox).unwrap().len(), 3);
        assert_eq!(db.pending_intents("joe").unwrap(), vec![intent(inbox, 4)]);
    }

    #[test]
    fn the_store_refuses_to_send_a_migrated_message_twice() {
        let (_dir, _path, mut db) = open_temp();
        let inbox = db.folder("joe", "INBOX", 1).unwrap();
        db.commit(intents(inbox, [1, 2])).unwrap();
        db.commit(dones(inbox, [1])).unwrap();
        let again = db.commit(intents(inbox, [1])).unwrap_err();
        assert!(again.to_string().contains("already migrated"), "{again}");
        let pending = db.commit(intents(inbox, [2])).unwrap_err();
        assert!(pending.to_string().contains("already pending"), "{pending}");
    }

    #[test]
    fn a_forgotten_message_can_be_sent_again() {
        let (_dir, _path, mut db) = open_temp();
        let inbox = db.folder("joe", "INBOX", 1).unwrap();
        db.commit(intents(inbox, [1, 2])).unwrap();
        db.commit(dones(inbox, [1, 2])).unwrap();
        let mut batch = RecordBatch::new();
        batch.push(Op::Forget {
            folder: inbox,
            uid: 2,
        });
        db.commit(batch).unwrap();
        assert_eq!(db.done_uids(inbox).unwrap().len(), 1);
        db.commit(intents(inbox, [2])).unwrap();
        // Forgetting what is not recorded is a bug, refused whole.
        let mut batch = RecordBatch::new();
        batch.push(Op::Forget {
            folder: inbox,
            uid: 9,
        });
        assert!(db.commit(batch).is_err());
    }

    #[test]
    fn fingerprints_rematch_after_a_source_uidvalidity_change() {
        let (_dir, _path, mut db) = open_temp();
        let old = db.folder("joe", "INBOX", 1).unwrap();
        db.commit(intents(old, [10, 11])).unwrap();
        db.commit(dones(old, [10, 11])).unwrap();

        // The server renumbered INBOX: UIDVALIDITY 2, the message of old UID 11 is now UID 2.
        let new = db.folder("joe", "INBOX", 2).unwrap();
        let found = db
            .find_by_fingerprint("joe", &facts(11).fingerprint)
            .unwrap();
        assert_eq!(found.len(), 1);
        assert_eq!((found[0].folder, found[0].facts.uid), (old, 11));
        assert_eq!(
            db.find_by_sent_fingerprint("joe", &facts(11).sent_fingerprint)
                .unwrap(),
            found
        );
        assert!(db
            .find_by_fingerprint("jane", &facts(11).fingerprint)
            .unwrap()
            .is_empty());
        assert!(db
            .find_by_fingerprint("joe", &Fingerprint::of(b"other"))
            .unwrap()
            .is_empty());

        let mut batch = RecordBatch::new();
        batch.push(Op::Rekey {
            from_folder: old,
            from_uid: 11,
            to_folder: new,
            to_uid: 2,
        });
        db.commit(batch).unwrap();
        assert_eq!(db.done_uids(new).unwrap().iter().collect::<Vec<_>>(), [2]);
        assert_eq!(db.done_uids(old).unwrap().iter().collect::<Vec<_>>(), [10]);
        let folders = db.folders("joe").unwrap();
        assert_eq!(
            folders.iter().map(|f| f.uidvalidity).collect::<Vec<_>>(),
            [1, 2]
        );
    }

    #[test]
    fn adopt_destination_and_flags_update_a_record() {
        let (_dir, _path, mut db) = open_temp();
        let inbox = db.folder("joe", "INBOX", 1).unwrap();
        let mut batch = RecordBatch::new();
        batch.push(Op::Adopt(MessageRecord {
            folder: inbox,
            facts: facts(7),
            dest: Destination {
                folder: "INBOX".into(),
                uidvalidity: Some(5),
                uid: Some(70),
            },
            done_at: t(1),
        }));
        batch.push(Op::SetFlags {
            folder: inbox,
            uid: 7,
            flags: "\\Seen \\Flagged".into(),
        });
        batch.push(Op::SetDestination {
            folder: inbox,
            uid: 7,
            dest: Destination {
                folder: "INBOX".into(),
                uidvalidity: Some(6),
                uid: Some(1),
            },
        });
        db.commit(batch).unwrap();
        let record = db.message(inbox, 7).unwrap().unwrap();
        assert_eq!(record.facts.flags, "\\Seen \\Flagged");
        assert_eq!(record.dest.uidvalidity, Some(6));
        assert_eq!(record.done_at, t(1));
        let totals = db.copied_totals("joe").unwrap();
        assert_eq!((totals.messages, totals.bytes), (1, facts(7).size));
        assert_eq!(totals.oldest, Some(t(7)));
    }

    #[test]
    fn folder_marks_uid_moves_up_modseq_is_replaced_and_forgetting_clears_it() {
        let (_dir, _path, mut db) = open_temp();
        let inbox = db.folder("joe", "INBOX", 1).unwrap();
        let synced = |db: &mut StateDb, uid, modseq: Option<u64>| {
            let mut batch = RecordBatch::new();
            batch.push(Op::FolderSynced {
                folder: inbox,
                highest_uid: uid,
                highest_modseq: modseq,
                scan_filter: modseq.map(|_| "f1".to_string()),
            });
            db.commit(batch).unwrap();
        };
        synced(&mut db, 40, Some(900));
        let folder = &db.folders("joe").unwrap()[0];
        assert_eq!(folder.highest_modseq, Some(900));
        assert_eq!(folder.scan_filter.as_deref(), Some("f1"));
        assert!(folder.synced_at.is_some());
        synced(&mut db, 30, None);
        let folder = &db.folders("joe").unwrap()[0];
        assert_eq!(folder.highest_uid, 40);
        assert_eq!(
            folder.highest_modseq, None,
            "a pass without CONDSTORE clears the mark"
        );

        // A forgotten message and a cancelled intent each clear the mark.
        synced(&mut db, 40, Some(950));
        db.commit(intents(inbox, [7])).unwrap();
        db.commit(dones(inbox, [7])).unwrap();
        assert_eq!(db.folders("joe").unwrap()[0].highest_modseq, Some(950));
        let mut batch = RecordBatch::new();
        batch.push(Op::Forget {
            folder: inbox,
            uid: 7,
        });
        db.commit(batch).unwrap();
        assert_eq!(db.folders("joe").unwrap()[0].highest_modseq, None);
        synced(&mut db, 40, Some(960));
        let mut batch = RecordBatch::new();
        batch.push(Op::Intend(intent(inbox, 8)));
        batch.push(Op::Cancel {
            folder: inbox,
            uid: 8,
        });
        db.commit(batch).unwrap();
        assert_eq!(db.folders("joe").unwrap()[0].highest_modseq, None);
    }
}
