//! The crash harness's source mailbox: seeded, several folders, sizes from a few hundred bytes
//! to 120 KB, INTERNALDATEs shuffled against UID order, messages without Message-ID, Message-IDs
//! shared by different bodies, identical bodies, some `\Deleted`; seeded fast with MULTIAPPEND.

use cutover_harness::imap_account::{self, SeedMessage, Session};
use serde_json::Value;

/// The user the corpus belongs to.
pub(super) const USER: &str = "cal";
/// Messages in the corpus.
pub(super) const MESSAGES: usize = 1400;

/// splitmix64: small, seeded, the same sequence on every machine.
pub(super) struct Rng(pub(super) u64);

impl Rng {
    pub(super) fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    pub(super) fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }

    pub(super) fn between(&mut self, low: u64, high: u64) -> u64 {
        low + self.below(high - low + 1)
    }

    pub(super) fn one_in(&mut self, n: u64) -> bool {
        self.below(n) == 0
    }
}

/// The source mailbox, and how many of its messages the default filter keeps.
pub(super) struct Corpus {
    pub(super) folders: Vec<(&'static str, Vec<SeedMessage>)>,
    pub(super) kept: u64,
    pub(super) deleted: u64,
}

pub(super) fn corpus(rng: &mut Rng) -> Corpus {
    let names = [
        "INBOX",
        "Sent",
        "Important Mail",
        "Spam",
        "Projects/2024/Q1",
    ];
    let mut folders: Vec<(&'static str, Vec<SeedMessage>)> =
        names.iter().map(|n| (*n, Vec::new())).collect();
    // Dates: a seeded permutation of minutes, so UID order says nothing about date order.
    let mut minutes: Vec<u64> = (0..MESSAGES as u64).collect();
    for i in (1..minutes.len()).rev() {
        let j = rng.below(i as u64 + 1) as usize;
        minutes.swap(i, j);
    }
    let base = chrono::DateTime::parse_from_rfc3339("2023-01-02T07:00:00+01:00").unwrap();
    let (mut kept, mut deleted) = (0, 0);
    let mut bodies: Vec<Vec<u8>> = Vec::new();
    for (i, minute) in minutes.iter().enumerate() {
        let folder = match rng.below(100) {
            0..=39 => 0,
            40..=59 => 1,
            60..=74 => 2,
            75..=87 => 3,
            _ => 4,
        };
        let size = match rng.below(100) {
            0..=69 => rng.between(200, 4_000),
            70..=95 => rng.between(8_000, 40_000),
            _ => rng.between(60_000, 120_000),
        } as usize;
        let body = match rng.below(100) {
            // An identical copy of an earlier message (same folder or not).
            0..=1 if !bodies.is_empty() => bodies[rng.below(bodies.len() as u64) as usize].clone(),
            roll => {
                let id = match roll {
                    // No Message-ID at all.
                    2..=9 => String::new(),
                    // The Message-ID of an earlier message, with another body.
                    10..=13 if i > 0 => {
                        format!("Message-ID: <c{}@crash.test>\r\n", rng.below(i as u64))
                    }
                    _ => format!("Message-ID: <c{i}@crash.test>\r\n"),
                };
                let mut b = format!(
                    "From: s{i}@example.org\r\nTo: {USER}@example.net\r\nSubject: crash {i}\r\n\
                     Date: Mon, 2 Jan 2023 07:00:00 +0100\r\n{id}\r\n"
                )
                .into_bytes();
                let fill = b'a' + (i % 26) as u8;
                while b.len() < size {
                    let line = (b.len() / 76) % 1000;
                    b.extend(std::iter::repeat_n(fill, 70));
                    b.extend_from_slice(format!(" {line:03}\r\n").as_bytes());
                }
                b
            }
        };
        bodies.push(body.clone());
        let mut flags: Vec<String> = Vec::new();
        for (flag, one_in) in [
            ("\\Seen", 2),
            ("\\Flagged", 9),
            ("\\Answered", 7),
            ("$Label1", 11),
        ] {
            if rng.one_in(one_in) {
                flags.push(flag.into());
            }
        }
        if rng.one_in(40) {
            flags.push("\\Deleted".into());
            deleted += 1;
        } else {
            kept += 1;
        }
        folders[folder].1.push(SeedMessage {
            flags,
            internaldate: base + chrono::Duration::minutes(*minute as i64),
            body,
        });
    }
    Corpus {
        folders,
        kept,
        deleted,
    }
}

/// Creates `folder` and APPENDs `messages` to it in MULTIAPPEND commands of 100 with LITERAL+
/// (one round trip and one sync each, not one per message), UIDs in slice order.
pub(super) async fn multiappend(s: &mut Session, folder: &str, messages: &[SeedMessage]) {
    imap_account::seed(s, folder, &[]).await.unwrap();
    for chunk in messages.chunks(100) {
        let mut command = format!("APPEND \"{folder}\"");
        for m in chunk {
            let body = std::str::from_utf8(&m.body).expect("an ASCII corpus");
            command.push_str(&format!(
                " ({}) \"{}\" {{{}+}}\r\n{body}",
                m.flags.join(" "),
                imap_account::imap_date(&m.internaldate),
                m.body.len()
            ));
        }
        s.run_command_and_check_ok(&command).await.unwrap();
    }
    s.logout().await.ok();
}

/// For each message missing or twice, what is special about it in the corpus: how many source
/// messages share its Message-ID, and how many its exact body.
pub(super) fn diagnosis(report: &Value, corpus: &Corpus) -> String {
    let mut ids: std::collections::HashMap<String, usize> = Default::default();
    let mut bodies: std::collections::HashMap<&[u8], usize> = Default::default();
    for m in corpus.folders.iter().flat_map(|(_, m)| m) {
        let (id, _) = cutover_engine::verify::message_label::message_label(&m.body);
        *ids.entry(id.unwrap_or_default()).or_default() += 1;
        *bodies.entry(&m.body).or_default() += 1;
    }
    let mut out = String::from("what the messages missing or twice have in common:\n");
    let folders = report["mailboxes"][0]["folders"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    for f in &folders {
        for kind in ["missing", "duplicates"] {
            for m in f[kind].as_array().into_iter().flatten() {
                let id = m["message_id"].as_str().unwrap_or("");
                out.push_str(&format!(
                    "  {kind} in {}: {} UID {} {} ({} bytes): Message-ID shared by {} source \
                     messages\n",
                    f["dest"],
                    m["folder"],
                    m["uid"],
                    if id.is_empty() {
                        "without Message-ID"
                    } else {
                        id
                    },
                    m["size"],
                    if id.is_empty() {
                        0
                    } else {
                        ids.get(id).copied().unwrap_or(0)
                    },
                ));
            }
        }
    }
    let same_body = bodies.values().filter(|n| **n > 1).count();
    out.push_str(&format!(
        "  ({same_body} bodies occur more than once in the corpus)\n"
    ));
    out
}
