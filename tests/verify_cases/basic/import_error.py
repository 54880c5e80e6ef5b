"""Bad input: the file cannot be imported."""
import torch.nn as nn

import fxlint_verify_no_such_module  # RAISES


class Net(nn.Module):
    def forward(self, x):
        return x
