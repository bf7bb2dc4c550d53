//! Accepting pushes on SQLite: one connection of its own, driven synchronously on a blocking thread.
//!
//! sqlx runs each SQLite statement on the connection's worker thread and hands the answer back across threads, so a
//! batch of pushes costs a few thread hand-offs per push. Accepting is the one hot write (every webhook waits for it),
//! so it runs here instead: a whole batch is one call on one thread, each statement prepared once and cached, one
//! `BEGIN IMMEDIATE` ... `COMMIT` per batch. The statements and the steps are the ones of the sqlx path
//! (`super::accept_one`), which PostgreSQL uses. Everything else stays on sqlx.
//!
//! Durability is split from committing so that the two can overlap: this connection commits with `synchronous =
//! NORMAL` (the commit reaches the WAL file, not yet the disk), and [`SqliteInbox::sync`] then `fdatasync`s the WAL
//! file, which makes every commit written before it durable. While one batch's sync runs, the next batch is already
//! being written. SQLite itself syncs around checkpoints in this mode (the WAL before a checkpoint, the database after
//! it, the WAL header when the file is reused), so a synced commit survives a power loss as with `synchronous = FULL`.
//!
//! A failed sync poisons the store for the rest of the process: every later write (here and through the pool) and
//! every checkpoint is refused, and [`SqliteInbox::refuse_if_poisoned`] says why. After a failed `fdatasync` the
//! kernel may have dropped the WAL's unwritten pages while keeping them in the page cache as if they were written, so
//! a later sync can succeed without making the earlier frames durable; a crash then cuts the WAL at the first lost
//! frame, taking with it every commit acknowledged after it, and a checkpoint could copy stale bytes into the
//! database. A restart alone does not clear the page cache either: so opening the inbox first checkpoints the whole
//! WAL into the database file and truncates it (`wal_checkpoint(TRUNCATE)`, which syncs the database file), and
//! refuses to start when that fails. What SQLite sees is then on disk before anything new is acknowledged.
//!
//! Checkpoints (copying the WAL into the database file) run on a thread and a connection of their own, every
//! [`CHECKPOINT_EVERY`], instead of inside whichever commit crosses SQLite's threshold: a checkpoint takes tens of
//! milliseconds, and the writer would hold every waiting webhook for that long.
//!
//! Does not own: the schema (migrated through sqlx before this connection opens).

use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::mpsc::{self, RecvTimeoutError};
use std::sync::{Arc, Mutex, OnceLock, PoisonError};
use std::time::Duration;

use rusqlite::{Connection, OptionalExtension as _, TransactionBehavior, params};

use super::{
    ANSWERED, Accepted, INSERT_DELIVERY, INSERT_DEPLOY, INSERT_JOB, INSERT_LATE_JOB, LATE, NewPush, QUEUED_JOB,
    QUEUED_SINCE, SUPERSEDE, StoreError, Superseded, UPDATE_DEPLOY, UPSERT_HEAD, reason_of,
};

/// How often the checkpointer copies the WAL into the database file.
const CHECKPOINT_EVERY: Duration = Duration::from_millis(250);

/// The accepting connection; cheap to clone.
#[derive(Clone)]
pub(crate) struct SqliteInbox {
    connection: Arc<Mutex<Connection>>,
    /// The WAL file, kept open to sync it. It lives as long as a connection is open, and this one stays open. Locked
    /// while it is synced: the kernel reports a failed write-back to one sync only, so two at once could both pass.
    wal: Arc<Mutex<File>>,
    /// The database file, for messages.
    database: PathBuf,
    /// Set by the first failed sync, with its error; never cleared.
    poisoned: Arc<OnceLock<String>>,
    /// Dropped with the last clone: the checkpointer thread then stops.
    _checkpointer: Arc<mpsc::Sender<()>>,
}

impl std::fmt::Debug for SqliteInbox {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SqliteInbox")
    }
}

