//! The measured rows, the ratios between them, and their table, CSV and JSON forms. Pure:
//! nothing here measures anything, so every figure printed comes from a run.
//!
//! Units: MB is 10^6 bytes of message data (RFC822.SIZE sum); RSS is in MiB.

use serde::Serialize;

/// Scenario names, as printed and as `--only` matches them.
pub mod names {
    /// cutover, default append mode (MULTIAPPEND), loopback.
    pub const CUTOVER: &str = "cutover";
    /// cutover, pipelined LITERAL+ single APPENDs.
    pub const CUTOVER_PIPELINED: &str = "cutover --append-mode pipelined";
    /// cutover, one synchronizing APPEND at a time.
    pub const CUTOVER_ONE_AT_A_TIME: &str = "cutover --append-mode one-at-a-time";
    /// cutover with COMPRESS=DEFLATE.
    pub const CUTOVER_COMPRESS: &str = "cutover --compress on";
    /// mbsync without COMPRESS, one process per mailbox.
    pub const MBSYNC: &str = "mbsync";
    /// mbsync with COMPRESS=DEFLATE.
    pub const MBSYNC_COMPRESS: &str = "mbsync +compress";
    /// cutover, default mode, through the delay proxy.
    pub const CUTOVER_RTT: &str = "cutover @rtt";
    /// mbsync without COMPRESS, through the delay proxy.
    pub const MBSYNC_RTT: &str = "mbsync @rtt";
}

/// One measured scenario.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ScenarioResult {
    /// The scenario name (see [`names`]).
    pub scenario: String,
    /// Which round of `--repeat` (1 for the first).
    pub round: usize,
    /// Round trip added in front of the destination, in ms (0: loopback).
    pub rtt_ms: u64,
    /// Messages copied (verified at the destination).
    pub messages: u64,
    /// Bytes of message data copied.
    pub bytes: u64,
    /// Wall time, first process start to last exit, in seconds.
    pub seconds: f64,
    /// Client user CPU, all processes, in seconds.
    pub cpu_user_s: f64,
    /// Client system CPU, all processes, in seconds.
    pub cpu_sys_s: f64,
    /// Client processes run.
    pub processes: usize,
    /// CPU the source Dovecot spent during the run (all its processes), in seconds.
    pub source_cpu_s: f64,
    /// CPU the destination Dovecot spent during the run, in seconds.
    pub dest_cpu_s: f64,
    /// Sum of the processes' peak RSS, in MiB.
    pub peak_rss_mib: f64,
    /// The largest single process's peak RSS, in MiB.
    pub peak_rss_mib_max_process: f64,
    /// What the run reported about itself (append framing, COMPRESS), if anything.
    pub detail: String,
}

impl ScenarioResult {
    /// Messages per second.
    pub fn msgs_per_s(&self) -> f64 {
        per_second(self.messages as f64, self.seconds)
    }

    /// MB (10^6 bytes) per second.
    pub fn mb_per_s(&self) -> f64 {
        per_second(self.bytes as f64 / 1e6, self.seconds)
    }

    /// Client CPU seconds, user + system.
    pub fn cpu_s(&self) -> f64 {
        self.cpu_user_s + self.cpu_sys_s
    }

    /// Client CPU milliseconds per 1,000 messages.
    pub fn cpu_ms_per_1000(&self) -> f64 {
        per_1000(self.cpu_s(), self.messages)
    }

    /// Server CPU (source + destination) milliseconds per 1,000 messages: what the copy costs
    /// the servers, which on loopback is what limits the rate.
    pub fn server_cpu_ms_per_1000(&self) -> f64 {
        per_1000(self.source_cpu_s + self.dest_cpu_s, self.messages)
    }
}

fn per_1000(cpu_s: f64, messages: u64) -> f64 {
    if messages == 0 {
        return 0.0;
    }
    cpu_s * 1000.0 * 1000.0 / messages as f64
}

