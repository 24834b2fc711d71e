//! Failed logins per account, across connections and runs: the lockout guard (guide 3.4.2.3:
//! 5 failed sign-ins lock an account for 15 minutes).
//!
//! [`StateDb::reserve_login`] counts an attempt *before* it is made, in one write transaction,
//! so neither concurrent connections nor concurrent processes can together exceed the limit; an
//! attempt never reported (a crash mid-login) stays counted as failed, since the server may have
//! counted it, until a login of the same account succeeds: that clears the account's attempts
//! made before it, as a successful sign-in resets the server's own count (Active Directory's
//! badPwdCount). So runs killed mid-login do not add up to a lockout while the secret is good,
//! and with a bad secret nothing ever succeeds and every attempt stays counted.

use super::db::{from_ms, ms, StateDb};
use super::error::{sql, Result};
use chrono::{DateTime, Duration, Utc};
use rusqlite::{params, OptionalExtension, TransactionBehavior};

/// Failed attempts older than this are deleted when new ones are recorded.
const KEEP: Duration = Duration::days(1);

/// A login attempt counted in advance by [`StateDb::reserve_login`]. Report the outcome with
/// [`StateDb::login_succeeded`]; a failure needs nothing more.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[must_use = "report a successful login, or it stays counted as a failure"]
pub struct LoginReservation(i64);

/// The answer of [`StateDb::reserve_login`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[must_use = "a refused attempt must not be made"]
pub enum LoginAttempt {
    /// Counted: make the attempt, then report a success.
    Reserved(LoginReservation),
    /// Not now: `failed` attempts (failed, in flight, or lost in a crash) are within the window.
    Refused {
        /// Attempts counted within the window.
        failed: u32,
        /// When enough of them leave the window for one more attempt.
        until: DateTime<Utc>,
    },
}

impl StateDb {
    /// Records a failed login of `account` at `at`.
    pub fn record_failed_login(&mut self, account: &str, at: DateTime<Utc>) -> Result<()> {
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(sql("recording a failed login"))?;
        insert_attempt(&tx, account, at)?;
        tx.commit().map_err(sql("recording a failed login"))
    }

    /// How many logins of `account` failed at or after `since`.
    pub fn failed_logins_since(&self, account: &str, since: DateTime<Utc>) -> Result<u32> {
        count(&self.conn, account, since)
    }

    /// Counts a login attempt of `account` at `at` before it is made, if fewer than `max` failed
    /// (or are still in flight) within `window` before `at`; else says when one may be made.
    pub fn reserve_login(
        &mut self,
        account: &str,
        at: DateTime<Utc>,
        max: u32,
        window: Duration,
    ) -> Result<LoginAttempt> {
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(sql("reserving a login"))?;
        let failed = count(&tx, account, at - window)?;
        if failed >= max {
            // The attempt whose expiry leaves max - 1 in the window: the max-th newest.
            // None only with max = 0, which never allows an attempt.
            let nth: Option<i64> = tx
                .query_row(
                    "SELECT at FROM login_attempt WHERE account = ?1 AND at >= ?2 \
                     ORDER BY at DESC LIMIT 1 OFFSET ?3",
                    params![account, ms(at - window), i64::from(max.max(1) - 1)],
                    |r| r.get(0),
                )
                .optional()
                .map_err(sql("reserving a login"))?;
            let until = nth.map_or(at, |nth| from_ms(nth) + window);
            return Ok(LoginAttempt::Refused { failed, until });
        }
        let id = insert_attempt(&tx, account, at)?;
        tx.commit().map_err(sql("reserving a login"))?;
        Ok(LoginAttempt::Reserved(LoginReservation(id)))
    }

