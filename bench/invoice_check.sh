#!/usr/bin/env bash
# Invoice checks of `riskgate money-flow` against a generated world's truth
# (BENCHMARKS.md "VAT invoices against the declared goods"): how many imports
# a later VAT invoice contradicts, how many of them were fraudulent, and
# which kind.
#
#   bench/invoice_check.sh 5        # seed 5, scale 1
#   SCALE=0.5 bench/invoice_check.sh 11
#
# Every declaration is stored as history (no screening), with the world's
# offices, enterprises and VAT invoices; the history and the live window
# are checked as two periods. Needs a release build.
set -euo pipefail
cd "$(dirname "$0")/.."
SEED=${1:-5}
SCALE=${SCALE:-1}
R=${RISKGATE:-$PWD/target/release/riskgate}
DIR=${DIR:-/tmp/riskgate-bench-invoices}
rm -rf "$DIR"
mkdir -p "$DIR"
"$R" generate --seed "$SEED" --scale "$SCALE" "$DIR/world" >/dev/null 2>&1
D="--data $DIR/store"
for f in offices enterprises invoices; do
  "$R" $D import "$f" "$DIR/world/$f.jsonl" >/dev/null
done
"$R" $D import declarations "$DIR/world/history.jsonl" --historical >/dev/null
"$R" $D import declarations "$DIR/world/live.jsonl" --historical >/dev/null
day() { python3 -c "import json,sys; print(json.loads(open(sys.argv[1]).readline())['declared_at'][:10])" "$1"; }
lastday() { python3 -c "import json,sys,datetime as d; l=open(sys.argv[1]).readlines()[-1]; print((d.date.fromisoformat(json.loads(l)['declared_at'][:10])+d.timedelta(days=1)).isoformat())" "$1"; }
H0=$(day "$DIR/world/history.jsonl")
L0=$(day "$DIR/world/live.jsonl")
L1=$(lastday "$DIR/world/live.jsonl")
/usr/bin/time -f "history period: %e s, %M KB" "$R" $D money-flow --from "$H0" --to "$L0" --limit 100000 --format json >"$DIR/history.json"
/usr/bin/time -f "live period: %e s, %M KB" "$R" $D money-flow --from "$L0" --to "$L1" --limit 100000 --format json >"$DIR/live.json"
echo "seed $SEED scale $SCALE: history $H0..$L0, live $L0..$L1"
python3 bench/invoice_check.py "$DIR/world" "$DIR/history.json" "$DIR/live.json"
