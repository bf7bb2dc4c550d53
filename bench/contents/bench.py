#!/usr/bin/env python3
"""Benchmark: `greenlight contents` against git's own pipeline, on a synthetic 200,000-commit repository.

Builds the repository once with `git fast-import` (keys in most messages, a merged side branch every ten mainline
commits) and `git gc` (which writes the commit-graph), caches it under bench/work/, then times in one run:

  greenlight contents --format json   on a ~20,000-commit range
  git log --format=%H%n%B FROM..TO | grep -oE '<key regex>' | sort -u   on the same range

and the same greenlight command on a ~100-commit range, to show that cost follows the range, not the repository.
The three commands take turns in each round. Prints median wall and CPU times (user + system, every thread and
process of the command) and ratios. Usage: bench/contents/bench.py [--binary PATH] [--runs N]
"""

import argparse
import os
import random
import resource
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
WORK = ROOT / "bench" / "work"
REPO = WORK / "synthetic-200k.git"
TOTAL = 200_000
PROJECTS = ["SHOP", "PAY", "CORE", "WEB", "OPS", "DATA_2"]
KEY_REGEX = r"\b[A-Z][A-Z0-9_]+-[1-9][0-9]*\b"
GIT_ENV = {**os.environ, "GIT_CONFIG_GLOBAL": "/dev/null", "GIT_CONFIG_NOSYSTEM": "1"}


def message(rng: random.Random, n: int) -> str:
    key = f"{rng.choice(PROJECTS)}-{rng.randint(1, 9999)}"
    roll = rng.random()
    words = " ".join(rng.choice(["fix", "add", "cart", "totals", "refactor", "api", "retry", "cache", "utf-8"])
                     for _ in range(rng.randint(3, 8)))
    if roll < 0.80:
        return f"{key} {words}\n\nChange {n}: {words}.\n"
    if roll < 0.92:
        return f"{words.capitalize()}\n\nMore context for change {n}.\n\nRefs: {key}\n"
    if roll < 0.96:
        return f"Bump openssl for CVE-2024-{rng.randint(1000, 99999)}\n"
    return f"{words.capitalize()}\n"


def fast_import_stream(out):
    """Writes the stream: mainline commits, and every 10th a 3-commit side branch merged back."""
    rng = random.Random(42)
    mark = 0
    when = 1_600_000_000
    main_tip = None
    made = 0

    def commit(ref, parents, msg):
        nonlocal mark, when, made
        mark += 1
        when += 60
        made += 1
        data = msg.encode()
        out.write(f"commit {ref}\nmark :{mark}\n".encode())
        who = f"Dev {rng.randint(1, 40)} <dev{rng.randint(1, 40)}@example.com> {when} +0000\n"
        out.write(f"author {who}committer {who}".encode())
        out.write(f"data {len(data)}\n".encode() + data + b"\n")
        if parents:
            out.write(f"from :{parents[0]}\n".encode())
            for p in parents[1:]:
                out.write(f"merge :{p}\n".encode())
        content = f"{made}\n".encode()
        out.write(f"M 100644 inline src/file{made % 50}.txt\ndata {len(content)}\n".encode() + content + b"\n")
        return mark

    while made < TOTAL:
        main_tip = commit("refs/heads/main", [main_tip] if main_tip else [], message(rng, made))
        if made % 10 == 0 and made + 5 < TOTAL:
            fork = main_tip
            side = fork
            for _ in range(3):
                side = commit("refs/heads/side", [side], message(rng, made))
            main_tip = commit("refs/heads/main", [main_tip], message(rng, made))
            main_tip = commit("refs/heads/main", [main_tip, side], f"Merge branch 'side-{made}'\n")
    out.write(b"done\n")


def git(*args, capture=True):
    return subprocess.run(["git", "-C", str(REPO), *args], env=GIT_ENV, check=True,
                          capture_output=capture, text=True).stdout


