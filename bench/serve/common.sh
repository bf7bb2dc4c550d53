# Shared by bench/serve/*.sh (sourced): installing packages, building greenlight, free ports, waiting for a port.

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-/var/tmp/greenlight-target}"
GREENLIGHT="$CARGO_TARGET_DIR/release/greenlight"
# The shared data (real webhook payloads) next to the clone, as the issues have it: ../shared.
SHARED="${GREENLIGHT_SHARED:-$ROOT/../shared}"

# Installs the Debian packages that are missing. A policy-rc.d that answers 101 keeps postinst scripts (nginx's)
# from starting services; it is removed again if this function created it.
apt_install() {
  local missing=()
  for pkg in "$@"; do dpkg -s "$pkg" >/dev/null 2>&1 || missing+=("$pkg"); done
  [ ${#missing[@]} -eq 0 ] && return 0
  echo "bench/serve: installing ${missing[*]}" >&2
  local sudo=""; [ "$(id -u)" -eq 0 ] || sudo="sudo"
  local policy=/usr/sbin/policy-rc.d created=""
  if [ ! -e "$policy" ]; then
    printf '#!/bin/sh\nexit 101\n' | $sudo tee "$policy" >/dev/null
    $sudo chmod 755 "$policy"
    created=1
  fi
  local status=0
  $sudo apt-get update -qq &&
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null ||
    status=$?
  [ -n "$created" ] && $sudo rm -f "$policy"
  return $status
}

build_greenlight() {
  echo "bench/serve: cargo build --release -p greenlight" >&2
  (cd "$ROOT" && nice -n 10 cargo build --release --quiet -p greenlight)
}

# A TCP port on 127.0.0.1 that nothing listens on right now.
free_port() {
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# Waits until something accepts connections on 127.0.0.1:$1 (at most 10 s).
wait_port() {
  python3 - "$1" <<'EOF'
import socket, sys, time
deadline = time.time() + 10
while time.time() < deadline:
    try:
        socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=0.2).close()
        sys.exit(0)
    except OSError:
        time.sleep(0.05)
sys.exit(f"nothing listens on 127.0.0.1:{sys.argv[1]}")
EOF
}

# The machine's load, for the record.
machine() {
  echo "$(date -u +%Y-%m-%dT%H:%M:%SZ) $(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg)"
}
