//! Mirror clones for the service: one bare `--mirror` clone per repository, fetched before each deploy is read,
//! and files read from a commit (the repository's own `greenlight.toml` at the pushed sha).
//!
//! Cloning and fetching run the git CLI: it speaks every transport and honours the machine's credential helpers,
//! which is what a server operator configures; reading stays with gix.

use std::io::Read as _;
use std::os::unix::process::CommandExt as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use wait_timeout::ChildExt as _;

use crate::{GitError, Repo};

/// The longest a clone or fetch may run. A remote that accepts the connection and then hangs would otherwise hold the
/// mirror's lock, and every job on the repository, forever.
pub const GIT_TIMEOUT: Duration = Duration::from_secs(600);

/// A bare mirror of a remote repository under the service's data directory.
#[derive(Clone, Debug)]
pub struct Mirror {
    path: PathBuf,
    url: String,
    limits: Limits,
}

/// When a running git is stopped.
#[derive(Clone, Debug)]
struct Limits {
    timeout: Duration,
    /// Set by the owner to stop a running clone or fetch now (a server shutting down).
    cancel: Option<Arc<AtomicBool>>,
}

impl Mirror {
    /// The mirror of `url` at `path`; nothing is touched until [`Mirror::sync`].
    pub fn new(path: PathBuf, url: impl Into<String>) -> Self {
        Self { path, url: url.into(), limits: Limits { timeout: GIT_TIMEOUT, cancel: None } }
    }

    /// Gives up on a clone or fetch after `timeout` instead of [`GIT_TIMEOUT`].
    pub fn timeout(self, timeout: Duration) -> Self {
        Self { limits: Limits { timeout, ..self.limits }, ..self }
    }

    /// Stops a clone or fetch as soon as `cancel` is set (checked every [`CANCEL_POLL`]). git runs in a process
    /// group of its own, so a Ctrl-C does not reach it: an owner that stops uses this instead of waiting for it.
    pub fn cancel_on(self, cancel: Arc<AtomicBool>) -> Self {
        Self { limits: Limits { cancel: Some(cancel), ..self.limits }, ..self }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Clones the remote the first time, fetches every ref (pruning deleted ones) after that, then opens it.
    /// A mirror that no longer opens as a repository (a disk fault, a hand edit) is a cache gone bad: it is removed
    /// and cloned again, instead of failing every fetch until someone removes it by hand.
    /// Blocking: run it off the async runtime.
    pub fn sync(&self) -> Result<Repo, GitError> {
        // git would read such a url as an option (`--upload-pack=…` runs a command); the `--` below covers the rest.
        if self.url.starts_with('-') {
            return Err(GitError::Other(format!("refusing the remote url {:?}: it starts with '-'", self.url)));
        }
        if self.path.join("HEAD").exists() && gix::open(&self.path).is_err() {
            std::fs::remove_dir_all(&self.path).map_err(|e| {
                GitError::Other(format!("cannot remove the broken mirror {}: {e}", self.path.display()))
            })?;
        }
        if self.path.join("HEAD").exists() {
            // Fetched from the url given now, not the one the mirror was cloned from: the config may have moved it.
            let fetch = ["fetch", "--prune", "--quiet", "--", &self.url, "+refs/*:refs/*"];
            git(Command::new("git").arg("-C").arg(&self.path).args(fetch), &self.limits)?;
        } else {
            if let Some(parent) = self.path.parent() {
                std::fs::create_dir_all(parent)
                    .map_err(|e| GitError::Other(format!("cannot create {}: {e}", parent.display())))?;
            }
            // Clone next to the final place and rename, so that a clone cut short never looks like a mirror.
            let partial = self.path.with_extension("partial");
            // Whatever a clone cut short left there, a directory or not (git will not clone into an existing file).
            let _ = match std::fs::symlink_metadata(&partial) {
                Ok(left) if left.is_dir() => std::fs::remove_dir_all(&partial),
                Ok(_) => std::fs::remove_file(&partial),
                Err(_) => Ok(()),
            };
            let clone = ["clone", "--mirror", "--quiet", "--", &self.url];
            git(Command::new("git").args(clone).arg(&partial), &self.limits)?;
            std::fs::rename(&partial, &self.path)
                .map_err(|e| GitError::Other(format!("cannot move the clone to {}: {e}", self.path.display())))?;
        }
        Repo::open(&self.path)
    }
}

/// Runs git, stopping it and everything it started after the timeout or once cancelled; a failure's reason is git's
/// first error line (see [`reason`]).
///
/// git runs in a process group of its own, so that the remote helper, `ssh` or `index-pack` it started are killed
/// with it: killing git alone would leave them holding the connection (a helper waiting on a remote that hangs would
/// wait forever).
fn git(command: &mut Command, limits: &Limits) -> Result<(), GitError> {
    command.env("GIT_TERMINAL_PROMPT", "0").stdin(Stdio::null()).stdout(Stdio::null()).stderr(Stdio::piped());
    command.process_group(0);
    let mut child = command.spawn().map_err(|e| GitError::Other(format!("cannot run git: {e}")))?;
    // Read on a thread of its own, so that a chatty git never blocks on a full pipe while we wait. The chunks come
    // back over a channel: a process git started that outlives it (an ssh `ControlPersist` master) can hold the pipe
    // open for good, and the reason must not wait for that.
    let mut pipe = child.stderr.take().expect("stderr is piped");
    let (chunks, stderr) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut chunk = [0u8; 4096];
        while let Ok(read @ 1..) = pipe.read(&mut chunk) {
            if chunks.send(chunk[..read].to_vec()).is_err() {
                return;
            }
        }
    });
    let started = Instant::now();
    let status = loop {
        let left = limits.timeout.saturating_sub(started.elapsed());
        let slice = if limits.cancel.is_some() { left.min(CANCEL_POLL) } else { left };
        let waited = child.wait_timeout(slice).map_err(|e| GitError::Other(format!("cannot wait for git: {e}")))?;
        if let Some(status) = waited {
            break status;
        }
        let reason = if limits.cancel.as_ref().is_some_and(|cancel| cancel.load(Ordering::Relaxed)) {
            "git was stopped: greenlight is shutting down".to_owned()
        } else if started.elapsed() >= limits.timeout {
            format!("git did not finish within {} s", limits.timeout.as_secs_f64())
        } else {
            continue;
        };
        crate::process::stop_group(&mut child, STOP_GRACE);
        return Err(GitError::Fetch { reason });
    };
    if status.success() {
        return Ok(());
    }
    // Until the pipe ends, or for at most STOP_GRACE more once git has exited.
    let mut text = Vec::new();
    let until = Instant::now() + STOP_GRACE;
    while let Ok(chunk) = stderr.recv_timeout(until.saturating_duration_since(Instant::now())) {
        text.extend(chunk);
    }
    Err(GitError::Fetch { reason: reason(&String::from_utf8_lossy(&text)) })
}

