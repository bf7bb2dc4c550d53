//! The range walk against git's own answer (`git rev-list`), on histories built by the tests.

use greenlight_core::KeyRules;
use greenlight_git::{GitError, Repo};
use greenlight_testkit::TestRepo;
use proptest::prelude::*;

fn shas(commits: &[greenlight_core::Commit]) -> Vec<String> {
    commits.iter().map(|c| c.sha.clone()).collect()
}

/// Both sides of `from...to` as greenlight reads them, with the default key rules.
fn read(gl: &Repo, from: &str, to: &str) -> greenlight_git::Range {
    gl.range(gl.resolve(from).unwrap(), gl.resolve(to).unwrap(), &KeyRules::default()).unwrap()
}

/// git's answer for `from..to`, newest first by commit time.
fn rev_list(repo: &TestRepo, from: &str, to: &str) -> Vec<String> {
    let out = repo.git(&["rev-list", "--date-order", to, &format!("^{from}")]);
    out.lines().map(str::to_owned).collect()
}

/// Both sides of the walk must equal git's, in git's order (every commit time differs in these histories).
fn check(repo: &TestRepo, from: &str, to: &str) {
    let gl = Repo::discover(repo.path()).unwrap();
    let range = read(&gl, from, to);
    assert_eq!(shas(&range.added), rev_list(repo, from, to), "added side of {from}..{to}");
    assert_eq!(shas(&range.rolled_back), rev_list(repo, to, from), "rolled-back side of {from}..{to}");
}

#[test]
fn linear_history() {
    let repo = TestRepo::new();
    let base = repo.commit_tree("AB-1 root", &[]);
    let tip = repo.chain(&base, &["AB-2 two", "AB-3 three", "no key"]);
    check(&repo, &base, &tip);
    let gl = Repo::discover(repo.path()).unwrap();
    let range = read(&gl, &base, &tip);
    let subjects: Vec<&str> = range.added.iter().map(|c| c.subject.as_str()).collect();
    assert_eq!(subjects, ["no key", "AB-3 three", "AB-2 two"]);
    let keys: Vec<Vec<&str>> = range.added.iter().map(|c| c.keys.iter().map(|k| k.as_str()).collect()).collect();
    assert_eq!(keys, [vec![], vec!["AB-3"], vec!["AB-2"]]);
    assert_eq!(range.added[0].author, "Ada Lovelace");
    assert_eq!(range.added[0].email, "ada@example.com");
    assert_eq!(range.added[0].time, "2023-11-14T22:17:20+00:00");
}

#[test]
fn merges_octopus_and_criss_cross() {
    let repo = TestRepo::new();
    let root = repo.commit_tree("root", &[]);
    let a = repo.chain(&root, &["a1", "a2"]);
    let b = repo.chain(&root, &["b1"]);
    let c = repo.chain(&root, &["c1", "c2", "c3"]);
    let octopus = repo.commit_tree("Merge branches a, b, c", &[&a, &b, &c]);
    // Criss-cross: x and y each merge the other's parent.
    let x0 = repo.chain(&octopus, &["x0"]);
    let y0 = repo.chain(&octopus, &["y0"]);
    let x = repo.commit_tree("x merges y0", &[&x0, &y0]);
    let y = repo.commit_tree("y merges x0", &[&y0, &x0]);
    let tip = repo.commit_tree("merge x and y", &[&x, &y]);
    for (from, to) in [(&root, &tip), (&a, &tip), (&x, &y), (&y, &x), (&b, &octopus), (&x0, &tip)] {
        check(&repo, from, to);
    }
    let gl = Repo::discover(repo.path()).unwrap();
    let range = read(&gl, &root, &octopus);
    assert!(range.added.iter().find(|c| c.sha == octopus).unwrap().merge);
    assert_eq!(range.added.iter().filter(|c| c.merge).count(), 1);
}

#[test]
fn from_not_an_ancestor_lists_what_would_roll_back() {
    let repo = TestRepo::new();
    let root = repo.commit_tree("root", &[]);
    let production = repo.chain(&root, &["hotfix AB-9"]);
    let deploy = repo.chain(&root, &["AB-1 feature", "AB-2 more"]);
    check(&repo, &production, &deploy);
    let gl = Repo::discover(repo.path()).unwrap();
    let range = read(&gl, &production, &deploy);
    assert_eq!(shas(&range.rolled_back), [production]);
    assert_eq!(range.added.len(), 2);
}

