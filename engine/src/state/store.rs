//! The async face of the store for the copier's tokio tasks.
//!
//! One connection behind a mutex, each call run with `spawn_blocking`. SQLite has one writer at
//! a time however many connections there are, and the copier writes once per APPEND batch (tens
//! of commits a second across all mailboxes), so a pool or a writer thread would add machinery
//! without adding throughput; reads (the done UIDs of a folder) happen once per folder per pass.

use super::db::StateDb;
use super::error::{Error, Result};
use std::path::Path;
use std::sync::{Arc, Mutex};

/// A shared handle on the state store; clone it into each mailbox's task.
///
/// ```no_run
/// # async fn example() -> cutover_engine::state::Result<()> {
/// use cutover_engine::state::{RecordBatch, StateStore};
/// let store = StateStore::open("cutover.state").await?;
/// let folder = store.call(|db| db.folder("joe@example.com", "INBOX", 1)).await?;
/// let done = store.call(move |db| db.done_uids(folder)).await?;
/// let batch = RecordBatch::new(); // intents, then dones as the OKs arrive
/// store.call(move |db| db.commit(batch)).await?;
/// # let _ = done; Ok(()) }
/// ```
#[derive(Debug, Clone)]
pub struct StateStore {
    db: Arc<Mutex<StateDb>>,
}

impl StateStore {
    /// Opens (or creates) the state file at `path`; see [`StateDb::open`].
    pub async fn open(path: impl AsRef<Path>) -> Result<Self> {
        let path = path.as_ref().to_path_buf();
        let db = tokio::task::spawn_blocking(move || StateDb::open(path))
            .await
            .map_err(|e| Error::Task(e.to_string()))??;
        Ok(StateStore::from_db(db))
    }

    /// Wraps an open blocking store.
    pub fn from_db(db: StateDb) -> Self {
        StateStore {
            db: Arc::new(Mutex::new(db)),
        }
    }

    /// Runs `f` on the store on tokio's blocking pool, one call at a time.
    pub async fn call<T, F>(&self, f: F) -> Result<T>
    where
        F: FnOnce(&mut StateDb) -> Result<T> + Send + 'static,
        T: Send + 'static,
    {
        let db = Arc::clone(&self.db);
        tokio::task::spawn_blocking(move || {
            // A call that panicked dropped its transaction, which rolled back: the connection
            // is still consistent, so a poisoned lock is safe to take over.
            let mut db = db.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
            f(&mut db)
        })
        .await
        .map_err(|e| Error::Task(e.to_string()))?
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn calls_from_many_tasks_all_land() {
        let dir = tempfile::tempdir().unwrap();
        let store = StateStore::open(dir.path().join("s.db")).await.unwrap();
        let mut tasks = Vec::new();
        for i in 0..8 {
            let store = store.clone();
            tasks.push(tokio::spawn(async move {
                store
                    .call(move |db| db.folder(&format!("user{i}"), "INBOX", 1))
                    .await
                    .unwrap()
            }));
        }
        for t in tasks {
            t.await.unwrap();
        }
        for i in 0..8 {
            let folders = store
                .call(move |db| db.folders(&format!("user{i}")))
                .await
                .unwrap();
            assert_eq!(folders.len(), 1);
        }
    }
}
