#!/usr/bin/env bash
# HTTP latency at a fixed rate (BENCHMARKS.md, issue 16): makes a demo store
# in DIR once (seed 1, scale 0.2), starts `serve` on PORT, sends 1,000
# declarations a second for 30 s with `bench http`, stops the server and
# prints the slow-work lines of its log.
#   bench/http/fixed_rate.sh BINARY DIR PORT
# For the tmpfs figure, copy a made DIR to /dev/shm and pass that.
set -euo pipefail
bin=$1 dir=$2 port=$3
if [ ! -d "$dir" ]; then
  "$bin" --data "$dir" demo --seed 1 --scale 0.2 >"$dir.demo.log" 2>&1
fi
token=$(grep -o 'rgt_[A-Za-z0-9_]*' "$dir.demo.log" 2>/dev/null | head -1 || true)
[ -n "$token" ] || { echo "no machine token in $dir.demo.log" >&2; exit 1; }
"$bin" --data "$dir" serve --addr "127.0.0.1:$port" >"$dir.serve.log" 2>&1 &
server=$!
trap 'kill $server 2>/dev/null || true' EXIT
sleep 4
"$bin" bench http --addr "127.0.0.1:$port" --token "$token" --declarations "$dir/world/live.jsonl" \
  --rate 1000 --seconds 30 --connections 16 --prefix "R$RANDOM" | tail -2
# How far the background fold of the KPI aggregates is behind when the
# traffic stops (events not yet folded; needs the sqlite3 shell).
if command -v sqlite3 >/dev/null; then
  echo "fold backlog: $(sqlite3 "$dir/riskgate.db" "SELECT (SELECT MAX(seq) FROM declarations) - (SELECT MIN(value) FROM counters WHERE name LIKE 'facts%')") events"
fi
kill $server; wait $server 2>/dev/null || true
grep -i slow "$dir.serve.log" | sort | uniq -c | sort -rn | head -5 || true
