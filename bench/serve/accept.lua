-- wrk script for bench/serve/accept.sh: POSTs one signed GitHub push payload again and again, each request with a
-- new X-GitHub-Delivery (so that every one is a new delivery, not a redelivery), and prints a JSON summary line.
--
-- Environment: BENCH_BODY (the payload file), BENCH_SIGNATURE (its X-Hub-Signature-256), BENCH_RUN (a prefix that
-- makes the delivery ids unique across runs), BENCH_LABEL (names the target in the summary).

local threads = {}
local counter = 0

function setup(thread)
  thread:set("tid", #threads + 1)
  table.insert(threads, thread)
end

function init(args)
  local file = assert(io.open(os.getenv("BENCH_BODY"), "rb"))
  wrk.body = file:read("*a")
  file:close()
  wrk.method = "POST"
  wrk.path = "/webhooks/github"
  wrk.headers["Content-Type"] = "application/json"
  wrk.headers["User-Agent"] = "GitHub-Hookshot/bench"
  wrk.headers["X-GitHub-Event"] = "push"
  wrk.headers["X-Hub-Signature-256"] = os.getenv("BENCH_SIGNATURE")
  prefix = string.format("%s-%d-", os.getenv("BENCH_RUN") or "run", tid)
end

function request()
  counter = counter + 1
  wrk.headers["X-GitHub-Delivery"] = prefix .. counter
  return wrk.format()
end

function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'BENCH {"label":"%s","requests":%d,"duration_us":%d,"rps":%.1f,"p50_us":%d,"p90_us":%d,"p99_us":%d,' ..
    '"max_us":%d,"mean_us":%.1f,"connect_errors":%d,"read_errors":%d,"write_errors":%d,"status_errors":%d,' ..
    '"timeouts":%d}\n',
    os.getenv("BENCH_LABEL") or "", summary.requests, summary.duration,
    summary.requests / (summary.duration / 1e6),
    latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.max, latency.mean,
    e.connect, e.read, e.write, e.status, e.timeout))
end
