//! The `cutover` command: `migrate` moves the mailboxes of a CSV list, `demo` shows it on
//! in-process servers, `assess` reads them beforehand, `bench` measures velocity against shaped
//! mock servers, `status` shows the batches and mailboxes of a state file, `verify` compares
//! the destination with the source. Exit status: 0 every message copied (or every mailbox
//! assessed, or matching), 1 something was not, 2 bad input.

mod access;
mod args;
mod assess;
mod assess_table;
mod batch_lifecycle;
mod bench;
mod budget_settings;
mod check_cmd;
mod config_file;
mod demo;
mod init_cmd;
mod migrate;
mod plan_cmd;
mod progress_ui;
mod report_file;
mod settings;
mod status_cmd;
mod status_table;
mod summary;
mod verify_cmd;

use args::{Cli, Command};
use clap::{CommandFactory, Parser};
use cutover_harness::velocity::measure::{self, WRAPPER_ARG};
use settings::{BadInput, MigrateSettings};
use std::process::ExitCode;

/// Exit status when every message was copied.
const EXIT_OK: u8 = 0;
/// Exit status when some mailbox or message was not copied, or the run itself failed.
const EXIT_INCOMPLETE: u8 = 1;
/// Exit status for input the run cannot start with.
const EXIT_BAD_INPUT: u8 = 2;
/// Exit status after Ctrl-C (128 + SIGINT, as shells report it).
const EXIT_INTERRUPTED: u8 = 130;

fn main() -> ExitCode {
    // `cutover bench` measures its client runs through this binary acting as a thin wrapper.
    let raw: Vec<std::ffi::OsString> = std::env::args_os().skip(1).collect();
    if raw.first().is_some_and(|a| a == WRAPPER_ARG) {
        return ExitCode::from(measure::wrapper_main(&raw[1..]).clamp(0, 255) as u8);
    }
    let argv = match config_file::expand(&Cli::command(), raw) {
        Ok(argv) => argv,
        Err(problem) => {
            return bad_input(&BadInput {
                problems: vec![problem],
            })
        }
    };
    let cli = Cli::parse_from(std::iter::once(std::ffi::OsString::from("cutover")).chain(argv));
    init_logging();
    // Every connection is a file descriptor: a batch of thousands of mailboxes at 8 connections
    // each outgrows the usual soft limit of 1,024 long before the hard limit.
    match cutover_harness::open_files::raise_to_hard() {
        Ok(limit) => tracing::debug!(?limit, "open-files limit"),
        Err(e) => tracing::warn!(error = %e, "could not raise the open-files limit"),
    }
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(r) => r,
        Err(e) => {
            eprintln!("cutover: cannot start the runtime: {e}");
            return ExitCode::from(EXIT_INCOMPLETE);
        }
    };
    let outcome = match cli.command {
        Command::Migrate(args) => {
            match MigrateSettings::from_args(&args, |name| std::env::var(name).ok()) {
                Ok(settings) => runtime.block_on(migrate::run(settings)),
                Err(bad) => return bad_input(&bad),
            }
        }
        Command::Demo(args) => runtime.block_on(demo::run(args)),
        Command::Bench(args) => runtime.block_on(bench::run(args)),
        Command::Assess(args) => {
            match assess::AssessSettings::from_args(&args, |name| std::env::var(name).ok()) {
                Ok(settings) => runtime.block_on(assess::run(settings)),
                Err(bad) => return bad_input(&bad),
            }
        }
        Command::Check(args) => {
            match check_cmd::CheckSettings::from_args(&args, |name| std::env::var(name).ok()) {
                Ok(settings) => runtime.block_on(check_cmd::run(settings)),
                Err(bad) => return bad_input(&bad),
            }
        }
        Command::Verify(args) => {
            match verify_cmd::VerifySettings::from_args(&args, |name| std::env::var(name).ok()) {
                Ok(settings) => runtime.block_on(verify_cmd::run(settings)),
                Err(bad) => return bad_input(&bad),
            }
        }
        Command::Plan(args) => plan_cmd::run(args),
        Command::Status(args) => status_cmd::run(&args),
        Command::Init(args) => init_cmd::run(&args, &Cli::command()),
        Command::FolderMap(_) => {
            print!(
                "{}",
                cutover_engine::transform::folder_map::render_default()
            );
            Ok(true)
        }
    };
    match outcome {
        Ok(true) => ExitCode::from(EXIT_OK),
        Ok(false) => ExitCode::from(EXIT_INCOMPLETE),
        Err(e) if e.is::<migrate::Interrupted>() => ExitCode::from(EXIT_INTERRUPTED),
        Err(e) => match e.downcast_ref::<BadInput>() {
            Some(bad) => bad_input(bad),
            None => {
                eprintln!("cutover: {e:#}");
                ExitCode::from(EXIT_INCOMPLETE)
            }
        },
    }
}

fn bad_input(bad: &BadInput) -> ExitCode {
    for problem in &bad.problems {
        eprintln!("cutover: {problem}");
    }
    eprintln!("cutover: nothing was started");
    ExitCode::from(EXIT_BAD_INPUT)
}

/// Logs to stderr at the level of `RUST_LOG` (`warn`, `info`, `cutover_engine=debug,warn`, ...),
/// `warn` when unset or unreadable.
///
/// async-imap is held at `warn` whatever `RUST_LOG` says: at `trace` it logs every command it
/// sends, LOGIN and AUTHENTICATE with their passwords among them, and every byte received.
fn init_logging() {
    use tracing_subscriber::filter::{LevelFilter, Targets};
    use tracing_subscriber::prelude::*;
    let filter = std::env::var("RUST_LOG")
        .ok()
        .and_then(|v| v.parse::<Targets>().ok())
        .unwrap_or_else(|| Targets::new().with_default(LevelFilter::WARN))
        .with_target("async_imap", LevelFilter::WARN);
    tracing_subscriber::registry()
        .with(
            tracing_subscriber::fmt::layer()
                .with_writer(std::io::stderr)
                .with_filter(filter),
        )
        .init();
}
