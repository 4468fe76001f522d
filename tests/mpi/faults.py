#!/usr/bin/env python3
"""A rank that fails, leaves, crashes, hangs or builds another model makes the whole job stop
within a bounded time with a message naming it. Runs `mpirun ARGS... fault_cases CASE` for each
case and speaks TAP. Usage: faults.py FAULT_CASES MPIRUN [MPIRUN ARGS...]"""
import os
import re
import subprocess
import sys
import time

exe, mpirun = sys.argv[1], sys.argv[2:]
BOUND = 45  # seconds: the stuck case waits out a 3 s timeout; the others end at once
cases = [
    ("exit", "a rank exiting early without rb_dist_free", r"rank 1 failed: .*exited"),
    ("leave", "a rank leaving (rb_dist_free) while the others train",
     r"rank 1 left \(rb_dist_free\) after \d+ collectives"),
    ("missing-data", "a rank missing its data files", r"rank 1 failed: .*nonexistent/mnist"),
    ("fit", "a rank whose rb_fit fails", r"rank 1 failed: .*label"),
    ("crash", "a rank crashing", r"rank 1 .*(exited on signal|Segmentation)"),
    ("stuck", "a rank that stops answering (timeout 3 s)", r"waited 3 s in .*not every rank joined: no answer from rank 1 "),
    ("mismatch", "ranks with different models", r"rank 1's model differs from rank 0's.*\[4,9\]"),
]
env = dict(os.environ, RUBAN_DIST_TIMEOUT="3")
print(f"1..{len(cases)}")
failed = 0
for i, (case, title, pattern) in enumerate(cases, 1):
    t0 = time.monotonic()
    try:
        run = subprocess.run(mpirun + [exe, case], env=env, stdout=subprocess.PIPE,
                             stderr=subprocess.STDOUT, text=True, timeout=3 * BOUND)
        out, code = run.stdout, run.returncode
    except subprocess.TimeoutExpired as e:
        out, code = (e.stdout or b"").decode(errors="replace") + "\n(killed by the driver)", None
    seconds = time.monotonic() - t0
    problems = []
    if code in (0, None):
        problems.append(f"exit code {code}")
    if seconds > BOUND:
        problems.append(f"took {seconds:.1f} s > {BOUND} s")
    if not re.search(pattern, out, re.S):
        problems.append(f"no message matching /{pattern}/")
    verdict = "ok" if not problems else "not ok"
    failed += bool(problems)
    print(f"{verdict} {i} - {title} stops the job in {seconds:.1f} s naming the rank")
    if problems:
        print("# " + "; ".join(problems))
        for line in out.splitlines()[-25:]:
            print("#   " + line)
sys.exit(1 if failed else 0)
