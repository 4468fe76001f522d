#!/usr/bin/env python3
"""Check that README.md's C code stays true: every ```c block that begins with a comment naming
a file (// examples/tour/01-tape.c) must equal that file, which the build compiles. Blocks
without such a comment are snippets of those files and must appear in one of them verbatim.
Speaks TAP."""
import pathlib
import re
import sys

root = pathlib.Path(sys.argv[1] if len(sys.argv) > 1 else ".")
readme = (root / "README.md").read_text()
blocks = re.findall(r"```c\n(.*?)```", readme, re.S)
sources = {p: p.read_text() for p in (root / "examples").rglob("*.c")}
print(f"1..{len(blocks)}")
failed = 0
for i, block in enumerate(blocks, 1):
    first = block.splitlines()[0] if block.strip() else ""
    m = re.match(r"//\s*(\S+\.c)\s*$", first)
    if m:
        path = root / m.group(1)
        body = "\n".join(block.splitlines()[1:]) + "\n"
        ok = path.exists() and path.read_text() == body
        why = f"equals {m.group(1)}" if ok else f"differs from {m.group(1)}"
    else:
        ok = any(block.strip() in text for text in sources.values())
        why = "is part of an example" if ok else "appears in no example file"
    print(f"{'ok' if ok else 'not ok'} {i} - block {i} {why}")
    failed += not ok
sys.exit(1 if failed else 0)
