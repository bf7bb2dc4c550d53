#!/usr/bin/env bash
# Sustained acceptance of signed GitHub push deliveries on loopback: `greenlight serve` (release build, SQLite in WAL
# mode, each batch fdatasync'ed before its 202: the default) against nginx answering 204, with the same wrk settings and the same
# body, in the same run.
#
# Every request to greenlight is a real accepted push: the real payload (push/payload.json with `ref` set to the
# deploy branch of a configured repository), signed once, and a new X-GitHub-Delivery per request, so each one is
# written to the inbox (a delivery, a job, the branch head) and committed before its 202. The server runs with
# `workers = 0`: nothing claims the jobs and no status is posted while it is measured.
#
#   bench/serve/accept.sh [--duration 10s] [--connections 64] [--threads 2] [--runs 3] [--warmup 2s] [--no-build]
#
# Prints one line per run and target, then the medians, the ratio and the targets (>= 0.5x nginx's req/s,
# p99 <= 20 ms). Exit status 0 even when a target is missed; 1 when a request was not accepted as a new push.
set -euo pipefail
source "$(dirname "$0")/common.sh"

DURATION=10s CONNECTIONS=64 THREADS=2 RUNS=3 WARMUP=2s BUILD=1
while [ $# -gt 0 ]; do
  case "$1" in
    --duration) DURATION="$2"; shift 2 ;;
    --connections) CONNECTIONS="$2"; shift 2 ;;
    --threads) THREADS="$2"; shift 2 ;;
    --runs) RUNS="$2"; shift 2 ;;
    --warmup) WARMUP="$2"; shift 2 ;;
    --no-build) BUILD=""; shift ;;
    *) echo "usage: $0 [--duration 10s] [--connections 64] [--threads 2] [--runs 3] [--warmup 2s] [--no-build]" >&2
       exit 2 ;;
  esac
done

apt_install nginx wrk
[ -n "$BUILD" ] && build_greenlight
[ -x "$GREENLIGHT" ] || { echo "no $GREENLIGHT: build it first (drop --no-build)" >&2; exit 2; }

WORK="$ROOT/bench/work/serve/accept"
rm -rf "$WORK"
mkdir -p "$WORK"
chmod 755 "$WORK"
SECRET="bench secret"
REPO="Codertocat/Hello-World"   # the payload's repository.full_name
LUA="$ROOT/bench/serve/accept.lua"
PAYLOAD="$SHARED/data/github-webhooks/push/payload.json"
NGINX_PID="" SERVER_PID=""
cleanup() {
  [ -n "$SERVER_PID" ] && kill "$SERVER_PID" 2>/dev/null && wait "$SERVER_PID" 2>/dev/null
  [ -n "$NGINX_PID" ] && kill "$NGINX_PID" 2>/dev/null && wait "$NGINX_PID" 2>/dev/null
  true
}
trap cleanup EXIT

# The real payload, pushed to `deploy` (the example is a tag deletion: `after` and `deleted` are set to a push).
SIGNATURE=$(python3 - "$WORK/body.json" "$SECRET" "$PAYLOAD" <<'EOF'
import hashlib, hmac, json, sys
payload = json.load(open(sys.argv[3]))
payload["ref"] = "refs/heads/deploy"
payload["after"] = "4f2a6c1f8e0d3b5a7c9e1f3a5b7d9f1e3c5a7b9d"
payload["deleted"] = False
payload["created"] = False
body = json.dumps(payload, indent=2).encode()
open(sys.argv[1], "wb").write(body)
print("sha256=" + hmac.new(sys.argv[2].encode(), body, hashlib.sha256).hexdigest())
EOF
)
export BENCH_BODY="$WORK/body.json" BENCH_SIGNATURE="$SIGNATURE"

# nginx: answers 204 to every POST (the body is read and discarded), keeps connections open like greenlight does.
NGINX_PORT=$(free_port)
mkdir -p "$WORK/nginx"
chmod 755 "$WORK/nginx"
cat >"$WORK/nginx/nginx.conf" <<EOF
worker_processes auto;
pid $WORK/nginx/nginx.pid;
events { worker_connections 4096; }
http {
  access_log off;
  keepalive_requests 100000000;
  keepalive_timeout 60s;
  client_max_body_size 25m;
  client_body_buffer_size 64k;
  client_body_temp_path $WORK/nginx/body;
  proxy_temp_path $WORK/nginx/proxy;
  fastcgi_temp_path $WORK/nginx/fastcgi;
  uwsgi_temp_path $WORK/nginx/uwsgi;
  scgi_temp_path $WORK/nginx/scgi;
  server {
    listen 127.0.0.1:$NGINX_PORT;
    location / { return 204; }
  }
}
EOF
nginx -p "$WORK/nginx" -c "$WORK/nginx/nginx.conf" -e "$WORK/nginx/error.log" -g 'daemon off;' &
NGINX_PID=$!
wait_port "$NGINX_PORT"

# An empty bare repository as the configured clone_url: reconciling on start finds no deploy branch there, and
# nothing ever reaches github.com.
git init -q --bare "$WORK/empty.git"

start_server() { # $1: the run's directory
  GL_PORT=$(free_port)
  mkdir -p "$1"
  cat >"$1/server.toml" <<EOF
listen = "127.0.0.1:$GL_PORT"
public_url = "http://127.0.0.1:$GL_PORT"
database_url = "sqlite://$1/greenlight.db"
data_dir = "$1/data"
workers = 0
reconcile_every = "1h"

[github]
api_url = "http://127.0.0.1:9"   # never called: no workers

[[repositories]]
name = "$REPO"
clone_url = "$WORK/empty.git"
production = "production"
deploy_branches = ["deploy"]
EOF
  GITHUB_TOKEN=bench GITHUB_WEBHOOK_SECRET="$SECRET" "$GREENLIGHT" serve --config "$1/server.toml" 2>"$1/server.log" &
  SERVER_PID=$!
  wait_port "$GL_PORT"
}