fn per_second(amount: f64, seconds: f64) -> f64 {
    if seconds > 0.0 {
        amount / seconds
    } else {
        0.0
    }
}

/// A comparison of two scenarios' message rates.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Ratio {
    /// What is compared.
    pub name: String,
    /// The scenario on top.
    pub numerator: String,
    /// The scenario below.
    pub denominator: String,
    /// numerator msgs/s divided by denominator msgs/s.
    pub value: f64,
}

/// The median of sorted values (the mean of the middle two for an even count).
fn median(sorted: &[f64]) -> f64 {
    let n = sorted.len();
    if n % 2 == 1 {
        sorted[n / 2]
    } else {
        (sorted[n / 2 - 1] + sorted[n / 2]) / 2.0
    }
}

/// The ratios the benchmark reports, for those pairs whose scenarios both ran; with several
/// rounds, of each scenario's median rate.
pub fn ratios(results: &[ScenarioResult]) -> Vec<Ratio> {
    use names::*;
    let pairs = [
        ("cutover default vs mbsync", CUTOVER, MBSYNC),
        ("cutover at rtt vs cutover loopback", CUTOVER_RTT, CUTOVER),
        ("mbsync at rtt vs mbsync loopback", MBSYNC_RTT, MBSYNC),
        ("cutover vs mbsync, both at rtt", CUTOVER_RTT, MBSYNC_RTT),
        (
            "pipelined vs one-at-a-time",
            CUTOVER_PIPELINED,
            CUTOVER_ONE_AT_A_TIME,
        ),
        ("multiappend vs pipelined", CUTOVER, CUTOVER_PIPELINED),
    ];
    let rate = |name: &str| {
        let mut rates: Vec<f64> = results
            .iter()
            .filter(|r| r.scenario == name)
            .map(ScenarioResult::msgs_per_s)
            .collect();
        rates.sort_by(f64::total_cmp);
        (!rates.is_empty()).then(|| median(&rates))
    };
    pairs
        .iter()
        .filter_map(|(label, top, bottom)| {
            let (top_rate, bottom_rate) = (rate(top)?, rate(bottom)?);
            (bottom_rate > 0.0).then(|| Ratio {
                name: (*label).to_owned(),
                numerator: (*top).to_owned(),
                denominator: (*bottom).to_owned(),
                value: top_rate / bottom_rate,
            })
        })
        .collect()
}

const COLUMNS: usize = 13;

const HEADER: [&str; COLUMNS] = [
    "scenario",
    "rtt ms",
    "messages",
    "MB",
    "seconds",
    "msgs/s",
    "MB/s",
    "client CPU s",
    "CPU ms/1k msgs",
    "server CPU s (src+dst)",
    "server ms/1k msgs",
    "peak RSS MiB",
    "procs",
];

/// The table's cells for one row.
fn cells(r: &ScenarioResult, rounds: bool) -> [String; COLUMNS] {
    [
        if rounds {
            format!("{} #{}", r.scenario, r.round)
        } else {
            r.scenario.clone()
        },
        r.rtt_ms.to_string(),
        r.messages.to_string(),
        format!("{:.1}", r.bytes as f64 / 1e6),
        format!("{:.2}", r.seconds),
        format!("{:.0}", r.msgs_per_s()),
        format!("{:.1}", r.mb_per_s()),
        format!("{:.2}", r.cpu_s()),
        format!("{:.0}", r.cpu_ms_per_1000()),
        format!("{:.1}+{:.1}", r.source_cpu_s, r.dest_cpu_s),
        format!("{:.0}", r.server_cpu_ms_per_1000()),
        format!("{:.1}", r.peak_rss_mib),
        r.processes.to_string(),
    ]
}

