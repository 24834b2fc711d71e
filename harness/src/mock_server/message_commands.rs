//! Message commands: SEARCH, FETCH (and their UID forms), UID SORT, APPEND (with MULTIAPPEND).

use std::fmt::Write;

use chrono::NaiveDate;

use super::command_parser::{Cursor, PResult, ParseError, SequenceSet};
use super::fetch::{self, FetchItem};
use super::response::{parse_internaldate, OutBuf};
use super::session::{Reply, Session};
use super::store::{Damage, FolderError, NewMessage, StoredMessage};

/// Indices (0-based, ascending, unique) of `messages` whose UID is in `set`.
fn uid_indices(messages: &[StoredMessage], set: &SequenceSet) -> Vec<usize> {
    let Some(last) = messages.last() else {
        return Vec::new();
    };
    let mut idx = Vec::new();
    for (lo, hi) in set.resolve(last.uid) {
        let start = messages.partition_point(|m| m.uid < lo);
        let end = messages.partition_point(|m| m.uid <= hi);
        idx.extend(start..end);
    }
    idx.sort_unstable();
    idx.dedup();
    idx
}

/// Indices for a message sequence set, or an error if it names messages that do not exist.
fn seq_indices(exists: u32, set: &SequenceSet) -> Result<Vec<usize>, &'static str> {
    if exists == 0 {
        return Err("No messages");
    }
    let mut idx = Vec::new();
    for (lo, hi) in set.resolve(exists) {
        if hi > exists {
            return Err("Invalid message sequence number");
        }
        idx.extend((lo - 1) as usize..hi as usize);
    }
    idx.sort_unstable();
    idx.dedup();
    Ok(idx)
}

/// A search key the mock understands (RFC 3501 6.4.4); a search matches the messages every key
/// matches. Dates compare the INTERNALDATE's own calendar day, disregarding time and zone.
#[derive(Debug, Clone)]
enum SearchKey {
    All,
    Sequence(SequenceSet),
    Uid(SequenceSet),
    Since(NaiveDate),
    Before(NaiveDate),
    On(NaiveDate),
    Deleted,
    Undeleted,
}

/// The keys up to the end of the command, or the `NO` for a key the mock does not know.
fn search_keys(c: &mut Cursor) -> PResult<Result<Vec<SearchKey>, Reply>> {
    let mut keys = Vec::new();
    loop {
        if !c.peek().is_some_and(|b| b.is_ascii_alphabetic()) {
            keys.push(SearchKey::Sequence(c.sequence_set()?));
        } else {
            let name = c.keyword()?;
            let date = |c: &mut Cursor| -> PResult<Option<NaiveDate>> {
                c.sp()?;
                let text = String::from_utf8_lossy(&c.astring()?).into_owned();
                Ok(NaiveDate::parse_from_str(&text, "%d-%b-%Y").ok())
            };
            let key = match name.as_str() {
                "ALL" => SearchKey::All,
                "CHARSET" if keys.is_empty() => {
                    c.sp()?;
                    c.astring()?;
                    SearchKey::All
                }
                "UID" => {
                    c.sp()?;
                    SearchKey::Uid(c.sequence_set()?)
                }
                "SINCE" | "BEFORE" | "ON" => {
                    let Some(d) = date(c)? else {
                        return Ok(Err(Reply::Bad(format!("Invalid date for {name}"))));
                    };
                    match name.as_str() {
                        "SINCE" => SearchKey::Since(d),
                        "BEFORE" => SearchKey::Before(d),
                        _ => SearchKey::On(d),
                    }
                }
                "DELETED" => SearchKey::Deleted,
                "UNDELETED" => SearchKey::Undeleted,
                other => return Ok(Err(Reply::No(format!("Unsupported search key {other}")))),
            };
            keys.push(key);
        }
        if c.at_end() {
            return Ok(Ok(keys));
        }
        c.sp()?;
    }
}

