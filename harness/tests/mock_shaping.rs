//! Shaping, limits, faults, the budget audit and the extensions added for other clients (SORT,
//! QUOTA, COMPRESS), over raw sockets. Time-based checks assert lower bounds only (a sleep is
//! never shorter than asked), so a busy machine cannot make them fail.

use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};

use cutover_harness::mock_server::{
    AuditBudget, Bandwidth, Fault, FaultPlan, FaultRule, Limits, MockConfig, MockProfile,
    MockServer, Shaping, Throttle, ThrottleReply,
};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream};

use crate::mock_server::{plain, raw, raw_logged_in, store_with_mail, timed, Raw};

async fn server_with(config: MockConfig) -> MockServer {
    MockServer::start(plain(config), store_with_mail())
        .await
        .unwrap()
}

/// A raw connection from a chosen loopback address (127.0.0.x is all local on Linux).
async fn raw_from(server: &MockServer, from: [u8; 4]) -> Raw<TcpStream> {
    let socket = TcpSocket::new_v4().unwrap();
    socket
        .bind(SocketAddr::from((IpAddr::from(from), 0)))
        .unwrap();
    let stream = socket.connect(server.addr()).await.unwrap();
    let mut r = Raw {
        stream,
        buf: Vec::new(),
    };
    r.until("* ").await;
    r
}

#[tokio::test]
async fn latency_and_think_time_delay_every_answer() {
    timed(async {
        let server = server_with(MockConfig {
            shaping: Shaping {
                latency: Duration::from_millis(60),
                think_time: Duration::from_millis(20),
                ..Shaping::default()
            },
            ..MockConfig::default()
        })
        .await;
        let mut r = raw_logged_in(&server).await;
        let start = Instant::now();
        r.send(b"a NOOP\r\n").await;
        r.until("a OK").await;
        assert!(start.elapsed() >= Duration::from_millis(80), "one command");
        // Pipelined commands share the latency but not the think time.
        let start = Instant::now();
        r.send(b"b1 NOOP\r\nb2 NOOP\r\nb3 NOOP\r\nb4 NOOP\r\nb5 NOOP\r\n")
            .await;
        let got = r.until("b5 ").await;
        assert!(got.contains("b1 OK") && got.contains("b5 OK"), "{got}");
        assert!(start.elapsed() >= Duration::from_millis(60 + 5 * 20));
    })
    .await
}

#[tokio::test]
async fn the_bandwidth_cap_paces_a_big_fetch() {
    timed(async {
        let store = store_with_mail();
        let body = format!("Subject: big\r\n\r\n{}\r\n", "x".repeat(300_000));
        let date = chrono::DateTime::parse_from_rfc3339("2024-03-01T00:00:00Z").unwrap();
        store.append("alice", "Sent", &[], date, body.into_bytes().into());
        let config = plain(MockConfig {
            shaping: Shaping {
                // 1 Mbit/s = 125,000 bytes/s: 300 KB take at least 2.2 s after the burst.
                bandwidth: Some(Bandwidth::mbit_per_server(1.0)),
                ..Shaping::default()
            },
            ..MockConfig::default()
        });
        let server = MockServer::start(config, store).await.unwrap();
        let mut r = raw_logged_in(&server).await;
        r.send(b"s SELECT Sent\r\n").await;
        r.until("s OK").await;
        let start = Instant::now();
        r.send(b"f UID FETCH 1 BODY.PEEK[]\r\n").await;
        let got = r.until("f OK").await;
        assert!(got.len() > 300_000);
        assert!(
            start.elapsed() >= Duration::from_millis(2200),
            "{:?}",
            start.elapsed()
        );
    })
    .await
}

