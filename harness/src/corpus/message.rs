//! One RFC 5322 message, built to a target size: headers as delivered (Return-Path, Received,
//! Message-ID, Date, From, To, Cc, Subject, MIME; sent mail and drafts, saved by the client,
//! have no Return-Path or Received), then a text/plain, multipart/alternative or
//! multipart/mixed body whose filler absorbs the difference, so the message is exactly the
//! target size unless the target is smaller than its headers and MIME scaffolding.
//!
//! Invariants: CRLF line endings only; headers are ASCII (RFC 2047 for non-ASCII); the Date
//! header is the message's INTERNALDATE; 8-bit text only in parts declared `8bit`.

use std::fmt;
use std::io::Write as _;

use chrono::{DateTime, FixedOffset};
use rand::RngCore;
use rand_chacha::ChaCha8Rng;

use super::address::{AddressForm, Person};
use super::layout::FolderKind;
use super::text::{self, Prose};

/// Everyday subjects.
const SUBJECTS: &[&str] = &[
    "Meeting notes",
    "Budget review for next quarter",
    "Project status update",
    "Lunch on Friday?",
    "Invoice 2291",
    "Contract draft v3",
    "Slides for the workshop",
    "Travel plans",
    "Quick question",
    "Migration schedule",
    "Server maintenance window",
    "Your expense report",
    "Holiday rota",
    "Customer feedback",
    "Weekly report",
    "Release notes",
    "Agenda for Monday",
    "Training session",
    "New office layout",
    "Security policy reminder",
];

/// Subjects with non-ASCII text, sent RFC 2047 encoded.
const UTF8_SUBJECTS: &[&str] = &[
    "Grüße aus München",
    "Réunion de l'équipe — ordre du jour",
    "Café am Freitag?",
    "Überprüfung der Größe für Q3",
    "Été 2024 : planning des congés",
    "Olá, tudo bem? Reunião amanhã",
    "Статус проекта",
    "会议纪要",
    "Smörgåsbord i Malmö på fredag",
];

/// Spam subjects, for Junk.
const JUNK_SUBJECTS: &[&str] = &[
    "You have won a prize",
    "Urgent: verify your account",
    "Cheap watches",
    "Invoice overdue - action required",
    "Your parcel could not be delivered",
];

/// Openings of text bodies (ASCII).
const GREETINGS: &[&str] = &[
    "Hi,\r\n\r\n",
    "Hello,\r\n\r\n",
    "Dear colleagues,\r\n\r\n",
    "Hi all,\r\n\r\n",
];

/// Closings of 7-bit text bodies.
const CLOSINGS: &[&str] = &[
    "\r\nBest regards\r\n",
    "\r\nThanks!\r\n",
    "\r\nCheers\r\n",
    "\r\nKind regards\r\n",
];

/// Closings of 8-bit text bodies.
const UTF8_CLOSINGS: &[&str] = &[
    "\r\nViele Grüße\r\n",
    "\r\nMerci et à bientôt\r\n",
    "\r\nMed vänliga hälsningar\r\n",
];

/// Attachments: content type, `name` parameter, `filename` parameter (one RFC 2231 encoded).
const ATTACHMENTS: &[(&str, &str, &str)] = &[
    (
        "application/pdf",
        "name=\"report.pdf\"",
        "filename=\"report.pdf\"",
    ),
    (
        "image/jpeg",
        "name=\"IMG_2041.jpg\"",
        "filename=\"IMG_2041.jpg\"",
    ),
    (
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        "name=\"budget.xlsx\"",
        "filename=\"budget.xlsx\"",
    ),
    (
        "application/vnd.openxmlformats-officedocument.presentationml.presentation",
        "name=\"slides.pptx\"",
        "filename=\"slides.pptx\"",
    ),
    (
        "application/zip",
        "name=\"archive.zip\"",
        "filename=\"archive.zip\"",
    ),
    (
        "application/pdf",
        "name=\"=?UTF-8?Q?Pr=C3=A4sentation=2Epdf?=\"",
        "filename*=UTF-8''Pr%C3%A4sentation.pdf",
    ),
];

/// Mail clients, as `X-Mailer` or `User-Agent` header lines.
const MAILERS: &[&str] = &[
    "X-Mailer: Microsoft Outlook 16.0\r\n",
    "User-Agent: Mozilla Thunderbird\r\n",
    "X-Mailer: Apple Mail (2.3774.600.62)\r\n",
    "User-Agent: Roundcube Webmail/1.6.9\r\n",
];

