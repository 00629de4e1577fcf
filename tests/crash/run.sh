#!/usr/bin/env bash
# Crash safety (issue 19, item 4): kill -9 `riskgate serve` and long
# `riskgate import declarations` runs at random moments, reopen, and check
# after every kill that no acknowledged declaration is lost, no decision is
# duplicated or changed, the action-log chain is intact and every stored
# decision equals a clean run's; at the end every decision and the KPIs
# equal the clean run (a fresh store fed the same input without kills).
#
#   RISKGATE_BIN=target/release/riskgate tests/crash/run.sh
#
# Settings (environment):
#   CRASH_RUNS   kills of serve, and kills of import, each (default 25)
#   CRASH_SCALE  world scale for `riskgate generate` (default 0.3)
#   CRASH_SEED   world seed and seed of the random kill moments (default 7)
#   CRASH_LIMIT  live declarations used, 0 for all (default 0)
#   CRASH_CHUNKS import files the second half of the live traffic is cut
#                into (default CRASH_RUNS / 5); each is killed CRASH_RUNS /
#                CRASH_CHUNKS times, then finished
#   CRASH_BATCH  declarations per HTTP request (default 10)
#   CRASH_CLI_DURING_SERVE  1: a CLI command (`riskgate kpi`) opens the store
#                while serve screens, once per serve cycle (default 1)
#   CRASH_DIR    work directory (default: a new temporary one, removed on
#                success unless CRASH_KEEP=1)
# Needs bash, python3 (standard library), and the built binary. Exits 1 on
# any mismatch.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
bin="${RISKGATE_BIN:-$root/target/release/riskgate}"
runs="${CRASH_RUNS:-25}"
scale="${CRASH_SCALE:-0.3}"
seed="${CRASH_SEED:-7}"
limit="${CRASH_LIMIT:-0}"
batch="${CRASH_BATCH:-10}"
chunks="${CRASH_CHUNKS:-$(( (runs + 4) / 5 ))}"
cli_during_serve="${CRASH_CLI_DURING_SERVE:-1}"
keep="${CRASH_KEEP:-0}"
[[ -x "$bin" ]] || { echo "no riskgate binary at $bin (cargo build --release -p riskgate, or set RISKGATE_BIN)" >&2; exit 2; }
bin="$(cd "$(dirname "$bin")" && pwd)/$(basename "$bin")"
work="${CRASH_DIR:-$(mktemp -d /tmp/riskgate-crash.XXXXXX)}"
mkdir -p "$work"
py() { python3 "$here/crash.py" "$@"; }
RANDOM=$seed
started=$SECONDS
cleanup() {
  local status=$?
  # Our own background processes still running (never a recycled pid).
  for p in $(jobs -p); do kill -9 "$p" 2>/dev/null || true; done
  if [[ "$keep" != 1 && $status == 0 && -z "${CRASH_DIR:-}" ]]; then rm -rf "$work"; else echo "work directory kept: $work" >&2; fi
}
trap cleanup EXIT
export RISKGATE_PASSWORD="crash-test-password-1"
unset RISKGATE_DATA RISKGATE_DATABASE_URL RISKGATE_DATABASE_SCHEMA RISKGATE_NATS_URL
rg() { local data="$1"; shift; "$bin" --data "$data" "$@"; }
now() { date +%s.%N; }
since() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.2f", b - a }'; }
# A random delay in [0, max) seconds, from bash's seeded RANDOM.
rnd() { awk -v r="$RANDOM" -v s="$RANDOM" -v m="$1" 'BEGIN { printf "%.3f", m * (r * 32768 + s) / 1073741824 }'; }
log() { printf '[%6ss] %s\n' "$((SECONDS - started))" "$*"; }

# ---------------------------------------------------------------- the world
log "world: seed $seed, scale $scale, in $work"
rg "$work/none" generate --seed "$seed" --scale "$scale" "$work/world" >"$work/generate.log" 2>&1
rm -rf "$work/none"
w="$work/world"
base="$work/base"
for kind in offices officers enterprises forex invoices; do
  rg "$base" import "$kind" "$w/$kind.jsonl" >>"$work/base.log" 2>&1