#[tokio::test]
async fn throttling_refuses_with_the_profiles_wording_and_recovers() {
    timed(async {
        let server = server_with(MockConfig {
            shaping: Shaping {
                throttle: Some(Throttle {
                    commands_per_second: 3,
                    backoff: Duration::from_millis(400),
                    reply: ThrottleReply::ExchangeBackoff,
                }),
                ..Shaping::default()
            },
            ..MockConfig::default()
        })
        .await;
        let mut r = raw_logged_in(&server).await;
        let batch: String = (0..10).map(|i| format!("n{i} NOOP\r\n")).collect();
        r.send(batch.as_bytes()).await;
        let got = r.until("n9 ").await;
        let refused = got
            .matches("NO Request is throttled. Suggested Backoff Time: 400 milliseconds")
            .count();
        // At most 3 pass in any one second; the ten arrive within one or two.
        assert!((4..=10).contains(&refused), "{refused} refused:\n{got}");
        tokio::time::sleep(Duration::from_millis(1100)).await;
        r.send(b"z NOOP\r\n").await;
        assert!(r.until("z ").await.contains("z OK"));
    })
    .await
}

#[tokio::test]
async fn quota_refuses_appends_that_do_not_fit_and_reports_usage() {
    timed(async {
        let server = server_with(MockConfig {
            limits: Limits {
                quota_bytes: Some(2048),
                ..Limits::default()
            },
            ..MockConfig::default()
        })
        .await;
        let mut r = raw_logged_in(&server).await;
        r.send(b"q GETQUOTAROOT INBOX\r\n").await;
        let got = r.until("q ").await;
        assert!(got.contains("* QUOTAROOT \"INBOX\" \"\""), "{got}");
        assert!(got.contains("* QUOTA \"\" (STORAGE 1 2)"), "{got}");
        let body = "x".repeat(1500);
        r.send(format!("a1 APPEND Sent {{{}+}}\r\n{body}\r\n", body.len()).as_bytes())
            .await;
        assert!(r.until("a1 ").await.contains("a1 OK"));
        r.send(format!("a2 APPEND Sent {{{}+}}\r\n{body}\r\n", body.len()).as_bytes())
            .await;
        let got = r.until("a2 ").await;
        assert!(got.contains("a2 NO [OVERQUOTA]"), "{got}");
        assert_eq!(server.store().messages("alice", "Sent").len(), 1);
    })
    .await
}

#[tokio::test]
async fn connection_caps_refuse_logins_and_connections() {
    timed(async {
        let server = server_with(MockConfig {
            limits: Limits {
                max_connections_per_user: Some(2),
                max_connections_per_ip: Some(3),
                ..Limits::default()
            },
            ..MockConfig::default()
        })
        .await;
        let _a = raw_logged_in(&server).await;
        let _b = raw_logged_in(&server).await;
        let mut c = raw(&server).await;
        c.send(b"l LOGIN alice pw\r\n").await;
        assert!(c.until("l ").await.contains("l NO [UNAVAILABLE]"));
        // The fourth connection from 127.0.0.1 is turned away at the door.
        let stream = TcpStream::connect(server.addr()).await.unwrap();
        let mut d = Raw {
            stream,
            buf: Vec::new(),
        };
        let greeting = d.until_closed().await;
        assert!(
            greeting.starts_with("* BYE Too many connections"),
            "{greeting}"
        );
        assert_eq!(server.audit().refused_by_caps, 2);
    })
    .await
}

