//! `cutover init`: the two files a migration starts from, a mailbox list with the seed's columns
//! and a commented settings file written from the CLI's own flags.

use crate::args::InitArgs;
use crate::settings::BadInput;
use anyhow::Context;
use std::path::Path;

/// The mailbox list template: the seed's columns (guide 3.5.6.3) and one example row per access
/// form of the list itself: its own password, a root folder, a renamed target.
pub const USERS_TEMPLATE: &str = "\
SourceIdentity,SourceServer,SourceLoginID,SourcePassword,TargetIdentity,SourceRootFolder
joe@old.example.com,,joe,joe's password,joe@new.example.com,
ann@old.example.com,imaps://other-mail.example.com,ann,ann's password,ann.smith@new.example.com,
bob@old.example.com,,bob,bob's password,,Archive/bob
";

/// Writes `users.csv` and `cutover.toml` into `args.dir`; refuses to overwrite without `--force`.
pub fn run(args: &InitArgs, command: &clap::Command) -> anyhow::Result<bool> {
    std::fs::create_dir_all(&args.dir)
        .with_context(|| format!("cannot create --dir {}", args.dir.display()))?;
    let files = [
        ("users.csv", USERS_TEMPLATE.to_string()),
        ("cutover.toml", crate::config_file::template(command)),
    ];
    for (name, _) in &files {
        let path = args.dir.join(name);
        if path.exists() && !args.force {
            return Err(BadInput {
                problems: vec![format!(
                    "{} exists; give --force to overwrite it",
                    path.display()
                )],
            }
            .into());
        }
    }
    for (name, text) in &files {
        let path = args.dir.join(name);
        std::fs::write(&path, text).with_context(|| format!("cannot write {}", path.display()))?;
    }
    let shown = |name: &str| Path::new(&args.dir).join(name).display().to_string();
    println!(
        "wrote {} and {}\n\
         next:\n  \
         1. list the mailboxes in {} (Excel: save as \"CSV UTF-8\")\n  \
         2. set the servers and the admin in {}; put the admin's password alone in the file it names \
         (chmod 600)\n  \
         3. cutover check --config {}    logs in to every mailbox, changes nothing\n  \
         4. cutover migrate --config {}",
        shown("users.csv"),
        shown("cutover.toml"),
        shown("users.csv"),
        shown("cutover.toml"),
        shown("cutover.toml"),
        shown("cutover.toml"),
    );
    Ok(true)
}
