#!/usr/bin/env bash
# One heavy admin /v1/sql query (a cross join of the anomalies with
# themselves under an ORDER BY) against `driftlock serve`, while /healthz and
# another stream's /v1/detect are timed once a second: the query's status and
# time, and the slowest of each probe while it ran. Bounded: the query gets
# $BOUND seconds from curl.
#
#   BIN=target/debug/driftlock benches/load/sql_stall.sh
#   BATCHES=40 TIMEOUT_MS=10000 BIN=... benches/load/sql_stall.sh
#
# TIMEOUT_MS is written as `[sql] timeout_ms` in a config file; a binary
# without the [sql] table is started without one (NO_SQL_CONFIG=1).
set -euo pipefail

BATCHES=${BATCHES:-40}        # x 256 anomalies in the store
TIMEOUT_MS=${TIMEOUT_MS:-10000}
BOUND=${BOUND:-90}
PORT=${PORT:-18097}
KEY=bench-admin-key-0123456789abcdef
bin=${BIN:?set BIN to a driftlock binary}
url=http://127.0.0.1:$PORT

data=$(mktemp -d)
cleanup() { [[ -n "${pid:-}" ]] && kill "$pid" 2>/dev/null; wait 2>/dev/null; rm -rf "$data"; }
trap cleanup EXIT
args=(serve --listen "127.0.0.1:$PORT" --data-dir "$data/db" --sync normal --rate-limit-enterprise 1000000000)
if [[ -z "${NO_SQL_CONFIG:-}" ]]; then
  printf '[sql]\ntimeout_ms = %d\n' "$TIMEOUT_MS" >"$data/config.toml"
  args+=(--config "$data/config.toml")
fi
DRIFTLOCK_API_KEY=$KEY RUST_LOG=warn "$bin" "${args[@]}" >"$data/server.log" 2>&1 &
pid=$!
for _ in $(seq 100); do curl -fs "$url/healthz" >/dev/null 2>&1 && break; sleep 0.1; done

events() {
  printf '['
  for i in $(seq 0 255); do
    [[ $i -gt 0 ]] && printf ','
    printf '{"type":"log","body":{"level":"info","msg":"GET /api/items/%d 200","user":"u%d","n":"%s"}}' $((i % 50)) $((i % 13)) "$1$i"
  done
  printf ']'
}
post() { curl -fs -o /dev/null -w '%{time_total}' -X POST "$url/v1/detect" -H "X-Api-Key: $KEY" \
           -H 'Content-Type: application/json' --data-binary @"$1"; }
# A stream whose thresholds flag every scored event: 256 anomalies a batch.
for b in $(seq 1 "$BATCHES"); do
  printf '{"stream_id":"seed","events":%s,"config_override":{"baseline_size":20,"window_size":10,"hop_size":5,"ncd_threshold":0,"p_value_threshold":1}}' \
    "$(events "$b")" >"$data/seed.json"
  post "$data/seed.json" >/dev/null
done
printf '{"stream_id":"live","events":%s}' "$(events 0)" >"$data/live.json"
post "$data/live.json" >/dev/null
echo "anomalies stored: $(curl -fs -H "X-Api-Key: $KEY" "$url/v1/anomalies?limit=1" | jq .total)"

query='SELECT a.id, b.id FROM anomalies a CROSS JOIN anomalies b ORDER BY a.why || b.id DESC LIMIT 5'
start=$(date +%s.%N)
curl -s -m "$BOUND" -o "$data/sql.json" -w '%{http_code} %{time_total}\n' -X POST "$url/v1/sql" \
  -H "X-Api-Key: $KEY" -H 'Content-Type: application/json' \
  --data-binary "{\"query\":\"$query\"}" >"$data/sql.out" 2>/dev/null &
sql=$!
worst_health=0 worst_detect=0 probes=0
while kill -0 "$sql" 2>/dev/null; do
  h=$(curl -s -m "$BOUND" -o /dev/null -w '%{time_total}' "$url/healthz" || echo "$BOUND")
  d=$(post "$data/live.json" || echo "$BOUND")
  worst_health=$(echo "if ($h > $worst_health) $h else $worst_health" | bc)
  worst_detect=$(echo "if ($d > $worst_detect) $d else $worst_detect" | bc)
  probes=$((probes + 1))
  sleep 1
done
wait "$sql" || true
read -r code secs <"$data/sql.out" || { code=none; secs=$BOUND; }
echo "sql: HTTP $code after ${secs}s ($(jq -r '.error.code // "rows"' "$data/sql.json" 2>/dev/null || echo no-body))"
echo "while it ran ($probes probes): slowest /healthz ${worst_health}s, slowest /v1/detect (256 events) ${worst_detect}s"
echo "detect after: $(post "$data/live.json")s; server peak RSS: $(awk '/^VmHWM/ {printf "%.0f MiB", $2 / 1024}' "/proc/$pid/status")"
