"""Non-tensor and nested outputs: a dict holding a tuple, a dataclass and a Python int."""
from dataclasses import dataclass

import torch
import torch.nn as nn


@dataclass
class Heads:
    logits: torch.Tensor
    scores: torch.Tensor


class MultiOut(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(6, 4)

    def forward(self, x):
        y = self.fc(x)
        return {"pair": (y, y.sigmoid()), "heads": Heads(y, y.softmax(-1)), "batch": x.size(0)}


def make():
    return MultiOut(), (torch.randn(3, 6),)
