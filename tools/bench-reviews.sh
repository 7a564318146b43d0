#!/usr/bin/env bash
# RecordReview throughput of `decision-engine serve` (each step written with
# its case and audit entry in one durable SQLite transaction) as a ratio of
# the durable PreReview on the same server, both measured in this run: the
# load generator first decides N households by PreReview, then reviews each
# decision the authority matrix routed to a person, once, at the system's
# terms, as the province's reviewer (whose decision is final alone).
#
#   tools/bench-reviews.sh [REQUESTS] [CONCURRENCIES...]
set -euo pipefail
cd "$(dirname "$0")/.."
REQUESTS="${1:-20000}"
shift || true
CONCURRENCIES=("${@:-1 16 64}")
read -r -a CONCURRENCIES <<< "${CONCURRENCIES[*]}"

cargo build --release -q -p decision-engine -p loadgen
BIN="${CARGO_TARGET_DIR:-target}/release"
WORK="$(mktemp -d)"
cleanup() {
    kill -TERM "${ENGINE:-}" 2>/dev/null || true
    wait 2>/dev/null || true
    rm -rf "$WORK"
}
trap cleanup EXIT

RUST_LOG=warn "$BIN/decision-engine" serve --listen 127.0.0.1:0 --http-listen off --data-dir "$WORK/data" \
    --metrics-listen off --max-in-flight 4096 --tokens-file config/tokens.dev.toml > "$WORK/engine.out" &
ENGINE=$!
for _ in $(seq 1 100); do
    grep -q 'decision-engine listening on' "$WORK/engine.out" 2>/dev/null && break
    sleep 0.1
done
ADDR="$(sed -n 's/^decision-engine listening on //p' "$WORK/engine.out" | head -n1)"
[ -n "$ADDR" ] || { echo "server did not start" >&2; exit 1; }

RESULTS="$WORK/results.jsonl"
for c in "${CONCURRENCIES[@]}"; do
    "$BIN/loadgen" run --target "http://$ADDR" --concurrency "$c" --requests "$REQUESTS" \
        --call record-review --token dev-reviewer-token-province \
        --label "c$c" --id-prefix "RV-$c-$RANDOM" | tee -a "$RESULTS"
done
PEAK_KB="$(awk '/VmHWM/ {print $2}' "/proc/$ENGINE/status")"

python3 - "$RESULTS" "$PEAK_KB" <<'PY'
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
print(f"\nserver peak RSS {int(sys.argv[2]) // 1024} MiB\n")
print("| concurrency | PreReview calls/s (reference) | RecordReview calls/s | reviews | p50 ms | p99 ms | errors | ratio |")
print("|---:|---:|---:|---:|---:|---:|---|---:|")
for pre, rv in zip(rows[0::2], rows[1::2]):
    ratio = rv["throughput_per_s"] / pre["throughput_per_s"]
    print(f"| {rv['concurrency']} | {pre['throughput_per_s']:,.0f} | {rv['throughput_per_s']:,.0f} | {rv['ok']:,} "
          f"| {rv['p50_ms']:.2f} | {rv['p99_ms']:.2f} | {rv['errors'] or 0} | **{ratio:.2f}** |")
PY
