#!/usr/bin/env python3
"""Push to final status for 1,000-commit deploys: the driver behind bench/serve/push_to_status.sh.

Builds a bare repository (production: one commit; deploy: --commits commits ahead, an issue key in most messages),
starts a fake GitHub status API on 127.0.0.1 that records when each status arrives, runs `greenlight serve` (SQLite,
durability on) against both, then sends --pushes signed push webhooks, one at a time: each is a new commit on top of
the deploy branch (so each deploy holds at least --commits commits), and the next is sent only after the previous
one's final status arrived, so no push supersedes another. Reports p50/p99/max of the time from sending a webhook to
its commit's final (non-pending) status arriving, and the same for the acknowledgement and the pending status.

One push before the measured ones is not counted: it makes the server's mirror clone (reported as "cold").
"""

import argparse
import hashlib
import hmac
import http.client
import http.server
import json
import os
import signal
import socket
import statistics
import subprocess
import sys
import threading
import time

SECRET = b"bench secret"
REPO = "acme/shop"


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def git(repo, *args, stdin=None):
    out = subprocess.run(["git", "-C", repo, *args], input=stdin, capture_output=True, check=True)
    return out.stdout.decode().strip()


def build_remote(path, commits):
    """A bare repository: production (one commit) and deploy, `commits` commits ahead of it."""
    subprocess.run(["git", "init", "-q", "--bare", "-b", "production", path], check=True)
    lines = []
    stamp = 1_700_000_000

    def commit(ref, mark, parent, message, files):
        nonlocal stamp
        stamp += 60
        data = message.encode()
        lines.append(f"commit {ref}\nmark :{mark}\n")
        lines.append(f"author Dev {mark % 7} <dev{mark % 7}@shop.test> {stamp} +0000\n")
        lines.append(f"committer Dev {mark % 7} <dev{mark % 7}@shop.test> {stamp} +0000\n")
        lines.append(f"data {len(data)}\n{message}\n")
        if parent:
            lines.append(f"from :{parent}\n")
        for name, content in files:
            body = content.encode()
            lines.append(f"M 644 inline {name}\ndata {len(body)}\n{content}\n")
        lines.append("\n")

    commit("refs/heads/production", 1, None, "SHOP-1 start the shop", [("README", "shop\n")])
    for n in range(1, commits + 1):
        # 19 in 20 commits name an issue (a few in the body only); the rest name none.
        if n % 20 == 0:
            message = f"tidy up module {n % 50}"
        elif n % 10 == 3:
            message = f"fix the cart rounding, part {n}\n\nRefs SHOP-{1000 + n // 3}"
        else:
            message = f"SHOP-{1000 + n // 3} change {n}: adjust module {n % 50}"
        commit("refs/heads/deploy", n + 1, n if n > 1 else 1, message, [(f"src/m{n % 50}.txt", f"version {n}\n")])
    stream = "".join(lines).encode()
    subprocess.run(["git", "-C", path, "fast-import", "--quiet"], input=stream, check=True)
    return git(path, "rev-parse", "refs/heads/production"), git(path, "rev-parse", "refs/heads/deploy")


class FakeGitHub(http.server.ThreadingHTTPServer):
    """Records `POST /repos/{owner}/{repo}/statuses/{sha}` with its arrival time; answers 201 at once."""

    daemon_threads = True

    def __init__(self, port):
        super().__init__(("127.0.0.1", port), StatusHandler)
        self.statuses = []  # (monotonic time, sha, state, description, target_url)
        self.changed = threading.Condition()

    def wait_for(self, predicate, timeout):
        deadline = time.monotonic() + timeout
        with self.changed:
            while True:
                found = predicate(self.statuses)
                if found is not None:
                    return found
                left = deadline - time.monotonic()
                if left <= 0:
                    return None
                self.changed.wait(left)


class StatusHandler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_POST(self):
        arrived = time.monotonic()
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        parts = self.path.split("/")
        if len(parts) == 6 and parts[1] == "repos" and parts[4] == "statuses":
            status = json.loads(body)
            with self.server.changed:
                self.server.statuses.append(
                    (arrived, parts[5], status["state"], status.get("description"), status.get("target_url"))
                )
                self.server.changed.notify_all()
            self.answer(201, {"id": len(self.server.statuses), "state": status["state"]})
        else:
            self.answer(404, {"message": "Not Found"})

    def answer(self, code, value):
        data = json.dumps(value).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args):
        pass


def wait_port(port, timeout=10):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return
        except OSError:
            time.sleep(0.05)
    sys.exit(f"greenlight does not listen on 127.0.0.1:{port}")


def final_for(sha):
    def find(statuses):
        for arrived, s, state, description, target in statuses:
            if s == sha and state != "pending":
                return arrived, state, description, target
        return None

    return find


def pending_for(sha):
    def find(statuses):
        for arrived, s, state, *_ in statuses:
            if s == sha and state == "pending":
                return arrived
        return None

    return find


