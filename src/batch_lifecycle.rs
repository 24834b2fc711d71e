//! A `cutover migrate` run as a pass of a batch in the state file: the batch is created (with its
//! settings) on its first run, the list's mailboxes are put into it, Completed mailboxes are left
//! out unless reopened, and after the pass the batch's status follows its mailboxes
//! ([`batch_status`]).
//!
//! The rules:
//! - A batch's name is `--batch`, else the mailbox list's file name without its extension
//!   (`wave1.csv` is batch `wave1`). Its settings (the non-secret flags, as JSON) are those of its
//!   first run.
//! - While a pass runs the batch is Syncing (Completing for `--complete`); afterwards it is as
//!   bad as its worst mailbox: Failed, else Stopped, else Synced (Completed after `--complete`)
//!   when every mailbox is.
//! - A Completed mailbox is skipped (and said so) unless `--reopen`; a Completed batch runs again
//!   only with `--reopen`. A plain pass refuses a batch whose final pass is unfinished
//!   (Completing): only `--complete` finishes it.

use crate::args::MigrateArgs;
use cutover_engine::state::{batch_status, StateDb, StateStore, Status, StopReason};
use cutover_engine::MailboxJob;

/// The batch of a run, as validated from the flags.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BatchPlan {
    /// Its name in the state file.
    pub name: String,
    /// The run's non-secret flags, as JSON: recorded when the batch is created.
    pub settings: String,
    /// `--complete`: this is the final pass.
    pub final_pass: bool,
    /// `--reopen`: Completed mailboxes (and batch) run again.
    pub reopen: bool,
}

impl BatchPlan {
    /// The batch of `args`; `None` with `--no-state` (no file to keep it in).
    pub fn from_args(args: &MigrateArgs) -> Result<Option<Self>, String> {
        if args.no_state {
            let needs_state = [
                (args.batch.is_some(), "--batch"),
                (args.complete, "--complete"),
                (args.reopen, "--reopen"),
            ];
            return match needs_state.iter().find(|(given, _)| *given) {
                Some((_, flag)) => Err(format!(
                    "{flag} needs the state file, which --no-state turns off"
                )),
                None => Ok(None),
            };
        }
        let name = match &args.batch {
            Some(name) => name.trim().to_string(),
            None => args
                .users
                .file_stem()
                .map(|s| s.to_string_lossy().into_owned())
                .unwrap_or_default(),
        };
        if name.is_empty() {
            return Err(format!(
                "--batch: no batch name (and none from the list's file name {})",
                args.users.display()
            ));
        }
        Ok(Some(BatchPlan {
            name,
            settings: settings_json(args),
            final_pass: args.complete,
            reopen: args.reopen,
        }))
    }
}

/// The non-secret flags of a run, as the batch's recorded settings. Passwords never reach
/// `MigrateArgs` (they come from files or the environment), and the password file's path is
/// left out as well.
fn settings_json(args: &MigrateArgs) -> String {
    let path = |p: &Option<std::path::PathBuf>| p.as_ref().map(|p| p.display().to_string());
    let t = &args.tuning;
    serde_json::json!({
        "users": args.users.display().to_string(),
        "source": args.source,
        "dest": args.dest,
        "source_access": format!("{:?}", args.source_access.source_access),
        "source_admin": args.source_access.source_admin,
        "dest_access": args.dest_access.dest_access.map(|m| format!("{m:?}")),
        "dest_admin": args.dest_access.dest_admin,
        "dest_login_form": args.dest_access.dest_login_form.map(|f| format!("{f:?}")),
        "parallel": args.parallel,
        "folder_map": path(&args.mapping.folder_map),
        "directory": path(&args.mapping.directory),
        "rewrite_domain": args.mapping.rewrite_domain,
        "keep_original_addresses": args.mapping.keep_original_addresses,
        "no_identity_rewrite": args.mapping.no_identity_rewrite,
        "include_folder": args.mapping.include_folder,
        "exclude_folder": args.mapping.exclude_folder,
        "since": args.mapping.since,
        "before": args.mapping.before,
        "max_message_size": args.mapping.max_message_size,
        "include_deleted": args.mapping.include_deleted,
        "compress": format!("{:?}", t.compress),
        "source_connections": t.source_connections,
        "dest_connections": t.dest_connections,
        "bytes_in_flight_mib": t.bytes_in_flight_mib,
        "run_bytes_in_flight_mib": t.run_bytes_in_flight_mib,
        "append_mode": format!("{:?}", t.append_mode),
    })
    .to_string()
}

/// What [`begin`] decided: the jobs to run and the Completed mailboxes left out.
#[derive(Debug)]
pub struct Begun {
    /// The mailboxes this pass copies, in list order.
    pub jobs: Vec<MailboxJob>,
    /// The list identities of Completed mailboxes this pass skips.
    pub skipped: Vec<String>,
    /// The batch's status when the pass starts (what it stays when there is nothing to run).
    pub status: Status,
}

/// Why a pass cannot start: said to the operator as bad input (nothing was started).
#[derive(Debug)]
pub struct Refused(pub String);

/// Creates or joins the batch, leaves out (or reopens) Completed mailboxes, and moves the batch to
/// Syncing or Completing when there is anything to run.
pub async fn begin(
    store: &StateStore,
    plan: &BatchPlan,
    jobs: Vec<MailboxJob>,
) -> anyhow::Result<Result<Begun, Refused>> {
    let plan = plan.clone();
    store
        .call(move |db| Ok(begin_blocking(db, &plan, jobs)))
        .await?
}