#[test]
fn empty_range_and_same_commit() {
    let repo = TestRepo::new();
    let root = repo.commit_tree("root", &[]);
    let tip = repo.chain(&root, &["one", "two"]);
    let gl = Repo::discover(repo.path()).unwrap();
    let range = read(&gl, &tip, &root);
    assert!(range.added.is_empty());
    assert_eq!(range.rolled_back.len(), 2);
    let same = read(&gl, &tip, &tip);
    assert!(same.added.is_empty() && same.rolled_back.is_empty());
}

#[test]
fn skewed_clocks_are_exact_with_a_commit_graph() {
    let repo = TestRepo::new();
    let root = repo.commit_tree("root", &[]);
    // A commit whose clock ran an hour behind its parent's, on the side that production shares.
    let skewed = {
        let mut cmd = repo.command();
        cmd.env("GIT_COMMITTER_DATE", "@1699990000 +0000");
        let out =
            cmd.args(["commit-tree", greenlight_testkit::EMPTY_TREE, "-p", &root, "-m", "skewed"]).output().unwrap();
        String::from_utf8(out.stdout).unwrap().trim().to_owned()
    };
    let production = repo.chain(&skewed, &["p1"]);
    let deploy = repo.chain(&skewed, &["d1", "d2"]);
    let deploy = repo.commit_tree("merge production", &[&deploy, &production]);
    repo.branch("deploy", &deploy);
    repo.write_commit_graph();
    let gl = Repo::discover(repo.path()).unwrap();
    let range = read(&gl, &production, &deploy);
    let mut got = shas(&range.added);
    let mut want = rev_list(&repo, &production, &deploy);
    got.sort();
    want.sort();
    assert_eq!(got, want);
    assert!(range.rolled_back.is_empty());
}

/// Overwrites the signature at the start of a commit-graph file, as a torn write or a bad disk would.
fn corrupt(path: &std::path::Path) {
    let mut bytes = std::fs::read(path).unwrap();
    bytes[..4].copy_from_slice(b"XXXX");
    std::fs::write(path, bytes).unwrap();
}

#[test]
fn a_corrupt_commit_graph_is_passed_over_as_git_does() {
    let repo = TestRepo::new();
    let root = repo.commit_tree("AB-1 root", &[]);
    let production = repo.chain(&root, &["AB-2 two"]);
    let deploy = repo.chain(&production, &["AB-3 three", "AB-4 four"]);
    let side = repo.chain(&root, &["AB-5 side"]);
    let deploy = repo.commit_tree("Merge side", &[&deploy, &side]);
    repo.branch("deploy", &deploy);
    let info = repo.path().join(".git/objects/info");
    // One file, then a chain of layers: git reports the bad one and reads the objects instead.
    repo.write_commit_graph();
    corrupt(&info.join("commit-graph"));
    check(&repo, &production, &deploy);
    std::fs::remove_file(info.join("commit-graph")).unwrap();
    repo.git(&["commit-graph", "write", "--reachable", "--split"]);
    let layer = std::fs::read_dir(info.join("commit-graphs"))
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .find(|path| path.extension().is_some_and(|ext| ext == "graph"))
        .unwrap();
    corrupt(&layer);
    check(&repo, &production, &deploy);
}

/// A commit with the given committer (and author) time, in seconds since the epoch.
fn commit_at(repo: &TestRepo, message: &str, parents: &[&str], time: i64) -> String {
    let mut cmd = greenlight_testkit::git_command(repo.path(), time);
    cmd.args(["commit-tree", greenlight_testkit::EMPTY_TREE, "-m", message]);
    for parent in parents {
        cmd.args(["-p", parent]);
    }
    let out = cmd.output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).unwrap().trim().to_owned()
}

/// B(2000) <- X(1000) <- Y(200) <- F(210), X <- P(250), T = merge(P, Y) at 300, no commit-graph: X and B, newer
/// than everything that reaches them, are walked from T's side before F's side reaches Y. `deeper` puts R(190)
/// between X and Y. Returns (F, T, P).
fn skewed_ancestor_below_both_tips(deeper: bool) -> (TestRepo, String, String, String) {
    let repo = TestRepo::new();
    let b = commit_at(&repo, "b", &[], 2000);
    let x = commit_at(&repo, "x", &[&b], 1000);
    let below_y = if deeper { commit_at(&repo, "r", &[&x], 190) } else { x.clone() };
    let y = commit_at(&repo, "y", &[&below_y], 200);
    let f = commit_at(&repo, "f production", &[&y], 210);
    let p = commit_at(&repo, "p", &[&x], 250);
    let t = commit_at(&repo, "t deploy", &[&p, &y], 300);
    (repo, f, t, p)
}

