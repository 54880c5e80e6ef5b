"""Silent kind: traces, but the graph froze a random draw made at trace time."""
import random

import torch
import torch.nn as nn


class Jitter(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(8, 8)

    def forward(self, x):
        scale = 1.0 + random.random()  # HAZARD
        return self.fc(x) * scale


def make():
    return Jitter(), (torch.randn(2, 8),)
