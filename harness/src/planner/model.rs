//! The velocity model: how fast one mailbox moves, from measured benchmark runs.
//!
//! Form. One copy connection spends on each message
//! `t = a + b·size + c·rtt` seconds: `a` the per-message cost on both servers, `b` the
//! per-byte cost (TLS, parsing, the server writing it), `c` the share of a round trip each
//! message still pays on a pipelined connection (`1/c` is the effective pipeline depth, so RTT
//! costs little). A mailbox with `k` connections per side moves `k / t` messages per second,
//! at most the profile's per-user throttle (Exchange Online caps the commands of one user), after
//! a start-up of a few round trips (connect, log in, list folders; assumed, not fitted). The
//! link carries at most `efficiency · bandwidth`; sharing it among mailboxes is the schedule's job.
//!
//! Fitting. `a`, `b`, `c` come from the samples of the reference profile (the one with most
//! samples) by least squares on `t = mailboxes·connections / msgs_per_s`, solved exactly by the
//! normal equations over every subset of the three coefficients, keeping the best fit whose
//! coefficients are all `>= 0` (non-negative least squares for three unknowns). Samples that
//! carry their wall time and messages per mailbox (the bench writes both) fit the start-up with
//! them: `wall = s0 + s1·rtt + (N/k)·(a + b·size + c·rtt)`, five non-negative unknowns, so a
//! short run's start-up no longer inflates the per-message cost. Non-negative
//! coefficients are what make predictions monotone: a longer RTT or a bigger message is never
//! faster. Samples that ran near the link's speed (`mb_per_s·8 >= 50%` of `bandwidth_mbit`)
//! measure the link, not the servers: they set `efficiency` instead (their start-up taken out
//! when they carry a wall time). Samples of another profile
//! that run well below the reference's prediction (median ratio under 0.8) make that profile
//! throttled at their median per-mailbox rate.
//!
//! Defaults. Without measured samples the planner fits `fixtures/velocity/default-samples.json`,
//! written by hand from figures measured once (Dovecot on loopback: one mailbox, 2 connections,
//! ~800 msgs/s of ~75 KB; 0.90x of that at 40 ms RTT) and assumptions (Exchange Online throttled
//! to ~15 msgs/s per user). Runs of the velocity bench replace them: `cutover plan --velocity`.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::time::Duration;

/// The default samples, fitted when no measured ones are given.
const DEFAULT_SAMPLES: &str = include_str!("../../../fixtures/velocity/default-samples.json");

/// A sample ran at the link's speed when it moved at least this share of `bandwidth_mbit`
/// (the copy is store-and-forward per message, so a full link shows as ~70% on the bench).
const LINK_BOUND_SHARE: f64 = 0.5;
/// A profile is throttled when its samples run below this share of the reference's prediction.
const THROTTLED_RATIO: f64 = 0.8;
/// Share of a link's bandwidth that carries message bytes when no sample measured it (TCP, TLS
/// and IMAP framing take the rest).
const DEFAULT_LINK_EFFICIENCY: f64 = 0.9;
/// Round trips a mailbox spends before its first message: TCP and TLS handshakes, LOGIN,
/// CAPABILITY, LIST, and an EXAMINE and UID SEARCH per folder of a typical mailbox. An
/// assumption, used when the samples give throughput only; samples with wall times fit it.
pub const DEFAULT_SETUP_ROUND_TRIPS: f64 = 10.0;

/// One measured run of the velocity bench: what was moved, over what, and how fast.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct VelocitySample {
    /// The destination's behaviour (`dovecot`, `exchange-online`, `gmail`, `mock`, ...).
    pub profile: String,
    /// Round-trip time between the copier and the servers, in milliseconds.
    pub rtt_ms: f64,
    /// The shaped link's speed in Mbit/s, `None` when unshaped.
    pub bandwidth_mbit: Option<f64>,
    /// Mean size of the messages moved, in bytes.
    pub mean_message_bytes: f64,
    /// Mailboxes moved at the same time.
    pub mailboxes: u32,
    /// Connections per mailbox on each side (the engine's `--dest-connections`).
    pub connections_per_mailbox: u32,
    /// Messages per second of the whole run (all mailboxes together).
    pub msgs_per_s: f64,
    /// Megabytes (10^6 bytes) per second of the whole run.
    pub mb_per_s: f64,
    /// Messages each mailbox moved, when every mailbox of the run moved at once (then the
    /// run's wall time is each mailbox's time, start-up included).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub messages_per_mailbox: Option<f64>,
    /// Wall time of the whole run in seconds, start-up included (with `messages_per_mailbox`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub wall_s: Option<f64>,
}

