//! RFC 2087 QUOTA: one quota root `""` per user, its STORAGE in KiB, from
//! [`Limits::quota_bytes`](super::Limits::quota_bytes). Without a quota the root has no
//! resources, as Dovecot answers for an unlimited user.

use std::fmt::Write;

use super::command_parser::{Cursor, PResult};
use super::response::OutBuf;
use super::session::{Reply, Session};

impl Session {
    /// GETQUOTAROOT mailbox.
    pub(crate) fn getquotaroot(&mut self, c: &mut Cursor, out: &mut OutBuf) -> PResult<Reply> {
        c.sp()?;
        let raw = c.astring()?;
        c.end()?;
        let name = Self::mailbox_name(&raw);
        let (login, _) = self.login_mut();
        if login.account.mailboxes().selectable(&name).is_err() {
            return Ok(Reply::No("[NONEXISTENT] Mailbox doesn't exist.".into()));
        }
        out.put(b"* QUOTAROOT ");
        out.string(&raw);
        out.put(b" \"\"\r\n");
        self.quota_line(out);
        Ok(Reply::Ok("Getquotaroot completed.".into()))
    }

    /// GETQUOTA root: only the user's root `""` exists.
    pub(crate) fn getquota(&mut self, c: &mut Cursor, out: &mut OutBuf) -> PResult<Reply> {
        c.sp()?;
        let root = c.astring()?;
        c.end()?;
        if !root.is_empty() {
            return Ok(Reply::No("Quota root does not exist".into()));
        }
        self.quota_line(out);
        Ok(Reply::Ok("Getquota completed.".into()))
    }

    fn quota_line(&mut self, out: &mut OutBuf) {
        let limit = self.shared.config.limits.quota_bytes;
        let (login, _) = self.login_mut();
        let used = login.account.mailboxes().used_bytes();
        match limit {
            Some(limit) => {
                let _ = write!(
                    out,
                    "* QUOTA \"\" (STORAGE {} {})\r\n",
                    used.div_ceil(1024),
                    limit / 1024
                );
            }
            None => out.put(b"* QUOTA \"\" ()\r\n"),
        }
    }
}
