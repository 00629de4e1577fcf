#!/usr/bin/env python3
"""Helper of tests/crash/run.sh (python3 standard library only).

Subcommands:
  split    live.jsonl -> the part submitted over HTTP and the import chunks
  client   submits declarations to a running `riskgate serve`, recording
           every id whose request was answered 2xx (acknowledged)
  dump     the clean run's decisions, tasks, rule hits and referrals (JSON)
  check    the invariants after a kill, against the acknowledgements, the
           snapshot taken after the previous kill and the clean run
  kpi      compares two `riskgate kpi --format json` outputs
  summary  the figures of a run from its results file

The store is read with sqlite3 in read-only mode, only after a CLI command
has opened it (so a store that does not open is reported by the CLI first).
"""

import argparse
import json
import math
import os
import re
import sqlite3
import sys
import time
import urllib.error
import urllib.request

# Decision fields compared with the clean run. `decided_at` is compared only
# for declarations screened with `--clock declared` (import cycles): `serve`
# stamps decisions with the wall clock, which differs between two runs.
WALL_CLOCK_FIELDS = {"decided_at"}
WALL_CLOCK_RE = re.compile(r'"decided_at":"[^"]*",?')


def read_jsonl(path):
    with open(path, encoding="utf-8") as f:
        return [line for line in f if line.strip()]


def cmd_split(a):
    lines = read_jsonl(a.live)
    if a.limit:
        lines = lines[: a.limit]
    cut = int(len(lines) * a.serve_share)
    serve, rest = lines[:cut], lines[cut:]
    with open(a.serve_out, "w", encoding="utf-8") as f:
        f.writelines(serve)
    # The ids apart, so the client starts at once.
    with open(a.serve_out + ".ids", "w", encoding="utf-8") as f:
        f.writelines(json.loads(line)["id"] + "\n" for line in serve)
    os.makedirs(a.import_dir, exist_ok=True)
    n = max(1, a.chunks)
    size = (len(rest) + n - 1) // n
    files = 0
    for i in range(n):
        part = rest[i * size : (i + 1) * size]
        if not part:
            break
        with open(os.path.join(a.import_dir, f"chunk_{i + 1:03d}.jsonl"), "w", encoding="utf-8") as f:
            f.writelines(part)
        files += 1
    print(f"{len(serve)} {len(rest)} {files}")


# ---------------------------------------------------------------- client


def wait_listening(log, pid, timeout):
    """The address `serve` prints once it listens; None if it died first."""
    t0 = time.time()
    while time.time() - t0 < timeout:
        try:
            with open(log, encoding="utf-8", errors="replace") as f:
                for line in f:
                    if "listening on http://" in line:
                        return line.strip().split("listening on http://", 1)[1]
        except FileNotFoundError:
            pass
        if pid and not alive(pid):
            return None
        time.sleep(0.02)
    return None


def alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # A zombie (killed, not yet reaped by run.sh) counts as dead.
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii") as f:
            return f.read().split(") ", 1)[1][0] != "Z"
    except OSError:
        return True


def post(url, token, body, timeout=60):
    req = urllib.request.Request(
        url,
        data=body,
        method="POST",
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
    )
    with urllib.request.urlopen(req, timeout=timeout) as r:
        return r.status, r.read()


def get(url, token, timeout=60):
    req = urllib.request.Request(url, headers={"Authorization": f"Bearer {token}"})
    with urllib.request.urlopen(req, timeout=timeout) as r:
        return r.status, r.read()


