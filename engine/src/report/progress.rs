//! Live progress of a mailbox, pushed to an observer the caller supplies.
//!
//! There is no queue: the copier calls the observer with a cumulative snapshot, so a slow or absent
//! consumer never holds memory or slows the copy. Calls come from the copier's tasks; keep the
//! observer cheap and non-blocking.

use std::sync::Arc;

/// Where a mailbox is in its move.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Phase {
    /// Waiting for a slot.
    Queued,
    /// Logging in, listing folders, reading message metadata.
    Planning,
    /// Copying messages.
    Copying,
    /// Done (see the report for failures).
    Finished,
    /// Stopped by an error that ends the mailbox.
    Failed,
}

/// A cumulative snapshot of one mailbox's progress.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Progress {
    /// Index of the mailbox in the batch.
    pub index: usize,
    /// The mailbox's id.
    pub mailbox: String,
    /// Current phase.
    pub phase: Phase,
    /// Messages to copy (known once planning is done).
    pub planned_messages: u64,
    /// Bytes to copy.
    pub planned_bytes: u64,
    /// Messages acknowledged by the destination.
    pub copied_messages: u64,
    /// Bytes acknowledged by the destination.
    pub copied_bytes: u64,
    /// Messages recorded as failed and skipped.
    pub failed_messages: u64,
}

/// Receives progress snapshots.
pub trait ProgressObserver: Send + Sync {
    /// Called with the latest snapshot of one mailbox.
    fn update(&self, progress: &Progress);
}

/// An observer that ignores everything.
#[derive(Debug, Default, Clone, Copy)]
pub struct NoProgress;

impl ProgressObserver for NoProgress {
    fn update(&self, _: &Progress) {}
}

impl<F: Fn(&Progress) + Send + Sync> ProgressObserver for F {
    fn update(&self, progress: &Progress) {
        self(progress)
    }
}

/// Shared handle to an observer.
pub type ProgressSink = Arc<dyn ProgressObserver>;
