//! The service's durable state: the inbox of accepted deliveries, the jobs they start, and the deploys with their
//! latest reports, in SQLite (WAL, every commit durable before it is reported) or PostgreSQL.
//!
//! Owns: every SQL statement, the migrations of each backend, and the rules that make processing exactly-once: a
//! delivery id is accepted once; a job is claimed under a lease (`FOR UPDATE SKIP LOCKED` on PostgreSQL, the single
//! writer on SQLite) and finished only by its lease holder; the jobs of one deploy run one at a time in the order they
//! were queued; a newer push supersedes queued work that has not yet told GitHub anything. Does not own: what a job
//! does (the server), or any HTTP.
//!
//! Times are unix milliseconds, passed in by the caller so that the store has no clock of its own.

mod sqlite_inbox;

use std::str::FromStr as _;
use std::time::Duration;

use sqlite_inbox::SqliteInbox;
use sqlx::any::{AnyPoolOptions, install_default_drivers};
use sqlx::{AnyPool, Executor as _, Row as _};

static SQLITE: sqlx::migrate::Migrator = sqlx::migrate!("migrations/sqlite");
static POSTGRES: sqlx::migrate::Migrator = sqlx::migrate!("migrations/postgres");

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("unsupported database url {0:?}: expected sqlite://PATH or postgres://USER@HOST/DB")]
    UnsupportedUrl(String),
    #[error("cannot open the store at {url}: {source}")]
    Connect { url: String, source: sqlx::Error },
    #[error("cannot migrate the store at {url}: {source}")]
    Migrate { url: String, source: sqlx::migrate::MigrateError },
    #[error("store query failed: {0}")]
    Query(#[from] sqlx::Error),
    #[error("cannot open the SQLite inbox connection to {url}: {message}")]
    SqliteOpen { url: String, message: String },
    #[error("cannot sync the store's write-ahead log: {0}")]
    Sync(String),
    #[error(
        "the store refuses writes since a sync of {}'s write-ahead log failed ({error}); restart greenlight",
        database.display()
    )]
    Poisoned { database: std::path::PathBuf, error: String },
    #[error("store query failed: {0}")]
    Sqlite(#[from] rusqlite::Error),
    #[error("the store's worker thread failed: {0}")]
    Worker(String),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// A handle on the store; cheap to clone.
#[derive(Clone, Debug)]
pub struct Store {
    pool: AnyPool,
    backend: Backend,
    /// SQLite only: the connection that accepts pushes (see `sqlite_inbox`).
    inbox: Option<SqliteInbox>,
}

/// A push to a deploy branch, as accepted from a webhook (or found missing by reconciling).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NewPush {
    /// Unique per delivery: GitHub's `X-GitHub-Delivery`, or a name made up by whoever found the push.
    pub delivery: String,
    pub repo: String,
    pub branch: String,
    pub sha: String,
    pub clone_url: String,
    /// A head found by reconciling: when the mirror was read (webhooks: `None`). A job queued on the branch after it
    /// means a push came in while reconciling fetched, and the head read may already be stale: it is not taken.
    pub read_at: Option<i64>,
    /// The commit the branch was at before this push (a webhook's `before`; `None` for a new branch or a reconciled
    /// head). GitHub does not promise the order of its webhooks: a push whose commit is the `before` of one already
    /// accepted on its branch is older than that one, so it is superseded at once instead of superseding it.
    pub before: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Accepted {
    /// New: a job is queued for the deploy (a new one, or one already waiting for the same commit). `superseded`:
    /// the queued jobs on older commits of the branch that this push superseded, by job id.
    Queued { deploy: i64, job: i64, superseded: Vec<Superseded> },
    /// A reconciled push of a commit already known, with a job that was not superseded: nothing was missed, nothing
    /// was queued. A known commit whose every job was superseded (a stale push was accepted after it, so the branch's
    /// head never got a status) is queued again, however often the same head was reconciled before.
    Known { deploy: i64 },
    /// This delivery id was accepted before; nothing was done.
    Duplicate,
    /// A reconciled head read before the branch's latest push was accepted (see `NewPush::read_at`); nothing was done.
    /// The next round reads the branch again.
    Stale,
}

/// A queued job that a newer push superseded, and its deploy.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Superseded {
    pub job: i64,
    pub deploy: i64,
}

/// The commit a job is about.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DeployRef {
    pub id: i64,
    pub repo: String,
    pub branch: String,
    pub sha: String,
    pub clone_url: String,
}

/// A claimed job: the claimer holds its lease until `finish`, `retry`, or the lease runs out.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Job {
    pub id: i64,
    pub deploy: DeployRef,
    /// `push`, `reconcile`, `recheck`, `issue`.
    pub reason: String,
    pub delivery: Option<String>,
    /// A `pending` status was (or may have been) posted: the commit must get a final one.
    pub pending_posted: bool,
    /// Attempts so far, this one included: claims (a takeover of an expired lease too), less the attempts given back
    /// ([`Store::give_back`]).
    pub attempts: i64,
    /// The final status, once an earlier attempt recorded the check: this attempt only has to post it.
    pub decided: Option<Decided>,
}

