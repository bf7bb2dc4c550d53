//! The mirror clones in `data_dir`: one per repository, fetched and then read on a blocking thread, under a lock per
//! mirror and a circuit breaker per remote.
//!
//! The lock keeps a fetch (and the gc it may start) from ever running under a read of the same mirror; it is held by
//! the blocking work itself, so a job that is given up on (its lease lost) keeps it until its git is done. The
//! breaker keeps an outage of a remote (usually GitHub) from costing it a fetch per job and retry: once `threshold`
//! fetches of a remote failed in a row, the reads that need it fail at once, without IO, and one fetch per cooldown
//! tries the remote again. Breakers are keyed by clone URL, so each repository's remote has its own: during an outage
//! of GitHub each repository makes `threshold` fetches and then one per cooldown. They are the HTTP client's
//! ([`Breakers`]), with the GitHub client's threshold and cooldown.
//!
//! A failed clone or fetch counts against the remote only when the mirror's own side is sound: after a failure the
//! directory git writes in is probed (a file written and synced there, and the mirror's `FETCH_HEAD` opened for
//! writing), and a failure there (a full disk, a directory git may not write, a file where a directory must be) is
//! the machine's fault, not the remote's. Such a fetch still fails its job's attempt, with both reasons.
//!
//! Owns: the locks, the breakers, and counting fetches. Does not own: git (`greenlight-git`) or what a read does.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use greenlight_git::{GitError, Mirror, Repo};
use greenlight_http::breaker::Breakers;

use crate::metrics::Metrics;

pub struct Mirrors {
    data_dir: PathBuf,
    /// Set when the server stops: running clones and fetches end at once instead of holding the shutdown.
    stopping: Arc<AtomicBool>,
    locks: Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>,
    remotes: Breakers,
    cooldown: Duration,
}

/// Why a mirror could not be read.
#[derive(Debug, thiserror::Error)]
pub enum MirrorError {
    /// Nothing was fetched: the remote's breaker is open. `retry_in`: how long until it lets a fetch through.
    #[error("the last {failures} fetches of the remote failed; it is tried again once every {cooldown:?}")]
    Refused { failures: u32, cooldown: Duration, retry_in: Duration },
    #[error(transparent)]
    Git(GitError),
    #[error("the mirror reader stopped: {0}")]
    Stopped(String),
}

impl Mirrors {
    pub fn new(data_dir: &Path, threshold: u32, cooldown: Duration) -> Self {
        Self {
            data_dir: data_dir.to_owned(),
            stopping: Arc::default(),
            locks: Mutex::default(),
            remotes: Breakers::new(threshold, cooldown),
            cooldown,
        }
    }

    /// Fetches `repo`'s mirror from `remote` (cloning it the first time) and hands it to `read`, on a blocking thread.
    pub async fn read<T: Send + 'static>(
        &self,
        metrics: &Metrics,
        repo: &str,
        remote: &str,
        read: impl FnOnce(Repo) -> T + Send + 'static,
    ) -> Result<T, MirrorError> {
        let held = self.lock(repo).lock_owned().await;
        // Admitted under the lock, so that the reads that waited for it see what the fetch before them found.
        let now = Instant::now();
        let fetch = self.remotes.admit(remote, now).map_err(|refused| {
            metrics.fetched("refused");
            let retry_in = self.remotes.retry_in(remote, now).unwrap_or(self.cooldown);
            MirrorError::Refused { failures: refused.failures, cooldown: self.cooldown, retry_in }
        })?;
        let path = mirror_path(&self.data_dir, repo);
        let mirror = Mirror::new(path.clone(), remote).cancel_on(self.stopping.clone());
        // The blocking work holds the lock, and hands it back with its result: it is released only once the
        // breaker has counted the fetch, so that a read waiting for it is admitted on what this one found.
        let (synced, local, _held) = tokio::task::spawn_blocking(move || {
            let synced = mirror.sync();
            let local = match &synced {
                Err(GitError::Fetch { .. }) => local_fault(&path),
                _ => None,
            };
            (synced.map(read), local, held)
        })
        .await
        .map_err(|e| MirrorError::Stopped(e.to_string()))?;
        match synced {
            Ok(read) => {
                metrics.fetched("ok");
                fetch.success();
                Ok(read)
            }
            // Stopped by a shutdown, not failed: the remote is not to blame, and the job runs again after a restart.
            Err(error) if self.stopping.load(Ordering::Relaxed) => Err(MirrorError::Stopped(error.to_string())),
            // The mirror's side failed: the remote is not to blame (the permit is dropped unreported), and the
            // attempt fails with git's reason and the probe's.
            Err(GitError::Fetch { reason }) => match local {
                Some(local) => {
                    metrics.fetched("local");
                    Err(MirrorError::Git(GitError::Fetch { reason: format!("{reason}; {local}") }))
                }
                None => {
                    metrics.fetched("failed");
                    fetch.failure(Instant::now());
                    Err(MirrorError::Git(GitError::Fetch { reason }))
                }
            },
            // A local failure (the clone could not be moved into place, the mirror is broken) says nothing about
            // the remote: the permit is dropped unreported.
            Err(error) => Err(MirrorError::Git(error)),
        }
    }

    /// Stops every running clone and fetch; the jobs waiting on them fail and run again after a restart.
    pub fn stop(&self) {
        self.stopping.store(true, Ordering::Relaxed);
    }

    fn lock(&self, repo: &str) -> Arc<tokio::sync::Mutex<()>> {
        let mut locks = self.locks.lock().unwrap_or_else(PoisonError::into_inner);
        locks.entry(repo.to_owned()).or_default().clone()
    }
}

/// Why the mirror's own side cannot take what a clone or fetch writes, if it cannot: the directory git writes in (the
/// mirror, or the one a clone is made in) must take a new file, synced, and the mirror's `FETCH_HEAD`, which every
/// fetch rewrites, must open for writing. Blocking.
fn local_fault(mirror: &Path) -> Option<String> {
    use std::io::Write as _;
    let cloned = mirror.join("HEAD").exists();
    let dir = if cloned { mirror } else { mirror.parent()? };
    let probe = dir.join(format!(".greenlight-probe-{}-{:08x}", std::process::id(), fastrand::u32(..)));
    let written = std::fs::File::options()
        .write(true)
        .create_new(true)
        .open(&probe)
        .and_then(|mut file| file.write_all(b"probe").and_then(|()| file.sync_data()));
    let _ = std::fs::remove_file(&probe);
    if let Err(error) = written {
        return Some(format!("{} cannot be written: {error}", dir.display()));
    }
    let fetch_head = mirror.join("FETCH_HEAD");
    match std::fs::File::options().append(true).open(&fetch_head) {
        Err(error) if cloned && error.kind() != std::io::ErrorKind::NotFound => {
            Some(format!("{} cannot be written: {error}", fetch_head.display()))
        }
        _ => None,
    }
}

/// `data_dir/owner/name.git`.
fn mirror_path(data_dir: &Path, repo: &str) -> PathBuf {
    data_dir.join(format!("{repo}.git"))
}
