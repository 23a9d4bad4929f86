#!/usr/bin/env bash
# Cluster benchmark: the same generated, date-partitioned archive backfilled
# on this machine (`driftlock backfill`) and on a local Ballista cluster (one
# `driftlock cluster scheduler` and two `driftlock cluster executor`
# processes), in the same minutes; then the cluster run again with one
# executor SIGKILLed midway. Prints events/s of both and their ratio, each
# process's peak RSS, and checks that every cluster output holds exactly the
# local backfill's anomalies (no duplicates, none missing).
#
#   benches/cluster/run.sh                        # 2M log events, 64 streams, 4 dates
#   EVENTS=27500000 benches/cluster/run.sh        # the issue's archive size
#   BIN=target/release/driftlock benches/cluster/run.sh
#   KEEP=/data/bench benches/cluster/run.sh       # keep (and reuse) the archive there
set -euo pipefail

EVENTS=${EVENTS:-2000000}
STREAMS=${STREAMS:-64}
DATES=${DATES:-4}
FILES_PER_DATE=${FILES_PER_DATE:-2}
KIND=${KIND:-logs}
PARTITIONS=${PARTITIONS:-4}
TASKS=${TASKS:-1}               # task slots per executor
PORT=${PORT:-50150}
KILL_AFTER=${KILL_AFTER:-0.4}   # fraction of the first cluster run's time before the kill

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
[[ -x /usr/bin/time ]] || { echo "needs /usr/bin/time (apt-get install time)" >&2; exit 1; }
if [[ -z "${BIN:-}" ]]; then
  cargo build -q -p driftlock --bin driftlock --manifest-path "$root/Cargo.toml"
fi
bin=${BIN:-"${CARGO_TARGET_DIR:-$root/target}/debug/driftlock"}

work=${KEEP:-$(mktemp -d)}
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  [[ -z "${KEEP:-}" ]] && rm -rf "$work"
  return 0
}
trap cleanup EXIT
archive="$work/archive"
per_file=$((EVENTS / DATES / FILES_PER_DATE))

# Each file its own seed, starting at its date (then half a day on for the
# second file): each stream's time runs forward through the archive's file
# order, which is what the local backfill scores in.
for d in $(seq 1 "$DATES"); do
  for f in $(seq 0 $((FILES_PER_DATE - 1))); do
    part="$archive/date=2025-01-$(printf %02d "$d")/part-$f.parquet"
    if [[ ! -s "$part" ]]; then
      mkdir -p "$(dirname "$part")"
      start=$(( (1735689600 + (d - 1) * 86400 + f * 86400 / FILES_PER_DATE) * 1000 ))
      "$bin" generate --kind "$KIND" --events "$per_file" --streams "$STREAMS" \
        --seed $((d * 10 + f)) --start-ms "$start" --out "$part" 2>/dev/null
    fi
  done
done
total=$((per_file * DATES * FILES_PER_DATE))
echo "archive: $total events, $STREAMS streams, $((DATES * FILES_PER_DATE)) files, $(du -sb "$archive" | cut -f1) bytes" >&2
opts=(--ignore-column label --ignore-column anomaly_kind --no-progress --device cpu)