/// The final status a job is to post.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Decided {
    pub state: String,
    pub description: String,
}

/// What a check found, to keep with its deploy.
#[derive(Clone, Debug)]
pub struct CheckRecord<'a> {
    pub verdict: &'a str,
    /// The status description.
    pub summary: &'a str,
    /// The report as JSON (docs/json.md); `None` when the checks could not run.
    pub report: Option<&'a str>,
    /// The contents as JSON (docs/json.md).
    pub contents: Option<&'a str>,
    pub keys: &'a [String],
    /// The job that ran the check, when one did: the check is kept only while its worker still holds the job, and
    /// the final state it is to post (with `summary` as the description) is kept with the job, so that a retry posts
    /// it without checking again.
    pub job: Option<RanBy<'a>>,
}

/// The job a check ran in, the worker holding it, and the final state the check leads to.
#[derive(Clone, Copy, Debug)]
pub struct RanBy<'a> {
    pub job: i64,
    pub owner: &'a str,
    pub state: &'a str,
}

/// A deploy and the latest state of its work, for the page and the API.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DeployRecord {
    pub deploy: DeployRef,
    pub created_at: i64,
    pub checked_at: Option<i64>,
    pub verdict: Option<String>,
    pub summary: Option<String>,
    pub report: Option<String>,
    pub contents: Option<String>,
    /// The state of the latest job on it (`queued`, `running`, `done`, `superseded`), if any.
    pub job_state: Option<String>,
    /// The final status posted by the latest finished job.
    pub final_state: Option<String>,
    /// The deploy of the branch's latest accepted push (its head), when that is another deploy.
    pub head: Option<i64>,
}

/// What the queue holds, for metrics.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct QueueDepth {
    pub queued: i64,
    pub running: i64,
}

// The statements of accepting a push, shared by both ways of running it (see `accept_one` and `sqlite_inbox`).

/// `(id, event, received_at)`; changes no row when the delivery was accepted before.
const INSERT_DELIVERY: &str =
    "INSERT INTO deliveries (id, event, received_at) VALUES ($1, $2, $3) ON CONFLICT (id) DO NOTHING";
/// `(repo, branch, sha, clone_url, created_at)`; returns the new id, or nothing when the commit is known. On a
/// conflict PostgreSQL waits for the other transaction, then sees its row: two replicas never both "create" it.
const INSERT_DEPLOY: &str = "INSERT INTO deploys (repo, branch, sha, clone_url, created_at) VALUES ($1, $2, $3, $4, $5)
    ON CONFLICT (repo, branch, sha) DO NOTHING RETURNING id";
/// `(clone_url, repo, branch, sha)`: a known commit takes the latest clone url; returns its id.
const UPDATE_DEPLOY: &str =
    "UPDATE deploys SET clone_url = $1 WHERE repo = $2 AND branch = $3 AND sha = $4 RETURNING id";
