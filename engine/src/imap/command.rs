//! Commands whose outcome we must see: LIST, LSUB and FETCH.
//!
//! async-imap's FETCH and LIST streams end at the tagged completion whatever it says, so a `NO`
//! (a message the server cannot read, a throttled scan, a listing cut short) looks like success
//! with fewer results, and mail would be left behind without a word. These helpers send the
//! command through the session and read every response themselves: the tagged status is checked,
//! and each response (not the whole command) races the timeout, so a long listing or a large
//! FETCH fails only when it stops making progress.

use super::connect::{bounded_text, imap_err, read_error, Session};
use crate::error::{Error, Result};
use crate::plan::folders::ListedFolder;
use chrono::{DateTime, FixedOffset};
use imap_proto::{AttributeValue, MailboxDatum, NameAttribute, Response, Status, StatusAttribute};
use std::time::Duration;

/// Sends `command` and hands every untagged response to `each`, until the command's tagged
/// completion: `Ok` for OK, [`Error::Command`] for NO or BAD. `label` names the command in
/// errors (it must not hold anything secret). An error from `each` ends the wait (the session is
/// then mid-command and must not be reused).
pub async fn run_checked(
    session: &mut Session,
    server: &str,
    command: &str,
    label: &str,
    timeout: Duration,
    mut each: impl FnMut(&Response<'_>) -> Result<()>,
) -> Result<()> {
    let tag = match tokio::time::timeout(timeout, session.run_command(command)).await {
        Ok(r) => r.map_err(|e| imap_err(server, label, e))?,
        Err(_) => return Err(timed_out(server, label)),
    };
    loop {
        let response = match tokio::time::timeout(timeout, session.read_response()).await {
            Ok(Ok(Some(r))) => r,
            Ok(Ok(None)) => {
                return Err(imap_err(
                    server,
                    label,
                    async_imap::error::Error::ConnectionLost,
                ))
            }
            Ok(Err(source)) => return Err(read_error(server, label, source)),
            Err(_) => return Err(timed_out(server, label)),
        };
        match response.parsed() {
            Response::Done {
                tag: done,
                status,
                outcome,
            } if *done == tag => {
                return match status {
                    Status::Ok => Ok(()),
                    _ => Err(Error::Command {
                        server: server.to_string(),
                        command: label.to_string(),
                        message: outcome_text(outcome),
                    }),
                };
            }
            Response::Data {
                status: Status::Bye,
                outcome,
            } => return Err(bye(server, label, outcome)),
            other => each(other)?,
        }
    }
}

/// A completion's text with its response code as sent: imap-proto takes the codes it knows
/// (`[TRYCREATE]`, `[ALERT]`, ...) out of the text, and [`Error::disposition`] reads them.
/// Bounded like every server text we keep (see `bounded_text`).
pub fn outcome_text(outcome: &imap_proto::rfc3501::Outcome<'_>) -> String {
    use imap_proto::ResponseCode as C;
    let code = match &outcome.code {
        Some(C::TryCreate) => "[TRYCREATE] ",
        Some(C::Alert) => "[ALERT] ",
        Some(C::Parse) => "[PARSE] ",
        Some(C::BadCharset(_)) => "[BADCHARSET] ",
        Some(C::ReadOnly) => "[READ-ONLY] ",
        _ => "",
    };
    let text = outcome.information.as_deref().unwrap_or("refused");
    bounded_text(&format!("{code}{text}"))
}

/// The error for an untagged BYE during `label`: the server is closing the connection.
pub fn bye(server: &str, label: &str, outcome: &imap_proto::rfc3501::Outcome<'_>) -> Error {
    Error::Io {
        context: format!("{server}: {label}"),
        source: std::io::Error::new(
            std::io::ErrorKind::ConnectionAborted,
            format!("server said BYE: {}", outcome_text(outcome)),
        ),
    }
}

fn timed_out(server: &str, label: &str) -> Error {
    Error::Timeout {
        context: format!("{server}: {label}"),
    }
}

/// `LIST` or `LSUB` with `reference` and `pattern` as given (already quoted where needed).
pub async fn list(
    session: &mut Session,
    server: &str,
    verb: &str,
    reference_and_pattern: &str,
    timeout: Duration,
) -> Result<Vec<ListedFolder>> {
    let mut out = Vec::new();
    let command = format!("{verb} {reference_and_pattern}");
    run_checked(session, server, &command, verb, timeout, |r| {
        if let Response::MailboxData(MailboxDatum::List(data)) = r {
            out.push(ListedFolder {
                wire: data.name.to_string(),
                delimiter: data.delimiter.as_deref().and_then(|d| d.chars().next()),
                attributes: data.name_attributes.iter().map(attribute_text).collect(),
            });
        }
        Ok(())
    })
    .await?;
    Ok(out)
}

/// A folder's UIDVALIDITY and UIDNEXT, as STATUS gives them.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct FolderStatus {
    /// UIDVALIDITY, if the server gave it.
    pub uidvalidity: Option<u32>,
    /// UIDNEXT, if the server gave it.
    pub uidnext: Option<u32>,
}

