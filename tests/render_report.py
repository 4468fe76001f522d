#!/usr/bin/env python3
"""Render one generated report.html in headless Chromium and check that the page shows its
table and its curves: the DOM after loading holds the table rows and inline <svg> pictures with
drawn paths, and a screenshot of the page is not blank. Prints TAP lines; exits 77 (skipped)
when Chromium is not installed, 1 on a failure.

    render_report.py build/tests/make_report
"""
import os
import re
import shutil
import struct
import subprocess
import sys
import tempfile
import zlib

CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
                  "--no-first-run", "--disable-background-networking",
                  "--disable-component-update", "--disable-sync", "--hide-scrollbars"]

results = []


def check(ok, name, detail=""):
    results.append((bool(ok), name, detail))


def chromium(exe, profile, *args):
    cmd = [exe, *CHROMIUM_FLAGS, f"--user-data-dir={profile}", *args]
    return subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, timeout=120,
                          text=True)


def png_pixels(path):
    """Width, height and rows of RGB(A) bytes of an 8-bit PNG (no interlacing)."""
    data = open(path, "rb").read()
    assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG file"
    pos, idat, width = 8, b"", 0
    while pos < len(data):
        length, kind = struct.unpack(">I4s", data[pos:pos + 8])
        body = data[pos + 8:pos + 8 + length]
        if kind == b"IHDR":
            width, height, depth, colour, _, _, interlace = struct.unpack(">IIBBBBB", body)
            assert depth == 8 and interlace == 0 and colour in (2, 6), "unexpected PNG format"
            channels = 3 if colour == 2 else 4
        elif kind == b"IDAT":
            idat += body
        pos += 12 + length
    raw = zlib.decompress(idat)
    stride = width * channels
    rows, prev = [], bytearray(stride)
    for y in range(height):
        f, line = raw[y * (stride + 1)], bytearray(raw[y * (stride + 1) + 1:(y + 1) * (stride + 1)])
        for i in range(stride):
            a = line[i - channels] if i >= channels else 0
            b, c = prev[i], prev[i - channels] if i >= channels else 0
            if f == 1:
                line[i] = (line[i] + a) & 255
            elif f == 2:
                line[i] = (line[i] + b) & 255
            elif f == 3:
                line[i] = (line[i] + (a + b) // 2) & 255
            elif f == 4:
                p = a + b - c
                pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                line[i] = (line[i] + (a if pa <= pb and pa <= pc else b if pb <= pc else c)) & 255
        rows.append(bytes(line))
        prev = line
    return width, height, channels, rows


def main():
    exe = shutil.which("chromium") or shutil.which("chromium-browser")
    if not exe:
        print("1..0 # SKIP chromium is not installed (scripts/setup.sh installs it)")
        return 77
    make_report = sys.argv[1]
    with tempfile.TemporaryDirectory(prefix="ruban-render-") as out:
        made = subprocess.run([make_report, out], stdout=subprocess.PIPE, text=True, timeout=120)
        page = made.stdout.strip()
        check(made.returncode == 0 and os.path.isfile(page), "a report.html is written",
              f"make_report exited {made.returncode}")
        if not os.path.isfile(page):
            return finish()
        profile = os.path.join(out, "profile")
        dom = chromium(exe, profile, "--dump-dom", "file://" + page).stdout
        check("<table" in dom, "the rendered page holds tables")
        check(re.search(r"<td>\s*render-row-1\s*</td>", dom) and "render-row-2" in dom,
              "the program's table rows are in the page")
        check(re.search(r"<td>\s*lr=0\.3", dom), "the experiment's table rows are in the page")
        svgs = re.findall(r"<svg.*?</svg>", dom, re.S)
        drawn = [s for s in svgs if len(re.findall(r"<path[^>]* d=['\"]M", s)) >= 5]
        check(len(drawn) >= 3, "at least three inline SVG pictures with drawn paths",
              f"{len(svgs)} svg, {len(drawn)} with paths")
        check('src="data:image/png;base64,' in dom, "the image grid is inlined as PNG data")
        check(not re.search(r'src="(?!data:)', dom), "no picture is loaded from another file")
        shot = os.path.join(out, "page.png")
        chromium(exe, profile, "--window-size=1280,3000", f"--screenshot={shot}", "file://" + page)
        if not os.path.isfile(shot):
            check(False, "a screenshot of the page is taken")
            return finish()
        width, height, channels, rows = png_pixels(shot)
        dark = sum(1 for row in rows[::4] for i in range(0, len(row), channels * 4)
                   if sum(row[i:i + 3]) < 600)
        total = (height // 4 + 1) * (width // 4 + 1)
        check(width >= 1000 and height >= 2000, "the screenshot has the window's size",
              f"{width}x{height}")
        check(dark > 0.01 * total, "the screenshot is not blank",
              f"{dark} of {total} sampled pixels are dark")
        colours = {row[i:i + 3] for row in rows[::8] for i in range(0, len(row), channels * 8)}
        check(len(colours) > 20, "the screenshot shows coloured curves, not only text",
              f"{len(colours)} colours")
    return finish()


def finish():
    print(f"1..{len(results)}")
    for i, (ok, name, detail) in enumerate(results, 1):
        print(f"{'ok' if ok else 'not ok'} {i} - {name}")
        if not ok and detail:
            print(f"# {detail}")
    return 0 if all(ok for ok, _, _ in results) else 1


if __name__ == "__main__":
    sys.exit(main())
