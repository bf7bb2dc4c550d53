//! The job loop: claim a job under a lease, post `pending`, compute the deploy in the repository's mirror, keep the
//! report and the final status it leads to, post that status, finish.
//!
//! A job whose final status could not be posted goes back to the queue, and its next attempt only posts the status
//! it kept: an outage of GitHub never re-runs checks (nor their calls to the tracker). It waits a growing, jittered
//! delay, or, while the client's breaker refuses calls to GitHub, until the breaker lets a trial call through, so that
//! no commit waits much longer than the outage: during it the breaker lets one call per cooldown reach GitHub,
//! whatever the number of jobs. Meanwhile the newer jobs of its deploy (rechecks) wait in the queue (the store claims a
//! deploy's jobs in order), so a kept status is never posted over a newer check's.
//!
//! A job whose fetch the remote's breaker refused tried nothing: it goes back to the queue without spending one of
//! its check attempts, and comes back when the breaker next lets a fetch through (or after the usual backoff, if that
//! is sooner). Only fetches that were tried count, so a commit gets its `error` status after 10 real tries of the
//! remote, not after 10 refusals during an outage of it. Likewise a job stopped by a shutdown, or whose worker lost its
//! lease, goes back as it was: neither says anything about the commit.

use std::sync::Arc;
use std::time::{Duration, Instant};

use greenlight_deploy::{Checked, Deploy, DeployError, config_at, load_config};
use greenlight_git::GitError;
use greenlight_github::{GitHubError, StatusState, describe, fit_description, state_for};
use greenlight_http::HttpError;
use greenlight_store::{CheckRecord, Decided, Job, RanBy};
use tokio::sync::watch;
use tracing::Instrument as _;

use crate::app::App;
use crate::mirrors::MirrorError;

/// Checks that could not run for a reason that may pass (a fetch failed, the commit is not there yet) are tried this
/// many times before the commit gets an `error` status; a fetch the remote's breaker refused is not a try, nor is a
/// job stopped by a shutdown or one whose worker lost its lease. With the
/// default retry timings (5 s, doubling up to 5 minutes, jittered) that is at least 10 to 20 minutes of trying: longer
/// than a GitHub outage usually lasts, and the mirrors' remote is usually GitHub too.
const MAX_CHECK_ATTEMPTS: i64 = 10;
/// The longest a worker sleeps before looking for due work that nobody announced (retries, other replicas' jobs,
/// expired leases).
const POLL: Duration = Duration::from_secs(1);

pub fn now_ms() -> i64 {
    jiff::Timestamp::now().as_millisecond()
}

fn ms(duration: Duration) -> i64 {
    i64::try_from(duration.as_millis()).unwrap_or(i64::MAX)
}

pub async fn run(app: Arc<App>, n: usize, mut stopped: watch::Receiver<bool>) {
    // Unique across processes and restarts: a lease names exactly one worker.
    let owner = format!("{}-{n}-{:08x}", std::process::id(), fastrand::u32(..));
    let poll = POLL.min(app.config.retry_first);
    loop {
        if *stopped.borrow() {
            break;
        }
        let committed = app.inbox.committed.clone();
        let announced = committed.notified();
        tokio::pin!(announced);
        // Registered before looking, so that a commit between the look and the wait still wakes this worker.
        announced.as_mut().enable();
        let (now, asked) = (now_ms(), tokio::time::Instant::now());
        match app.store.claim(&owner, now, now + ms(app.config.lease)).await {
            Ok(Some(job)) => {
                process(&app, &owner, job, asked).await;
                continue;
            }
            Ok(None) => {}
            Err(error) => tracing::error!(%error, "cannot claim a job"),
        }
        tokio::select! {
            _ = &mut announced => {}
            _ = tokio::time::sleep(poll) => {}
            // An error means the server is gone without saying stop: stop too.
            changed = stopped.changed() => if changed.is_err() { break },
        }
    }
}

/// Why a job did not end with a final status.
enum Unfinished {
    /// Try again later: after the usual backoff, or sooner, once `within` has passed.
    Retry { reason: String, within: Option<Duration> },
    /// Nothing was tried (the remote's breaker refused the fetch): like `Retry`, but the attempt is given back.
    Untried { reason: String, within: Duration },
    /// The server is shutting down and stopped the job's fetch: like `Retry`, but the attempt is given back.
    Stopped(String),
    /// The worker no longer holds the job (another worker took it over, or the store did not renew the lease in
    /// time): the attempt is given back if the job is still this worker's.
    LostLease,
}