#[test]
fn skewed_clocks_without_a_commit_graph_keep_shared_commits_out_of_the_added_side() {
    let (repo, f, t, p) = skewed_ancestor_below_both_tips(false);
    assert_eq!(rev_list(&repo, &f, &t), [t.clone(), p.clone()]);
    check(&repo, &f, &t);
    let range = read(&Repo::discover(repo.path()).unwrap(), &f, &t);
    assert_eq!(shas(&range.added), [t, p]);
}

#[test]
fn skewed_clocks_without_a_commit_graph_keep_shared_commits_out_of_the_rolled_back_side() {
    let (repo, f, t, p) = skewed_ancestor_below_both_tips(false);
    check(&repo, &t, &f);
    let range = read(&Repo::discover(repo.path()).unwrap(), &t, &f);
    assert_eq!(shas(&range.rolled_back), [t, p]);
    assert_eq!(shas(&range.added), [f]);
}

/// As above with R(190) between X and Y: when both tips reach Y, the walk has not read R yet.
#[test]
fn skewed_clocks_without_a_commit_graph_one_commit_deeper() {
    let (repo, f, t, p) = skewed_ancestor_below_both_tips(true);
    assert_eq!(rev_list(&repo, &f, &t), [t.clone(), p]);
    check(&repo, &f, &t);
    check(&repo, &t, &f);
}

/// R(100) <- C(500) <- Q1..Q8 (all at 100) <- F(3000); T(2000) merges Q8 and C. No commit-graph. Once every queued
/// commit is reached by both tips, the Qs still have to be walked down to C to find it (and R) shared: git goes on
/// as long as the next commit is no older than the last one it listed (R, at 100), not just five commits.
#[test]
fn skewed_clocks_without_a_commit_graph_a_long_run_of_equal_times() {
    let repo = TestRepo::new();
    let r = commit_at(&repo, "r", &[], 100);
    let c = commit_at(&repo, "c", &[&r], 500);
    let q = (1..=8).fold(c.clone(), |parent, i| commit_at(&repo, &format!("q{i}"), &[&parent], 100));
    let f = commit_at(&repo, "f production", &[&q], 3000);
    let t = commit_at(&repo, "t deploy", &[&q, &c], 2000);
    assert_eq!(rev_list(&repo, &f, &t), std::slice::from_ref(&t));
    let range = read(&Repo::discover(repo.path()).unwrap(), &f, &t);
    assert_eq!(shas(&range.added), std::slice::from_ref(&t));
    assert_eq!(shas(&range.rolled_back), std::slice::from_ref(&f));
    check(&repo, &f, &t);
    check(&repo, &t, &f);
}

/// Commits read from packs (two of them, with deltified entries) equal the same commits read as loose objects.
#[test]
fn packed_commits_read_as_loose_ones() {
    let repo = TestRepo::new();
    // Long messages that differ in one line: git stores some of these commits as deltas of others.
    let body = "A paragraph that every commit of this history shares. ".repeat(40);
    let commits = |parent: &str, numbers: std::ops::Range<usize>| {
        numbers.fold(parent.to_owned(), |parent, i| {
            repo.commit_tree(&format!("AB-{} change {i}\n\n{body}\nline {i}", i + 1), &[&parent])
        })
    };
    let root = repo.commit_tree("root", &[]);
    let first = commits(&root, 0..60);
    repo.branch("first", &first);
    let second = commits(&first, 60..80);
    repo.branch("second", &second);
    let loose = read(&Repo::discover(repo.path()).unwrap(), &root, &second);
    assert_eq!(loose.added.len(), 80);

    // `first` in one pack (mostly deltas), `second`'s own commits whole in another, and a few loose commits on top.
    repo.git(&["update-ref", "-d", "refs/heads/second"]);
    repo.git(&["repack", "-a", "-d", "-f", "--window=50", "--depth=10"]);
    repo.branch("second", &second);
    repo.git(&["repack", "-d", "--window=0"]);
    let third = commits(&second, 80..85);
    let packs = std::fs::read_dir(repo.path().join(".git/objects/pack")).unwrap();
    assert_eq!(packs.filter(|e| e.as_ref().unwrap().path().extension().unwrap() == "idx").count(), 2);

    let gl = Repo::discover(repo.path()).unwrap();
    assert_eq!(read(&gl, &root, &second).added, loose.added);
    let all = read(&gl, &root, &third);
    assert_eq!(all.added[5..], loose.added[..]);
    check(&repo, &root, &third);
    check(&repo, &third, &first);
}