stop_server() {
  kill "$SERVER_PID"
  wait "$SERVER_PID" || true
  SERVER_PID=""
}

# $1: label, $2: port, $3: the run's directory. Warm-up, then the measured run; the summary line goes to results.
measure() {
  BENCH_LABEL="$1-warmup" BENCH_RUN="$1-w" wrk -t"$THREADS" -c"$CONNECTIONS" -d"$WARMUP" -s "$LUA" \
    "http://127.0.0.1:$2/webhooks/github" >"$3/$1-warmup.txt"
  echo "# $(machine)" >>"$3/$1.txt"
  BENCH_LABEL="$1" BENCH_RUN="$1-m" wrk -t"$THREADS" -c"$CONNECTIONS" -d"$DURATION" --latency -s "$LUA" \
    "http://127.0.0.1:$2/webhooks/github" >>"$3/$1.txt"
  grep '^BENCH ' "$3/$1.txt" | sed 's/^BENCH //' >>"$WORK/results.jsonl"
}

echo "bench/serve/accept: $(machine); wrk -t$THREADS -c$CONNECTIONS -d$DURATION, $RUNS runs" >&2
status=0
for run in $(seq 1 "$RUNS"); do
  dir="$WORK/run$run"
  mkdir -p "$dir"
  measure nginx "$NGINX_PORT" "$dir"
  start_server "$dir"
  measure greenlight "$GL_PORT" "$dir"
  # Every request must have been a new accepted push, committed: the server's own count, and the store's deliveries
  # (after the requests still in flight when wrk stopped were answered).
  sleep 1
  curl -sf "http://127.0.0.1:$GL_PORT/metrics" >"$dir/metrics.txt"
  stop_server
  python3 - "$dir" "$WORK/results.jsonl" "$CONNECTIONS" <<'EOF' || status=1
import json, re, sqlite3, sys
run, results = sys.argv[1], sys.argv[2]
outcomes = {m[1]: int(float(m[2])) for m in re.finditer(
    r'greenlight_webhook_deliveries_total\{event="push",outcome="(\w+)"\} (\S+)', open(f"{run}/metrics.txt").read())}
measured = [json.loads(l) for l in open(results) if '"greenlight"' in l][-1]
warmup = json.loads(open(f"{run}/greenlight-warmup.txt").read().split("BENCH ", 1)[1].splitlines()[0])
db = sqlite3.connect(f"{run}/greenlight.db")
deliveries, = db.execute("SELECT COUNT(*) FROM deliveries").fetchone()
jobs, = db.execute("SELECT COUNT(*) FROM jobs WHERE state = 'queued' AND reason = 'push'").fetchone()
answered = measured["requests"] + warmup["requests"]
# Every outcome is listed from start-up, at 0 until it happens.
others = {k: v for k, v in outcomes.items() if k != "accepted" and v}
accepted = outcomes.get("accepted", 0)
print(f"  check: {answered} answered by wrk, {accepted} accepted by the server, {deliveries} deliveries and "
      f"{jobs} queued jobs in the store, other outcomes {others or 'none'}", file=sys.stderr)
errors = measured["status_errors"] + warmup["status_errors"]
# wrk does not count the requests in flight when it stops (twice: warm-up and measure), and their answers are not
# counted by the server either when wrk closed the connection first; each was still committed.
connections = int(sys.argv[3])
# Every request pushes the same commit and no worker runs: all of them join the one queued job of that commit.
if others or errors or not (answered <= deliveries and accepted <= deliveries <= answered + 2 * connections and jobs == 1):
    sys.exit("  check failed: not every request was a new push, committed")
EOF
done

python3 - "$WORK/results.jsonl" <<'EOF'
import json, statistics, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
print(f"{'target':<12}{'run':>4}{'req/s':>11}{'p50 ms':>9}{'p90 ms':>9}{'p99 ms':>9}{'max ms':>9}{'errors':>8}")
by = {}
for r in rows:
    by.setdefault(r["label"], []).append(r)
    errs = r["connect_errors"] + r["read_errors"] + r["write_errors"] + r["status_errors"] + r["timeouts"]
    print(f"{r['label']:<12}{len(by[r['label']]):>4}{r['rps']:>11.0f}{r['p50_us']/1e3:>9.2f}{r['p90_us']/1e3:>9.2f}"
          f"{r['p99_us']/1e3:>9.2f}{r['max_us']/1e3:>9.2f}{errs:>8}")
med = lambda label, key: statistics.median(r[key] for r in by[label])
ratios = [g["rps"] / n["rps"] for g, n in zip(by["greenlight"], by["nginx"])]
for label in ("nginx", "greenlight"):
    print(f"median {label:<11} {med(label, 'rps'):>9.0f} req/s  p50 {med(label, 'p50_us')/1e3:.2f} ms  "
          f"p99 {med(label, 'p99_us')/1e3:.2f} ms")
ratio = statistics.median(ratios)
p99 = med("greenlight", "p99_us") / 1e3
print(f"ratio greenlight/nginx per run: {', '.join(f'{r:.2f}' for r in ratios)}; median {ratio:.2f}x "
      f"(target >= 0.5x: {'met' if ratio >= 0.5 else 'MISSED'})")
print(f"greenlight p99 {p99:.2f} ms (target <= 20 ms: {'met' if p99 <= 20 else 'MISSED'})")
EOF
echo "bench/serve/accept: done, $(machine); logs in $WORK" >&2
exit $status
