//! The lockout guard: at most a few failed logins per account and window (guide 3.4.2.3: the
//! seed locks an account for 15 minutes after 5 failed sign-ins), across every connection of a
//! run and, with a state store, across runs and processes.
//!
//! # Invariants
//! 1. **Counted before it is made.** Every login attempt reserves a place first (in the state
//!    store when there is one, else in this process's [`LoginAttempts`]); when `max_failed`
//!    attempts of the account are within the window, no attempt is made and the login fails
//!    with [`Error::LoginLimitReached`], without contacting the server.
//! 2. **Only a success un-counts it.** A rejection stays counted, and so does any answer we
//!    could not read. A login that got no answer at all (connection dropped, timed out) is
//!    un-counted: the server had no password to refuse, or did not get to say so.
//! 3. **One login of an account at a time, per process.** The next starts when the previous
//!    has its answer, so a wrong password costs one attempt and then the next sees the failure,
//!    whatever the number of connections opened at once; and a good password is never refused
//!    for places held only by attempts in flight.
//! 4. **A started login reports its outcome** even when its caller gives up on it (a sibling
//!    connection failed): it runs in a task of its own, bounded by the I/O timeout.
//!
//! The account is the login identity and the server (`joe at imaps://host:993`), never the
//! password.

use crate::error::{Error, Result};
use crate::state::{LoginAttempt, LoginReservation, StateStore};
use chrono::{DateTime, Duration, DurationRound, Utc};
use std::collections::HashMap;
use std::future::Future;
use std::sync::{Arc, Mutex};

/// How many failed logins an account may have within a window.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LoginLimit {
    /// Failed logins allowed within the window (default 2: well under the seed's 5).
    pub max_failed: u32,
    /// The window (default 15 minutes, the seed's lockout period).
    pub window: Duration,
}

impl Default for LoginLimit {
    fn default() -> Self {
        LoginLimit {
            max_failed: 2,
            window: Duration::minutes(15),
        }
    }
}

/// This process's share of the guard: whose turn it is to log in, per account, and the
/// attempts counted when there is no state store. Cloning shares it; one per run.
#[derive(Debug, Clone, Default)]
pub struct LoginAttempts(Arc<Shared>);

#[derive(Debug, Default)]
struct Shared {
    turns: Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>,
    memory: Mutex<AttemptLog>,
}

impl LoginAttempts {
    fn turn(&self, account: &str) -> Arc<tokio::sync::Mutex<()>> {
        let mut turns = self.0.turns.lock().unwrap_or_else(|e| e.into_inner());
        turns.entry(account.to_string()).or_default().clone()
    }

    fn memory(&self) -> std::sync::MutexGuard<'_, AttemptLog> {
        self.0.memory.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// Every login of a run goes through this: see the module doc.
#[derive(Debug, Clone)]
pub struct LoginGuard {
    limit: LoginLimit,
    store: Option<StateStore>,
    attempts: LoginAttempts,
}

impl LoginGuard {
    /// A guard of its own, counting in `store` if given, else in memory.
    pub fn new(limit: LoginLimit, store: Option<StateStore>) -> Self {
        LoginGuard::sharing(limit, store, LoginAttempts::default())
    }

    /// A guard sharing `attempts` with the other guards of the run.
    pub fn sharing(limit: LoginLimit, store: Option<StateStore>, attempts: LoginAttempts) -> Self {
        LoginGuard {
            limit,
            store,
            attempts,
        }
    }

    /// Runs `login` (the part of a connection that sends the credentials) for `identity` at
    /// `server`, if the limit allows an attempt now.
    pub async fn login<T, F>(&self, identity: &str, server: &str, login: F) -> Result<T>
    where
        T: Send + 'static,
        F: Future<Output = Result<T>> + Send + 'static,
    {
        let account = format!("{identity} at {server}");
        let (tx, rx) = tokio::sync::oneshot::channel();
        let guard = self.clone();
        let (id, srv) = (identity.to_string(), server.to_string());
        tokio::spawn(async move {
            let turn = guard.attempts.turn(&account);
            let _turn = turn.lock().await;
            if tx.is_closed() {
                return; // the caller gave up while waiting: no attempt
            }
            let _ = tx.send(guard.attempt(&account, &id, &srv, login).await);
        });
        rx.await.unwrap_or_else(|_| {
            Err(Error::Protocol {
                server: server.to_string(),
                message: "the login task ended without an answer".into(),
            })
        })
    }

