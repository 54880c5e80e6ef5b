"""A forward that needs keyword arguments; the factory returns (model, args, kwargs)."""
import torch
import torch.nn as nn


class FiLM(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(8, 8)

    def forward(self, x, *, gamma, beta):
        return self.fc(x) * gamma + beta


def make():
    return FiLM(), (torch.randn(2, 8),), {"gamma": torch.rand(2, 8), "beta": torch.randn(2, 8)}


def make_alt():
    return FiLM(), (torch.randn(5, 8),), {"gamma": torch.rand(5, 8), "beta": torch.randn(5, 8)}
