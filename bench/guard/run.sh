#!/bin/sh
# The guard's accuracy benchmark: the NAB scenario suite judged by greenlight's guard and two reference judges.
# Usage: bench/guard/run.sh [NAB_DIR]   (default: ../shared/data/nab beside the workspace)
set -eu
here=$(cd "$(dirname "$0")" && pwd)
cd "$here/../.."
exec cargo run --release -q -p greenlight-guard --example accuracy -- "$@"