impl Unfinished {
    fn retry(reason: impl ToString) -> Self {
        Unfinished::Retry { reason: reason.to_string(), within: None }
    }
}

/// Runs a job claimed at `claimed` (its lease runs from then).
async fn process(app: &App, owner: &str, job: Job, claimed: tokio::time::Instant) {
    let span = tracing::info_span!(
        "job",
        job = job.id,
        deploy = job.deploy.id,
        delivery = job.delivery.as_deref().unwrap_or_default(),
        repo = %job.deploy.repo,
        sha = %job.deploy.sha,
        reason = %job.reason,
    );
    async {
        let started = Instant::now();
        let outcome = tokio::select! {
            outcome = work(app, owner, &job) => outcome,
            () = keep_lease(app, owner, job.id, claimed) => Err(Unfinished::LostLease),
        };
        let now = now_ms();
        match outcome {
            Ok(Final { state, posted, summary }) => {
                // A status GitHub refused for good is kept and counted as `refused`: the page must not show a state
                // GitHub never got.
                let kept = if posted { state.as_str() } else { "refused" };
                match app.store.finish(job.id, owner, kept, now).await {
                    Ok(true) => {
                        app.metrics.job_finished(kept, started.elapsed().as_secs_f64());
                        tracing::info!(
                            state = state.as_str(),
                            posted,
                            %summary,
                            ms = started.elapsed().as_millis() as u64,
                            "job done"
                        );
                    }
                    Ok(false) => {
                        tracing::warn!("the lease was lost before the job finished; its new holder will redo it")
                    }
                    Err(error) => tracing::error!(%error, "cannot finish the job; it will run again"),
                }
            }
            Err(Unfinished::Retry { reason, within }) => {
                let delay = backoff(app, job.attempts).min(within.map_or(Duration::MAX, jittered));
                tracing::warn!(%reason, retry_in_ms = delay.as_millis() as u64, "job will run again");
                if let Err(error) = app.store.retry(job.id, owner, now + ms(delay), &reason).await {
                    tracing::error!(%error, "cannot requeue the job; it runs again when its lease ends");
                }
            }
            Err(Unfinished::Untried { reason, within }) => {
                let delay = backoff(app, job.attempts).min(jittered(within));
                tracing::info!(
                    %reason,
                    retry_in_ms = delay.as_millis() as u64,
                    "the remote's breaker let no fetch through; the job waits for it, without spending an attempt"
                );
                if let Err(error) = app.store.give_back(job.id, owner, now + ms(delay), &reason).await {
                    tracing::error!(%error, "cannot requeue the job; it runs again when its lease ends");
                }
            }
            Err(Unfinished::Stopped(reason)) => {
                let delay = backoff(app, job.attempts);
                tracing::info!(%reason, "stopped by the shutdown; the job runs again, without spending an attempt");
                if let Err(error) = app.store.give_back(job.id, owner, now + ms(delay), &reason).await {
                    tracing::error!(%error, "cannot requeue the job; it runs again when its lease ends");
                }
            }
            Err(Unfinished::LostLease) => {
                // Still this worker's when the store was only slow to renew: back to the queue as it was. Taken over
                // by another worker, it is that worker's (and its claim did not count an attempt either).
                let delay = backoff(app, job.attempts);
                match app.store.give_back(job.id, owner, now + ms(delay), "the worker lost its lease").await {
                    Ok(true) => {
                        tracing::warn!("lost the lease; the job is back in the queue, without spending an attempt")
                    }
                    Ok(false) => tracing::warn!("lost the lease; another worker has the job"),
                    Err(error) => tracing::warn!(%error, "lost the lease; the job runs again when its lease ends"),
                }
            }
        }
    }
    .instrument(span)
    .await;
}

/// Renews the lease every third of its length; returns only when it was lost: another worker holds the job, or the
/// store did not renew it before it ran out (a renewal that errs or hangs does not keep the job). Past that moment
/// another worker may take the job over, so this one must stop.
async fn keep_lease(app: &App, owner: &str, job: i64, claimed: tokio::time::Instant) {
    let lease = app.config.lease;
    let mut until = claimed + lease;
    loop {
        tokio::time::sleep(lease / 3).await;
        let asked = tokio::time::Instant::now();
        match tokio::time::timeout_at(until, app.store.renew(job, owner, now_ms() + ms(lease))).await {
            Ok(Ok(true)) => until = asked + lease,
            Ok(Ok(false)) => return,
            Ok(Err(error)) => tracing::warn!(%error, "cannot renew the lease"),
            Err(_) => {}
        }
        if tokio::time::Instant::now() >= until {
            tracing::warn!("the lease ran out before the store renewed it; stopping the job");
            return;
        }
    }
}