/// Imports a line of `count` commits on `main` with `git fast-import` (one pack, commits stored as deltas):
/// `commit(i)` gives the `i`th commit's identity line (`Name <email> time zone`, author and committer) and message.
fn import_line(repo: &TestRepo, count: i64, commit: impl Fn(i64) -> (String, String)) {
    let mut stream = String::new();
    for i in 1..=count {
        let (who, message) = commit(i);
        stream.push_str(&format!("commit refs/heads/main\nmark :{i}\nauthor {who}\ncommitter {who}\n"));
        stream.push_str(&format!("data {}\n{message}\n", message.len()));
        if i > 1 {
            stream.push_str(&format!("from :{}\n", i - 1));
        }
    }
    stream.push_str("done\n");
    let mut import = repo.command();
    import.args(["fast-import", "--quiet", "--done"]).stdin(std::process::Stdio::piped());
    let mut child = import.spawn().unwrap();
    std::io::Write::write_all(child.stdin.as_mut().unwrap(), stream.as_bytes()).unwrap();
    assert!(child.wait().unwrap().success());
}

/// A range long enough that the decoding threads read the packs themselves, from a pack `git fast-import` wrote
/// (commits stored as deltas) and after `git repack` (whole commits), against `git log`'s fields.
#[test]
fn long_range_read_from_packs_matches_git_log() {
    let repo = TestRepo::new();
    import_line(&repo, 1500, |i| {
        let message = match i % 4 {
            0 => format!("AB-{i} subject {i}\n\nbody of change {i} ü\n"),
            1 => format!("Subject without key {i}\n\nRefs: CD-{i}\n"),
            2 => format!("EF-{i} and GH-{} in one subject\n", i + 1),
            _ => format!("plain {i}\n"),
        };
        // Offsets other than +0000, which `%cI` writes as `Z` where greenlight writes `+00:00`.
        let who = format!("Dev {} <dev{}@example.com> {} +0{}00", i % 7, i % 5, 1_700_000_000 + i * 60, 1 + i % 3);
        (who, message)
    });

    let fields = |c: &greenlight_core::Commit| format!("{} {} {} {} {}", c.sha, c.author, c.email, c.time, c.subject);
    let from = repo.git(&["rev-parse", "main~1400"]);
    let git_log = repo.git(&["log", "--format=%H %an %ae %cI %s", &format!("{from}..main")]);
    for repack in [false, true] {
        if repack {
            repo.git(&["repack", "-a", "-d", "-f", "--window=0"]);
        }
        let gl = Repo::discover(repo.path()).unwrap();
        let range = read(&gl, &from, "main");
        let ours: Vec<String> = range.added.iter().map(fields).collect();
        assert_eq!(ours.join("\n"), git_log, "repacked: {repack}");
        let keys: Vec<&str> = range.added[0].keys.iter().map(|k| k.as_str()).collect();
        assert_eq!(keys, ["AB-1500"]);
        assert_eq!(range.added.iter().filter(|c| c.keys.is_empty()).count(), 350);
    }
}

/// A commit whose message and author name are in `encoding`'s bytes, with git writing that in its `encoding` header.
fn commit_encoded(repo: &TestRepo, encoding: &str, name: &[u8], message: &[u8], parent: &str) -> String {
    use std::os::unix::ffi::OsStrExt as _;
    let file = repo.path().join(".git/MESSAGE");
    std::fs::write(&file, message).unwrap();
    // One minute after the parent.
    let time = repo.git(&["log", "-1", "--format=%ct", parent]).parse::<i64>().unwrap() + 60;
    let mut cmd = greenlight_testkit::git_command(repo.path(), time);
    cmd.env("GIT_AUTHOR_NAME", std::ffi::OsStr::from_bytes(name));
    cmd.args(["-c", &format!("i18n.commitEncoding={encoding}"), "commit-tree", greenlight_testkit::EMPTY_TREE]);
    cmd.args(["-p", parent, "-F"]).arg(&file);
    let out = cmd.output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).unwrap().trim().to_owned()
}