/// What went wrong, from git's stderr: everything up to its first `fatal:` or `error:` line, which names the path,
/// the URL or the ref (what a transport such as ssh said comes before it; the lines after it are advice, such as
/// "Please make sure you have the correct access rights"), without warnings and hints; else its last line.
fn reason(stderr: &str) -> String {
    let lines: Vec<&str> = stderr.lines().map(str::trim).filter(|line| !line.is_empty()).collect();
    let Some(first) = lines.iter().position(|line| line.starts_with("fatal: ") || line.starts_with("error: ")) else {
        return lines.last().unwrap_or(&"no message").to_string();
    };
    let said: Vec<&str> = lines[..=first]
        .iter()
        .filter(|line| !line.starts_with("warning: ") && !line.starts_with("hint: "))
        .map(|line| line.strip_prefix("fatal: ").or_else(|| line.strip_prefix("error: ")).unwrap_or(line))
        .collect();
    said.join("; ")
}

/// How often a running git looks at its cancel flag.
const CANCEL_POLL: Duration = Duration::from_millis(100);

/// How long git gets to clean up (its lock files, a half-written pack) after SIGTERM, before SIGKILL; and how long
/// its stderr may stay open after it exited.
const STOP_GRACE: Duration = Duration::from_secs(2);

impl Repo {
    /// Opens the repository at exactly `path` (a bare mirror, or a work tree's root).
    pub fn open(path: &Path) -> Result<Self, GitError> {
        let repo = gix::open(path).map_err(|_| GitError::NotARepository { path: path.to_owned() })?;
        Ok(Self { repo })
    }