/// Seconds one connection spends per message: `fixed_s + per_byte_s·size + per_rtt·rtt`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct MessageCost {
    /// `a`: seconds per message whatever its size (server work, command overhead).
    pub fixed_s: f64,
    /// `b`: seconds per byte of message.
    pub per_byte_s: f64,
    /// `c`: round trips paid per message (`1/c` is the effective pipeline depth).
    pub per_rtt: f64,
}

impl MessageCost {
    /// Seconds one connection spends on a message of `size_bytes` over a link of `rtt`.
    pub fn seconds(&self, size_bytes: f64, rtt: Duration) -> f64 {
        self.fixed_s + self.per_byte_s * size_bytes + self.per_rtt * rtt.as_secs_f64()
    }

    /// The part of [`MessageCost::seconds`] due to the round trip.
    pub fn rtt_seconds(&self, rtt: Duration) -> f64 {
        self.per_rtt * rtt.as_secs_f64()
    }
}

/// What a destination profile allows one user beyond the fitted message cost.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ProfileLimits {
    /// The profile's name.
    pub name: String,
    /// Messages per second one user can move at most (server throttling), if capped.
    pub max_msgs_per_s_per_user: Option<f64>,
    /// Connections one account may hold (Gmail: 15), if the service caps them.
    pub max_connections_per_user: Option<u32>,
}

/// How fast one mailbox moves alone, and what holds it back.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct MailboxRate {
    /// Messages per second.
    pub msgs_per_s: f64,
    /// Connections per side it uses.
    pub connections: u32,
    /// `true` when the profile's throttle, not the connections, sets the rate.
    pub throttled: bool,
    /// Share of each message's connection time spent waiting on the round trip (0..1).
    pub rtt_share: f64,
}

/// The fitted model: message cost, link efficiency, and per-profile limits.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct VelocityModel {
    /// The profile whose samples fitted [`VelocityModel::cost`].
    pub reference_profile: String,
    /// Per-connection message cost.
    pub cost: MessageCost,
    /// Share of the link's bandwidth that carries message bytes.
    pub link_efficiency: f64,
    /// Limits of each profile the samples or the built-in table know.
    pub profiles: BTreeMap<String, ProfileLimits>,
    /// How many samples the fit used.
    pub samples: usize,
    /// Round trips each mailbox spends before copying (see [`DEFAULT_SETUP_ROUND_TRIPS`];
    /// fitted when the samples carry wall times).
    pub setup_round_trips: f64,
    /// Seconds each mailbox spends before copying whatever the RTT (process start, TLS
    /// handshakes); 0 unless fitted from wall times.
    #[serde(default)]
    pub setup_fixed_s: f64,
    /// What the fit could not learn from the samples (an input that never varied, ...).
    pub warnings: Vec<String>,
}

/// Why samples could not be fitted.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum FitError {
    /// A sample has an impossible value.
    #[error("velocity sample {index} ({profile}): {field} is {value}, {problem}")]
    BadSample {
        /// 0-based position in the input.
        index: usize,
        /// Its profile.
        profile: String,
        /// The offending field.
        field: &'static str,
        /// Its value.
        value: f64,
        /// What it should be.
        problem: &'static str,
    },
    /// Too few samples that measure the servers rather than the link.
    #[error(
        "velocity samples: {found} sample(s) measure the servers (not a full link), \
         at least {needed} are needed to fit the model"
    )]
    TooFewSamples {
        /// How many were usable.
        found: usize,
        /// How many are needed.
        needed: usize,
    },
    /// The samples admit no model with non-negative costs.
    #[error("velocity samples of {profile}: no non-negative message cost fits them")]
    NoFit {
        /// The reference profile.
        profile: String,
    },
}

