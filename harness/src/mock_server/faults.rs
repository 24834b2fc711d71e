//! Faults injected on purpose: dropped connections, BYE, stalls, garbage, short writes.
//!
//! Deterministic from a seed: connection number `n` (in accept order, from 0) draws its faults
//! from a generator seeded with `(seed, n)`, so the same plan gives the same faults on the same
//! connection every run. A rule fires on a connection with its probability, after a number of
//! commands drawn from its range, before the next command runs (so a dropped command was not
//! carried out; a connection lost after the server acted is a separate case, not modelled yet).

use std::time::Duration;

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// Which faults to inject, and the seed that decides where.
#[derive(Clone, Debug, Default)]
pub struct FaultPlan {
    /// The seed of every draw.
    pub seed: u64,
    /// The rules; none means a well-behaved server.
    pub rules: Vec<FaultRule>,
}

/// One kind of fault and how often it strikes.
#[derive(Clone, Debug)]
pub struct FaultRule {
    /// What happens.
    pub fault: Fault,
    /// Chance that a connection gets this fault at all, 0.0 to 1.0.
    pub probability: f64,
    /// The fault strikes when this many commands (inclusive range, drawn per connection) have
    /// been answered; 0 means before the first command's answer.
    pub after_commands: (u32, u32),
}

/// What goes wrong.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Fault {
    /// Close the connection without a word.
    Drop,
    /// Send at most this many more bytes (drawn between 1 and the value), then close: a
    /// connection cut in the middle of a response.
    DropAfterBytes(u64),
    /// Close while the client is sending an APPEND literal: at the first read, from the strike
    /// on, that leaves one unfinished. With small messages pipelined under LITERAL+ a read may
    /// always hold whole commands, and then it never fires; use large messages.
    DropMidLiteral,
    /// Send `* BYE` and close, as a server going down does.
    Bye,
    /// Stop answering (and reading) for this long.
    Stall(Duration),
    /// Send a line that is not IMAP.
    Garbage,
    /// From then on, write responses in pieces of 1 to 7 bytes.
    ShortWrites,
}

/// A fault armed on one connection.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Armed {
    /// What happens.
    pub(crate) fault: Fault,
    /// After how many answered commands.
    pub(crate) after_commands: u32,
}

impl FaultPlan {
    /// The faults of connection number `connection`, soonest first.
    pub(crate) fn arm(&self, connection: u64) -> Vec<Armed> {
        if self.rules.is_empty() {
            return Vec::new();
        }
        let mut rng =
            ChaCha8Rng::seed_from_u64(self.seed ^ connection.wrapping_mul(0x9E37_79B9_7F4A_7C15));
        let mut armed = Vec::new();
        for rule in &self.rules {
            // Draw both numbers whatever the outcome, so one rule's draw never shifts another's.
            let hit = rng.random::<f64>() < rule.probability;
            let (lo, hi) = rule.after_commands;
            let after = rng.random_range(lo.min(hi)..=hi.max(lo));
            let fault = match rule.fault {
                Fault::DropAfterBytes(max) => {
                    Fault::DropAfterBytes(rng.random_range(1..=max.max(1)))
                }
                other => other,
            };
            if hit {
                armed.push(Armed {
                    fault,
                    after_commands: after,
                });
            }
        }
        armed.sort_by_key(|a| a.after_commands);
        armed
    }
}

/// Sizes of short writes, drawn from the connection's generator.
pub(crate) struct ShortWriter(ChaCha8Rng);

impl ShortWriter {
    /// A generator for connection `connection` of a plan seeded `seed`.
    pub(crate) fn new(seed: u64, connection: u64) -> Self {
        ShortWriter(ChaCha8Rng::seed_from_u64(seed.rotate_left(17) ^ connection))
    }

    /// The size of the next piece.
    pub(crate) fn next_len(&mut self) -> usize {
        self.0.random_range(1..=7)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plan() -> FaultPlan {
        FaultPlan {
            seed: 7,
            rules: vec![
                FaultRule {
                    fault: Fault::Bye,
                    probability: 0.5,
                    after_commands: (2, 20),
                },
                FaultRule {
                    fault: Fault::DropAfterBytes(10_000),
                    probability: 0.3,
                    after_commands: (0, 5),
                },
            ],
        }
    }

    #[test]
    fn the_same_seed_arms_the_same_faults() {
        let a: Vec<_> = (0..50).map(|n| plan().arm(n)).collect();
        let b: Vec<_> = (0..50).map(|n| plan().arm(n)).collect();
        assert_eq!(a, b);
        let mut other = plan();
        other.seed = 8;
        let c: Vec<_> = (0..50).map(|n| other.arm(n)).collect();
        assert_ne!(a, c, "another seed gives other faults");
    }

    #[test]
    fn probabilities_and_ranges_hold() {
        let armed: Vec<_> = (0..2000).map(|n| plan().arm(n)).collect();
        let byes = armed
            .iter()
            .flatten()
            .filter(|a| a.fault == Fault::Bye)
            .count();
        assert!(
            (850..1150).contains(&byes),
            "{byes} BYEs in 2000 connections"
        );
        for a in armed.iter().flatten() {
            match a.fault {
                Fault::Bye => assert!((2..=20).contains(&a.after_commands)),
                Fault::DropAfterBytes(n) => {
                    assert!((1..=10_000).contains(&n));
                    assert!(a.after_commands <= 5);
                }
                other => panic!("unexpected {other:?}"),
            }
        }
        for list in &armed {
            assert!(list
                .windows(2)
                .all(|w| w[0].after_commands <= w[1].after_commands));
        }
        assert!(FaultPlan::default().arm(3).is_empty());
    }
}
