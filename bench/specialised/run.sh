#!/usr/bin/env bash
# Specialised audit selection on a generated world (BENCHMARKS.md
# "Specialised audit selection (issue 12)"):
#   bench/specialised/run.sh SEED SCALE COLLUDERS AUDITS DIR
# generates a world with planted colluders, loads its history, screens the
# live traffic, simulates the officers' controls and overrides, opens an
# audit plan of AUDITS for HQ over the live window and concludes it
# (simulate --audits), then ranks units and posts over the live window
# (DIR/unit-live.json, post-live.json) and over 2026-01-01..2026-12-31,
# history included (unit-year.json, post-year.json). judge.py DIR scores
# the rankings against colluders.jsonl. RISKGATE_BIN: the binary (default
# the debug build).
set -euo pipefail
seed=$1 scale=$2 coll=$3 cap=$4 d=$5
bin=${RISKGATE_BIN:-${CARGO_TARGET_DIR:-target}/debug/riskgate}
rm -rf "$d"; mkdir -p "$d"
w=$d/world; export RISKGATE_DATA=$d/data
"$bin" generate --seed "$seed" --scale "$scale" --colluders "$coll" "$w" >/dev/null 2>&1
for k in offices officers enterprises forex; do "$bin" --user admin import $k "$w/$k.jsonl" >/dev/null; done
"$bin" --user admin import declarations --historical "$w/history.jsonl" >/dev/null
"$bin" --user admin import outcomes "$w/history_outcomes.jsonl" >/dev/null
"$bin" --user admin screen "$w/live.jsonl" --clock declared --out "$d/decisions.jsonl" >/dev/null 2>&1
"$bin" --user admin simulate --truth "$w/truth.jsonl" --decisions "$d/decisions.jsonl" --out "$d/o.jsonl" \
  --overrides "$d/ov.jsonl" >/dev/null 2>&1
"$bin" --user admin import overrides "$d/ov.jsonl" >/dev/null
"$bin" --user admin import outcomes "$d/o.jsonl" >/dev/null
first=$(head -c 400 "$w/live.jsonl" | grep -o '"declared_at": *"[0-9-]*' | head -1 | grep -o '[0-9]\{4\}-[0-9-]*')
"$bin" --user chen post-clearance plan --capacity "0000=$cap" --name "bench-$seed" --from "$first" --to 2026-12-31 >/dev/null
"$bin" --user audit simulate --truth "$w/truth.jsonl" --audits 2>&1 | tail -1
for by in unit post; do
  "$bin" --user chen post-clearance specialised --by $by --from "$first" --to 2026-12-31 --limit 1000 --format json >"$d/$by-live.json"
  "$bin" --user chen post-clearance specialised --by $by --from 2026-01-01 --to 2026-12-31 --limit 1000 --format json >"$d/$by-year.json"
done