def cmd_client(a):
    """Exit 0: everything acknowledged; 3: the server went away (killed);
    4: an answer that should not happen (non-2xx, or a wrong decision id)."""
    with open(a.input + ".ids", encoding="utf-8") as f:
        ids = [line.strip() for line in f]
    decls = list(zip(ids, (line.strip() for line in read_jsonl(a.input))))
    acked = set()
    if os.path.exists(a.acks):
        for line in read_jsonl(a.acks):
            acked.add(json.loads(line)["id"])
    todo = [(i, t) for i, t in decls if i not in acked]
    stats = {"requests": 0, "acked": 0, "action_reads": 0, "outcome": "done"}

    def finish(code, outcome):
        stats["outcome"] = outcome
        if a.stats:
            with open(a.stats, "w", encoding="utf-8") as f:
                json.dump(stats, f)
        sys.exit(code)

    if not todo:
        finish(0, "done")
    addr = wait_listening(a.serve_log, a.pid, a.wait)
    if addr is None:
        finish(3, "server never listened")
    base = f"http://{addr}/api/v1"
    if a.started:
        with open(a.started, "w", encoding="utf-8") as f:
            f.write("submitting\n")
    out = open(a.acks, "a", encoding="utf-8")
    k = 0
    while k < len(todo):
        chunk = todo[k : k + a.batch]
        body = ("[" + ",".join(t for _, t in chunk) + "]").encode()
        try:
            status, text = post(f"{base}/declarations", a.token, body)
        except urllib.error.HTTPError as e:
            detail = e.read().decode(errors="replace")[:300]
            print(f"client: HTTP {e.code} for ids {chunk[0][0]}..: {detail}", file=sys.stderr)
            finish(4, f"HTTP {e.code}")
        except (urllib.error.URLError, ConnectionError, OSError) as e:
            # Refused, reset or cut: the server was killed. Not acknowledged.
            print(f"client: server gone ({e.__class__.__name__}: {e})", file=sys.stderr)
            finish(3, "server gone")
        stats["requests"] += 1
        answers = json.loads(text)
        if len(answers) != len(chunk):
            print(f"client: {len(answers)} answers for {len(chunk)} declarations", file=sys.stderr)
            finish(4, "answer count")
        for (i, _), d in zip(chunk, answers):
            if d.get("declaration_id") != i or "error" in d:
                print(f"client: answer for {i} is {json.dumps(d)[:300]}", file=sys.stderr)
                finish(4, "wrong answer")
            rec = {"id": i, "channel": d["channel"], "risk_value": d["risk_value"], "risk_level": d["risk_level"]}
            out.write(json.dumps(rec) + "\n")
        out.flush()
        stats["acked"] += len(chunk)
        k += len(chunk)
        # Now and then an administrator reads the action log over HTTP,
        # which appends an `actions_read` entry to the hash chain.
        if a.admin_token and stats["requests"] % a.read_every == 0:
            try:
                get(f"{base}/actions?limit=1", a.admin_token)
                stats["action_reads"] += 1
            except urllib.error.HTTPError as e:
                print(f"client: GET /actions answered {e.code}", file=sys.stderr)
                finish(4, f"actions HTTP {e.code}")
            except (urllib.error.URLError, ConnectionError, OSError):
                finish(3, "server gone")
    finish(0, "done")


# ---------------------------------------------------------------- store reads


def connect(db):
    return sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=30)