/// A profile the model knows nothing about.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown server profile {name:?}; known: {}", known.join(", "))]
pub struct UnknownProfile {
    /// The name asked for.
    pub name: String,
    /// The names the model knows.
    pub known: Vec<String>,
}

/// Limits known without samples: published caps of hosted services.
fn builtin_limits() -> Vec<ProfileLimits> {
    vec![ProfileLimits {
        name: "gmail".into(),
        max_msgs_per_s_per_user: None,
        max_connections_per_user: Some(15),
    }]
}

impl VelocityModel {
    /// Fits the model to benchmark samples (see the module doc for how).
    pub fn fit(samples: &[VelocitySample]) -> Result<VelocityModel, FitError> {
        for (index, sample) in samples.iter().enumerate() {
            validate(index, sample)?;
        }
        let (link_bound, server_bound): (Vec<&VelocitySample>, Vec<&VelocitySample>) =
            samples.iter().partition(|s| is_link_bound(s));

        let mut counts: BTreeMap<&str, usize> = BTreeMap::new();
        for sample in &server_bound {
            *counts.entry(sample.profile.as_str()).or_default() += 1;
        }
        // Most samples wins; on a tie the first name in order, so the fit is deterministic.
        let reference = counts
            .iter()
            .max_by(|a, b| a.1.cmp(b.1).then(b.0.cmp(a.0)))
            .map(|(name, _)| name.to_string())
            .unwrap_or_default();
        let reference_samples: Vec<&VelocitySample> = server_bound
            .iter()
            .copied()
            .filter(|s| s.profile == reference)
            .collect();
        if reference_samples.len() < 3 {
            return Err(FitError::TooFewSamples {
                found: reference_samples.len(),
                needed: 3,
            });
        }

        let mut warnings = Vec::new();
        let varies = |f: fn(&VelocitySample) -> f64| {
            let first = f(reference_samples[0]);
            reference_samples
                .iter()
                .any(|s| (f(s) - first).abs() > 1e-9)
        };
        if !varies(|s| s.rtt_ms) {
            warnings.push(format!(
                "every {reference} sample has the same RTT: the RTT's cost is not measured"
            ));
        }
        if !varies(|s| s.mean_message_bytes) {
            warnings.push(format!(
                "every {reference} sample has the same message size: the per-byte cost is \
                 not measured"
            ));
        }

        // With wall times (and messages per mailbox) the start-up is fitted with the message
        // cost: wall = s0 + s1·rtt + (N/k)·(a + b·size + c·rtt). Without them, throughput only.
        let timed: Vec<(&VelocitySample, f64, f64)> = reference_samples
            .iter()
            .filter_map(|s| Some((*s, s.messages_per_mailbox?, s.wall_s?)))
            .filter(|(_, n, w)| *n > 0.0 && *w > 0.0)
            .collect();
        let varied_n = timed.iter().any(|(_, n, _)| (n - timed[0].1).abs() > 0.5);
        let (cost, setup_fixed_s, setup_round_trips) = if timed.len() >= 5 && varied_n {
            let rows: Vec<([f64; 5], f64)> = timed
                .iter()
                .map(|(s, n, wall)| {
                    let rtt = s.rtt_ms / 1000.0;
                    let per_conn = n / f64::from(s.connections_per_mailbox);
                    let x = [
                        1.0,
                        rtt,
                        per_conn,
                        per_conn * s.mean_message_bytes,
                        per_conn * rtt,
                    ];
                    (x, *wall)
                })
                .collect();
            let [s0, s1, a, b, c] =
                non_negative_least_squares(&rows).ok_or_else(|| FitError::NoFit {
                    profile: reference.clone(),
                })?;
            let cost = MessageCost {
                fixed_s: a,
                per_byte_s: b,
                per_rtt: c,
            };
            (cost, s0, s1)
        } else {
            let rows: Vec<([f64; 3], f64)> = reference_samples
                .iter()
                .map(|s| {
                    let x = [1.0, s.mean_message_bytes, s.rtt_ms / 1000.0];
                    (x, connection_seconds_per_message(s))
                })
                .collect();
            let [fixed_s, per_byte_s, per_rtt] =
                non_negative_least_squares(&rows).ok_or_else(|| FitError::NoFit {
                    profile: reference.clone(),
                })?;
            let cost = MessageCost {
                fixed_s,
                per_byte_s,
                per_rtt,
            };
            (cost, 0.0, DEFAULT_SETUP_ROUND_TRIPS)
        };

        let link_efficiency = if link_bound.is_empty() {
            DEFAULT_LINK_EFFICIENCY
        } else {
            // With a wall time, the start-up (no mail on the link yet) is taken out first.
            let shares: Vec<f64> = link_bound
                .iter()
                .map(|s| {
                    let bw = s.bandwidth_mbit.unwrap_or(f64::INFINITY);
                    let share = s.mb_per_s * 8.0 / bw;
                    match s.wall_s {
                        Some(wall) => {
                            let setup = setup_fixed_s + setup_round_trips * s.rtt_ms / 1000.0;
                            share * wall / (wall - setup).max(wall * 0.5)
                        }
                        None => share,
                    }
                })
                .collect();
            median(shares).clamp(0.3, 1.0)
        };

        let mut profiles: BTreeMap<String, ProfileLimits> = builtin_limits()
            .into_iter()
            .map(|p| (p.name.clone(), p))
            .collect();
        for name in counts.keys() {
            let own: Vec<&VelocitySample> = server_bound
                .iter()
                .copied()
                .filter(|s| s.profile == *name)
                .collect();
            // Steady messages per second of one mailbox: with a wall time, the fitted start-up
            // is taken out, as it was from the message cost.
            let per_mailbox: Vec<f64> = own
                .iter()
                .map(|s| match (s.wall_s, s.messages_per_mailbox) {
                    (Some(wall), Some(n)) => {
                        let setup = setup_fixed_s + setup_round_trips * s.rtt_ms / 1000.0;
                        n / (wall - setup).max(wall * 0.5)
                    }
                    _ => s.msgs_per_s / f64::from(s.mailboxes),
                })
                .collect();
            let ratios: Vec<f64> = own
                .iter()
                .zip(&per_mailbox)
                .map(|(s, observed)| {
                    let t = cost.seconds(
                        s.mean_message_bytes,
                        Duration::from_secs_f64(s.rtt_ms / 1000.0),
                    );
                    observed / (f64::from(s.connections_per_mailbox) / t)
                })
                .collect();
            let throttle = (*name != reference && median(ratios) < THROTTLED_RATIO)
                .then(|| median(per_mailbox));
            let entry = profiles
                .entry(name.to_string())
                .or_insert_with(|| ProfileLimits {
                    name: name.to_string(),
                    max_msgs_per_s_per_user: None,
                    max_connections_per_user: None,
                });
            entry.max_msgs_per_s_per_user = throttle;
        }

        Ok(VelocityModel {
            reference_profile: reference,
            cost,
            link_efficiency,
            profiles,
            samples: samples.len(),
            setup_round_trips,
            setup_fixed_s,
            warnings,
        })
    }

