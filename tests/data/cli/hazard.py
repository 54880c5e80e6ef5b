import torch


class Net(torch.nn.Module):
    def forward(self, x):
        s = x.sum()
        t = s * 2
        if t > 0:
            return x * 2
        return self.shrink(x)

    def shrink(self, x: torch.Tensor):
        return x[: len(x) // 2]
