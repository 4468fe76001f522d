#!/usr/bin/env python3
"""Run a course program as a student would, quickly: --help prints every flag and exits 0, an
unknown flag exits 2 with the usage line, and --quick --out <tmp> writes the study's report
(report.md, a self-contained report.html) and an index.html linking it. Prints TAP lines; exits
77 (skipped) when the program's data set is missing, 1 on a failure.

    run_study.py build/examples/seance1-hyperparameters seance1/hyperparameters
"""
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time

results = []


def check(ok, name, detail=""):
    results.append((bool(ok), name, detail))


def finish():
    print(f"1..{len(results)}")
    for i, (ok, name, detail) in enumerate(results, 1):
        print(f"{'ok' if ok else 'not ok'} {i} - {name}")
        if detail:
            print("# " + detail.replace("\n", "\n# "))
    return 0 if all(ok for ok, _, _ in results) else 1


def main():
    program, study = sys.argv[1], sys.argv[2]
    name = os.path.basename(program)
    run = lambda *args: subprocess.run([program, *args], stdout=subprocess.PIPE,
                                       stderr=subprocess.PIPE, text=True, timeout=600)
    helped = run("--help")
    check(helped.returncode == 0 and "--quick" in helped.stdout and "default:" in helped.stdout,
          f"{name} --help lists the flags and exits 0", f"exit {helped.returncode}")
    bad = run("--no-such-flag")
    check(bad.returncode == 2 and "unknown flag '--no-such-flag'" in bad.stderr
          and "usage:" in bad.stderr, f"{name} refuses an unknown flag with exit 2 and the usage",
          f"exit {bad.returncode}: {bad.stderr.strip()[:300]}")
    out = tempfile.mkdtemp(prefix="ruban-study-")
    try:
        start = time.monotonic()
        quick = run("--quick", "--out", out)
        seconds = time.monotonic() - start
        if quick.returncode != 0 and "error (not found)" in quick.stderr:
            print(f"1..0 # SKIP {name}: data missing ({quick.stderr.strip()[:200]})")
            return 77
        check(quick.returncode == 0, f"{name} --quick runs to the end",
              f"exit {quick.returncode} after {seconds:.1f} s: {quick.stderr.strip()[-600:]}")
        report = os.path.join(out, study)
        md_path, html_path = os.path.join(report, "report.md"), os.path.join(report, "report.html")
        md = open(md_path).read() if os.path.isfile(md_path) else ""
        html = open(html_path).read() if os.path.isfile(html_path) else ""
        check(all(part in md for part in ("## Question", "## Expected, stated before running",
                                          "## Verdicts", "## Results", "## Limits",
                                          "| command |", "--quick")),
              f"{name} writes report.md with every part", md_path)
        check("<table>" in html and "as expected" in html, f"{name} writes report.html")
        if shutil.which("gnuplot"):
            check("<svg" in html and not re.search(r'src="(?!data:)', html),
                  f"{name}'s page holds its curves inline")
        index = os.path.join(out, "index.html")
        check(os.path.isfile(index) and f'href="{study}/report.html"' in open(index).read(),
              f"{name}'s report is linked from index.html")
        print(f"# {name} --quick: {seconds:.1f} s")
    finally:
        shutil.rmtree(out, ignore_errors=True)
    return finish()


if __name__ == "__main__":
    sys.exit(main())
