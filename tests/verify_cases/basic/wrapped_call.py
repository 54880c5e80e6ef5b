"""A hazard hoisted into a torch.fx.wrap function that receives a submodule: it traces and QAT runs,
but the submodule is hidden from quantization (no activation observer) and convert_fx fails."""
import torch
import torch.fx
import torch.nn as nn


@torch.fx.wrap
def apply_if_positive(layer, x):
    y = layer(x)
    if x.sum() > 0:
        return y.relu()
    return y


class Hoisted(nn.Module):
    def __init__(self):
        super().__init__()
        self.inner = nn.Linear(8, 8)
        self.out = nn.Linear(8, 4)

    def forward(self, x):
        return self.out(apply_if_positive(self.inner, x))


def make():
    return Hoisted(), (torch.randn(2, 8),)
