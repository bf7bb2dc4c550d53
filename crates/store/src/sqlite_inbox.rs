//! Accepting pushes on SQLite: one connection of its own, driven synchronously on a blocking thread.
//!
//! sqlx runs each SQLite statement on the connection's worker thread and hands the answer back across threads, so a
//! batch of pushes costs a few thread hand-offs per push. Accepting is the one hot write (every webhook waits for it),
//! so it runs here instead: a whole batch is one call on one thread, each statement prepared once and cached, one
//! `BEGIN IMMEDIATE` ... `COMMIT` (one fsync) per batch. The statements and the steps are the ones of the sqlx path
//! (`super::accept_one`), which PostgreSQL uses. Everything else stays on sqlx.
//!
//! Does not own: the schema (migrated through sqlx before this connection opens).

use std::path::Path;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use rusqlite::{Connection, OptionalExtension as _, TransactionBehavior, params};

use super::{
    Accepted, INSERT_DELIVERY, INSERT_DEPLOY, INSERT_JOB, NewPush, QUEUED_JOB, SUPERSEDE, StoreError, UPDATE_DEPLOY,
    UPSERT_HEAD, reason_of,
};

/// The accepting connection; cheap to clone.
#[derive(Clone)]
pub(crate) struct SqliteInbox {
    connection: Arc<Mutex<Connection>>,
}

impl std::fmt::Debug for SqliteInbox {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SqliteInbox")
    }
}

impl SqliteInbox {
    /// Opens the (already migrated) database file with the pool's settings: WAL, and commits that are durable
    /// before they return.
    pub(crate) fn open(path: &Path) -> Result<Self, rusqlite::Error> {
        let connection = Connection::open(path)?;
        connection.busy_timeout(Duration::from_secs(10))?;
        connection.pragma_update(None, "journal_mode", "WAL")?;
        connection.pragma_update(None, "synchronous", "FULL")?;
        Ok(Self { connection: Arc::new(Mutex::new(connection)) })
    }

    /// Accepts `pushes` in one transaction, off the async runtime.
    pub(crate) async fn accept(&self, pushes: &[NewPush], now: i64) -> Result<Vec<Accepted>, StoreError> {
        let connection = self.connection.clone();
        let pushes = pushes.to_vec();
        tokio::task::spawn_blocking(move || {
            let mut connection = connection.lock().unwrap_or_else(PoisonError::into_inner);
            let tx = connection.transaction_with_behavior(TransactionBehavior::Immediate)?;
            let answers = pushes.iter().map(|push| accept_one(&tx, push, now)).collect::<Result<Vec<_>, _>>()?;
            tx.commit()?;
            Ok(answers)
        })
        .await
        .map_err(|error| StoreError::Worker(error.to_string()))?
    }
}

/// The steps of `super::accept_one`, on this connection.
fn accept_one(tx: &rusqlite::Transaction<'_>, push: &NewPush, now: i64) -> Result<Accepted, rusqlite::Error> {
    let reason = reason_of(&push.delivery);
    if tx.prepare_cached(INSERT_DELIVERY)?.execute(params![push.delivery, "push", now])? == 0 {
        return Ok(Accepted::Duplicate);
    }
    let created: Option<i64> = tx
        .prepare_cached(INSERT_DEPLOY)?
        .query_row(params![push.repo, push.branch, push.sha, push.clone_url, now], |row| row.get(0))
        .optional()?;
    let deploy = match created {
        Some(deploy) => deploy,
        None => {
            let deploy: i64 = tx
                .prepare_cached(UPDATE_DEPLOY)?
                .query_row(params![push.clone_url, push.repo, push.branch, push.sha], |row| row.get(0))?;
            if reason == "reconcile" {
                return Ok(Accepted::Known { deploy });
            }
            let queued: Option<i64> =
                tx.prepare_cached(QUEUED_JOB)?.query_row(params![deploy], |row| row.get(0)).optional()?;
            if let Some(job) = queued {
                return Ok(Accepted::Queued { deploy, job });
            }
            deploy
        }
    };
    tx.prepare_cached(SUPERSEDE)?.execute(params![now, push.repo, push.branch, deploy])?;
    let job: i64 =
        tx.prepare_cached(INSERT_JOB)?.query_row(params![deploy, reason, push.delivery, now], |row| row.get(0))?;
    tx.prepare_cached(UPSERT_HEAD)?.execute(params![push.repo, push.branch, deploy])?;
    Ok(Accepted::Queued { deploy, job })
}
