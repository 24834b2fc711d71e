//! criterion benches of the checkpoint store (`cutover_engine::state`).
//!
//! `cargo bench --bench state -- --noplot`. Scenarios:
//! - `append_batch_100`: what the copier commits per APPEND batch of 100 messages: one commit of
//!   100 intents before sending, one of 100 dones after the OK (two fsyncs, `synchronous=FULL`).
//!   Throughput in messages, so criterion prints messages recorded per second.
//! - `done_uids_100k`: resume's look-up of the migrated UIDs of a 100,000-message folder.
//!
//! The state file lives under the target directory (a real disk, as `--state` would be), not
//! `/tmp`, which may be tmpfs where fsync costs nothing.

use chrono::Utc;
use criterion::{criterion_main, BatchSize, Criterion, Throughput};
use cutover_engine::state::{Fingerprint, FolderId, Intent, MessageFacts, RecordBatch, StateDb};
use std::hint::black_box;

fn intent(folder: FolderId, uid: u32) -> Intent {
    let body = format!("Message-ID: <{uid}@example.com>\r\n\r\nbody {uid}\r\n");
    let fingerprint = Fingerprint::of(body.as_bytes());
    Intent {
        folder,
        facts: MessageFacts {
            uid,
            size: 40_000,
            fingerprint,
            sent_size: 40_000,
            sent_fingerprint: fingerprint,
            message_id: None,
            internal_date: Some(Utc::now()),
            flags: "\\Seen".into(),
        },
        dest_folder: "INBOX".into(),
        dest_uidvalidity: Some(1),
        dest_uidnext: Some(uid),
        created_at: Utc::now(),
    }
}

/// The two batches of one APPEND batch: intents, then dones.
fn append_batch(folder: FolderId, first_uid: u32, n: u32) -> (RecordBatch, RecordBatch) {
    let mut intents = RecordBatch::new();
    let mut dones = RecordBatch::new();
    for uid in first_uid..first_uid + n {
        intents.intend(intent(folder, uid));
        dones.done(folder, uid, Some(1), Some(uid));
    }
    (intents, dones)
}

fn state_bench(c: &mut Criterion) {
    let dir = tempfile::tempdir_in(env!("CARGO_TARGET_TMPDIR")).expect("temp dir");
    let mut db = StateDb::open(dir.path().join("bench.state")).expect("open the store");
    let mut group = c.benchmark_group("state");

    let folder = db.folder("joe", "INBOX", 1).unwrap();
    let mut next_uid = 1;
    group.throughput(Throughput::Elements(100));
    group.bench_function("append_batch_100", |b| {
        b.iter_batched(
            || {
                next_uid += 100;
                append_batch(folder, next_uid - 100, 100)
            },
            |(intents, dones)| {
                db.commit(intents).unwrap();
                db.commit(dones).unwrap();
            },
            BatchSize::SmallInput,
        )
    });

    let big = db.folder("joe", "Archive", 1).unwrap();
    for first in (1..=100_000).step_by(10_000) {
        let (intents, dones) = append_batch(big, first, 10_000);
        db.commit(intents).unwrap();
        db.commit(dones).unwrap();
    }
    group.throughput(Throughput::Elements(100_000));
    group.bench_function("done_uids_100k", |b| {
        b.iter(|| {
            let uids = db.done_uids(black_box(big)).unwrap();
            assert_eq!(uids.len(), 100_000);
            uids
        })
    });
    group.finish();
}

// criterion's macro generates an undocumented pub fn.
#[allow(missing_docs)]
mod group {
    criterion::criterion_group!(benches, super::state_bench);
}
criterion_main!(group::benches);
