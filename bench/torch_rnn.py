#!/usr/bin/python3
"""PyTorch reference for bench_rnn: an LSTM (or GRU, or RNN) of 128 units over sequential MNIST
(28 steps of 28 pixels), last hidden state to a dense layer of 10, Adam, batch 128; prints one
line in bench_rnn's format.

    /usr/bin/python3 bench/torch_rnn.py --model lstm --threads 1 --steps 20 --repeats 5"""
import argparse
import time

import numpy as np
import torch
from torch import nn

from torch_cnn import find, load_idx


class Classifier(nn.Module):
    def __init__(self, kind):
        super().__init__()
        cell = {"lstm": nn.LSTM, "gru": nn.GRU, "rnn": nn.RNN}[kind]
        self.rnn = cell(28, 128, batch_first=True)
        self.out = nn.Linear(128, 10)

    def forward(self, x):
        seq, _ = self.rnn(x)
        return self.out(seq[:, -1])


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", default="lstm", choices=["lstm", "gru", "rnn"])
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--steps", type=int, default=20)
    ap.add_argument("--repeats", type=int, default=5)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(1)
    x = torch.from_numpy(load_idx(find("mnist", "train-images-idx3-ubyte"))
                         .astype(np.float32) / 255.0)
    y = torch.from_numpy(load_idx(find("mnist", "train-labels-idx1-ubyte")).astype(np.int64))
    model = Classifier(args.model)
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    loss_fn = nn.CrossEntropyLoss()
    batch, warmup, rates, pos = 128, 3, [], 0
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
