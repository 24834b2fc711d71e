//! Shared counters of one mailbox, published to the caller's observer as snapshots.

use crate::report::{Phase, Progress, ProgressSink};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;

/// Counters updated by the pipeline's tasks.
pub struct ProgressState {
    index: usize,
    mailbox: String,
    sink: ProgressSink,
    phase: Mutex<Phase>,
    planned_messages: AtomicU64,
    planned_bytes: AtomicU64,
    copied_messages: AtomicU64,
    copied_bytes: AtomicU64,
    failed_messages: AtomicU64,
}

impl ProgressState {
    /// Fresh counters for mailbox `index`.
    pub fn new(index: usize, mailbox: &str, sink: ProgressSink) -> Self {
        ProgressState {
            index,
            mailbox: mailbox.to_string(),
            sink,
            phase: Mutex::new(Phase::Queued),
            planned_messages: AtomicU64::new(0),
            planned_bytes: AtomicU64::new(0),
            copied_messages: AtomicU64::new(0),
            copied_bytes: AtomicU64::new(0),
            failed_messages: AtomicU64::new(0),
        }
    }

    /// The current counters.
    pub fn snapshot(&self) -> Progress {
        Progress {
            index: self.index,
            mailbox: self.mailbox.clone(),
            phase: *self.phase.lock().expect("phase lock"),
            planned_messages: self.planned_messages.load(Ordering::Relaxed),
            planned_bytes: self.planned_bytes.load(Ordering::Relaxed),
            copied_messages: self.copied_messages.load(Ordering::Relaxed),
            copied_bytes: self.copied_bytes.load(Ordering::Relaxed),
            failed_messages: self.failed_messages.load(Ordering::Relaxed),
        }
    }

    /// Moves to `phase` and publishes.
    pub fn set_phase(&self, phase: Phase) {
        *self.phase.lock().expect("phase lock") = phase;
        self.sink.update(&self.snapshot());
    }

    /// Records the plan's totals and publishes.
    pub fn set_planned(&self, messages: u64, bytes: u64) {
        self.planned_messages.store(messages, Ordering::Relaxed);
        self.planned_bytes.store(bytes, Ordering::Relaxed);
        self.sink.update(&self.snapshot());
    }

    /// Sets the acknowledged counts (what earlier attempts left done) and publishes.
    pub fn set_copied(&self, messages: u64, bytes: u64) {
        self.copied_messages.store(messages, Ordering::Relaxed);
        self.copied_bytes.store(bytes, Ordering::Relaxed);
        self.sink.update(&self.snapshot());
    }

    /// Adds acknowledged messages and publishes.
    pub fn add_copied(&self, messages: u64, bytes: u64) {
        self.copied_messages.fetch_add(messages, Ordering::Relaxed);
        self.copied_bytes.fetch_add(bytes, Ordering::Relaxed);
        self.sink.update(&self.snapshot());
    }

    /// Adds skipped messages and publishes.
    pub fn add_failed(&self, messages: u64) {
        self.failed_messages.fetch_add(messages, Ordering::Relaxed);
        self.sink.update(&self.snapshot());
    }
}