done
rg "$base" import declarations "$w/history.jsonl" --historical >>"$work/base.log" 2>&1
rg "$base" import outcomes "$w/history_outcomes.jsonl" >>"$work/base.log" 2>&1
# Rules: the demo's three (one forces red) and one that refers each hit to
# the tariff department (a case opened with the decision).
# Written and approved by two authenticated analysts (the CLI logs in with
# RISKGATE_LOGIN_PASSWORD; RISKGATE_PASSWORD is the new accounts' password).
refer_rule=R-CRASH-REF
rg "$base" users add crash.analyst --role risk_analyst >>"$work/base.log" 2>&1
rg "$base" users add crash.chief --role risk_analyst >>"$work/base.log" 2>&1
for f in "$root"/crates/riskgate/src/demo_rules/*.toml "$here/refer-rule.toml"; do
  id="$(sed -n 's/^id = "\(.*\)"/\1/p' "$f")"
  RISKGATE_LOGIN_PASSWORD="$RISKGATE_PASSWORD" rg "$base" --user crash.analyst rules add "$f" >>"$work/base.log" 2>&1
  RISKGATE_LOGIN_PASSWORD="$RISKGATE_PASSWORD" rg "$base" --user crash.chief rules approve "$id" >>"$work/base.log" 2>&1
done
rg "$base" --user crash.admin users add crash.feeder --role machine >>"$work/base.log" 2>&1
rg "$base" --user crash.admin users add crash.auditor --role admin >>"$work/base.log" 2>&1
token="$(rg "$base" --user crash.admin tokens issue --user crash.feeder --name crash --scope declarations:write 2>>"$work/base.log")"
admin_token="$(rg "$base" --user crash.admin tokens issue --user crash.auditor --name crash-audit --scope read 2>>"$work/base.log")"
read -r n_serve n_import n_chunks < <(py split "$w/live.jsonl" "$work/serve.jsonl" "$work/chunks" --chunks "$chunks" --limit "$limit")
log "base store ready: $n_serve declarations for serve, $n_import for import in $n_chunks chunks"

# ---------------------------------------------------------------- helpers
serve_pid=""
start_serve() { # DATA LOG
  "$bin" --data "$1" serve --addr 127.0.0.1:0 >"$2" 2>&1 &
  serve_pid=$!
}
client() { # ACKS LOG [STATS]
  py client --serve-log "$2" --pid "$serve_pid" --input "$work/serve.jsonl" --acks "$1" --token "$token" \
    --admin-token "$admin_token" --batch "$batch" --stats "${3:-}" --started "${4:-}"
}
# Waits for PID at most SECS; 0 if it ended by itself (its status in $rc), 1 if still running.
running() { [[ "$(ps -o stat= -p "$1" 2>/dev/null || true)" =~ ^[^Z] ]]; }
wait_for() {
  local pid="$1" until
  until=$(( ${EPOCHREALTIME/./} + $(awk -v d="$2" 'BEGIN { printf "%d", d * 1000000 }') ))
  while running "$pid" && (( ${EPOCHREALTIME/./} < until )); do sleep 0.01; done
  if running "$pid"; then return 1; fi
  rc=0
  wait "$pid" || rc=$?
  return 0
}
mismatch=0
note_failure() {
  log "MISMATCH: $*"
  mismatch=$((mismatch + 1))
  python3 -c 'import json, sys; print(json.dumps({"label": sys.argv[1], "kind": "cli", "compared": {}, "mismatches": 1, "first": [sys.argv[1]]}, ensure_ascii=False))' "$*" >>"$work/results.jsonl"
}

# ---------------------------------------------------------------- clean run
clean="$work/clean"
cp -a "$base" "$clean"
t0="$(now)"
start_serve "$clean" "$work/clean-serve.log"
until grep -q "listening on" "$work/clean-serve.log"; do
  running "$serve_pid" || { cat "$work/clean-serve.log" >&2; echo "serve did not start" >&2; exit 1; }
  sleep 0.01
done
startup_secs="$(since "$t0")"
t0="$(now)"
client "$work/clean-acks.jsonl" "$work/clean-serve.log" || { cat "$work/clean-serve.log" >&2; echo "clean serve run failed" >&2; exit 1; }
kill -TERM "$serve_pid"; wait "$serve_pid" || true
serve_secs="$(since "$t0")" # submitting time
declare -A chunk_secs
for f in "$work"/chunks/chunk_*.jsonl; do
  t0="$(now)"
  rg "$clean" import declarations "$f" --clock declared >>"$work/clean-import.log" 2>&1
  chunk_secs[$f]="$(since "$t0")"
done
t0="$(now)"
rg "$clean" import declarations "$f" --clock declared >>"$work/clean-import.log" 2>&1
idle_secs="$(since "$t0")"
rg "$clean" audit verify >/dev/null
rg "$clean" kpi --format json >"$work/clean-kpi.json"
n_clean="$(py dump --db "$clean/riskgate.db" --out "$work/clean.json" --refer-rule "$refer_rule")"
log "clean run: $n_clean decisions; serve part ${serve_secs}s (after ${startup_secs}s to listen), import part $(printf '%s\n' "${chunk_secs[@]}" | awk '{ s += $1 } END { printf "%.1f", s }')s"

# ---------------------------------------------------------------- crash run
crash="$work/crash"
cp -a "$base" "$crash"
acks="$work/acks.jsonl"
: >"$acks"
snapshot="$work/snapshot.json"
# Checks a copy of the store as the kill left it (so the next start
# recovers the store itself): the CLI opens it (checkpoint and replay),
# verifies the action-log chain and computes the KPIs; then the decisions
# are compared with the acknowledgements, the previous snapshot and the
# clean run.
check() { # LABEL KIND [--final]
  local copy="$work/copy"
  rm -rf "$copy"; mkdir -p "$copy"
  cp -a "$crash"/riskgate.db* "$copy"/
  rg "$copy" audit verify >"$work/verify.log" 2>&1 || note_failure "$1: audit verify failed: $(tail -1 "$work/verify.log")"
  rg "$copy" kpi --format json >/dev/null 2>"$work/kpi.log" || note_failure "$1: kpi failed: $(tail -1 "$work/kpi.log")"
  py check --db "$copy/riskgate.db" --label "$1" --kind "$2" --acks "$acks" --snapshot "$snapshot" \
    --clean "$work/clean.json" --wall-ids "$work/serve.jsonl.ids" --refer-rule "$refer_rule" \
    --results "$work/results.jsonl" "${@:3}" >>"$work/checks.log" 2>&1 || {
    mismatch=$((mismatch + 1)); tail -5 "$work/checks.log" | sed 's/^/    /'; }
}

# Serve: each cycle starts serve, submits from the first unacknowledged
# declaration on, and kills serve after a random delay: every fifth cycle
# within the time serve takes to start listening (recovery, replay),
# the others once the client submits, within 1.6 times a cycle's share
# of the clean run's submitting time.
serve_kills=0; in_flight=0; startup_kills=0
max_delay="$(awk -v s="$serve_secs" -v r="$runs" 'BEGIN { printf "%.3f", 1.6 * s / r }')"
for c in $(seq 1 "$runs"); do
  slog="$work/serve-$c.log"
  : >"$slog"
  start_serve "$crash" "$slog"
  rm -f "$work/started"
  client "$acks" "$slog" "$work/client-$c.json" "$work/started" >>"$work/client.log" 2>&1 &
  cpid=$!
  cli_pid=""
  if [[ "$cli_during_serve" == 1 ]]; then
    (sleep "$(rnd "$(awk -v a="$startup_secs" -v b="$max_delay" 'BEGIN { print a + b }')")"
     rg "$crash" kpi --format json >/dev/null 2>>"$work/cli-during-serve.log") &
    cli_pid=$!
  fi
  if ((c % 5 == 0)); then
    delay="$(rnd "$startup_secs")"; when="after ${delay}s, starting"
  else
    for _ in $(seq 1 6000); do [[ -e "$work/started" ]] && break; running "$cpid" || break; sleep 0.01; done
    delay="$(rnd "$max_delay")"; when="${delay}s into the submissions"
  fi
  if wait_for "$serve_pid" "$delay"; then
    note_failure "serve cycle $c: serve exited by itself (status $rc): $(tail -2 "$slog")"
  else
    kill -9 "$serve_pid" 2>/dev/null || true
    rc=0; wait "$serve_pid" 2>/dev/null || rc=$?
    if ((rc == 137)); then
      serve_kills=$((serve_kills + 1))
      grep -q "listening on" "$slog" || startup_kills=$((startup_kills + 1))
    else
      note_failure "serve cycle $c: serve exited by itself (status $rc): $(tail -2 "$slog")"
    fi
  fi
  crc=0; wait "$cpid" || crc=$?
  case $crc in
    0) ;;
    3) [[ -e "$work/started" ]] && in_flight=$((in_flight + 1)) ;;
    *) note_failure "serve cycle $c: client failed ($crc): $(tail -2 "$work/client.log")" ;;
  esac
  if [[ -n "$cli_pid" ]]; then wait "$cli_pid" || note_failure "serve cycle $c: a CLI command failed while serve ran: $(tail -1 "$work/cli-during-serve.log")"; fi
  check "serve kill $c ($when)" serve
done
acked_before_final="$(wc -l <"$acks")"
start_serve "$crash" "$work/serve-final.log"
client "$acks" "$work/serve-final.log" >>"$work/client.log" 2>&1 || note_failure "final serve run: client failed"
kill -TERM "$serve_pid"; wait "$serve_pid" || true
check "serve finished" serve
log "serve: $serve_kills kills ($startup_kills before it listened, $in_flight while the client was submitting), $acked_before_final acknowledged before the last kill, $(wc -l <"$acks") in all"

# Import: each chunk is imported, killed at a random moment and imported
# again, until its share of the kills is reached (a run that finished
# before its kill is started again with nothing left to screen, and killed
# while it replays, finds every id stored or saves its checkpoint); then
# one run finishes it.
# The kill comes within the time the run would take: the clean run's time
# for the chunk, scaled by the part not yet stored, plus the time of a run
# with nothing left to do (start, replay, checkpoint).
import_kills=0; import_runs=0; k=0; quota=0
per_chunk=$(( (runs + n_chunks - 1) / n_chunks ))
for f in "$work"/chunks/chunk_*.jsonl; do
  k=$((k + 1)); attempt=0; quota=$((quota + per_chunk))
  total="$(wc -l <"$f")"; left="$total"
  while :; do
    attempt=$((attempt + 1)); import_runs=$((import_runs + 1))
    if ((import_kills < quota)); then
      delay="$(rnd "$(awk -v t="${chunk_secs[$f]}" -v z="$idle_secs" -v l="$left" -v n="$total" 'BEGIN { print z + (t - z) * l / n }')")"
    else
      delay=100000
    fi
    # The binary itself in the background (not a function: $! would be a subshell).
    "$bin" --data "$crash" import declarations "$f" --clock declared >"$work/import.log" 2>&1 &
    ipid=$!
    if wait_for "$ipid" "$delay"; then
      [[ $rc == 0 ]] || note_failure "import of chunk $k failed ($rc): $(tail -2 "$work/import.log")"
      # Finished before its kill: again (nothing left to screen) while
      # the chunk's share of kills is not reached.
      ((import_kills >= quota || attempt >= 4 * per_chunk)) && break
      left=0
      continue
    fi
    kill -9 "$ipid" 2>/dev/null || true
    rc=0; wait "$ipid" 2>/dev/null || rc=$?
    if ((rc != 137)); then # it ended by itself just before the kill
      [[ $rc == 0 ]] || note_failure "import of chunk $k failed ($rc): $(tail -2 "$work/import.log")"
      ((import_kills >= quota || attempt >= 4 * per_chunk)) && break
      left=0
      continue
    fi
    import_kills=$((import_kills + 1))
    check "import kill $import_kills (chunk $k, run $attempt, after ${delay}s)" import --remaining-of "$f" --remaining-out "$work/left"
    left="$(cat "$work/left")"
  done
done
log "import: $import_kills kills in $import_runs runs of $k chunks"

# ---------------------------------------------------------------- final comparison
check "final" final --final
rg "$crash" kpi --format json >"$work/crash-kpi.json"
py kpi "$work/crash-kpi.json" "$work/clean-kpi.json" --results "$work/results.jsonl" >>"$work/checks.log" 2>&1 || {
  mismatch=$((mismatch + 1)); tail -5 "$work/checks.log" | sed 's/^/    /'; }

echo
echo "crash safety summary (seed $seed, scale $scale, $(nproc) cores, $(awk '/MemTotal/ { printf "%.0f GB", $2 / 1048576 }' /proc/meminfo))"
echo "  runs: $((runs + 1)) of serve, $import_runs of import ($k chunks), clean run for reference"
echo "  kills: $serve_kills serve ($startup_kills before it listened, $in_flight with requests in flight), $import_kills import; $((serve_kills + import_kills)) in all"
echo "  acknowledged ids: $(wc -l <"$acks") of $n_serve submitted over HTTP; decisions: $n_clean in the clean run"
echo "  compared after each kill: the CLI opens the store (audit verify: action-log chain; kpi), each"
echo "    acknowledged id has one decision with the answered lane, risk value and level, no duplicate"
echo "    declaration, decision or control task, lanes match control tasks, referring-rule hits match"
echo "    cases, every decision stored earlier is byte-identical, every stored decision equals the clean"
echo "    run's (all fields, decided_at only for --clock declared, with control task, rule hits, referrals)"
echo "  at the end: every decision of the clean run is stored and equal; kpi --format json equal"
py summary "$work/results.jsonl" | sed 's/^/  /'
echo "  duration: $((SECONDS - started))s"
if ((mismatch > 0)); then
  echo "FAILED: $mismatch checks found mismatches (details in $work/checks.log)"
  exit 1
fi
echo "OK"
