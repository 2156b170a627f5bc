"""Reads the fuzzing server's index.json and fails unless every case is OK, NON-STRICT or
INFORMATIONAL (for both the behaviour and the close behaviour). Lists every case that is not OK."""
import collections
import json
import sys

ACCEPTED = {"OK", "NON-STRICT", "INFORMATIONAL"}

report, agent = sys.argv[1], sys.argv[2]
cases = json.load(open(report))[agent]
verdicts = collections.Counter()
passed = failed = 0
for case, result in sorted(cases.items(), key=lambda kv: [int(x) for x in kv[0].split(".")]):
    behavior, close = result["behavior"], result["behaviorClose"]
    verdicts[behavior] += 1
    ok = behavior in ACCEPTED and close in ACCEPTED
    passed += ok
    failed += not ok
    if behavior != "OK" or close != "OK":
        print(f"{'    ' if ok else 'FAIL'} case {case}: {behavior} (close {close})")
print("autobahn verdicts:", dict(verdicts))
if not cases:
    print("FAIL: the report has no cases")
    failed += 1
print(f"{passed} passed, {failed} failed")
sys.exit(1 if failed else 0)
