#!/usr/bin/env bash
# Times greenlight-tracker's `gather` for 500 keys against local fake trackers (Jira Cloud, Jira Data Center,
# GitHub) that answer every request after 50 ms, and prints the wall time and the requests each run made.
# Arguments go to the benchmark: --keys N, --latency-ms MS, --runs R, --kind jira-cloud|jira-dc|github.
set -euo pipefail
cd "$(dirname "$0")/../.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-/var/tmp/greenlight-target}"
cargo run --release --locked --quiet -p greenlight-tracker --example gather_bench -- "$@"