/// `retry_first`, doubling per attempt up to `retry_max`, with the upper half jittered.
fn backoff(app: &App, attempts: i64) -> Duration {
    let exponent = u32::try_from(attempts.saturating_sub(1)).unwrap_or(u32::MAX).min(20);
    let full = app.config.retry_first.saturating_mul(1 << exponent).min(app.config.retry_max);
    full / 2 + full.mul_f64(fastrand::f64() / 2.0)
}

/// `after`, plus up to a second, so that the jobs waiting for one moment do not all come at once.
fn jittered(after: Duration) -> Duration {
    after + Duration::from_millis(fastrand::u64(..1000))
}

async fn work(app: &App, owner: &str, job: &Job) -> Result<Final, Unfinished> {
    if let Some(Decided { state, description }) = &job.decided {
        let state = StatusState::parse(state)
            .ok_or_else(|| Unfinished::retry(format!("the store holds an unknown status state {state:?}")))?;
        return post_final(app, job, state, description).await;
    }
    if !job.pending_posted {
        // Noted first: a commit that may have been told `pending` is never superseded and always gets a final state.
        // Asked of the store rather than of the attempts, which a job refused by the remote's breaker gives back.
        app.store.mark_pending(job.id).await.map_err(Unfinished::retry)?;
        if let Err(error) = post(app, job, StatusState::Pending, "greenlight is checking this deploy").await {
            tracing::warn!(%error, "cannot post the pending status");
        }
    }
    let (state, description) = match check(app, job).await {
        Ok(checked) => {
            let description = describe(&checked.report);
            let report = serde_json::to_string(&checked.report).expect("a report serializes");
            let contents = serde_json::to_string(&checked.contents).expect("contents serialize");
            let keys: Vec<String> = checked.contents.issues.iter().map(|i| i.key.to_string()).collect();
            let verdict = checked.report.verdict;
            let state = state_for(verdict);
            let record = CheckRecord {
                verdict: verdict.as_str(),
                summary: &description,
                report: Some(&report),
                contents: Some(&contents),
                keys: &keys,
                job: Some(RanBy { job: job.id, owner, state: state.as_str() }),
            };
            keep(app, job, &record).await?;
            (state, description)
        }
        Err(Problem::Passing(reason)) if job.attempts < MAX_CHECK_ATTEMPTS => return Err(Unfinished::retry(reason)),
        Err(Problem::Stopped(reason)) => return Err(Unfinished::Stopped(reason)),
        Err(Problem::Untried { reason, within }) => return Err(Unfinished::Untried { reason, within }),
        Err(Problem::Passing(reason) | Problem::Lasting(reason)) => {
            // Kept whole, for the page, the API and the log; only the status GitHub gets is cut to fit (`post`).
            let description = format!("could not check: {reason}");
            let state = StatusState::Error;
            let record = CheckRecord {
                verdict: "error",
                summary: &description,
                report: None,
                contents: None,
                keys: &[],
                job: Some(RanBy { job: job.id, owner, state: state.as_str() }),
            };
            keep(app, job, &record).await?;
            (state, description)
        }
    };
    post_final(app, job, state, &description).await
}

/// Keeps a check with its deploy (and the status to post with its job), and counts it; unless the lease was lost.
async fn keep(app: &App, job: &Job, record: &CheckRecord<'_>) -> Result<(), Unfinished> {
    if !app.store.record_check(job.deploy.id, record, now_ms()).await.map_err(Unfinished::retry)? {
        return Err(Unfinished::LostLease);
    }
    app.metrics.checked(record.verdict);
    Ok(())
}

/// A job's end: its final state, whether GitHub took it (`false`: refused for good), and the whole summary (the
/// status description is the start of it).
struct Final {
    state: StatusState,
    posted: bool,
    summary: String,
}

async fn post_final(app: &App, job: &Job, state: StatusState, description: &str) -> Result<Final, Unfinished> {
    let summary = description.to_owned();
    match post(app, job, state, description).await {
        Ok(()) => Ok(Final { state, posted: true, summary }),
        Err(error) if is_lasting(&error) => {
            // Nothing will make GitHub take it (the repository is gone, the sha is refused): stop trying.
            tracing::error!(%error, "GitHub refused the final status; giving up on it");
            Ok(Final { state, posted: false, summary })
        }
        Err(error) => {
            // Whether this call was refused or it failed and opened the breaker: come back when a call may go
            // through, if that is sooner than the backoff.
            let within = app.github.client().breaker_retry_in(app.github.api_url());
            Err(Unfinished::Retry { reason: format!("cannot post the {state} status: {error}"), within })
        }
    }
}

