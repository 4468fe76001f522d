#!/usr/bin/env python3
"""Count test cases in meson's testlog.json: every TAP line of every test program, plus a
program that crashed or printed no plan as one failure. Prints the failures by name, then
the line 'N passed, N failed'. Exits non-zero on any failure or skip."""
import json
import re
import sys

passed = failed = 0
failures = []
for line in open(sys.argv[1]):
    run = json.loads(line)
    cases = re.findall(r"^(ok|not ok) \d+ - ?(.*)$", run.get("stdout") or "", re.M)
    for verdict, name in cases:
        if verdict == "ok":
            passed += 1
        else:
            failed += 1
            failures.append(f"{run['name']}: {name.strip()}")
    if run["result"] not in ("OK", "EXPECTEDFAIL") and not any(v == "not ok" for v, _ in cases):
        failed += 1
        failures.append(f"{run['name']}: program {run['result']} (exit code {run.get('returncode')})")
for f in failures:
    print("FAILED", f)
print(f"{passed} passed, {failed} failed")
sys.exit(1 if failed else 0)