#[tokio::test]
async fn the_budget_audit_catches_a_deliberate_violation() {
    timed(async {
        let server = server_with(MockConfig::default()).await;
        // Nine connections for one user from 127.0.0.2: one over the seed's budget of eight.
        let mut held = Vec::new();
        for _ in 0..9 {
            let mut r = raw_from(&server, [127, 0, 0, 2]).await;
            r.send(b"l LOGIN alice pw\r\n").await;
            assert!(r.until("l ").await.contains("l OK"));
            held.push(r);
        }
        // And one from another address: the user is now on two IPs.
        let mut other = raw_from(&server, [127, 0, 0, 3]).await;
        other.send(b"l LOGIN alice pw\r\n").await;
        other.until("l OK").await;
        drop(held);
        let audit = server.audit();
        assert_eq!(audit.peak_connections_per_user["alice"], 10);
        assert_eq!(
            audit.peak_connections_per_ip[&IpAddr::from([127, 0, 0, 2])],
            9
        );
        assert_eq!(audit.peak_users_per_ip[&IpAddr::from([127, 0, 0, 2])], 1);
        assert_eq!(audit.users_on_several_ips(), vec!["alice"]);
        let violations = server.budget_violations(&AuditBudget::default());
        assert_eq!(
            violations,
            vec!["user alice had 10 connections at once (budget 8)"]
        );
        let loose = AuditBudget {
            connections_per_user: 10,
            ..AuditBudget::default()
        };
        assert!(server.budget_violations(&loose).is_empty());
    })
    .await
}

fn faulty(fault: Fault, after: u32) -> MockConfig {
    MockConfig {
        faults: FaultPlan {
            seed: 1,
            rules: vec![FaultRule {
                fault,
                probability: 1.0,
                after_commands: (after, after),
            }],
        },
        ..MockConfig::default()
    }
}

#[tokio::test]
async fn a_bye_fault_ends_the_connection_after_n_commands() {
    timed(async {
        let server = server_with(faulty(Fault::Bye, 3)).await;
        let mut r = raw_logged_in(&server).await;
        r.send(b"a NOOP\r\nb NOOP\r\nc NOOP\r\n").await;
        let got = r.until_closed().await;
        assert!(got.contains("a OK") && got.contains("b OK"), "{got}");
        assert!(got.contains("* BYE") && !got.contains("c OK"), "{got}");
    })
    .await
}

#[tokio::test]
async fn a_drop_after_bytes_fault_cuts_a_response_short() {
    timed(async {
        let server = server_with(faulty(Fault::DropAfterBytes(40), 2)).await;
        let mut r = raw_logged_in(&server).await;
        r.send(b"s SELECT INBOX\r\nf UID FETCH 1:* BODY.PEEK[]\r\n")
            .await;
        let got = r.until_closed().await;
        // The fault struck after LOGIN and SELECT: between 1 and 40 bytes of the FETCH came.
        let (_, fetch) = got
            .split_once("s OK [READ-WRITE] Select completed.\r\n")
            .unwrap();
        assert!(!fetch.is_empty() && fetch.len() <= 40, "{fetch:?}");
        assert!(!got.contains("f OK"), "{got}");
    })
    .await
}

#[tokio::test]
async fn a_mid_literal_fault_drops_the_append_and_stores_nothing() {
    timed(async {
        let server = server_with(faulty(Fault::DropMidLiteral, 1)).await;
        let mut r = raw_logged_in(&server).await;
        r.send(b"a APPEND Sent {1000+}\r\n").await;
        r.send(&[b'x'; 300]).await;
        let got = r.until_closed().await;
        assert!(!got.contains("a OK"), "{got}");
        assert!(server.store().messages("alice", "Sent").is_empty());
    })
    .await
}

#[tokio::test]
async fn garbage_and_short_write_faults_keep_the_stream_readable() {
    timed(async {
        let server = server_with(faulty(Fault::Garbage, 1)).await;
        let mut r = raw_logged_in(&server).await;
        r.send(b"a NOOP\r\n").await;
        let got = r.until("a ").await;
        assert!(got.contains("this is not IMAP"), "{got}");

        let server = server_with(faulty(Fault::ShortWrites, 0)).await;
        let mut r = raw_logged_in(&server).await;
        r.send(b"s SELECT INBOX\r\nf UID FETCH 1:* (UID BODY.PEEK[])\r\n")
            .await;
        let got = r.until("f ").await;
        assert!(got.contains("f OK") && got.contains("body 3"), "{got}");
    })
    .await
}

