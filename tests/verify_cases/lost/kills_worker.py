"""Bad input at its worst: the model kills the process that forked it (the zygote)."""
import os
import signal

import torch
import torch.nn as nn


class Assassin(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(4, 4)

    def forward(self, x):
        os.kill(os.getppid(), signal.SIGKILL)
        return self.fc(x)


def make():
    return Assassin(), (torch.randn(2, 4),)


def make_alt():
    return Assassin(), (torch.randn(3, 4),)
