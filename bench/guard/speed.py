#!/usr/bin/env python3
"""The guard's speed benchmark (issue 5, item 8): 100 metrics x 2 groups x 1 h at 15 s steps.

Writes one hour of OpenMetrics for a baseline (version="v1") and a canary (version="v2"): 50 ratio metrics (a
request counter with status="200" and status="500") and 50 value metrics (a 10-bucket latency histogram, judged by
its p99), scraped every 15 s. Backfills it with `promtool tsdb create-blocks-from openmetrics`, starts a real
`prometheus` on a free loopback port, then runs `greenlight guard --start --end --format json --timings` over the
hour (60 one-minute intervals) and reports, per run and as medians:

- total: the wall time of the whole process, as this script sees it;
- prometheus: the fetch's wall time (first request sent to last answer received, 8 queries in flight) minus the
  time greenlight spent decoding answers inside it; the time spent waiting on Prometheus;
- beyond: total - prometheus: everything greenlight does itself (start, config, HTTP, decoding, cutting,
  judging, JSON). Target: <= 200 ms;
- judging: the judges alone (`judge_ms`); greenlight CPU: the process's user + system time, all threads, which
  does not grow when other work on the machine takes the cores.

Usage: cargo build --release -p greenlight && python3 bench/guard/speed.py [--runs 10] [--bin PATH]
"""

import argparse
import json
import os
import random
import resource
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request

STEP = 15
HOUR = 3600
RATIO_METRICS = 50
VALUE_METRICS = 50
BUCKETS = [0.05, 0.1, 0.15, 0.2, 0.3, 0.5, 0.75, 1.0, 2.5]


def openmetrics(start, out):
    rng = random.Random(20261122)
    steps = HOUR // STEP
    for m in range(RATIO_METRICS):
        name = f"svc{m:02}_requests_total"
        out.write(f"# TYPE svc{m:02}_requests counter\n")
        for version in ("v1", "v2"):
            for status, share in (("200", 0.99), ("500", 0.01)):
                total = 0.0
                for k in range(steps + 1):
                    if k:
                        total += round(rng.gauss(50 * STEP * share, (50 * STEP * share) ** 0.5 + 1e-9).__abs__())
                    out.write(f'{name}{{version="{version}",status="{status}"}} {total} {start + k * STEP}\n')
    for m in range(VALUE_METRICS):
        base = f"svc{m:02}_duration_seconds"
        out.write(f"# TYPE {base} histogram\n")
        for version in ("v1", "v2"):
            counts = [0.0] * (len(BUCKETS) + 1)
            lines = {i: [] for i in range(len(counts))}
            for k in range(steps + 1):
                if k:
                    for _ in range(20):
                        latency = rng.lognormvariate(-1.6, 0.5)
                        for i, bound in enumerate(BUCKETS + [float("inf")]):
                            if latency <= bound:
                                counts[i] += 37.5
                                break
                for i in range(len(counts)):
                    lines[i].append((sum(counts[: i + 1]), start + k * STEP))
            for i, bound in enumerate(BUCKETS + [float("inf")]):
                le = "+Inf" if bound == float("inf") else repr(bound)
                for value, t in lines[i]:
                    out.write(f'{base}_bucket{{version="{version}",le="{le}"}} {value} {t}\n')
    out.write("# EOF\n")