fn begin_blocking(
    db: &mut StateDb,
    plan: &BatchPlan,
    jobs: Vec<MailboxJob>,
) -> anyhow::Result<Result<Begun, Refused>> {
    let now = chrono::Utc::now();
    let keys: Vec<String> = jobs.iter().map(MailboxJob::state_key).collect();
    let key_refs: Vec<&str> = keys.iter().map(String::as_str).collect();
    let batch = match db.batch(&plan.name)? {
        None => {
            db.create_batch(&plan.name, &plan.settings, &key_refs, now)?;
            db.batch(&plan.name)?.expect("just created")
        }
        Some(batch) => batch,
    };
    let mut run = Vec::new();
    let mut skipped = Vec::new();
    for (job, key) in jobs.into_iter().zip(&keys) {
        let status = db.mailbox_state(key)?.map(|m| m.status);
        match status {
            Some(Status::Completed) if !plan.reopen => skipped.push(job.id),
            Some(Status::Completing) if !plan.final_pass => {
                return Ok(Err(Refused(format!(
                    "mailbox {} is completing: its final pass did not finish; run \
                     `cutover migrate --complete` to finish it",
                    job.id
                ))))
            }
            _ => run.push((job, status == Some(Status::Completed))),
        }
    }
    if batch.status == Status::Completing && !plan.final_pass {
        return Ok(Err(Refused(format!(
            "batch {} is completing: its final pass did not finish; run `cutover migrate \
             --complete` to finish it",
            plan.name
        ))));
    }
    if run.is_empty() {
        return Ok(Ok(Begun {
            jobs: Vec::new(),
            skipped,
            status: batch.status,
        }));
    }
    if batch.status == Status::Completed {
        if !plan.reopen {
            return Ok(Err(Refused(format!(
                "batch {} is completed and mailbox {} of the list is not: pass --reopen to run \
                 the batch again, or name another --batch",
                plan.name, run[0].0.id
            ))));
        }
        db.reopen_batch(&plan.name, now)?;
    }
    db.add_to_batch(&plan.name, &key_refs, now)?;
    for (job, completed) in &run {
        if *completed {
            db.reopen_mailbox(&job.state_key(), now)?;
        }
    }
    let running = match plan.final_pass {
        true => Status::Completing,
        false => Status::Syncing,
    };
    db.set_batch_status(&plan.name, running.clone(), now)?;
    Ok(Ok(Begun {
        jobs: run.into_iter().map(|(job, _)| job).collect(),
        skipped,
        status: running,
    }))
}

/// After the pass: the batch's status from its mailboxes' ([`batch_status`]; Stopped by the
/// operator after Ctrl-C, since the mailboxes not started kept their old status), recorded and
/// returned.
pub async fn end(
    store: &StateStore,
    plan: &BatchPlan,
    interrupted: bool,
) -> anyhow::Result<Status> {
    let plan = plan.clone();
    let status = store
        .call(move |db| {
            let batch = db
                .batch(&plan.name)?
                .ok_or_else(|| cutover_engine::state::Error::Unknown(plan.name.clone()))?;
            let mut statuses = Vec::with_capacity(batch.mailboxes.len());
            for name in &batch.mailboxes {
                statuses.extend(db.mailbox_state(name)?.map(|m| m.status));
            }
            let status = match interrupted {
                true => Status::Stopped(StopReason::Operator),
                false => batch_status(&statuses, plan.final_pass),
            };
            db.set_batch_status(&plan.name, status.clone(), chrono::Utc::now())?;
            Ok(status)
        })
        .await?;
    Ok(status)
}

/// The lines printed after the summary: the batch's status and the mailboxes skipped.
pub fn render_end(plan: &BatchPlan, status: &Status, skipped: &[String]) -> String {
    let mut out = format!("batch {}: {status}\n", plan.name);
    if !skipped.is_empty() {
        out.push_str(&format!(
            "{} completed mailbox(es) not copied again (--reopen copies them): {}\n",
            skipped.len(),
            skipped.join(", ")
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::args::{Cli, Command};
    use clap::Parser;

    fn args(extra: &[&str]) -> MigrateArgs {
        let mut argv = vec![
            "cutover",
            "migrate",
            "--users",
            "lists/wave1.csv",
            "--dest",
            "imaps://dst.example",
            "--dest-admin",
            "admin",
            "--dest-admin-password-file",
            "secret/admin.pw",
        ];
        argv.extend_from_slice(extra);
        match Cli::try_parse_from(argv).unwrap().command {
            Command::Migrate(m) => m,
            _ => unreachable!("the command line is a migrate"),
        }
    }

    #[test]
    fn the_batch_is_named_after_the_list_unless_named() {
        let plan = BatchPlan::from_args(&args(&[])).unwrap().unwrap();
        assert_eq!(plan.name, "wave1");
        assert!(!plan.final_pass && !plan.reopen);
        let plan = BatchPlan::from_args(&args(&["--batch", "sales", "--complete"]))
            .unwrap()
            .unwrap();
        assert_eq!(plan.name, "sales");
        assert!(plan.final_pass);
    }

    #[test]
    fn settings_hold_the_flags_but_no_password_file() {
        let plan = BatchPlan::from_args(&args(&["--parallel", "7"]))
            .unwrap()
            .unwrap();
        let json: serde_json::Value = serde_json::from_str(&plan.settings).unwrap();
        assert_eq!(json["parallel"], 7);
        assert_eq!(json["dest"], "imaps://dst.example");
        assert!(!plan.settings.contains("admin.pw"), "{}", plan.settings);
    }

    #[test]
    fn batch_flags_without_a_state_file_are_refused() {
        assert_eq!(BatchPlan::from_args(&args(&["--no-state"])).unwrap(), None);
        let err = BatchPlan::from_args(&args(&["--no-state", "--complete"])).unwrap_err();
        assert_eq!(
            err,
            "--complete needs the state file, which --no-state turns off"
        );
    }
}
