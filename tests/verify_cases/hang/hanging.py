"""Hangs while tracing (a Python loop that never ends): must be stopped by --timeout, blamed on the loop."""
import time

import torch
import torch.nn as nn


class Spinner(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(4, 4)

    def forward(self, x):
        while isinstance(x, torch.fx.Proxy):
            time.sleep(0.01)  # HANGS
        return self.fc(x)


def make():
    return Spinner(), (torch.randn(2, 4),)


def make_alt():
    return Spinner(), (torch.randn(3, 4),)
