//! The benchmark's command line: a handful of flags, parsed by hand (the harness has no clap).

use std::path::{Path, PathBuf};
use std::time::Duration;

/// What `dovecot-velocity` was asked to do.
#[derive(Debug, Clone, PartialEq)]
pub struct Options {
    /// Mailboxes (users) in the corpus, copied in parallel.
    pub mailboxes: usize,
    /// Messages per mailbox.
    pub messages: usize,
    /// Seed of the generated corpus.
    pub seed: u64,
    /// Round trip added in front of the destination for the slow-link scenarios, in ms.
    pub rtt_ms: u64,
    /// Where the table, JSON, CSV, logs and reports go.
    pub out: PathBuf,
    /// The smoke run: 2 mailboxes of 300 messages.
    pub quick: bool,
    /// Rounds: every selected scenario runs once per round, rounds one after another, so noise
    /// on a shared machine falls on all scenarios alike; ratios use each scenario's median.
    pub repeat: usize,
    /// Longest one scenario may run before it is killed.
    pub timeout: Duration,
    /// Where the Dovecot servers keep their files: `/dev/shm` (tmpfs) where it exists, else the
    /// system temp dir. On a disk, every scenario's deleted mail makes the next one's file
    /// creation dearer (ext4 skips recently deleted inodes), which biases later scenarios.
    pub server_dir: Option<PathBuf>,
    /// The cutover binary; default: `cutover` next to this binary.
    pub cutover: Option<PathBuf>,
    /// Run only these scenarios: a whole name selects that one, other text every name containing
    /// it (empty: all).
    pub only: Vec<String>,
}

impl Default for Options {
    /// 8 mailboxes of 2,500 messages, seed 1, 40 ms round trip, out `target/velocity`,
    /// one hour per scenario.
    fn default() -> Self {
        Options {
            mailboxes: 8,
            messages: 2_500,
            seed: 1,
            rtt_ms: 40,
            out: PathBuf::from("target/velocity"),
            quick: false,
            repeat: 1,
            timeout: Duration::from_secs(3600),
            server_dir: Path::new("/dev/shm")
                .is_dir()
                .then(|| PathBuf::from("/dev/shm")),
            cutover: None,
            only: Vec::new(),
        }
    }
}

/// The usage text.
pub const USAGE: &str = "\
usage: dovecot-velocity [--mailboxes 8] [--messages 2500] [--seed 1] [--rtt-ms 40]
                        [--out target/velocity] [--quick] [--repeat 1] [--timeout-s 3600]
                        [--server-dir /dev/shm|temp|DIR] [--cutover PATH] [--only NAME]...

Copies one generated corpus from a source Dovecot to a fresh destination Dovecot per scenario
(cutover in each append mode, mbsync with and without COMPRESS, and both through a delay proxy),
measures wall time, client CPU and peak RSS, verifies the destination, and prints a table.
--server-dir: where the servers keep mail (default /dev/shm, tmpfs, where it exists: on a disk each
scenario's deleted mail makes the next one's file creation dearer; `temp`: the system temp dir).
--repeat N: N rounds of all selected scenarios (interleaved); ratios use the medians.
--quick: 2 mailboxes x 300 messages. --only NAME: that scenario, or those containing NAME.
scripts/bench-dovecot installs dovecot-imapd and isync, builds, and runs this.";