/// UIDVALIDITY and UIDNEXT of each of `folders` (wire names). With LIST-STATUS (RFC 5819) one
/// `LIST "" "*" RETURN (STATUS ...)` answers for every folder in one round trip; otherwise one
/// STATUS per folder. A folder the answer leaves out is missing from the map.
pub async fn folder_status(
    session: &mut Session,
    server: &str,
    folders: &[String],
    list_status: bool,
    timeout: Duration,
) -> Result<std::collections::HashMap<String, FolderStatus>> {
    let mut out = std::collections::HashMap::new();
    if folders.is_empty() {
        return Ok(out);
    }
    let mut take = |r: &Response<'_>| {
        if let Response::MailboxData(MailboxDatum::Status { mailbox, status }) = r {
            let mut s = FolderStatus::default();
            for a in status {
                match a {
                    StatusAttribute::UidValidity(v) => s.uidvalidity = Some(*v),
                    StatusAttribute::UidNext(n) => s.uidnext = Some(*n),
                    _ => {}
                }
            }
            out.insert(mailbox.to_string(), s);
        }
        Ok(())
    };
    if list_status {
        let command = r#"LIST "" "*" RETURN (STATUS (UIDVALIDITY UIDNEXT))"#;
        run_checked(session, server, command, "LIST-STATUS", timeout, &mut take).await?;
    } else {
        for folder in folders {
            let command = format!(
                "STATUS {} (UIDVALIDITY UIDNEXT)",
                super::append_framing::quote(folder)
            );
            let label = format!("STATUS {folder}");
            run_checked(session, server, &command, &label, timeout, &mut take).await?;
        }
    }
    out.retain(|name, _| folders.contains(name));
    Ok(out)
}

fn attribute_text(a: &NameAttribute<'_>) -> String {
    match a {
        NameAttribute::NoInferiors => "\\Noinferiors".into(),
        NameAttribute::NoSelect => "\\Noselect".into(),
        NameAttribute::Marked => "\\Marked".into(),
        NameAttribute::Unmarked => "\\Unmarked".into(),
        NameAttribute::All => "\\All".into(),
        NameAttribute::Archive => "\\Archive".into(),
        NameAttribute::Drafts => "\\Drafts".into(),
        NameAttribute::Flagged => "\\Flagged".into(),
        NameAttribute::Junk => "\\Junk".into(),
        NameAttribute::Sent => "\\Sent".into(),
        NameAttribute::Trash => "\\Trash".into(),
        NameAttribute::Extension(s) => s.to_string(),
        other => format!("{other:?}"),
    }
}

/// What one FETCH response said about a message (only what was asked for is `Some`).
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct FetchedItem<'a> {
    /// `UID`.
    pub uid: Option<u32>,
    /// `RFC822.SIZE`.
    pub size: Option<u32>,
    /// `INTERNALDATE`, parsed; `None` if absent or unparsable.
    pub internaldate: Option<DateTime<FixedOffset>>,
    /// `FLAGS`, as text.
    pub flags: Option<Vec<String>>,
    /// `BODY[]` or `BODY[]<origin>`, also `RFC822`; `NIL` reads as absent.
    pub body: Option<&'a [u8]>,
    /// The `<origin>` of a partial `BODY[]<origin>`, as the server named it.
    pub body_origin: Option<u32>,
    /// A section other than the whole message (`BODY[HEADER.FIELDS (MESSAGE-ID)]`, ...).
    pub section: Option<&'a [u8]>,
}

