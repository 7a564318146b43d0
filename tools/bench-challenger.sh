#!/usr/bin/env bash
# The cost of a shadow challenger on pre-review: the same server measured
# without a challenger, then with an approved activation naming a shadow
# challenger (every call also decided by the challenger's versions and
# recorded beside the champion's), at several concurrencies, in this run on
# this machine. Reports throughput, p50/p99 and the server's CPU time per
# call both ways, their ratio, and checks that every call of the shadow
# phase has its shadow decision (`challenger report`).
#
#   tools/bench-challenger.sh [SECONDS_PER_POINT] [CONCURRENCIES...]
set -euo pipefail
cd "$(dirname "$0")/.."
SECONDS_PER_POINT="${1:-10}"
shift || true
CONCURRENCIES=("${@:-16 64}")
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
export DECISION_ENGINE_SERVER="http://$ADDR"

ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
RESULTS="$WORK/results.jsonl"
CPU="$WORK/cpu"
: > "$CPU"
phase() { # label
    for c in "${CONCURRENCIES[@]}"; do
        before="$(ticks "$ENGINE")"
        "$BIN/loadgen" run --target "http://$ADDR" --concurrency "$c" --duration "$SECONDS_PER_POINT" \
            --label "$1" --id-prefix "CC-$1-$c-$RANDOM" | tee -a "$RESULTS"
        echo "$1 $c $(( $(ticks "$ENGINE") - before ))" >> "$CPU"
    done
}

# Both phases run under an approved activation of the same champion pair:
# the only difference is the challenger.
activate() { # extra arguments of `policy activate`
    local act
    act="$(DECISION_ENGINE_TOKEN=dev-approver-token-0001 "$BIN/decision-engine" policy activate --institution HB-JINGSHAN \
        --ruleset farmer-credit-default@2026.2 --scorecard farmer-scorecard@2026.1 "$@" | awk '{print $1}')"
    DECISION_ENGINE_TOKEN=dev-approver-token-0002 "$BIN/decision-engine" policy approve "$act" > /dev/null
    sleep 1
}
activate
phase champion
SINCE="$(date -u +%Y-%m-%dT%H:%M:%SZ)"
sleep 1
python3 - "$WORK/card.json" <<'PY'
import json, sys
card = json.load(open("scorecards/farmer-scorecard.json"))
card["version"] = "2026.1-bench-challenger"
card["base_points"] = str(int(card["base_points"]) + 20)
json.dump(card, open(sys.argv[1], "w"))
PY
DECISION_ENGINE_TOKEN=dev-analyst-token-0001 "$BIN/decision-engine" policy upload "$WORK/card.json" > /dev/null
activate --challenger-scorecard farmer-scorecard@2026.1-bench-challenger
phase shadow
kill -TERM "$ENGINE"; wait "$ENGINE" || true
ENGINE=""

"$BIN/decision-engine" challenger report --since "$SINCE" --institution HB-JINGSHAN \
    --output "$WORK/swap.csv" --households "$WORK/both.csv" --data-dir "$WORK/data" > "$WORK/report.out"
SHADOWS="$(( $(wc -l < "$WORK/both.csv") - 1 ))"

python3 - "$RESULTS" "$CPU" "$(getconf CLK_TCK)" "$SHADOWS" <<'PY'
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
hz = int(sys.argv[3])
cpu = {}
for line in open(sys.argv[2]):
    label, c, t = line.split()
    cpu[(label, int(c))] = int(t) / hz
by = {}
for r in rows:
    by.setdefault(r["concurrency"], {})[r["label"]] = r
calls = lambda r: r["ok"] + sum(r["errors"].values())
print()
print("| concurrency | champion only (calls/s) | with shadow (calls/s) | ratio | p50 / p99 ms, champion only | p50 / p99 ms, with shadow | CPU µs per call, champion only / with shadow | errors |")
print("|---|---|---|---|---|---|---|---|")
shadow_calls = 0
for c in sorted(by):
    a, s = by[c]["champion"], by[c]["shadow"]
    shadow_calls += s["ok"]
    per = lambda label, r: cpu[(label, c)] * 1e6 / max(calls(r), 1)
    print(f"| {c} | {a['throughput_per_s']:.0f} | {s['throughput_per_s']:.0f} | {s['throughput_per_s']/a['throughput_per_s']:.2f} "
          f"| {a['p50_ms']:.2f} / {a['p99_ms']:.2f} | {s['p50_ms']:.2f} / {s['p99_ms']:.2f} "
          f"| {per('champion', a):.0f} / {per('shadow', s):.0f} | {sum(a['errors'].values()) + sum(s['errors'].values())} |")
print(f"\nshadow phase: {shadow_calls} calls answered, {sys.argv[4]} shadow decisions recorded")
PY
