"""Shared by the PyTorch references: data, the command line, the timed loop (the same shape as
bench_common.h's: warm-up, then `repeats` timed runs of `steps` steps, median reported), peak
memory, and a description of the BLAS and oneDNN that PyTorch runs on."""
import argparse
import gzip
import ctypes
import os
import resource
import subprocess
import sys
import time

import numpy as np
import torch


def load_idx(path):
    opener = gzip.open if path.endswith(".gz") else open
    with opener(path, "rb") as f:
        data = f.read()
    ndim = data[3]
    dims = [int.from_bytes(data[4 + 4 * i:8 + 4 * i], "big") for i in range(ndim)]
    return np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * ndim).reshape(dims)


def find(set_name, name):
    cache = os.environ.get("XDG_CACHE_HOME", os.path.expanduser("~/.cache"))
    for folder in (os.path.join(os.environ.get("RUBAN_DATA", ""), set_name),
                   os.path.join(cache, "ruban", set_name),
                   os.path.join("/usr/share/datasets", set_name)):
        for suffix in ("", ".gz"):
            path = os.path.join(folder, name + suffix)
            if os.path.exists(path):
                return path
    raise FileNotFoundError(f"{set_name}/{name}: run scripts/fetch-data.sh {set_name}")


def images(set_name):
    """Training images as the files hold them, uint8 (N, 28, 28), and int64 labels: as ruban
    holds them (torchvision's way); train() turns each batch into float32 in [0, 1]."""
    pixels = load_idx(find(set_name, "train-images-idx3-ubyte"))  # a view of the file's bytes
    x = torch.empty(pixels.shape, dtype=torch.uint8)
    x.numpy()[...] = pixels
    y = torch.from_numpy(load_idx(find(set_name, "train-labels-idx1-ubyte")).astype(np.int64))
    return x, y


def options(about, models, defaults):
    ap = argparse.ArgumentParser(description=about)
    ap.add_argument("--model", default=models[0], choices=models)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--steps", type=int, default=defaults["steps"])
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--batch", type=int, default=128)
    ap.add_argument("--info", action="store_true",
                    help="print the BLAS library, oneDNN's instruction set and the version, then exit")
    args = ap.parse_args()
    if args.info:
        print(describe())
        sys.exit(0)
    torch.set_num_threads(args.threads)
    return args


def train(args, model, opt, x, y, warmup):
    """Timed training of model on (x, y) as bench_train does; returns (best samples/s, median
    samples/s, last loss): the best run, as bench_common.h reports (see bench_result there)."""
    loss_fn = torch.nn.CrossEntropyLoss()
    perm, pos, rates, loss = torch.randperm(x.shape[0]), 0, [], None
    for run in range(-1, args.repeats):
        count = warmup if run < 0 else args.steps
        t0 = time.perf_counter()
        for _ in range(count):
            if pos + args.batch > x.shape[0]:
                perm, pos = torch.randperm(x.shape[0]), 0
            idx = perm[pos:pos + args.batch]
            pos += args.batch
            opt.zero_grad(set_to_none=True)
            xb = x[idx].float().div_(255.0) if x.dtype == torch.uint8 else x[idx]
            loss = loss_fn(model(xb), y[idx])
            loss.backward()
            opt.step()
        if run >= 0:
            rates.append(args.steps * args.batch / (time.perf_counter() - t0))
    rates.sort()
    n = len(rates)
    median = rates[n // 2] if n % 2 else 0.5 * (rates[n // 2 - 1] + rates[n // 2])
    return rates[-1], median, loss.item()


def report(args, samples_per_s, median_samples_per_s, loss):
    rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"workload={args.model} threads={args.threads} batch={args.batch} "
          f"samples_per_s={samples_per_s:.0f} median_samples_per_s={median_samples_per_s:.0f} "
          f"final_loss={loss:.4f} peak_rss_mb={rss_mb:.0f} "
          f"torch={torch.__version__}")


def sgemm_provider():
    """The shared library whose sgemm_ the process calls (more than one BLAS may be loaded:
    PyTorch's LAPACK can bring OpenBLAS in beside the libblas.so.3 it multiplies with)."""

    class DlInfo(ctypes.Structure):
        _fields_ = [("dli_fname", ctypes.c_char_p), ("dli_fbase", ctypes.c_void_p),
                    ("dli_sname", ctypes.c_char_p), ("dli_saddr", ctypes.c_void_p)]

    try:
        # dlsym through libtorch_cpu searches it and its dependencies in their load order,
        # the order its own calls to sgemm_ were bound in.
        path = next(line.split()[-1] for line in open("/proc/self/maps")
                    if "libtorch_cpu" in line)
        torch_cpu = ctypes.CDLL(path, mode=os.RTLD_NOLOAD | os.RTLD_LAZY)
        address = ctypes.cast(torch_cpu.sgemm_, ctypes.c_void_p)
        info = DlInfo()
        if ctypes.CDLL("libc.so.6").dladdr(address, ctypes.byref(info)) and info.dli_fname:
            return os.path.realpath(info.dli_fname.decode())
    except (AttributeError, OSError, StopIteration):
        pass
    return "?"


def describe():
    """torch version, the BLAS shared library actually loaded, and oneDNN's ISA."""
    torch.ones(64, 64) @ torch.ones(64, 64)  # loads the BLAS
    blas = sgemm_provider()
    probe = "import torch; torch.nn.Conv2d(16, 32, 3)(torch.ones(8, 16, 28, 28))"
    env = dict(os.environ, ONEDNN_VERBOSE="1", DNNL_VERBOSE="1")
    out = subprocess.run([sys.executable, "-c", probe], env=env, capture_output=True,
                         text=True).stdout
    isa = next((l.split("isa:")[1].strip() for l in out.splitlines() if "isa:" in l), "?")
    core = os.environ.get("OPENBLAS_CORETYPE", "unset")
    return (f"torch={torch.__version__} blas={blas} openblas_coretype={core} "
            f"onednn_isa={isa.replace(' ', '_')}")