#[tokio::test]
async fn a_stall_fault_holds_the_answer() {
    timed(async {
        let server = server_with(faulty(Fault::Stall(Duration::from_millis(300)), 1)).await;
        let mut r = raw(&server).await;
        let start = Instant::now();
        // The stall strikes after the LOGIN's answer, before the NOOP's.
        r.send(b"l LOGIN alice pw\r\na NOOP\r\n").await;
        let got = r.until("a ").await;
        assert!(got.contains("l OK") && got.contains("a OK"), "{got}");
        assert!(start.elapsed() >= Duration::from_millis(300));
    })
    .await
}

#[tokio::test]
async fn uid_sort_orders_by_arrival_and_size() {
    timed(async {
        let server = server_with(MockConfig::default()).await;
        let mut r = raw_logged_in(&server).await;
        r.send(b"s EXAMINE INBOX\r\n").await;
        r.until("s OK").await;
        // INBOX: uid 1 2024-01-05, uid 2 2023-12-31, uid 3 2024-02-01.
        r.send(b"a UID SORT (REVERSE ARRIVAL) UTF-8 ALL\r\n").await;
        assert!(r.until("a ").await.contains("* SORT 3 1 2\r\n"));
        r.send(b"b UID SORT (ARRIVAL) US-ASCII UID 2:3\r\n").await;
        assert!(r.until("b ").await.contains("* SORT 2 3\r\n"));
        r.send(b"c UID SORT (SIZE) UTF-8 ALL\r\n").await;
        assert!(r.until("c ").await.contains("c OK"));

        // Off in the Exchange Online profile.
        let server = server_with(MockProfile::ExchangeOnline.config()).await;
        let mut r = raw_logged_in(&server).await;
        r.send(b"s EXAMINE INBOX\r\na UID SORT (ARRIVAL) UTF-8 ALL\r\n")
            .await;
        assert!(r.until("a ").await.contains("a BAD"));
    })
    .await
}

#[tokio::test]
async fn compress_deflate_switches_both_directions() {
    timed(async {
        let server = server_with(MockConfig::default()).await;
        let mut r = raw_logged_in(&server).await;
        r.send(b"z COMPRESS DEFLATE\r\n").await;
        assert!(r.until("z ").await.contains("z OK"));
        let mut transport = cutover_engine::imap::Transport::new(Box::new(r.stream));
        transport.start_deflate();
        transport
            .write_all(b"s EXAMINE INBOX\r\nf UID FETCH 2 BODY.PEEK[]\r\n")
            .await
            .unwrap();
        transport.flush().await.unwrap();
        let mut got = Vec::new();
        let mut chunk = [0u8; 4096];
        while !String::from_utf8_lossy(&got).contains("f OK") {
            let n = transport.read(&mut chunk).await.unwrap();
            assert!(n > 0, "closed: {}", String::from_utf8_lossy(&got));
            got.extend_from_slice(&chunk[..n]);
        }
        let text = String::from_utf8_lossy(&got);
        assert!(text.contains("Subject: message 2"), "{text}");
        let wire = transport.counters();
        let wire_read = wire.read.load(std::sync::atomic::Ordering::Relaxed);
        assert!(
            wire_read > 0 && (wire_read as usize) < got.len(),
            "compressed"
        );
    })
    .await
}

#[tokio::test]
async fn a_shaped_server_sends_the_continuation_for_a_synchronizing_literal() {
    timed(async {
        let server = server_with(MockConfig {
            shaping: Shaping {
                latency: Duration::from_millis(10),
                ..Shaping::default()
            },
            ..MockProfile::Gmail.config()
        })
        .await;
        let mut r = raw_logged_in(&server).await;
        r.send(b"a APPEND Sent {12}\r\n").await;
        assert!(r.until("+ ").await.starts_with("+ Ready"));
        r.send(b"Subject: x\r\n\r\n").await;
        assert!(r.until("a ").await.contains("a OK"));
        assert_eq!(server.store().messages("alice", "Sent").len(), 1);
    })
    .await
}