/// Indices (0-based, ascending) of the `visible` messages that every key matches.
fn matching(visible: &[StoredMessage], keys: &[SearchKey]) -> Vec<usize> {
    let mut idx: Vec<usize> = (0..visible.len()).collect();
    for key in keys {
        let keep: Vec<usize> = match key {
            SearchKey::All => continue,
            SearchKey::Uid(set) => uid_indices(visible, set),
            SearchKey::Sequence(set) => {
                let ranges = set.resolve(visible.len() as u32);
                (0..visible.len())
                    .filter(|&i| SequenceSet::contains(&ranges, i as u32 + 1))
                    .collect()
            }
            other => (0..visible.len())
                .filter(|&i| {
                    let m = &visible[i];
                    let day = m.internaldate.date_naive();
                    let deleted = m.flags.iter().any(|f| f.eq_ignore_ascii_case("\\Deleted"));
                    match other {
                        SearchKey::Since(d) => day >= *d,
                        SearchKey::Before(d) => day < *d,
                        SearchKey::On(d) => day == *d,
                        SearchKey::Deleted => deleted,
                        SearchKey::Undeleted => !deleted,
                        _ => unreachable!("set keys are handled above"),
                    }
                })
                .collect(),
        };
        idx.retain(|i| keep.binary_search(i).is_ok());
    }
    idx
}

impl Session {
    /// SEARCH / UID SEARCH with the keys of [`SearchKey`], all of which must match (after an
    /// optional `CHARSET`).
    pub(crate) fn search(&mut self, uid: bool, c: &mut Cursor, out: &mut OutBuf) -> PResult<Reply> {
        c.sp()?;
        let keys = match search_keys(c)? {
            Ok(keys) => keys,
            Err(no) => return Ok(no),
        };
        Ok(self.search_result(uid, &keys, out))
    }

    /// UID SORT (RFC 5256) by ARRIVAL, DATE (taken as INTERNALDATE too), SIZE, with REVERSE;
    /// the search part as SEARCH takes it. Ties keep UID order.
    pub(crate) fn sort(&mut self, c: &mut Cursor, out: &mut OutBuf) -> PResult<Reply> {
        c.sp()?;
        let criteria = c.atom_list()?;
        c.sp()?;
        c.astring()?;
        c.sp()?;
        let search = match search_keys(c)? {
            Ok(keys) => keys,
            Err(no) => return Ok(no),
        };
        #[derive(Clone, Copy)]
        enum Key {
            Arrival,
            Size,
        }
        let mut keys = Vec::new();
        let mut reverse = false;
        for k in &criteria {
            match k.to_ascii_uppercase().as_str() {
                "REVERSE" => reverse = true,
                "ARRIVAL" | "DATE" => keys.push((Key::Arrival, std::mem::take(&mut reverse))),
                "SIZE" => keys.push((Key::Size, std::mem::take(&mut reverse))),
                other => return Ok(Reply::Bad(format!("Unsupported sort key {other}"))),
            }
        }
        if keys.is_empty() || reverse {
            return Ok(Reply::Bad("Invalid sort criteria".into()));
        }
        let (login, sel) = self.login_mut();
        let Some(sel) = sel else {
            return Ok(Reply::Bad("No mailbox selected".into()));
        };
        let mut mb = login.account.mailboxes();
        let Ok(folder) = mb.selectable(&sel.name) else {
            return Ok(Reply::No("Mailbox is gone".into()));
        };
        let visible = &folder.messages[..(sel.exists as usize).min(folder.messages.len())];
        let mut idx = matching(visible, &search);
        idx.sort_by(|&a, &b| {
            let (ma, mb) = (&visible[a], &visible[b]);
            for &(key, rev) in &keys {
                let ord = match key {
                    Key::Arrival => ma.internaldate.cmp(&mb.internaldate),
                    Key::Size => ma.body.len().cmp(&mb.body.len()),
                };
                let ord = if rev { ord.reverse() } else { ord };
                if ord.is_ne() {
                    return ord;
                }
            }
            ma.uid.cmp(&mb.uid)
        });
        out.put(b"* SORT");
        for i in idx {
            let _ = write!(out, " {}", visible[i].uid);
        }
        out.put(b"\r\n");
        Ok(Reply::Ok("Sort completed.".into()))
    }

