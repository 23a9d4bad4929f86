#!/usr/bin/env bash
# Archive benchmark: `driftlock backfill` over a generated, date-partitioned
# Parquet archive at the detector defaults. Reports what the backfill's summary
# says (events/s, MB/s) and the peak RSS from /usr/bin/time.
#
# One run, not criterion: a 10M-event archive takes minutes per pass, and the
# question is the sustained rate and the memory ceiling of the real binary.
#
#   benches/archive/run.sh                          # 10M mixed events, 64 streams, 4 dates
#   EVENTS=1000000 benches/archive/run.sh           # a quick one
#   KEEP=/data/bench benches/archive/run.sh         # keep (and reuse) the archive there
#   ANOMALIES=none KIND=logs benches/archive/run.sh # clean logs, like `stream_batch`'s input
#   BIN=path/to/driftlock benches/archive/run.sh    # skip the release build
set -euo pipefail

EVENTS=${EVENTS:-10000000}    # in total, split evenly over the dates
STREAMS=${STREAMS:-64}
DATES=${DATES:-4}
KIND=${KIND:-mixed}           # logs, metrics, traces, llm or mixed
ANOMALIES=${ANOMALIES:-all}   # injected anomaly kinds: all, none or a comma list
DEVICE=${DEVICE:-cpu}

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
[[ -x /usr/bin/time ]] || { echo "needs /usr/bin/time (apt-get install time)" >&2; exit 1; }
if [[ -z "${BIN:-}" ]]; then
  cargo build --release -q -p driftlock --bin driftlock --manifest-path "$root/Cargo.toml"
fi
bin=${BIN:-"${CARGO_TARGET_DIR:-$root/target}/release/driftlock"}

work=${KEEP:-$(mktemp -d)}
cleanup() { [[ -z "${KEEP:-}" ]] && rm -rf "$work"; return 0; }
trap cleanup EXIT
archive="$work/archive"
per_date=$((EVENTS / DATES))

# Each date is its own seeded file; the same stream ids run through all of them.
for d in $(seq 1 "$DATES"); do
  part="$archive/date=2025-01-$(printf %02d "$d")/part-0.parquet"
  if [[ ! -s "$part" ]]; then
    mkdir -p "$(dirname "$part")"
    echo "generating $part ($per_date events, $STREAMS streams, $KIND)" >&2
    "$bin" generate --kind "$KIND" --events "$per_date" --streams "$STREAMS" --seed "$d" \
      --anomalies "$ANOMALIES" --out "$part"
  fi
done
echo "archive: $(du -sb "$archive" | cut -f1) bytes of Parquet, $((per_date * DATES)) events" >&2

out="$work/out"
rm -rf "$out"
/usr/bin/time -v -o "$work/time.txt" \
  "$bin" backfill "$archive" --out "$out" --device "$DEVICE" --ignore-column label --ignore-column anomaly_kind --no-progress 2>&1 | tail -n 3
grep -E "Maximum resident set size|Elapsed \(wall clock\)" "$work/time.txt"
