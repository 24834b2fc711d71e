//! `corpus-tool`: writes a generated corpus to a zstd corpus file, and describes one.
//!
//! ```text
//! corpus-tool generate --out FILE [--seed N] [--mailboxes M] [--messages K]
//!                      [--median BYTES] [--mean BYTES] [--max BYTES]
//!                      [--attachment-share F] [--years Y]
//! corpus-tool stats FILE
//! ```
//! Unset options take [`CorpusSpec::default`]'s values. `fixtures/corpus/README.md` has the
//! command that made each committed fixture.

use std::process::ExitCode;
use std::str::FromStr;
use std::time::Instant;

use anyhow::{bail, Context};
use cutover_harness::corpus::{generate, Corpus, CorpusSpec, CorpusStats};

const USAGE: &str = "usage:
  corpus-tool generate --out FILE [--seed N] [--mailboxes M] [--messages K]
                       [--median BYTES] [--mean BYTES] [--max BYTES]
                       [--attachment-share F] [--years Y]
  corpus-tool stats FILE";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match run(&args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("corpus-tool: {e:#}\n{USAGE}");
            ExitCode::from(2)
        }
    }
}

fn run(args: &[String]) -> anyhow::Result<()> {
    match args.first().map(String::as_str) {
        Some("generate") => generate_file(&args[1..]),
        Some("stats") => {
            let [path] = &args[1..] else {
                bail!("stats takes one FILE");
            };
            let start = Instant::now();
            let corpus = Corpus::read_zst(path)?;
            println!(
                "{path}: loaded in {:.2} s\nspec: {:?}\n{}",
                start.elapsed().as_secs_f64(),
                corpus.spec,
                CorpusStats::measure(&corpus)
            );
            Ok(())
        }
        Some("-h" | "--help") => {
            println!("{USAGE}");
            Ok(())
        }
        _ => bail!("expected a subcommand"),
    }
}

/// `generate`: parses the spec options, generates, writes, and prints what was written.
fn generate_file(args: &[String]) -> anyhow::Result<()> {
    let mut spec = CorpusSpec::default();
    let mut out = None;
    let mut args = args.iter();
    while let Some(flag) = args.next() {
        let value = args
            .next()
            .with_context(|| format!("{flag} needs a value"))?;
        match flag.as_str() {
            "--out" => out = Some(value.clone()),
            "--seed" => spec.seed = parse(flag, value)?,
            "--mailboxes" => spec.mailboxes = parse(flag, value)?,
            "--messages" => spec.messages_per_mailbox = parse(flag, value)?,
            "--median" => spec.median_size = parse(flag, value)?,
            "--mean" => spec.mean_size = parse(flag, value)?,
            "--max" => spec.max_size = parse(flag, value)?,
            "--attachment-share" => spec.attachment_share = parse(flag, value)?,
            "--years" => spec.years = parse(flag, value)?,
            _ => bail!("unknown option {flag}"),
        }
    }
    let Some(out) = out else {
        bail!("generate needs --out FILE");
    };
    let start = Instant::now();
    let corpus = generate(&spec);
    let generated = start.elapsed().as_secs_f64();
    corpus.write_zst(&out)?;
    let written = start.elapsed().as_secs_f64() - generated;
    let size = std::fs::metadata(&out)
        .with_context(|| format!("reading back {out}"))?
        .len();
    println!(
        "{out}: {:.2} MB compressed ({:.1}x), generated in {generated:.2} s, written in {written:.2} s\nspec: {spec:?}\n{}",
        size as f64 / 1e6,
        corpus.total_bytes() as f64 / size.max(1) as f64,
        CorpusStats::measure(&corpus)
    );
    Ok(())
}

/// Parses one option's value, naming the option if it does not parse.
fn parse<T: FromStr>(flag: &str, value: &str) -> anyhow::Result<T> {
    value
        .parse()
        .map_err(|_| anyhow::anyhow!("{flag}: cannot parse {value:?}"))
}