    fn search_result(&mut self, uid: bool, keys: &[SearchKey], out: &mut OutBuf) -> Reply {
        let (login, sel) = self.login_mut();
        let Some(sel) = sel else {
            return Reply::Bad("No mailbox selected".into());
        };
        let mut mb = login.account.mailboxes();
        let Ok(folder) = mb.selectable(&sel.name) else {
            return Reply::No("Mailbox is gone".into());
        };
        let visible = &folder.messages[..(sel.exists as usize).min(folder.messages.len())];
        let idx = matching(visible, keys);
        out.put(b"* SEARCH");
        for i in idx {
            let n = if uid { visible[i].uid } else { i as u32 + 1 };
            let _ = write!(out, " {n}");
        }
        out.put(b"\r\n");
        Reply::Ok("Search completed.".into())
    }

    /// FETCH / UID FETCH.
    pub(crate) fn fetch(&mut self, uid: bool, c: &mut Cursor, out: &mut OutBuf) -> PResult<Reply> {
        c.sp()?;
        let set = c.sequence_set()?;
        c.sp()?;
        let mut items = fetch::parse_items(c)?;
        c.end()?;
        if uid && !items.contains(&FetchItem::Uid) {
            items.insert(0, FetchItem::Uid);
        }
        let (login, sel) = self.login_mut();
        let Some(sel) = sel else {
            return Ok(Reply::Bad("No mailbox selected".into()));
        };
        let sets_seen = !sel.read_only && items.iter().any(FetchItem::sets_seen);
        let mut with_flags = items.clone();
        if !items.contains(&FetchItem::Flags) {
            with_flags.push(FetchItem::Flags);
        }
        let mut mb = login.account.mailboxes();
        let Ok(folder) = mb.selectable(&sel.name) else {
            return Ok(Reply::No("Mailbox is gone".into()));
        };
        let visible = (sel.exists as usize).min(folder.messages.len());
        let messages = &mut folder.messages[..visible];
        let idx = if uid {
            uid_indices(messages, &set)
        } else {
            match seq_indices(visible as u32, &set) {
                Ok(i) => i,
                Err(e) => return Ok(Reply::Bad(e.into())),
            }
        };
        let reads_content = items.iter().any(FetchItem::reads_content);
        let reads_size = items.contains(&FetchItem::Size);
        let mut unreadable = false;
        for i in idx {
            let msg = &mut messages[i];
            let damaged = match login.account.damage(&sel.name, msg.uid) {
                Some(Damage::Content) => reads_content,
                Some(Damage::ContentAndSize) => reads_content || reads_size,
                Some(Damage::DropsConnection) if reads_content => {
                    // The literal announced at its full size, half of it sent, then nothing.
                    let half = &msg.body[..msg.body.len() / 2];
                    let _ = write!(
                        out,
                        "* {} FETCH (UID {} BODY[] {{{}}}\r\n",
                        i + 1,
                        msg.uid,
                        msg.body.len()
                    );
                    out.put(half);
                    return Ok(Reply::Cut);
                }
                Some(Damage::DropsConnection) | None => false,
            };
            if damaged {
                unreadable = true;
                continue;
            }
            let mut changed = false;
            if sets_seen && !msg.flags.iter().any(|f| f.eq_ignore_ascii_case("\\Seen")) {
                msg.flags.push("\\Seen".into());
                changed = true;
            }
            let list = if changed { &with_flags } else { &items };
            fetch::write_fetch(out, i as u32 + 1, msg, list);
        }
        if unreadable {
            return Ok(Reply::No(
                "[SERVERBUG] Internal error occurred. Refer to server log for more information."
                    .into(),
            ));
        }
        Ok(Reply::Ok("Fetch completed.".into()))
    }

