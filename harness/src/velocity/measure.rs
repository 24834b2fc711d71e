//! Runs measured client processes: wall time, CPU time (user + system) and peak RSS.
//!
//! Each measured process runs under a small wrapper, this binary re-run with
//! [`WRAPPER_ARG`]: the wrapper spawns the client, waits for it, and writes the client's
//! `getrusage(RUSAGE_CHILDREN)` to a file. A fresh wrapper has reaped nothing else, so the
//! figures are exactly the client's (and its own children's), peak RSS included, which a
//! delta of the runner's own `RUSAGE_CHILDREN` could not give (`ru_maxrss` is a maximum over
//! every child ever reaped, Dovecot included).
//!
//! Invariants: every wrapper leads its own process group, killed whole on timeout, failure,
//! interruption or drop; a wrapper whose parent dies kills its client and exits.

use std::ffi::OsString;
use std::fs;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use serde::{Deserialize, Serialize};

/// The first argument that makes the benchmark binary act as the wrapper.
pub const WRAPPER_ARG: &str = "__measure-child";
/// How often waits poll for exits.
const POLL: Duration = Duration::from_millis(10);
/// Lines of a failed client's log shown in the error.
const LOG_TAIL_LINES: usize = 40;

/// What one client process used, as its wrapper measured it.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct ProcessUsage {
    /// User CPU time, in seconds.
    pub user_s: f64,
    /// System CPU time, in seconds.
    pub sys_s: f64,
    /// Peak resident set size, in KiB.
    pub max_rss_kib: u64,
    /// The exit code; `None` if a signal ended it.
    pub exit_code: Option<i32>,
}

/// What a group of client processes, started together, used.
#[derive(Debug, Clone, PartialEq)]
pub struct GroupUsage {
    /// From the first start to the last exit.
    pub wall: Duration,
    /// One entry per process, in the order given.
    pub processes: Vec<ProcessUsage>,
}

impl GroupUsage {
    /// User CPU seconds of all processes.
    pub fn user_s(&self) -> f64 {
        self.processes.iter().map(|p| p.user_s).sum()
    }

    /// System CPU seconds of all processes.
    pub fn sys_s(&self) -> f64 {
        self.processes.iter().map(|p| p.sys_s).sum()
    }

    /// The sum of the processes' peaks, in KiB: an upper bound of their memory at once.
    pub fn rss_sum_kib(&self) -> u64 {
        self.processes.iter().map(|p| p.max_rss_kib).sum()
    }

    /// The largest single process's peak, in KiB.
    pub fn rss_max_kib(&self) -> u64 {
        self.processes
            .iter()
            .map(|p| p.max_rss_kib)
            .max()
            .unwrap_or(0)
    }
}

/// A client process to run and measure.
#[derive(Debug, Clone)]
pub struct MeasuredCommand {
    /// What the errors call it (`mbsync user03`).
    pub label: String,
    /// The program.
    pub program: PathBuf,
    /// Its arguments.
    pub args: Vec<OsString>,
    /// Where its stdout and stderr go (appended).
    pub log: PathBuf,
}

/// Starts every command at once, waits for all, and returns what they used.
///
/// Fails (after killing the others) as soon as one exits unsuccessfully, when `timeout`
/// passes, or when `interrupted` becomes true. `scratch` holds the wrappers' usage files.
pub fn run_measured(
    commands: &[MeasuredCommand],
    scratch: &Path,
    timeout: Duration,
    interrupted: &AtomicBool,
) -> anyhow::Result<GroupUsage> {
    let wrapper = std::env::current_exe().context("locating the benchmark binary")?;
    let started = Instant::now();
    let mut running = Vec::with_capacity(commands.len());
    for (index, command) in commands.iter().enumerate() {
        let usage_file = scratch.join(format!("usage-{index}.json"));
        let _ = fs::remove_file(&usage_file);
        let log = fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&command.log)
            .with_context(|| format!("opening {}", command.log.display()))?;
        let child = Command::new(&wrapper)
            .arg(WRAPPER_ARG)
            .arg(&usage_file)
            .arg(&command.program)
            .args(&command.args)
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log)
            .process_group(0)
            .spawn()
            .with_context(|| format!("starting {}", command.label))?;
        running.push(Running {
            child,
            usage_file,
            exited: None,
        });
    }
    let deadline = started + timeout;
    let mut last_exit = started;
    loop {
        let mut all_done = true;
        for (running, command) in running.iter_mut().zip(commands) {
            if running.exited.is_some() {
                continue;
            }
            match running.child.try_wait()? {
                Some(status) => {
                    running.exited = Some(status);
                    last_exit = Instant::now();
                    if !status.success() {
                        bail!(
                            "{} failed ({status}); log {}:\n{}",
                            command.label,
                            command.log.display(),
                            log_tail(&command.log)
                        );
                    }
                }
                None => all_done = false,
            }
        }
        if all_done {
            break;
        }
        if interrupted.load(Ordering::Relaxed) {
            bail!("interrupted");
        }
        if Instant::now() >= deadline {
            bail!(
                "timed out after {timeout:?}; logs next to {}",
                commands[0].log.display()
            );
        }
        std::thread::sleep(POLL);
    }
    let mut processes = Vec::with_capacity(running.len());
    for (running, command) in running.iter().zip(commands) {
        let text = fs::read_to_string(&running.usage_file)
            .with_context(|| format!("no usage written for {}", command.label))?;
        processes.push(serde_json::from_str(&text).context("parsing a usage file")?);
    }
    Ok(GroupUsage {
        wall: last_exit - started,
        processes,
    })
}