/// The opening and closing of HTML parts; the filler goes between.
const HTML_HEAD: &str = "<html>\r\n<head>\r\n<meta http-equiv=\"Content-Type\" content=\"text/html; charset=utf-8\">\r\n</head>\r\n<body>\r\n<p>\r\n";
const HTML_TAIL: &str = "</p>\r\n</body>\r\n</html>\r\n";

/// What a message is made from, decided by the mailbox plan.
#[derive(Clone, Copy, Debug)]
pub(super) struct Envelope {
    /// The mailbox owner.
    pub(super) owner: Person,
    /// The folder the message is filed in.
    pub(super) kind: FolderKind,
    /// Date header and INTERNALDATE.
    pub(super) date: DateTime<FixedOffset>,
    /// Total size to aim for, in bytes.
    pub(super) target: usize,
    /// Whether to carry a base64 attachment.
    pub(super) attachment: bool,
    /// Mailbox number and message number in it, which make the Message-ID unique.
    pub(super) mailbox: usize,
    pub(super) seq: usize,
}

/// Appends formatted text to a byte buffer.
fn put(out: &mut Vec<u8>, args: fmt::Arguments<'_>) {
    out.write_fmt(args).expect("writing to a Vec cannot fail");
}

/// `exchange` if `use_it`, else the plain SMTP form.
fn form(use_it: bool, exchange: AddressForm) -> AddressForm {
    if use_it {
        exchange
    } else {
        AddressForm::Smtp
    }
}

/// Picks an element of `items` from random bits.
fn choose<T: Copy>(items: &[T], bits: u64) -> T {
    items[(bits % items.len() as u64) as usize]
}

/// Builds one message for `env`.
pub(super) fn build(rng: &mut ChaCha8Rng, env: &Envelope) -> Vec<u8> {
    let mut out = Vec::with_capacity(env.target + 512);
    let bits = rng.next_u64();
    let eight_bit = bits % 100 < 10;
    let x500 = (bits >> 8) % 100 < 5;
    let outgoing = env.kind.outgoing();
    let peer = Person::from_bits(rng.next_u64());
    let date = env.date.format("%a, %d %b %Y %H:%M:%S %z").to_string();
    let from = if outgoing { env.owner } else { peer };

    if !outgoing {
        out.extend_from_slice(b"Return-Path: <");
        from.write_email(&mut out);
        out.extend_from_slice(b">\r\n");
        let relay = rng.next_u64();
        put(
            &mut out,
            format_args!(
                "Received: from mx{n}.{d} (mx{n}.{d} [198.51.100.{h}])\r\n\tby mx.example.com (Postfix) with ESMTPS id {id:010X}\r\n\tfor <",
                n = relay % 4 + 1,
                d = from.domain(),
                h = (relay >> 8) % 250 + 2,
                id = (relay >> 24) & 0xff_ffff_ffff,
            ),
        );
        env.owner.write_email(&mut out);
        put(&mut out, format_args!(">; {date}\r\n"));
        if (bits >> 16) & 1 == 0 {
            put(
                &mut out,
                format_args!(
                    "Received: from [192.168.{}.{}] (unknown [203.0.113.{}])\r\n\tby mx{}.{} with ESMTPSA;\r\n\t{date}\r\n",
                    (relay >> 4) % 8,
                    (relay >> 12) % 250 + 2,
                    (relay >> 20) % 250 + 2,
                    relay % 4 + 1,
                    from.domain(),
                ),
            );
        }
    }
    put(
        &mut out,
        format_args!(
            "Message-ID: <{:016x}.{:x}.{:x}@{}>\r\nDate: {date}\r\nFrom: ",
            rng.next_u64(),
            env.mailbox,
            env.seq,
            from.domain()
        ),
    );
    // An Exchange X.500 address, in about 5% of messages: received mail from an Exchange sender
    // (legacyExchangeDN in From) or with an IMCEA-encapsulated Cc, or sent mail to a
    // legacyExchangeDN recipient (as Exchange stores it in Sent Items).
    let legacy_from = x500 && !outgoing && (bits >> 17) & 1 == 0;
    let imcea_cc = x500 && !outgoing && !legacy_from;
    let legacy_to = x500 && outgoing;
    from.write_mailbox(form(legacy_from, AddressForm::LegacyDn), &mut out);
    out.extend_from_slice(b"\r\nTo: ");
    let to = if outgoing { peer } else { env.owner };
    to.write_mailbox(form(legacy_to, AddressForm::LegacyDn), &mut out);
    let extra_to = if (bits >> 20) % 10 < 3 {
        1 + (bits >> 24) % 2
    } else {
        0
    };
    for _ in 0..extra_to {
        out.extend_from_slice(b",\r\n ");
        Person::from_bits(rng.next_u64()).write_mailbox(AddressForm::Smtp, &mut out);
    }
    let cc = if (bits >> 26).is_multiple_of(4) {
        1 + (bits >> 28) % 2
    } else {
        0
    } + u64::from(imcea_cc);
    for i in 0..cc {
        out.extend_from_slice(if i == 0 { b"\r\nCc: " } else { b",\r\n " });
        let imcea = imcea_cc && i == 0;
        Person::from_bits(rng.next_u64()).write_mailbox(form(imcea, AddressForm::Imcea), &mut out);
    }
    out.extend_from_slice(b"\r\nSubject: ");
    let subject_bits = rng.next_u64();
    let reply = if env.kind == FolderKind::Junk {
        out.extend_from_slice(choose(JUNK_SUBJECTS, subject_bits).as_bytes());
        false
    } else {
        let prefix = choose(
            &["", "", "", "", "", "Re: ", "Re: ", "Fwd: ", "AW: "],
            subject_bits >> 8,
        );
        out.extend_from_slice(prefix.as_bytes());
        if (subject_bits >> 16).is_multiple_of(10) {
            text::encoded_words(
                choose(UTF8_SUBJECTS, subject_bits >> 20),
                (subject_bits >> 28) & 1 == 0,
                &mut out,
            );
        } else {
            out.extend_from_slice(choose(SUBJECTS, subject_bits >> 20).as_bytes());
        }
        prefix.starts_with("Re") || prefix.starts_with("AW")
    };
    out.extend_from_slice(b"\r\n");
    if reply {
        put(
            &mut out,
            format_args!("In-Reply-To: <{:016x}@{}>\r\n", rng.next_u64(), to.domain()),
        );
    }
    if outgoing || !(bits >> 32).is_multiple_of(3) {
        out.extend_from_slice(choose(MAILERS, bits >> 36).as_bytes());
    }
    if x500 {
        out.extend_from_slice(b"X-MS-Exchange-Organization-AuthAs: Internal\r\n");
    }
    match env.kind {
        FolderKind::Drafts => {
            out.extend_from_slice(b"X-Mozilla-Draft-Info: internal/draft; vcard=0; receipt=0\r\n")
        }
        FolderKind::Junk => out.extend_from_slice(b"X-Spam-Flag: YES\r\nX-Spam-Score: 7.9\r\n"),
        _ => {}
    }
    out.extend_from_slice(b"MIME-Version: 1.0\r\n");

    let cte = if eight_bit { "8bit" } else { "7bit" };
    let boundary = format!("----=_Part_{:016x}", rng.next_u64());
    if env.attachment {
        write_mixed(rng, &mut out, env.target, eight_bit, cte, &boundary);
    } else if env.target >= 2_500 && (bits >> 40) % 100 < 45 {
        write_alternative(rng, &mut out, env.target, eight_bit, cte, &boundary);
    } else {
        put(&mut out, format_args!("Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: {cte}\r\n\r\n"));
        let n = env.target.saturating_sub(out.len());
        write_text(rng, &mut out, n, eight_bit);
    }
    out
}

