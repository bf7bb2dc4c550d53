#!/usr/bin/env bash
# Push to final status for 1,000-commit deploys: `greenlight serve` (release build, SQLite, durability on) against a
# real git repository and a fake GitHub status API on 127.0.0.1 that records when statuses arrive.
#
#   bench/serve/push_to_status.sh [--pushes 100] [--commits 1000] [--workers 4] [--no-build]
#
# The driver is bench/serve/push_to_status.py; see its docstring. Target: p99 of webhook sent -> final status
# arrived <= 1 s.
set -euo pipefail
source "$(dirname "$0")/common.sh"

BUILD=1 ARGS=()
while [ $# -gt 0 ]; do
  case "$1" in
    --no-build) BUILD=""; shift ;;
    --pushes|--commits|--workers|--timeout) ARGS+=("$1" "$2"); shift 2 ;;
    *) echo "usage: $0 [--pushes 100] [--commits 1000] [--workers 4] [--no-build]" >&2; exit 2 ;;
  esac
done

command -v git >/dev/null || apt_install git
[ -n "$BUILD" ] && build_greenlight
[ -x "$GREENLIGHT" ] || { echo "no $GREENLIGHT: build it first (drop --no-build)" >&2; exit 2; }

WORK="$ROOT/bench/work/serve/push_to_status"
rm -rf "$WORK"
mkdir -p "$WORK"
echo "bench/serve/push_to_status: $(machine)" >&2
python3 "$ROOT/bench/serve/push_to_status.py" --greenlight "$GREENLIGHT" --work "$WORK" \
  --payload "$SHARED/data/github-webhooks/push/payload.json" "${ARGS[@]}"
echo "bench/serve/push_to_status: done, $(machine); logs in $WORK" >&2