    /// APPEND, MULTIAPPEND when enabled; all messages are stored or none.
    pub(crate) fn append(&mut self, c: &mut Cursor, out: &mut OutBuf) -> PResult<Reply> {
        c.sp()?;
        let name = Self::mailbox_name(&c.astring()?);
        let mut messages = Vec::new();
        loop {
            c.sp()?;
            let flags = if c.peek() == Some(b'(') {
                let f = c.flag_list()?;
                c.sp()?;
                f
            } else {
                Vec::new()
            };
            if flags.iter().any(|f| f == "\\*") {
                return Err(ParseError("\\* is not a flag"));
            }
            let internaldate = if c.peek() == Some(b'"') {
                let d = parse_internaldate(&c.string()?).ok_or(ParseError("Invalid date-time"))?;
                c.sp()?;
                d
            } else {
                chrono::Local::now().fixed_offset()
            };
            if c.peek() != Some(b'{') {
                return Err(ParseError("Expected a message literal"));
            }
            let body = c.literal()?;
            messages.push(NewMessage {
                flags,
                internaldate,
                body,
            });
            if c.at_end() {
                break;
            }
            if !self.shared.config.caps.multiappend {
                return Err(ParseError("Unexpected arguments (no MULTIAPPEND)"));
            }
        }
        if let Some(max) = self.shared.config.max_message_size {
            if let Some(m) = messages.iter().find(|m| m.body.len() as u64 > max) {
                return Ok(Reply::No(format!(
                    "[LIMIT] Message size {} exceeds the limit of {max}",
                    m.body.len()
                )));
            }
        }
        let count = messages.len() as u64;
        let uidplus = self.shared.config.caps.uidplus;
        let quota = self.shared.config.limits.quota_bytes;
        let stats = self.shared.stats.clone();
        let (login, _) = self.login_mut();
        let result = login.account.mailboxes().append(&name, messages, quota);
        let reply = match result {
            Ok((uidvalidity, first, last)) => {
                stats.appended(count);
                if !uidplus {
                    Reply::Ok("Append completed.".into())
                } else if first == last {
                    Reply::Ok(format!(
                        "[APPENDUID {uidvalidity} {first}] Append completed."
                    ))
                } else {
                    Reply::Ok(format!(
                        "[APPENDUID {uidvalidity} {first}:{last}] Append completed."
                    ))
                }
            }
            Err(FolderError::NoSelect) => Reply::No("[CANNOT] Mailbox is not selectable.".into()),
            Err(FolderError::OverQuota) => {
                Reply::No("[OVERQUOTA] Quota exceeded (mailbox for user is full)".into())
            }
            Err(_) => Reply::No("[TRYCREATE] Mailbox doesn't exist.".into()),
        };
        self.refresh_exists(out);
        Ok(reply)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;

    fn msgs(uids: &[u32]) -> Vec<StoredMessage> {
        uids.iter()
            .map(|&uid| StoredMessage {
                uid,
                flags: vec![],
                internaldate: chrono::Local::now().fixed_offset(),
                body: Bytes::new(),
            })
            .collect()
    }

    fn set(s: &'static str) -> SequenceSet {
        Cursor::new(Bytes::from_static(s.as_bytes()))
            .sequence_set()
            .unwrap()
    }

    #[test]
    fn uid_sets_pick_existing_uids() {
        let m = msgs(&[2, 5, 9, 10]);
        assert_eq!(uid_indices(&m, &set("1:*")), vec![0, 1, 2, 3]);
        assert_eq!(uid_indices(&m, &set("5,9:10,3")), vec![1, 2, 3]);
        assert_eq!(uid_indices(&m, &set("100:*")), vec![3]);
        assert_eq!(uid_indices(&m, &set("*")), vec![3]);
        assert!(uid_indices(&[], &set("1:*")).is_empty());
    }

    #[test]
    fn sequence_sets_must_exist() {
        assert_eq!(seq_indices(3, &set("2:*")).unwrap(), vec![1, 2]);
        assert!(seq_indices(3, &set("4")).is_err());
        assert!(seq_indices(0, &set("1:*")).is_err());
    }
}