/// Appends exactly `n.max(2)` bytes of text body: a greeting and closing if there is room, and
/// prose between.
fn write_text(rng: &mut ChaCha8Rng, out: &mut Vec<u8>, n: usize, eight_bit: bool) {
    let bits = rng.next_u64();
    let greeting = choose(GREETINGS, bits);
    let closing = choose(if eight_bit { UTF8_CLOSINGS } else { CLOSINGS }, bits >> 8);
    let prose = Prose {
        utf8: eight_bit,
        html: false,
    };
    if n >= greeting.len() + closing.len() + 64 {
        out.extend_from_slice(greeting.as_bytes());
        text::fill(rng, out, n - greeting.len() - closing.len(), prose);
        out.extend_from_slice(closing.as_bytes());
    } else {
        text::fill(rng, out, n, prose);
    }
}

/// Appends the Content-Type header and a multipart/alternative body (text and HTML of the same
/// prose style), bringing `out` to `target` bytes.
fn write_alternative(
    rng: &mut ChaCha8Rng,
    out: &mut Vec<u8>,
    target: usize,
    eight_bit: bool,
    cte: &str,
    boundary: &str,
) {
    put(
        out,
        format_args!("Content-Type: multipart/alternative;\r\n\tboundary=\"{boundary}\"\r\n\r\n"),
    );
    let text_head = format!("--{boundary}\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: {cte}\r\n\r\n");
    let html_head = format!("\r\n--{boundary}\r\nContent-Type: text/html; charset=utf-8\r\nContent-Transfer-Encoding: {cte}\r\n\r\n{HTML_HEAD}");
    let tail = format!("{HTML_TAIL}\r\n--{boundary}--\r\n");
    let budget = target.saturating_sub(out.len() + text_head.len() + html_head.len() + tail.len());
    let text_len = budget * 2 / 5;
    out.extend_from_slice(text_head.as_bytes());
    write_text(rng, out, text_len, eight_bit);
    out.extend_from_slice(html_head.as_bytes());
    text::fill(
        rng,
        out,
        budget - text_len,
        Prose {
            utf8: eight_bit,
            html: true,
        },
    );
    out.extend_from_slice(tail.as_bytes());
}

