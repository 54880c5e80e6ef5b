"""Bad input: the process dies inside forward (as a segfaulting extension would)."""
import os
import signal

import torch
import torch.nn as nn


class Crasher(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(4, 4)

    def forward(self, x):
        os.kill(os.getpid(), signal.SIGSEGV)
        return self.fc(x)


def make():
    return Crasher(), (torch.randn(2, 4),), {}


def make_alt():
    return Crasher(), (torch.randn(3, 4),)
