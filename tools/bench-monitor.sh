#!/usr/bin/env bash
# Post-loan monitoring of a loan book, end to end, as a ratio of the I/O
# floor measured in the same run: `decision-engine monitor` (read, check,
# re-score and evaluate every loan with its trace, write the signals, tasks
# and errors files, record signals and tasks in the store, write the
# dashboard) against polars alone reading the same book the same way and
# writing signals and tasks files of the same shape
# (decision-engine/batch/examples/monitor_floor.rs).
#
#   tools/bench-monitor.sh [LOANS] [ROUNDS]     (default 1310000, 3)
#
# The book is `village-gen --loans-as-of` over enough households, cut to
# LOANS loans. Rounds alternate floor and engine; the medians' ratio is the
# figure. Peak memory is the maximum resident set size (/usr/bin/time).
set -euo pipefail
cd "$(dirname "$0")/.."
LOANS="${1:-1310000}"
ROUNDS="${2:-3}"
AS_OF=2026-11-30

cargo build --release -q -p decision-engine -p decision-batch -p village-gen --bins --examples
BIN="${CARGO_TARGET_DIR:-target}/release"
WORK="${BENCH_DIR:-$(mktemp -d)}"
mkdir -p "$WORK"
BOOK="$WORK/book-$LOANS.csv"
if [ ! -s "$BOOK" ]; then
    # About two households in three are approved and borrow.
    HOUSEHOLDS=$((LOANS * 8 / 5))
    "$BIN/village-gen" --households "$HOUSEHOLDS" --villages $(((HOUSEHOLDS + 999) / 1000)) \
        --seed 2026 --loans-as-of "$AS_OF" --output "$WORK/book-all.csv"
    head -n $((LOANS + 1)) "$WORK/book-all.csv" > "$BOOK"
    rm "$WORK/book-all.csv"
    [ "$(($(wc -l < "$BOOK") - 1))" -eq "$LOANS" ] || { echo "the book has fewer than $LOANS loans" >&2; exit 1; }
fi
echo "book: $BOOK ($(du -h "$BOOK" | cut -f1), $LOANS loans)"

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
    rm -rf "$WORK"/floor-*.parquet "$WORK"/signals.parquet "$WORK"/tasks.parquet "$WORK/bench-store"
    measure floor "$BIN/examples/monitor_floor" "$BOOK" "$WORK/floor-signals.parquet" \
        "$WORK/floor-tasks.parquet" | tee -a "$RESULTS"
    measure engine "$BIN/decision-engine" monitor --no-progress --book "$BOOK" --as-of "$AS_OF" \
        --output "$WORK/signals.parquet" --tasks "$WORK/tasks.parquet" --data-dir "$WORK/bench-store" \
        --report "$WORK/monitor.html" | tee -a "$RESULTS"
done
ls -la "$WORK"/*.parquet "$WORK/bench-store" "$WORK/monitor.html"

python3 - "$RESULTS" "$LOANS" <<'PY'
import statistics, sys
rows = [l.split() for l in open(sys.argv[1])]
n = int(sys.argv[2])
def pick(name, i, f):
    return [f(r[i]) for r in rows if r[0] == name]
floor_s, engine_s = pick("floor", 1, float), pick("engine", 1, float)
floor_m, engine_m = pick("floor", 2, int), pick("engine", 2, int)
f, e = statistics.median(floor_s), statistics.median(engine_s)
print("| loans | floor s (median) | engine s (median) | engine / floor | engine loans/s | floor peak MiB | engine peak MiB |")
print("|---|---|---|---|---|---|---|")
print(f"| {n:,} | {f:.2f} ({', '.join(map(str, floor_s))}) | {e:.2f} ({', '.join(map(str, engine_s))}) "
      f"| **{e / f:.2f}x** | {n / e:,.0f} | {max(floor_m) / 1024:.0f} | {max(engine_m) / 1024:.0f} |")
PY