/// The results and ratios as an aligned text table (Markdown-compatible).
pub fn table(results: &[ScenarioResult], ratios: &[Ratio]) -> String {
    let rounds = results.iter().any(|r| r.round > 1);
    let rows: Vec<[String; COLUMNS]> = results.iter().map(|r| cells(r, rounds)).collect();
    let mut widths = HEADER.map(str::len);
    for row in &rows {
        for (width, cell) in widths.iter_mut().zip(row) {
            *width = (*width).max(cell.chars().count());
        }
    }
    let line = |cells: &[String]| {
        let padded: Vec<String> = cells
            .iter()
            .zip(widths)
            .enumerate()
            .map(|(i, (cell, width))| {
                if i == 0 {
                    format!("{cell:<width$}")
                } else {
                    format!("{cell:>width$}")
                }
            })
            .collect();
        format!("| {} |\n", padded.join(" | "))
    };
    let mut out = line(&HEADER.map(str::to_owned));
    let rule: String = widths
        .iter()
        .enumerate()
        .map(|(i, w)| {
            if i == 0 {
                format!("{}|", "-".repeat(w + 2))
            } else {
                format!("{}:|", "-".repeat(w + 1))
            }
        })
        .collect();
    out.push_str(&format!("|{rule}\n"));
    for row in &rows {
        out.push_str(&line(row));
    }
    let details: Vec<&ScenarioResult> = results
        .iter()
        .filter(|r| !r.detail.is_empty() && r.round == 1)
        .collect();
    if !details.is_empty() {
        out.push('\n');
        for r in details {
            out.push_str(&format!("{}: {}\n", r.scenario, r.detail));
        }
    }
    if !ratios.is_empty() {
        out.push_str(if rounds {
            "\nRatios (median msgs/s over the rounds):\n"
        } else {
            "\nRatios (msgs/s):\n"
        });
        for ratio in ratios {
            out.push_str(&format!(
                "  {:<38} {:>6.2}x   ({} / {})\n",
                ratio.name, ratio.value, ratio.numerator, ratio.denominator
            ));
        }
    }
    out
}

/// The results as CSV, one row per scenario, with derived columns.
pub fn csv(results: &[ScenarioResult]) -> String {
    let mut out = String::from(
        "scenario,round,rtt_ms,messages,bytes,seconds,msgs_per_s,mb_per_s,cpu_user_s,cpu_sys_s,\
         cpu_ms_per_1000_msgs,source_cpu_s,dest_cpu_s,server_cpu_ms_per_1000_msgs,peak_rss_mib,\
         peak_rss_mib_max_process,processes,detail\n",
    );
    for r in results {
        out.push_str(&format!(
            "{},{},{},{},{},{:.3},{:.1},{:.2},{:.3},{:.3},{:.1},{:.3},{:.3},{:.1},{:.1},{:.1},{},{}\n",
            csv_field(&r.scenario),
            r.round,
            r.rtt_ms,
            r.messages,
            r.bytes,
            r.seconds,
            r.msgs_per_s(),
            r.mb_per_s(),
            r.cpu_user_s,
            r.cpu_sys_s,
            r.cpu_ms_per_1000(),
            r.source_cpu_s,
            r.dest_cpu_s,
            r.server_cpu_ms_per_1000(),
            r.peak_rss_mib,
            r.peak_rss_mib_max_process,
            r.processes,
            csv_field(&r.detail),
        ));
    }
    out
}

fn csv_field(text: &str) -> String {
    if text.contains([',', '"', '\n']) {
        format!("\"{}\"", text.replace('"', "\"\""))
    } else {
        text.to_owned()
    }
}

/// A row with its derived figures, for the JSON file.
#[derive(Debug, Serialize)]
struct JsonRow<'a> {
    #[serde(flatten)]
    result: &'a ScenarioResult,
    msgs_per_s: f64,
    mb_per_s: f64,
    cpu_s: f64,
    cpu_ms_per_1000_msgs: f64,
    server_cpu_ms_per_1000_msgs: f64,
}