def stored(db, refer_rules):
    """id -> {body, task, hits, referrals} for every screened declaration,
    plus the structural problems found on the way."""
    c = connect(db)
    problems = []
    for i, n in c.execute("SELECT id, COUNT(*) FROM declarations GROUP BY id HAVING COUNT(*) > 1"):
        problems.append(f"declaration {i} stored {n} times")
    for s, n in c.execute("SELECT decl, COUNT(*) FROM decisions GROUP BY decl HAVING COUNT(*) > 1"):
        problems.append(f"declaration seq {s} has {n} decisions")
    for (i,) in c.execute(
        "SELECT d.id FROM declarations d LEFT JOIN decisions c ON c.decl = d.seq "
        "WHERE d.historical = 0 AND c.decl IS NULL LIMIT 20"
    ):
        problems.append(f"screened declaration {i} stored without its decision")
    for (i,) in c.execute(
        "SELECT d.id FROM decisions c JOIN declarations d ON d.seq = c.decl WHERE d.historical = 1 LIMIT 20"
    ):
        problems.append(f"historical declaration {i} has a decision")
    for s, n in c.execute("SELECT decl, COUNT(*) FROM control_tasks GROUP BY decl HAVING COUNT(*) > 1"):
        problems.append(f"declaration seq {s} has {n} control tasks")
    tasks = {s: ch for s, ch in c.execute("SELECT decl, channel FROM control_tasks")}
    hits = {}
    for s, r, v in c.execute("SELECT decl, rule_id, version FROM rule_hits ORDER BY decl, rule_id, version"):
        hits.setdefault(s, []).append(f"{r}@{v}")
    referrals = {}
    for decl_id, body in c.execute("SELECT declaration_id, body FROM cases WHERE declaration_id IS NOT NULL"):
        origin = json.loads(body).get("origin", "")
        if origin.startswith("rule:"):
            referrals.setdefault(decl_id, []).append(origin)
    out = {}
    for seq, i, body, channel in c.execute(
        "SELECT d.seq, d.id, c.body, c.channel FROM declarations d JOIN decisions c ON c.decl = d.seq ORDER BY d.seq"
    ):
        h = hits.get(seq, [])
        out[i] = {
            "body": body,
            "task": tasks.get(seq),
            "hits": h,
            "referrals": sorted(referrals.get(i, [])),
        }
        if (channel in ("yellow", "red")) != (seq in tasks):
            problems.append(f"{i}: lane {channel} but control task {tasks.get(seq)}")
        want = sorted(f"rule:{r.split('@')[0]}" for r in h if r.split("@")[0] in refer_rules)
        if sorted(set(want)) != sorted(referrals.get(i, [])):
            problems.append(f"{i}: referring rules fired {want} but referrals {referrals.get(i, [])}")
    c.close()
    return out, problems


def cmd_dump(a):
    rows, problems = stored(a.db, set(a.refer_rule or []))
    if problems:
        print("clean store has problems:\n  " + "\n  ".join(problems[:20]), file=sys.stderr)
        sys.exit(1)
    with open(a.out, "w", encoding="utf-8") as f:
        json.dump(rows, f)
    print(len(rows))


def compare_decision(i, got, want, wall_ids):
    """The differences between a stored decision and the clean run's."""
    same = [got[k] == want[k] for k in ("task", "hits", "referrals")]
    if i in wall_ids:
        same.append(WALL_CLOCK_RE.sub("", got["body"]) == WALL_CLOCK_RE.sub("", want["body"]))
    else:
        same.append(got["body"] == want["body"])
    if all(same):
        return []
    g, w = json.loads(got["body"]), json.loads(want["body"])
    skip = WALL_CLOCK_FIELDS if i in wall_ids else set()
    diffs = []
    for k in sorted(set(g) | set(w)):
        if k in skip:
            continue
        if g.get(k) != w.get(k):
            diffs.append(f"{k}: {json.dumps(g.get(k))[:120]} vs clean {json.dumps(w.get(k))[:120]}")
    for k in ("task", "hits", "referrals"):
        if got[k] != want[k]:
            diffs.append(f"{k}: {got[k]} vs clean {want[k]}")
    return diffs


