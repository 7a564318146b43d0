#!/usr/bin/env bash
# The pre-credit register at province scale, as ratios of references
# measured in the same run on this machine:
#   - publishing a whole-village batch run (reading its trace file, writing
#     one entry per household, hashing every national ID number) against the
#     batch run itself;
#   - GetPreCredit throughput and latency at a concurrency against a bare
#     tonic service returning a canned entry of the same size.
#
#   tools/bench-precredit.sh [HOUSEHOLDS] [SECONDS_PER_POINT] [CONCURRENCY]
#                            (default 1310000, 10, 64)
#
# Peak memory: the server's VmHWM after publishing (a streaming publish
# holds one chunk of 4,096 entries, not the register), and /usr/bin/time's
# maximum resident set of the batch run.
set -euo pipefail
cd "$(dirname "$0")/.."
HOUSEHOLDS="${1:-1310000}"
SECONDS_PER_POINT="${2:-10}"
CONCURRENCY="${3:-64}"

cargo build --release -q -p decision-engine -p village-gen -p loadgen
BIN="${CARGO_TARGET_DIR:-target}/release"
WORK="${BENCH_DIR:-$(mktemp -d)}"
mkdir -p "$WORK"
cleanup() {
    kill -TERM "${ENGINE:-}" 2>/dev/null || true
    kill -INT "${BARE:-}" 2>/dev/null || true
    wait 2>/dev/null || true
}
trap cleanup EXIT

INPUT="$WORK/households-$HOUSEHOLDS.csv"
if [ ! -s "$INPUT" ]; then
    "$BIN/village-gen" --households "$HOUSEHOLDS" --villages $(((HOUSEHOLDS + 999) / 1000)) \
        --seed 2026 --output "$INPUT"
fi
# The bank's households: a national ID number (GB 11643 check character)
# and a branch for each.
IDS="$WORK/ids-$HOUSEHOLDS.csv"
if [ ! -s "$IDS" ]; then
    python3 - "$INPUT" "$IDS" <<'PY'
import csv, sys
W = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2]
with open(sys.argv[1]) as f, open(sys.argv[2], "w", newline="") as out:
    w = csv.writer(out)
    w.writerow(["household_id", "national_id", "branch"])
    for row in csv.DictReader(f):
        h = row["household_id"]
        first = "3201021980" + h[1:].rjust(7, "0")[-7:]
        check = "10X98765432"[sum(int(c) * k for c, k in zip(first, W)) % 11]
        w.writerow([h, first + check, "B" + str(int(row["village_code"][1:]) % 12)])
PY
fi
mkdir -p "$WORK/secrets"
head -c 40 /dev/urandom | base64 > "$WORK/secrets/id.key"
rm -rf "$WORK/data" "$WORK"/decisions.csv*

/usr/bin/time -f "%e %M" -o "$WORK/batch.time" "$BIN/decision-engine" batch --input "$INPUT" \
    --output "$WORK/decisions.csv" --institution 3201 --data-dir "$WORK/data" --quiet > "$WORK/batch.out"
read -r BATCH_S BATCH_KIB < "$WORK/batch.time"
BATCH_ID="$(cat "$WORK/batch.out")"
echo "batch $BATCH_ID: ${BATCH_S}s, peak ${BATCH_KIB} KiB"

RUST_LOG=warn "$BIN/decision-engine" serve --listen 127.0.0.1:0 --http-listen off --data-dir "$WORK/data" \
    --metrics-listen off --tokens-file config/tokens.dev.toml --id-key-file "$WORK/secrets/id.key" --import-dir "$WORK" \
    > "$WORK/engine.out" &
ENGINE=$!
"$BIN/loadgen" bare --listen 127.0.0.1:0 > "$WORK/bare.out" &
BARE=$!
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
ENGINE_ADDR="$(wait_addr "$WORK/engine.out" 'decision-engine listening on')"
BARE_ADDR="$(wait_addr "$WORK/bare.out" 'loadgen bare service listening on')"
BEFORE_KB="$(awk '/VmRSS/ {print $2}' "/proc/$ENGINE/status")"
VALID="$(date -d '+180 days' +%F)"
export DECISION_ENGINE_SERVER="http://$ENGINE_ADDR"
START=$(date +%s.%N)
DECISION_ENGINE_TOKEN=dev-lead-token-00000001 "$BIN/decision-engine" precredit publish "$BATCH_ID" \
    --valid-until "$VALID" --households "$(basename "$IDS")" | tee "$WORK/publish.out"
MID=$(date +%s.%N)
DECISION_ENGINE_TOKEN=dev-approver-token-0001 "$BIN/decision-engine" precredit approve \
    "$(cut -d' ' -f1 "$WORK/publish.out")" > "$WORK/approve.out"
END=$(date +%s.%N)
PEAK_KB="$(awk '/VmHWM/ {print $2}' "/proc/$ENGINE/status")"
PUBLISH_S=$(echo "$MID - $START" | bc)
APPROVE_S=$(echo "$END - $MID" | bc)

RESULTS="$WORK/results.jsonl"
: > "$RESULTS"
for label in bare engine; do
    addr=$BARE_ADDR
    [ "$label" = engine ] && addr=$ENGINE_ADDR
    DECISION_ENGINE_TOKEN=dev-client-token-000001 "$BIN/loadgen" run --target "http://$addr" \
        --call get-precredit --households "$HOUSEHOLDS" --institution 3201 \
        --concurrency "$CONCURRENCY" --duration "$SECONDS_PER_POINT" --label "$label" | tee -a "$RESULTS"
done

python3 - "$RESULTS" "$BATCH_S" "$BATCH_KIB" "$PUBLISH_S" "$APPROVE_S" "$BEFORE_KB" "$PEAK_KB" "$HOUSEHOLDS" "$CONCURRENCY" "$WORK/data/decisions.sqlite" <<'PY'
import json, os, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
batch_s, batch_kib, publish_s, approve_s = float(sys.argv[2]), int(sys.argv[3]), float(sys.argv[4]), float(sys.argv[5])
before_kb, peak_kb, households, c, db = int(sys.argv[6]), int(sys.argv[7]), int(sys.argv[8]), sys.argv[9], sys.argv[10]
bare = next(r for r in rows if r["label"] == "bare")
eng = next(r for r in rows if r["label"] == "engine")
print()
print(f"| households | batch run | publish | approve | publish / batch | server RSS before -> peak | store file |")
print(f"|---|---|---|---|---|---|---|")
print(f"| {households:,} | {batch_s:.1f} s ({batch_kib // 1024} MiB) | {publish_s:.1f} s | {approve_s:.1f} s | {publish_s / batch_s:.2f} | {before_kb // 1024} -> {peak_kb // 1024} MiB | {os.path.getsize(db) / 2**20:.0f} MiB |")
print()
print(f"| GetPreCredit, c = {c} | calls/s | p50 ms | p99 ms | errors |")
print(f"|---|---|---|---|---|")
for r in (bare, eng):
    print(f"| {r['label']} | {r['throughput_per_s']:,.0f} | {r['p50_ms']:.2f} | {r['p99_ms']:.2f} | {sum(r['errors'].values())} |")
print(f"| ratio engine / bare | {eng['throughput_per_s'] / bare['throughput_per_s']:.2f} | | | |")
PY