/// Messages and names in legacy encodings read as `git log` shows them: re-encoded to UTF-8 by the commit's
/// `encoding` header; an encoding nobody knows leaves the bytes as they are.
#[test]
fn messages_in_a_legacy_encoding_are_re_encoded_as_git_log_does() {
    let repo = TestRepo::new();
    let root = repo.commit_tree("root", &[]);
    let latin1 = commit_encoded(
        &repo,
        "ISO-8859-1",
        b"J\xf6rg",
        b"SHOP-1 \xdcbersetzung f\xfcr Gr\xf6\xdfen\n\nK\xe4se\n",
        &root,
    );
    let cp1252 = commit_encoded(&repo, "windows-1252", b"Zo\xeb", b"SHOP-2 \x93quoted\x94 \x80 5\n", &latin1);
    let sjis = commit_encoded(&repo, "Shift_JIS", b"\x93\xfa\x96\x7b", b"SHOP-3 \x93\xfa\x96\x7b\x8c\xea\n", &cp1252);
    let unknown = commit_encoded(&repo, "x-no-such-encoding", b"Ren\xe9", b"SHOP-4 caf\xe9\n", &sjis);
    let utf8 = commit_encoded(&repo, "UTF-8", "Jörg".as_bytes(), "SHOP-5 Größen\n".as_bytes(), &unknown);

    let out = repo.command().args(["log", "--format=%an%x09%s", &format!("{root}..{utf8}")]).output().unwrap();
    let git_log = String::from_utf8_lossy(&out.stdout).trim_end().to_owned();
    assert!(git_log.contains("Jörg\tSHOP-1 Übersetzung für Größen"), "{git_log}");
    let range = read(&Repo::discover(repo.path()).unwrap(), &root, &utf8);
    let ours: Vec<String> = range.added.iter().map(|c| format!("{}\t{}", c.author, c.subject)).collect();
    assert_eq!(ours.join("\n"), git_log);
    let latin1 = range.added.iter().find(|c| c.sha == latin1).unwrap();
    assert!(latin1.message.ends_with("\n\nKäse\n"), "{:?}", latin1.message);
    let keys: Vec<&str> = range.added.iter().map(|c| c.keys[0].as_str()).collect();
    assert_eq!(keys, ["SHOP-5", "SHOP-4", "SHOP-3", "SHOP-2", "SHOP-1"]);
}

/// Subjects are git's `%s`, for messages `git commit` would have tidied but plumbing writes as they are.
#[test]
fn subjects_are_gits_percent_s() {
    let repo = TestRepo::new();
    let root = repo.commit_tree("root", &[]);
    let messages: [&[u8]; 9] = [
        b"\n\nSHOP-2 leading blank lines\n\nbody\n",
        b" \t\n  \nSHOP-3 after whitespace-only lines\n",
        b"SHOP-4 first\n  \nbody that is not the subject\n",
        b"   SHOP-5 indented\n",
        b"SHOP-6 folded\nonto   \n\tone line \t\n\nbody\n",
        b"SHOP-7 no newline at the end",
        b"SHOP-8 carriage\r\nreturns\r\n\r\nbody\r\n",
        b"SHOP-9 vertical\x0b\n\x0c\nform feed\n",
        b"\n \n",
    ];
    let tip = messages
        .iter()
        .fold(root.clone(), |parent, message| commit_encoded(&repo, "UTF-8", b"Ada Lovelace", message, &parent));
    let out = repo.command().args(["log", "--format=%s", &format!("{root}..{tip}")]).output().unwrap();
    let git_log = String::from_utf8(out.stdout).unwrap();
    assert!(git_log.starts_with("\nSHOP-9 vertical\x0b \x0c form feed\n"), "{git_log:?}");
    let range = read(&Repo::discover(repo.path()).unwrap(), &root, &tip);
    let ours: String = range.added.iter().map(|c| format!("{}\n", c.subject)).collect();
    assert_eq!(ours, git_log);
    // Keys come from the whole message, whatever the subject is.
    let keys: Vec<&str> = range.added.iter().flat_map(|c| c.keys.iter().map(|k| k.as_str())).collect();
    assert_eq!(keys, ["SHOP-9", "SHOP-8", "SHOP-7", "SHOP-6", "SHOP-5", "SHOP-4", "SHOP-3", "SHOP-2"]);
}