/// A started wrapper; dropping it kills its process group if it has not exited.
struct Running {
    child: Child,
    usage_file: PathBuf,
    exited: Option<std::process::ExitStatus>,
}

impl Drop for Running {
    fn drop(&mut self) {
        if self.exited.is_some() {
            return;
        }
        if let Some(group) = i32::try_from(self.child.id())
            .ok()
            .and_then(rustix::process::Pid::from_raw)
        {
            let _ = rustix::process::kill_process_group(group, rustix::process::Signal::KILL);
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The wrapper: `args` are what follows [`WRAPPER_ARG`]: the usage file, the program and its
/// arguments. Returns the exit code to exit with.
pub fn wrapper_main(args: &[OsString]) -> i32 {
    match wrap(args) {
        Ok(code) => code,
        Err(error) => {
            eprintln!("measure wrapper: {error:#}");
            125
        }
    }
}

fn wrap(args: &[OsString]) -> anyhow::Result<i32> {
    let [usage_file, program, rest @ ..] = args else {
        bail!("usage: {WRAPPER_ARG} USAGE_FILE PROGRAM [ARGS...]");
    };
    let parent = rustix::process::getppid();
    let mut child = Command::new(program)
        .args(rest)
        .spawn()
        .with_context(|| format!("starting {}", Path::new(program).display()))?;
    let status = loop {
        if let Some(status) = child.try_wait()? {
            break status;
        }
        if rustix::process::getppid() != parent {
            // The runner is gone: do not leave its client running.
            let _ = child.kill();
            let _ = child.wait();
            bail!("the benchmark runner exited");
        }
        std::thread::sleep(POLL);
    };
    let usage = nix::sys::resource::getrusage(nix::sys::resource::UsageWho::RUSAGE_CHILDREN)
        .context("getrusage")?;
    let seconds = |t: nix::sys::time::TimeVal| t.tv_sec() as f64 + t.tv_usec() as f64 / 1e6;
    let measured = ProcessUsage {
        user_s: seconds(usage.user_time()),
        sys_s: seconds(usage.system_time()),
        // Linux reports ru_maxrss in KiB.
        max_rss_kib: u64::try_from(usage.max_rss()).unwrap_or(0),
        exit_code: status.code(),
    };
    fs::write(usage_file, serde_json::to_vec(&measured)?)
        .with_context(|| format!("writing {}", Path::new(usage_file).display()))?;
    Ok(status.code().unwrap_or(128))
}

/// The last lines of a log file.
pub fn log_tail(path: &Path) -> String {
    let text = fs::read_to_string(path).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(LOG_TAIL_LINES)..].join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn usage(user_s: f64, sys_s: f64, max_rss_kib: u64) -> ProcessUsage {
        ProcessUsage {
            user_s,
            sys_s,
            max_rss_kib,
            exit_code: Some(0),
        }
    }

    #[test]
    fn group_sums_cpu_and_memory() {
        let group = GroupUsage {
            wall: Duration::from_secs(2),
            processes: vec![usage(1.0, 0.5, 100), usage(2.0, 0.25, 300)],
        };
        assert_eq!(group.user_s(), 3.0);
        assert_eq!(group.sys_s(), 0.75);
        assert_eq!(group.rss_sum_kib(), 400);
        assert_eq!(group.rss_max_kib(), 300);
    }

    #[test]
    fn log_tail_keeps_the_last_lines() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("log");
        let text: String = (0..100).map(|i| format!("line {i}\n")).collect();
        fs::write(&path, text).unwrap();
        let tail = log_tail(&path);
        assert!(tail.starts_with("line 60"));
        assert!(tail.ends_with("line 99"));
    }
}