def guard_toml(url):
    lines = [f'prometheus = "{url}"', 'step = "15s"', 'interval = "1m"', "", "[groups]",
             "baseline = 'version=\"v1\"'", "canary = 'version=\"v2\"'", ""]
    for m in range(RATIO_METRICS):
        lines += ["[[metrics]]", f'name = "errors-{m:02}"', 'kind = "ratio"',
                  f"bad = 'sum(increase(svc{m:02}_requests_total{{status=\"500\",$group}}[1m]))'",
                  f"total = 'sum(increase(svc{m:02}_requests_total{{$group}}[1m]))'", "min_total = 200", ""]
    for m in range(VALUE_METRICS):
        lines += ["[[metrics]]", f'name = "latency-{m:02}"', 'kind = "value"',
                  f"query = 'histogram_quantile(0.99, sum by (le) (rate(svc{m:02}_duration_seconds_bucket{{$group}}[1m])))'",
                  "tolerance = 0.2", "block = 4", ""]
    return "\n".join(lines)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_ready(url, process):
    deadline = time.time() + 60
    while time.time() < deadline:
        if process.poll() is not None:
            sys.exit("prometheus exited early; see its log")
        try:
            with urllib.request.urlopen(f"{url}/-/ready", timeout=1) as r:
                if r.status == 200:
                    return
        except OSError:
            time.sleep(0.1)
    sys.exit("prometheus did not become ready within 60 s")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=10)
    target = os.environ.get("CARGO_TARGET_DIR", os.path.join(os.path.dirname(__file__), "../../target"))
    parser.add_argument("--bin", default=os.path.join(target, "release/greenlight"))
    args = parser.parse_args()
    for tool in ("promtool", "prometheus"):
        if shutil.which(tool) is None:
            sys.exit(f"`{tool}` is not on PATH (apt-get install prometheus)")
    if not os.path.exists(args.bin):
        sys.exit(f"{args.bin} is missing: cargo build --release -p greenlight")

    work = tempfile.mkdtemp(prefix="guard-speed-")
    try:
        now = int(time.time())
        start = now - now % HOUR - 10 * HOUR
        made = time.time()
        with open(os.path.join(work, "metrics.om"), "w") as f:
            openmetrics(start, f)
        subprocess.run(["promtool", "tsdb", "create-blocks-from", "openmetrics",
                        os.path.join(work, "metrics.om"), os.path.join(work, "data")],
                       check=True, stdout=subprocess.DEVNULL)
        port = free_port()
        url = f"http://127.0.0.1:{port}"
        with open(os.path.join(work, "prometheus.yml"), "w") as f:
            f.write("global: {}\nscrape_configs: []\n")
        log = open(os.path.join(work, "prometheus.log"), "w")
        prometheus = subprocess.Popen(
            ["prometheus", f"--config.file={work}/prometheus.yml", f"--storage.tsdb.path={work}/data",
             f"--web.listen-address=127.0.0.1:{port}", "--storage.tsdb.retention.time=100y"],
            stdout=log, stderr=log)
        try:
            wait_ready(url, prometheus)
            print(f"data: {RATIO_METRICS} ratio + {VALUE_METRICS} value metrics x 2 groups x 1 h at {STEP} s "
                  f"(written and backfilled in {time.time() - made:.1f} s)", file=sys.stderr)
            config = os.path.join(work, "guard.toml")
            with open(config, "w") as f:
                f.write(guard_toml(url))
            command = [args.bin, "guard", "--config", config, "--start", str(start), "--end", str(start + HOUR),
                       "--format", "json", "--timings"]
            rows = []
            for run in range(args.runs + 1):
                before = resource.getrusage(resource.RUSAGE_CHILDREN)
                began = time.perf_counter()
                done = subprocess.run(command, capture_output=True, text=True)
                total = (time.perf_counter() - began) * 1000
                after = resource.getrusage(resource.RUSAGE_CHILDREN)
                cpu = (after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime) * 1000
                if done.returncode not in (0, 1, 3):
                    sys.exit(f"greenlight guard exited {done.returncode}: {done.stderr}")
                timings = json.loads(done.stderr.strip().splitlines()[-1].removeprefix("timings: "))
                report = json.loads(done.stdout)
                if run == 0:
                    # A warm-up: Prometheus pages its blocks in on the first queries.
                    verdicts = {}
                    for m in report["metrics"]:
                        verdicts[m["verdict"]] = verdicts.get(m["verdict"], 0) + 1
                    print(f"verdict {report['verdict']}, metrics {verdicts}, {len(report['intervals'])} intervals, "
                          f"{timings['queries']} queries", file=sys.stderr)
                    continue
                prometheus_ms = timings["fetch_ms"] - timings["decode_ms"]
                rows.append((total, prometheus_ms, total - prometheus_ms, timings["judge_ms"], cpu))
            print("| run | total | waiting on Prometheus | beyond Prometheus | of which judging | greenlight CPU |")
            print("|---:|---:|---:|---:|---:|---:|")
            for i, row in enumerate(rows, 1):
                print(f"| {i} | " + " | ".join(f"{x:.0f} ms" for x in row) + " |")
            med = [statistics.median(r[i] for r in rows) for i in range(5)]
            print(f"| median | {med[0]:.0f} ms | {med[1]:.0f} ms | **{med[2]:.0f} ms** | {med[3]:.0f} ms | "
                  f"{med[4]:.0f} ms |")
            worst = max(r[2] for r in rows)
            print(f"\nbeyond Prometheus: median {med[2]:.0f} ms, worst {worst:.0f} ms; target <= 200 ms: "
                  f"{'met' if worst <= 200 else 'NOT met'}")
        finally:
            prometheus.terminate()
            prometheus.wait()
            log.close()
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