def cmd_check(a):
    rows, problems = stored(a.db, set(a.refer_rule or []))
    mismatches = list(problems)
    compared = {"decisions": len(rows), "acked": 0, "snapshot": 0, "clean": 0}
    # Every acknowledged id: exactly one decision (duplicates are found
    # above), with the lane and risk value the client was answered.
    if a.acks and os.path.exists(a.acks):
        for line in read_jsonl(a.acks):
            r = json.loads(line)
            compared["acked"] += 1
            s = rows.get(r["id"])
            if s is None:
                mismatches.append(f"acknowledged {r['id']} lost")
                continue
            d = json.loads(s["body"])
            for k in ("channel", "risk_value", "risk_level"):
                if d[k] != r[k]:
                    mismatches.append(f"acknowledged {r['id']}: {k} {d[k]} stored, {r[k]} answered")
    # No decision stored before this kill changed or vanished (byte for byte).
    snap = {}
    if a.snapshot and os.path.exists(a.snapshot):
        with open(a.snapshot, encoding="utf-8") as f:
            snap = json.load(f)
    for i, body in snap.items():
        compared["snapshot"] += 1
        s = rows.get(i)
        if s is None:
            mismatches.append(f"decision of {i} vanished")
        elif s["body"] != body:
            mismatches.append(f"decision of {i} changed: {body[:160]} -> {s['body'][:160]}")
    # Every stored decision equals the clean run's for the same id.
    wall = set()
    if a.wall_ids:
        with open(a.wall_ids, encoding="utf-8") as f:
            wall = {line.strip() for line in f}
    if a.clean:
        with open(a.clean, encoding="utf-8") as f:
            clean = json.load(f)
        for i, s in rows.items():
            compared["clean"] += 1
            w = clean.get(i)
            if w is None:
                mismatches.append(f"{i} stored but not in the clean run")
                continue
            for d in compare_decision(i, s, w, wall):
                mismatches.append(f"{i} differs from the clean run: {d}")
        if a.final:
            missing = sorted(set(clean) - set(rows))
            compared["missing"] = len(missing)
            for i in missing[:20]:
                mismatches.append(f"{i} decided in the clean run but not stored")
            if len(missing) > 20:
                mismatches.append(f"... and {len(missing) - 20} more not stored")
    if a.remaining_of:
        left = sum(1 for line in read_jsonl(a.remaining_of) if json.loads(line)["id"] not in rows)
        with open(a.remaining_out, "w", encoding="utf-8") as f:
            f.write(f"{left}\n")
    if a.snapshot:
        with open(a.snapshot + ".tmp", "w", encoding="utf-8") as f:
            json.dump({i: s["body"] for i, s in rows.items()}, f)
        os.replace(a.snapshot + ".tmp", a.snapshot)
    res = {"label": a.label, "kind": a.kind, "compared": compared, "mismatches": len(mismatches),
           "first": mismatches[:10]}
    if a.results:
        with open(a.results, "a", encoding="utf-8") as f:
            f.write(json.dumps(res, ensure_ascii=False) + "\n")
    line = (f"{a.label}: {compared['decisions']} decisions, {compared['acked']} acknowledged, "
            f"{compared['snapshot']} unchanged since the last kill, {compared['clean']} equal to clean")
    if mismatches:
        print(f"{line}: {len(mismatches)} MISMATCHES", file=sys.stderr)
        for m in mismatches[:10]:
            print(f"  {m}", file=sys.stderr)
        sys.exit(1)
    print(f"{line}: ok")


# ---------------------------------------------------------------- KPIs and summary


def diff_json(a, b, path, out):
    if type(a) is not type(b):
        out.append(f"{path}: {json.dumps(a)[:80]} vs {json.dumps(b)[:80]}")
    elif isinstance(a, dict):
        for k in sorted(set(a) | set(b)):
            if k not in a or k not in b:
                out.append(f"{path}.{k}: only in {'crash' if k in a else 'clean'}")
            else:
                diff_json(a[k], b[k], f"{path}.{k}", out)
    elif isinstance(a, list):
        if len(a) != len(b):
            out.append(f"{path}: {len(a)} vs {len(b)} entries")
        for n, (x, y) in enumerate(zip(a, b)):
            diff_json(x, y, f"{path}[{n}]", out)
    elif isinstance(a, float) and math.isclose(a, b, rel_tol=1e-12, abs_tol=1e-9):
        # Sums of money folded in other batches round differently in the
        # last bit; anything larger is a difference.
        pass
    elif a != b:
        out.append(f"{path}: {a} vs clean {b}")