/// Posts a status; its description is cut to the 140 characters GitHub takes.
async fn post(app: &App, job: &Job, state: StatusState, description: &str) -> Result<(), GitHubError> {
    let target = app.deploy_url(job.deploy.id);
    let context = &app.config.status_context;
    let description = fit_description(description);
    app.github.create_status(&job.deploy.repo, &job.deploy.sha, state, &description, Some(&target), context).await
}

/// Why a deploy could not be computed.
enum Problem {
    /// May pass on its own: the remote could not be fetched, the commit is not there yet.
    Passing(String),
    /// Will not pass without a change: broken rules, an unconfigured repository.
    Lasting(String),
    /// The server is shutting down: not the deploy's fault, and not an attempt.
    Stopped(String),
    /// The remote's breaker refused the fetch, so nothing was tried; it lets one through in `within`.
    Untried { reason: String, within: Duration },
}

async fn check(app: &App, job: &Job) -> Result<Checked, Problem> {
    let deploy = &job.deploy;
    let Some(repo) = app.config.repository(&deploy.repo) else {
        return Err(Problem::Lasting(format!("repository {} is not in the server config", deploy.repo)));
    };
    let remote = repo.clone_url.as_deref().unwrap_or(&deploy.clone_url);
    // A payload's url is held to http(s) as it is accepted; one stored before that was checked is not fetched either.
    if repo.clone_url.is_none() && !greenlight_github::webhook::is_http_url(remote) {
        return Err(Problem::Lasting(format!(
            "the push's clone_url {remote:?} is not an http(s) url, and the server fetches no other from a payload: \
             set clone_url for {} in the server config",
            deploy.repo
        )));
    }
    let production = format!("refs/heads/{}", repo.production);
    let rules = repo.rules.clone();
    let sha = deploy.sha.clone();
    let tracker = app.config.tracker.clone();
    let read = app.mirrors.read(&app.metrics, &deploy.repo, remote, move |repo| -> Result<Deploy, DeployError> {
        let to = repo.resolve(&sha)?;
        let config = match rules {
            // The operator's file: trusted as it is.
            Some(path) => load_config(&repo, Some(&path))?,
            None => {
                let config = config_at(&repo, to)?;
                greenlight_deploy::tracker::vet(&config, tracker.as_ref()).map_err(DeployError::Refused)?;
                config
            }
        };
        Deploy::new(&repo, config, Some(&production), &sha)
    });
    let read = match read.await {
        Ok(read) => read,
        Err(MirrorError::Git(error)) => Err(DeployError::Git(error)),
        Err(error @ MirrorError::Refused { retry_in, .. }) => {
            return Err(Problem::Untried { reason: error.to_string(), within: retry_in });
        }
        Err(error @ MirrorError::Stopped(_)) => return Err(Problem::Stopped(error.to_string())),
    };
    match read {
        Ok(deploy) => Ok(deploy.check(false).await),
        Err(DeployError::Git(error @ (GitError::Fetch { .. } | GitError::UnknownRevision { .. }))) => {
            Err(Problem::Passing(error.to_string()))
        }
        Err(error) => Err(Problem::Lasting(error.to_string())),
    }
}

/// Whether GitHub refused a call for good (the repository is gone, the sha is refused): a 4xx, but for a timeout and
/// the rate limits. The client turns a 403 that is not a rate limit into `Unauthorized`, so a 403 that reaches here
/// with its status is one whose waits outlasted the client's retries.
fn is_lasting(error: &GitHubError) -> bool {
    match error {
        GitHubError::Http(HttpError::Status { status, .. }) => {
            status.is_client_error() && !matches!(status.as_u16(), 403 | 408 | 429)
        }
        GitHubError::Http(_) => false,
        _ => true,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn answered(status: u16) -> GitHubError {
        let status = axum::http::StatusCode::from_u16(status).unwrap();
        GitHubError::Http(HttpError::Status { url: "https://api.github.com/x".into(), status, body: String::new() })
    }

    #[test]
    fn rate_limits_and_timeouts_are_tried_again_and_refusals_are_not() {
        for status in [403, 408, 429, 500, 502] {
            assert!(!is_lasting(&answered(status)), "{status}");
        }
        for status in [404, 410, 422] {
            assert!(is_lasting(&answered(status)), "{status}");
        }
    }
}
