#!/usr/bin/env bash
# What a /v1/detect batch writes as the stream ages: bytes written by the
# server process (wchar of /proc/PID/io: SQLite's WAL and database writes,
# plus the small response) and the request's time, for each of $BATCHES
# batches of 256 events on one stream with a baseline of $BASELINE events.
# Before the state log every batch rewrote the whole detector, so both grew
# with the stream's age; now a batch appends its events and the detector is
# rewritten only when the log has grown as large as it (or a baseline long).
#
#   BIN=target/debug/driftlock benches/state_save/run.sh
#   BATCHES=100 BASELINE=10000 BIN=... benches/state_save/run.sh > out.tsv
#
# Linux only (reads /proc/PID/io). Prints a TSV: batch, bytes, ms, status.
set -euo pipefail

BATCHES=${BATCHES:-100}
BASELINE=${BASELINE:-10000}
PORT=${PORT:-18090}
KEY=bench-admin-key-0123456789abcdef
bin=${BIN:?set BIN to a driftlock binary}
[[ -r /proc/self/io ]] || { echo "needs /proc/PID/io (Linux)" >&2; exit 1; }

data=$(mktemp -d)
cleanup() { [[ -n "${pid:-}" ]] && kill "$pid" 2>/dev/null; wait 2>/dev/null; rm -rf "$data"; }
trap cleanup EXIT
DRIFTLOCK_API_KEY=$KEY RUST_LOG=warn "$bin" serve --listen "127.0.0.1:$PORT" --data-dir "$data" \
    --sync normal --rate-limit-enterprise 1000000000 >"$data/server.log" 2>&1 &
pid=$!
for _ in $(seq 100); do curl -fs "http://127.0.0.1:$PORT/healthz" >/dev/null 2>&1 && break; sleep 0.1; done

# Batch $1: 256 routine log lines, distinct from other batches'.
batch() {
  local b=$1 i
  printf '{"stream_id":"aging","events":['
  for i in $(seq 0 255); do
    [[ $i -gt 0 ]] && printf ','
    printf '{"type":"log","body":{"level":"info","msg":"GET /api/items/%d 200 in %dms","user":"u%d","req":"r%d-%d"}}' \
      $((i % 50)) $((10 + i % 7)) $((i % 13)) "$b" "$i"
  done
  printf ']'
  [[ $b -eq 1 ]] && printf ',"config_override":{"baseline_size":%d,"window_size":50,"hop_size":10}' "$BASELINE"
  printf '}'
}

wchar() { awk '/^wchar/ {print $2}' "/proc/$pid/io"; }
printf 'batch\tbytes_written\tms\tstatus\n'
for b in $(seq 1 "$BATCHES"); do
  batch "$b" >"$data/body.json"
  before=$(wchar)
  out=$(curl -s -o "$data/reply.json" -w '%{http_code} %{time_total}' -X POST "http://127.0.0.1:$PORT/v1/detect" \
        -H "X-Api-Key: $KEY" -H 'Content-Type: application/json' --data-binary @"$data/body.json")
  after=$(wchar)
  read -r code secs <<<"$out"
  printf '%d\t%d\t%.0f\t%s\n' "$b" $((after - before)) "$(echo "$secs * 1000" | bc)" \
    "$code:$(jq -r '.status // .error.code' "$data/reply.json")"
done
