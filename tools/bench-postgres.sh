#!/usr/bin/env bash
# Pre-review throughput and latency with the PostgreSQL store, one replica
# and two, against the embedded SQLite store and a bare tonic service
# answering the same RPC with a canned reply of the same size, all measured
# in this run on this machine, at several concurrencies.
#
#   tools/bench-postgres.sh [SECONDS_PER_POINT] [CONCURRENCIES...]
#
# PostgreSQL is a throw-away cluster made here (initdb + pg_ctl in a
# temporary directory, a free port, default durability: fsync on,
# synchronous_commit on), as the tests make theirs. "two replicas" spreads
# the load generator's connections over both servers. Everything shares
# this machine's cores: the load generator, the servers and PostgreSQL.
set -euo pipefail
cd "$(dirname "$0")/.."
SECONDS_PER_POINT="${1:-10}"
shift || true
CONCURRENCIES=("${@:-16 64 256}")
read -r -a CONCURRENCIES <<< "${CONCURRENCIES[*]}"

cargo build --release -q -p decision-engine -p loadgen
BIN="${CARGO_TARGET_DIR:-target}/release"
PG_BIN="${DECISION_PG_BIN:-$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n1)}"
WORK="$(mktemp -d)"
AS_PG=()
if [ "$(id -u)" = 0 ]; then chown postgres: "$WORK"; AS_PG=(runuser -u postgres --); fi
PIDS=()
cleanup() {
    for p in "${PIDS[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
    wait 2>/dev/null || true
    "${AS_PG[@]}" "$PG_BIN/pg_ctl" -D "$WORK/pg" -m immediate -w stop >/dev/null 2>&1 || true
    rm -rf "$WORK"
}
trap cleanup EXIT

PORT="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')"
"${AS_PG[@]}" "$PG_BIN/initdb" -D "$WORK/pg" -A trust -U postgres -E UTF8 --no-instructions >/dev/null
echo "max_connections = 200" >> "$WORK/pg/postgresql.conf"
"${AS_PG[@]}" "$PG_BIN/pg_ctl" -D "$WORK/pg" -o "-p $PORT -k $WORK -c listen_addresses=127.0.0.1" \
    -l "$WORK/pg.log" -w start >/dev/null
"${AS_PG[@]}" "$PG_BIN/createdb" -h 127.0.0.1 -p "$PORT" -U postgres decisions
URL="postgres://postgres@127.0.0.1:$PORT/decisions"

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
serve() { # name extra-args...
    local name="$1"; shift
    RUST_LOG=warn "$BIN/decision-engine" serve --listen 127.0.0.1:0 --http-listen off --data-dir "$WORK/$name" \
        --metrics-listen off --max-in-flight 4096 "$@" > "$WORK/$name.out" &
    PIDS+=($!)
}
serve sqlite
serve pg_a --store "$URL" --store-connections 32
serve pg_b --store "$URL" --store-connections 32
"$BIN/loadgen" bare --listen 127.0.0.1:0 > "$WORK/bare.out" &
PIDS+=($!)
SQLITE="http://$(wait_addr "$WORK/sqlite.out" 'decision-engine listening on')"
PG_A="http://$(wait_addr "$WORK/pg_a.out" 'decision-engine listening on')"
PG_B="http://$(wait_addr "$WORK/pg_b.out" 'decision-engine listening on')"
BARE="http://$(wait_addr "$WORK/bare.out" 'loadgen bare service listening on')"

RESULTS="$WORK/results.jsonl"
for c in "${CONCURRENCIES[@]}"; do
    for point in "bare $BARE" "sqlite $SQLITE" "postgres-1 $PG_A" "postgres-2 $PG_A,$PG_B"; do
        read -r label target <<< "$point"
        "$BIN/loadgen" run --target "$target" --concurrency "$c" --duration "$SECONDS_PER_POINT" \
            --label "$label" --id-prefix "BENCH-$label-$c-$RANDOM" | tee -a "$RESULTS"
    done
done
ROWS="$("${AS_PG[@]}" psql -h 127.0.0.1 -p "$PORT" -U postgres -d decisions -tAc 'select count(*) from decisions')"

python3 - "$RESULTS" "$ROWS" <<'PY'
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
by = {}
for r in rows:
    by.setdefault(r["concurrency"], {})[r["label"]] = r
labels = ["sqlite", "postgres-1", "postgres-2"]
print()
print("| concurrency | bare tonic (calls/s) | " + " | ".join(f"{l} (calls/s, ratio, p50 / p99 ms, errors)" for l in labels) + " |")
print("|---|---|" + "---|" * len(labels))
for c in sorted(by):
    b = by[c]["bare"]
    cells = []
    for l in labels:
        e = by[c][l]
        cells.append(f"{e['throughput_per_s']:.0f}, {e['throughput_per_s']/b['throughput_per_s']:.2f}, "
                     f"{e['p50_ms']:.2f} / {e['p99_ms']:.2f}, {sum(e['errors'].values())}")
    print(f"| {c} | {b['throughput_per_s']:.0f} | " + " | ".join(cells) + " |")
print(f"\ndecisions in PostgreSQL after the run: {sys.argv[2]}")
PY
