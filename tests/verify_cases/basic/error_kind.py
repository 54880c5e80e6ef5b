"""Error kind: Python control flow on a traced value fails symbolic_trace."""
import torch
import torch.nn as nn


class Gate(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(8, 8)

    def forward(self, x):
        y = self.fc(x)
        if y.sum() > 0:  # HAZARD
            y = y * 2
        return y


def make():
    return Gate(), (torch.randn(2, 8),)
