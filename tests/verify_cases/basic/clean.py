"""Clean: traces, matches eager, prepares and runs under QAT. make() prints (must not disturb verify)."""
import torch
import torch.nn as nn


class ConvNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 8, 3, padding=1)
        self.bn = nn.BatchNorm2d(8)
        self.fc = nn.Linear(8, 5)

    def forward(self, x):
        x = torch.relu(self.bn(self.conv(x)))
        b, c, h, w = x.shape
        return self.fc(x.view(b, c, h * w).mean(-1))


def make():
    print("building the model: this goes to the worker's captured output, not into verify's protocol")
    return ConvNet(), (torch.randn(2, 3, 16, 16),)
