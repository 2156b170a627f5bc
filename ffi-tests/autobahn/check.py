"""Reads the fuzzing servers' index.json files and fails unless every case is OK, or NON-STRICT or
INFORMATIONAL with its reason written down (for both the behaviour and the close behaviour).

    check.py [--doc DOC] [--cases N] AGENT INDEX_JSON...

Several index.json files (one per fuzzing server the cases were shared out over) are merged; with
--cases, they must hold N cases together, each once. With --doc (docs/CONFORMANCE.md), a case that
is not OK must be named, with that verdict, in one of DOC's lines of the form
`- **6.4.3, 6.4.4 — NON-STRICT.** why...`. Lists every case that is not OK, with the server's
description, expectation and result text for the failing ones, and the time each category took
(the server's own per-case durations)."""
import argparse
import collections
import json
import os
import re
import sys

ACCEPTED = {"OK", "NON-STRICT", "INFORMATIONAL"}

parser = argparse.ArgumentParser()
parser.add_argument("--doc")
parser.add_argument("--cases", type=int)
parser.add_argument("agent")
parser.add_argument("reports", nargs="+")
args = parser.parse_args()

documented = None
if args.doc:
    documented = {}
    for line in open(args.doc, encoding="utf-8"):
        m = re.match(r"- \*\*([0-9][0-9.,\s]*) — ([A-Z-]+)\.\*\*", line)
        if m:
            for case in re.split(r"[,\s]+", m.group(1).strip()):
                documented.setdefault(case, set()).add(m.group(2))

cases = {}
problems = []
for report in args.reports:
    try:
        agents = json.load(open(report))
    except (OSError, ValueError) as e:
        problems.append(f"no report {report}: {e}")
        continue
    for case, result in agents.get(args.agent, {}).items():
        if case in cases:
            problems.append(f"case {case} is in two reports")
        result["reportfile"] = os.path.join(os.path.dirname(report), result["reportfile"])
        cases[case] = result
if args.cases is not None and len(cases) != args.cases:
    problems.append(f"the reports hold {len(cases)} cases, not the {args.cases} the server counted")

verdicts = collections.Counter()
category_ms = collections.Counter()
category_n = collections.Counter()
passed = failed = 0


def key(case):
    return [int(x) for x in case.split(".")]


def result_text(result):
    """The server's own words for a case: its description, expectation and results."""
    try:
        detail = json.load(open(result["reportfile"]))
    except (OSError, ValueError, KeyError):
        return ""
    return "".join(
        f"\n        {field}: {detail.get(field)}"
        for field in ("description", "expectation", "result", "resultClose")
    )


for case, result in sorted(cases.items(), key=lambda kv: key(kv[0])):
    behavior, close = result["behavior"], result["behaviorClose"]
    verdicts[behavior] += 1
    top = case.split(".")[0]
    category_ms[top] += result.get("duration", 0)
    category_n[top] += 1
    ok = behavior in ACCEPTED and close in ACCEPTED
    note = ""
    if ok and documented is not None and (behavior != "OK" or close != "OK"):
        written = documented.get(case, set())
        if not written & ({behavior, close} - {"OK"}):
            ok = False
            note = " — not written down in " + args.doc
    passed += ok
    failed += not ok
    if behavior != "OK" or close != "OK":
        print(f"{'    ' if ok else 'FAIL'} case {case}: {behavior} (close {close}){note}"
              + ("" if ok else result_text(result)))
print("autobahn time per category:",
      ", ".join(f"{c}: {category_ms[c] / 1000:.1f} s ({category_n[c]} case{'s' if category_n[c] != 1 else ''})"
                for c in sorted(category_ms, key=int)),
      f"— sum {sum(category_ms.values()) / 1000:.1f} s")
print("autobahn verdicts:", dict(verdicts))
if not cases:
    problems.append("the reports have no cases")
for problem in problems:
    print("FAIL:", problem)
    failed += 1
print(f"{passed} passed, {failed} failed")
sys.exit(1 if failed else 0)
