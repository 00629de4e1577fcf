#!/usr/bin/env bash
# NATS workers benchmark (BENCHMARKS.md "NATS workers"): declarations per
# second end to end, from the start of `riskgate submit` to the last stored
# decision, with 1, 2 and 4 workers; then the fault run: kill -9 one of two
# workers in the middle and compare every decision with the 2-worker run.
# Every run is also compared with one process screening the same file on
# the same store (`screen --clock declared`): lanes and risk values that
# differ, and the truth hit rate of the controls (ARCHITECTURE.md, "one
# context for all workers").
#
#   bench/bus.sh                      # 100k declarations on SQLite, --order-slack 100 (the default)
#   STORE=postgres bench/bus.sh       # on PostgreSQL (127.0.0.1:5432, trust)
#   N=20000 WORKERS="1 2" bench/bus.sh
#   SEED=4242 SLACK=0 bench/bus.sh     # another world; strict stream order
#
# Needs nats-server with JetStream on 127.0.0.1:4222 and a release build.
set -euo pipefail
cd "$(dirname "$0")/.."

N=${N:-100000}
SEED=${SEED:-1} # the generated world
STORE=${STORE:-sqlite}
WORKERS=${WORKERS:-"1 2 4"}
PARTITIONS=${PARTITIONS:-8}
SLACK=${SLACK-100} # empty: the flag is not passed (builds before it existed)
R=${RISKGATE:-$PWD/target/release/riskgate}
DIR=${DIR:-/tmp/riskgate-bench-bus}
NATS=${NATS:-nats://127.0.0.1:4222}
PG=${PG:-postgres://root@127.0.0.1:5432}
TAG=b$$

rm -rf "$DIR"
mkdir -p "$DIR"
scale=$(python3 -c "print(max(0.05, $N / 40000 * 1.05))")
"$R" generate --seed "$SEED" --scale "$scale" "$DIR/world" 2>/dev/null
head -n "$N" "$DIR/world/live.jsonl" >"$DIR/live.jsonl"

store_args() { # run name → the store option of every command
  if [ "$STORE" = postgres ]; then
    echo "--database-url $PG/rg_${TAG}_$1"
  else
    echo "--data $DIR/$1"
  fi
}

sql() { # run name, query → one value
  if [ "$STORE" = postgres ]; then
    psql -h 127.0.0.1 -U root -d "rg_${TAG}_$1" -tAc "$2"
  else
    python3 -c "import sqlite3,sys; print(sqlite3.connect(sys.argv[1]).execute(sys.argv[2]).fetchone()[0])" \
      "$DIR/$1/riskgate.db" "$2"
  fi
}

load_base() { # registry, payments, history and outcomes once (not timed)
  if [ "$STORE" = postgres ]; then
    psql -h 127.0.0.1 -U root -d test -qc "DROP DATABASE IF EXISTS rg_${TAG}_base" -c "CREATE DATABASE rg_${TAG}_base"
  fi
  local s
  s=$(store_args base)
  for k in offices officers enterprises forex; do "$R" $s import "$k" "$DIR/world/$k.jsonl" >/dev/null; done
  "$R" $s import declarations --historical "$DIR/world/history.jsonl" >/dev/null
  "$R" $s import outcomes "$DIR/world/history_outcomes.jsonl" >/dev/null
}

load() { # run name: a copy of the base store
  if [ "$STORE" = postgres ]; then
    psql -h 127.0.0.1 -U root -d test -qc "DROP DATABASE IF EXISTS rg_${TAG}_$1" \
      -c "CREATE DATABASE rg_${TAG}_$1 TEMPLATE rg_${TAG}_base"
  else
    rm -rf "${DIR:?}/$1"
    cp -r "$DIR/base" "$DIR/$1"
  fi
}

screened() { sql "$1" "SELECT COUNT(*) FROM decisions"; }

now() { date +%s.%N; }

run() { # run name, workers, kill? → prints the line for BENCHMARKS.md
  local name=$1 workers=$2 kill=${3:-}
  load "$name"
  local s prefix pids=() t0 t1 ts
  s=$(store_args "$name")
  prefix=$TAG$name
  # Workers are services: started first, timed once every partition is built.
  for i in $(seq 1 "$workers"); do
    "$R" $s worker --nats-url "$NATS" --bus-prefix "$prefix" --id "w$i" --clock declared --partitions "$PARTITIONS" ${SLACK:+--order-slack "$SLACK"} \
      2>"$DIR/$name-w$i.log" &
    pids+=($!)
  done
  ready() { cat "$DIR/$name"-w*.log | grep -c 'ready in' || true; }
  local last=-1
  while [ "$(ready)" -lt "$PARTITIONS" ] || [ "$(ready)" != "$last" ]; do # built, and no more handoffs
    last=$(ready)
    sleep 4
  done
  cpu() { # CPU of the workers still running (user + system, clock ticks)
    local sum=0 t q
    for q in "${pids[@]}"; do
      t=$(awk '{print $14 + $15}' "/proc/$q/stat" 2>/dev/null || echo 0)
      sum=$((sum + t))
    done
    echo "$sum"
  }
  local ticks0
  ticks0=$(cpu)
  t0=$(now)
  "$R" $s submit --nats-url "$NATS" --bus-prefix "$prefix" --partitions "$PARTITIONS" "$DIR/live.jsonl" 2>"$DIR/$name-submit.log"
  ts=$(now)
  if [ -n "$kill" ]; then
    while [ "$(screened "$name")" -lt $((N / 2)) ]; do sleep 0.2; done
    pkill -9 -P "${pids[0]}" 2>/dev/null || true
    kill -9 "${pids[0]}"
    echo "  killed worker w1 (pid ${pids[0]}) at $(screened "$name") decisions"
  fi
  while [ "$(screened "$name")" -lt "$N" ]; do sleep 0.2; done
  t1=$(now)
  # Workers' CPU from the submit on (a killed worker's is not counted):
  # each folds every declaration, its own by screening, the others' by
  # catch-up.
  local ticks=$(($(cpu) - ticks0))
  for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  python3 -c "import sys; t0,ts,t1,n,cpu=map(float,sys.argv[1:6]); print(f'{int(sys.argv[6])} workers: submit {ts-t0:.1f}s, submit→last decision {t1-t0:.1f}s, {n/(t1-t0):,.0f} declarations/s; worker CPU {cpu/100:.1f}s ({cpu*1e4/n:.0f} µs per declaration)')" \
    "$t0" "$ts" "$t1" "$N" "$ticks" "$workers"
}

dump() { # run name → $DIR/NAME.tsv: every decision, field by field, without its timestamp
  local fields="d.id, c.office, c.channel, c.risk_value, c.risk_level, c.source, c.random, c.propensity, c.ranking, c.mandatory"
  local q="SELECT $fields FROM decisions c JOIN declarations d ON d.seq = c.decl ORDER BY d.id"
  if [ "$STORE" = postgres ]; then
    psql -h 127.0.0.1 -U root -d "rg_${TAG}_$1" -tAc "$q" >"$DIR/$1.tsv"
  else
    python3 -c "import sqlite3,sys
for row in sqlite3.connect(sys.argv[1]).execute(sys.argv[2]): print('|'.join(map(str,row)))" \
      "$DIR/$1/riskgate.db" "$q" >"$DIR/$1.tsv"
  fi
}

against_one() { # run name → lanes and risk values that differ from one process, hit rates against the truth
  dump "$1"
  python3 - "$DIR/one.tsv" "$DIR/$1.tsv" "$DIR/world/truth.jsonl" "$1" <<'PY'
import json, sys
def rows(f):
    out = {}
    for line in open(f):
        c = line.rstrip("\n").split("|")
        out[c[0]] = (c[2], float(c[3]))
    return out
one, run = rows(sys.argv[1]), rows(sys.argv[2])
fraud = {}
for line in open(sys.argv[3]):
    t = json.loads(line)
    fraud[t["declaration_id"]] = t["fraud"]
lanes = sum(1 for k in one if k in run and one[k][0] != run[k][0])
risk = sum(1 for k in one if k in run and abs(one[k][1] - run[k][1]) > 1e-9)
def hit(d):
    c = [k for k, v in d.items() if v[0] != "green"]
    return len(c), sum(fraud.get(k, False) for k in c)
(n1, f1), (n2, f2) = hit(one), hit(run)
print(f"  {sys.argv[4]} against one process ({len(one)} decisions): lanes differ {lanes} ({lanes / len(one):.2%}), "
      f"risk values differ {risk} ({risk / len(one):.2%}); controls {n2} against {n1}, truth hit rate "
      f"{f2 / max(n2, 1):.2%} against {f1 / max(n1, 1):.2%}")
PY
}

echo "riskgate bus benchmark: $N declarations (world seed $SEED), $PARTITIONS partitions, order slack ${SLACK:-(not passed)}, store $STORE, $(nproc) cores"
load_base
load one
t0=$(now)
"$R" $(store_args one) screen --clock declared "$DIR/live.jsonl" >/dev/null 2>"$DIR/one.log"
t1=$(now)
python3 -c "import sys; print(f'one process (screen --clock declared): {float(sys.argv[3])/(float(sys.argv[2])-float(sys.argv[1])):,.0f} declarations/s')" "$t0" "$t1" "$N"
dump one
for w in $WORKERS; do
  run "w$w" "$w"
  against_one "w$w"
done
echo "fault run: 2 workers, kill -9 of one in the middle"
case " $WORKERS " in *" 2 "*) ;; *) run w2 2; against_one w2 ;; esac
run kill 2 kill
against_one kill
q_decisions="SELECT COUNT(*) FROM decisions"
q_distinct="SELECT COUNT(DISTINCT decl) FROM decisions"
q_controls="SELECT COUNT(*) FROM decisions WHERE channel <> 'green'"
for q in "$q_decisions" "$q_distinct" "$q_controls"; do
  echo "  $q: without kill $(sql w2 "$q"), with kill $(sql kill "$q")"
done
if cmp -s "$DIR/w2.tsv" "$DIR/kill.tsv"; then
  echo "  decisions identical field by field ($(wc -l <"$DIR/kill.tsv") rows)"
else
  echo "  decisions DIFFER: $(diff "$DIR/w2.tsv" "$DIR/kill.tsv" | grep -c '^<') rows"
fi
