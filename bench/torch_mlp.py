#!/usr/bin/python3
"""PyTorch reference for bench_mlp: the same MLP 784-256-128-10 (ReLU), batch 128, SGD
momentum 0.9, softmax cross-entropy, on the same MNIST files, at a given thread count.

    /usr/bin/python3 bench/torch_mlp.py --threads 1 --steps 600
prints one line in bench_mlp's format."""
import argparse
import os
import time

import numpy as np
import torch


def load_idx_images(path):
    with open(path, "rb") as f:
        data = f.read()
    n, rows, cols = (int.from_bytes(data[i:i + 4], "big") for i in (4, 8, 12))
    return np.frombuffer(data, dtype=np.uint8, offset=16).reshape(n, rows * cols)


def load_idx_labels(path):
    with open(path, "rb") as f:
        data = f.read()
    return np.frombuffer(data, dtype=np.uint8, offset=8)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--steps", type=int, default=200)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--batch", type=int, default=128)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(42)

    cache = os.environ.get("XDG_CACHE_HOME", os.path.expanduser("~/.cache"))
    folder = os.path.join(os.environ.get("RUBAN_DATA", os.path.join(cache, "ruban")), "mnist")
    x = torch.from_numpy(load_idx_images(os.path.join(folder, "train-images-idx3-ubyte"))
                         .astype(np.float32) / 255.0)
    y = torch.from_numpy(load_idx_labels(os.path.join(folder, "train-labels-idx1-ubyte"))
                         .astype(np.int64))

    model = torch.nn.Sequential(
        torch.nn.Linear(784, 256), torch.nn.ReLU(),
        torch.nn.Linear(256, 128), torch.nn.ReLU(),
        torch.nn.Linear(128, 10))
    opt = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
    loss_fn = torch.nn.CrossEntropyLoss()

    n = x.shape[0]
    perm = torch.randperm(n)
    pos = 0
    warmup = 50
    t0 = 0.0
    loss = None
    rates = []
    for step in range(warmup + args.steps * args.repeats):
        if step >= warmup and (step - warmup) % args.steps == 0:
            if step > warmup:
                rates.append(args.steps * args.batch / (time.perf_counter() - t0))
            t0 = time.perf_counter()
        if pos + args.batch > n:
            perm = torch.randperm(n)
            pos = 0
        idx = perm[pos:pos + args.batch]
        pos += args.batch
        xb, yb = x[idx], y[idx]
        opt.zero_grad(set_to_none=True)
        loss = loss_fn(model(xb), yb)
        loss.backward()
        opt.step()
    rates.append(args.steps * args.batch / (time.perf_counter() - t0))
    sps = sorted(rates)[len(rates) // 2]  # median, as bench_mlp
    flops = 2 * (784 * 256 + 256 * 128 + 128 * 10) * 2 + 2 * (256 * 128 + 128 * 10)
    print(f"workload=mlp threads={args.threads} batch={args.batch} samples_per_s={sps:.0f} "
          f"gflops={sps * flops / 1e9:.1f} final_loss={loss.item():.4f} torch={torch.__version__}")


if __name__ == "__main__":
    main()
