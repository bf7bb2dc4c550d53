//! Deploy ranges from a git repository, read with gix.
//!
//! Owns: opening a repository, resolving revisions, and the walk that splits `from...to` into what the deploy adds
//! (`from..to`) and what it would roll back (`to..from`). Does not own: issue keys or any judgement (that is
//! `greenlight-core` and the checks). Only mirror clones for the service (`mirror`) run the git CLI.

mod headers;
mod mirror;
mod pack;
pub mod process;
mod walk;

pub use gix::ObjectId;
pub use mirror::Mirror;

use std::path::{Path, PathBuf};

use gix::objs::Find as _;
use greenlight_core::{Commit, KeyRules};

/// Why a range could not be read. Each is a "could not run" for the CLI (exit 2).
#[derive(Debug, thiserror::Error)]
pub enum GitError {
    #[error("{} is not in a git repository", path.display())]
    NotARepository { path: PathBuf },
    #[error("{} is in a SHA-256 git repository: SHA-256 repositories are not supported, only SHA-1 ones", path.display())]
    Sha256 { path: PathBuf },
    #[error("unknown revision {rev:?}: it names no commit in this repository{}", shallow_hint(*.shallow))]
    UnknownRevision {
        rev: String,
        /// The repository is a shallow clone, which often lacks the other branch altogether.
        shallow: bool,
    },
    #[error("revision {rev:?} is a {kind}, not a commit")]
    NotACommit { rev: String, kind: String },
    #[error(
        "the repository is a shallow clone whose history stops before the range is complete (at {boundary}); fetch more history with `git fetch --unshallow` (or `fetch-depth: 0` in actions/checkout)"
    )]
    ShallowRange { boundary: String },
    #[error("commit {id} is missing from the object database")]
    MissingCommit { id: String },
    #[error("could not read commit {id}: {reason}")]
    Corrupt { id: String, reason: String },
    /// Cloning or fetching a mirror failed; `reason` is git's last line.
    #[error("git fetch failed: {reason}")]
    Fetch { reason: String },
    #[error("could not read the repository: {0}")]
    Other(String),
}

fn shallow_hint(shallow: bool) -> &'static str {
    if shallow {
        "; the repository is a shallow clone, which may lack it: fetch the whole history (`git fetch --unshallow`, or \
         `fetch-depth: 0` in actions/checkout)"
    } else {
        ""
    }
}

/// A repository to read deploys from.
pub struct Repo {
    repo: gix::Repository,
}

/// Both sides of `from...to`, each newest first.
#[derive(Debug)]
pub struct Range {
    pub from: ObjectId,
    pub to: ObjectId,
    /// In `to` and not in `from`: what the deploy ships.
    pub added: Vec<Commit>,
    /// In `from` and not in `to`: what the deploy would roll back.
    pub rolled_back: Vec<Commit>,
}

impl Repo {
    /// Opens the repository that contains `path`, as git does when run there.
    pub fn discover(path: &Path) -> Result<Self, GitError> {
        match gix::discover(path) {
            Ok(repo) => Ok(Self { repo }),
            Err(_) if uses_sha256(path) => Err(GitError::Sha256 { path: path.to_owned() }),
            Err(_) => Err(GitError::NotARepository { path: path.to_owned() }),
        }
    }

    /// The working tree's root, where `greenlight.toml` lives; `None` for a bare repository.
    pub fn workdir(&self) -> Option<&Path> {
        self.repo.workdir()
    }

    /// The repository's git directory (`.git`).
    pub fn git_dir(&self) -> &Path {
        self.repo.git_dir()
    }

    /// The hooks directory git uses: `core.hooksPath` if set, else `.git/hooks`.
    pub fn hooks_dir(&self) -> PathBuf {
        let configured = self.repo.config_snapshot().trusted_path("core.hooksPath").ok().flatten();
        match configured {
            Some(path) if path.is_absolute() => path,
            Some(path) => self.workdir().unwrap_or(self.git_dir()).join(path),
            None => self.repo.common_dir().join("hooks"),
        }
    }

    /// The string git marks comment lines with in messages it opens an editor for: `core.commentString`, else
    /// `core.commentChar` (either may be `auto`); `None` when neither is set, so git uses `#`.
    pub fn comment_string(&self) -> Option<String> {
        let config = self.repo.config_snapshot();
        ["core.commentString", "core.commentChar"]
            .into_iter()
            .find_map(|key| config.string(key))
            .map(|value| value.to_string())
    }