impl SqliteInbox {
    /// Opens the (already migrated) database file in WAL mode, and the WAL file beside it.
    pub(crate) fn open(path: &Path) -> Result<Self, String> {
        let connection = connect(path).map_err(|e| e.to_string())?;
        // Checkpoints are the checkpointer's.
        connection.pragma_update(None, "wal_autocheckpoint", 0).map_err(|e| e.to_string())?;
        // Whatever the WAL holds goes to the database file, synced, before anything new is acknowledged (above).
        let busy: i64 = connection
            .query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |row| row.get(0))
            .map_err(|e| format!("cannot checkpoint the write-ahead log at start: {e}"))?;
        if busy != 0 {
            tracing::warn!(database = %path.display(), "another connection kept the start-up checkpoint from finishing");
        }
        let mut wal = path.as_os_str().to_owned();
        wal.push("-wal");
        // SQLite has created it by now (the pool's connections are open); `create` only covers a race with the last
        // of them closing, and SQLite accepts an empty WAL file.
        let wal = File::options()
            .read(true)
            .append(true)
            .create(true)
            .open(&wal)
            .map_err(|e| format!("cannot open {}: {e}", Path::new(&wal).display()))?;
        let checkpoints = connect(path).map_err(|e| e.to_string())?;
        let (stop, stopped) = mpsc::channel();
        let database = path.to_owned();
        let poisoned: Arc<OnceLock<String>> = Arc::default();
        let poisoned_too = poisoned.clone();
        std::thread::Builder::new()
            .name("sqlite-checkpoint".into())
            .spawn(move || checkpoint(&checkpoints, &stopped, &database, &poisoned_too))
            .map_err(|e| format!("cannot start the checkpoint thread: {e}"))?;
        Ok(Self {
            connection: Arc::new(Mutex::new(connection)),
            wal: Arc::new(Mutex::new(wal)),
            database: path.to_owned(),
            poisoned,
            _checkpointer: Arc::new(stop),
        })
    }

    /// Fails once a sync has failed, with that sync's error.
    pub(crate) fn refuse_if_poisoned(&self) -> Result<(), StoreError> {
        match self.poisoned.get() {
            Some(error) => Err(StoreError::Poisoned { database: self.database.clone(), error: error.to_owned() }),
            None => Ok(()),
        }
    }

    /// Makes every commit written so far durable.
    pub(crate) async fn sync(&self) -> Result<(), StoreError> {
        self.refuse_if_poisoned()?;
        let wal = self.wal.clone();
        let synced =
            tokio::task::spawn_blocking(move || wal.lock().unwrap_or_else(PoisonError::into_inner).sync_data())
                .await
                .map_err(|error| StoreError::Worker(error.to_string()))?;
        // Tests make the sync of one database fail here.
        #[cfg(feature = "failpoints")]
        let synced = synced.and_then(|()| {
            fail::fail_point!(&format!("store-sync:{}", self.database.display()), |_| Err(std::io::Error::other(
                "injected by a test"
            )));
            Ok(())
        });
        synced.map_err(|error| {
            let error = error.to_string();
            tracing::error!(%error, database = %self.database.display(),
                "the WAL could not be synced: the inbox refuses every write until greenlight restarts");
            let _ = self.poisoned.set(error.clone());
            StoreError::Sync(error)
        })
    }

    /// Accepts `pushes` in one transaction, off the async runtime; durable after the next [`Self::sync`].
    pub(crate) async fn accept(&self, pushes: &[NewPush], now: i64) -> Result<Vec<Accepted>, StoreError> {
        self.refuse_if_poisoned()?;
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

/// A connection in WAL mode whose commits are synced by [`SqliteInbox::sync`] (and by SQLite around checkpoints).
fn connect(path: &Path) -> Result<Connection, rusqlite::Error> {
    let connection = Connection::open(path)?;
    connection.busy_timeout(Duration::from_secs(10))?;
    connection.pragma_update(None, "journal_mode", "WAL")?;
    connection.pragma_update(None, "synchronous", "NORMAL")?;
    Ok(connection)
}

/// The checkpointer thread: a passive checkpoint (it never waits for, or blocks, the writer or the readers) every
/// [`CHECKPOINT_EVERY`], until the inbox is dropped or poisoned.
fn checkpoint(connection: &Connection, stop: &mpsc::Receiver<()>, database: &Path, poisoned: &OnceLock<String>) {
    /// While checkpoints keep failing, one warning a minute.
    const WARN_EVERY: u32 = 240;
    let mut failures: u32 = 0;
    while let Err(RecvTimeoutError::Timeout) = stop.recv_timeout(CHECKPOINT_EVERY) {
        if poisoned.get().is_some() {
            return;
        }
        match connection.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |_| Ok(())) {
            Ok(()) => failures = 0,
            // The next round tries again; SQLite's readers and writers are unaffected.
            Err(error) => {
                if failures.is_multiple_of(WARN_EVERY) {
                    tracing::warn!(%error, database = %database.display(), failures = failures + 1, "checkpoint failed");
                }
                failures = failures.wrapping_add(1);
            }
        }
    }
}

