//! The one owner of a mailbox's [`Book`]: a task that applies what the mailbox's workers tell it,
//! in the order they told it, and commits the book's records to the state store.
//!
//! Workers hold a [`Ledger`] handle and send it acknowledgements over a bounded channel (the
//! acker pattern): "sending this", "stored that", "intend these and tell me when it is durable".
//! Nothing else touches the book, so no lock is held across an `.await` and no two commits can
//! land out of order: a writer's done record always reaches the store after the intent that
//! another writer's commit carried.
//!
//! Invariants:
//! - Requests are applied one at a time in arrival order; a commit is awaited before the next
//!   request is applied.
//! - [`Ledger::intend`] returns only once every intent it asked for is committed: an APPEND is
//!   never sent before its intent is durable.
//! - After a failed commit the owner is poisoned: every later commit fails with the first
//!   error, so the mailbox stops rather than go on with a book the store does not match. The
//!   next run loads the store as it is.

use super::book::Book;
use super::persist;
use super::SentMessage;
use crate::error::{Error, Result};
use crate::state::StateStore;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use tokio::sync::{mpsc, oneshot};

/// Requests waiting for the owner; a full queue makes the sender wait (backpressure).
const QUEUE: usize = 256;

type Update = Box<dyn FnOnce(&mut Book) + Send>;

enum Request {
    /// Apply to the book.
    Update(Update),
    /// Commit what the book has waiting, then answer.
    Commit(oneshot::Sender<Result<()>>),
}

/// A handle on a mailbox's book, cheap to clone; the owner task ends when the last handle goes.
#[derive(Clone)]
pub(crate) struct Ledger {
    requests: mpsc::Sender<Request>,
    tickets: Arc<AtomicU64>,
    store: Option<(StateStore, String)>,
}

impl std::fmt::Debug for Ledger {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Ledger")
            .field("recorded", &self.store.is_some())
            .finish()
    }
}

impl Ledger {
    /// Spawns the owner of `book`, which commits to `store` (the store and the mailbox's name
    /// in it), if any.
    pub(crate) fn spawn(book: Book, store: Option<(StateStore, String)>) -> Ledger {
        let (requests, queue) = mpsc::channel(QUEUE);
        tokio::spawn(own(book, store.as_ref().map(|(s, _)| s.clone()), queue));
        Ledger {
            requests,
            tickets: Arc::new(AtomicU64::new(0)),
            store,
        }
    }

    /// Loads the book of `mailbox` from `store` (an empty unrecorded one without a store) and
    /// spawns its owner.
    pub(crate) async fn open(store: Option<&StateStore>, mailbox: &str) -> Result<Ledger> {
        Ok(match store {
            None => Ledger::spawn(Book::unrecorded(), None),
            Some(store) => {
                let book = persist::load(store, mailbox).await?;
                Ledger::spawn(book, Some((store.clone(), mailbox.to_string())))
            }
        })
    }

    /// The store and the mailbox's name in it, when the book is recorded.
    pub(crate) fn store(&self) -> Option<&(StateStore, String)> {
        self.store.as_ref()
    }

    /// Applies `f` to the book after everything sent before.
    pub(crate) async fn update(&self, f: impl FnOnce(&mut Book) + Send + 'static) {
        if self
            .requests
            .send(Request::Update(Box::new(f)))
            .await
            .is_err()
        {
            unreachable!("the owner runs while a handle exists");
        }
    }

