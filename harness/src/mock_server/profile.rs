//! Named server profiles: the extensions, limits and refusal wording of real servers, so a
//! benchmark or test can ask for "Exchange Online" rather than a list of switches.

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use super::config::{Capabilities, Limits, MockConfig, Throttle, ThrottleReply};

/// A real server the mock imitates.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum MockProfile {
    /// Dovecot 2.3: LITERAL+, MULTIAPPEND, UIDPLUS, SPECIAL-USE, SORT, QUOTA, COMPRESS=DEFLATE;
    /// 10 connections per user (`mail_max_userip_connections`).
    Dovecot,
    /// Exchange Online: LITERAL+ and UIDPLUS, but no SORT, MULTIAPPEND, COMPRESS, SPECIAL-USE
    /// or QUOTA; a 35 MB message limit; throttling answered "Request is throttled. Suggested
    /// Backoff Time: N milliseconds".
    ExchangeOnline,
    /// Gmail: LITERAL- only, no MULTIAPPEND or SORT, APPENDLIMIT=35651584, 15 connections per
    /// account, throttling answered `[THROTTLED]`.
    Gmail,
}

/// Exchange Online's message size limit (35 MB, as its IMAP endpoint enforces).
const EXCHANGE_MAX_MESSAGE: u64 = 35 * 1024 * 1024;
/// Gmail's advertised APPENDLIMIT.
const GMAIL_APPENDLIMIT: u64 = 35_651_584;

impl MockProfile {
    /// Every profile, for listings.
    pub const ALL: [MockProfile; 3] = [
        MockProfile::Dovecot,
        MockProfile::ExchangeOnline,
        MockProfile::Gmail,
    ];

    /// The profile's name as typed on the command line.
    pub fn name(self) -> &'static str {
        match self {
            MockProfile::Dovecot => "dovecot",
            MockProfile::ExchangeOnline => "exchange-online",
            MockProfile::Gmail => "gmail",
        }
    }

    /// A configuration with the profile's extensions and limits (implicit TLS, no shaping, no
    /// throttling: add [`MockProfile::throttle`] for that).
    pub fn config(self) -> MockConfig {
        let base = Capabilities::default();
        let (caps, max_message_size, limits) = match self {
            MockProfile::Dovecot => (
                base,
                None,
                Limits {
                    max_connections_per_user: Some(10),
                    ..Limits::default()
                },
            ),
            MockProfile::ExchangeOnline => (
                Capabilities {
                    multiappend: false,
                    special_use: false,
                    sort: false,
                    compress: false,
                    quota: false,
                    ..base
                },
                Some(EXCHANGE_MAX_MESSAGE),
                Limits::default(),
            ),
            MockProfile::Gmail => (
                Capabilities {
                    literal_plus: false,
                    literal_minus: true,
                    multiappend: false,
                    sort: false,
                    appendlimit: Some(GMAIL_APPENDLIMIT),
                    ..base
                },
                Some(GMAIL_APPENDLIMIT),
                Limits {
                    max_connections_per_user: Some(15),
                    ..Limits::default()
                },
            ),
        };
        MockConfig {
            caps,
            max_message_size,
            limits,
            ..MockConfig::default()
        }
    }

    /// Throttling at `commands_per_second` per user, worded as this server words it.
    pub fn throttle(self, commands_per_second: u32, backoff: Duration) -> Throttle {
        let reply = match self {
            MockProfile::Dovecot => ThrottleReply::Unavailable,
            MockProfile::ExchangeOnline => ThrottleReply::ExchangeBackoff,
            MockProfile::Gmail => ThrottleReply::Throttled,
        };
        Throttle {
            commands_per_second,
            backoff,
            reply,
        }
    }
}

impl fmt::Display for MockProfile {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for MockProfile {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        MockProfile::ALL
            .into_iter()
            .find(|p| p.name().eq_ignore_ascii_case(s))
            .ok_or_else(|| {
                let names: Vec<_> = MockProfile::ALL.iter().map(|p| p.name()).collect();
                format!("unknown server profile {s:?} (known: {})", names.join(", "))
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mock_server::MockTls;

    #[test]
    fn profiles_advertise_what_the_real_servers_do() {
        let caps = |p: MockProfile| p.config().caps.render(MockTls::Implicit, true, true);
        let exo = caps(MockProfile::ExchangeOnline);
        assert!(exo.contains("LITERAL+") && exo.contains("UIDPLUS"));
        for absent in ["SORT", "MULTIAPPEND", "COMPRESS", "SPECIAL-USE"] {
            assert!(!exo.contains(absent), "{absent} in {exo}");
        }
        let gmail = caps(MockProfile::Gmail);
        assert!(gmail.contains("LITERAL-") && !gmail.contains("LITERAL+"));
        assert!(gmail.contains("APPENDLIMIT=35651584"));
        assert_eq!(
            MockProfile::Gmail.config().limits.max_connections_per_user,
            Some(15)
        );
        let dovecot = caps(MockProfile::Dovecot);
        for present in [
            "SORT",
            "MULTIAPPEND",
            "COMPRESS=DEFLATE",
            "QUOTA",
            "LITERAL+",
        ] {
            assert!(
                dovecot.contains(present),
                "{present} missing from {dovecot}"
            );
        }
    }

    #[test]
    fn names_round_trip_and_unknown_names_are_listed() {
        for p in MockProfile::ALL {
            assert_eq!(p.name().parse::<MockProfile>(), Ok(p));
        }
        let err = "exchange".parse::<MockProfile>().unwrap_err();
        assert!(err.contains("exchange-online") && err.contains("\"exchange\""));
        let t = MockProfile::ExchangeOnline.throttle(5, Duration::from_millis(750));
        assert_eq!(
            t.reply.text(t.backoff),
            "Request is throttled. Suggested Backoff Time: 750 milliseconds"
        );
    }
}