/// Writes a commit object as given, as `git commit` would refuse to; returns its id.
fn write_literally(repo: &TestRepo, object: &str) -> String {
    let file = repo.path().join(".git/OBJECT");
    std::fs::write(&file, object).unwrap();
    repo.git(&["hash-object", "-t", "commit", "--literally", "-w", file.to_str().unwrap()])
}

/// Each added commit of `from..to` as `sha|author|email|subject`, by `git log` and by greenlight, in their orders;
/// with greenlight's range.
fn identities(repo: &TestRepo, from: &str, to: &str) -> (Vec<String>, Vec<String>, greenlight_git::Range) {
    let git_log = repo.git(&["log", "--format=%H|%an|%ae|%s", &format!("{from}..{to}")]);
    let range = read(&Repo::discover(repo.path()).unwrap(), from, to);
    let ours = range.added.iter().map(|c| format!("{}|{}|{}|{}", c.sha, c.author, c.email, c.subject)).collect();
    (git_log.lines().map(str::to_owned).collect(), ours, range)
}

/// A commit without an author or a committer line (git writes none, but `git log` reads them) is read as git shows
/// it: no name and email, and no time (the epoch), instead of stopping the run.
#[test]
fn commits_without_an_identity_line_are_read_as_git_reads_them() {
    let repo = TestRepo::new();
    let tree = greenlight_testkit::EMPTY_TREE;
    let root = repo.commit_tree("root", &[]);
    let no_author = write_literally(
        &repo,
        &format!("tree {tree}\nparent {root}\ncommitter C <c@x> 1700000100 +0000\n\nSHOP-1 no author\n"),
    );
    let no_committer = write_literally(
        &repo,
        &format!("tree {tree}\nparent {no_author}\nauthor A <a@x> 1700000200 +0000\n\nSHOP-2 no committer\n"),
    );
    let (mut git_log, mut ours, range) = identities(&repo, &root, &no_committer);
    // Listed by commit time, where the commit without one comes last (docs/json.md); git lists the tip first.
    git_log.sort();
    ours.sort();
    assert_eq!(ours, git_log);
    let times: Vec<(&str, &str)> = range.added.iter().map(|c| (c.subject.as_str(), c.time.as_str())).collect();
    assert_eq!(
        times,
        [("SHOP-1 no author", "2023-11-14T22:15:00+00:00"), ("SHOP-2 no committer", "1970-01-01T00:00:00+00:00")]
    );
}

/// Identity lines git tolerates, though its own commands never write them, read as `git log` reads them: no run
/// fails on them, and the walk and decoding agree on every commit's time.
#[test]
fn malformed_identity_lines_are_read_as_git_reads_them() {
    let repo = TestRepo::new();
    let tree = greenlight_testkit::EMPTY_TREE;
    let root = repo.commit_tree("root", &[]);
    let no_brackets = write_literally(
        &repo,
        &format!(
            "tree {tree}\nparent {root}\nauthor A a@x 1700000100 +0000\ncommitter C c@x 1700000100 +0000\n\nSHOP-1 no brackets\n"
        ),
    );
    let trailing = write_literally(
        &repo,
        &format!(
            "tree {tree}\nparent {no_brackets}\nauthor  A  <a@x> 1700000200 +0000 trailing\ncommitter C <c@x> 1700000200 +0130 trailing\n\nSHOP-2 trailing\n"
        ),
    );
    let stray = write_literally(
        &repo,
        &format!(
            "tree {tree}\nparent {trailing}\nauthor A <a>@x> 1700000300 +0000\ncommitter C <c>@x> 1700000300 -0500\n\nSHOP-3 stray\n"
        ),
    );
    let tip = commit_at(&repo, "SHOP-4 normal", &[&stray], 1_700_000_400);

    let (git_log, ours, range) = identities(&repo, &root, &tip);
    assert_eq!(ours, git_log);
    let times: Vec<&str> = range.added.iter().map(|c| c.time.as_str()).collect();
    // A committer time git cannot read (no `>` before it) is 0, as git orders it.
    assert_eq!(
        times,
        [
            "2023-11-14T22:20:00+00:00",
            "2023-11-14T17:18:20-05:00",
            "2023-11-14T23:46:40+01:30",
            "1970-01-01T00:00:00+00:00"
        ]
    );
    check(&repo, &root, &tip);
    check(&repo, &tip, &root);
    check(&repo, &no_brackets, &tip);
}

