#!/usr/bin/python3
"""PyTorch reference for bench_mlp: the same MLP 784-256-128-10 (ReLU), batch 128, SGD
momentum 0.9, softmax cross-entropy, on the same MNIST files, at a given thread count; prints
one line in bench_mlp's format.

    /usr/bin/python3 bench/torch_mlp.py --threads 1 --steps 200 --repeats 5"""
import torch

from torch_common import images, options, report, train


def main():
    args = options(__doc__, ["mlp"], {"steps": 200})
    torch.manual_seed(42)
    x, y = images("mnist")
    x = x.reshape(x.shape[0], 784)
    model = torch.nn.Sequential(
        torch.nn.Linear(784, 256), torch.nn.ReLU(),
        torch.nn.Linear(256, 128), torch.nn.ReLU(),
        torch.nn.Linear(128, 10))
    opt = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
    report(args, *train(args, model, opt, x, y, warmup=50))


if __name__ == "__main__":
    main()
