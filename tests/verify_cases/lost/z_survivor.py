"""Verified after kills_worker.py (alphabetical order): must pass in a restarted zygote."""
import torch
import torch.nn as nn


class Survivor(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(4, 4)

    def forward(self, x):
        return self.fc(x).relu()


def make():
    return Survivor(), (torch.randn(2, 4),)
