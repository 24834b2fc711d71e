//! criterion benches of the protocol's hot paths on the committed corpus
//! (`fixtures/corpus/standard.corpus.zst`): parsing FETCH responses, compressing message bytes,
//! and round trips to the in-process mock server.
//!
//! `cargo bench --bench protocol` (add `-- compress` to run one group).
//! - `parse_fetch`: imap-proto's `Response::parse` (the parser async-imap and the engine use) over a buffer of
//!   `* n FETCH (UID FLAGS INTERNALDATE RFC822.SIZE BODY[])` responses, one per corpus message;
//!   Throughput in bytes.
//! - `compress_text`, `compress_attachments`: raw DEFLATE level 1 (what COMPRESS=DEFLATE sends,
//!   as `engine::imap::transport` sets it up) against zstd levels 1 and 3, one stream over the
//!   messages without, then with, a base64 attachment; Throughput in input bytes. The compression
//!   ratios are printed once, before the timing.
//! - `corpus_load`: reading the corpus file against generating the same corpus from its spec;
//!   Throughput in bytes of mail.
//! - `mock_round_trip`: a raw TCP client logged in to a plaintext `MockServer` on loopback:
//!   `noop` round trips, and `uid_fetch_75k`, a whole ~75 KB message; Throughput in elements, so
//!   criterion prints round trips per second.
//!
//! Run without `--bench` (as `cargo test --all-targets` does), each bench runs once on a small
//! sample, so the test run stays quick.

use std::hint::black_box;
use std::io::Write as _;
use std::time::Instant;

use bytes::Bytes;
use criterion::{criterion_main, Criterion, Throughput};
use cutover_harness::corpus::{generate, Corpus, CorpusMessage};
use cutover_harness::mock_server::{MockConfig, MockServer, MockStore, MockTls};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;

/// The committed corpus the benches read.
const CORPUS: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/fixtures/corpus/standard.corpus.zst"
);

/// True under `cargo bench`; false when the bench binary runs as a test, once per bench.
fn measuring() -> bool {
    std::env::args().any(|a| a == "--bench")
}

/// The corpus's messages, oldest folder order, as stored.
fn corpus_messages() -> Vec<CorpusMessage> {
    let start = Instant::now();
    let corpus = Corpus::read_zst(CORPUS).expect("the committed corpus loads");
    eprintln!(
        "corpus: {} messages, {:.1} MB, loaded in {:.0} ms",
        corpus.total_messages(),
        corpus.total_bytes() as f64 / 1e6,
        start.elapsed().as_secs_f64() * 1e3
    );
    corpus
        .mailboxes
        .into_iter()
        .flat_map(|m| m.folders)
        .flat_map(|f| f.messages)
        .collect()
}

/// Whether a message carries an attachment (the generator's only `Content-Disposition`).
fn has_attachment(message: &CorpusMessage) -> bool {
    let needle = b"Content-Disposition: attachment";
    message.body.windows(needle.len()).any(|w| w == needle)
}

/// The first messages of `messages` up to `limit` bytes in all.
fn sample(messages: &[&CorpusMessage], limit: usize) -> Vec<Bytes> {
    let mut total = 0;
    messages
        .iter()
        .take_while(|m| {
            let fits = total < limit;
            total += m.body.len();
            fits
        })
        .map(|m| m.body.clone())
        .collect()
}

/// One untagged FETCH response per message, as a server sends them for
/// `UID FETCH 1:* (UID FLAGS INTERNALDATE RFC822.SIZE BODY.PEEK[])`.
fn fetch_responses(messages: &[CorpusMessage]) -> Vec<u8> {
    let mut out = Vec::new();
    for (i, m) in messages.iter().enumerate() {
        let n = i + 1;
        write!(
            out,
            "* {n} FETCH (UID {} FLAGS ({}) INTERNALDATE \"{}\" RFC822.SIZE {len} BODY[] {{{len}}}\r\n",
            n * 3,
            m.flags.join(" "),
            m.internaldate.format("%d-%b-%Y %H:%M:%S %z"),
            len = m.body.len()
        )
        .expect("writing to a Vec");
        out.extend_from_slice(&m.body);
        out.extend_from_slice(b")\r\n");
    }
    out
}

/// Parses every response in `buffer`, returning how many there were.
fn parse_all(mut buffer: &[u8]) -> usize {
    let mut n = 0;
    while !buffer.is_empty() {
        let (rest, response) =
            imap_proto::Response::parse(buffer).expect("a well-formed FETCH response");
        black_box(response);
        buffer = rest;
        n += 1;
    }
    n
}

