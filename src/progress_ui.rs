//! Shows the engine's progress snapshots to the operator, on stderr.
//!
//! On a terminal: one indicatif bar per active mailbox (bytes, with message counts in the
//! message) under an overall bar of finished mailboxes. Otherwise (a log file, CI): a plain line
//! per mailbox at most every [`LINE_INTERVAL`], and one when it ends. `--quiet`: nothing.
//! The observer runs on the copier's tasks, so each update only takes a short lock and returns.

use cutover_engine::report::{Phase, Progress, ProgressObserver, ProgressSink};
use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};
use std::collections::HashMap;
use std::io::IsTerminal;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Least time between two plain progress lines of one mailbox.
pub const LINE_INTERVAL: Duration = Duration::from_secs(5);

/// How progress is shown.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Display {
    /// Live bars (stderr is a terminal).
    Bars,
    /// Rate-limited log lines.
    Lines,
    /// Nothing.
    Quiet,
}

impl Display {
    /// Bars on a terminal, lines otherwise, nothing when `quiet`.
    pub fn detect(quiet: bool) -> Self {
        if quiet {
            Display::Quiet
        } else if std::io::stderr().is_terminal() {
            Display::Bars
        } else {
            Display::Lines
        }
    }
}

/// The running display; [`ProgressUi::finish`] clears it before the summary is printed.
pub struct ProgressUi {
    sink: ProgressSink,
    bars: Option<Arc<Bars>>,
}

impl ProgressUi {
    /// A display for a run of `mailboxes` mailboxes.
    pub fn new(display: Display, mailboxes: usize) -> Self {
        match display {
            Display::Quiet => ProgressUi {
                sink: Arc::new(cutover_engine::report::NoProgress),
                bars: None,
            },
            Display::Lines => ProgressUi {
                sink: Arc::new(Lines::default()),
                bars: None,
            },
            Display::Bars => {
                let bars = Arc::new(Bars::new(mailboxes));
                ProgressUi {
                    sink: bars.clone(),
                    bars: Some(bars),
                }
            }
        }
    }

    /// The observer to hand to the engine.
    pub fn sink(&self) -> ProgressSink {
        self.sink.clone()
    }

    /// Removes the bars from the terminal.
    pub fn finish(self) {
        if let Some(bars) = self.bars {
            bars.overall.finish_and_clear();
            for (_, bar) in bars.active.lock().expect("progress lock").drain() {
                bar.finish_and_clear();
            }
            let _ = bars.multi.clear();
        }
    }
}

fn mb(bytes: u64) -> String {
    format!("{:.1} MB", bytes as f64 / 1e6)
}

fn counts(p: &Progress) -> String {
    let mut s = format!("{}/{} msgs", p.copied_messages, p.planned_messages);
    if p.failed_messages > 0 {
        s.push_str(&format!(", {} failed", p.failed_messages));
    }
    s
}

/// The line printed when a mailbox ends.
fn ended_line(p: &Progress) -> String {
    match p.phase {
        Phase::Failed => format!(
            "{}: stopped after {} messages ({}); see the summary",
            p.mailbox,
            p.copied_messages,
            mb(p.copied_bytes)
        ),
        _ => format!(
            "{}: done, {} ({}){}",
            p.mailbox,
            format_args!("{} messages", p.copied_messages),
            mb(p.copied_bytes),
            if p.failed_messages > 0 {
                format!(", {} not copied", p.failed_messages)
            } else {
                String::new()
            }
        ),
    }
}

/// Live bars on a terminal.
struct Bars {
    multi: MultiProgress,
    overall: ProgressBar,
    active: Mutex<HashMap<usize, ProgressBar>>,
    style: ProgressStyle,
}

impl Bars {
    fn new(mailboxes: usize) -> Self {
        let multi = MultiProgress::with_draw_target(ProgressDrawTarget::stderr());
        let overall = multi.add(ProgressBar::new(mailboxes as u64));
        overall.set_style(
            ProgressStyle::with_template("{elapsed_precise} mailboxes {pos}/{len} {wide_msg}")
                .expect("valid template"),
        );
        overall.enable_steady_tick(Duration::from_millis(500));
        let style = ProgressStyle::with_template(
            "{prefix:24!} [{bar:30}] {bytes:>10}/{total_bytes:<10} {binary_bytes_per_sec:>12} {msg}",
        )
        .expect("valid template")
        .progress_chars("=> ");
        Bars {
            multi,
            overall,
            active: Mutex::new(HashMap::new()),
            style,
        }
    }
}

impl ProgressObserver for Bars {
    fn update(&self, p: &Progress) {
        let mut active = self.active.lock().expect("progress lock");
        match p.phase {
            Phase::Queued => {}
            Phase::Planning | Phase::Copying => {
                let bar = active.entry(p.index).or_insert_with(|| {
                    let bar = self.multi.add(ProgressBar::new(0));
                    bar.set_style(self.style.clone());
                    bar.set_prefix(p.mailbox.clone());
                    bar
                });
                if p.phase == Phase::Planning {
                    bar.set_message("planning");
                } else {
                    bar.set_length(p.planned_bytes);
                    bar.set_position(p.copied_bytes);
                    bar.set_message(counts(p));
                }
            }
            Phase::Finished | Phase::Failed => {
                if let Some(bar) = active.remove(&p.index) {
                    bar.finish_and_clear();
                    self.multi.remove(&bar);
                }
                self.overall.inc(1);
                let _ = self.multi.println(ended_line(p));
            }
        }
    }
}

/// Plain lines for logs.
#[derive(Default)]
struct Lines {
    last: Mutex<HashMap<usize, Instant>>,
}

impl ProgressObserver for Lines {
    fn update(&self, p: &Progress) {
        let now = Instant::now();
        let line = match p.phase {
            Phase::Queued => return,
            Phase::Finished | Phase::Failed => {
                self.last.lock().expect("progress lock").remove(&p.index);
                ended_line(p)
            }
            Phase::Planning | Phase::Copying => {
                let mut last = self.last.lock().expect("progress lock");
                if last
                    .get(&p.index)
                    .is_some_and(|t| now.duration_since(*t) < LINE_INTERVAL)
                {
                    return;
                }
                last.insert(p.index, now);
                if p.phase == Phase::Planning {
                    format!("{}: planning", p.mailbox)
                } else {
                    format!(
                        "{}: copying, {}, {} of {}",
                        p.mailbox,
                        counts(p),
                        mb(p.copied_bytes),
                        mb(p.planned_bytes)
                    )
                }
            }
        };
        eprintln!("{line}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn progress(phase: Phase, failed: u64) -> Progress {
        Progress {
            index: 0,
            mailbox: "joe@a.com".into(),
            phase,
            planned_messages: 10,
            planned_bytes: 2_000_000,
            copied_messages: 4,
            copied_bytes: 1_000_000,
            failed_messages: failed,
        }
    }

    #[test]
    fn end_lines_say_how_it_went() {
        assert_eq!(
            ended_line(&progress(Phase::Finished, 0)),
            "joe@a.com: done, 4 messages (1.0 MB)"
        );
        assert_eq!(
            ended_line(&progress(Phase::Finished, 2)),
            "joe@a.com: done, 4 messages (1.0 MB), 2 not copied"
        );
        assert!(ended_line(&progress(Phase::Failed, 0)).starts_with("joe@a.com: stopped after 4"));
        assert_eq!(counts(&progress(Phase::Copying, 1)), "4/10 msgs, 1 failed");
    }
}
