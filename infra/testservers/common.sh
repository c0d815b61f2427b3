# Shared by the test-server scripts (sourced, not run).
set -euo pipefail

TESTSERVERS_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
PROJECT_ROOT="$(cd "$TESTSERVERS_DIR/../.." && pwd)"
# Downloads and builds, kept between runs (gitignored).
CACHE_DIR="${TESTSERVERS_CACHE:-$PROJECT_ROOT/.cache/testservers}"
STARTUP_TIMEOUT_S="${TESTSERVERS_STARTUP_TIMEOUT_S:-120}"

# A TCP port free on loopback right now (the kernel picks it).
free_port() {
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

port_answers() {
  (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

# Print the server's log and fail: a server that does not come up is an error, never a skip.
fail_with_log() {
  local workdir="$1" message="$2"
  echo "$message; its log ($workdir/server.log):" >&2
  cat "$workdir/server.log" >&2 || true
  "$TESTSERVERS_DIR/stop.sh" "$workdir" >&2 || true
  exit 1
}

# Start "$@" in its own process group (so stop.sh can end it with all its children), logging
# to $workdir/server.log, and record its pid, which is also the group id.
start_in_background() {
  local workdir="$1"
  shift
  setsid "$@" >"$workdir/server.log" 2>&1 </dev/null &
  echo $! >"$workdir/pid"
}

# Wait until `$2 $3…` succeeds, failing with the log if the server exits or time runs out.
wait_until() {
  local workdir="$1" deadline=$((SECONDS + STARTUP_TIMEOUT_S))
  shift
  until "$@"; do
    kill -0 "$(cat "$workdir/pid")" 2>/dev/null || fail_with_log "$workdir" "the server exited during start-up"
    ((SECONDS < deadline)) || fail_with_log "$workdir" "the server did not answer within ${STARTUP_TIMEOUT_S}s"
    sleep 0.5
  done
}

# Download Go module "$1" (module@version) into Go's module cache; print its (read-only) folder.
go_module_dir() {
  go mod download -json "$1" | python3 -c 'import json, sys; print(json.load(sys.stdin)["Dir"])'
}