/// The items of one `* n FETCH (...)` response.
pub fn fetched_item<'a>(attributes: &'a [AttributeValue<'a>]) -> FetchedItem<'a> {
    let mut item = FetchedItem::default();
    for a in attributes {
        match a {
            AttributeValue::Uid(u) => item.uid = Some(*u),
            AttributeValue::Rfc822Size(s) => item.size = Some(*s),
            AttributeValue::InternalDate(d) => item.internaldate = parse_internaldate(d),
            AttributeValue::Flags(f) => {
                item.flags = Some(f.iter().map(|s| s.to_string()).collect())
            }
            AttributeValue::BodySection {
                section: None,
                index,
                data: Some(data),
            } => {
                item.body = Some(data.as_ref());
                item.body_origin = *index;
            }
            AttributeValue::Rfc822(Some(data)) => item.body = Some(data.as_ref()),
            AttributeValue::BodySection {
                section: Some(_),
                data: Some(data),
                ..
            } => item.section = Some(data.as_ref()),
            _ => {}
        }
    }
    item
}

/// Parses an IMAP date-time (`" 1-Jan-2024 10:00:00 +0100"`, day possibly space-padded).
pub fn parse_internaldate(text: &str) -> Option<DateTime<FixedOffset>> {
    DateTime::parse_from_str(text.trim(), "%d-%b-%Y %H:%M:%S %z").ok()
}

/// `UID FETCH set items`, handing each message's items to `each`. Checked: a NO or BAD is an
/// error even when some messages were answered (they have been handed over already).
pub async fn uid_fetch(
    session: &mut Session,
    server: &str,
    set: &str,
    items: &str,
    label: &str,
    timeout: Duration,
    mut each: impl FnMut(FetchedItem<'_>) -> Result<()>,
) -> Result<()> {
    let command = format!("UID FETCH {set} {items}");
    run_checked(session, server, &command, label, timeout, |r| match r {
        Response::Fetch(_, attributes) => each(fetched_item(attributes)),
        _ => Ok(()),
    })
    .await
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::borrow::Cow;

    #[test]
    fn internaldate_with_padded_or_two_digit_day() {
        let d = parse_internaldate(" 1-Jan-2024 10:00:00 +0100").unwrap();
        assert_eq!(d.to_rfc3339(), "2024-01-01T10:00:00+01:00");
        let d = parse_internaldate("17-Jul-1996 02:44:25 -0700").unwrap();
        assert_eq!(d.to_rfc3339(), "1996-07-17T02:44:25-07:00");
        assert_eq!(parse_internaldate("yesterday"), None);
    }

    #[test]
    fn fetched_item_takes_what_was_sent() {
        let attributes = vec![
            AttributeValue::Uid(7),
            AttributeValue::Rfc822Size(42),
            AttributeValue::Flags(vec![Cow::Borrowed("\\Seen"), Cow::Borrowed("$Label1")]),
            AttributeValue::InternalDate(Cow::Borrowed("02-Feb-2020 03:04:05 +0000")),
            AttributeValue::BodySection {
                section: None,
                index: Some(0),
                data: Some(Cow::Borrowed(b"abc")),
            },
        ];
        let item = fetched_item(&attributes);
        assert_eq!(item.uid, Some(7));
        assert_eq!(item.size, Some(42));
        assert_eq!(item.flags.unwrap(), ["\\Seen", "$Label1"]);
        assert_eq!(
            item.internaldate.unwrap().to_rfc3339(),
            "2020-02-02T03:04:05+00:00"
        );
        assert_eq!(item.body, Some(&b"abc"[..]));
        assert_eq!(item.body_origin, Some(0));
        let nil = vec![AttributeValue::BodySection {
            section: None,
            index: None,
            data: None,
        }];
        assert_eq!(fetched_item(&nil).body, None);
    }
}