    async fn attempt<T>(
        &self,
        account: &str,
        identity: &str,
        server: &str,
        login: impl Future<Output = Result<T>>,
    ) -> Result<T> {
        let reservation = match self.reserve(account, Utc::now()).await? {
            Ok(r) => r,
            Err((failed, until)) => {
                tracing::warn!(account, failed, %until, "login not attempted: too many failures");
                return Err(Error::LoginLimitReached {
                    server: server.to_string(),
                    identity: identity.to_string(),
                    failed,
                    window_minutes: self.limit.window.num_minutes(),
                    until: until.duration_trunc(Duration::minutes(1)).unwrap_or(until)
                        + Duration::minutes(1),
                });
            }
        };
        let r = login.await;
        // Refused for now (too many connections) is not a failed login either.
        let unanswered = matches!(r, Err(Error::Io { .. } | Error::Timeout { .. }))
            || matches!(&r, Err(e @ Error::Command { .. }) if e.disposition() == crate::error::Disposition::Retry);
        if r.is_ok() || unanswered {
            if let Err(e) = self.release(reservation).await {
                // Stays counted: safe, only stricter.
                tracing::warn!(account, error = %e, "could not un-count a login attempt");
            }
        }
        r
    }

    async fn reserve(
        &self,
        account: &str,
        at: DateTime<Utc>,
    ) -> Result<Result<Reservation, (u32, DateTime<Utc>)>> {
        let LoginLimit { max_failed, window } = self.limit;
        match &self.store {
            Some(store) => {
                let account = account.to_string();
                let answer = store
                    .call(move |db| db.reserve_login(&account, at, max_failed, window))
                    .await
                    .map_err(state_error)?;
                Ok(match answer {
                    LoginAttempt::Reserved(r) => Ok(Reservation::Store(r)),
                    LoginAttempt::Refused { failed, until } => Err((failed, until)),
                })
            }
            None => Ok(self
                .attempts
                .memory()
                .reserve(account, at, self.limit)
                .map(|id| Reservation::Memory(account.to_string(), id))),
        }
    }

    async fn release(&self, reservation: Reservation) -> Result<()> {
        match (reservation, &self.store) {
            (Reservation::Store(r), Some(store)) => store
                .call(move |db| db.login_succeeded(r))
                .await
                .map_err(state_error),
            (Reservation::Memory(account, id), _) => {
                self.attempts.memory().release(&account, id);
                Ok(())
            }
            (Reservation::Store(_), None) => Ok(()), // not reachable: made by the store
        }
    }
}

fn state_error(e: crate::state::Error) -> Error {
    Error::State {
        message: format!("counting login attempts: {e}"),
    }
}

/// A counted attempt, to un-count on success.
enum Reservation {
    Store(LoginReservation),
    Memory(String, u64),
}

/// The in-memory count: the same rules as [`crate::state::StateDb::reserve_login`].
#[derive(Debug, Default)]
struct AttemptLog {
    next_id: u64,
    by_account: HashMap<String, Vec<(u64, DateTime<Utc>)>>,
}

impl AttemptLog {
    /// Counts an attempt of `account` at `at`, or says how many count and until when.
    fn reserve(
        &mut self,
        account: &str,
        at: DateTime<Utc>,
        limit: LoginLimit,
    ) -> std::result::Result<u64, (u32, DateTime<Utc>)> {
        let attempts = self.by_account.entry(account.to_string()).or_default();
        attempts.retain(|(_, t)| *t >= at - limit.window);
        if attempts.len() >= limit.max_failed as usize {
            let mut times: Vec<_> = attempts.iter().map(|(_, t)| *t).collect();
            times.sort_unstable_by(|a, b| b.cmp(a));
            let until = (limit.max_failed as usize)
                .checked_sub(1)
                .and_then(|n| times.get(n))
                .map_or(at, |t| *t + limit.window);
            return Err((attempts.len() as u32, until));
        }
        self.next_id += 1;
        attempts.push((self.next_id, at));
        Ok(self.next_id)
    }