peak() { awk '/VmHWM/ {print $2 " kB"}' "/proc/$1/status" 2>/dev/null || echo "?"; }
rss() { grep "Maximum resident set size" "$1" | awk '{print $NF " kB"}'; }
wait_port() {  # bounded: the server is up when its port accepts
  for _ in $(seq 1 200); do
    (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0
    sleep 0.1
  done
  echo "nothing listening on $1" >&2; exit 1
}
start_executor() {  # $1: index
  local port=$((PORT + 10 * $1))
  RUST_LOG=warn,ballista_executor::execution_loop=info "$bin" cluster executor --scheduler-host 127.0.0.1 --scheduler-port "$PORT" \
    --bind-host 127.0.0.1 --external-host 127.0.0.1 --port "$port" --grpc-port $((port + 1)) \
    --concurrent-tasks "$TASKS" --work-dir "$work/exec-$1" 2>"$work/exec-$1.log" &
  pids+=($!)
  wait_port "$port"
}
# Ballista deletes a job's shuffle files when it ends: sample the executors'
# disk use while the client runs and keep the largest.
shuffle_peak() {  # $1: client pid; prints bytes
  local top=0 now
  while kill -0 "$1" 2>/dev/null; do
    now=$(du -sb "$work"/exec-* 2>/dev/null | awk '{s+=$1} END {printf "%.0f\n", s}')
    (( now > top )) && top=$now
    sleep 1
  done
  echo "$top"
}
# Per stage: tasks, and their durations (median, max) from the executors' logs.
task_times() {
  cat "$work"/exec-*.log | grep -o 'Finished task : \[TID [^]]*\] in [0-9.]*[mµn]*s' |
    sed -E 's/.*TID [^/]*\/([0-9]+)\.[0-9]+\/[^]]*\] in ([0-9.]+)([mµn]?s)/\1 \2 \3/' |
    awk '{v=$2; if ($3=="ms") v/=1e3; else if ($3=="µs") v/=1e6; else if ($3=="ns") v/=1e9; print $1, v}' |
    sort -k1,1n -k2,2n | awk '
      { t[$1]=t[$1] " " $2; n[$1]++ }
      END { for (s in n) { split(substr(t[s],2), a, " "); printf "  stage %s: %d tasks, median %.1fs, max %.1fs\n", s, n[s], a[int((n[s]+1)/2)], a[n[s]] } }' | sort
}
sorted_csv() {  # $1: anomalies folder, $2: csv
  "$bin" sql --anomalies "$1" --out "$2" \
    "SELECT * FROM anomalies ORDER BY stream_id, reported_at, index, kind" >/dev/null
}
check() {  # $1: cluster output folder
  sorted_csv "$1" "$1.csv"
  "$bin" sql --anomalies "$1" \
    "SELECT count(*) AS rows, count(DISTINCT concat(stream_id, ':', index, ':', kind)) AS distinct_rows FROM anomalies"
  if cmp -s "$work/local.csv" "$1.csv"; then echo "$1: the local backfill's anomalies exactly"; else echo "$1: DIFFERS from the local backfill"; fi
}

# 1. Local.
rm -rf "$work/local"
/usr/bin/time -v -o "$work/local.time" "$bin" backfill "$archive" --out "$work/local" "${opts[@]}" 2>&1 | tail -n 1
sorted_csv "$work/local" "$work/local.csv"

# 2. The cluster.
mkdir -p "$work"/exec-{1,2}
RUST_LOG=warn "$bin" cluster scheduler --bind-host 127.0.0.1 --port "$PORT" --executor-timeout-secs 10 \
  2>"$work/scheduler.log" &
scheduler=$!; pids+=($scheduler)
wait_port "$PORT"
start_executor 1; e1=${pids[-1]}
start_executor 2; e2=${pids[-1]}
rm -rf "$work/cluster"
t0=$(date +%s.%N)
/usr/bin/time -v -o "$work/client.time" "$bin" backfill "$archive" --cluster "df://127.0.0.1:$PORT" \
  --partitions "$PARTITIONS" --out "$work/cluster" "${opts[@]}" >"$work/client.log" 2>&1 &
client=$!
shuffle_peak "$client" >"$work/shuffle.bytes" &
sampler=$!
wait "$client" || { echo "the cluster run failed:"; tail -n 5 "$work/client.log"; exit 1; }
t1=$(date +%s.%N)
wait "$sampler"
tail -n 1 "$work/client.log"
local_s=$(grep "Elapsed (wall clock)" "$work/local.time" | awk -F': ' '{print $2}' | awk -F: '{ if (NF==3) print $1*3600+$2*60+$3; else print $1*60+$2 }')
cluster_s=$(echo "$t1 - $t0" | bc -l)
echo "local:   $(echo "$total / $local_s" | bc) events/s (${local_s}s wall, peak RSS $(rss "$work/local.time"))"
echo "cluster: $(echo "$total / $cluster_s" | bc) events/s (${cluster_s}s wall); ratio $(echo "scale=2; $local_s / $cluster_s" | bc)x"
echo "peak RSS: client $(rss "$work/client.time"), scheduler $(peak $scheduler), executor 1 $(peak $e1), executor 2 $(peak $e2)"
shuffle=$(cat "$work/shuffle.bytes")
echo "shuffle files: peak $shuffle bytes on the executors' disks ($(echo "scale=1; $shuffle / $total" | bc) bytes per event)"
echo "tasks:"; task_times
check "$work/cluster"

# 3. The cluster again, executor 2 SIGKILLed partway; a fresh one takes its place.
rm -rf "$work/killed"
"$bin" backfill "$archive" --cluster "df://127.0.0.1:$PORT" --partitions "$PARTITIONS" \
  --out "$work/killed" "${opts[@]}" 2>"$work/killed.log" &
client=$!
sleep "$(echo "$cluster_s * $KILL_AFTER" | bc -l)"
kill -KILL "$e2"; echo "SIGKILLed executor 2 (pid $e2) after $(echo "$cluster_s * $KILL_AFTER" | bc -l)s"
start_executor 3
t2=$(date +%s.%N)
wait "$client" || { echo "the run with a killed executor failed:"; tail -n 5 "$work/killed.log"; exit 1; }
tail -n 1 "$work/killed.log"
echo "finished $(echo "$(date +%s.%N) - $t2" | bc -l)s after the kill"
check "$work/killed"