/// `git replace` holds however long the range: past its 1,024th commit, where decoding reads the packs itself, a
/// replaced commit reads as its replacement, and the walk follows the replacement's parents, as git does.
#[test]
fn replaced_commits_read_as_their_replacements_in_a_long_range() {
    let repo = TestRepo::new();
    import_line(&repo, 1100, |i| {
        (format!("Dev <dev@example.com> {} +0000", 1_700_000_000 + i * 60), format!("AB-{i} change {i}\n"))
    });
    // Every commit whole in one pack, which the decoding threads read themselves.
    repo.git(&["repack", "-a", "-d", "-f", "--window=0"]);

    let root = repo.git(&["rev-parse", "main~1099"]);
    let third = repo.git(&["rev-parse", "main~1097"]);
    // The third commit, replaced by one with another message whose parent is the root: the second drops out.
    let replacement = commit_at(&repo, "AB-9999 the replacement", &[&root], 1_700_000_000 + 3 * 60);
    repo.git(&["replace", &third, &replacement]);

    let gl = Repo::discover(repo.path()).unwrap();
    let range = read(&gl, &root, "main");
    assert_eq!(range.added.len(), 1098);
    let ours: Vec<String> = range.added.iter().map(|c| format!("{} {}", c.sha, c.subject)).collect();
    let git_log = repo.git(&["log", "--format=%H %s", &format!("{root}..main")]);
    let differ = ours.iter().zip(git_log.lines()).find(|(ours, git)| ours != git);
    assert_eq!(differ, None, "greenlight and git log differ");
    assert_eq!(ours.len(), git_log.lines().count());
    let last = range.added.last().unwrap();
    assert_eq!((last.sha.as_str(), last.subject.as_str()), (third.as_str(), "AB-9999 the replacement"));
    assert_eq!(last.keys.iter().map(|k| k.as_str()).collect::<Vec<_>>(), ["AB-9999"]);
    check(&repo, &root, "main");
    // A commit-graph records the original parents; like git, the walk does not use it while replacements exist.
    repo.write_commit_graph();
    check(&repo, &root, "main");
    let range = read(&Repo::discover(repo.path()).unwrap(), &root, "main");
    assert_eq!(range.added.last().unwrap().subject, "AB-9999 the replacement");
}

#[test]
fn resolves_branches_tags_and_relative_revisions() {
    let repo = TestRepo::new();
    let first = repo.commit_file("a.txt", "1", "AB-1 first");
    let second = repo.commit_file("a.txt", "2", "AB-2 second");
    repo.git(&["tag", "-a", "v1", "-m", "release", &first]);
    let gl = Repo::discover(repo.path()).unwrap();
    assert_eq!(gl.resolve("v1").unwrap().to_string(), first);
    assert_eq!(gl.resolve("HEAD~1").unwrap().to_string(), first);
    assert_eq!(gl.resolve("main").unwrap().to_string(), second);
    let err = gl.resolve("no-such-branch").unwrap_err();
    assert!(matches!(err, GitError::UnknownRevision { .. }), "{err}");
    let tree = repo.git(&["rev-parse", "HEAD^{tree}"]);
    let err = gl.resolve(&tree).unwrap_err();
    assert!(matches!(err, GitError::NotACommit { .. }), "{err}");
    assert!(err.to_string().contains("tree"), "{err}");
}

#[test]
fn not_a_repository() {
    let dir = tempfile_dir();
    let err = Repo::discover(dir.path()).err().expect("not a repository");
    assert!(matches!(err, GitError::NotARepository { .. }), "{err}");
}

