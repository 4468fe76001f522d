#!/usr/bin/env python3
"""Count test cases in meson's testlog.json: every TAP line of every test program, plus a
program that crashed or printed no plan as one failure. A program skipped on purpose (exit
code 77, or a TAP plan of none: a test that needs a sanitizer build, a tool the set-up did not
install) is listed as skipped, neither passed nor failed. Prints the failures and skips by name,
then the line 'N passed, N failed'. Exits non-zero on any failure."""
import json
import re
import sys

passed = failed = 0
failures, skipped = [], []
for line in open(sys.argv[1]):
    run = json.loads(line)
    cases = re.findall(r"^(ok|not ok) \d+ - ?(.*)$", run.get("stdout") or "", re.M)
    for verdict, name in cases:
        if verdict == "ok":
            passed += 1
        else:
            failed += 1
            failures.append(f"{run['name']}: {name.strip()}")
    if run["result"] == "SKIP":
        skipped.append(run["name"])
    elif run["result"] not in ("OK", "EXPECTEDFAIL") and not any(v == "not ok" for v, _ in cases):
        failed += 1
        failures.append(f"{run['name']}: program {run['result']} (exit code {run.get('returncode')})")
for s in skipped:
    print("SKIPPED", s)
for f in failures:
    print("FAILED", f)
print(f"{passed} passed, {failed} failed")
sys.exit(1 if failed else 0)