    /// Resolves a revision (`HEAD~3`, a branch, a tag, a sha) to the commit it names, peeling tags.
    pub fn resolve(&self, rev: &str) -> Result<ObjectId, GitError> {
        let unknown =
            || GitError::UnknownRevision { rev: rev.to_owned(), shallow: self.repo.is_shallow().unwrap_or(false) };
        let id = self.repo.rev_parse_single(rev).map_err(|_| unknown())?;
        let object = id.object().map_err(|_| unknown())?;
        let kind = object.kind;
        let commit = object
            .peel_to_commit()
            .map_err(|_| GitError::NotACommit { rev: rev.to_owned(), kind: kind.to_string() })?;
        Ok(commit.id)
    }

    /// Reads both sides of `from...to`, each commit with the keys `keys` finds in its message. Costs in proportion
    /// to the range, not the repository: with a commit-graph the walk touches no object outside the range.
    ///
    /// Decoding runs on every core while the walk goes on: the walk hands over each commit as soon as it is known
    /// to be on one side, and keeps only those still on one side when it ends.
    pub fn range(&self, from: ObjectId, to: ObjectId, keys: &KeyRules) -> Result<Range, GitError> {
        let workers = std::thread::available_parallelism().map_or(1, usize::from);
        let shared = self.repo.clone().into_sync();
        let packs = std::sync::OnceLock::new();
        // Replaced commits (`git replace`) are read through the object database, which reads their replacements.
        let replaced: Vec<ObjectId> = if self.repo.objects.ignore_replacements {
            Vec::new()
        } else {
            self.repo.objects.store_ref().replacements().map(|(original, _)| original).collect()
        };
        let (batches, queue) = std::sync::mpsc::channel::<Vec<(u32, ObjectId)>>();
        let queue = std::sync::Mutex::new(queue);
        let (decoded_batches, decoded_queue) = std::sync::mpsc::channel::<Vec<(u32, Commit)>>();
        std::thread::scope(|scope| {
            let handles: Vec<_> = (0..workers)
                .map(|_| {
                    let (shared, packs, replaced) = (&shared, &packs, &replaced[..]);
                    let (queue, decoded) = (&queue, decoded_batches.clone());
                    scope.spawn(move || {
                        decode_batches(&shared.to_thread_local(), packs, replaced, queue, &decoded, keys)
                    })
                })
                .collect();
            drop(decoded_batches);
            let mut batch = Vec::with_capacity(DECODE_BATCH);
            let mut settled = 0;
            let walked = walk::Walk::new(&self.repo)?.run(from, to, |n, id| {
                batch.push((n, id));
                settled = n as usize + 1;
                if batch.len() == DECODE_BATCH {
                    // A send fails only when every worker has stopped on an error, which is reported below.
                    let _ = batches.send(std::mem::replace(&mut batch, Vec::with_capacity(DECODE_BATCH)));
                }
            });
            let _ = batches.send(batch);
            drop(batches);
            let sides = walked?;
            // Each settled commit's place on its side is known now: decoded commits go straight there, the ones
            // that came in during the walk first and the rest as they arrive, while the decoders work on.
            let mut place = vec![Place::Nowhere; settled];
            for (i, &n) in sides.added.iter().enumerate() {
                if let Some(slot) = place.get_mut(n as usize) {
                    *slot = Place::Added(i);
                }
            }
            for (i, &n) in sides.rolled_back.iter().enumerate() {
                if let Some(slot) = place.get_mut(n as usize) {
                    *slot = Place::RolledBack(i);
                }
            }
            let mut added: Vec<Option<Commit>> = Vec::with_capacity(sides.added.len());
            added.resize_with(sides.added.len(), || None);
            let mut rolled_back: Vec<Option<Commit>> = Vec::with_capacity(sides.rolled_back.len());
            rolled_back.resize_with(sides.rolled_back.len(), || None);
            for part in decoded_queue {
                for (n, commit) in part {
                    match place.get(n as usize) {
                        Some(&Place::Added(i)) => added[i] = Some(commit),
                        Some(&Place::RolledBack(i)) => rolled_back[i] = Some(commit),
                        // Settled on one side, then reached from both tips (skewed clocks without a commit-graph).
                        Some(Place::Nowhere) | None => {}
                    }
                }
            }
            for handle in handles {
                handle.join().map_err(|_| GitError::Other("a decoding thread panicked".into()))??;
            }
            let complete = |side: Vec<Option<Commit>>| {
                // Reuses the slots' memory: a `Commit` and an `Option<Commit>` have the same size.
                side.into_iter()
                    .collect::<Option<Vec<_>>>()
                    .ok_or_else(|| GitError::Other("a commit of the walk was not decoded".into()))
            };
            Ok(Range { from, to, added: complete(added)?, rolled_back: complete(rolled_back)? })
        })
    }
}

