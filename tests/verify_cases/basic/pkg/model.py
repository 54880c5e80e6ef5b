"""A model inside a package: imported as pkg.model, so `from .helpers import ...` works."""
import torch
import torch.nn as nn

from .helpers import clamp_rows


class Packaged(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(4, 4)

    def forward(self, x):
        return clamp_rows(self.fc(x))


def make():
    return Packaged(), (torch.randn(3, 4),)