    /// The model fitted to the committed default samples (measured once; see the module doc).
    pub fn builtin() -> VelocityModel {
        let samples = default_samples();
        VelocityModel::fit(&samples).expect("the committed default samples fit (unit-tested)")
    }

    /// The limits of `name`; the reference profile and built-in ones are always known.
    pub fn profile(&self, name: &str) -> Result<ProfileLimits, UnknownProfile> {
        if let Some(limits) = self.profiles.get(name) {
            return Ok(limits.clone());
        }
        Err(UnknownProfile {
            name: name.to_string(),
            known: self.profiles.keys().cloned().collect(),
        })
    }

    /// How fast one mailbox of messages of `mean_size` bytes moves alone over `rtt` with
    /// `connections` per side (fewer if the profile caps them).
    pub fn mailbox_rate(
        &self,
        profile: &ProfileLimits,
        mean_size: f64,
        rtt: Duration,
        connections: u32,
    ) -> MailboxRate {
        let connections = match profile.max_connections_per_user {
            Some(cap) => connections.min(cap),
            None => connections,
        }
        .max(1);
        let t = self.cost.seconds(mean_size, rtt).max(1e-9);
        let unthrottled = f64::from(connections) / t;
        let (msgs_per_s, throttled) = match profile.max_msgs_per_s_per_user {
            Some(cap) if cap < unthrottled => (cap, true),
            _ => (unthrottled, false),
        };
        MailboxRate {
            msgs_per_s,
            connections,
            throttled,
            rtt_share: self.cost.rtt_seconds(rtt) / t,
        }
    }

