"""PyTorch equivalent of fdsm's `resnet_ebm` kind (models/resnet_ebm.go): same
state_dict names and the same math."""
import torch.nn as nn
import torch.nn.functional as F

from mlp import ACTIVATIONS, QuadraticHead


def reference_blocks(n):
    return [dict(out=2 * n, down=True), dict(out=2 * n, down=False), dict(out=2 * n, down=False),
            dict(out=4 * n, down=True), dict(out=4 * n, down=False), dict(out=4 * n, down=False),
            dict(out=8 * n, down=True), dict(out=8 * n, down=False), dict(out=8 * n, down=False)]


class Block(nn.Module):
    def __init__(self, cin, cout, down, act):
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cin, 3, padding=1, bias=False)
        self.conv2 = nn.Conv2d(cin, cout, 3, padding=1)
        self.shortcut = nn.Conv2d(cin, cout, 1)
        self.down, self.act = down, act

    def forward(self, x):
        r = self.conv2(self.act(self.conv1(self.act(x))))
        s = x
        if self.down:
            r, s = F.avg_pool2d(r, 2), F.avg_pool2d(s, 2)
        return r + self.shortcut(s)


class ResNetEBM(nn.Module):
    def __init__(self, in_channels=1, image_size=32, n_chan=128, blocks=None, activation="elu"):
        super().__init__()
        blocks = blocks or reference_blocks(n_chan)
        act = ACTIVATIONS[activation]
        self.in_channels, self.image_size = in_channels, image_size
        self.conv1 = nn.Conv2d(in_channels, n_chan, 3, padding=1)
        mods, cin, size = [], n_chan, image_size
        for b in blocks:
            mods.append(Block(cin, b["out"], b.get("down", False), act))
            cin = b["out"]
            size //= 2 if b.get("down", False) else 1
        self.blocks = nn.ModuleList(mods)
        self.head = QuadraticHead(cin * size * size)

    def energy(self, x):
        s = self.image_size
        h = self.conv1(x.reshape(x.shape[0], self.in_channels, s, s))
        for b in self.blocks:
            h = b(h)
        return self.head(h.reshape(h.shape[0], -1))

    def log_prob(self, x):
        return -self.energy(x)
