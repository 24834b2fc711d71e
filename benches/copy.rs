//! criterion benches of the copier's hot paths and of a whole mailbox copy against the in-process
//! IMAP server over TLS on loopback.
//!
//! `cargo bench --bench copy` (add `-- copy_mailbox` to run one group). Throughput is declared in
//! messages for `copy_mailbox`, in bytes for `copy_mailbox_bytes` (the same copy) and for
//! framing, so criterion prints msgs/s and MB/s. Each end-to-end iteration copies into a fresh, empty destination.

use criterion::{criterion_main, BatchSize, Criterion, Throughput};
use cutover_engine::imap::{frame_append, AppendItem};
use cutover_engine::report::NoProgress;
use cutover_engine::{
    copy_mailbox, Account, AppendMode, Auth, CopyOptions, MailboxJob, ProxyLoginForm, Secret,
    TlsConfig,
};
use cutover_harness::certs::{ServerCert, TestCa};
use cutover_harness::corpus::{generate_mailbox, CorpusSpec};
use cutover_harness::mock_server::{MockConfig, MockServer, MockStore, MockTls};
use std::sync::Arc;

const USER: &str = "user01";
const ADMIN: &str = "admin";

struct Fixture {
    rt: tokio::runtime::Runtime,
    cert: ServerCert,
    ca_pem: String,
    source: MockServer,
    messages: u64,
    bytes: u64,
}

fn fixture(messages: usize) -> Fixture {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    let ca = TestCa::new().unwrap();
    let cert = ca.server_cert(&["localhost", "127.0.0.1"]).unwrap();
    let spec = CorpusSpec {
        mailboxes: 1,
        messages_per_mailbox: messages,
        ..CorpusSpec::default()
    };
    let mailbox = generate_mailbox(&spec, 0);
    let store = MockStore::new('/');
    store.add_user(USER, "pw");
    let mut bytes = 0;
    for folder in &mailbox.folders {
        store.create_folder(USER, &folder.name, folder.special_use, folder.subscribed);
        for m in &folder.messages {
            let flags: Vec<&str> = m.flags.iter().map(String::as_str).collect();
            store.append(USER, &folder.name, &flags, m.internaldate, m.body.clone());
            bytes += m.body.len() as u64;
        }
    }
    let source = rt
        .block_on(MockServer::start(server_config(&cert), store))
        .unwrap();
    Fixture {
        rt,
        cert,
        ca_pem: ca.ca_pem(),
        source,
        messages: messages as u64,
        bytes,
    }
}

fn server_config(cert: &ServerCert) -> MockConfig {
    MockConfig {
        tls: MockTls::Implicit,
        identity: Some(cert.clone()),
        ..MockConfig::default()
    }
}

fn copy_once(f: &Fixture, dest: &MockServer, options: &CopyOptions) {
    let job = MailboxJob {
        id: USER.into(),
        source: Account {
            endpoint: f.source.url().parse().unwrap(),
            auth: Auth::Login {
                user: USER.into(),
                password: Secret::new("pw"),
            },
        },
        dest: Account {
            endpoint: dest.url().parse().unwrap(),
            auth: ProxyLoginForm::Authzid.auth_for(USER, ADMIN, &Secret::new("adminpw")),
        },
        source_root: None,
    };
    let tls = TlsConfig {
        ca_pem: Some(f.ca_pem.clone().into_bytes()),
        danger_accept_invalid_certs: false,
    };
    let client = cutover_engine::imap::TlsClient::new(&tls).unwrap();
    let budget = cutover_engine::copier::RunBudget::new(options.run_bytes_in_flight);
    let report = f.rt.block_on(copy_mailbox(
        0,
        &job,
        options,
        &client,
        &budget,
        Arc::new(NoProgress),
    ));
    assert_eq!(report.copied_messages, f.messages, "{:?}", report.outcome);
}

fn fresh_dest(f: &Fixture) -> MockServer {
    let store = MockStore::new('/');
    store.add_user(USER, "unused");
    store.add_admin(ADMIN, "adminpw");
    f.rt.block_on(MockServer::start(server_config(&f.cert), store))
        .unwrap()
}

fn copy_mailbox_bench(c: &mut Criterion) {
    let f = fixture(1000);
    let mut group = c.benchmark_group("copy_mailbox");
    group.sample_size(10);
    group.throughput(Throughput::Elements(f.messages));
    for (name, mode) in [
        ("multiappend", AppendMode::Auto),
        ("pipelined", AppendMode::Pipelined),
        ("one_at_a_time", AppendMode::OneAtATime),
    ] {
        let options = CopyOptions {
            append_mode: mode,
            ..CopyOptions::default()
        };
        group.bench_function(name, |b| {
            b.iter_batched(
                || fresh_dest(&f),
                |dest| copy_once(&f, &dest, &options),
                BatchSize::PerIteration,
            )
        });
    }
    group.finish();
    // The same copy with bytes as throughput, so criterion prints MB/s too (one Throughput per
    // group).
    let mut group = c.benchmark_group("copy_mailbox_bytes");
    group.sample_size(10);
    group.throughput(Throughput::Bytes(f.bytes));
    let options = CopyOptions::default();
    group.bench_function("multiappend", |b| {
        b.iter_batched(
            || fresh_dest(&f),
            |dest| copy_once(&f, &dest, &options),
            BatchSize::PerIteration,
        )
    });
    group.finish();
    eprintln!(
        "copy_mailbox corpus: {} messages, {:.1} MB",
        f.messages,
        f.bytes as f64 / 1e6
    );
}

fn append_framing_bench(c: &mut Criterion) {
    let spec = CorpusSpec {
        mailboxes: 1,
        messages_per_mailbox: 200,
        ..CorpusSpec::default()
    };
    let mailbox = generate_mailbox(&spec, 0);
    let items: Vec<AppendItem> = mailbox
        .folders
        .iter()
        .flat_map(|f| &f.messages)
        .map(|m| AppendItem {
            flags: m.flags.clone(),
            internaldate: Some(m.internaldate),
            body: m.body.clone(),
        })
        .collect();
    let bytes: u64 = items.iter().map(|i| i.body.len() as u64).sum();
    let mut group = c.benchmark_group("append_framing");
    group.throughput(Throughput::Bytes(bytes));
    group.bench_function("multiappend_batches_of_100", |b| {
        b.iter(|| {
            let mut n = 0;
            for chunk in items.chunks(100) {
                n += frame_append("P1", "INBOX/Sub", chunk, Some(u64::MAX)).len();
            }
            n
        })
    });
    group.finish();
}

// criterion's macro generates an undocumented pub fn.
#[allow(missing_docs)]
mod group {
    criterion::criterion_group!(
        benches,
        super::copy_mailbox_bench,
        super::append_framing_bench
    );
}
criterion_main!(group::benches);
