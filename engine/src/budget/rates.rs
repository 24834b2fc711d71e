//! Rate limits (governor's GCRA, burst = one second's worth): connection opens per egress
//! address and per server, message bytes and messages fetched per address and per mailbox.
//! A limit that is not set costs nothing.

use super::config::BudgetConfig;
use governor::{DefaultDirectRateLimiter, DefaultKeyedRateLimiter, Quota, RateLimiter};
use std::num::NonZeroU32;
use std::sync::Arc;

/// The batch-wide limiters, shared by every lease.
#[derive(Default)]
pub(crate) struct Rates {
    opens_per_ip: Option<DefaultKeyedRateLimiter<usize>>,
    opens_per_server: Option<DefaultKeyedRateLimiter<String>>,
    bytes_per_ip: Option<(DefaultKeyedRateLimiter<usize>, NonZeroU32)>,
    messages_per_ip: Option<(DefaultKeyedRateLimiter<usize>, NonZeroU32)>,
}

/// One mailbox's own limiters.
#[derive(Default)]
pub(crate) struct MailboxRates {
    bytes: Option<(DefaultDirectRateLimiter, NonZeroU32)>,
    messages: Option<(DefaultDirectRateLimiter, NonZeroU32)>,
}

impl std::fmt::Debug for Rates {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Rates")
    }
}

impl std::fmt::Debug for MailboxRates {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("MailboxRates")
    }
}

fn keyed<K: std::hash::Hash + Eq + Clone>(
    rate: Option<NonZeroU32>,
) -> Option<DefaultKeyedRateLimiter<K>> {
    rate.map(|r| RateLimiter::keyed(Quota::per_second(r)))
}

impl Rates {
    pub(crate) fn new(config: &BudgetConfig) -> Self {
        Rates {
            opens_per_ip: keyed(config.opens_per_sec_per_ip),
            opens_per_server: keyed(config.opens_per_sec_per_server),
            bytes_per_ip: config
                .bytes_per_sec_per_ip
                .map(|r| (keyed(Some(r)).unwrap(), r)),
            messages_per_ip: config
                .messages_per_sec_per_ip
                .map(|r| (keyed(Some(r)).unwrap(), r)),
        }
    }

    /// Waits until one more connection may be opened from address `ip` to `server`.
    pub(crate) async fn open(&self, ip: usize, server: &str) {
        if let Some(l) = &self.opens_per_ip {
            l.until_key_ready(&ip).await;
        }
        if let Some(l) = &self.opens_per_server {
            l.until_key_ready(&server.to_string()).await;
        }
    }

    /// Waits until `messages` messages of `bytes` bytes may be fetched through `ip` by the
    /// mailbox whose own limiters are `mailbox`.
    pub(crate) async fn fetch(&self, ip: usize, mailbox: &MailboxRates, messages: u64, bytes: u64) {
        if let Some((l, burst)) = &self.bytes_per_ip {
            for n in chunks(bytes, *burst) {
                let _ = l.until_key_n_ready(&ip, n).await;
            }
        }
        if let Some((l, burst)) = &self.messages_per_ip {
            for n in chunks(messages, *burst) {
                let _ = l.until_key_n_ready(&ip, n).await;
            }
        }
        if let Some((l, burst)) = &mailbox.bytes {
            for n in chunks(bytes, *burst) {
                let _ = l.until_n_ready(n).await;
            }
        }
        if let Some((l, burst)) = &mailbox.messages {
            for n in chunks(messages, *burst) {
                let _ = l.until_n_ready(n).await;
            }
        }
    }
}

impl MailboxRates {
    pub(crate) fn new(config: &BudgetConfig) -> Arc<Self> {
        let direct =
            |r: Option<NonZeroU32>| r.map(|r| (RateLimiter::direct(Quota::per_second(r)), r));
        Arc::new(MailboxRates {
            bytes: direct(config.bytes_per_sec_per_mailbox),
            messages: direct(config.messages_per_sec_per_mailbox),
        })
    }
}

/// `total` cut into pieces of at most `burst` (a limiter refuses more than its burst at once).
fn chunks(total: u64, burst: NonZeroU32) -> impl Iterator<Item = NonZeroU32> {
    let burst = u64::from(burst.get());
    let mut left = total;
    std::iter::from_fn(move || {
        let n = left.min(burst);
        left -= n;
        NonZeroU32::new(n as u32)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chunks_cover_the_total_within_the_burst() {
        let b = NonZeroU32::new(4).unwrap();
        let v: Vec<u32> = chunks(10, b).map(|n| n.get()).collect();
        assert_eq!(v, [4, 4, 2]);
        assert_eq!(chunks(0, b).count(), 0);
    }

    #[tokio::test]
    async fn fetches_are_paced_per_mailbox_and_per_address() {
        let config = BudgetConfig {
            bytes_per_sec_per_mailbox: NonZeroU32::new(10_000),
            messages_per_sec_per_ip: NonZeroU32::new(100),
            ..BudgetConfig::default()
        };
        let rates = Rates::new(&config);
        let (one, other) = (MailboxRates::new(&config), MailboxRates::new(&config));
        let started = std::time::Instant::now();
        // 15,000 bytes: one second's burst, then half a second more (in chunks of the burst).
        rates.fetch(0, &one, 1, 15_000).await;
        assert!(started.elapsed() >= std::time::Duration::from_millis(400));
        // Another mailbox on another address has its own byte budget; the messages of
        // address 0 are not spent on address 1.
        let started = std::time::Instant::now();
        rates.fetch(1, &other, 100, 5_000).await;
        assert!(started.elapsed() < std::time::Duration::from_millis(200));
        // Address 1's 100 messages per second are spent: 50 more wait about half a second.
        rates.fetch(1, &other, 50, 1).await;
        assert!(started.elapsed() >= std::time::Duration::from_millis(400));
    }

    #[tokio::test]
    async fn opens_per_ip_are_paced() {
        let config = BudgetConfig {
            opens_per_sec_per_ip: NonZeroU32::new(20),
            ..BudgetConfig::default()
        };
        let rates = Rates::new(&config);
        let started = std::time::Instant::now();
        // 20 pass at once (one second's burst); 10 more take about half a second.
        for _ in 0..30 {
            rates.open(0, "imaps://a:993").await;
        }
        let took = started.elapsed();
        assert!(took >= std::time::Duration::from_millis(400), "{took:?}");
        // Another address has its own budget.
        let started = std::time::Instant::now();
        rates.open(1, "imaps://a:993").await;
        assert!(started.elapsed() < std::time::Duration::from_millis(100));
    }
}
