//! The `greenlight` binary end to end, on real repositories the tests build.

use std::path::Path;
use std::process::{Command, Output, Stdio};

use greenlight_testkit::TestRepo;
use serde_json::Value;

fn greenlight(dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_greenlight"))
        .current_dir(dir)
        .args(args)
        .env("NO_COLOR", "1")
        .output()
        .expect("greenlight runs")
}

struct Run {
    code: i32,
    stdout: String,
    stderr: String,
}

fn run(dir: &Path, args: &[&str]) -> Run {
    let out = greenlight(dir, args);
    Run {
        code: out.status.code().expect("exited, not killed"),
        stdout: String::from_utf8(out.stdout).expect("utf-8 output"),
        stderr: String::from_utf8(out.stderr).expect("utf-8 errors"),
    }
}

fn json(dir: &Path, args: &[&str]) -> Value {
    let out = run(dir, args);
    assert!(out.code <= 1, "greenlight {args:?} exited {}: {}", out.code, out.stderr);
    serde_json::from_str(&out.stdout).expect("valid JSON")
}

/// "Could not run": exit 2, nothing on stdout, one line on stderr that contains `needle`.
fn check_fails_to_run(dir: &Path, args: &[&str], needle: &str) {
    let out = run(dir, args);
    assert_eq!(out.code, 2, "greenlight {args:?}: {}{}", out.stdout, out.stderr);
    assert_eq!(out.stdout, "");
    assert_eq!(out.stderr.lines().count(), 1, "one line: {}", out.stderr);
    assert!(out.stderr.starts_with("greenlight: error: "), "{}", out.stderr);
    assert!(out.stderr.contains(needle), "expected {needle:?} in {}", out.stderr);
    assert!(!out.stderr.contains("panicked"), "{}", out.stderr);
}

/// A small deploy: production at `prod`, then a feature branch merged, a commit without a key, keys only in a
/// body, a CVE id, lowercase look-alikes and a unicode message.
fn shop() -> (TestRepo, String) {
    let repo = TestRepo::new();
    let prod = repo.commit_file("app.rb", "v1", "SHOP-1 first release");
    repo.git(&["branch", "production"]);
    repo.git(&["checkout", "-q", "-b", "feature"]);
    repo.commit_file("cart.rb", "a", "SHOP-2 add the cart");
    repo.commit_file("cart.rb", "b", "Cart totals round half up\n\nRefs: SHOP-3");
    repo.git(&["checkout", "-q", "main"]);
    repo.commit_file("deps.lock", "x", "Bump openssl for CVE-2024-12345");
    repo.commit_file("readme", "x", "Document utf-8 and sha-256 support");
    repo.commit_file("i18n.yml", "x", "SHOP-4 Übersetzung für Größen ✓ 日本語");
    repo.git(&["merge", "-q", "--no-ff", "feature", "-m", "Merge branch 'feature'"]);
    (repo, prod)
}

#[test]
fn contents_json_snapshot() {
    let (repo, prod) = shop();
    let value = json(repo.path(), &["contents", "--from", &prod, "--format", "json"]);
    insta::assert_json_snapshot!("contents_shop", value);
}

