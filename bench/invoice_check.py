#!/usr/bin/env python3
"""Scores `riskgate money-flow`'s invoice checks against a world's truth.

    bench/invoice_check.sh SEED [SCALE]   # generates, imports, runs, calls this

Reads the money-flow JSON answers (one per period) and the world's
truth.jsonl, history.jsonl, live.jsonl and invoices.jsonl; prints, per period
and finding: listed, fraudulent, of which misclassification / undervaluation,
by ambiguity (candidates 1 vs more), the top 20 by expected duty, and the
recall bound (misclassified imports of the period whose trader issued an
invoice under the true code afterwards).
"""
import json
import sys

world, answers = sys.argv[1], sys.argv[2:]
truth = {}
for line in open(f"{world}/truth.jsonl"):
    t = json.loads(line)
    truth[t["declaration_id"]] = t
declared = {}
for f in ("history.jsonl", "live.jsonl"):
    for line in open(f"{world}/{f}"):
        d = json.loads(line)
        if d["direction"] == "import":
            declared[d["id"]] = d["declared_at"][:10]


def kinds(i):
    t = truth.get(i)
    return set(t["kinds"]) if t and t["fraud"] else set()


for path in answers:
    r = json.load(open(path))
    checks = r["invoice_checks"]
    lo = min((declared[i] for i in declared), default="")
    print(f"== {path}: {r['invoice_checks_total']} listed (answer holds {len(checks)})")
    for finding in ("code", "value"):
        rows = [c for c in checks if c["finding"] == finding]
        if not rows:
            print(f"  {finding}: none")
            continue
        fraud = [c for c in rows if kinds(c["declaration_id"])]
        mis = [c for c in rows if "misclassification" in kinds(c["declaration_id"])]
        under = [c for c in rows if kinds(c["declaration_id"]) & {"undervaluation", "quantity", "smuggling"}]
        one = [c for c in rows if c["candidates"] == 1]
        one_fraud = [c for c in one if kinds(c["declaration_id"])]
        top = rows[:20]
        top_fraud = [c for c in top if kinds(c["declaration_id"])]
        print(
            f"  {finding}: {len(rows)} listed, fraudulent {len(fraud)} ({100*len(fraud)/len(rows):.0f}%), "
            f"misclassification {len(mis)}, value fraud {len(under)}; unambiguous {len(one)} "
            f"(fraudulent {len(one_fraud)}); top 20 by expected duty fraudulent {len(top_fraud)}"
        )
    # Recall bound: misclassified imports declared in the answer's period.
    frm, to = r["from"], r["to"]
    import datetime as dt

    def ts(day):
        return dt.datetime.fromisoformat(day + "T00:00:00+08:00").timestamp()

    period = {i for i, day in declared.items() if frm <= ts(day) < to}
    mis_all = [i for i in period if "misclassification" in kinds(i)]
    found = {c["declaration_id"] for c in checks if c["finding"] == "code"}
    under_all = [i for i in period if kinds(i) & {"undervaluation", "quantity", "smuggling"}]
    valued = {c["declaration_id"] for c in checks if c["finding"] == "value"}
    print(
        f"  misclassified imports in the period: {len(mis_all)}, listed by the code check: "
        f"{len(found & set(mis_all))}; imports with value fraud: {len(under_all)}, listed by the value "
        f"check: {len(valued & set(under_all))}"
    )
