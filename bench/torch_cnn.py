#!/usr/bin/python3
"""PyTorch reference for bench_cnn: the same three workloads (lenet, cnn, resnet), batch 128,
same optimizers, same data, at a given thread count; prints one line in bench_cnn's format.

    /usr/bin/python3 bench/torch_cnn.py --model lenet --threads 1 --steps 30 --repeats 5"""
import argparse
import os
import time

import numpy as np
import torch
from torch import nn


def load_idx(path):
    import gzip
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
    raise FileNotFoundError(f"{set_name}/{name}")


class Block(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.c1 = nn.Conv2d(c, c, 3, padding=1, bias=False)
        self.b1 = nn.BatchNorm2d(c)
        self.c2 = nn.Conv2d(c, c, 3, padding=1, bias=False)
        self.b2 = nn.BatchNorm2d(c)

    def forward(self, x):
        h = torch.relu(self.b1(self.c1(x)))
        return torch.relu(self.b2(self.c2(h)) + x)


def build(name):
    if name == "lenet":
        return nn.Sequential(
            nn.Conv2d(1, 6, 5, padding=2), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(6, 16, 5), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(),
            nn.Linear(400, 120), nn.ReLU(), nn.Linear(120, 84), nn.ReLU(), nn.Linear(84, 10))
    if name == "cnn":
        return nn.Sequential(
            nn.Conv2d(1, 32, 3), nn.ReLU(), nn.Conv2d(32, 64, 3), nn.ReLU(), nn.MaxPool2d(2),
            nn.Dropout(0.25), nn.Flatten(), nn.Linear(9216, 128), nn.ReLU(), nn.Dropout(0.5),
            nn.Linear(128, 10))
    return nn.Sequential(
        nn.Conv2d(1, 16, 3, padding=1, bias=False), nn.BatchNorm2d(16), nn.ReLU(),
        nn.MaxPool2d(2), Block(16), Block(16), nn.AdaptiveAvgPool2d(1), nn.Flatten(),
        nn.Linear(16, 10))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", default="lenet", choices=["lenet", "cnn", "resnet"])
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--steps", type=int, default=30)
    ap.add_argument("--repeats", type=int, default=5)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(1)
    set_name = "mnist" if args.model == "cnn" else "fashion-mnist"
    x = torch.from_numpy(load_idx(find(set_name, "train-images-idx3-ubyte"))
                         .astype(np.float32) / 255.0).unsqueeze(1)
    y = torch.from_numpy(load_idx(find(set_name, "train-labels-idx1-ubyte")).astype(np.int64))
    model = build(args.model)
    opt = (torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9) if args.model == "lenet"
           else torch.optim.Adam(model.parameters(), lr=1e-3))
    loss_fn = nn.CrossEntropyLoss()
    batch, warmup, rates, pos = 128, 5, [], 0
    perm = torch.randperm(x.shape[0])
    t0 = 0.0
    for step in range(warmup + args.steps * args.repeats):
        if step >= warmup and (step - warmup) % args.steps == 0:
            if step > warmup:
                rates.append(args.steps * batch / (time.perf_counter() - t0))
            t0 = time.perf_counter()
        if pos + batch > x.shape[0]:
            perm, pos = torch.randperm(x.shape[0]), 0
        idx = perm[pos:pos + batch]
        pos += batch
        opt.zero_grad(set_to_none=True)
        loss = loss_fn(model(x[idx]), y[idx])
        loss.backward()
        opt.step()
    rates.append(args.steps * batch / (time.perf_counter() - t0))
    sps = sorted(rates)[len(rates) // 2]
    print(f"workload={args.model} threads={args.threads} batch={batch} samples_per_s={sps:.0f} "
          f"final_loss={loss.item():.4f} torch={torch.__version__}")


if __name__ == "__main__":
    main()
