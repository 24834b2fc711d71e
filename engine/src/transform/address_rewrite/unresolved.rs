//! Counting the addresses the directory could not resolve, for the per-mailbox report.

use std::collections::HashMap;

use super::rewriter::Rewrite;

/// Unresolved addresses seen across many messages, counted case-insensitively (the first
/// spelling seen is the one reported).
#[derive(Debug, Clone, Default)]
pub struct UnresolvedTally {
    counts: HashMap<String, (String, u64)>,
    total: u64,
}

impl UnresolvedTally {
    /// An empty tally.
    pub fn new() -> Self {
        Self::default()
    }

    /// Counts the unresolved addresses of one message.
    pub fn record(&mut self, rewrite: &Rewrite) {
        for address in rewrite.unresolved() {
            self.total += 1;
            self.counts
                .entry(address.to_ascii_lowercase())
                .or_insert_with(|| (address.clone(), 0))
                .1 += 1;
        }
    }

    /// Every unresolved occurrence, repeats included.
    pub fn total(&self) -> u64 {
        self.total
    }

    /// The `n` most frequent unresolved addresses with their counts, most frequent first (ties
    /// in address order, so reports are stable).
    pub fn most_frequent(&self, n: usize) -> Vec<(&str, u64)> {
        let mut all: Vec<(&str, u64)> = self
            .counts
            .values()
            .map(|(a, c)| (a.as_str(), *c))
            .collect();
        all.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(b.0)));
        all.truncate(n);
        all
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_case_insensitively_most_frequent_first() {
        let mut tally = UnresolvedTally::new();
        let dns = |v: &[&str]| Rewrite::Unchanged {
            unresolved: v.iter().map(|s| s.to_string()).collect(),
        };
        tally.record(&dns(&["/o=a/cn=x", "/o=a/cn=y"]));
        tally.record(&dns(&["/O=A/CN=Y"]));
        assert_eq!(tally.total(), 3);
        assert_eq!(tally.most_frequent(5), [("/o=a/cn=y", 2), ("/o=a/cn=x", 1)]);
        assert_eq!(tally.most_frequent(1).len(), 1);
    }
}
