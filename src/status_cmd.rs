//! `cutover status`: reads a state file (read-only, so it works while a migration writes to it)
//! and shows every batch and mailbox: status with its reason, what was copied, when it last
//! synced, what is left of a stopped mailbox. A table for a terminal, `--json` for scripts.

use crate::settings::BadInput;
use crate::status_table::{self, BatchView, Left, MailboxView, StatusView};
use cutover_engine::state::{MailboxState, StateDb};
use std::path::{Path, PathBuf};

/// Flags of `cutover status`.
#[derive(Debug, Clone, clap::Args)]
pub struct StatusArgs {
    /// The state file `cutover migrate --state` writes.
    #[arg(long, value_name = "FILE", default_value = "cutover-state.sqlite")]
    pub state: PathBuf,

    /// Print JSON instead of the table.
    #[arg(long)]
    pub json: bool,
}

/// Prints the status; `Ok(true)` once printed. A missing or unreadable state file is bad input.
pub fn run(args: &StatusArgs) -> anyhow::Result<bool> {
    let view = read(&args.state)?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&view)?);
    } else {
        print!("{}", status_table::render(&view));
    }
    Ok(true)
}

/// Everything `status` shows, read from the file at `path` without writing to it.
fn read(path: &Path) -> anyhow::Result<StatusView> {
    if !path.exists() {
        return Err(BadInput {
            problems: vec![format!(
                "--state: no state file at {} (cutover migrate --state writes one)",
                path.display()
            )],
        }
        .into());
    }
    let db = StateDb::open_read_only(path).map_err(|e| BadInput {
        problems: vec![format!("--state: {e}")],
    })?;
    let mailbox = |m: &MailboxState| -> anyhow::Result<MailboxView> {
        let copied = db.copied_totals(&m.name)?;
        Ok(MailboxView {
            name: m.name.clone(),
            status: m.status.name(),
            reason: m.status.reason().map(str::to_string),
            status_at: m.status_at,
            last_synced: m.last_synced,
            copied_messages: copied.messages,
            copied_bytes: copied.bytes,
            left: m
                .leftover
                .as_ref()
                .filter(|_| matches!(m.status, cutover_engine::state::Status::Stopped(_)))
                .map(|l| Left {
                    messages: l.messages,
                    bytes: l.bytes,
                    oldest_copied: l.oldest_copied,
                }),
        })
    };
    let mailboxes = db.mailboxes()?;
    let mut batches = Vec::new();
    for b in db.batches()? {
        let members = mailboxes
            .iter()
            .filter(|m| m.batch.as_deref() == Some(b.name.as_str()))
            .map(mailbox)
            .collect::<anyhow::Result<Vec<_>>>()?;
        batches.push(BatchView {
            name: b.name.clone(),
            status: b.status.name(),
            reason: b.status.reason().map(str::to_string),
            status_at: b.status_at,
            settings: serde_json::from_str(&b.settings).unwrap_or(serde_json::Value::Null),
            mailboxes: members,
        });
    }
    let unbatched = mailboxes
        .iter()
        .filter(|m| m.batch.is_none())
        .map(mailbox)
        .collect::<anyhow::Result<Vec<_>>>()?;
    Ok(StatusView {
        state_file: path.display().to_string(),
        batches,
        unbatched,
    })
}
