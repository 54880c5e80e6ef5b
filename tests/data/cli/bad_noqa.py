import torch


class Net(torch.nn.Module):
    def forward(self, x):
        y = x * 2  # noqa: XYZ123
        z = y + 1  # noqa: E501, TRC999
        label = "# noqa: QQQ1 inside a string is not a comment"
        return z  # fxlint: ignore[NOPE42]