    /// Seconds a mailbox spends connecting and listing its folders before the first message.
    pub fn setup_seconds(&self, rtt: Duration) -> f64 {
        self.setup_fixed_s + self.setup_round_trips * rtt.as_secs_f64()
    }

    /// Bytes per second of message content a link of `bandwidth_bits` carries.
    pub fn link_bytes_per_s(&self, bandwidth_bits: f64) -> f64 {
        bandwidth_bits / 8.0 * self.link_efficiency
    }
}

/// The committed default samples.
pub fn default_samples() -> Vec<VelocitySample> {
    serde_json::from_str(DEFAULT_SAMPLES).expect("the committed default samples parse")
}

fn validate(index: usize, s: &VelocitySample) -> Result<(), FitError> {
    let bad = |field, value, problem| FitError::BadSample {
        index,
        profile: s.profile.clone(),
        field,
        value,
        problem,
    };
    let positive = [
        ("msgs_per_s", s.msgs_per_s),
        ("mean_message_bytes", s.mean_message_bytes),
    ];
    for (field, value) in positive {
        if !(value.is_finite() && value > 0.0) {
            return Err(bad(field, value, "it must be a positive number"));
        }
    }
    if !(s.rtt_ms.is_finite() && s.rtt_ms >= 0.0) {
        return Err(bad("rtt_ms", s.rtt_ms, "it must be zero or more"));
    }
    if !(s.mb_per_s.is_finite() && s.mb_per_s >= 0.0) {
        return Err(bad("mb_per_s", s.mb_per_s, "it must be zero or more"));
    }
    if let Some(bw) = s.bandwidth_mbit {
        if !(bw.is_finite() && bw > 0.0) {
            return Err(bad("bandwidth_mbit", bw, "it must be a positive number"));
        }
    }
    if s.mailboxes == 0 {
        return Err(bad("mailboxes", 0.0, "it must be at least 1"));
    }
    if s.connections_per_mailbox == 0 {
        return Err(bad("connections_per_mailbox", 0.0, "it must be at least 1"));
    }
    Ok(())
}

fn is_link_bound(s: &VelocitySample) -> bool {
    s.bandwidth_mbit
        .is_some_and(|bw| s.mb_per_s * 8.0 >= LINK_BOUND_SHARE * bw)
}

/// Seconds one connection of the sample spent per message.
fn connection_seconds_per_message(s: &VelocitySample) -> f64 {
    f64::from(s.mailboxes) * f64::from(s.connections_per_mailbox) / s.msgs_per_s
}

fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    match values.len() {
        0 => f64::NAN,
        n if n % 2 == 1 => values[n / 2],
        n => (values[n / 2 - 1] + values[n / 2]) / 2.0,
    }
}