/// The steps of `super::accept_one`, on this connection.
fn accept_one(tx: &rusqlite::Transaction<'_>, push: &NewPush, now: i64) -> Result<Accepted, rusqlite::Error> {
    let reason = reason_of(&push.delivery);
    if tx.prepare_cached(INSERT_DELIVERY)?.execute(params![push.delivery, "push", now])? == 0 && reason != "reconcile" {
        return Ok(Accepted::Duplicate);
    }
    if let Some(read_at) = push.read_at
        && tx.prepare_cached(QUEUED_SINCE)?.exists(params![push.repo, push.branch, read_at])?
    {
        return Ok(Accepted::Stale);
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
                let answered = tx.prepare_cached(ANSWERED)?.exists(params![deploy])?;
                if answered {
                    return Ok(Accepted::Known { deploy });
                }
            } else {
                let queued: Option<i64> =
                    tx.prepare_cached(QUEUED_JOB)?.query_row(params![deploy], |row| row.get(0)).optional()?;
                if let Some(job) = queued {
                    return Ok(Accepted::Queued { deploy, job, superseded: Vec::new() });
                }
            }
            deploy
        }
    };
    if push.before.is_some() && tx.prepare_cached(LATE)?.exists(params![push.sha, push.repo, push.branch])? {
        let job = tx
            .prepare_cached(INSERT_LATE_JOB)?
            .query_row(params![deploy, reason, push.delivery, now, push.before], |row| row.get(0))?;
        return Ok(Accepted::Queued { deploy, job, superseded: Vec::new() });
    }
    let mut superseded = tx
        .prepare_cached(SUPERSEDE)?
        .query_map(params![now, push.repo, push.branch, deploy], |row| {
            Ok(Superseded { job: row.get(0)?, deploy: row.get(1)? })
        })?
        .collect::<Result<Vec<_>, _>>()?;
    superseded.sort_unstable();
    let job: i64 = tx
        .prepare_cached(INSERT_JOB)?
        .query_row(params![deploy, reason, push.delivery, now, push.before], |row| row.get(0))?;
    tx.prepare_cached(UPSERT_HEAD)?.execute(params![push.repo, push.branch, deploy])?;
    Ok(Accepted::Queued { deploy, job, superseded })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The plan SQLite picks for `statement` on the migrated schema, one line per step.
    fn plan(statement: &str, parameters: usize) -> String {
        let connection = Connection::open_in_memory().unwrap();
        for migration in [
            include_str!("../migrations/sqlite/0001_inbox_and_jobs.sql"),
            include_str!("../migrations/sqlite/0002_queued_jobs_index.sql"),
            include_str!("../migrations/sqlite/0003_decided_jobs.sql"),
            include_str!("../migrations/sqlite/0004_push_before.sql"),
        ] {
            connection.execute_batch(migration).unwrap();
        }
        let mut explain = connection.prepare(&format!("EXPLAIN QUERY PLAN {statement}")).unwrap();
        let values = vec![rusqlite::types::Value::Null; parameters];
        explain
            .query_map(rusqlite::params_from_iter(values), |row| row.get::<_, String>(3))
            .unwrap()
            .collect::<Result<Vec<_>, _>>()
            .unwrap()
            .join("\n")
    }

    #[test]
    fn accepting_looks_at_the_queue_not_at_the_history() {
        // Neither statement may walk every job or every deploy of a branch: both start from the queued jobs.
        for (statement, parameters) in [(SUPERSEDE, 4), (QUEUED_JOB, 1)] {
            let plan = plan(statement, parameters);
            assert!(plan.contains("INDEX jobs_queued"), "{statement}\n{plan}");
            assert!(!plan.contains("deploys USING COVERING INDEX"), "{statement}\n{plan}");
        }
        // Whether a push came late is looked up by the commit it pushed, not by walking the branch's jobs.
        let plan = plan(LATE, 3);
        assert!(plan.contains("INDEX jobs_before"), "{plan}");
    }

    #[test]
    fn opening_moves_the_log_into_the_database_file() {
        // A restart must not build on WAL frames that may be in the page cache only (a failed sync): opening the
        // inbox checkpoints them into the database file, synced, and empties the WAL.
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("gl.db");
        let writer = connect(&path).unwrap();
        writer.pragma_update(None, "wal_autocheckpoint", 0).unwrap();
        writer.execute_batch("CREATE TABLE t (x); INSERT INTO t VALUES (42);").unwrap();
        let wal = dir.path().join("gl.db-wal");
        assert!(std::fs::metadata(&wal).unwrap().len() > 0, "the write is in the WAL");
        let _inbox = SqliteInbox::open(&path).unwrap();
        assert_eq!(std::fs::metadata(&wal).unwrap().len(), 0, "the WAL was checkpointed and truncated");
        let copy = dir.path().join("copy.db");
        std::fs::copy(&path, &copy).unwrap();
        let x: i64 = Connection::open(&copy).unwrap().query_row("SELECT x FROM t", [], |row| row.get(0)).unwrap();
        assert_eq!(x, 42, "the database file alone has the row");
    }

    #[test]
    fn claiming_looks_at_the_open_jobs_not_at_the_history() {
        let plan = plan(super::super::CLAIM_SQLITE, 3);
        assert!(plan.contains("INDEX jobs_open"), "{plan}");
        assert!(!plan.lines().any(|step| step.starts_with("SCAN jobs")), "{plan}");
    }
}
