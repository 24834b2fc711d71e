//! The named scenarios, full size and smoke size.
//!
//! Full size is sized for minutes per scenario on a small machine; smoke size keeps every
//! scenario but shrinks the mail so the whole catalogue runs in well under a minute (CI runs it).

use std::net::{IpAddr, Ipv4Addr};
use std::time::Duration;

use crate::corpus::CorpusSpec;
use crate::mock_server::MockProfile;

/// One benchmark scenario: the servers, the link and the mail.
#[derive(Clone, Debug)]
pub struct Scenario {
    /// Name used on the command line and in reports (`rtt-50ms`).
    pub name: &'static str,
    /// What it shows, in a few words.
    pub description: &'static str,
    /// The destination server's profile (the source is always Dovecot-like).
    pub profile: MockProfile,
    /// Round-trip time to each server, added to every answer.
    pub rtt: Duration,
    /// The link to each server, megabits per second each way; `None` is unlimited.
    pub bandwidth_mbit: Option<f64>,
    /// Destination throttling: commands per second per user, and the suggested backoff.
    pub throttle: Option<(u32, Duration)>,
    /// The mail to move.
    pub corpus: CorpusSpec,
    /// Put every message of a mailbox into INBOX (one big folder).
    pub one_folder: bool,
    /// Mailboxes moved at once (`--parallel`).
    pub parallel: usize,
    /// Source and destination connections per mailbox.
    pub connections_per_mailbox: usize,
    /// Egress addresses the client binds its connections to (`--egress`), users spread over
    /// them by the budget scheduler; empty leaves the choice to the system (127.0.0.1).
    pub egress: Vec<IpAddr>,
    /// Also measure the client with one mailbox, for memory per active mailbox (a second,
    /// short run); worth it where many mailboxes run at once.
    pub measure_mailbox_memory: bool,
}

impl Scenario {
    fn base(
        name: &'static str,
        description: &'static str,
        mailboxes: usize,
        messages: usize,
    ) -> Self {
        Scenario {
            name,
            description,
            profile: MockProfile::Dovecot,
            rtt: Duration::ZERO,
            bandwidth_mbit: None,
            throttle: None,
            corpus: CorpusSpec {
                seed: 42,
                mailboxes,
                messages_per_mailbox: messages,
                ..CorpusSpec::default()
            },
            one_folder: false,
            parallel: mailboxes.min(4),
            connections_per_mailbox: 4,
            egress: Vec::new(),
            measure_mailbox_memory: false,
        }
    }

    fn rtt(mut self, ms: u64) -> Self {
        self.rtt = Duration::from_millis(ms);
        self
    }

    fn bandwidth(mut self, mbit: f64) -> Self {
        self.bandwidth_mbit = Some(mbit);
        self
    }

    fn small_messages(mut self) -> Self {
        self.corpus.median_size = 4_000;
        self.corpus.mean_size = 8_000;
        self.corpus.max_size = 200_000;
        self
    }

    /// Connections the client holds at most: every running mailbox with all of its source and
    /// destination connections. Each side of the loopback (client, servers) needs that many
    /// descriptors.
    pub fn max_connections(&self) -> usize {
        self.parallel.min(self.corpus.mailboxes) * self.connections_per_mailbox * 2
    }

    /// Mail bytes to expect, roughly (messages times the mean size).
    pub fn approx_bytes(&self) -> u64 {
        (self.corpus.mailboxes * self.corpus.messages_per_mailbox * self.corpus.mean_size) as u64
    }
}

