"""Bad input: the constructor raises."""
import torch.nn as nn


class Broken(nn.Module):
    def __init__(self, width=4):
        super().__init__()
        self.fc = nn.Linear(width, width)
        raise RuntimeError("this constructor always fails")  # RAISES

    def forward(self, x):
        return self.fc(x)