def pct(values, p):
    """The nearest-rank percentile."""
    ordered = sorted(values)
    rank = max(1, -(-len(ordered) * p // 100))
    return ordered[int(rank) - 1]


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--greenlight", required=True)
    parser.add_argument("--work", required=True)
    parser.add_argument("--commits", type=int, default=1000)
    parser.add_argument("--pushes", type=int, default=100)
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument("--payload", required=True, help="GitHub's push payload example")
    parser.add_argument("--timeout", type=float, default=30.0, help="the longest wait for one final status")
    args = parser.parse_args()

    work = args.work
    remote = os.path.join(work, "shop.git")
    production, tip = build_remote(remote, args.commits)
    tree = git(remote, "rev-parse", f"{tip}^{{tree}}")

    github = FakeGitHub(free_port())
    threading.Thread(target=github.serve_forever, daemon=True).start()
    port = free_port()
    config = os.path.join(work, "server.toml")
    with open(config, "w") as f:
        f.write(f"""listen = "127.0.0.1:{port}"
public_url = "http://127.0.0.1:{port}"
database_url = "sqlite://{work}/greenlight.db"
data_dir = "{work}/data"
workers = {args.workers}
reconcile_every = "1h"

[github]
api_url = "http://127.0.0.1:{github.server_address[1]}"

[[repositories]]
name = "{REPO}"
production = "production"
deploy_branches = ["deploy"]
clone_url = "{remote}"
""")
    env = dict(os.environ, GITHUB_TOKEN="bench", GITHUB_WEBHOOK_SECRET=SECRET.decode())
    log = open(os.path.join(work, "server.log"), "wb")
    server = subprocess.Popen([args.greenlight, "serve", "--config", config], env=env, stderr=log)
    try:
        wait_port(port)
        template = json.load(open(args.payload))
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        rows = []
        for n in range(args.pushes + 1):
            # A new commit on top of deploy: the deploy grows by one commit each push.
            message = f"SHOP-{5000 + n} bench push {n}"
            new = git(remote, "commit-tree", tree, "-p", tip, "-m", message)
            git(remote, "update-ref", "refs/heads/deploy", new, tip)
            payload = dict(template)
            payload.update(ref="refs/heads/deploy", before=tip, after=new, created=False, deleted=False, forced=False)
            payload["repository"] = dict(template["repository"], full_name=REPO)
            body = json.dumps(payload).encode()
            signature = "sha256=" + hmac.new(SECRET, body, hashlib.sha256).hexdigest()
            headers = {
                "Content-Type": "application/json",
                "X-GitHub-Event": "push",
                "X-GitHub-Delivery": f"bench-push-{n}",
                "X-Hub-Signature-256": signature,
            }
            sent = time.monotonic()
            connection.request("POST", "/webhooks/github", body=body, headers=headers)
            response = connection.getresponse()
            answer = json.loads(response.read() or b"null")
            acked = time.monotonic()
            if response.status != 202:
                sys.exit(f"push {n}: expected 202, got {response.status} {answer}")
            final = github.wait_for(final_for(new), args.timeout)
            if final is None:
                sys.exit(f"push {n}: no final status for {new} within {args.timeout} s")
            arrived, state, description, target = final
            pending = github.wait_for(pending_for(new), 0)
            rows.append({
                "push": n,
                "sha": new,
                "deploy": answer["deploy"],
                "ack_ms": (acked - sent) * 1e3,
                "pending_ms": (pending - sent) * 1e3 if pending else None,
                "final_ms": (arrived - sent) * 1e3,
                "state": state,
                "description": description,
                "target_url": target,
            })
            tip = new
            # Let the worker record the job as done before the next push (so it never meets a running job).
            time.sleep(0.05)

        # The last deploy, as the server reports it: its size proves the range.
        connection.request("GET", f"/api/deploys/{rows[-1]['deploy']}")
        last = json.loads(connection.getresponse().read())
        with open(os.path.join(work, "pushes.jsonl"), "w") as f:
            for row in rows:
                f.write(json.dumps(row) + "\n")
        with open(os.path.join(work, "last-deploy.json"), "w") as f:
            json.dump(last, f, indent=2)
    finally:
        server.send_signal(signal.SIGTERM)
        try:
            server.wait(timeout=20)
        except subprocess.TimeoutExpired:
            server.kill()
        github.shutdown()

    cold, measured = rows[0], rows[1:]
    commits_first = args.commits + 2
    states = {}
    for row in measured:
        states[row["state"]] = states.get(row["state"], 0) + 1
    print(f"deploys: {len(measured)} measured, {commits_first}..{commits_first + len(measured) - 1} commits each "
          f"(production..deploy); final states {states}; last description: {measured[-1]['description']!r}")
    print(f"cold push (first clone of the mirror): final status after {cold['final_ms']:.0f} ms")
    for key, name in (("ack_ms", "acknowledged (202)"), ("pending_ms", "pending status"),
                      ("final_ms", "final status")):
        values = [row[key] for row in measured if row[key] is not None]
        print(f"{name:<20} p50 {pct(values, 50):7.1f} ms   p99 {pct(values, 99):7.1f} ms   "
              f"max {max(values):7.1f} ms   mean {statistics.mean(values):7.1f} ms")
    p99 = pct([row["final_ms"] for row in measured], 99)
    print(f"push to final status p99 {p99:.0f} ms (target <= 1000 ms: {'met' if p99 <= 1000 else 'MISSED'})")
    report = last.get("report") or {}
    print(f"last deploy {last.get('id')}: verdict {last.get('verdict')}, summary {last.get('summary')!r}, "
          f"report keys {sorted(report)[:8]}")


if __name__ == "__main__":
    main()