/// Every scenario; `smoke` shrinks each to a few seconds.
pub fn catalogue(smoke: bool) -> Vec<Scenario> {
    // (mailboxes, messages) at full size; smoke divides the messages.
    let s = |full: usize, smoke_n: usize| if smoke { smoke_n } else { full };
    let mut big = Scenario::base(
        "big-attachments",
        "mailboxes of 1 to 30 MB messages, all with attachments",
        2,
        s(40, 2),
    );
    big.corpus.median_size = 2_000_000;
    big.corpus.mean_size = 5_000_000;
    big.corpus.attachment_share = 1.0;
    let mut folder = Scenario::base(
        "folder-10k",
        "one mailbox, 10,000 messages in one folder",
        1,
        s(10_000, 1_000),
    )
    .small_messages();
    folder.one_folder = true;
    let mut many = Scenario::base(
        "mailboxes-200",
        "200 small mailboxes, all at once",
        s(200, 40),
        s(50, 10),
    )
    .small_messages();
    many.parallel = many.corpus.mailboxes;
    many.connections_per_mailbox = 2;
    many.measure_mailbox_memory = true;
    // The issue 6 batch: 10,000 tiny mailboxes over five egress addresses through the budget
    // scheduler. Half of them run at once, one connection per side: 10,000 connections, so each
    // process (client, servers) stays inside a hard open-files limit of 20,000.
    let mut fleet = Scenario::base(
        "mailboxes-10k-5ips",
        "10,000 tiny mailboxes over 5 egress IPs through the budget scheduler",
        s(10_000, 250),
        s(4, 2),
    )
    .small_messages();
    fleet.parallel = s(5_000, 250);
    fleet.connections_per_mailbox = 1;
    fleet.measure_mailbox_memory = true;
    fleet.egress = (2..=6)
        .map(|last| IpAddr::V4(Ipv4Addr::new(127, 0, 0, last)))
        .collect();
    let mut exchange = Scenario::base(
        "exchange-online",
        "Exchange Online profile, 100 commands/s per user, 40 ms away",
        4,
        s(500, 60),
    )
    .rtt(40);
    exchange.profile = MockProfile::ExchangeOnline;
    exchange.throttle = Some((100, Duration::from_millis(200)));
    let mut gmail = Scenario::base(
        "gmail",
        "Gmail profile (LITERAL-, no MULTIAPPEND), 40 ms away",
        4,
        s(500, 60),
    )
    .rtt(40);
    gmail.profile = MockProfile::Gmail;
    let mut all = vec![
        Scenario::base(
            "loopback",
            "no delay, no cap: the engine's ceiling",
            4,
            s(1_000, 150),
        ),
        Scenario::base("rtt-10ms", "10 ms round trip", 4, s(1_000, 100)).rtt(10),
        Scenario::base("rtt-50ms", "50 ms round trip", 4, s(1_000, 100)).rtt(50),
        Scenario::base("rtt-150ms", "150 ms round trip", 4, s(1_000, 100)).rtt(150),
        Scenario::base("bw-10mbit", "10 Mbit/s link", 2, s(150, 15)).bandwidth(10.0),
        Scenario::base("bw-100mbit", "100 Mbit/s link", 4, s(500, 60)).bandwidth(100.0),
        Scenario::base("bw-1000mbit", "1 Gbit/s link", 4, s(1_000, 100)).bandwidth(1000.0),
        exchange,
        gmail,
        big,
        folder,
        many,
        fleet,
    ];
    if smoke {
        // A smoke run checks that every scenario works, not how fast: small mail throughout,
        // except the scenario about big messages.
        for scenario in all.iter_mut().filter(|s| s.name != "big-attachments") {
            *scenario = scenario.clone().small_messages();
        }
    }
    all
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_unique_and_smoke_is_small() {
        let full = catalogue(false);
        let smoke = catalogue(true);
        assert_eq!(full.len(), smoke.len());
        let mut names: Vec<_> = full.iter().map(|s| s.name).collect();
        names.sort();
        names.dedup();
        assert_eq!(names.len(), full.len());
        let smoke_bytes: u64 = smoke.iter().map(Scenario::approx_bytes).sum();
        assert!(smoke_bytes < 60_000_000, "smoke moves {smoke_bytes} bytes");
        for (f, s) in full.iter().zip(&smoke) {
            assert_eq!(f.name, s.name);
            assert!(s.approx_bytes() <= f.approx_bytes());
            assert_eq!(f.egress, s.egress);
        }
        let fleet = full
            .iter()
            .find(|s| s.name == "mailboxes-10k-5ips")
            .unwrap();
        assert_eq!(fleet.corpus.mailboxes, 10_000);
        assert_eq!(fleet.egress.len(), 5);
        // Under a hard open-files limit of 20,000 on each side of the loopback.
        assert!(
            fleet.max_connections() <= 16_000,
            "{}",
            fleet.max_connections()
        );
    }
}