impl Options {
    /// Parses the arguments after the program name; `Ok(None)` for `--help`.
    pub fn parse(args: impl IntoIterator<Item = String>) -> Result<Option<Options>, String> {
        let mut options = Options::default();
        let mut args = args.into_iter();
        while let Some(flag) = args.next() {
            let (name, inline) = match flag.split_once('=') {
                Some((name, value)) if name.starts_with("--") => {
                    (name.to_owned(), Some(value.to_owned()))
                }
                _ => (flag.clone(), None),
            };
            let mut value = || {
                inline
                    .clone()
                    .or_else(|| args.next())
                    .ok_or_else(|| format!("{name} needs a value"))
            };
            match name.as_str() {
                "--help" | "-h" => return Ok(None),
                "--quick" => options.quick = true,
                "--repeat" => options.repeat = number(&name, &value()?)?,
                "--mailboxes" => options.mailboxes = number(&name, &value()?)?,
                "--messages" => options.messages = number(&name, &value()?)?,
                "--seed" => options.seed = number(&name, &value()?)?,
                "--rtt-ms" => options.rtt_ms = number(&name, &value()?)?,
                "--timeout-s" => options.timeout = Duration::from_secs(number(&name, &value()?)?),
                "--out" => options.out = PathBuf::from(value()?),
                "--server-dir" => {
                    let dir = value()?;
                    options.server_dir = (dir != "temp").then(|| PathBuf::from(dir));
                }
                "--cutover" => options.cutover = Some(PathBuf::from(value()?)),
                "--only" => options.only.push(value()?),
                other => return Err(format!("unknown argument {other:?}\n\n{USAGE}")),
            }
        }
        if options.quick {
            options.mailboxes = 2;
            options.messages = 300;
        }
        if options.mailboxes == 0 || options.mailboxes > 99 {
            return Err("--mailboxes must be between 1 and 99".to_owned());
        }
        if options.repeat == 0 {
            return Err("--repeat must be at least 1".to_owned());
        }
        if options.messages == 0 {
            return Err("--messages must be at least 1".to_owned());
        }
        Ok(Some(options))
    }

    /// Whether `--only` selects the scenario `name`, out of `all` scenario names: a value that
    /// is a whole scenario name selects just that one, any other value every name containing it.
    pub fn selects(&self, name: &str, all: &[&str]) -> bool {
        self.only.is_empty()
            || self.only.iter().any(|part| {
                if all.contains(&part.as_str()) {
                    name == part
                } else {
                    name.contains(part.as_str())
                }
            })
    }
}

fn number<T: std::str::FromStr>(name: &str, value: &str) -> Result<T, String> {
    value
        .parse()
        .map_err(|_| format!("{name}: {value:?} is not a number"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Result<Option<Options>, String> {
        Options::parse(args.iter().map(|a| a.to_string()))
    }

    #[test]
    fn defaults_are_the_full_run() {
        let options = parse(&[]).unwrap().unwrap();
        assert_eq!(options, Options::default());
        assert_eq!((options.mailboxes, options.messages), (8, 2_500));
    }

    #[test]
    fn flags_take_separate_or_inline_values() {
        let options = parse(&["--mailboxes", "3", "--messages=40", "--rtt-ms", "10"])
            .unwrap()
            .unwrap();
        assert_eq!(
            (options.mailboxes, options.messages, options.rtt_ms),
            (3, 40, 10)
        );
    }

    #[test]
    fn quick_overrides_the_size() {
        let options = parse(&["--mailboxes", "5", "--quick"]).unwrap().unwrap();
        assert_eq!((options.mailboxes, options.messages), (2, 300));
    }

    #[test]
    fn errors_name_the_flag() {
        assert!(parse(&["--messages", "x"])
            .unwrap_err()
            .contains("--messages"));
        assert!(parse(&["--seed"]).unwrap_err().contains("needs a value"));
        assert!(parse(&["--bogus"])
            .unwrap_err()
            .contains("unknown argument"));
        assert!(parse(&["--help"]).unwrap().is_none());
    }

    #[test]
    fn only_selects_by_whole_name_else_by_substring() {
        let all = ["cutover", "cutover @rtt", "mbsync", "mbsync +compress"];
        let options = parse(&["--only", "mbsync"]).unwrap().unwrap();
        assert!(options.selects("mbsync", &all));
        assert!(!options.selects("mbsync +compress", &all));
        let options = parse(&["--only", "rtt"]).unwrap().unwrap();
        assert!(options.selects("cutover @rtt", &all));
        assert!(!options.selects("cutover", &all));
        assert!(Options::default().selects("cutover", &all));
    }
}
