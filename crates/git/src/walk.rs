//! The walk that splits `from...to` into its two sides.
//!
//! Every commit gets a flag for each tip that reaches it. Commits are processed children before parents, so a
//! commit's flags are final when it is taken from the queue; the walk stops as soon as every queued commit is
//! reached by both tips, because nothing below them can belong to either side alone. It never looks below the
//! merge bases, so its cost follows the size of the range, not of the history.
//!
//! The order comes from commit-graph generation numbers where the graph covers a commit (exact), and from commit
//! times for commits written after the graph (git's own heuristic). Commits the graph lacks are never ancestors of
//! commits it has, so they always come first. Among those, a skewed clock can have a commit processed from one tip
//! before the other tip reaches it, or reaches a commit that reaches it. So when a commit the graph lacks becomes
//! reached by both tips, every commit below it that the walk has read learns so at once, processed or not (git's
//! `mark_parents_uninteresting`): the walk may end before that commit is processed. Commits it has not read yet
//! cannot hear of it; so, by git's own rule (`still_interesting` in `limit_list`), once every queued commit is reached
//! by both tips the walk goes on through commits the graph lacks as long as the next one is no older than the last
//! commit processed on a side, and then for `SLOP` commits more. That bounds how deep a skew it repairs, as git's
//! own answer is bounded, and the same way.

use std::cmp::Reverse;
use std::collections::BinaryHeap;

use gix::ObjectId;
use gix::commitgraph::Position;
use gix::hashtable::{HashMap, HashSet};
use gix::objs::Find as _;

use crate::GitError;

const ADDED: u8 = 1;
const KEPT: u8 = 2;
const BOTH: u8 = ADDED | KEPT;

/// How many commits the graph lacks the walk still processes once every queued commit is reached by both tips and
/// older than the last commit processed on a side (git's `SLOP`).
const SLOP: u32 = 5;

/// Commits the graph lacks sort above all graph commits.
const UNKNOWN_GENERATION: u32 = u32::MAX;

#[derive(Clone, Copy, PartialEq, Eq)]
enum State {
    New,
    Queued,
    Done,
}

/// A parent as the commit-graph or the commit object names it; graph positions need no lookup.
#[derive(Clone, Copy)]
enum Parent {
    Graph(Position),
    Id(ObjectId),
}

struct Node {
    id: ObjectId,
    parents: Vec<Parent>,
    time: i64,
    generation: u32,
    flags: u8,
    state: State,
    /// Listed in the repository's `shallow` file: its parents are not here.
    shallow: bool,
    /// When it was processed; ties between equal commit times keep this order.
    processed: u32,
    /// Its number among the commits handed to `settled`, if it was.
    settled: Option<u32>,
}

/// Each side, newest first, as the numbers `settled` gave its commits.
pub(crate) struct Sides {
    pub added: Vec<u32>,
    pub rolled_back: Vec<u32>,
}

pub(crate) struct Walk<'r> {
    repo: &'r gix::Repository,
    graph: Option<gix::commitgraph::Graph>,
    shallow: HashSet<ObjectId>,
    nodes: Vec<Node>,
    /// Nodes of commits the graph lacks, by id.
    by_id: HashMap<ObjectId, usize>,
    /// Nodes of commits in the graph, by position.
    by_position: rustc_hash::FxHashMap<u32, usize>,
    queue: BinaryHeap<(u32, i64, Reverse<u32>, usize)>,
    pushes: u32,
    /// Queued commits not yet reached by both tips. The walk ends when this is zero, `SLOP` commits later at most.
    undecided: usize,
    /// Commits whose read parents `mark` still has to tell they are reached by both tips.
    spread: Vec<usize>,
    buf: Vec<u8>,
}

impl<'r> Walk<'r> {
    pub(crate) fn new(repo: &'r gix::Repository) -> Result<Self, GitError> {
        // A graph that cannot be opened (a torn write, a layer missing from its chain) is passed over, as git does:
        // it only speeds the walk up, and the objects give the same answer.
        let graph = repo.commit_graph_if_enabled().ok().flatten();
        let shallow = repo
            .shallow_commits()
            .map_err(|e| GitError::Other(format!("shallow file: {e}")))?
            .map(|commits| commits.iter().copied().collect())
            .unwrap_or_default();
        Ok(Self {
            repo,
            graph,
            shallow,
            nodes: Vec::new(),
            by_id: HashMap::default(),
            by_position: rustc_hash::FxHashMap::default(),
            queue: BinaryHeap::new(),
            pushes: 0,
            undecided: 0,
            spread: Vec::new(),
            buf: Vec::new(),
        })
    }

