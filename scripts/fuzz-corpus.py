#!/usr/bin/env python3
"""Seed corpora of the fuzz targets (tests/fuzz): small valid files of each format, a few of them
gzip-compressed, in OUT/<target>/ (one folder per target, remade each time).

    scripts/fuzz-corpus.py BUILD OUT

The checkpoints are saved by the library itself: the checkpoint targets write checkpoints of
the model they fuzz (BUILD/tests/fuzz/fuzz_checkpoint, with RUBAN_FUZZ_SEEDS set). Inputs of the
csv and tabular targets start with the bytes that choose the options or the set (see
tests/fuzz/fuzz_csv.c and fuzz_tabular.c)."""
import gzip
import os
import pathlib
import random
import shutil
import struct
import subprocess
import sys

rng = random.Random(1)


def idx(code, fmt, shape, values):
    """An IDX file: magic 0 0 code ndim, big-endian extents, big-endian values."""
    head = bytes([0, 0, code, len(shape)]) + b"".join(struct.pack(">I", d) for d in shape)
    return head + b"".join(struct.pack(">" + fmt, v) for v in values)


def count(shape):
    n = 1
    for d in shape:
        n *= d
    return n


def idx_seeds():
    images = idx(0x08, "B", [3, 4, 4], [rng.randrange(256) for _ in range(48)])
    labels = idx(0x08, "B", [3], [rng.randrange(10) for _ in range(3)])
    mnist_like = idx(0x08, "B", [2, 28, 28], [rng.randrange(256) for _ in range(2 * 784)])
    return {
        "images.idx": images,
        "images.idx.gz": gzip.compress(images, mtime=0),
        "labels.idx": labels,
        "labels.idx.gz": gzip.compress(labels, mtime=0),
        "mnist-like.idx.gz": gzip.compress(mnist_like, mtime=0),
        "signed.idx": idx(0x09, "b", [2, 3], [-128, -1, 0, 1, 5, 127]),
        "short.idx": idx(0x0B, "h", [2, 2], [-32768, -1, 7, 32767]),
        "int.idx": idx(0x0C, "i", [4], [-(2**31), -1, 3, 2**31 - 1]),
        "float.idx": idx(0x0D, "f", [2, 2], [0.5, -1.25, 3e38, 1e-30]),
        "double.idx": idx(0x0E, "d", [3], [0.1, -2.5, 1e300]),
        "five-d.idx": idx(0x08, "B", [1, 2, 1, 2, 2], list(range(8))),
        "empty-extent.idx": idx(0x08, "B", [0, 5], []),
    }


def rows(n, cols, label=None, fmt="{:.3f}"):
    """n lines of cols numbers, the last a class label below `label` when given."""
    out = []
    for _ in range(n):
        values = [fmt.format(rng.uniform(-5, 50)) for _ in range(cols - (label is not None))]
        if label is not None:
            values.append(str(rng.randrange(label)))
        out.append(values)
    return out


def csv_text(header, body, delim=",", eol="\n"):
    lines = ([delim.join(header)] if header else []) + [delim.join(r) for r in body]
    return (eol.join(lines) + eol).encode()


# The options bytes of fuzz_csv.c: byte 0 flags, byte 1 delimiter (bits 0..2) and target
# column (bits 3..7).
CLASSIFICATION, NO_HEADER, F64, NONFINITE, BY_NAME = 1, 2, 4, 8, 16
DELIMS = {",": 1, ";": 2, "\t": 3, " ": 4, "|": 5, ":": 6}


def csv_input(flags, delim, target_column, text):
    return bytes([flags, DELIMS[delim] | target_column << 3]) + text


