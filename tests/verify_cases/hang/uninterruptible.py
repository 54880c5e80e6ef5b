"""Hangs where Python cannot raise the timeout (SIGALRM blocked): the worker must be killed."""
import signal
import time

import torch
import torch.nn as nn


class Stuck(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(4, 4)

    def forward(self, x):
        if isinstance(x, torch.fx.Proxy):
            signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGALRM})
            time.sleep(3600)
        return self.fc(x)


def make():
    return Stuck(), (torch.randn(2, 4),)


def make_alt():
    return Stuck(), (torch.randn(3, 4),)
