#!/usr/bin/env bash
# Pre-review throughput of `decision-engine serve` (durable records on:
# SQLite WAL, synchronous=FULL, group commit) as a ratio of a bare tonic
# service answering the same RPC with a canned reply of the same size, both
# measured in this run on this machine, at several concurrencies.
#
#   tools/bench-grpc.sh [SECONDS_PER_POINT] [CONCURRENCIES...]
#
# Prints one JSON line per run and a markdown table; records the server's
# peak resident memory (VmHWM) and each server's CPU time per call (user +
# system, from /proc/PID/stat, over the run: the load generator's own CPU is
# not counted).
set -euo pipefail
cd "$(dirname "$0")/.."
SECONDS_PER_POINT="${1:-10}"
shift || true
CONCURRENCIES=("${@:-1 16 64 256}")
read -r -a CONCURRENCIES <<< "${CONCURRENCIES[*]}"

cargo build --release -q -p decision-engine -p loadgen
BIN="${CARGO_TARGET_DIR:-target}/release"
WORK="$(mktemp -d)"
cleanup() {
    kill -TERM "${ENGINE:-}" 2>/dev/null || true
    kill -INT "${BARE:-}" 2>/dev/null || true
    wait 2>/dev/null || true
    rm -rf "$WORK"
}
trap cleanup EXIT

wait_addr() { # file prefix
    for _ in $(seq 1 100); do
        if grep -q "$2" "$1" 2>/dev/null; then
            sed -n "s/^$2 //p" "$1" | head -n1
            return
        fi
        sleep 0.1
    done
    echo "server did not start: $(cat "$1")" >&2
    exit 1
}

RUST_LOG=warn "$BIN/decision-engine" serve --listen 127.0.0.1:0 --http-listen off --data-dir "$WORK/data" \
    --metrics-listen off --max-in-flight 4096 > "$WORK/engine.out" &
ENGINE=$!
"$BIN/loadgen" bare --listen 127.0.0.1:0 > "$WORK/bare.out" &
BARE=$!
ENGINE_ADDR="$(wait_addr "$WORK/engine.out" 'decision-engine listening on')"
BARE_ADDR="$(wait_addr "$WORK/bare.out" 'loadgen bare service listening on')"

RESULTS="$WORK/results.jsonl"
CPU="$WORK/cpu"
: > "$CPU"
ticks() { # pid: user + system clock ticks so far
    awk '{print $14 + $15}' "/proc/$1/stat"
}
for c in "${CONCURRENCIES[@]}"; do
    before="$(ticks "$BARE")"
    "$BIN/loadgen" run --target "http://$BARE_ADDR" --concurrency "$c" --duration "$SECONDS_PER_POINT" \
        --label bare | tee -a "$RESULTS"
    echo "bare $c $(( $(ticks "$BARE") - before ))" >> "$CPU"
    before="$(ticks "$ENGINE")"
    "$BIN/loadgen" run --target "http://$ENGINE_ADDR" --concurrency "$c" --duration "$SECONDS_PER_POINT" \
        --label engine --id-prefix "BENCH-$c-$RANDOM" | tee -a "$RESULTS"
    echo "engine $c $(( $(ticks "$ENGINE") - before ))" >> "$CPU"
done
PEAK_KB="$(awk '/VmHWM/ {print $2}' "/proc/$ENGINE/status")"
ROWS="$(sqlite3 "$WORK/data/decisions.sqlite" 'select count(*) from decisions' 2>/dev/null || echo '?')"

python3 - "$RESULTS" "$PEAK_KB" "$ROWS" "$CPU" "$(getconf CLK_TCK)" <<'PY'
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
hz = int(sys.argv[5])
cpu = {}
for line in open(sys.argv[4]):
    label, c, t = line.split()
    cpu[(label, int(c))] = int(t) / hz
print()
print("| concurrency | bare tonic (calls/s) | engine (calls/s) | ratio | engine p50 / p99 / max (ms) | CPU µs per call, bare / engine | engine errors |")
print("|---|---|---|---|---|---|---|")
by = {}
for r in rows:
    by.setdefault(r["concurrency"], {})[r["label"]] = r
for c in sorted(by):
    b, e = by[c]["bare"], by[c]["engine"]
    per = lambda label, r: cpu[(label, c)] * 1e6 / max(r["ok"] + sum(r["errors"].values()), 1)
    print(f"| {c} | {b['throughput_per_s']:.0f} | {e['throughput_per_s']:.0f} | {e['throughput_per_s']/b['throughput_per_s']:.2f} "
          f"| {e['p50_ms']:.2f} / {e['p99_ms']:.2f} / {e['max_ms']:.2f} | {per('bare', b):.0f} / {per('engine', e):.0f} "
          f"| {sum(e['errors'].values())} |")
print(f"\nengine peak resident memory (VmHWM): {int(sys.argv[2])/1024:.1f} MiB; decisions recorded: {sys.argv[3]}")
PY