/// `(owner, lease_until, now)`, with the row lock of the backend: claims the oldest job that is due and is the oldest
/// open job of its deploy with none of its deploy's jobs running, or whose holder's lease ran out. Jobs of one deploy
/// thus run one at a time and in the order they were queued: a newer job (a recheck) never runs while an older one
/// waits to post the status it kept, so the last status posted is always the newest check's. On PostgreSQL it also
/// makes racing claimers contend for the same row (the deploy's oldest open job) instead of taking one job each. The
/// redundant `state IN (...)` is the `jobs_open` index's own condition, which lets SQLite use it: the cost follows the
/// open jobs, not the history. Taking over a job whose lease ran out counts an attempt: its worker died or hung, and a
/// job that kills its worker every time (it exhausts memory, say) must run out of attempts, not crash the service for
/// ever. A worker that is stopped, or finds its lease lost while it still runs, gives its attempt back instead.
macro_rules! claim {
    ($lock:literal) => {
        concat!(
            "UPDATE jobs SET state = 'running', lease_owner = $1, lease_until = $2,
                attempts = attempts + 1
             WHERE id = (SELECT id FROM jobs
                 WHERE state IN ('queued', 'running')
                 AND ((state = 'queued' AND run_after <= $3
                       AND NOT EXISTS (SELECT 1 FROM jobs other WHERE other.deploy_id = jobs.deploy_id
                                       AND (other.state = 'running'
                                            OR (other.state = 'queued' AND other.id < jobs.id))))
                      OR (state = 'running' AND lease_until < $3))
                 ORDER BY id LIMIT 1 ",
            $lock,
            ")
             RETURNING id, deploy_id, reason, delivery_id, pending_posted, attempts, final_state, final_description"
        )
    };
}
/// SQLite has one writer at a time: the UPDATE is atomic on its own.
const CLAIM_SQLITE: &str = claim!("");
const CLAIM_POSTGRES: &str = claim!("FOR UPDATE SKIP LOCKED");
/// `(deploy)`: the claimed job's deploy. On PostgreSQL the claim then locks the deploy's row (`CLAIM_DEPLOY_POSTGRES`)
/// and looks again, in a statement that sees every claim committed before it got the lock (`OTHER_RUNNING`): the
/// claim's own statement may have read the queue before another claim of the same deploy committed.
const CLAIM_DEPLOY: &str = "SELECT id, repo, branch, sha, clone_url FROM deploys WHERE id = $1";
/// Conflicts with itself but not with the key-share locks of inserting jobs; skipped rather than waited for, so a
/// claim never waits on a lock and cannot deadlock with the writes that lock deploys and jobs in another order.
const CLAIM_DEPLOY_POSTGRES: &str =
    "SELECT id, repo, branch, sha, clone_url FROM deploys WHERE id = $1 FOR NO KEY UPDATE SKIP LOCKED";
/// `(deploy, job)`: another job of the deploy is running.
const OTHER_RUNNING: &str = "SELECT 1 FROM jobs WHERE deploy_id = $1 AND state = 'running' AND id <> $2 LIMIT 1";
/// `(deploy)`: whether the deploy has a job that was not superseded, i.e. its commit got or will get a final status.
const ANSWERED: &str = "SELECT 1 FROM jobs WHERE deploy_id = $1 AND state <> 'superseded' LIMIT 1";
/// `(repo, branch, read_at)`: a job was queued on the branch after `read_at`.
const QUEUED_SINCE: &str = "SELECT 1 FROM jobs j JOIN deploys d ON d.id = j.deploy_id
    WHERE d.repo = $1 AND d.branch = $2 AND j.created_at > $3 LIMIT 1";
/// `(deploy)`: the job still queued for a deploy, which a new push of the same commit joins.
const QUEUED_JOB: &str = "SELECT id FROM jobs WHERE deploy_id = $1 AND state = 'queued' ORDER BY id DESC LIMIT 1";
/// `(now, repo, branch, deploy)`: a newer push supersedes queued jobs on older commits of the same branch, unless
/// they already posted `pending`. It starts from the queued jobs (the `jobs_queued` index) and looks up each one's
/// deploy, so its cost follows the queue, not the branch's history. Returns each superseded job and its deploy.
const SUPERSEDE: &str = "UPDATE jobs SET state = 'superseded', finished_at = $1
    WHERE state = 'queued' AND pending_posted = 0
    AND EXISTS (SELECT 1 FROM deploys d WHERE d.id = jobs.deploy_id AND d.repo = $2 AND d.branch = $3)
    AND deploy_id <> $4
    RETURNING id, deploy_id";
/// `(deploy, reason, delivery, now, before)`; returns the job's id.
const INSERT_JOB: &str = "INSERT INTO jobs (deploy_id, reason, delivery_id, state, run_after, created_at, before_sha)
    VALUES ($1, $2, $3, 'queued', $4, $4, $5) RETURNING id";
/// `(deploy, reason, delivery, now, before)`: the job of a push that came late (see `LATE`), superseded as it is
/// made; returns its id.
const INSERT_LATE_JOB: &str = "INSERT INTO jobs
    (deploy_id, reason, delivery_id, state, run_after, created_at, finished_at, before_sha)
    VALUES ($1, $2, $3, 'superseded', $4, $4, $4, $5) RETURNING id";
/// `(sha, repo, branch)`: a push already accepted on the branch moved it on from `sha`, so a push of `sha` came late.
/// (Parameters in the order they appear: rusqlite numbers `$n` by first appearance.)
const LATE: &str = "SELECT 1 FROM jobs j JOIN deploys d ON d.id = j.deploy_id
    WHERE j.before_sha = $1 AND d.repo = $2 AND d.branch = $3 LIMIT 1";
/// `(repo, branch, deploy)`: the branch's head moves to the pushed commit.
const UPSERT_HEAD: &str = "INSERT INTO heads (repo, branch, deploy_id) VALUES ($1, $2, $3)
    ON CONFLICT (repo, branch) DO UPDATE SET deploy_id = excluded.deploy_id";

/// How long connecting to the store may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// How long a webhook's write waits for a PostgreSQL connection (the pool's own wait, for everything else, is
/// [`CONNECT_TIMEOUT`]): GitHub gives up on a delivery after 10 s, so during an outage of the database a push must be
/// answered 503 well before that, or GitHub records a timeout instead of the answer.
const WEBHOOK_WAIT: Duration = Duration::from_secs(4);

impl Store {
    /// Opens (creating a SQLite file if needed) and migrates the store at `url`.
    pub async fn connect(url: &str) -> Result<Self, StoreError> {
        install_default_drivers();
        let shown = redact(url);
        let (backend, url) = if url.starts_with("sqlite:") {
            let url = if url.contains("mode=") {
                url.to_owned()
            } else {
                format!("{url}{}mode=rwc", if url.contains('?') { '&' } else { '?' })
            };
            (Backend::Sqlite, url)
        } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            (Backend::Postgres, url.to_owned())
        } else {
            return Err(StoreError::UnsupportedUrl(shown));
        };
        let options = match backend {
            // WAL lets readers (the page, the metrics) run beside the writer; FULL makes the pool's own commits
            // (claims, reports, finished jobs) durable when they return. Accepting pushes has its own connection,
            // which syncs explicitly (`sqlite_inbox`).
            Backend::Sqlite => AnyPoolOptions::new().max_connections(4).after_connect(|conn, _| {
                Box::pin(async move {
                    conn.execute("PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL; PRAGMA busy_timeout = 10000;")
                        .await?;
                    Ok(())
                })
            }),
            Backend::Postgres => AnyPoolOptions::new().max_connections(8),
        };
        if backend == Backend::Postgres {
            // The pool retries a failed connection until its timeout and then keeps only "pool timed out": one
            // connection of our own first says at once why the server cannot be reached (refused, unknown host,
            // authentication).
            use sqlx::Connection as _;
            let first = tokio::time::timeout(CONNECT_TIMEOUT, sqlx::AnyConnection::connect(&url)).await;
            match first {
                Ok(Ok(connection)) => drop(connection.close().await),
                Ok(Err(source)) => return Err(StoreError::Connect { url: shown, source }),
                Err(_) => return Err(StoreError::Connect { url: shown, source: sqlx::Error::PoolTimedOut }),
            }
        }
        let pool = options
            .acquire_timeout(CONNECT_TIMEOUT)
            .connect(&url)
            .await
            .map_err(|source| StoreError::Connect { url: shown.clone(), source })?;
        let migrator = match backend {
            Backend::Sqlite => &SQLITE,
            Backend::Postgres => &POSTGRES,
        };
        migrator.run(&pool).await.map_err(|source| StoreError::Migrate { url: shown.clone(), source })?;
        let inbox = match backend {
            Backend::Sqlite => {
                let options = sqlx::sqlite::SqliteConnectOptions::from_str(&url)
                    .map_err(|source| StoreError::Connect { url: shown.clone(), source })?;
                let path = options.get_filename();
                if path.as_os_str() == ":memory:" {
                    return Err(StoreError::UnsupportedUrl(shown));
                }
                Some(SqliteInbox::open(path).map_err(|message| StoreError::SqliteOpen { url: shown, message })?)
            }
            Backend::Postgres => None,
        };
        Ok(Self { pool, backend, inbox })
    }

    /// A transaction that will write. On SQLite it takes the write lock at once (`BEGIN IMMEDIATE`): a transaction
    /// that read first and then wrote would fail outright, instead of waiting, if another connection wrote between.
    async fn write(&self) -> Result<sqlx::Transaction<'static, sqlx::Any>, StoreError> {
        self.refuse_if_poisoned()?;
        Ok(match self.backend {
            Backend::Sqlite => self.pool.begin_with("BEGIN IMMEDIATE").await?,
            Backend::Postgres => self.pool.begin().await?,
        })
    }

    /// [`Self::write`] for a webhook, which waits at most [`WEBHOOK_WAIT`] for a connection (`pool timed out`).
    async fn webhook_write(&self) -> Result<sqlx::Transaction<'static, sqlx::Any>, StoreError> {
        // Nothing is written before the transaction is open, so giving up on it loses nothing.
        tokio::time::timeout(WEBHOOK_WAIT, self.write()).await.map_err(|_| sqlx::Error::PoolTimedOut)?
    }

    /// The pool, for a write that needs no transaction; refused like [`Self::write`] once the store is poisoned.
    fn writable(&self) -> Result<&AnyPool, StoreError> {
        self.refuse_if_poisoned()?;
        Ok(&self.pool)
    }

    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// Answers when the store can run a query.
    pub async fn ping(&self) -> Result<(), StoreError> {
        self.refuse_if_poisoned()?;
        sqlx::query("SELECT 1").execute(&self.pool).await?;
        Ok(())
    }

    /// Fails with [`StoreError::Poisoned`] once a sync of the SQLite inbox failed: nothing written after that is
    /// safe until the process restarts (every write of the store is refused until then).
    pub fn refuse_if_poisoned(&self) -> Result<(), StoreError> {
        self.inbox.as_ref().map_or(Ok(()), SqliteInbox::refuse_if_poisoned)
    }

    /// Accepts pushes in one transaction, durably: [`Self::accept_unsynced`] then [`Self::sync`].
    pub async fn accept(&self, pushes: &[NewPush], now: i64) -> Result<Vec<Accepted>, StoreError> {
        let answers = self.accept_unsynced(pushes, now).await?;
        self.sync().await?;
        Ok(answers)
    }

    /// Accepts pushes in one transaction, one commit for the whole batch. The answers are in the order of `pushes`;
    /// see [`Accepted`] for what each push led to. On SQLite the commit may not be on disk until the next
    /// [`Self::sync`] (which covers every batch committed before it: group commit across batches); on PostgreSQL it
    /// is durable at once.
    pub async fn accept_unsynced(&self, pushes: &[NewPush], now: i64) -> Result<Vec<Accepted>, StoreError> {
        if let Some(inbox) = &self.inbox {
            return inbox.accept(pushes, now).await;
        }
        // A push locks its branch's rows (the head, the queued jobs). Taking branches in one order in every replica
        // keeps two batches that name the same branches from deadlocking; one branch's pushes keep their order.
        let mut order: Vec<usize> = (0..pushes.len()).collect();
        order.sort_by_key(|&i| (&pushes[i].repo, &pushes[i].branch));
        let mut tx = self.webhook_write().await?;
        let mut answers = vec![Accepted::Duplicate; pushes.len()];
        for i in order {
            answers[i] = accept_one(&mut tx, &pushes[i], now).await?;
        }
        tx.commit().await?;
        Ok(answers)
    }

    /// Makes every batch accepted so far durable (SQLite: one `fdatasync` of the WAL; PostgreSQL: nothing to do).
    pub async fn sync(&self) -> Result<(), StoreError> {
        match &self.inbox {
            Some(inbox) => inbox.sync().await,
            None => Ok(()),
        }
    }

    /// Queues a recheck of `deploy`. With a `delivery` id, a second call with the same id does nothing and
    /// answers `Duplicate`. `None` when there is no such deploy.
    pub async fn recheck(
        &self,
        deploy: i64,
        reason: &str,
        delivery: Option<&str>,
        now: i64,
    ) -> Result<Option<Accepted>, StoreError> {
        let mut tx = self.write().await?;
        if sqlx::query("SELECT id FROM deploys WHERE id = $1").bind(deploy).fetch_optional(&mut *tx).await?.is_none() {
            return Ok(None);
        }
        if let Some(delivery) = delivery
            && !insert_delivery(&mut tx, delivery, reason, now).await?
        {
            return Ok(Some(Accepted::Duplicate));
        }
        let job = insert_job(&mut tx, deploy, reason, delivery, now, None).await?;
        tx.commit().await?;
        Ok(Some(Accepted::Queued { deploy, job, superseded: Vec::new() }))
    }

    /// Queues a recheck of every open deploy (the head of its branch) that names `key`, once per `delivery`.
    /// Returns the deploys, or `None` for a delivery accepted before.
    pub async fn recheck_issue(&self, key: &str, delivery: &str, now: i64) -> Result<Option<Vec<i64>>, StoreError> {
        let mut tx = self.webhook_write().await?;
        if !insert_delivery(&mut tx, delivery, "issue", now).await? {
            return Ok(None);
        }
        let deploys: Vec<i64> = sqlx::query(
            "SELECT h.deploy_id FROM heads h JOIN deploy_issues i ON i.deploy_id = h.deploy_id
             WHERE i.issue_key = $1 ORDER BY h.deploy_id",
        )
        .bind(key)
        .fetch_all(&mut *tx)
        .await?
        .iter()
        .map(|row| row.try_get(0))
        .collect::<Result<_, _>>()?;
        for &deploy in &deploys {
            insert_job(&mut tx, deploy, "issue", Some(delivery), now, None).await?;
        }
        tx.commit().await?;
        Ok(Some(deploys))
    }

    /// Claims the oldest job that is due, or whose holder's lease ran out, for `owner` until `lease_until`. A queued
    /// job waits while another job on the same deploy is running or an older one is queued, so the jobs of a deploy
    /// run one at a time, in order, and the last status posted is the latest check's.
    pub async fn claim(&self, owner: &str, now: i64, lease_until: i64) -> Result<Option<Job>, StoreError> {
        let (claim, deploy_query) = match self.backend {
            Backend::Postgres => (CLAIM_POSTGRES, CLAIM_DEPLOY_POSTGRES),
            Backend::Sqlite => (CLAIM_SQLITE, CLAIM_DEPLOY),
        };
        let mut tx = self.write().await?;
        let Some(row) = sqlx::query(claim).bind(owner).bind(lease_until).bind(now).fetch_optional(&mut *tx).await?
        else {
            return Ok(None);
        };
        let (job, deploy_id): (i64, i64) = (row.try_get(0)?, row.try_get(1)?);
        let Some(deploy) = sqlx::query(deploy_query).bind(deploy_id).fetch_optional(&mut *tx).await? else {
            // PostgreSQL: another claim (or a write) holds the deploy; dropping the transaction gives the job back.
            return Ok(None);
        };
        if self.backend == Backend::Postgres
            && sqlx::query(OTHER_RUNNING).bind(deploy_id).bind(job).fetch_optional(&mut *tx).await?.is_some()
        {
            return Ok(None);
        }
        tx.commit().await?;
        Ok(Some(Job {
            id: job,
            deploy: deploy_ref(&deploy)?,
            reason: row.try_get(2)?,
            delivery: row.try_get(3)?,
            pending_posted: row.try_get::<i64, _>(4)? != 0,
            attempts: row.try_get(5)?,
            decided: match (row.try_get(6)?, row.try_get(7)?) {
                (Some(state), Some(description)) => Some(Decided { state, description }),
                _ => None,
            },
        }))
    }

    /// Extends a lease; `false` when `owner` no longer holds it.
    pub async fn renew(&self, job: i64, owner: &str, lease_until: i64) -> Result<bool, StoreError> {
        let done =
            sqlx::query("UPDATE jobs SET lease_until = $1 WHERE id = $2 AND lease_owner = $3 AND state = 'running'")
                .bind(lease_until)
                .bind(job)
                .bind(owner)
                .execute(self.writable()?)
                .await?;
        Ok(done.rows_affected() == 1)
    }

    /// Notes, before posting it, that `pending` is about to be posted: from now on the commit must get a final
    /// status, so the job can no longer be superseded.
    pub async fn mark_pending(&self, job: i64) -> Result<(), StoreError> {
        sqlx::query("UPDATE jobs SET pending_posted = 1 WHERE id = $1").bind(job).execute(self.writable()?).await?;
        Ok(())
    }

    /// Keeps a check's report with its deploy, the keys it names, and the status its job is to post. `false`, with
    /// nothing kept, when the job's worker no longer holds it (its lease ran out and another worker took it over).
    pub async fn record_check(&self, deploy: i64, check: &CheckRecord<'_>, now: i64) -> Result<bool, StoreError> {
        let mut tx = self.write().await?;
        if let Some(ran) = check.job {
            let held = sqlx::query(
                "UPDATE jobs SET final_state = $1, final_description = $2
                 WHERE id = $3 AND lease_owner = $4 AND state = 'running'",
            )
            .bind(ran.state)
            .bind(check.summary)
            .bind(ran.job)
            .bind(ran.owner)
            .execute(&mut *tx)
            .await?;
            if held.rows_affected() == 0 {
                return Ok(false);
            }
        }
        sqlx::query(
            "UPDATE deploys SET checked_at = $1, verdict = $2, summary = $3, report = $4, contents = $5 WHERE id = $6",
        )
        .bind(now)
        .bind(check.verdict)
        .bind(check.summary)
        .bind(check.report)
        .bind(check.contents)
        .bind(deploy)
        .execute(&mut *tx)
        .await?;
        sqlx::query("DELETE FROM deploy_issues WHERE deploy_id = $1").bind(deploy).execute(&mut *tx).await?;
        for key in check.keys {
            sqlx::query("INSERT INTO deploy_issues (issue_key, deploy_id) VALUES ($1, $2) ON CONFLICT DO NOTHING")
                .bind(key)
                .bind(deploy)
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        Ok(true)
    }

    /// Finishes a job after its final status was posted; `false` when `owner` had lost the lease.
    pub async fn finish(&self, job: i64, owner: &str, final_state: &str, now: i64) -> Result<bool, StoreError> {
        let done = sqlx::query(
            "UPDATE jobs SET state = 'done', final_state = $1, finished_at = $2, lease_owner = NULL, last_error = NULL
             WHERE id = $3 AND lease_owner = $4 AND state = 'running'",
        )
        .bind(final_state)
        .bind(now)
        .bind(job)
        .bind(owner)
        .execute(self.writable()?)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    /// Gives a job back to the queue, due again at `run_after`, noting why.
    pub async fn retry(&self, job: i64, owner: &str, run_after: i64, error: &str) -> Result<bool, StoreError> {
        self.requeue(job, owner, run_after, error, 0).await
    }

    /// Gives a job back to the queue without counting the attempt it was claimed with, due again at `run_after`,
    /// noting why: for a job that tried nothing (the remote's breaker refused its fetch), or that was stopped by
    /// something that is not the commit's fault (a shutdown, a lost lease). Like [`Self::retry`], only for the lease
    /// holder; whether it posted `pending` is kept.
    pub async fn give_back(&self, job: i64, owner: &str, run_after: i64, error: &str) -> Result<bool, StoreError> {
        self.requeue(job, owner, run_after, error, 1).await
    }

    /// Queues the lease holder's job again, `returned` attempts taken off its count.
    async fn requeue(
        &self,
        job: i64,
        owner: &str,
        run_after: i64,
        error: &str,
        returned: i64,
    ) -> Result<bool, StoreError> {
        let done = sqlx::query(
            "UPDATE jobs SET state = 'queued', run_after = $1, last_error = $2, lease_owner = NULL, lease_until = NULL,
                attempts = attempts - $3
             WHERE id = $4 AND lease_owner = $5 AND state = 'running'",
        )
        .bind(run_after)
        .bind(error)
        .bind(returned)
        .bind(job)
        .bind(owner)
        .execute(self.writable()?)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    pub async fn deploy(&self, id: i64) -> Result<Option<DeployRecord>, StoreError> {
        let row = sqlx::query(select_deploy!("d.report, d.contents", "FROM deploys d WHERE d.id = $1"))
            .bind(id)
            .fetch_optional(&self.pool)
            .await?;
        Ok(row.as_ref().map(deploy_record).transpose()?)
    }

    /// Every deploy branch's head (the deploy of its latest accepted push), by repository and branch.
    pub async fn heads(&self) -> Result<Vec<DeployRecord>, StoreError> {
        let rows = sqlx::query(select_deploy!(
            // The index shows no report: the documents, often the bulk of a row, are not read.
            "CAST(NULL AS TEXT), CAST(NULL AS TEXT)",
            "FROM heads h JOIN deploys d ON d.id = h.deploy_id ORDER BY h.repo, h.branch"
        ))
        .fetch_all(&self.pool)
        .await?;
        Ok(rows.iter().map(deploy_record).collect::<Result<_, _>>()?)
    }

    /// The deploy recorded for `sha` on `branch`, if any push of it was accepted.
    pub async fn find_deploy(&self, repo: &str, branch: &str, sha: &str) -> Result<Option<i64>, StoreError> {
        let row = sqlx::query("SELECT id FROM deploys WHERE repo = $1 AND branch = $2 AND sha = $3")
            .bind(repo)
            .bind(branch)
            .bind(sha)
            .fetch_optional(&self.pool)
            .await?;
        Ok(row.map(|row| row.try_get(0)).transpose()?)
    }

    /// The clone url of the latest push accepted for `repo`.
    pub async fn clone_url(&self, repo: &str) -> Result<Option<String>, StoreError> {
        let row = sqlx::query("SELECT clone_url FROM deploys WHERE repo = $1 ORDER BY id DESC LIMIT 1")
            .bind(repo)
            .fetch_optional(&self.pool)
            .await?;
        Ok(row.map(|row| row.try_get(0)).transpose()?)
    }

    pub async fn queue_depth(&self) -> Result<QueueDepth, StoreError> {
        let row = sqlx::query(
            "SELECT COUNT(*) FILTER (WHERE state = 'queued'), COUNT(*) FILTER (WHERE state = 'running')
             FROM jobs WHERE state IN ('queued', 'running')",
        )
        .fetch_one(&self.pool)
        .await?;
        Ok(QueueDepth { queued: row.try_get(0)?, running: row.try_get(1)? })
    }

    /// Closes the pool, waiting for queries in flight.
    pub async fn close(&self) {
        self.pool.close().await;
    }
}

/// One push of a batch. A new delivery id records the deploy, supersedes older queued work on its branch, queues a
/// job (unless one is already queued for the same commit, or reconciling found a commit already known), and moves the
/// branch's head. `sqlite_inbox::accept_one` follows the same steps with the same statements.
async fn accept_one(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    push: &NewPush,
    now: i64,
) -> Result<Accepted, StoreError> {
    let reason = reason_of(&push.delivery);
    // A reconciled head is looked at again each round (see `Accepted::Known`); only webhooks are deduplicated here.
    if !insert_delivery(tx, &push.delivery, "push", now).await? && reason != "reconcile" {
        return Ok(Accepted::Duplicate);
    }
    if let Some(read_at) = push.read_at {
        let since = sqlx::query(QUEUED_SINCE).bind(&push.repo).bind(&push.branch).bind(read_at);
        if since.fetch_optional(&mut **tx).await?.is_some() {
            return Ok(Accepted::Stale);
        }
    }
    let created = sqlx::query(INSERT_DEPLOY)
        .bind(&push.repo)
        .bind(&push.branch)
        .bind(&push.sha)
        .bind(&push.clone_url)
        .bind(now)
        .fetch_optional(&mut **tx)
        .await?;
    let deploy: i64 = match created {
        Some(row) => row.try_get(0)?,
        None => {
            let row = sqlx::query(UPDATE_DEPLOY)
                .bind(&push.clone_url)
                .bind(&push.repo)
                .bind(&push.branch)
                .bind(&push.sha)
                .fetch_one(&mut **tx)
                .await?;
            let deploy = row.try_get(0)?;
            if reason == "reconcile" {
                if sqlx::query(ANSWERED).bind(deploy).fetch_optional(&mut **tx).await?.is_some() {
                    return Ok(Accepted::Known { deploy });
                }
            } else if let Some(job) = sqlx::query(QUEUED_JOB).bind(deploy).fetch_optional(&mut **tx).await? {
                return Ok(Accepted::Queued { deploy, job: job.try_get(0)?, superseded: Vec::new() });
            }
            deploy
        }
    };
    let late = sqlx::query(LATE).bind(&push.sha).bind(&push.repo).bind(&push.branch);
    if push.before.is_some() && late.fetch_optional(&mut **tx).await?.is_some() {
        let job = sqlx::query(INSERT_LATE_JOB)
            .bind(deploy)
            .bind(reason)
            .bind(&push.delivery)
            .bind(now)
            .bind(&push.before)
            .fetch_one(&mut **tx)
            .await?;
        return Ok(Accepted::Queued { deploy, job: job.try_get(0)?, superseded: Vec::new() });
    }
    let superseded =
        sqlx::query(SUPERSEDE).bind(now).bind(&push.repo).bind(&push.branch).bind(deploy).fetch_all(&mut **tx).await?;
    let mut superseded = superseded
        .iter()
        .map(|row| Ok(Superseded { job: row.try_get(0)?, deploy: row.try_get(1)? }))
        .collect::<Result<Vec<_>, sqlx::Error>>()?;
    superseded.sort_unstable();
    let job = insert_job(tx, deploy, reason, Some(&push.delivery), now, push.before.as_deref()).await?;
    sqlx::query(UPSERT_HEAD).bind(&push.repo).bind(&push.branch).bind(deploy).execute(&mut **tx).await?;
    Ok(Accepted::Queued { deploy, job, superseded })
}

/// Reconciled pushes are named `reconcile:...`; every other push came from a webhook.
fn reason_of(delivery: &str) -> &'static str {
    if delivery.starts_with("reconcile:") { "reconcile" } else { "push" }
}

async fn insert_delivery(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    id: &str,
    event: &str,
    now: i64,
) -> Result<bool, StoreError> {
    let done = sqlx::query(INSERT_DELIVERY).bind(id).bind(event).bind(now).execute(&mut **tx).await?;
    Ok(done.rows_affected() == 1)
}

async fn insert_job(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    deploy: i64,
    reason: &str,
    delivery: Option<&str>,
    now: i64,
    before: Option<&str>,
) -> Result<i64, StoreError> {
    let row = sqlx::query(INSERT_JOB)
        .bind(deploy)
        .bind(reason)
        .bind(delivery)
        .bind(now)
        .bind(before)
        .fetch_one(&mut **tx)
        .await?;
    Ok(row.try_get(0)?)
}

/// `SELECT`s a deploy `d` as [`deploy_record`] reads it, its report and contents as `$documents` (`d.report,
/// d.contents`, or two NULLs where they are not shown), followed by `$rest` (`FROM … d …`).
macro_rules! select_deploy {
    ($documents:literal, $rest:literal) => {
        concat!(
            "SELECT d.id, d.repo, d.branch, d.sha, d.clone_url, d.created_at, d.checked_at, d.verdict, d.summary, ",
            $documents,
            ",
                    (SELECT state FROM jobs WHERE deploy_id = d.id ORDER BY id DESC LIMIT 1),
                    (SELECT final_state FROM jobs WHERE deploy_id = d.id AND state = 'done' ORDER BY id DESC LIMIT 1),
                    (SELECT h.deploy_id FROM heads h WHERE h.repo = d.repo AND h.branch = d.branch AND h.deploy_id <> d.id) ",
            $rest
        )
    };
}
use select_deploy;

fn deploy_record(row: &sqlx::any::AnyRow) -> Result<DeployRecord, sqlx::Error> {
    Ok(DeployRecord {
        deploy: deploy_ref(row)?,
        created_at: row.try_get(5)?,
        checked_at: row.try_get(6)?,
        verdict: row.try_get(7)?,
        summary: row.try_get(8)?,
        report: row.try_get(9)?,
        contents: row.try_get(10)?,
        job_state: row.try_get(11)?,
        final_state: row.try_get(12)?,
        head: row.try_get(13)?,
    })
}

fn deploy_ref(row: &sqlx::any::AnyRow) -> Result<DeployRef, sqlx::Error> {
    Ok(DeployRef {
        id: row.try_get(0)?,
        repo: row.try_get(1)?,
        branch: row.try_get(2)?,
        sha: row.try_get(3)?,
        clone_url: row.try_get(4)?,
    })
}

/// The url without its password, for messages.
fn redact(url: &str) -> String {
    match (url.find("://"), url.find('@')) {
        (Some(scheme), Some(at)) if at > scheme => {
            let credentials = &url[scheme + 3..at];
            match credentials.split_once(':') {
                Some((user, _)) => format!("{}{user}:***{}", &url[..scheme + 3], &url[at..]),
                None => url.to_owned(),
            }
        }
        _ => url.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_are_hidden_in_messages() {
        assert_eq!(redact("postgres://gl:s3cret@127.0.0.1:5432/gl"), "postgres://gl:***@127.0.0.1:5432/gl");
        assert_eq!(redact("postgres://gl@127.0.0.1/gl"), "postgres://gl@127.0.0.1/gl");
        assert_eq!(redact("sqlite://greenlight.db"), "sqlite://greenlight.db");
    }
}
