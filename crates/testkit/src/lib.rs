//! Real git repositories for tests, built with the git CLI in a temporary directory.
//!
//! Every commit gets a fixed identity and a clock that ticks one minute per commit, so object ids are the same on
//! every machine and snapshots stay stable. Git's global and system config are ignored. Used by tests only.

use std::cell::Cell;
use std::path::Path;
use std::process::{Command, Output};

use tempfile::TempDir;

pub mod browser;
pub mod github;
pub mod scripted;

/// The empty tree's id: commits built with `commit_tree` need no files.
pub const EMPTY_TREE: &str = "4b825dc642cb6eb9a060e54bf8d69288fbee4904";

/// First commit time (2023-11-14T22:13:20Z); each commit is one minute later than the one before.
const EPOCH: i64 = 1_700_000_000;

pub struct TestRepo {
    dir: TempDir,
    clock: Cell<i64>,
}

impl Default for TestRepo {
    fn default() -> Self {
        Self::new()
    }
}

impl TestRepo {
    /// An empty repository on branch `main`.
    pub fn new() -> Self {
        let repo = Self { dir: tempfile::tempdir().expect("temp dir"), clock: Cell::new(EPOCH) };
        repo.git(&["init", "-q", "-b", "main"]);
        repo
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// A `git` command in this repository with the fixed identity and clock.
    pub fn command(&self) -> Command {
        git_command(self.path(), self.clock.get())
    }

    /// Runs git and returns its trimmed standard output; panics with git's message on failure.
    pub fn git(&self, args: &[&str]) -> String {
        let out = self.command().args(args).output().expect("git runs");
        expect_success(args, &out);
        String::from_utf8_lossy(&out.stdout).trim_end().to_owned()
    }

    fn tick(&self) {
        self.clock.set(self.clock.get() + 60);
    }

    /// A commit with the given message and parents and the empty tree; no branch moves. Returns its id.
    pub fn commit_tree(&self, message: &str, parents: &[&str]) -> String {
        self.tick();
        let mut args = vec!["commit-tree", EMPTY_TREE, "-m", message];
        for parent in parents {
            args.extend(["-p", parent]);
        }
        self.git(&args)
    }

    /// A commit on the checked-out branch that writes `file` with `content`. Returns its id.
    pub fn commit_file(&self, file: &str, content: &str, message: &str) -> String {
        self.tick();
        let path = self.path().join(file);
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).expect("create dir");
        }
        std::fs::write(&path, content).expect("write file");
        self.git(&["add", file]);
        self.git(&["commit", "-q", "--no-verify", "-m", message]);
        self.git(&["rev-parse", "HEAD"])
    }

    /// A chain of empty commits on top of `parent`, one per message; returns the last id.
    pub fn chain(&self, parent: &str, messages: &[&str]) -> String {
        messages.iter().fold(parent.to_owned(), |parent, message| self.commit_tree(message, &[&parent]))
    }

    /// Points `refs/heads/<branch>` at `id`.
    pub fn branch(&self, branch: &str, id: &str) {
        self.git(&["update-ref", &format!("refs/heads/{branch}"), id]);
    }

    /// Writes a commit-graph as `git gc` does.
    pub fn write_commit_graph(&self) {
        self.git(&["commit-graph", "write", "--reachable"]);
    }
}

/// A git command with the fixed identity, the given time for author and committer, and no outside config.
pub fn git_command(dir: &Path, time: i64) -> Command {
    let date = format!("@{time} +0000");
    let mut cmd = Command::new("git");
    cmd.current_dir(dir)
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("GIT_AUTHOR_NAME", "Ada Lovelace")
        .env("GIT_AUTHOR_EMAIL", "ada@example.com")
        .env("GIT_COMMITTER_NAME", "Ada Lovelace")
        .env("GIT_COMMITTER_EMAIL", "ada@example.com")
        .env("GIT_AUTHOR_DATE", &date)
        .env("GIT_COMMITTER_DATE", &date)
        .env_remove("GIT_DIR")
        .env_remove("GIT_WORK_TREE")
        .env_remove("GIT_INDEX_FILE");
    cmd
}

fn expect_success(args: &[&str], out: &Output) {
    assert!(
        out.status.success(),
        "git {} failed: {}{}",
        args.join(" "),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// The variable `scripts/test` sets to the PostgreSQL server it started, e.g. `postgres://postgres@127.0.0.1:5433`.
pub const POSTGRES_ENV: &str = "GREENLIGHT_TEST_POSTGRES";

/// A new, empty database on the test PostgreSQL server; returns its url. Panics with directions when the server is
/// not there: the tests that need it run under `scripts/test`.
pub fn postgres_database() -> String {
    static NEXT: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
    let server = std::env::var(POSTGRES_ENV).unwrap_or_else(|_| {
        panic!("{POSTGRES_ENV} is not set: run the tests with scripts/test, which starts PostgreSQL on 127.0.0.1")
    });
    let name = format!(
        "gl_{}_{}_{}",
        std::process::id(),
        NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed),
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.subsec_nanos())
    );
    let out = Command::new("psql")
        .args([&format!("{server}/postgres"), "-q", "-v", "ON_ERROR_STOP=1", "-c", &format!("CREATE DATABASE {name}")])
        .output()
        .expect("psql runs");
    assert!(out.status.success(), "cannot create database {name}: {}", String::from_utf8_lossy(&out.stderr));
    format!("{server}/{name}")
}

/// Drops a database made by [`postgres_database`], closing its connections: the store goes away under a server.
pub fn drop_postgres_database(url: &str) {
    let (server, name) = url.rsplit_once('/').expect("a url from postgres_database");
    let out = Command::new("psql")
        .args([&format!("{server}/postgres"), "-q", "-v", "ON_ERROR_STOP=1", "-c"])
        .arg(format!("DROP DATABASE {name} WITH (FORCE)"))
        .output()
        .expect("psql runs");
    assert!(out.status.success(), "cannot drop database {name}: {}", String::from_utf8_lossy(&out.stderr));
}