    /// Walks until both sides are known. `settled` hears of each commit, numbered from 0, when it is taken from the
    /// queue on one side only: with a commit-graph that is final; without one, a skewed clock may still move it to
    /// both sides, so the returned `Sides` are the answer and `settled` is a head start. Every commit of a side was
    /// handed to `settled` exactly once.
    pub(crate) fn run(
        mut self,
        from: ObjectId,
        to: ObjectId,
        mut settled: impl FnMut(u32, ObjectId),
    ) -> Result<Sides, GitError> {
        let to = self.load(Parent::Id(to))?;
        self.mark(to, ADDED);
        let from = self.load(Parent::Id(from))?;
        self.mark(from, KEPT);

        let mut processed = 0;
        let mut handed = 0;
        let mut slop = SLOP;
        // The commit time of the last commit processed on each side, as git's `date` in `limit_list` (one per side:
        // the walk is git's `from..to` and `to..from` at once, and goes on while either of them would).
        let (mut last_added, mut last_kept) = (i64::MAX, i64::MAX);
        loop {
            if self.undecided == 0 {
                // Reached by both tips, these only carry that news down; with the graph they carry it nowhere new.
                match self.queue.peek() {
                    Some(&(UNKNOWN_GENERATION, ..)) => {}
                    _ => break,
                }
            }
            let Some((_, _, _, i)) = self.queue.pop() else {
                break;
            };
            // A commit is queued once (when the walk first reads it), so it is processed once.
            let node = &mut self.nodes[i];
            debug_assert!(node.state == State::Queued);
            node.state = State::Done;
            node.processed = processed;
            processed += 1;
            if node.flags != BOTH {
                self.undecided -= 1;
                node.settled = Some(handed);
                settled(handed, node.id);
                handed += 1;
            }
            let (flags, time) = (node.flags, node.time);
            let parents = std::mem::take(&mut self.nodes[i].parents);
            for &parent in &parents {
                let p = self.load(parent)?;
                self.mark(p, flags);
            }
            self.nodes[i].parents = parents;
            // git's `still_interesting`, asked after each commit reached by both tips: the walk goes on while any
            // queued commit is on one side, and then while the next commit is no older than the last one processed
            // on a side (a skewed clock may still hide a shared commit there); past that, for `SLOP` commits more.
            match flags {
                ADDED => last_added = time,
                KEPT => last_kept = time,
                _ if self.undecided > 0 => slop = SLOP,
                _ => match self.queue.peek() {
                    Some(&(UNKNOWN_GENERATION, next, ..)) if next >= last_added.min(last_kept) => slop = SLOP,
                    Some(&(UNKNOWN_GENERATION, ..)) => {
                        slop -= 1;
                        if slop == 0 {
                            break;
                        }
                    }
                    _ => break,
                },
            }
        }

        if let Some(boundary) = self.nodes.iter().find(|n| n.shallow && n.flags != BOTH) {
            return Err(GitError::ShallowRange { boundary: boundary.id.to_string() });
        }
        Ok(Sides { added: self.side(ADDED), rolled_back: self.side(KEPT) })
    }

    /// Adds `flags` to a commit, and queues it when it is new to the walk. When a commit the graph lacks becomes
    /// reached by both tips, so does every commit below it that the walk has read.
    fn mark(&mut self, i: usize, flags: u8) {
        if !self.add(i, flags) {
            return;
        }
        self.spread.push(i);
        while let Some(j) = self.spread.pop() {
            for k in 0..self.nodes[j].parents.len() {
                if let Some(p) = self.find(self.nodes[j].parents[k])
                    && self.add(p, BOTH)
                {
                    self.spread.push(p);
                }
            }
        }
    }

    /// Adds `flags` to one commit; true when it must tell the commits below it that it is now reached by both tips.
    /// A commit in the graph need not: generation numbers have its descendants processed before it, so it is
    /// processed before any commit below it, whose flags it passes on then.
    fn add(&mut self, i: usize, flags: u8) -> bool {
        let node = &mut self.nodes[i];
        let was = node.flags;
        node.flags |= flags;
        if node.flags == was {
            return false;
        }
        match node.state {
            State::Queued => {
                if node.flags == BOTH {
                    self.undecided -= 1;
                }
            }
            State::New => {
                node.state = State::Queued;
                if node.flags != BOTH {
                    self.undecided += 1;
                }
                self.queue.push((node.generation, node.time, Reverse(self.pushes), i));
                self.pushes += 1;
            }
            // Its parents hear of it below: processing it again would tell them nothing more.
            State::Done => {}
        }
        node.flags == BOTH && (node.generation == UNKNOWN_GENERATION || node.state == State::Done)
    }

