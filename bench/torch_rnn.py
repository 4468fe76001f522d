#!/usr/bin/python3
"""PyTorch reference for bench_rnn: an LSTM (or GRU, or RNN) of 128 units over sequential MNIST
(28 steps of 28 pixels), last hidden state to a dense layer of 10, Adam, batch 128; prints one
line in bench_rnn's format.

    /usr/bin/python3 bench/torch_rnn.py --model lstm --threads 1 --steps 20 --repeats 5"""
import torch
from torch import nn

from torch_common import images, options, report, train


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
    args = options(__doc__, ["lstm", "gru", "rnn"], {"steps": 20})
    torch.manual_seed(1)
    x, y = images("mnist")
    model = Classifier(args.model)
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    report(args, *train(args, model, opt, x, y, warmup=3))


if __name__ == "__main__":
    main()
