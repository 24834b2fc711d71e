//! Folder commands: LIST, LSUB, SUBSCRIBE, UNSUBSCRIBE, CREATE, SELECT, EXAMINE, STATUS.

use std::collections::BTreeSet;
use std::fmt::Write;

use super::command_parser::{Cursor, PResult};
use super::mailbox_list;
use super::mutf7;
use super::response::OutBuf;
use super::session::{Login, Reply, Selection, Session, State};
use super::store::FolderError;

const SYSTEM_FLAGS: &str = "\\Answered \\Flagged \\Deleted \\Seen \\Draft";

impl Session {
    /// The logged-in user and the selection; callers have checked the state.
    pub(crate) fn login_mut(&mut self) -> (&mut Login, &mut Option<Selection>) {
        match &mut self.state {
            State::Authenticated(login, sel) => (login, sel),
            State::NotAuthenticated => unreachable!("state checked by dispatch"),
        }
    }

    fn mailbox_arg(c: &mut Cursor) -> PResult<String> {
        c.sp()?;
        Ok(Self::mailbox_name(&c.astring()?))
    }

    /// LIST and LSUB, with RFC 5258 selection `(SPECIAL-USE)` and `RETURN (...)` tolerated.
    pub(crate) fn list(&mut self, lsub: bool, c: &mut Cursor, out: &mut OutBuf) -> PResult<Reply> {
        c.sp()?;
        let mut special_only = false;
        if !lsub && c.peek() == Some(b'(') {
            special_only = c.atom_list()?.iter().any(|o| o == "SPECIAL-USE");
            c.sp()?;
        }
        let reference = Self::mailbox_name(&c.astring()?);
        c.sp()?;
        let pattern = Self::mailbox_name(&c.list_mailbox()?);
        if !lsub && c.eat(b' ') {
            if c.keyword()? != "RETURN" {
                return Ok(Reply::Bad("Expected RETURN".into()));
            }
            c.sp()?;
            c.atom_list()?;
        }
        c.end()?;
        let word = if lsub { "LSUB" } else { "LIST" };
        let delimiter = self.delimiter();
        let show_special = self.shared.config.caps.special_use;
        if pattern.is_empty() && !lsub {
            let _ = write!(out, "* LIST (\\Noselect) ");
            out.string(delimiter.to_string().as_bytes());
            out.put(b" \"\"\r\n");
            return Ok(Reply::Ok("List completed.".into()));
        }
        let full = format!("{reference}{pattern}");
        let (login, _) = self.login_mut();
        let listed = {
            let mb = login.account.mailboxes();
            mailbox_list::list(&mb, &full, delimiter, lsub, special_only, show_special)
        };
        for l in listed {
            let _ = write!(out, "* {word} ({}) ", l.attributes.join(" "));
            out.string(delimiter.to_string().as_bytes());
            out.put(b" ");
            out.string(mutf7::encode(&l.name).as_bytes());
            out.put(b"\r\n");
        }
        Ok(Reply::Ok(format!(
            "{} completed.",
            if lsub { "Lsub" } else { "List" }
        )))
    }

    /// SUBSCRIBE / UNSUBSCRIBE an existing folder.
    pub(crate) fn subscribe(&mut self, on: bool, c: &mut Cursor) -> PResult<Reply> {
        let name = Self::mailbox_arg(c)?;
        c.end()?;
        let (login, _) = self.login_mut();
        let mut mb = login.account.mailboxes();
        let key = mb.normalize(&name);
        Ok(match mb.folders.get_mut(&key) {
            Some(f) => {
                f.subscribed = on;
                Reply::Ok(format!(
                    "{} completed.",
                    if on { "Subscribe" } else { "Unsubscribe" }
                ))
            }
            None => Reply::No("[NONEXISTENT] Mailbox doesn't exist.".into()),
        })
    }

    /// CREATE, with missing parents created as real folders.
    pub(crate) fn create(&mut self, c: &mut Cursor) -> PResult<Reply> {
        let name = Self::mailbox_arg(c)?;
        c.end()?;
        let (login, _) = self.login_mut();
        let mut mb = login.account.mailboxes();
        Ok(match mb.create(&name, None, true, true) {
            Ok(()) => Reply::Ok("Create completed.".into()),
            Err(FolderError::Exists) => Reply::No("[ALREADYEXISTS] Mailbox already exists.".into()),
            Err(_) => Reply::No("[CANNOT] Invalid mailbox name.".into()),
        })
    }