    /// The attempt succeeded: it no longer counts.
    fn release(&mut self, account: &str, id: u64) {
        if let Some(attempts) = self.by_account.get_mut(account) {
            attempts.retain(|(i, _)| *i != id);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;
    use std::sync::atomic::{AtomicU32, Ordering};

    fn t(secs: i64) -> DateTime<Utc> {
        Utc.timestamp_opt(1_700_000_000 + secs, 0).unwrap()
    }

    fn rejected() -> Error {
        Error::AuthRejected {
            server: "imaps://old:993".into(),
            identity: "joe".into(),
            message: "[AUTHENTICATIONFAILED] no".into(),
        }
    }

    #[test]
    fn the_log_caps_attempts_within_the_window_and_successes_do_not_count() {
        let limit = LoginLimit::default();
        let mut log = AttemptLog::default();
        let ok = log.reserve("joe", t(0), limit).unwrap();
        log.release("joe", ok);
        log.reserve("joe", t(10), limit).unwrap();
        log.reserve("joe", t(20), limit).unwrap();
        assert_eq!(
            log.reserve("joe", t(30), limit),
            Err((2, t(10) + limit.window))
        );
        assert!(log.reserve("jane", t(30), limit).is_ok(), "accounts apart");
        assert!(log.reserve("joe", t(10 + 15 * 60 + 1), limit).is_ok());
        let none = LoginLimit {
            max_failed: 0,
            ..limit
        };
        assert_eq!(log.reserve("ann", t(0), none), Err((0, t(0))));
    }

    /// Runs `n` logins of one account at once, each failing with `outcome` after a pause;
    /// returns how many reached the "server" and the errors.
    async fn many_at_once(
        guard: &LoginGuard,
        n: usize,
        outcome: fn() -> Result<()>,
    ) -> (u32, Vec<Result<()>>) {
        let reached = Arc::new(AtomicU32::new(0));
        let tasks: Vec<_> = (0..n)
            .map(|_| {
                let (guard, reached) = (guard.clone(), reached.clone());
                tokio::spawn(async move {
                    guard
                        .login("joe", "imaps://old:993", async move {
                            reached.fetch_add(1, Ordering::SeqCst);
                            tokio::time::sleep(std::time::Duration::from_millis(5)).await;
                            outcome()
                        })
                        .await
                })
            })
            .collect();
        let mut results = Vec::new();
        for t in tasks {
            results.push(t.await.unwrap());
        }
        (reached.load(Ordering::SeqCst), results)
    }

    #[tokio::test]
    async fn eight_connections_with_a_wrong_password_make_two_attempts() {
        let guard = LoginGuard::new(LoginLimit::default(), None);
        let (reached, results) = many_at_once(&guard, 8, || Err(rejected())).await;
        assert_eq!(reached, 2);
        let refused: Vec<String> = results
            .iter()
            .filter_map(|r| match r {
                Err(e @ Error::LoginLimitReached { .. }) => Some(e.to_string()),
                _ => None,
            })
            .collect();
        assert_eq!(refused.len(), 6);
        assert!(
            refused[0].starts_with(
                "credentials rejected for joe at imaps://old:993: 2 failed logins in the last 15 minutes; not trying again before "
            ),
            "{}",
            refused[0]
        );
        // A later connection of the run is refused too, without an attempt.
        let (reached, _) = many_at_once(&guard, 1, || Ok(())).await;
        assert_eq!(reached, 0);
    }

    #[tokio::test]
    async fn a_good_password_is_never_refused_however_many_connect_at_once() {
        let guard = LoginGuard::new(LoginLimit::default(), None);
        let (reached, results) = many_at_once(&guard, 8, || Ok(())).await;
        assert_eq!(reached, 8);
        assert!(results.iter().all(Result::is_ok));
    }

    #[tokio::test]
    async fn a_login_without_an_answer_does_not_count() {
        let guard = LoginGuard::new(LoginLimit::default(), None);
        let timeout = || {
            Err(Error::Timeout {
                context: "login".into(),
            })
        };
        let (reached, _) = many_at_once(&guard, 4, timeout).await;
        assert_eq!(reached, 4);
        let (reached, results) = many_at_once(&guard, 1, || Ok(())).await;
        assert_eq!((reached, results.len()), (1, 1));
        assert!(results[0].is_ok());
    }

    #[tokio::test]
    async fn the_store_counts_across_guards_as_across_runs() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s.db");
        for _run in 0..3 {
            let store = StateStore::open(&path).await.unwrap();
            let guard = LoginGuard::new(LoginLimit::default(), Some(store));
            many_at_once(&guard, 4, || Err(rejected())).await;
        }
        let store = StateStore::open(&path).await.unwrap();
        let since = Utc::now() - Duration::minutes(15);
        let failed = store
            .call(move |db| db.failed_logins_since("joe at imaps://old:993", since))
            .await
            .unwrap();
        assert_eq!(failed, 2);
    }

    #[tokio::test]
    async fn a_caller_that_gives_up_still_gets_its_attempt_reported() {
        let guard = LoginGuard::new(LoginLimit::default(), None);
        let slow_success = guard.login("joe", "imaps://old:993", async {
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
            Ok(())
        });
        // Dropped after the attempt started: the task finishes it and un-counts it.
        let _ = tokio::time::timeout(std::time::Duration::from_millis(10), slow_success).await;
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        let (reached, _) = many_at_once(&guard, 2, || Err(rejected())).await;
        assert_eq!(reached, 2, "the abandoned success does not count");
    }
}