def csv_seeds():
    names = ["a", "b", "c", "target"]
    return {
        "regression.csv": csv_input(0, ",", 0, csv_text(names, rows(5, 4))),
        "classes.csv": csv_input(CLASSIFICATION, ",", 0, csv_text(names, rows(6, 4, label=3))),
        "by-name.csv": csv_input(BY_NAME | F64, ",", 0,
                                 csv_text(["target", "x", "y"], rows(4, 3))),
        "first-column.csv": csv_input(CLASSIFICATION, ",", 1,
                                      csv_text(None, [[str(rng.randrange(2)), "1.5", "2e3"]
                                                      for _ in range(4)])),
        "no-header.csv": csv_input(NO_HEADER, ";", 2, csv_text(None, rows(4, 3), delim=";")),
        "quoted-crlf.csv": csv_input(0, ",", 0, csv_text(['"x 1"', '"y"'], rows(3, 2), eol="\r\n")),
        "tabs.csv": csv_input(NONFINITE, "\t", 0,
                              csv_text(["u", "v"], [["nan", "inf"], ["-inf", "1e999"], ["1", "2"]],
                                       delim="\t")),
        "gzip.csv": csv_input(CLASSIFICATION | F64, ",", 0,
                              gzip.compress(csv_text(names, rows(5, 4, label=2)), mtime=0)),
    }


# The set bytes of fuzz_tabular.c.
SETS = ["iris", "wine", "breast_cancer", "digits", "boston", "california_housing"]


def tabular_seeds():
    def sklearn(features, classes, n):
        first = [str(n), str(features)] + classes
        return csv_text(first, rows(n, features + 1, label=len(classes)))

    boston_names = ["CRIM", "ZN", "INDUS", "CHAS", "NOX", "RM", "AGE", "DIS", "RAD", "TAX",
                    "PTRATIO", "B", "LSTAT", "MEDV"]
    digits = [[str(rng.randrange(17)) for _ in range(64)] + [str(rng.randrange(10))]
              for _ in range(4)]
    california = [[f"{rng.uniform(-124, -114):.2f}", f"{rng.uniform(32, 42):.2f}",
                   str(rng.randrange(1, 52)), str(rng.randrange(100, 5000)),
                   str(rng.randrange(10, 900)), str(rng.randrange(50, 3000)),
                   str(rng.randrange(1, 800)), f"{rng.uniform(0.5, 15):.4f}",
                   str(rng.randrange(15000, 500001))] for _ in range(5)]
    files = {
        "iris": sklearn(4, ["setosa", "versicolor", "virginica"], 5),
        "wine": sklearn(13, ["class_0", "class_1", "class_2"], 4),
        "breast_cancer": sklearn(30, ["malignant", "benign"], 3),
        "digits": csv_text(None, digits),
        "boston": csv_text(["3", "13"], []) + csv_text(boston_names, rows(3, 14)),
        "california_housing": csv_text(None, california),
    }
    seeds = {f"{name}.csv": bytes([SETS.index(name)]) + text for name, text in files.items()}
    seeds["iris.csv.gz"] = bytes([0]) + gzip.compress(files["iris"], mtime=0)
    return seeds


def cifar_seeds():
    def records(n):
        return b"".join(bytes([rng.randrange(10)]) + bytes(rng.randrange(256) for _ in range(3072))
                        for _ in range(n))

    return {"one.bin": records(1), "two.bin": records(2)}


def write(folder, seeds):
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    for name, data in seeds.items():
        (folder / name).write_bytes(data)


def main():
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    build, out = pathlib.Path(sys.argv[1]), pathlib.Path(sys.argv[2])
    write(out / "idx", idx_seeds())
    write(out / "csv", csv_seeds())
    write(out / "tabular", tabular_seeds())
    write(out / "cifar", cifar_seeds())
    for target in ["checkpoint", "checkpoint_optim"]:
        write(out / target, {})
        exe = build / "tests" / "fuzz" / f"fuzz_{target}"
        env = dict(os.environ, RUBAN_FUZZ_SEEDS=str(out / target))
        subprocess.run([str(exe)], env=env, check=True, stdout=subprocess.DEVNULL)
    for folder in sorted(out.iterdir()):
        print(f"fuzz-corpus: {folder}: {len(list(folder.iterdir()))} seeds")


main()