/// Appends the Content-Type header and a multipart/mixed body: a short text part and a base64
/// attachment of random bytes holding the rest of `target`.
fn write_mixed(
    rng: &mut ChaCha8Rng,
    out: &mut Vec<u8>,
    target: usize,
    eight_bit: bool,
    cte: &str,
    boundary: &str,
) {
    let bits = rng.next_u64();
    let (content_type, name, filename) = choose(ATTACHMENTS, bits);
    put(out, format_args!("Content-Type: multipart/mixed;\r\n\tboundary=\"{boundary}\"\r\n\r\nThis is a multi-part message in MIME format.\r\n\r\n"));
    let text_head = format!("--{boundary}\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: {cte}\r\n\r\n");
    let file_head = format!(
        "\r\n--{boundary}\r\nContent-Type: {content_type};\r\n\t{name}\r\nContent-Disposition: attachment;\r\n\t{filename}\r\nContent-Transfer-Encoding: base64\r\n\r\n"
    );
    let tail = format!("\r\n--{boundary}--\r\n");
    let budget = target.saturating_sub(out.len() + text_head.len() + file_head.len() + tail.len());
    // The block's last CRLF is dropped: the tail's delimiter starts with the CRLF that ends it.
    let want_text = (200 + (bits >> 8) % 1_500) as usize;
    let space = budget.saturating_sub(want_text.min(budget / 5));
    let chars = base64_chars_within(space).max(4);
    let block = text::base64_block_len(chars) - 2;
    let text_len = budget.saturating_sub(block);
    out.extend_from_slice(text_head.as_bytes());
    write_text(rng, out, text_len, eight_bit);
    out.extend_from_slice(file_head.as_bytes());
    text::random_base64_block(rng, out, chars);
    out.truncate(out.len() - 2);
    out.extend_from_slice(tail.as_bytes());
}

/// The most base64 characters (a multiple of 4) whose block, in lines of 76 with CRLF but
/// without the last CRLF, fits in `space` bytes.
fn base64_chars_within(space: usize) -> usize {
    let space = space + 2;
    let lines = space / (text::MAX_LINE + 2);
    let partial = (space % (text::MAX_LINE + 2)).saturating_sub(2);
    let chars = lines * text::MAX_LINE + partial;
    chars - chars % 4
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;
    use rand::SeedableRng;

    fn envelope(kind: FolderKind, target: usize, attachment: bool) -> Envelope {
        Envelope {
            owner: Person::owner(0, 1),
            kind,
            date: FixedOffset::east_opt(3600)
                .unwrap()
                .with_ymd_and_hms(2024, 2, 29, 9, 30, 5)
                .unwrap(),
            target,
            attachment,
            mailbox: 0,
            seq: 0,
        }
    }

    #[test]
    fn messages_hit_their_target_size_exactly() {
        let mut rng = ChaCha8Rng::seed_from_u64(5);
        for kind in [
            FolderKind::Inbox,
            FolderKind::Sent,
            FolderKind::Drafts,
            FolderKind::Junk,
        ] {
            for target in (2_500..40_000).step_by(997).chain([100_000, 1_234_567]) {
                for attachment in [false, true] {
                    for _ in 0..3 {
                        let message = build(&mut rng, &envelope(kind, target, attachment));
                        assert_eq!(message.len(), target, "{kind:?} attachment={attachment}");
                    }
                }
            }
        }
    }

    #[test]
    fn small_targets_overshoot_only_by_their_headers() {
        let mut rng = ChaCha8Rng::seed_from_u64(6);
        for target in [0, 600, 900, 1_500] {
            for attachment in [false, true] {
                let message = build(&mut rng, &envelope(FolderKind::Inbox, target, attachment));
                assert!(
                    message.len() < target.max(2_000),
                    "{} for {target}",
                    message.len()
                );
            }
        }
    }

    #[test]
    fn base64_chars_within_fills_the_space() {
        for space in 4..2_000 {
            let chars = base64_chars_within(space);
            assert_eq!(chars % 4, 0);
            assert!(text::base64_block_len(chars) - 2 <= space, "{space}");
            assert!(text::base64_block_len(chars + 4) - 2 > space, "{space}");
        }
    }
}
