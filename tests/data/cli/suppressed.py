import torch


class Net(torch.nn.Module):
    def forward(self, x):
        if x.sum() > 0:  # noqa: TRC101
            x = x * 2
        if x.mean() > 0:  # noqa
            x = x + 1
        if x.min() > 0:  # fxlint: ignore[TRC1]
            x = x + 3
        if (x.max()
                > 0):  # fxlint: ignore[TRC101]
            x = x - 1
        if x.std() > 0:  # noqa: TRC204
            x = x / 2
        return x.view(len(x), -1)  # NOQA:TRC2