/// Whether the repository git finds at `path` uses SHA-256 object ids (`extensions.objectFormat`), which greenlight's
/// gix is built without: gix then refuses to open it, and this tells that apart from there being no repository.
fn uses_sha256(path: &Path) -> bool {
    let Ok((location, _)) = gix::discover::upwards(path) else {
        return false;
    };
    let (git_dir, _) = location.into_repository_and_work_tree_directories();
    // A linked worktree's git directory names the repository's own in `commondir`; the config is there.
    let common_dir = match std::fs::read_to_string(git_dir.join("commondir")) {
        Ok(common) => git_dir.join(common.trim_end()),
        Err(_) => git_dir,
    };
    gix::config::File::from_path_no_includes(common_dir.join("config"), gix::config::Source::Local)
        .ok()
        .and_then(|config| config.string("extensions.objectFormat"))
        .is_some_and(|format| format.eq_ignore_ascii_case(b"sha256"))
}

/// Where a commit the walk settled ends up.
#[derive(Clone, Copy)]
enum Place {
    Added(usize),
    RolledBack(usize),
    Nowhere,
}

/// How many commits the walk hands to a decoding thread at once.
const DECODE_BATCH: usize = 128;

/// From which commit of the walk on the decoding threads read the packs themselves (`pack::Packs`): opening them
/// costs a scan of each pack index (gix checks its offsets), about what looking up a thousand commits saves, so a
/// small range is read through the object database alone.
const PACKS_FROM: u32 = 1024;

/// A decoding thread: takes batches until the walk is done, and hands back each batch decoded. Each batch is
/// looked up in the packs at once; what they do not hold whole, and the commits in `replaced` (sorted), which the
/// packs hold as they were before `git replace`, are read through the object database.
fn decode_batches(
    repo: &gix::Repository,
    packs: &std::sync::OnceLock<pack::Packs>,
    replaced: &[ObjectId],
    queue: &std::sync::Mutex<std::sync::mpsc::Receiver<Vec<(u32, ObjectId)>>>,
    decoded: &std::sync::mpsc::Sender<Vec<(u32, Commit)>>,
    keys: &KeyRules,
) -> Result<(), GitError> {
    let (mut buf, mut ids, mut places) = (Vec::new(), Vec::new(), Vec::new());
    let mut inflate = gix_zlib::Inflate::default();
    loop {
        let batch = match queue.lock() {
            Ok(queue) => queue.recv(),
            Err(_) => return Err(GitError::Other("a decoding thread panicked".into())),
        };
        let Ok(batch) = batch else { return Ok(()) };
        ids.clear();
        ids.extend(batch.iter().map(|&(_, id)| id));
        let packs =
            batch.first().is_some_and(|&(n, _)| n >= PACKS_FROM).then(|| packs.get_or_init(|| pack::Packs::open(repo)));
        match packs {
            Some(packs) => packs.locate(&ids, &mut places),
            None => {
                places.clear();
                places.resize(ids.len(), None);
            }
        }
        let commits = batch
            .into_iter()
            .zip(&places)
            .map(|((n, id), &place)| {
                let corrupt = |reason: String| GitError::Corrupt { id: id.to_string(), reason };
                let packed = match (packs, place) {
                    (Some(packs), Some(at)) if replaced.binary_search(&id).is_err() => {
                        packs.commit(at, &mut inflate, &mut buf).map_err(corrupt)?.is_some()
                    }
                    _ => false,
                };
                if !packed {
                    read_object(repo, &id, &mut buf)?;
                }
                Ok((n, decode(&id, &buf, keys)))
            })
            .collect::<Result<Vec<_>, GitError>>()?;
        // A send fails only when the range has already stopped on an error.
        if decoded.send(commits).is_err() {
            return Ok(());
        }
    }
}

/// Reads a commit through the object database into `buf`.
fn read_object(repo: &gix::Repository, id: &ObjectId, buf: &mut Vec<u8>) -> Result<(), GitError> {
    let corrupt = |reason: String| GitError::Corrupt { id: id.to_string(), reason };
    let data = repo
        .objects
        .try_find(id, buf)
        .map_err(|e| corrupt(e.to_string()))?
        .ok_or_else(|| GitError::MissingCommit { id: id.to_string() })?;
    if data.kind != gix::object::Kind::Commit {
        return Err(corrupt(format!("expected a commit, found a {}", data.kind)));
    }
    Ok(())
}

