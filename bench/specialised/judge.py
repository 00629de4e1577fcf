"""Scores the specialised audit rankings of bench/specialised/run.sh against
the planted colluders: where the colluders' offices (units) and office ×
post (posts) rank, and how many are in the top k (k = how many are planted),
ranked by the score (ties by code), by its enforcement terms alone (score − integrity_term:
what a caller without integrity data sees) and by the unit's or post's own
integrity score alone (what `riskgate integrity units|posts` ranks by)."""
import json, sys

d = sys.argv[1]
coll = [json.loads(l) for l in open(f"{d}/world/colluders.jsonl") if l.strip()]
planted = {"unit": {c["office"] for c in coll}, "post": {(c["office"], c["post"]) for c in coll}}
key = {"unit": lambda r: r["unit"], "post": lambda r: (r["office"], r["post"])}
modes = [
    ("score", lambda r: r["score"]),
    ("enforcement terms only", lambda r: r["score"] - r["integrity_term"]),
    ("own integrity score only", lambda r: r.get("integrity_score") or 0.0),
]
for period in ("live", "year"):
    for by in ("unit", "post"):
        rows = json.load(open(f"{d}/{by}-{period}.json"))["rows"]
        k, n = len(planted[by]), len(rows)
        for name, score in modes:
            ranked = sorted(rows, key=lambda r: (-score(r), str(key[by](r))))
            pos = [i + 1 for i, r in enumerate(ranked) if key[by](r) in planted[by]]
            top = sum(1 for x in pos if x <= k)
            print(f"{period:4} {by:4} {name:25} {n:3} ranked; planted at {pos}; {top}/{k} in the top {k} (chance {k * k / n:.1f})")
