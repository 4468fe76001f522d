#!/usr/bin/python3
"""PyTorch reference for bench_cnn: the same three workloads (lenet, cnn, resnet), batch 128,
same optimizers, same data, at a given thread count; prints one line in bench_cnn's format.

    /usr/bin/python3 bench/torch_cnn.py --model lenet --threads 1 --steps 30 --repeats 5"""
import torch
from torch import nn

from torch_common import images, options, report, train


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
    args = options(__doc__, ["lenet", "cnn", "resnet"], {"steps": 30})
    torch.manual_seed(1)
    x, y = images("mnist" if args.model == "cnn" else "fashion-mnist")
    x = x.unsqueeze(1)
    model = build(args.model)
    opt = (torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9) if args.model == "lenet"
           else torch.optim.Adam(model.parameters(), lr=1e-3))
    report(args, *train(args, model, opt, x, y, warmup=5))


if __name__ == "__main__":
    main()