    fn side(&self, flags: u8) -> Vec<u32> {
        let mut side: Vec<&Node> = self.nodes.iter().filter(|n| n.flags == flags && n.state == State::Done).collect();
        side.sort_by_key(|n| (Reverse(n.time), n.processed));
        side.into_iter().filter_map(|n| n.settled).collect()
    }

    /// A commit as the graph names it when the graph has it.
    fn locate(&self, commit: Parent) -> Parent {
        match commit {
            Parent::Id(id) => match self.graph.as_ref().and_then(|g| g.lookup(id)) {
                Some(pos) => Parent::Graph(pos),
                None => Parent::Id(id),
            },
            graph => graph,
        }
    }

    /// The node of a commit the walk has read already.
    fn known(&self, commit: Parent) -> Option<usize> {
        match commit {
            Parent::Graph(pos) => self.by_position.get(&pos.0).copied(),
            Parent::Id(id) => self.by_id.get(&id).copied(),
        }
    }

    /// The node of a commit the walk has read, if it has.
    fn find(&self, commit: Parent) -> Option<usize> {
        self.known(self.locate(commit))
    }

    /// The node for a commit, read from the commit-graph when it has it and from the object otherwise.
    fn load(&mut self, commit: Parent) -> Result<usize, GitError> {
        let commit = self.locate(commit);
        if let Some(i) = self.known(commit) {
            return Ok(i);
        }
        let (id, mut parents, time, generation) = match (commit, self.graph.as_ref()) {
            (Parent::Graph(pos), Some(graph)) => {
                let entry = graph.commit_at(pos);
                let id = entry.id().to_owned();
                let parents = entry
                    .iter_parents()
                    .map(|p| p.map(Parent::Graph))
                    .collect::<Result<Vec<_>, _>>()
                    .map_err(|e| GitError::Other(format!("commit-graph entry for {id}: {e}")))?;
                let time = i64::try_from(entry.committer_timestamp()).unwrap_or(i64::MAX);
                (id, parents, time, entry.generation())
            }
            (Parent::Id(id), _) => {
                let (parents, time) = self.read_object(id)?;
                (id, parents.into_iter().map(Parent::Id).collect(), time, UNKNOWN_GENERATION)
            }
            (Parent::Graph(_), None) => unreachable!("graph positions come from the graph"),
        };
        let shallow = self.shallow.contains(&id);
        if shallow {
            parents.clear();
        }
        let i = self.nodes.len();
        self.nodes.push(Node {
            id,
            parents,
            time,
            generation,
            flags: 0,
            state: State::New,
            shallow,
            processed: 0,
            settled: None,
        });
        match commit {
            Parent::Graph(pos) => self.by_position.insert(pos.0, i),
            Parent::Id(id) => self.by_id.insert(id, i),
        };
        Ok(i)
    }

    /// Parents and committer time of a commit the graph lacks.
    fn read_object(&mut self, id: ObjectId) -> Result<(Vec<ObjectId>, i64), GitError> {
        let corrupt = |reason: String| GitError::Corrupt { id: id.to_string(), reason };
        let data = self
            .repo
            .objects
            .try_find(&id, &mut self.buf)
            .map_err(|e| corrupt(e.to_string()))?
            .ok_or_else(|| GitError::MissingCommit { id: id.to_string() })?;
        if data.kind != gix::object::Kind::Commit {
            return Err(corrupt(format!("expected a commit, found a {}", data.kind)));
        }
        // Read as decoding reads it, as leniently as git: an odd identity line costs at most the commit's time.
        let mut parents = Vec::new();
        let mut bad = None;
        let headers = crate::headers::read(data.data, |hex| match ObjectId::from_hex(hex) {
            Ok(parent) => parents.push(parent),
            Err(_) => bad = Some(format!("invalid parent {:?}", String::from_utf8_lossy(hex))),
        });
        if let Some(reason) = bad {
            return Err(corrupt(reason));
        }
        let time = headers.committer.map_or(0, |committer| crate::headers::time(committer).0);
        Ok((parents, time))
    }
}