/// The whole run as JSON: `setup` (what was run, on what), results with derived figures,
/// ratios.
pub fn json(
    setup: serde_json::Value,
    results: &[ScenarioResult],
    ratios: &[Ratio],
) -> serde_json::Value {
    let rows: Vec<JsonRow<'_>> = results
        .iter()
        .map(|result| JsonRow {
            result,
            msgs_per_s: result.msgs_per_s(),
            mb_per_s: result.mb_per_s(),
            cpu_s: result.cpu_s(),
            cpu_ms_per_1000_msgs: result.cpu_ms_per_1000(),
            server_cpu_ms_per_1000_msgs: result.server_cpu_ms_per_1000(),
        })
        .collect();
    serde_json::json!({ "setup": setup, "results": rows, "ratios": ratios })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(scenario: &str, messages: u64, seconds: f64) -> ScenarioResult {
        ScenarioResult {
            scenario: scenario.to_owned(),
            round: 1,
            rtt_ms: 0,
            messages,
            bytes: messages * 50_000,
            seconds,
            cpu_user_s: 1.5,
            cpu_sys_s: 0.5,
            processes: 1,
            source_cpu_s: 0.75,
            dest_cpu_s: 1.25,
            peak_rss_mib: 40.0,
            peak_rss_mib_max_process: 40.0,
            detail: String::new(),
        }
    }

    #[test]
    fn derived_figures() {
        let r = row("cutover", 2_000, 4.0);
        assert_eq!(r.msgs_per_s(), 500.0);
        assert_eq!(r.mb_per_s(), 25.0);
        assert_eq!(r.cpu_s(), 2.0);
        assert_eq!(r.cpu_ms_per_1000(), 1000.0);
        assert_eq!(r.server_cpu_ms_per_1000(), 1000.0);
        assert_eq!(row("x", 0, 0.0).msgs_per_s(), 0.0);
    }

    #[test]
    fn ratios_only_for_pairs_that_ran() {
        let results = [
            row(names::CUTOVER, 1000, 2.0),
            row(names::MBSYNC, 1000, 8.0),
        ];
        let ratios = ratios(&results);
        assert_eq!(ratios.len(), 1);
        assert_eq!(ratios[0].name, "cutover default vs mbsync");
        assert_eq!(ratios[0].value, 4.0);
    }

    #[test]
    fn ratios_use_the_median_of_the_rounds() {
        let mut results = Vec::new();
        for (round, seconds) in [(1, 2.0), (2, 1.0), (3, 10.0)] {
            let mut r = row(names::CUTOVER, 1000, seconds);
            r.round = round;
            results.push(r);
        }
        results.push(row(names::MBSYNC, 1000, 4.0));
        // cutover: 100, 500, 1000 msgs/s: median 500; mbsync 250.
        assert_eq!(ratios(&results)[0].value, 2.0);
        let text = table(&results, &ratios(&results));
        assert!(text.contains("cutover #3"), "{text}");
        assert!(text.contains("median"), "{text}");
    }

    #[test]
    fn table_aligns_and_lists_ratios() {
        let results = [
            row(names::CUTOVER, 1000, 2.0),
            row(names::MBSYNC, 1000, 8.0),
        ];
        let text = table(&results, &ratios(&results));
        let widths: Vec<usize> = text.lines().take(4).map(|l| l.chars().count()).collect();
        assert!(widths.windows(2).all(|w| w[0] == w[1]), "{text}");
        assert!(text.contains("4.00x"), "{text}");
    }

    #[test]
    fn csv_quotes_fields_with_commas() {
        let mut r = row(names::CUTOVER, 10, 1.0);
        r.detail = "framing multiappend, compress off".to_owned();
        let text = csv(&[r]);
        assert_eq!(text.lines().count(), 2);
        assert!(text.ends_with(",\"framing multiappend, compress off\"\n"));
    }

    #[test]
    fn json_has_derived_figures() {
        let results = [row(names::CUTOVER, 1000, 2.0)];
        let value = json(serde_json::json!({"seed": 1}), &results, &[]);
        assert_eq!(value["results"][0]["msgs_per_s"], 500.0);
        assert_eq!(value["results"][0]["scenario"], "cutover");
        assert_eq!(value["setup"]["seed"], 1);
    }
}
