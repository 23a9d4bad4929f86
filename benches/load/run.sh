#!/usr/bin/env bash
# Load benchmark of `driftlock serve` on loopback with wrk: requests/s and
# p50/p99 latency of POST /v1/detect (256 events per request) and
# GET /v1/anomalies, and the server's peak RSS. Bounded in time: each phase
# runs $DURATION.
#
#   benches/load/run.sh            # defaults below
#   DURATION=30s CONNS=32 STREAMS=16 SYNC=normal benches/load/run.sh
#   BIN=path/to/driftlock benches/load/run.sh   # skip the build
#
# Needs wrk (apt-get install wrk). Builds the release binary first.
set -euo pipefail

DURATION=${DURATION:-10s}
CONNS=${CONNS:-8}
THREADS=${THREADS:-2}
STREAMS=${STREAMS:-8}        # detect requests rotate over this many streams
SYNC=${SYNC:-full}           # SQLite durability: full (default) or normal
PORT=${PORT:-18080}
KEY=bench-admin-key-0123456789abcdef

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
command -v wrk >/dev/null || { echo "wrk is not installed (apt-get install wrk)" >&2; exit 1; }

if [[ -z "${BIN:-}" ]]; then
  cargo build --release -q -p driftlock --bin driftlock --manifest-path "$root/Cargo.toml"
fi
bin=${BIN:-"$root/target/release/driftlock"}
data=$(mktemp -d)
work=$(mktemp -d)
cleanup() { [[ -n "${pid:-}" ]] && kill "$pid" 2>/dev/null; wait 2>/dev/null; rm -rf "$data" "$work"; }
trap cleanup EXIT

DRIFTLOCK_API_KEY=$KEY RUST_LOG=warn "$bin" serve --listen "127.0.0.1:$PORT" --data-dir "$data" \
    --sync "$SYNC" --rate-limit-enterprise 1000000000 >"$work/server.log" 2>&1 &
pid=$!
for _ in $(seq 100); do curl -fs "http://127.0.0.1:$PORT/healthz" >/dev/null 2>&1 && break; sleep 0.1; done

# 256 log events: mostly routine lines, a few unusual ones.
{
  printf '['
  for i in $(seq 0 255); do
    [[ $i -gt 0 ]] && printf ','
    if (( i % 61 == 60 )); then
      printf '{"type":"log","timestamp":"2025-01-01T10:00:%02dZ","body":{"level":"error","msg":"segfault in worker %d at 0x%08x, core dumped"}}' $((i % 60)) $i $((i * 7919))
    else
      printf '{"type":"log","timestamp":"2025-01-01T10:00:%02dZ","body":{"level":"info","msg":"GET /api/items/%d 200 in %dms","user":"u%d"}}' $((i % 60)) $((i % 50)) $((10 + i % 7)) $((i % 13))
    fi
  done
  printf ']'
} >"$work/events.json"

cat >"$work/detect.lua" <<LUA
local f = io.open("$work/events.json"); local events = f:read("*a"); f:close()
local n = 0
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.headers["X-Api-Key"] = "$KEY"
request = function()
  n = n + 1
  local body = '{"stream_id":"bench-' .. (n % $STREAMS) .. '","events":' .. events .. '}'
  return wrk.format(nil, "/v1/detect", nil, body)
end
LUA

# Warm up: fill every stream's baseline so the timed phase scores.
for s in $(seq 0 $((STREAMS - 1))); do
  for _ in 1 2; do
    curl -fs -o /dev/null -X POST "http://127.0.0.1:$PORT/v1/detect" -H "X-Api-Key: $KEY" \
      -H 'Content-Type: application/json' --data-binary "{\"stream_id\":\"bench-$s\",\"events\":$(cat "$work/events.json")}"
  done
done

echo "== POST /v1/detect (256 events/request, $STREAMS streams, $CONNS connections, $DURATION, sync=$SYNC)"
wrk -t"$THREADS" -c"$CONNS" -d"$DURATION" --latency -s "$work/detect.lua" "http://127.0.0.1:$PORT" | tee "$work/detect.txt"
# Seed anomalies for the listing: a stream whose thresholds flag every scored event.
for i in 1 2 3 4; do
  curl -fs -o /dev/null -X POST "http://127.0.0.1:$PORT/v1/detect" -H "X-Api-Key: $KEY" -H 'Content-Type: application/json' \
    --data-binary "{\"stream_id\":\"seed\",\"events\":$(cat "$work/events.json"),\"config_override\":{\"baseline_size\":20,\"window_size\":10,\"hop_size\":5,\"ncd_threshold\":0,\"p_value_threshold\":1}}"
done
echo
echo "anomalies stored: $(curl -fs -H "X-Api-Key: $KEY" "http://127.0.0.1:$PORT/v1/anomalies?limit=1" | sed -E 's/.*"total":([0-9]+).*/\1/')"
echo "== GET /v1/anomalies ($CONNS connections, $DURATION)"
wrk -t"$THREADS" -c"$CONNS" -d"$DURATION" --latency -H "X-Api-Key: $KEY" "http://127.0.0.1:$PORT/v1/anomalies" | tee "$work/list.txt"
echo
summary() { awk -v name="$1" '/Requests\/sec/ {rps=$2} /^ +50%/ {p50=$2} /^ +99%/ {p99=$2} /Non-2xx/ {bad=$NF}
  END {printf "%-22s %10s req/s  p50 %-9s p99 %-9s%s\n", name, rps, p50, p99, (bad ? "  NON-2XX: " bad : "")}' "$2"; }
echo "== summary"
summary "POST /v1/detect x256" "$work/detect.txt"
summary "GET /v1/anomalies" "$work/list.txt"
# The kernel's high-water mark of the server's resident memory over the run.
echo "server peak RSS: $(awk '/^VmHWM/ {printf "%.0f MiB", $2 / 1024}' "/proc/$pid/status")"
curl -fs -H "X-Api-Key: $KEY" "http://127.0.0.1:$PORT/metrics" | grep -E '^driftlock_(events_scored|anomalies_found)_total'