fn parse_fetch_bench(c: &mut Criterion) {
    let mut messages = corpus_messages();
    if !measuring() {
        messages.truncate(20);
    }
    let buffer = fetch_responses(&messages);
    assert_eq!(parse_all(&buffer), messages.len());
    let start = Instant::now();
    parse_all(&buffer);
    eprintln!(
        "parse_fetch: {} responses, {:.1} MB, one pass {:.0} responses/s",
        messages.len(),
        buffer.len() as f64 / 1e6,
        messages.len() as f64 / start.elapsed().as_secs_f64()
    );
    let mut group = c.benchmark_group("parse_fetch");
    group.throughput(Throughput::Bytes(buffer.len() as u64));
    group.bench_function("imap_proto", |b| b.iter(|| parse_all(&buffer)));
    group.finish();
}

/// One raw DEFLATE stream (RFC 1951, level 1: COMPRESS=DEFLATE as the engine sends it) over
/// all `messages`.
fn deflate_1(messages: &[Bytes]) -> Vec<u8> {
    let mut encoder = flate2::write::DeflateEncoder::new(Vec::new(), flate2::Compression::fast());
    for m in messages {
        encoder.write_all(m).expect("writing to a Vec");
    }
    encoder.finish().expect("writing to a Vec")
}

/// One zstd stream at `level` over all `messages`.
fn zstd_stream(messages: &[Bytes], level: i32) -> Vec<u8> {
    let mut encoder = zstd::stream::write::Encoder::new(Vec::new(), level).expect("zstd level");
    for m in messages {
        encoder.write_all(m).expect("writing to a Vec");
    }
    encoder.finish().expect("writing to a Vec")
}

/// The compressors compared, by bench name.
type Compressor = fn(&[Bytes]) -> Vec<u8>;
const COMPRESSORS: [(&str, Compressor); 3] = [
    ("deflate_1", deflate_1),
    ("zstd_1", |m| zstd_stream(m, 1)),
    ("zstd_3", |m| zstd_stream(m, 3)),
];

fn compress_bench(c: &mut Criterion) {
    let messages = corpus_messages();
    let limit = if measuring() { 8_000_000 } else { 300_000 };
    let (with, without): (Vec<&CorpusMessage>, Vec<&CorpusMessage>) =
        messages.iter().partition(|m| has_attachment(m));
    for (group_name, part) in [("compress_text", without), ("compress_attachments", with)] {
        let sample = sample(&part, limit);
        let bytes: usize = sample.iter().map(Bytes::len).sum();
        eprintln!(
            "{group_name}: {} messages, {:.2} MB",
            sample.len(),
            bytes as f64 / 1e6
        );
        for (name, compress) in COMPRESSORS {
            let start = Instant::now();
            let out = compress(&sample);
            eprintln!(
                "  {name:<10} ratio {:>5.2}  ({:.2} MB -> {:.2} MB, one pass {:.0} MB/s)",
                bytes as f64 / out.len() as f64,
                bytes as f64 / 1e6,
                out.len() as f64 / 1e6,
                bytes as f64 / 1e6 / start.elapsed().as_secs_f64()
            );
        }
        let mut group = c.benchmark_group(group_name);
        group.throughput(Throughput::Bytes(bytes as u64));
        group.sample_size(20);
        for (name, compress) in COMPRESSORS {
            group.bench_function(name, |b| b.iter(|| compress(&sample).len()));
        }
        group.finish();
    }
}

fn corpus_load_bench(c: &mut Criterion) {
    let corpus = Corpus::read_zst(CORPUS).expect("the committed corpus loads");
    let mut group = c.benchmark_group("corpus_load");
    group.throughput(Throughput::Bytes(corpus.total_bytes()));
    group.sample_size(10);
    group.bench_function("read_zst", |b| {
        b.iter(|| Corpus::read_zst(CORPUS).expect("loads").total_messages())
    });
    group.bench_function("generate", |b| {
        b.iter(|| generate(&corpus.spec).total_messages())
    });
    group.finish();
}

/// A logged-in raw IMAP client: writes a command, reads to its tagged response (literals
/// included), and returns the bytes read.
struct RawClient {
    stream: BufReader<TcpStream>,
    tag: u64,
    line: Vec<u8>,
    literal: Vec<u8>,
}