#[test]
fn contents_human_snapshot() {
    let (repo, _) = shop();
    let out = run(repo.path(), &["contents", "--from", "production"]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    insta::assert_snapshot!("contents_shop_human", out.stdout);
}

#[test]
fn contents_names_what_a_deploy_behind_production_would_roll_back() {
    let (repo, prod) = shop();
    // Deploying the first release again, while production runs main: nothing new, six commits taken away.
    let out = run(repo.path(), &["contents", "--from", "main", "--to", &prod]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(out.stdout.contains("0 commits, 0 issues; rolls back 6 commits"), "{}", out.stdout);
    assert!(!out.stdout.contains("nothing to deploy"), "{}", out.stdout);
    assert!(out.stdout.contains("rolls back 6 commits that production"), "{}", out.stdout);
    assert!(out.stdout.contains("SHOP-4 Übersetzung"), "the rolled-back commits are listed: {}", out.stdout);
    let value = json(repo.path(), &["contents", "--from", "main", "--to", &prod, "--format", "json"]);
    assert_eq!(value["commits"].as_array().unwrap().len(), 0);
    let rolled_back = value["rolled_back"].as_array().unwrap();
    assert_eq!(rolled_back.len(), 6);
    assert_eq!(rolled_back[0]["subject"], "Merge branch 'feature'");
    assert_eq!(rolled_back[0]["merge"], true);
    // Already deployed: nothing either way.
    let out = run(repo.path(), &["contents", "--from", "main", "--to", "main"]);
    assert!(out.stdout.contains("nothing to deploy"), "{}", out.stdout);
}

#[test]
fn contents_shows_the_keys_a_merge_names() {
    let repo = TestRepo::new();
    let prod = repo.commit_file("a", "1", "AB-1 one");
    repo.git(&["checkout", "-q", "-b", "feature"]);
    repo.commit_file("b", "1", "AB-2 feature");
    repo.git(&["checkout", "-q", "main"]);
    repo.commit_file("c", "1", "AB-3 main");
    repo.git(&["merge", "-q", "--no-ff", "feature", "-m", "AB-4 merge the feature"]);
    let out = run(repo.path(), &["contents", "--from", &prod]);
    let line = out.stdout.lines().find(|line| line.contains("merge the feature")).unwrap();
    assert!(line.ends_with("AB-4 merge"), "{line}");
}

/// A commit whose subject would erase the terminal line and draw a green PASS, and one whose author's name would set
/// the terminal's title: every output shows their control characters escaped, as `\u{1b}` and `\r`, and never sends
/// them.
#[test]
fn control_characters_from_the_repository_are_shown_escaped() {
    let repo = TestRepo::new();
    repo.commit_file("a", "1", "AB-1 first release");
    repo.git(&["branch", "production"]);
    std::fs::write(repo.path().join("b"), "1").unwrap();
    repo.git(&["add", "b"]);
    let out = repo
        .command()
        .env("GIT_AUTHOR_NAME", "Eve \x1b]0;owned\x07 Mallory")
        .args(["commit", "-q", "--no-verify", "-m", "nokey \x1b[2K\r\x1b[32m  PASS everything fine\x1b[0m"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    repo.commit_file("c", "1", "AB-2 title \x1b]0;deploy ok\x07 set");

    let range = ["--from", "production", "--to", "HEAD", "--color", "never"];
    let outputs =
        [("contents", "human"), ("contents", "json"), ("check", "human"), ("check", "markdown"), ("check", "json")];
    for (verb, format) in outputs {
        let args: Vec<&str> = [verb].into_iter().chain(range).chain(["--format", format]).collect();
        let out = run(repo.path(), &args);
        assert!(out.code <= 1, "greenlight {args:?} exited {}: {}", out.code, out.stderr);
        assert!(
            !out.stdout.contains(['\x1b', '\r', '\x07']),
            "greenlight {args:?} sent control characters: {:?}",
            out.stdout
        );
        if format == "human" {
            assert!(out.stdout.contains(r"\u{1b}[2K\r\u{1b}[32m  PASS everything fine\u{1b}[0m"), "{}", out.stdout);
            assert!(out.stdout.contains(r"Eve \u{1b}]0;owned\u{7} Mallory"), "{}", out.stdout);
        }
    }
    let out = run(repo.path(), &["contents", "--from", "production", "--color", "never"]);
    assert!(out.stdout.contains(r"AB-2 title \u{1b}]0;deploy ok\u{7} set"), "{}", out.stdout);
}

#[test]
fn an_error_says_its_cause_once() {
    let (repo, prod) = shop();
    let dir = repo.path().display().to_string();
    check_fails_to_run(repo.path(), &["check", "--from", &prod, "--config", &dir], "Is a directory");
    let out = run(repo.path(), &["check", "--from", &prod, "--config", &dir]);
    assert_eq!(out.stderr.matches("Is a directory").count(), 1, "{}", out.stderr);
}

#[test]
fn check_fails_on_commits_without_keys() {
    let (repo, _) = shop();
    let out = run(repo.path(), &["check", "--from", "production"]);
    assert_eq!(out.code, 1, "{}", out.stderr);
    insta::assert_snapshot!("check_shop_human", out.stdout);
    let report = json(repo.path(), &["check", "--from", "production", "--format", "json"]);
    insta::assert_json_snapshot!("check_shop", report);
}

#[test]
fn a_reader_that_stops_early_keeps_the_verdict_of_check() {
    let (repo, _) = shop();
    let mut child = Command::new(env!("CARGO_BIN_EXE_greenlight"))
        .current_dir(repo.path())
        .args(["check", "--from", "production"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("greenlight runs");
    // Closed before greenlight has read the repository: its report meets a broken pipe, as under `| head -0`.
    drop(child.stdout.take());
    let out = child.wait_with_output().expect("greenlight ends");
    assert_eq!(out.status.code(), Some(1), "the deny stands: {}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(String::from_utf8_lossy(&out.stderr), "");
}

#[test]
fn check_markdown_for_job_summaries() {
    let (repo, _) = shop();
    let out = run(repo.path(), &["check", "--from", "production", "--format", "markdown"]);
    assert_eq!(out.code, 1);
    assert!(out.stdout.starts_with("### ❌ greenlight: fail\n"), "{}", out.stdout);
    assert!(out.stdout.contains("| `commit-keys` | ❌ fail | 2 of 6 commits name no issue key |"), "{}", out.stdout);
}

#[test]
fn check_passes_when_every_commit_names_a_key() {
    let repo = TestRepo::new();
    let prod = repo.commit_file("a", "1", "AB-1 one");
    repo.commit_file("a", "2", "AB-2 two");
    repo.commit_file("a", "3", "fixup! tidy up");
    let out = run(repo.path(), &["check", "--from", &prod]);
    assert_eq!(out.code, 0, "{}{}", out.stdout, out.stderr);
    let report = json(repo.path(), &["check", "--from", &prod, "--format", "json"]);
    assert_eq!(report["verdict"], "pass");
    assert_eq!(report["checks"][1]["summary"], "all 2 commits name an issue key or are exempt (1 exempt)");
}

#[test]
fn from_that_is_not_an_ancestor_is_a_rollback() {
    let repo = TestRepo::new();
    let root = repo.commit_file("a", "1", "AB-1 one");
    repo.git(&["checkout", "-q", "-b", "production"]);
    repo.commit_file("hotfix", "1", "AB-9 hotfix straight to production");
    repo.commit_file("hotfix", "2", "AB-10 second hotfix");
    repo.git(&["checkout", "-q", "main"]);
    repo.commit_file("a", "2", "AB-2 two");
    let report = json(repo.path(), &["check", "--from", "production", "--format", "json"]);
    assert_eq!(report["verdict"], "fail");
    let ancestry = &report["checks"][0];
    assert_eq!(ancestry["id"], "ancestry");
    assert_eq!(ancestry["outcome"], "fail");
    let finding = &ancestry["findings"][0];
    assert_eq!(finding["code"], "rollback");
    assert_eq!(finding["severity"], "deny");
    assert_eq!(finding["subject"], repo.git(&["rev-parse", "production"]));
    let message = finding["message"].as_str().unwrap();
    assert!(message.contains("would roll back 2 commits"), "{message}");
    assert!(message.contains("\"AB-10 second hotfix\""), "{message}");
    let contents = json(repo.path(), &["contents", "--from", "production", "--format", "json"]);
    assert_eq!(contents["commits"].as_array().unwrap().len(), 1, "only main's own commit ships");
    let _ = root;
}

#[test]
fn empty_range() {
    let repo = TestRepo::new();
    repo.commit_file("a", "1", "AB-1 one");
    let contents = json(repo.path(), &["contents", "--from", "HEAD", "--format", "json"]);
    assert_eq!(contents["commits"], serde_json::json!([]));
    assert_eq!(contents["issues"], serde_json::json!([]));
    assert_eq!(contents["from"], contents["to"]);
    let out = run(repo.path(), &["check", "--from", "HEAD"]);
    assert_eq!(out.code, 0, "{}", out.stdout);
    assert!(out.stdout.contains("no commits to check"), "{}", out.stdout);
}

#[test]
fn a_one_megabyte_message() {
    let repo = TestRepo::new();
    let prod = repo.commit_file("a", "1", "AB-1 one");
    let mut message = String::from("Huge generated changelog\n\n");
    while message.len() < 1 << 20 {
        message.push_str("lorem ipsum dolor sit amet, ünïcödé ✓ utf-8 CVE-2024-0001 abc-12\n");
    }
    message.push_str("\nCloses BIG-77\n");
    let path = repo.path().join("msg.txt");
    std::fs::write(&path, &message).unwrap();
    repo.git(&["commit", "-q", "--allow-empty", "-F", path.to_str().unwrap()]);
    let contents = json(repo.path(), &["contents", "--from", &prod, "--format", "json"]);
    assert_eq!(contents["commits"][0]["keys"], serde_json::json!(["BIG-77"]));
    assert_eq!(contents["commits"][0]["subject"], "Huge generated changelog");
}

#[test]
fn config_sets_production_patterns_and_exemptions() {
    let (repo, _) = shop();
    std::fs::write(
        repo.path().join("greenlight.toml"),
        "[deploy]\nproduction = \"production\"\n\n[keys]\nprojects = [\"SHOP\"]\nignore_case = true\n\n\
         [checks.commit-keys]\nignore = ['^Document ', '^Bump ']\n",
    )
    .unwrap();
    let report = json(repo.path(), &["check", "--format", "json"]);
    assert_eq!(report["verdict"], "pass", "{report}");
    // A disabled check is reported as skipped.
    std::fs::write(
        repo.path().join("greenlight.toml"),
        "[deploy]\nproduction = \"production\"\n[checks.commit-keys]\nenabled = false\n",
    )
    .unwrap();
    let report = json(repo.path(), &["check", "--format", "json"]);
    assert_eq!(report["checks"][1]["outcome"], "skipped");
    assert_eq!(report["verdict"], "pass");
}

#[test]
fn no_production_revision_explains_how_to_set_it() {
    let (repo, _) = shop();
    check_fails_to_run(repo.path(), &["contents"], "[deploy]");
}

#[test]
fn errors_exit_2_with_one_line() {
    let (repo, prod) = shop();
    check_fails_to_run(repo.path(), &["contents", "--from", "nope"], "unknown revision \"nope\"");
    check_fails_to_run(repo.path(), &["check", "--from", &prod, "--to", "deadbeef"], "unknown revision \"deadbeef\"");
    let tree = repo.git(&["rev-parse", "HEAD^{tree}"]);
    check_fails_to_run(repo.path(), &["check", "--from", &tree], "not a commit");
    let not_a_repo = tempfile::tempdir().unwrap();
    check_fails_to_run(not_a_repo.path(), &["check", "--from", "HEAD"], "is not in a git repository");
    check_fails_to_run(
        repo.path(),
        &["check", "--from", &prod, "--config", "missing.toml"],
        "cannot read missing.toml",
    );
    let usage = run(repo.path(), &["check", "--format", "yaml"]);
    assert_eq!(usage.code, 2);
    assert!(usage.stderr.contains("possible values: human, json, markdown"), "{}", usage.stderr);
}

#[test]
fn config_with_an_unknown_key_exits_2_with_its_location() {
    let (repo, prod) = shop();
    std::fs::write(
        repo.path().join("greenlight.toml"),
        "[deploy]\nproduction = \"production\"\n\n[keys]\npatern = []\n",
    )
    .unwrap();
    let out = run(repo.path(), &["check", "--from", &prod]);
    assert_eq!(out.code, 2);
    let expect = "greenlight: error: greenlight.toml:5:1: unknown field `patern`, expected one of `patterns`, `projects`, `github`, `ignore_case`\n";
    assert_eq!(out.stderr, expect);
    let elsewhere = run(repo.path().parent().unwrap(), &["check", "--repo", repo.path().to_str().unwrap()]);
    assert!(
        elsewhere.stderr.contains(&format!("{}:5:1", repo.path().join("greenlight.toml").display())),
        "{}",
        elsewhere.stderr
    );
}

#[test]
fn shallow_clone_that_lacks_the_range_exits_2() {
    let (origin, _) = shop();
    let dir = tempfile::tempdir().unwrap();
    let url = format!("file://{}", origin.path().display());
    let status = Command::new("git")
        .args(["clone", "-q", "--depth", "1", "--no-single-branch", &url, "clone"])
        .current_dir(dir.path())
        .status()
        .unwrap();
    assert!(status.success());
    let clone = dir.path().join("clone");
    check_fails_to_run(&clone, &["check", "--from", "origin/production"], "shallow clone");
    check_fails_to_run(&clone, &["contents", "--from", "HEAD~1"], "unknown revision");
}

#[test]
fn init_writes_a_template_that_check_accepts() {
    let (repo, _) = shop();
    let out = run(repo.path(), &["init"]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    let written = std::fs::read_to_string(repo.path().join("greenlight.toml")).unwrap();
    assert!(written.contains("[checks.commit-keys]"));
    check_fails_to_run(repo.path(), &["init"], "already exists");
    // The template names origin/production, which this repository lacks: the error names that revision.
    check_fails_to_run(repo.path(), &["check"], "unknown revision \"origin/production\"");
    check_fails_to_run(repo.path(), &["check"], "it is `production` under [deploy] in the config");
    let out = run(repo.path(), &["check", "--from", "production", "--format", "json"]);
    assert_eq!(out.code, 1, "{}", out.stderr);
}

/// A `greenlight.toml` that is a symbolic link would have `init` write wherever it points, outside the repository
/// too: `init` refuses, with or without `--force`, and names the link and its target.
#[test]
fn init_never_writes_through_a_symbolic_link() {
    let (repo, _) = shop();
    let outside = tempfile::tempdir().unwrap();
    let link = repo.path().join("greenlight.toml");

    // Dangling: the target does not exist, and is not created.
    let target = outside.path().join("created-by-init");
    std::os::unix::fs::symlink(&target, &link).unwrap();
    for args in [&["init"][..], &["init", "--force"]] {
        check_fails_to_run(repo.path(), args, "greenlight.toml is a symbolic link");
        check_fails_to_run(repo.path(), args, &target.display().to_string());
        assert!(!target.exists(), "greenlight {args:?} created the link's target");
    }

    // Pointing at a file: the file keeps its contents.
    let target = outside.path().join("precious");
    std::fs::write(&target, "keep me\n").unwrap();
    std::fs::remove_file(&link).unwrap();
    std::os::unix::fs::symlink(&target, &link).unwrap();
    for args in [&["init"][..], &["init", "--force"]] {
        check_fails_to_run(repo.path(), args, "greenlight.toml is a symbolic link");
        check_fails_to_run(repo.path(), args, &target.display().to_string());
        assert_eq!(std::fs::read_to_string(&target).unwrap(), "keep me\n", "greenlight {args:?}");
    }
    assert!(std::fs::symlink_metadata(&link).unwrap().file_type().is_symlink(), "the link is left as it was");
}

fn commit_with_hook(repo: &TestRepo, message: &str) -> Output {
    std::fs::write(repo.path().join("change.txt"), message).unwrap();
    repo.git(&["add", "change.txt"]);
    repo.command().args(["commit", "-q", "-m", message]).output().unwrap()
}

#[test]
fn commit_msg_hook_rejects_messages_without_keys() {
    let repo = TestRepo::new();
    repo.commit_file("a", "1", "AB-1 one");
    let out = run(repo.path(), &["hook", "install"]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(out.stderr.contains("installed"), "{}", out.stderr);

    let rejected = commit_with_hook(&repo, "fix the thing");
    assert!(!rejected.status.success());
    let stderr = String::from_utf8_lossy(&rejected.stderr);
    assert!(stderr.contains("names no issue key"), "{stderr}");
    assert!(stderr.contains("ABC-123 Fix rounding"), "{stderr}");
    assert!(stderr.contains("--no-verify"), "{stderr}");

    assert!(commit_with_hook(&repo, "AB-2 fix the thing").status.success());
    assert!(commit_with_hook(&repo, "Tidy up\n\nPart of AB-2").status.success());
    assert!(commit_with_hook(&repo, "fixup! AB-2 fix the thing").status.success());
    assert!(!commit_with_hook(&repo, "Fix CVE-2024-12345").status.success());

    // The repository's own rules apply: a project allow-list, then merges and reverts no longer exempt.
    std::fs::write(repo.path().join("greenlight.toml"), "[keys]\nprojects = [\"XY\"]\n").unwrap();
    assert!(!commit_with_hook(&repo, "AB-3 wrong project").status.success());
    let stderr = String::from_utf8_lossy(&commit_with_hook(&repo, "no key").stderr).to_string();
    assert!(stderr.contains("XY-123"), "the example uses the allowed project: {stderr}");
    assert!(commit_with_hook(&repo, "XY-3 right project").status.success());

    // Reinstalling updates our own hook in place.
    let out = run(repo.path(), &["hook", "install"]);
    assert!(out.stderr.contains("updated"), "{}", out.stderr);
}

/// Commits `message` typed into the editor git opens, so that git writes its comment lines around it.
fn commit_in_editor(repo: &TestRepo, message: &str) -> Output {
    std::fs::write(repo.path().join("change.txt"), message).unwrap();
    repo.git(&["add", "change.txt"]);
    // The editor writes the message on the template's first line, above git's comments.
    let editor = format!("sed -i '1s/^$/{message}/'");
    repo.command().args(["commit", "-q"]).env("GIT_EDITOR", editor).output().unwrap()
}

#[test]
fn commit_msg_hook_reads_git_comments_with_the_configured_comment_character() {
    let repo = TestRepo::new();
    repo.commit_file("a", "1", "AB-1 one");
    // git's template names the branch in a comment: "On branch AB-3-login".
    repo.git(&["checkout", "-q", "-b", "AB-3-login"]);
    assert_eq!(run(repo.path(), &["hook", "install"]).code, 0);
    assert!(!commit_in_editor(&repo, "fix the thing").status.success(), "`#` comments are not message");
    repo.git(&["config", "core.commentChar", ";"]);
    let rejected = commit_in_editor(&repo, "fix the thing");
    assert!(!rejected.status.success(), "`;` comments are not message either");
    assert!(String::from_utf8_lossy(&rejected.stderr).contains("names no issue key"));
    assert!(commit_in_editor(&repo, "AB-4 fix the thing").status.success());
}

#[test]
fn commit_msg_hook_in_a_linked_worktree_names_the_file_git_kept() {
    let repo = TestRepo::new();
    repo.commit_file("a", "1", "AB-1 one");
    assert_eq!(run(repo.path(), &["hook", "install"]).code, 0);
    let worktree = repo.path().join("wt");
    repo.git(&["worktree", "add", "-q", "-b", "wt", worktree.to_str().unwrap()]);
    std::fs::write(worktree.join("b"), "1").unwrap();
    let git = |args: &[&str]| repo.command().current_dir(&worktree).args(args).output().unwrap();
    assert!(git(&["add", "b"]).status.success());
    let rejected = git(&["commit", "-q", "-m", "fix the thing"]);
    assert!(!rejected.status.success());
    let stderr = String::from_utf8_lossy(&rejected.stderr);
    let kept = stderr.split("Your message was kept in ").nth(1).and_then(|rest| rest.split(": `").next()).unwrap();
    // `.git` is a file in a linked worktree: the path is the one git gave the hook, and it holds the message.
    assert!(!kept.starts_with(".git/"), "{stderr}");
    assert_eq!(std::fs::read_to_string(kept).unwrap().trim(), "fix the thing");
}

#[test]
fn commit_msg_hook_suggests_a_message_the_teams_own_pattern_accepts() {
    let repo = TestRepo::new();
    repo.commit_file("a", "1", "#1 one");
    std::fs::write(repo.path().join("greenlight.toml"), "[keys]\npatterns = ['#(\\d+)']\n").unwrap();
    assert_eq!(run(repo.path(), &["hook", "install"]).code, 0);
    let stderr = String::from_utf8_lossy(&commit_with_hook(&repo, "nothing").stderr).to_string();
    assert!(stderr.contains("    #123 Fix rounding in the cart total"), "{stderr}");
    assert!(commit_with_hook(&repo, "#123 Fix rounding in the cart total").status.success());
}

#[test]
fn init_and_hook_install_refuse_places_where_they_would_do_nothing() {
    let plain = tempfile::tempdir().unwrap();
    check_fails_to_run(plain.path(), &["init"], "is not in a git repository");
    assert!(!plain.path().join("greenlight.toml").exists());
    let repo = TestRepo::new();
    repo.commit_file("a", "1", "AB-1 one");
    let bare = plain.path().join("bare.git");
    repo.git(&["clone", "-q", "--bare", ".", bare.to_str().unwrap()]);
    check_fails_to_run(&bare, &["init"], "is a bare repository");
    check_fails_to_run(&bare, &["hook", "install"], "is a bare repository");
    assert!(!bare.join("greenlight.toml").exists());
    assert!(!bare.join("hooks/commit-msg").exists());
}

#[test]
fn commit_msg_hook_allows_a_merge_in_progress() {
    let repo = TestRepo::new();
    repo.commit_file("a", "1", "AB-1 one");
    repo.git(&["checkout", "-q", "-b", "side"]);
    repo.commit_file("b", "1", "AB-2 side");
    repo.git(&["checkout", "-q", "main"]);
    repo.commit_file("c", "1", "AB-3 main");
    assert_eq!(run(repo.path(), &["hook", "install"]).code, 0);
    let merge = repo.command().args(["merge", "-q", "--no-ff", "side", "-m", "Combine side work"]).output().unwrap();
    assert!(merge.status.success(), "{}", String::from_utf8_lossy(&merge.stderr));
}

#[test]
fn hook_install_never_overwrites_a_foreign_hook_silently() {
    let repo = TestRepo::new();
    repo.commit_file("a", "1", "AB-1 one");
    let hooks = repo.path().join(".git/hooks");
    std::fs::create_dir_all(&hooks).unwrap();
    std::fs::write(hooks.join("commit-msg"), "#!/bin/sh\necho team hook\n").unwrap();
    check_fails_to_run(repo.path(), &["hook", "install"], "already exists");
    assert_eq!(std::fs::read_to_string(hooks.join("commit-msg")).unwrap(), "#!/bin/sh\necho team hook\n");
    let out = run(repo.path(), &["hook", "install", "--force"]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert_eq!(std::fs::read_to_string(hooks.join("commit-msg.backup")).unwrap(), "#!/bin/sh\necho team hook\n");
    assert!(std::fs::read_to_string(hooks.join("commit-msg")).unwrap().contains("greenlight commit-msg hook"));
}

#[test]
fn hook_install_honours_core_hooks_path() {
    let repo = TestRepo::new();
    repo.commit_file("a", "1", "AB-1 one");
    repo.git(&["config", "core.hooksPath", "githooks"]);
    assert_eq!(run(repo.path(), &["hook", "install"]).code, 0);
    assert!(repo.path().join("githooks/commit-msg").exists());
    assert!(!commit_with_hook(&repo, "no key").status.success());
}

/// A repository whose deploy names two Jira keys, with a `[tracker]` pointing at `url`.
fn tracked_repo(url: &str) -> (TestRepo, String) {
    let repo = TestRepo::new();
    let prod = repo.commit_file("a", "1", "SHOP-1 one");
    repo.commit_file("a", "2", "SHOP-2 two");
    repo.commit_file("a", "3", "SHOP-3 three");
    std::fs::write(
        repo.path().join("greenlight.toml"),
        format!(
            "[tracker]\nkind = \"jira-cloud\"\nurl = \"{url}\"\nuser_env = \"GL_TEST_JIRA_USER\"\n\
             token_env = \"GL_TEST_JIRA_TOKEN\"\nready_statuses = [\"Ready to Deploy\"]\n"
        ),
    )
    .unwrap();
    (repo, prod)
}

/// `greenlight check --format json` with the Jira credentials set: the exit code and the report.
fn check_with_jira(repo: &TestRepo, from: &str) -> (i32, Value) {
    let out = Command::new(env!("CARGO_BIN_EXE_greenlight"))
        .current_dir(repo.path())
        .env("GL_TEST_JIRA_USER", "ada@example.com")
        .env("GL_TEST_JIRA_TOKEN", "secret-token")
        .env("NO_COLOR", "1")
        .args(["check", "--from", from, "--format", "json"])
        .output()
        .unwrap();
    let code = out.status.code().expect("exited, not killed");
    let report = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("no JSON report ({e}): {}", String::from_utf8_lossy(&out.stderr)));
    (code, report)
}

/// The result of check `id` in a JSON report.
fn check_result<'a>(report: &'a Value, id: &str) -> &'a Value {
    report["checks"].as_array().unwrap().iter().find(|c| c["id"] == id).unwrap()
}

/// A port on loopback that nothing listens on.
fn closed_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap().port()
}

#[test]
fn an_unreachable_tracker_is_an_error_never_a_pass() {
    let url = format!("http://127.0.0.1:{}", closed_port());
    let (repo, prod) = tracked_repo(&url);
    let (code, report) = check_with_jira(&repo, &prod);
    assert_eq!(code, 2, "{report}");
    assert_eq!(report["verdict"], "error");
    let exists = check_result(&report, "issue-exists");
    assert_eq!(exists["outcome"], "error");
    assert!(exists["summary"].as_str().unwrap().contains(&url), "{exists}");
    assert!(exists["summary"].as_str().unwrap().contains(": connection refused (os error 111)"), "the cause: {exists}");
}

#[test]
fn offline_skips_the_tracker_checks() {
    let url = format!("http://127.0.0.1:{}", closed_port());
    let (repo, prod) = tracked_repo(&url);
    let report = json(repo.path(), &["check", "--from", &prod, "--offline", "--format", "json"]);
    assert_eq!(report["verdict"], "pass", "{report}");
    for id in ["issue-exists", "issue-status", "issue-fields", "ready-issues"] {
        let check = check_result(&report, id);
        assert_eq!(check["outcome"], "skipped", "{check}");
    }
}

#[test]
fn a_missing_credential_names_its_variable() {
    let url = format!("http://127.0.0.1:{}", closed_port());
    let (repo, prod) = tracked_repo(&url);
    let out = run(repo.path(), &["check", "--from", &prod, "--format", "json"]);
    assert_eq!(out.code, 2);
    let report: Value = serde_json::from_str(&out.stdout).unwrap();
    let exists = check_result(&report, "issue-exists");
    assert!(exists["summary"].as_str().unwrap().contains("GL_TEST_JIRA_USER is not set"), "{exists}");
}

#[test]
fn unauthorized_names_the_credential_variables() {
    // A one-shot tracker that answers every request with 401.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let server = std::thread::spawn(move || {
        use std::io::{Read as _, Write as _};
        listener.set_nonblocking(false).unwrap();
        for stream in listener.incoming().take(8) {
            let Ok(mut stream) = stream else { break };
            let mut buf = [0u8; 16384];
            let _ = stream.read(&mut buf);
            let body = r#"{"errorMessages":["unauthorized"]}"#;
            let _ = write!(
                stream,
                "HTTP/1.1 401 Unauthorized\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                body.len()
            );
        }
    });
    let (repo, prod) = tracked_repo(&url);
    let (code, report) = check_with_jira(&repo, &prod);
    assert_eq!(code, 2, "{report}");
    let exists = check_result(&report, "issue-exists");
    let summary = exists["summary"].as_str().unwrap();
    assert!(summary.contains("GL_TEST_JIRA_TOKEN"), "{summary}");
    drop(server);
}

/// A small Jira Cloud on loopback: answers `bulkfetch` with the issues it holds, `issue/{key}` with one of them (404
/// for a key it does not hold) and `search/jql` with the ready ones, one connection at a time, for at most
/// `requests` requests.
fn fake_jira_cloud(issues: Vec<Value>, ready: Vec<Value>, requests: usize) -> String {
    use std::io::{BufRead as _, BufReader, Read as _, Write as _};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    std::thread::spawn(move || {
        for stream in listener.incoming().take(requests) {
            let Ok(mut stream) = stream else { break };
            let mut reader = BufReader::new(stream.try_clone().unwrap());
            let mut request_line = String::new();
            reader.read_line(&mut request_line).unwrap();
            let mut length = 0;
            loop {
                let mut line = String::new();
                reader.read_line(&mut line).unwrap();
                if line.trim().is_empty() {
                    break;
                }
                if let Some((name, value)) = line.split_once(':')
                    && name.eq_ignore_ascii_case("content-length")
                {
                    length = value.trim().parse().unwrap();
                }
            }
            let mut body = vec![0; length];
            reader.read_exact(&mut body).unwrap();
            let body: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
            let target = request_line.split_whitespace().nth(1).unwrap_or_default();
            let one = target.strip_prefix("/rest/api/3/issue/").filter(|_| request_line.starts_with("GET "));
            let (status, answer) = if let Some(key) = one.and_then(|rest| rest.split('?').next()) {
                match issues.iter().find(|i| i["key"] == key) {
                    Some(issue) => ("200 OK", issue.clone()),
                    None => {
                        ("404 Not Found", serde_json::json!({"errorMessages": ["Issue does not exist"], "errors": {}}))
                    }
                }
            } else if request_line.contains("/rest/api/3/issue/bulkfetch") {
                let wanted: Vec<&str> =
                    body["issueIdsOrKeys"].as_array().unwrap().iter().map(|k| k.as_str().unwrap()).collect();
                let found: Vec<&Value> =
                    issues.iter().filter(|i| wanted.contains(&i["key"].as_str().unwrap())).collect();
                ("200 OK", serde_json::json!({"issues": found, "issueErrors": []}))
            } else if request_line.contains("/rest/api/3/search/jql") {
                ("200 OK", serde_json::json!({"issues": ready}))
            } else {
                ("200 OK", serde_json::json!([]))
            };
            let answer = answer.to_string();
            let _ = write!(
                stream,
                "HTTP/1.1 {status}\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{answer}",
                answer.len()
            );
        }
    });
    url
}

fn jira_issue(key: &str, status: &str, issue_type: &str, parent: Option<&str>) -> Value {
    let mut fields = serde_json::json!({
        "summary": format!("work on {key}"),
        "status": {"name": status},
        "issuetype": {"name": issue_type, "subtask": parent.is_some()},
    });
    if let Some(parent) = parent {
        fields["parent"] = serde_json::json!({"key": parent});
    }
    serde_json::json!({"id": "1", "key": key, "fields": fields})
}

#[test]
fn tracker_checks_end_to_end() {
    let issues = vec![
        jira_issue("SHOP-1", "Done", "Story", None),
        jira_issue("SHOP-2", "Ready to Deploy", "Story", None),
        jira_issue("SHOP-3", "Ready to Deploy", "Sub-task", Some("SHOP-9")),
        jira_issue("SHOP-9", "In Review", "Story", None),
    ];
    let ready = vec![
        jira_issue("SHOP-2", "Ready to Deploy", "Story", None),
        jira_issue("SHOP-7", "Ready to Deploy", "Bug", None),
    ];
    let url = fake_jira_cloud(issues, ready, 16);
    let (repo, prod) = tracked_repo(&url);
    repo.commit_file("a", "4", "SHOP-404 typo in the key");
    let (code, report) = check_with_jira(&repo, &prod);
    assert_eq!(code, 1, "{report}");
    let findings: Vec<(String, String)> = report["checks"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|c| c["findings"].as_array().unwrap().iter())
        .map(|f| (f["code"].as_str().unwrap().to_owned(), f["subject"].as_str().unwrap().to_owned()))
        .collect();
    let expect =
        [("issue-not-found", "SHOP-404"), ("issue-wrong-status", "SHOP-9"), ("ready-issue-not-in-deploy", "SHOP-7")];
    assert_eq!(findings, expect.map(|(c, s)| (c.to_owned(), s.to_owned())), "{report}");
    // The issue list carries the tracker's facts and brings in the sub-task's parent.
    let issues: Vec<(&str, &str)> = report["issues"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| (i["key"].as_str().unwrap(), i["status"].as_str().unwrap_or("-")))
        .collect();
    assert_eq!(
        issues,
        [("SHOP-2", "Ready to Deploy"), ("SHOP-3", "Ready to Deploy"), ("SHOP-9", "In Review"), ("SHOP-404", "-")]
    );
    assert_eq!(report["issues"][1]["parent"], "SHOP-9");
    assert_eq!(report["issues"][2]["commits"], serde_json::json!([]));
}