def cmd_kpi(a):
    with open(a.crash, encoding="utf-8") as f:
        x = json.load(f)
    with open(a.clean, encoding="utf-8") as f:
        y = json.load(f)
    out = []
    diff_json(x, y, "kpi", out)
    figures = sum(1 for _ in walk(y))
    res = {"label": "final kpi", "kind": "kpi", "compared": {"kpi_values": figures}, "mismatches": len(out),
           "first": out[:10]}
    if a.results:
        with open(a.results, "a", encoding="utf-8") as f:
            f.write(json.dumps(res, ensure_ascii=False) + "\n")
    if out:
        print(f"KPIs differ from the clean run in {len(out)} places:", file=sys.stderr)
        for o in out[:10]:
            print(f"  {o}", file=sys.stderr)
        sys.exit(1)
    print(f"kpi: {figures} values equal to the clean run")


def walk(v):
    if isinstance(v, dict):
        for x in v.values():
            yield from walk(x)
    elif isinstance(v, list):
        for x in v:
            yield from walk(x)
    else:
        yield v


def cmd_summary(a):
    rows = [json.loads(line) for line in read_jsonl(a.results)]
    bad = [r for r in rows if r["mismatches"]]
    kinds = {}
    for r in rows:
        kinds[r["kind"]] = kinds.get(r["kind"], 0) + 1
    print("checks: " + ", ".join(f"{v} after {k}" for k, v in sorted(kinds.items())))
    print(f"mismatches: {sum(r['mismatches'] for r in rows)} (in {len(bad)} of {len(rows)} checks)")
    for r in bad[:10]:
        print(f"  {r['label']}: {r['mismatches']}: {r['first'][:3]}")


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="cmd", required=True)
    s = sub.add_parser("split")
    s.add_argument("live")
    s.add_argument("serve_out")
    s.add_argument("import_dir")
    s.add_argument("--serve-share", type=float, default=0.5)
    s.add_argument("--chunks", type=int, default=25)
    s.add_argument("--limit", type=int, default=0)
    s = sub.add_parser("client")
    s.add_argument("--serve-log", required=True)
    s.add_argument("--pid", type=int, default=0)
    s.add_argument("--input", required=True)
    s.add_argument("--acks", required=True)
    s.add_argument("--token", required=True)
    s.add_argument("--admin-token", default="")
    s.add_argument("--batch", type=int, default=10)
    s.add_argument("--read-every", type=int, default=5)
    s.add_argument("--wait", type=float, default=120)
    s.add_argument("--stats", default="")
    s.add_argument("--started", default="", help="a file written when the first request goes out")
    s = sub.add_parser("dump")
    s.add_argument("--db", required=True)
    s.add_argument("--out", required=True)
    s.add_argument("--refer-rule", action="append")
    s = sub.add_parser("check")
    s.add_argument("--db", required=True)
    s.add_argument("--label", required=True)
    s.add_argument("--kind", default="kill")
    s.add_argument("--acks", default="")
    s.add_argument("--snapshot", default="")
    s.add_argument("--clean", default="")
    s.add_argument("--wall-ids", default="")
    s.add_argument("--refer-rule", action="append")
    s.add_argument("--results", default="")
    s.add_argument("--final", action="store_true")
    s.add_argument("--remaining-of", default="", help="a JSON Lines file: how many of its ids are not stored")
    s.add_argument("--remaining-out", default="")
    s = sub.add_parser("kpi")
    s.add_argument("crash")
    s.add_argument("clean")
    s.add_argument("--results", default="")
    s = sub.add_parser("summary")
    s.add_argument("results")
    a = p.parse_args()
    {"split": cmd_split, "client": cmd_client, "dump": cmd_dump, "check": cmd_check, "kpi": cmd_kpi,
     "summary": cmd_summary}[a.cmd](a)


if __name__ == "__main__":
    main()