impl RawClient {
    async fn connect(server: &MockServer, user: &str, password: &str) -> RawClient {
        let stream = TcpStream::connect(server.addr()).await.expect("connect");
        stream.set_nodelay(true).expect("TCP_NODELAY");
        let mut client = RawClient {
            stream: BufReader::new(stream),
            tag: 0,
            line: Vec::new(),
            literal: Vec::new(),
        };
        client.line.clear();
        client
            .stream
            .read_until(b'\n', &mut client.line)
            .await
            .expect("greeting");
        assert!(
            client.line.starts_with(b"* OK"),
            "greeting {:?}",
            client.line
        );
        client.command(&format!("LOGIN {user} {password}")).await;
        client.command("SELECT INBOX").await;
        client
    }

    /// Sends `command`, reads to its tagged OK, and returns the bytes of the answer.
    async fn command(&mut self, command: &str) -> usize {
        self.tag += 1;
        let tag = format!("c{}", self.tag);
        let request = format!("{tag} {command}\r\n");
        self.stream
            .get_mut()
            .write_all(request.as_bytes())
            .await
            .expect("write");
        let mut read = 0;
        loop {
            self.line.clear();
            let n = self
                .stream
                .read_until(b'\n', &mut self.line)
                .await
                .expect("read");
            assert!(n > 0, "server closed the connection");
            read += n;
            if let Some(len) = literal_length(&self.line) {
                self.literal.resize(len, 0);
                self.stream
                    .read_exact(&mut self.literal)
                    .await
                    .expect("literal");
                read += len;
                continue;
            }
            if self.line.starts_with(tag.as_bytes()) && self.line.get(tag.len()) == Some(&b' ') {
                let status = &self.line[tag.len() + 1..];
                assert!(
                    status.starts_with(b"OK"),
                    "{command}: {}",
                    String::from_utf8_lossy(&self.line)
                );
                return read;
            }
        }
    }
}

/// The length of the literal announced at the end of `line` (`{123}\r\n`), if any.
fn literal_length(line: &[u8]) -> Option<usize> {
    let line = line.strip_suffix(b"\r\n")?.strip_suffix(b"}")?;
    let open = line.iter().rposition(|&b| b == b'{')?;
    std::str::from_utf8(&line[open + 1..]).ok()?.parse().ok()
}

fn mock_round_trip_bench(c: &mut Criterion) {
    let messages = corpus_messages();
    let message = messages
        .iter()
        .min_by_key(|m| m.body.len().abs_diff(75_000))
        .expect("the corpus has messages");
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("a tokio runtime");
    let store = MockStore::new('/');
    store.add_user("user01", "pw");
    store.create_folder("user01", "INBOX", None, true);
    let flags: Vec<&str> = message.flags.iter().map(String::as_str).collect();
    let uid = store.append(
        "user01",
        "INBOX",
        &flags,
        message.internaldate,
        message.body.clone(),
    );
    let config = MockConfig {
        tls: MockTls::Plain,
        ..MockConfig::default()
    };
    let server = rt
        .block_on(MockServer::start(config, store))
        .expect("the mock server starts");
    let mut client = rt.block_on(RawClient::connect(&server, "user01", "pw"));
    let fetch = format!("UID FETCH {uid} (UID FLAGS INTERNALDATE RFC822.SIZE BODY.PEEK[])");
    let answer = rt.block_on(client.command(&fetch));
    assert!(answer > message.body.len(), "{answer} bytes for {fetch}");
    eprintln!(
        "mock_round_trip: uid_fetch_75k fetches a {} byte message ({answer} bytes of answer)",
        message.body.len()
    );

    let mut group = c.benchmark_group("mock_round_trip");
    group.throughput(Throughput::Elements(1));
    for (name, command) in [("noop", "NOOP".to_owned()), ("uid_fetch_75k", fetch)] {
        group.bench_function(name, |b| {
            b.iter_custom(|iters| {
                rt.block_on(async {
                    let start = Instant::now();
                    for _ in 0..iters {
                        black_box(client.command(&command).await);
                    }
                    start.elapsed()
                })
            })
        });
    }
    group.finish();
    rt.block_on(client.command("LOGOUT"));
}

// criterion's macro generates an undocumented pub fn.
#[allow(missing_docs)]
mod group {
    criterion::criterion_group!(
        benches,
        super::parse_fetch_bench,
        super::compress_bench,
        super::corpus_load_bench,
        super::mock_round_trip_bench
    );
}
criterion_main!(group::benches);