def build_repo():
    if (REPO / "objects" / "info" / "commit-graph").exists() or (REPO / "objects" / "info" / "commit-graphs").exists():
        return
    shutil.rmtree(REPO, ignore_errors=True)
    WORK.mkdir(parents=True, exist_ok=True)
    subprocess.run(["git", "init", "-q", "--bare", str(REPO)], env=GIT_ENV, check=True)
    print(f"building {REPO} ({TOTAL} commits) ...", file=sys.stderr)
    proc = subprocess.Popen(["git", "-C", str(REPO), "fast-import", "--quiet", "--done"], stdin=subprocess.PIPE,
                            env=GIT_ENV)
    fast_import_stream(proc.stdin)
    proc.stdin.close()
    if proc.wait() != 0:
        sys.exit("git fast-import failed")
    git("branch", "-D", "side")
    git("gc", "--quiet")
    assert (REPO / "objects" / "info" / "commit-graph").exists(), "git gc wrote no commit-graph"


def first_parent_back(tip: str, want: int) -> str:
    """The first-parent ancestor of tip whose range to tip holds about `want` commits."""
    line = git("rev-list", "--first-parent", "--max-count", str(want), tip).split()
    lo, hi = 1, len(line) - 1
    while lo < hi:  # binary search on the range size, which grows with the distance
        mid = (lo + hi) // 2
        if int(git("rev-list", "--count", f"{line[mid]}..{tip}")) < want:
            lo = mid + 1
        else:
            hi = mid
    return line[lo]


def run_once(cmd) -> tuple[float, float]:
    """Wall time, and CPU time (user + system, all threads and processes of the command)."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, env=GIT_ENV)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return wall, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def timed(cmds, runs: int):
    """Median wall and CPU time of each command. The commands take turns, round after round, so that a change in the
    machine's load falls on all of them alike instead of on whichever happened to run then."""
    for cmd in cmds:
        run_once(cmd)  # warm the page cache
    times = [[] for _ in cmds]
    for _ in range(runs):
        for cmd, series in zip(cmds, times):
            series.append(run_once(cmd))
    return [(statistics.median(w for w, _ in series), statistics.median(c for _, c in series)) for series in times]


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--binary", default=str(ROOT / "target" / "release" / "greenlight"))
    parser.add_argument("--runs", type=int, default=15)
    args = parser.parse_args()
    build_repo()
    tip = git("rev-parse", "main").strip()
    total = int(git("rev-list", "--count", tip))
    big_from = first_parent_back(tip, 20_000)
    small_from = first_parent_back(tip, 100)
    big = int(git("rev-list", "--count", f"{big_from}..{tip}"))
    small = int(git("rev-list", "--count", f"{small_from}..{tip}"))

    def gl(frm):
        return [args.binary, "contents", "--repo", str(REPO), "--from", frm, "--to", tip, "--format", "json"]

    # Same answer first: the set of keys must agree with git's pipeline.
    import json
    ours = sorted({k for c in json.loads(subprocess.run(gl(big_from), check=True, capture_output=True).stdout)["commits"]
                   for k in c["keys"]})
    pipeline = (f"git -C {REPO} log --format=%H%n%B {big_from}..{tip} | grep -oE '{KEY_REGEX}' | sort -u")
    theirs = subprocess.run(["bash", "-c", pipeline], check=True, capture_output=True, text=True, env=GIT_ENV).stdout.split()
    theirs = [k for k in theirs if not k.startswith("CVE-")]
    if ours != theirs:
        sys.exit(f"key sets differ: {len(ours)} keys from greenlight, {len(theirs)} from git")

    (t_git, c_git), (t_big, c_big), (t_small, c_small) = timed(
        [["bash", "-c", pipeline], gl(big_from), gl(small_from)], args.runs)
    print(f"repository: {total} commits, commit-graph written by git gc; {len(ours)} distinct keys in the big range")
    print(f"{'command':<48} {'commits':>8} {'median':>9} {'CPU':>9}")
    print(f"{'git log | grep -oE | sort -u':<48} {big:>8} {t_git * 1000:>7.1f}ms {c_git * 1000:>7.1f}ms")
    print(f"{'greenlight contents --format json':<48} {big:>8} {t_big * 1000:>7.1f}ms {c_big * 1000:>7.1f}ms")
    print(f"{'greenlight contents --format json':<48} {small:>8} {t_small * 1000:>7.1f}ms {c_small * 1000:>7.1f}ms")
    print(f"ratio greenlight / git on {big} commits: {t_big / t_git:.2f}x (target <= 0.5x); CPU time {c_big / c_git:.2f}x")
    print(f"ratio {small}-commit range / {big}-commit range: {t_small / t_big:.3f}")
    print(f"load average at the end: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")


if __name__ == "__main__":
    main()
