#!/usr/bin/env bash
# GPU figures in one run, for a machine with a GPU and a few minutes of it:
#  1. kernel throughput at 1k, 100k and 1M windows x 1000 permutations, the GPU
#     backend against the CPU backend on this machine's cores, for the engine's
#     layout (one shared baseline) and the sliding one (a baseline per window),
#     with the GPU's answers checked against the CPU's on the first 2000 windows;
#  2. `driftlock score` in exact mode on a generated archive with --device gpu,
#     cpu and auto: the same output file (cmp) and each one's events/s.
#
#   benches/gpu/run.sh                               # builds both binaries in release
#   BIN=path/driftlock PERMS_BIN=path/permutations benches/gpu/run.sh
#   WINDOWS="1000 100000" EVENTS=20000 EXACT_PERMS=10000 benches/gpu/run.sh  # a quick one
#   LOG=dir benches/gpu/run.sh                       # keep the full log and outputs there
#
# Sized to end in about five minutes on 16 cores: the CPU side of 1M windows and of
# the exact-mode score are most of it.
set -euo pipefail

WINDOWS=${WINDOWS:-"1000 100000 1000000"}
PERMS=${PERMS:-1000}
LAYOUTS=${LAYOUTS:-"shared sliding"}
EVENTS=${EVENTS:-200000}
STREAMS=${STREAMS:-8}
EXACT_PERMS=${EXACT_PERMS:-100000}

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
target=${CARGO_TARGET_DIR:-$root/target}
if [[ -z "${BIN:-}" || -z "${PERMS_BIN:-}" ]]; then
  cargo build --release -q --manifest-path "$root/Cargo.toml" -p driftlock-kernels --example permutations
  cargo build --release -q --manifest-path "$root/Cargo.toml" -p driftlock --bin driftlock
fi
bin=${BIN:-$target/release/driftlock}
perms_bin=${PERMS_BIN:-$target/release/examples/permutations}

work=${LOG:-$(mktemp -d)}
mkdir -p "$work"
cleanup() { [[ -z "${LOG:-}" ]] && rm -rf "$work"; return 0; }
trap cleanup EXIT

echo "== machine"
nproc
command -v nvidia-smi >/dev/null && nvidia-smi -L || true

echo "== kernels: windows x $PERMS permutations"
for layout in $LAYOUTS; do
  for w in $WINDOWS; do
    # The GPU first: its line also says whether its answers match the CPU's.
    "$perms_bin" --windows "$w" --perms "$PERMS" --layout "$layout" --backend gpu \
      --repeat 3 --verify 2000 2>&1 | grep -E "^(backend|windows|verify)"
    "$perms_bin" --windows "$w" --perms "$PERMS" --layout "$layout" --backend cpu \
      --repeat 2 2>&1 | grep -E "^windows"
  done
done

echo "== score in exact mode: $EVENTS log events, $STREAMS streams, $EXACT_PERMS permutations, no early stop"
"$bin" generate --kind logs --events "$EVENTS" --streams "$STREAMS" --seed 1 --anomalies all \
  --out "$work/archive.parquet" >/dev/null
for device in gpu cpu auto; do
  "$bin" score "$work/archive.parquet" --out "$work/$device.ndjson" --device "$device" \
    --permutations "$EXACT_PERMS" --no-early-stop \
    --ignore-column label --ignore-column anomaly_kind --no-progress 2>&1 | tail -n 2
done
for device in gpu auto; do
  if cmp "$work/cpu.ndjson" "$work/$device.ndjson"; then
    echo "cmp: --device $device output identical to --device cpu ($(wc -l <"$work/cpu.ndjson") lines)"
  else
    echo "cmp: --device $device output DIFFERS from --device cpu"
    exit 1
  fi
done
