#!/usr/bin/env bash
# Whole-village batch, end to end, as a ratio of the I/O floor measured in
# the same run: `decision-engine batch` (read, validate, decide with full
# trace, write decisions + errors + compressed trace file, record the batch)
# against polars alone reading the same file the same way and writing a
# decisions file of the same shape (decision-engine/batch/examples/batch_floor.rs).
#
#   tools/bench-batch.sh [HOUSEHOLDS] [ROUNDS]     (default 1310000, 3)
#
# Rounds alternate floor and engine; the medians' ratio is the figure.
# Peak memory is the maximum resident set size reported by /usr/bin/time.
set -euo pipefail
cd "$(dirname "$0")/.."
HOUSEHOLDS="${1:-1310000}"
ROUNDS="${2:-3}"

cargo build --release -q -p decision-engine -p decision-batch -p village-gen --bins --examples
BIN="${CARGO_TARGET_DIR:-target}/release"
WORK="${BENCH_DIR:-$(mktemp -d)}"
mkdir -p "$WORK"
INPUT="$WORK/households-$HOUSEHOLDS.csv"
if [ ! -s "$INPUT" ]; then
    # About 1,000 households a village, as a county of villages.
    "$BIN/village-gen" --households "$HOUSEHOLDS" --villages $(((HOUSEHOLDS + 999) / 1000)) \
        --seed 2026 --output "$INPUT"
fi
echo "input: $INPUT ($(du -h "$INPUT" | cut -f1), $HOUSEHOLDS households)"

measure() { # name command...
    local name="$1"
    shift
    sync
    /usr/bin/time -f "%e %M" -o "$WORK/time" "$@" > /dev/null 2> "$WORK/stderr" || {
        local code=$?
        # Exit 4 (rows with errors) is a finished run.
        if [ "$code" -ne 4 ]; then
            cat "$WORK/stderr" >&2
            exit "$code"
        fi
    }
    read -r secs kib < "$WORK/time"
    echo "$name $secs $kib"
}

RESULTS="$WORK/results"
: > "$RESULTS"
for round in $(seq 1 "$ROUNDS"); do
    rm -f "$WORK"/floor.parquet "$WORK"/decisions.parquet
    rm -rf "$WORK/bench-store" "$WORK"/decisions.parquet.*.traces*.zst
    measure floor "$BIN/examples/batch_floor" "$INPUT" "$WORK/floor.parquet" | tee -a "$RESULTS"
    measure engine "$BIN/decision-engine" batch --quiet --input "$INPUT" \
        --output "$WORK/decisions.parquet" --institution 3201 --data-dir "$WORK/bench-store" \
        --summary "$WORK/summary.csv" --report "$WORK/report.html" | tee -a "$RESULTS"
done
ls -la "$WORK"/decisions.parquet* "$WORK/floor.parquet" "$WORK/bench-store"

python3 - "$RESULTS" "$HOUSEHOLDS" <<'EOF'
import statistics, sys
rows = [l.split() for l in open(sys.argv[1])]
n = int(sys.argv[2])
def pick(name, i, f):
    return [f(r[i]) for r in rows if r[0] == name]
floor_s, engine_s = pick("floor", 1, float), pick("engine", 1, float)
floor_m, engine_m = pick("floor", 2, int), pick("engine", 2, int)
f, e = statistics.median(floor_s), statistics.median(engine_s)
print(f"| households | floor s (median) | engine s (median) | engine / floor | engine rows/s | floor peak MiB | engine peak MiB |")
print(f"|---|---|---|---|---|---|---|")
print(f"| {n:,} | {f:.2f} ({', '.join(map(str, floor_s))}) | {e:.2f} ({', '.join(map(str, engine_s))}) "
      f"| **{e / f:.2f}x** | {n / e:,.0f} | {max(floor_m) / 1024:.0f} | {max(engine_m) / 1024:.0f} |")
EOF