/// Least squares `y ≈ x·β` with `β >= 0` for three unknowns: solve the normal equations on
/// every subset of free coefficients (the others held at zero), keep the feasible one with the
/// smallest squared error. Columns are scaled to unit size first so bytes and seconds mix.
fn non_negative_least_squares<const D: usize>(rows: &[([f64; D], f64)]) -> Option<[f64; D]> {
    let mut scale = [0.0f64; D];
    for (x, _) in rows {
        for j in 0..D {
            scale[j] = scale[j].max(x[j].abs());
        }
    }
    let mut best: Option<([f64; D], f64)> = None;
    for mask in 1u32..(1 << D) {
        let free: Vec<usize> = (0..D).filter(|j| mask & (1 << j) != 0).collect();
        if free.iter().any(|&j| scale[j] == 0.0) {
            continue;
        }
        let n = free.len();
        let mut ata = [[0.0f64; D]; D];
        let mut aty = [0.0f64; D];
        for (x, y) in rows {
            for (p, &j) in free.iter().enumerate() {
                let xj = x[j] / scale[j];
                aty[p] += xj * y;
                for (q, &k) in free.iter().enumerate() {
                    ata[p][q] += xj * x[k] / scale[k];
                }
            }
        }
        let Some(solution) = solve(ata, aty, n) else {
            continue;
        };
        if solution[..n].iter().any(|&v| v < -1e-12) {
            continue;
        }
        let mut beta = [0.0f64; D];
        for (p, &j) in free.iter().enumerate() {
            beta[j] = (solution[p] / scale[j]).max(0.0);
        }
        let error: f64 = rows
            .iter()
            .map(|(x, y)| {
                let fit: f64 = (0..D).map(|j| x[j] * beta[j]).sum();
                (fit - y).powi(2)
            })
            .sum();
        if best.is_none_or(|(_, e)| error < e * (1.0 - 1e-12)) {
            best = Some((beta, error));
        }
    }
    best.map(|(beta, _)| beta)
}

