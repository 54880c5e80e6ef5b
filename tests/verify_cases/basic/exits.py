"""Bad input: forward calls sys.exit() while tracing."""
import sys

import torch
import torch.nn as nn


class Quitter(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(4, 4)

    def forward(self, x):
        if isinstance(x, torch.fx.Proxy):
            sys.exit(3)  # RAISES
        return self.fc(x)


def make():
    return Quitter(), (torch.randn(2, 4),)