/// One commit. Only the headers it needs are parsed (`headers`): the parents are counted, not decoded from hex, and
/// the tree and any other header are skipped (gix's token iterator decodes every id and header, a good part of a
/// commit's time). Identity lines are read as leniently as git reads them.
fn decode(id: &ObjectId, data: &[u8], keys: &KeyRules) -> Commit {
    let mut parents = 0;
    let headers = headers::read(data, |_| parents += 1);
    // As `git log` shows them: no author line, no name or email; no committer line, no time (the epoch).
    let (name, email) = headers.author.map_or((&[][..], &[][..]), headers::identity);
    let (seconds, offset) = headers.committer.map_or((0, 0), headers::time);
    let encoding = headers.encoding.map_or(Encoding::Utf8, Encoding::named);
    let text = |bytes: &[u8]| encoding.decode(bytes);
    let message = text(headers.message);
    let subject = subject(&message);
    Commit {
        sha: id.to_string(),
        author: text(name),
        email: text(email),
        time: rfc3339(seconds, offset),
        subject,
        keys: keys.extract(&message),
        message,
        merge: parents > 1,
    }
}

/// git's `%s`: blank lines at the start skipped, the first paragraph (up to a line that is empty or all whitespace),
/// its lines joined by one space, each line's trailing whitespace dropped and its leading whitespace kept.
fn subject(message: &str) -> String {
    // git's isspace: no vertical tab or form feed.
    let lines = message.split_inclusive('\n').map(|line| line.trim_end_matches([' ', '\t', '\n', '\r']));
    let mut subject = String::new();
    for line in lines.skip_while(|line| line.is_empty()).take_while(|line| !line.is_empty()) {
        if !subject.is_empty() {
            subject.push(' ');
        }
        subject.push_str(line);
    }
    subject
}

/// The encoding a commit's `encoding` header names, which its message and identities are written in. Like `git log`,
/// greenlight re-encodes them to UTF-8; a commit without the header is UTF-8 already.
#[derive(Clone, Copy)]
enum Encoding {
    /// UTF-8, or an encoding greenlight does not know: read as UTF-8, invalid bytes replaced.
    Utf8,
    /// ISO-8859-1 byte for byte, as git's iconv reads it (the WHATWG labels fold it into windows-1252, which reads
    /// 0x80 to 0x9F differently).
    Latin1,
    Other(&'static encoding_rs::Encoding),
}

impl Encoding {
    fn named(label: &[u8]) -> Self {
        let label = label.trim_ascii();
        match encoding_rs::Encoding::for_label(label) {
            None => Self::Utf8,
            Some(e) if e == encoding_rs::UTF_8 || e == encoding_rs::REPLACEMENT => Self::Utf8,
            // Text in UTF-16 cannot share a commit with git's ASCII headers: git cannot read it back either.
            Some(e) if e == encoding_rs::UTF_16LE || e == encoding_rs::UTF_16BE => Self::Utf8,
            Some(e) if e == encoding_rs::WINDOWS_1252 && !label.windows(4).any(|w| w == b"1252") => Self::Latin1,
            Some(e) => Self::Other(e),
        }
    }

    /// `bytes` as UTF-8. Bytes that are not valid in the encoding are kept as they are, as git keeps a message it
    /// cannot convert, and then read as UTF-8.
    fn decode(self, bytes: &[u8]) -> String {
        let lossy = |bytes: &[u8]| String::from_utf8_lossy(bytes).into_owned();
        match self {
            Self::Utf8 => lossy(bytes),
            Self::Latin1 => encoding_rs::mem::decode_latin1(bytes).into_owned(),
            Self::Other(e) => e
                .decode_without_bom_handling_and_without_replacement(bytes)
                .map_or_else(|| lossy(bytes), std::borrow::Cow::into_owned),
        }
    }
}

/// RFC 3339 in the committer's own offset, as git shows it with `%cI`.
fn rfc3339(seconds: i64, offset: i32) -> String {
    let ts = jiff::Timestamp::from_second(seconds).unwrap_or(jiff::Timestamp::UNIX_EPOCH);
    let offset = jiff::tz::Offset::from_seconds(offset).unwrap_or(jiff::tz::Offset::UTC);
    ts.display_with_offset(offset).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc3339_keeps_the_offset() {
        assert_eq!(rfc3339(0, 0), "1970-01-01T00:00:00+00:00");
        assert_eq!(rfc3339(1_700_000_000, 2 * 3600), "2023-11-15T00:13:20+02:00");
        assert_eq!(rfc3339(1_700_000_000, -(5 * 3600 + 30 * 60)), "2023-11-14T16:43:20-05:30");
    }
}