/// Solves the `n`×`n` system in the top-left corner by Gaussian elimination with partial
/// pivoting; `None` when it is (numerically) singular.
fn solve<const D: usize>(mut a: [[f64; D]; D], mut b: [f64; D], n: usize) -> Option<[f64; D]> {
    let size: f64 = (0..n).map(|i| a[i][i].abs()).fold(0.0, f64::max);
    for col in 0..n {
        let pivot = (col..n).max_by(|&i, &j| a[i][col].abs().total_cmp(&a[j][col].abs()))?;
        if a[pivot][col].abs() <= size * 1e-10 {
            return None;
        }
        a.swap(col, pivot);
        b.swap(col, pivot);
        for row in col + 1..n {
            let factor = a[row][col] / a[col][col];
            let pivot_row = a[col];
            for (cell, above) in a[row][col..n].iter_mut().zip(&pivot_row[col..n]) {
                *cell -= factor * above;
            }
            b[row] -= factor * b[col];
        }
    }
    let mut x = [0.0f64; D];
    for row in (0..n).rev() {
        let tail: f64 = (row + 1..n).map(|k| a[row][k] * x[k]).sum();
        x[row] = (b[row] - tail) / a[row][row];
    }
    Some(x)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn synthetic(cost: MessageCost, profile: &str) -> Vec<VelocitySample> {
        let mut samples = Vec::new();
        for rtt_ms in [0.5, 20.0, 50.0, 100.0] {
            for size in [5_000.0, 75_000.0, 400_000.0] {
                for (mailboxes, connections) in [(1, 2), (4, 4)] {
                    let t = cost.seconds(size, Duration::from_secs_f64(rtt_ms / 1000.0));
                    let msgs = f64::from(mailboxes * connections) / t;
                    samples.push(VelocitySample {
                        profile: profile.into(),
                        rtt_ms,
                        bandwidth_mbit: None,
                        mean_message_bytes: size,
                        mailboxes,
                        connections_per_mailbox: connections,
                        msgs_per_s: msgs,
                        mb_per_s: msgs * size / 1e6,
                        messages_per_mailbox: None,
                        wall_s: None,
                    });
                }
            }
        }
        samples
    }

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() <= 1e-6 * b.abs().max(1e-12)
    }

    #[test]
    fn fit_recovers_known_coefficients() {
        let truth = MessageCost {
            fixed_s: 0.002,
            per_byte_s: 2e-8,
            per_rtt: 0.01,
        };
        let model = VelocityModel::fit(&synthetic(truth, "dovecot")).unwrap();
        assert_eq!(model.reference_profile, "dovecot");
        assert!(close(model.cost.fixed_s, truth.fixed_s), "{:?}", model.cost);
        assert!(
            close(model.cost.per_byte_s, truth.per_byte_s),
            "{:?}",
            model.cost
        );
        assert!(close(model.cost.per_rtt, truth.per_rtt), "{:?}", model.cost);
        assert!(model.warnings.is_empty());
        assert_eq!(model.link_efficiency, DEFAULT_LINK_EFFICIENCY);
    }

    #[test]
    fn fit_never_gives_negative_costs() {
        // Faster with a longer RTT: noise a plain least squares would turn into a negative c.
        let truth = MessageCost {
            fixed_s: 0.002,
            per_byte_s: 1e-8,
            per_rtt: 0.0,
        };
        let mut samples = synthetic(truth, "dovecot");
        for s in &mut samples {
            s.msgs_per_s *= 1.0 + s.rtt_ms / 1000.0;
        }
        let model = VelocityModel::fit(&samples).unwrap();
        assert!(model.cost.per_rtt >= 0.0 && model.cost.per_byte_s >= 0.0);
        assert!(model.cost.fixed_s > 0.0);
    }

    #[test]
    fn throttled_profile_and_link_efficiency_are_learned() {
        let truth = MessageCost {
            fixed_s: 0.002,
            per_byte_s: 2e-8,
            per_rtt: 0.01,
        };
        let mut samples = synthetic(truth, "dovecot");
        for rtt_ms in [10.0, 40.0] {
            samples.push(VelocitySample {
                profile: "exchange-online".into(),
                rtt_ms,
                bandwidth_mbit: None,
                mean_message_bytes: 75_000.0,
                mailboxes: 2,
                connections_per_mailbox: 4,
                msgs_per_s: 20.0,
                mb_per_s: 1.5,
                messages_per_mailbox: None,
                wall_s: None,
            });
        }
        samples.push(VelocitySample {
            profile: "dovecot".into(),
            rtt_ms: 40.0,
            bandwidth_mbit: Some(100.0),
            mean_message_bytes: 75_000.0,
            mailboxes: 10,
            connections_per_mailbox: 4,
            msgs_per_s: 150.0,
            mb_per_s: 11.25,
            messages_per_mailbox: None,
            wall_s: None,
        });
        let model = VelocityModel::fit(&samples).unwrap();
        assert!(close(model.cost.per_rtt, truth.per_rtt));
        assert!((model.link_efficiency - 0.9).abs() < 1e-9);
        let exo = model.profile("exchange-online").unwrap();
        assert_eq!(exo.max_msgs_per_s_per_user, Some(10.0));
        assert_eq!(
            model.profile("dovecot").unwrap().max_msgs_per_s_per_user,
            None
        );
        let rate = model.mailbox_rate(&exo, 75_000.0, Duration::from_millis(40), 4);
        assert!(rate.throttled);
        assert_eq!(rate.msgs_per_s, 10.0);
    }

    #[test]
    fn bad_and_too_few_samples_are_refused() {
        let mut samples = synthetic(
            MessageCost {
                fixed_s: 0.002,
                per_byte_s: 0.0,
                per_rtt: 0.0,
            },
            "dovecot",
        );
        samples[3].msgs_per_s = -1.0;
        let err = VelocityModel::fit(&samples).unwrap_err().to_string();
        assert!(
            err.contains("sample 3") && err.contains("msgs_per_s"),
            "{err}"
        );
        let err = VelocityModel::fit(&samples[..2]).unwrap_err().to_string();
        assert!(err.contains("at least 3"), "{err}");
    }

    #[test]
    fn builtin_model_matches_the_measured_figures() {
        let model = VelocityModel::builtin();
        assert_eq!(model.reference_profile, "dovecot");
        assert!(model.warnings.is_empty(), "{:?}", model.warnings);
        let dovecot = model.profile("dovecot").unwrap();
        let loopback = model.mailbox_rate(&dovecot, 75_000.0, Duration::from_micros(100), 2);
        assert!((loopback.msgs_per_s - 800.0).abs() < 10.0, "{loopback:?}");
        let wan = model.mailbox_rate(&dovecot, 75_000.0, Duration::from_millis(40), 2);
        let ratio = wan.msgs_per_s / loopback.msgs_per_s;
        assert!((ratio - 0.90).abs() < 0.01, "{ratio}");
        assert!((model.link_efficiency - 0.92).abs() < 0.01);
        let exo = model.profile("exchange-online").unwrap();
        assert!(exo.max_msgs_per_s_per_user.is_some());
        assert_eq!(
            model.profile("gmail").unwrap().max_connections_per_user,
            Some(15)
        );
        let err = model.profile("lotus-notes").unwrap_err().to_string();
        assert!(
            err.contains("lotus-notes") && err.contains("gmail"),
            "{err}"
        );
    }

    #[test]
    fn predictions_are_monotone_in_rtt_size_and_connections() {
        let model = VelocityModel::builtin();
        let dovecot = model.profile("dovecot").unwrap();
        let mut last = f64::INFINITY;
        for rtt_ms in [0, 1, 10, 40, 100, 300] {
            let rate = model.mailbox_rate(&dovecot, 75_000.0, Duration::from_millis(rtt_ms), 4);
            assert!(rate.msgs_per_s <= last);
            last = rate.msgs_per_s;
        }
        let mut last = 0.0;
        for connections in 1..=8 {
            let rate =
                model.mailbox_rate(&dovecot, 75_000.0, Duration::from_millis(40), connections);
            assert!(rate.msgs_per_s >= last);
            last = rate.msgs_per_s;
        }
    }

    #[test]
    fn wall_times_fit_the_start_up_and_the_message_cost_together() {
        // wall = s0 + s1·rtt + (N/k)·(a + b·size + c·rtt), from known values.
        let (s0, s1, a, b, c) = (0.3, 40.0, 0.004, 2e-8, 0.06);
        let mut samples = Vec::new();
        for rtt_ms in [0.0, 10.0, 50.0, 150.0] {
            for (n, size) in [(60.0, 70_000.0), (200.0, 80_000.0), (120.0, 40_000.0)] {
                let k = 4.0;
                let rtt = rtt_ms / 1000.0;
                let wall = s0 + s1 * rtt + n / k * (a + b * size + c * rtt);
                let mailboxes = 4u32;
                let msgs_per_s = f64::from(mailboxes) * n / wall;
                samples.push(VelocitySample {
                    profile: "dovecot".into(),
                    rtt_ms,
                    bandwidth_mbit: None,
                    mean_message_bytes: size,
                    mailboxes,
                    connections_per_mailbox: 4,
                    msgs_per_s,
                    mb_per_s: msgs_per_s * size / 1e6,
                    messages_per_mailbox: Some(n),
                    wall_s: Some(wall),
                });
            }
        }
        let model = VelocityModel::fit(&samples).unwrap();
        let close = |got: f64, want: f64| (got - want).abs() <= want.abs() * 1e-6 + 1e-12;
        assert!(close(model.setup_fixed_s, s0), "{model:?}");
        assert!(close(model.setup_round_trips, s1), "{model:?}");
        assert!(close(model.cost.fixed_s, a), "{model:?}");
        assert!(close(model.cost.per_byte_s, b), "{model:?}");
        assert!(close(model.cost.per_rtt, c), "{model:?}");
        // Without wall times the same runs fit throughput only, start-up assumed.
        let bare: Vec<VelocitySample> = samples
            .into_iter()
            .map(|s| VelocitySample { wall_s: None, ..s })
            .collect();
        let model = VelocityModel::fit(&bare).unwrap();
        assert_eq!(model.setup_round_trips, DEFAULT_SETUP_ROUND_TRIPS);
        assert_eq!(model.setup_fixed_s, 0.0);
    }
}