/// A SHA-256 repository is a git repository greenlight cannot read, and says so.
#[test]
fn sha256_repositories_are_named_as_unsupported() {
    let dir = tempfile_dir();
    let out = greenlight_testkit::git_command(dir.path(), 1_700_000_000)
        .args(["init", "-q", "--object-format=sha256"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let err = Repo::discover(dir.path()).err().expect("greenlight reads SHA-1 repositories only");
    assert!(matches!(err, GitError::Sha256 { .. }), "{err}");
    assert!(err.to_string().contains("SHA-256 repositories are not supported"), "{err}");
    std::fs::create_dir(dir.path().join("sub")).unwrap();
    let err = Repo::discover(&dir.path().join("sub")).err().expect("not read from a subdirectory either");
    assert!(matches!(err, GitError::Sha256 { .. }), "{err}");
}

fn tempfile_dir() -> tempfile::TempDir {
    tempfile::tempdir().unwrap()
}

#[test]
fn shallow_clone_that_lacks_the_range_is_an_error() {
    let origin = TestRepo::new();
    let mut ids = vec![origin.commit_file("f", "0", "AB-1 zero")];
    for i in 1..6 {
        ids.push(origin.commit_file("f", &i.to_string(), &format!("AB-{} step", i + 1)));
    }
    let clone_dir = tempfile_dir();
    let url = format!("file://{}", origin.path().display());
    let out = std::process::Command::new("git")
        .args(["clone", "-q", "--depth", "2", &url])
        .arg(clone_dir.path().join("c"))
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let gl = Repo::discover(&clone_dir.path().join("c")).unwrap();
    let tip = gl.resolve("HEAD").unwrap();
    // Within the fetched depth: fine.
    let range = gl.range(gl.resolve("HEAD~1").unwrap(), tip, &KeyRules::default()).unwrap();
    assert_eq!(range.added.len(), 1);
    // A commit beyond the fetched depth, or a branch a single-branch clone did not fetch, is unknown to the clone,
    // and the message says the clone is shallow.
    let err = gl.resolve(&ids[1]).unwrap_err();
    assert!(matches!(err, GitError::UnknownRevision { shallow: true, .. }), "{err}");
    let err = gl.resolve("origin/production").unwrap_err();
    assert!(err.to_string().contains("shallow clone, which may lack it"), "{err}");
    assert!(err.to_string().contains("fetch-depth: 0"), "{err}");
    let err = Repo::discover(origin.path()).unwrap().resolve("origin/production").unwrap_err();
    assert!(!err.to_string().contains("shallow"), "a full clone says nothing of it: {err}");
    // Root-less side history in the clone itself: its merge base with HEAD lies beyond the boundary.
    let clone = clone_dir.path().join("c");
    let orphan = greenlight_testkit::git_command(&clone, 1_700_000_000)
        .args(["commit-tree", greenlight_testkit::EMPTY_TREE, "-m", "orphan production"])
        .output()
        .unwrap();
    let orphan = String::from_utf8(orphan.stdout).unwrap().trim().to_owned();
    let err = gl.range(gl.resolve(&orphan).unwrap(), tip, &KeyRules::default()).unwrap_err();
    assert!(matches!(err, GitError::ShallowRange { .. }), "{err}");
    assert!(err.to_string().contains("--unshallow"), "{err}");
}

/// A random history: each commit has one to three parents among the commits before it.
fn history() -> impl Strategy<Value = Vec<Vec<usize>>> {
    (2usize..40).prop_flat_map(|n| {
        let parents: Vec<_> = (0..n)
            .map(|i| {
                if i == 0 {
                    Just(Vec::new()).boxed()
                } else {
                    proptest::collection::vec(0..i, 1..=3.min(i))
                        .prop_map(|mut p| {
                            p.dedup();
                            p
                        })
                        .boxed()
                }
            })
            .collect();
        parents
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]

    /// Any two commits of any history, with the commit-graph covering none, part, or all of it.
    #[test]
    fn walk_agrees_with_git(history in history(), picks in (any::<prop::sample::Index>(), any::<prop::sample::Index>()), graph in 0usize..3) {
        let repo = TestRepo::new();
        let mut ids: Vec<String> = Vec::new();
        for (i, parents) in history.iter().enumerate() {
            let parents: Vec<&str> = parents.iter().map(|&p| ids[p].as_str()).collect();
            ids.push(repo.commit_tree(&format!("c{i}"), &parents));
            if graph == 1 && i == history.len() / 2 {
                repo.branch("half", &ids[i]);
                repo.write_commit_graph();
            }
        }
        if graph == 2 {
            repo.branch("all", ids.last().unwrap());
            for (i, id) in ids.iter().enumerate() {
                repo.branch(&format!("t{i}"), id);
            }
            repo.write_commit_graph();
        }
        let from = &ids[picks.0.index(ids.len())];
        let to = &ids[picks.1.index(ids.len())];
        check(&repo, from, to);
    }
}
