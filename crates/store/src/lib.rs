//! The service's durable state: the inbox of accepted deliveries, the jobs they start, and the deploys with their
//! latest reports, in SQLite (WAL, synchronous commits) or PostgreSQL.
//!
//! Owns: every SQL statement, the migrations of each backend, and the rules that make processing exactly-once: a
//! delivery id is accepted once; a job is claimed under a lease (`FOR UPDATE SKIP LOCKED` on PostgreSQL, the single
//! writer on SQLite) and finished only by its lease holder; a newer push supersedes queued work that has not yet
//! told GitHub anything. Does not own: what a job does (the server), or any HTTP.
//!
//! Times are unix milliseconds, passed in by the caller so that the store has no clock of its own.

use std::collections::{HashMap, HashSet};
use std::time::Duration;

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
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Accepted {
    /// New: a job was queued for the deploy.
    Queued { deploy: i64, job: i64 },
    /// This delivery id was accepted before; nothing was done.
    Duplicate,
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
    /// Claims so far, this one included.
    pub attempts: i64,
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
}

/// What the queue holds, for metrics.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct QueueDepth {
    pub queued: i64,
    pub running: i64,
}

/// A newer push supersedes queued jobs on older commits of the same branch, unless they already posted `pending`.
const SUPERSEDE: &str = "UPDATE jobs SET state = 'superseded', finished_at = $1
    WHERE state = 'queued' AND pending_posted = 0
    AND deploy_id IN (SELECT id FROM deploys WHERE repo = $2 AND branch = $3 AND id <> $4)";

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
            // WAL lets readers (the page, the metrics) run beside the writer; FULL makes each commit durable
            // before a delivery is acknowledged.
            Backend::Sqlite => AnyPoolOptions::new().max_connections(4).after_connect(|conn, _| {
                Box::pin(async move {
                    conn.execute("PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL; PRAGMA busy_timeout = 10000;")
                        .await?;
                    Ok(())
                })
            }),
            Backend::Postgres => AnyPoolOptions::new().max_connections(8),
        };
        let pool = options
            .acquire_timeout(Duration::from_secs(10))
            .connect(&url)
            .await
            .map_err(|source| StoreError::Connect { url: shown.clone(), source })?;
        let migrator = match backend {
            Backend::Sqlite => &SQLITE,
            Backend::Postgres => &POSTGRES,
        };
        migrator.run(&pool).await.map_err(|source| StoreError::Migrate { url: shown, source })?;
        Ok(Self { pool, backend })
    }

    /// A transaction that will write. On SQLite it takes the write lock at once (`BEGIN IMMEDIATE`): a transaction
    /// that read first and then wrote would fail outright, instead of waiting, if another connection wrote between.
    async fn write(&self) -> Result<sqlx::Transaction<'static, sqlx::Any>, StoreError> {
        Ok(match self.backend {
            Backend::Sqlite => self.pool.begin_with("BEGIN IMMEDIATE").await?,
            Backend::Postgres => self.pool.begin().await?,
        })
    }

    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// Answers when the store can run a query.
    pub async fn ping(&self) -> Result<(), StoreError> {
        sqlx::query("SELECT 1").execute(&self.pool).await?;
        Ok(())
    }

    /// Accepts pushes in one transaction: one commit (one fsync) for the whole batch. For each new delivery id the
    /// deploy is recorded, older queued work on its branch is superseded, a job is queued, and the branch's head
    /// moves. The answers are in the order of `pushes`, and the outcome is that of accepting the pushes one by one
    /// in that order; but each step is one statement per `ROWS` pushes (supersede: one per branch), not one per
    /// push, so that a large batch costs little more than its commit.
    pub async fn accept(&self, pushes: &[NewPush], now: i64) -> Result<Vec<Accepted>, StoreError> {
        let mut answers = vec![Accepted::Duplicate; pushes.len()];
        let mut tx = self.write().await?;

        // Deliveries. An id seen earlier in the batch is a duplicate, like one already in the store.
        let mut seen = HashSet::with_capacity(pushes.len());
        let candidates: Vec<usize> = (0..pushes.len()).filter(|&i| seen.insert(pushes[i].delivery.as_str())).collect();
        let mut new_ids: HashSet<String> = HashSet::with_capacity(candidates.len());
        for chunk in candidates.chunks(ROWS) {
            let sql = format!(
                "INSERT INTO deliveries (id, event, received_at) VALUES {} ON CONFLICT (id) DO NOTHING RETURNING id",
                values(chunk.len(), 2, 1, |p| format!("(${p}, 'push', $1)")),
            );
            let mut query = sqlx::query(&sql).persistent(false).bind(now);
            for &i in chunk {
                query = query.bind(&pushes[i].delivery);
            }
            for row in query.fetch_all(&mut *tx).await? {
                new_ids.insert(row.try_get(0)?);
            }
        }
        let fresh: Vec<usize> = candidates.into_iter().filter(|&i| new_ids.contains(&pushes[i].delivery)).collect();
        if fresh.is_empty() {
            tx.commit().await?;
            return Ok(answers);
        }

        // Deploys: one row per commit pushed, with the clone url of its last push.
        let commit = |i: usize| (pushes[i].repo.as_str(), pushes[i].branch.as_str(), pushes[i].sha.as_str());
        let mut commits: Vec<usize> = Vec::new(); // the last push of each commit
        let mut commit_of: HashMap<(&str, &str, &str), usize> = HashMap::new(); // its place in `commits`
        for &i in &fresh {
            match commit_of.get(&commit(i)) {
                Some(&c) => commits[c] = i,
                None => {
                    commit_of.insert(commit(i), commits.len());
                    commits.push(i);
                }
            }
        }
        let mut deploy_ids = vec![0_i64; commits.len()];
        for chunk in commits.chunks(ROWS) {
            let sql = format!(
                "INSERT INTO deploys (repo, branch, sha, clone_url, created_at) VALUES {}
                 ON CONFLICT (repo, branch, sha) DO UPDATE SET clone_url = excluded.clone_url
                 RETURNING id, repo, branch, sha",
                values(chunk.len(), 2, 4, |p| format!("(${p}, ${}, ${}, ${}, $1)", p + 1, p + 2, p + 3)),
            );
            let mut query = sqlx::query(&sql).persistent(false).bind(now);
            for &i in chunk {
                let push = &pushes[i];
                query = query.bind(&push.repo).bind(&push.branch).bind(&push.sha).bind(&push.clone_url);
            }
            for row in query.fetch_all(&mut *tx).await? {
                let (repo, branch, sha): (String, String, String) = (row.try_get(1)?, row.try_get(2)?, row.try_get(3)?);
                let c = commit_of[&(repo.as_str(), branch.as_str(), sha.as_str())];
                deploy_ids[c] = row.try_get(0)?;
            }
        }
        let deploy = |i: usize| deploy_ids[commit_of[&commit(i)]];

        // Supersede, per branch. One by one, each push supersedes the queued work of every other deploy on its
        // branch, including jobs queued by earlier pushes of the batch. So a job of the batch stays queued only if
        // no later push of the batch is of another deploy, and work queued before the batch survives only if the
        // batch pushed one deploy to the branch, and only that deploy's.
        struct Branch {
            last: usize,
            deploy: i64,
            one_deploy: bool,
        }
        let mut branches: Vec<Branch> = Vec::new();
        let mut branch_of: HashMap<(&str, &str), usize> = HashMap::new();
        let mut queued = vec![false; fresh.len()];
        for (f, &i) in fresh.iter().enumerate().rev() {
            let key = (pushes[i].repo.as_str(), pushes[i].branch.as_str());
            match branch_of.get(&key) {
                None => {
                    branch_of.insert(key, branches.len());
                    branches.push(Branch { last: i, deploy: deploy(i), one_deploy: true });
                    queued[f] = true;
                }
                Some(&b) => {
                    let branch = &mut branches[b];
                    branch.one_deploy = branch.one_deploy && deploy(i) == branch.deploy;
                    queued[f] = branch.one_deploy;
                }
            }
        }
        for branch in &branches {
            let push = &pushes[branch.last];
            // Deploy ids start at 1: 0 spares none.
            let spared = if branch.one_deploy { branch.deploy } else { 0 };
            sqlx::query(SUPERSEDE).bind(now).bind(&push.repo).bind(&push.branch).bind(spared).execute(&mut *tx).await?;
        }

        // Jobs: queued, or superseded at once when a later push of the batch supersedes them.
        let rows: Vec<(usize, bool)> = fresh.iter().copied().zip(queued).collect();
        let mut jobs: HashMap<String, i64> = HashMap::with_capacity(rows.len());
        for chunk in rows.chunks(ROWS) {
            let sql = format!(
                "INSERT INTO jobs (deploy_id, reason, delivery_id, state, finished_at, run_after, created_at)
                 VALUES {} RETURNING id, delivery_id",
                values(chunk.len(), 2, 5, |p| {
                    format!("(${p}, ${}, ${}, ${}, ${}, $1, $1)", p + 1, p + 2, p + 3, p + 4)
                }),
            );
            let mut query = sqlx::query(&sql).persistent(false).bind(now);
            for &(i, queued) in chunk {
                let (state, finished_at) = if queued { ("queued", None) } else { ("superseded", Some(now)) };
                let push = &pushes[i];
                query = query.bind(deploy(i)).bind(reason_of(&push.delivery)).bind(&push.delivery);
                query = query.bind(state).bind(finished_at);
            }
            for row in query.fetch_all(&mut *tx).await? {
                jobs.insert(row.try_get(1)?, row.try_get(0)?);
            }
        }

        // Heads: each branch's last push.
        for chunk in branches.chunks(ROWS) {
            let sql = format!(
                "INSERT INTO heads (repo, branch, deploy_id) VALUES {}
                 ON CONFLICT (repo, branch) DO UPDATE SET deploy_id = excluded.deploy_id",
                values(chunk.len(), 1, 3, |p| format!("(${p}, ${}, ${})", p + 1, p + 2)),
            );
            let mut query = sqlx::query(&sql).persistent(false);
            for branch in chunk {
                query = query.bind(&pushes[branch.last].repo).bind(&pushes[branch.last].branch).bind(branch.deploy);
            }
            query.execute(&mut *tx).await?;
        }
        tx.commit().await?;

        for &i in &fresh {
            answers[i] = Accepted::Queued { deploy: deploy(i), job: jobs[&pushes[i].delivery] };
        }
        Ok(answers)
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
        let job = insert_job(&mut tx, deploy, reason, delivery, now).await?;
        tx.commit().await?;
        Ok(Some(Accepted::Queued { deploy, job }))
    }

    /// Queues a recheck of every open deploy (the head of its branch) that names `key`, once per `delivery`.
    /// Returns the deploys, or `None` for a delivery accepted before.
    pub async fn recheck_issue(&self, key: &str, delivery: &str, now: i64) -> Result<Option<Vec<i64>>, StoreError> {
        let mut tx = self.write().await?;
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
            insert_job(&mut tx, deploy, "issue", Some(delivery), now).await?;
        }
        tx.commit().await?;
        Ok(Some(deploys))
    }

    /// Claims the oldest job that is due, or whose holder's lease ran out, for `owner` until `lease_until`.
    pub async fn claim(&self, owner: &str, now: i64, lease_until: i64) -> Result<Option<Job>, StoreError> {
        let lock = match self.backend {
            Backend::Postgres => "FOR UPDATE SKIP LOCKED",
            // SQLite has one writer at a time: the UPDATE below is atomic on its own.
            Backend::Sqlite => "",
        };
        let claim = format!(
            "UPDATE jobs SET state = 'running', lease_owner = $1, lease_until = $2, attempts = attempts + 1
             WHERE id = (SELECT id FROM jobs
                         WHERE (state = 'queued' AND run_after <= $3) OR (state = 'running' AND lease_until < $3)
                         ORDER BY id LIMIT 1 {lock})
             RETURNING id, deploy_id, reason, delivery_id, pending_posted, attempts"
        );
        let mut tx = self.write().await?;
        let Some(row) = sqlx::query(&claim).bind(owner).bind(lease_until).bind(now).fetch_optional(&mut *tx).await?
        else {
            return Ok(None);
        };
        let deploy_id: i64 = row.try_get(1)?;
        let deploy = sqlx::query("SELECT id, repo, branch, sha, clone_url FROM deploys WHERE id = $1")
            .bind(deploy_id)
            .fetch_one(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(Some(Job {
            id: row.try_get(0)?,
            deploy: deploy_ref(&deploy)?,
            reason: row.try_get(2)?,
            delivery: row.try_get(3)?,
            pending_posted: row.try_get::<i64, _>(4)? != 0,
            attempts: row.try_get(5)?,
        }))
    }

    /// Extends a lease; `false` when `owner` no longer holds it.
    pub async fn renew(&self, job: i64, owner: &str, lease_until: i64) -> Result<bool, StoreError> {
        let done =
            sqlx::query("UPDATE jobs SET lease_until = $1 WHERE id = $2 AND lease_owner = $3 AND state = 'running'")
                .bind(lease_until)
                .bind(job)
                .bind(owner)
                .execute(&self.pool)
                .await?;
        Ok(done.rows_affected() == 1)
    }

    /// Notes, before posting it, that `pending` is about to be posted: from now on the commit must get a final
    /// status, so the job can no longer be superseded.
    pub async fn mark_pending(&self, job: i64) -> Result<(), StoreError> {
        sqlx::query("UPDATE jobs SET pending_posted = 1 WHERE id = $1").bind(job).execute(&self.pool).await?;
        Ok(())
    }

    /// Keeps a check's report with its deploy, and the keys it names.
    pub async fn record_check(&self, deploy: i64, check: &CheckRecord<'_>, now: i64) -> Result<(), StoreError> {
        let mut tx = self.write().await?;
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
        Ok(())
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
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    /// Gives a job back to the queue, due again at `run_after`, noting why.
    pub async fn retry(&self, job: i64, owner: &str, run_after: i64, error: &str) -> Result<bool, StoreError> {
        let done = sqlx::query(
            "UPDATE jobs SET state = 'queued', run_after = $1, last_error = $2, lease_owner = NULL, lease_until = NULL
             WHERE id = $3 AND lease_owner = $4 AND state = 'running'",
        )
        .bind(run_after)
        .bind(error)
        .bind(job)
        .bind(owner)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    pub async fn deploy(&self, id: i64) -> Result<Option<DeployRecord>, StoreError> {
        let Some(row) = sqlx::query(
            "SELECT d.id, d.repo, d.branch, d.sha, d.clone_url, d.created_at, d.checked_at, d.verdict, d.summary,
                    d.report, d.contents,
                    (SELECT state FROM jobs WHERE deploy_id = d.id ORDER BY id DESC LIMIT 1),
                    (SELECT final_state FROM jobs WHERE deploy_id = d.id AND state = 'done' ORDER BY id DESC LIMIT 1)
             FROM deploys d WHERE d.id = $1",
        )
        .bind(id)
        .fetch_optional(&self.pool)
        .await?
        else {
            return Ok(None);
        };
        Ok(Some(DeployRecord {
            deploy: deploy_ref(&row)?,
            created_at: row.try_get(5)?,
            checked_at: row.try_get(6)?,
            verdict: row.try_get(7)?,
            summary: row.try_get(8)?,
            report: row.try_get(9)?,
            contents: row.try_get(10)?,
            job_state: row.try_get(11)?,
            final_state: row.try_get(12)?,
        }))
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

/// The most rows one multi-row statement of `Store::accept` writes (at most 5 parameters a row: well under
/// SQLite's and PostgreSQL's limits).
const ROWS: usize = 128;

/// `(…), (…), …`: `rows` rows, made by `row` from the number of the row's first parameter; the first row's is
/// `first`, and each row takes `per_row` parameters.
fn values(rows: usize, first: usize, per_row: usize, row: impl Fn(usize) -> String) -> String {
    (0..rows).map(|r| row(first + r * per_row)).collect::<Vec<_>>().join(", ")
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
    let done =
        sqlx::query("INSERT INTO deliveries (id, event, received_at) VALUES ($1, $2, $3) ON CONFLICT (id) DO NOTHING")
            .bind(id)
            .bind(event)
            .bind(now)
            .execute(&mut **tx)
            .await?;
    Ok(done.rows_affected() == 1)
}

async fn insert_job(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    deploy: i64,
    reason: &str,
    delivery: Option<&str>,
    now: i64,
) -> Result<i64, StoreError> {
    let row = sqlx::query(
        "INSERT INTO jobs (deploy_id, reason, delivery_id, state, run_after, created_at)
         VALUES ($1, $2, $3, 'queued', $4, $4) RETURNING id",
    )
    .bind(deploy)
    .bind(reason)
    .bind(delivery)
    .bind(now)
    .fetch_one(&mut **tx)
    .await?;
    Ok(row.try_get(0)?)
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