    /// The contents of `path` in commit `rev`'s tree, or `None` when the tree has no such file.
    pub fn file_at(&self, rev: gix::ObjectId, path: &str) -> Result<Option<Vec<u8>>, GitError> {
        let other = |e: &dyn std::fmt::Display| GitError::Other(format!("cannot read {path} at {rev}: {e}"));
        let commit = self.repo.find_commit(rev).map_err(|e| other(&e))?;
        let tree = commit.tree().map_err(|e| other(&e))?;
        let Some(entry) = tree.lookup_entry_by_path(path).map_err(|e| other(&e))? else {
            return Ok(None);
        };
        let object = entry.object().map_err(|e| other(&e))?;
        if object.kind != gix::object::Kind::Blob {
            return Ok(None);
        }
        Ok(Some(object.detach().data))
    }
}

#[cfg(test)]
mod tests {
    use greenlight_testkit::TestRepo;

    use super::*;

    #[test]
    fn a_mirror_clones_then_fetches_and_reads_files_at_a_commit() {
        let remote = TestRepo::new();
        let first = remote.commit_file("greenlight.toml", "[deploy]\nproduction = \"production\"\n", "ABC-1 first");
        let dir = tempfile::tempdir().unwrap();
        let mirror = Mirror::new(dir.path().join("acme/shop.git"), remote.path().to_str().unwrap());

        let repo = mirror.sync().unwrap();
        assert_eq!(repo.resolve("HEAD").unwrap().to_string(), first);
        let text = repo.file_at(repo.resolve(&first).unwrap(), "greenlight.toml").unwrap().unwrap();
        assert_eq!(String::from_utf8(text).unwrap(), "[deploy]\nproduction = \"production\"\n");
        assert!(repo.file_at(repo.resolve(&first).unwrap(), "missing.toml").unwrap().is_none());

        let second = remote.commit_file("README", "hello\n", "ABC-2 second");
        let repo = mirror.sync().unwrap();
        assert_eq!(repo.resolve(&second).unwrap().to_string(), second);
    }