    /// SELECT / EXAMINE.
    pub(crate) fn select(
        &mut self,
        read_only: bool,
        c: &mut Cursor,
        out: &mut OutBuf,
    ) -> PResult<Reply> {
        let name = Self::mailbox_arg(c)?;
        c.end()?;
        let (login, selection) = self.login_mut();
        *selection = None;
        let mut mb = login.account.mailboxes();
        let key = mb.normalize(&name);
        let folder = match mb.selectable(&key) {
            Ok(f) => f,
            Err(FolderError::NoSelect) => {
                return Ok(Reply::No("[CANNOT] Mailbox is not selectable.".into()))
            }
            Err(_) => return Ok(Reply::No("[NONEXISTENT] Mailbox doesn't exist.".into())),
        };
        let keywords: BTreeSet<&str> = folder
            .messages
            .iter()
            .flat_map(|m| m.flags.iter())
            .filter(|f| !f.starts_with('\\'))
            .map(String::as_str)
            .collect();
        let keywords: String = keywords.iter().map(|k| format!(" {k}")).collect();
        let exists = folder.messages.len() as u32;
        let _ = write!(out, "* FLAGS ({SYSTEM_FLAGS}{keywords})\r\n");
        let permanent = if read_only {
            String::new()
        } else {
            format!("{SYSTEM_FLAGS}{keywords} \\*")
        };
        let _ = write!(
            out,
            "* OK [PERMANENTFLAGS ({permanent})] Flags permitted.\r\n"
        );
        let _ = write!(out, "* {exists} EXISTS\r\n* 0 RECENT\r\n");
        let first_unseen = folder
            .messages
            .iter()
            .position(|m| !m.flags.iter().any(|f| f.eq_ignore_ascii_case("\\Seen")));
        if let Some(i) = first_unseen {
            let _ = write!(out, "* OK [UNSEEN {}] First unseen.\r\n", i + 1);
        }
        let _ = write!(
            out,
            "* OK [UIDVALIDITY {}] UIDs valid\r\n",
            folder.uidvalidity
        );
        let _ = write!(
            out,
            "* OK [UIDNEXT {}] Predicted next UID\r\n",
            folder.uidnext
        );
        drop(mb);
        *selection = Some(Selection {
            name: key,
            read_only,
            exists,
        });
        Ok(Reply::Ok(format!(
            "[{}] {} completed.",
            if read_only { "READ-ONLY" } else { "READ-WRITE" },
            if read_only { "Examine" } else { "Select" }
        )))
    }

    /// STATUS with MESSAGES, RECENT, UIDNEXT, UIDVALIDITY, UNSEEN.
    pub(crate) fn status(&mut self, c: &mut Cursor, out: &mut OutBuf) -> PResult<Reply> {
        c.sp()?;
        let raw = c.astring()?;
        let name = Self::mailbox_name(&raw);
        c.sp()?;
        let items = c.atom_list()?;
        c.end()?;
        let (login, _) = self.login_mut();
        let mut mb = login.account.mailboxes();
        let folder = match mb.selectable(&name) {
            Ok(f) => f,
            Err(FolderError::NoSelect) => {
                return Ok(Reply::No("[CANNOT] Mailbox is not selectable.".into()))
            }
            Err(_) => return Ok(Reply::No("[NONEXISTENT] Mailbox doesn't exist.".into())),
        };
        let mut parts = Vec::new();
        for item in &items {
            let value = match item.as_str() {
                "MESSAGES" => folder.messages.len() as u64,
                "RECENT" => 0,
                "UIDNEXT" => u64::from(folder.uidnext),
                "UIDVALIDITY" => u64::from(folder.uidvalidity),
                "UNSEEN" => folder.unseen() as u64,
                _ => return Ok(Reply::Bad(format!("Unknown STATUS item {item}"))),
            };
            parts.push(format!("{item} {value}"));
        }
        drop(mb);
        out.put(b"* STATUS ");
        out.string(&raw);
        let _ = write!(out, " ({})\r\n", parts.join(" "));
        Ok(Reply::Ok("Status completed.".into()))
    }
}