    /// The reserved attempt succeeded: it no longer counts, nor do the account's attempts made
    /// before it (failed, or lost in a crash); those made since are still in flight and count.
    pub fn login_succeeded(&mut self, reservation: LoginReservation) -> Result<()> {
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(sql("clearing login attempts"))?;
        let reserved: Option<(String, i64)> = tx
            .query_row(
                "SELECT account, at FROM login_attempt WHERE id = ?1",
                [reservation.0],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .optional()
            .map_err(sql("clearing login attempts"))?;
        if let Some((account, at)) = reserved {
            tx.execute(
                "DELETE FROM login_attempt WHERE account = ?1 AND (at < ?2 OR id = ?3)",
                params![account, at, reservation.0],
            )
            .map_err(sql("clearing login attempts"))?;
        }
        tx.commit().map_err(sql("clearing login attempts"))
    }
}

fn insert_attempt(conn: &rusqlite::Connection, account: &str, at: DateTime<Utc>) -> Result<i64> {
    conn.execute(
        "DELETE FROM login_attempt WHERE account = ?1 AND at < ?2",
        params![account, ms(at - KEEP)],
    )
    .map_err(sql("pruning login attempts"))?;
    conn.execute(
        "INSERT INTO login_attempt (account, at) VALUES (?1, ?2)",
        params![account, ms(at)],
    )
    .map_err(sql("recording a login attempt"))?;
    Ok(conn.last_insert_rowid())
}

fn count(conn: &rusqlite::Connection, account: &str, since: DateTime<Utc>) -> Result<u32> {
    conn.query_row(
        "SELECT count(*) FROM login_attempt WHERE account = ?1 AND at >= ?2",
        params![account, ms(since)],
        |r| r.get(0),
    )
    .map_err(sql("counting failed logins"))
}

#[cfg(test)]
mod tests {
    use super::super::test_support::{open_temp, t};
    use super::super::{LoginAttempt, StateDb};
    use chrono::Duration;

    #[test]
    fn failed_logins_count_within_the_window_across_runs() {
        let (_dir, path, mut db) = open_temp();
        db.record_failed_login("joe", t(0)).unwrap();
        db.record_failed_login("joe", t(600)).unwrap();
        db.record_failed_login("jane", t(600)).unwrap();
        drop(db);
        let db = StateDb::open(&path).unwrap();
        let window = Duration::minutes(15);
        assert_eq!(db.failed_logins_since("joe", t(700) - window).unwrap(), 2);
        assert_eq!(db.failed_logins_since("joe", t(1000) - window).unwrap(), 1);
        assert_eq!(db.failed_logins_since("nobody", t(0)).unwrap(), 0);
    }

    #[test]
    fn reservations_cap_attempts_and_successes_do_not_count() {
        let (_dir, _path, mut db) = open_temp();
        let window = Duration::minutes(15);
        let reserved = |a: LoginAttempt| match a {
            LoginAttempt::Reserved(r) => r,
            refused => panic!("{refused:?}"),
        };
        let ok = reserved(db.reserve_login("joe", t(0), 2, window).unwrap());
        db.login_succeeded(ok).unwrap();
        // Two attempts in flight (or failed, or lost in a crash): the third must wait until the
        // older of the two leaves the window.
        let _a = reserved(db.reserve_login("joe", t(1), 2, window).unwrap());
        let _b = reserved(db.reserve_login("joe", t(2), 2, window).unwrap());
        assert_eq!(
            db.reserve_login("joe", t(3), 2, window).unwrap(),
            LoginAttempt::Refused {
                failed: 2,
                until: t(1) + window
            }
        );
        let jane = reserved(db.reserve_login("jane", t(3), 2, window).unwrap());
        db.login_succeeded(jane).unwrap();
        // After the window the account may be tried again.
        let _ = reserved(
            db.reserve_login("joe", t(2 + 15 * 60 + 1), 2, window)
                .unwrap(),
        );
    }

    #[test]
    fn a_success_clears_the_attempts_before_it_and_not_those_after() {
        let (_dir, _path, mut db) = open_temp();
        let window = Duration::minutes(15);
        let reserved = |a: LoginAttempt| match a {
            LoginAttempt::Reserved(r) => r,
            refused => panic!("{refused:?}"),
        };
        // A run killed mid-login: its attempt was never reported.
        let _lost = reserved(db.reserve_login("joe", t(0), 2, window).unwrap());
        let ok = reserved(db.reserve_login("joe", t(5), 2, window).unwrap());
        db.record_failed_login("ann", t(5)).unwrap();
        let _in_flight = reserved(db.reserve_login("joe", t(6), 3, window).unwrap());
        db.login_succeeded(ok).unwrap();
        assert_eq!(
            db.failed_logins_since("joe", t(0)).unwrap(),
            1,
            "the later one counts"
        );
        assert_eq!(
            db.failed_logins_since("ann", t(0)).unwrap(),
            1,
            "another account's count"
        );
    }
}