    #[test]
    fn what_a_clone_cut_short_left_behind_is_cleared_first() {
        let remote = TestRepo::new();
        let first = remote.commit_file("a", "1", "ABC-1 first");
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("acme")).unwrap();
        std::fs::write(dir.path().join("acme/shop.partial"), "not a repository").unwrap();
        let mirror = Mirror::new(dir.path().join("acme/shop.git"), remote.path().to_str().unwrap());
        assert_eq!(mirror.sync().unwrap().resolve("HEAD").unwrap().to_string(), first);
    }

    #[test]
    fn a_mirror_that_no_longer_opens_is_cloned_again() {
        let remote = TestRepo::new();
        let first = remote.commit_file("a", "1", "ABC-1 first");
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("acme/shop.git");
        let mirror = Mirror::new(path.clone(), remote.path().to_str().unwrap());
        mirror.sync().unwrap();
        std::fs::remove_dir_all(path.join("objects")).unwrap();
        std::fs::write(path.join("config"), "not [ git config").unwrap();
        let second = remote.commit_file("a", "2", "ABC-2 second");
        let repo = mirror.sync().unwrap();
        assert_eq!(repo.resolve("HEAD").unwrap().to_string(), second);
        assert_eq!(repo.resolve(&first).unwrap().to_string(), first);
    }

    #[test]
    fn a_failed_fetch_says_what_git_said_was_wrong() {
        let remote = TestRepo::new();
        remote.commit_file("a", "1", "ABC-1 first");
        let dir = tempfile::tempdir().unwrap();
        let moved = dir.path().join("moved-away.git");
        let mirror = Mirror::new(dir.path().join("m.git"), remote.path().to_str().unwrap());
        mirror.sync().unwrap();
        // The remote moved away: git's last lines are advice ("… and the repository exists."), its first says which.
        let gone = Mirror::new(dir.path().join("m.git"), moved.to_str().unwrap());
        let Err(GitError::Fetch { reason }) = gone.sync() else { panic!("a missing remote was fetched") };
        assert!(
            reason.contains("moved-away.git") && reason.contains("does not appear to be a git repository"),
            "{reason}"
        );
        assert_eq!(super::reason("warning: x\nhint: y\n"), "hint: y");
        assert_eq!(
            super::reason("error: cannot lock ref 'refs/heads/a'\nfatal: later\n"),
            "cannot lock ref 'refs/heads/a'"
        );
    }

    #[test]
    fn a_remote_url_is_never_read_as_an_option_of_git() {
        // A url from a webhook payload that looks like an option must not run anything, on the first clone or on a
        // later fetch.
        let remote = TestRepo::new();
        remote.commit_file("a", "1", "ABC-1 first");
        let dir = tempfile::tempdir().unwrap();
        let marker = dir.path().join("ran");
        let hostile = format!("--upload-pack=touch {};", marker.display());
        let fresh = Mirror::new(dir.path().join("fresh.git"), hostile.clone());
        let Err(error) = fresh.sync() else { panic!("an option was cloned") };
        assert!(error.to_string().contains("starts with '-'"), "{error}");
        let mirror = Mirror::new(dir.path().join("m.git"), remote.path().to_str().unwrap());
        mirror.sync().unwrap();
        let Err(error) = Mirror::new(dir.path().join("m.git"), hostile).sync() else { panic!("an option was fetched") };
        assert!(error.to_string().contains("starts with '-'"), "{error}");
        assert!(!marker.exists(), "git ran the url as --upload-pack");
    }

    #[test]
    fn a_remote_that_hangs_is_given_up_on() {
        // Accepts connections and never answers.
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}/shop.git", listener.local_addr().unwrap());
        let dir = tempfile::tempdir().unwrap();
        let mirror = Mirror::new(dir.path().join("m.git"), url).timeout(Duration::from_millis(500));
        let Err(error) = mirror.sync() else { panic!("a remote that never answers was cloned") };
        assert!(error.to_string().contains("git did not finish within 0.5 s"), "{error}");
        assert!(!dir.path().join("m.git").exists());
        // Nothing git started is left holding the connection: reading it ends, rather than waiting for the bound.
        let (mut connection, _) = listener.accept().unwrap();
        connection.set_read_timeout(Some(Duration::from_secs(60))).unwrap();
        let mut request = Vec::new();
        let read = connection.read_to_end(&mut request);
        assert!(read.is_ok(), "the connection is still open: {read:?}");
        assert!(String::from_utf8_lossy(&request).starts_with("GET /shop.git/info/refs"), "{request:?}");
    }

    #[test]
    fn a_cancelled_fetch_stops_at_once() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}/shop.git", listener.local_addr().unwrap());
        let dir = tempfile::tempdir().unwrap();
        let cancel = Arc::new(AtomicBool::new(false));
        let mirror =
            Mirror::new(dir.path().join("m.git"), url).timeout(Duration::from_secs(120)).cancel_on(cancel.clone());
        let syncing = std::thread::spawn(move || mirror.sync());
        // Cancelled once git has connected: the remote has the connection, and never answers.
        let (connection, _) = listener.accept().unwrap();
        cancel.store(true, Ordering::Relaxed);
        let Err(error) = syncing.join().unwrap() else { panic!("a remote that never answers was cloned") };
        assert!(error.to_string().contains("greenlight is shutting down"), "{error}");
        drop(connection);
    }

    #[test]
    fn a_failed_fetch_is_reported_even_while_something_git_started_holds_its_stderr() {
        // Like an ssh `ControlPersist` master: the ssh command git runs leaves a process behind that keeps git's
        // stderr open, then fails.
        let remote = TestRepo::new();
        remote.commit_file("README", "shop\n", "ABC-1 start");
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("m.git");
        Mirror::new(path.clone(), remote.path().to_str().unwrap()).sync().unwrap();
        let lingering = "sh -c 'sleep 150 >/dev/null & echo the remote hung up >&2; exit 1'";
        let config = Command::new("git").arg("-C").arg(&path).args(["config", "core.sshCommand", lingering]).status();
        assert!(config.unwrap().success());
        let mirror = Mirror::new(path, "ssh://example.invalid/shop.git");
        let (done, result) = std::sync::mpsc::channel();
        std::thread::spawn(move || done.send(mirror.sync().map(|_| ())));
        // A bound, so that waiting for the lingering process fails here instead of passing 150 s later.
        let result =
            result.recv_timeout(Duration::from_secs(60)).expect("the failure waited for the lingering process");
        let Err(error) = result else { panic!("an ssh command that fails gave a fetch") };
        // What the transport and git said, read before the grace ran out.
        let said = "the remote hung up; Could not read from remote repository.";
        assert!(matches!(error, GitError::Fetch { .. }) && error.to_string().contains(said), "{error}");
    }

    #[test]
    fn an_unreachable_remote_is_a_fetch_error_naming_the_reason() {
        let dir = tempfile::tempdir().unwrap();
        let mirror = Mirror::new(dir.path().join("m.git"), dir.path().join("nowhere").to_str().unwrap());
        let Err(error) = mirror.sync() else { panic!("a remote that does not exist was cloned") };
        assert!(matches!(error, GitError::Fetch { .. }), "{error}");
        assert!(!dir.path().join("m.git").exists());
    }
}