    /// Applies `f` to the book after everything sent before, and returns what it returns.
    pub(crate) async fn ask<R: Send + 'static>(
        &self,
        f: impl FnOnce(&mut Book) -> R + Send + 'static,
    ) -> R {
        let (tx, rx) = oneshot::channel();
        self.update(move |book| {
            let _ = tx.send(f(book));
        })
        .await;
        rx.await.expect("the owner answers every request it takes")
    }

    /// Commits every record the book asked for so far; returns once they are durable.
    pub(crate) async fn commit(&self) -> Result<()> {
        let (tx, rx) = oneshot::channel();
        if self.requests.send(Request::Commit(tx)).await.is_err() {
            unreachable!("the owner runs while a handle exists");
        }
        rx.await.expect("the owner answers every request it takes")
    }

    /// Records intents for `messages` and returns once they are durable: only then may they be
    /// sent.
    pub(crate) async fn intend(&self, messages: Vec<SentMessage>) -> Result<()> {
        if self.store.is_none() {
            return Ok(());
        }
        let now = chrono::Utc::now();
        self.update(move |book| book.intend(&messages, now)).await;
        self.commit().await
    }

    /// A new ticket for an APPEND about to be sent ([`Book::sending`]).
    pub(crate) fn ticket(&self) -> u64 {
        self.tickets.fetch_add(1, Ordering::Relaxed) + 1
    }
}

/// The owner's loop: until the last handle is dropped.
async fn own(mut book: Book, store: Option<StateStore>, mut queue: mpsc::Receiver<Request>) {
    let mut poisoned: Option<String> = None;
    while let Some(request) = queue.recv().await {
        match request {
            Request::Update(f) => f(&mut book),
            Request::Commit(answer) => {
                let batch = book.take_outbox();
                let result = match (&poisoned, &store) {
                    (Some(first), _) => Err(Error::State {
                        message: format!("an earlier commit failed: {first}"),
                    }),
                    (None, None) => Ok(()),
                    (None, Some(store)) => persist::commit(store, batch).await,
                };
                if let Err(e) = &result {
                    poisoned.get_or_insert_with(|| e.to_string());
                }
                let _ = answer.send(result);
            }
        }
    }
    // Dropped with the last handle: what was not committed was not asked to be, and a resumed
    // run settles it from the intents.
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::order::MessageMeta;
    use crate::state::StateStore;

    fn message(folder: &str, uid: u32) -> SentMessage {
        let body = format!("Message-ID: <{folder}.{uid}@owner>\r\n\r\nbody\r\n").into_bytes();
        let meta = MessageMeta {
            folder: 0,
            uid,
            internaldate: None,
            size: body.len() as u64,
            flags: vec![],
        };
        let key = super::super::SourceKey {
            folder: folder.into(),
            uidvalidity: 7,
            uid,
        };
        SentMessage::new(key, folder, &meta, &body, &body)
    }

    /// Two writers at once, each committing its intents and acknowledging its APPENDs as fast
    /// as it can: every record lands after its intent, whoever commits (the race that once
    /// failed resumed runs with "marked done without a recorded intent").
    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn writers_acknowledging_at_once_keep_the_stores_order() {
        let dir = tempfile::tempdir().unwrap();
        let store = StateStore::open(dir.path().join("state.db")).await.unwrap();
        let ledger = Ledger::open(Some(&store), "kim").await.unwrap();
        let folders = [("INBOX".to_string(), 7), ("Sent".to_string(), 7)];
        super::super::register_folders(&ledger, &folders)
            .await
            .unwrap();
        let mut writers = Vec::new();
        for (folder, _) in folders {
            let ledger = ledger.clone();
            writers.push(tokio::spawn(async move {
                for window in 0..40u32 {
                    let batch: Vec<SentMessage> =
                        (1..=3).map(|i| message(&folder, window * 3 + i)).collect();
                    ledger.intend(batch.clone()).await.unwrap();
                    let ticket = ledger.ticket();
                    ledger.update(move |b| b.sending(ticket, batch)).await;
                    tokio::task::yield_now().await;
                    let uids = (1..=3).map(|i| window * 3 + i).collect();
                    ledger
                        .update(move |b| b.stored(ticket, Some((9, uids))))
                        .await;
                }
            }));
        }
        for w in writers {
            w.await.unwrap();
        }
        ledger.commit().await.unwrap();
        let (pending, done) = store
            .call(|db| {
                let done: usize = (db.folders("kim")?.iter())
                    .map(|f| db.done_uids(f.id).map(|u| u.len()))
                    .sum::<crate::state::Result<usize>>()?;
                Ok((db.pending_intents("kim")?.len(), done))
            })
            .await
            .unwrap();
        assert_eq!((pending, done), (0, 240));
    }
}
