"""PyTorch twin of fdsm's NICE flow (models/nice.go, model kind "nice").

Same state_dict names, shapes and order as fdsm's parameters, so an fdsm
checkpoint loads with load_state_dict(strict=True):

    scale                          [d]       log-scale s, initialised to 0
    couplings.{k}.layers.{i}.weight [out, in]
    couplings.{k}.layers.{i}.bias   [out]

Math (x flattened to d values per sample):
    h0, h1 = x[:, 0::2], x[:, 1::2]          fixed permutation: evens, then odds
    coupling k even: h1 <- h1 + m_k(h0); k odd: h0 <- h0 + m_k(h1)
    z = cat(h0, h1) * exp(s)
    log p(x) = -(d/2) log 2pi - 0.5 ||z||^2 + sum(s)
m_k: Linear(d/2, hidden), (hidden_layers - 1) x Linear(hidden, hidden),
Linear(hidden, d/2), the activation between layers and none after the last.
Defaults are the paper's MNIST model: 15,154,352 parameters.

Run as a script for self-checks (float64):
    python nice.py                      # size, inverse, change of variables
    python nice.py CKPT.safetensors     # also load an fdsm checkpoint strictly
                                        # (needs the safetensors package) and
                                        # print log p of a few N(0, 1) inputs
"""
import math
import sys

import torch
import torch.nn.functional as F
from torch import nn

ACTIVATIONS = {
    "softplus": F.softplus,
    "shifted_softplus": lambda x: F.softplus(x) - math.log(2.0),
    "elu": F.elu,
    "tanh": torch.tanh,
    "sigmoid": torch.sigmoid,
    "swish": lambda x: x * torch.sigmoid(x),
}


class Coupling(nn.Module):
    """Additive coupling: swap=False transforms the second half given the
    first (couplings 0, 2, ...), swap=True the first given the second."""

    def __init__(self, half, hidden, hidden_layers, swap, activation):
        super().__init__()
        dims = [half] + [hidden] * hidden_layers + [half]
        self.layers = nn.ModuleList(nn.Linear(a, b) for a, b in zip(dims[:-1], dims[1:]))
        self.swap = swap
        self.act = ACTIVATIONS[activation]

    def shift(self, h):
        for i, layer in enumerate(self.layers):
            h = layer(h)
            if i + 1 < len(self.layers):
                h = self.act(h)
        return h

    def forward(self, h0, h1):
        if self.swap:
            return h0 + self.shift(h1), h1
        return h0, h1 + self.shift(h0)

    def inverse(self, h0, h1):
        if self.swap:
            return h0 - self.shift(h1), h1
        return h0, h1 - self.shift(h0)


class NICE(nn.Module):
    def __init__(self, input_dim=784, hidden=1000, coupling_layers=4, hidden_layers=4, activation="softplus"):
        super().__init__()
        if input_dim <= 0 or input_dim % 2:
            raise ValueError(f"input_dim must be positive and even, got {input_dim}")
        if activation not in ACTIVATIONS:
            raise ValueError(f"unknown activation {activation!r} (valid: {sorted(ACTIVATIONS)})")
        self.input_dim = input_dim
        half = input_dim // 2
        self.scale = nn.Parameter(torch.zeros(input_dim))
        self.couplings = nn.ModuleList(
            Coupling(half, hidden, hidden_layers, k % 2 == 1, activation) for k in range(coupling_layers)
        )

    @classmethod
    def from_state_dict(cls, sd, activation="softplus"):
        """Builds the module whose sizes match state_dict sd and loads it strictly."""
        ks = {int(name.split(".")[1]) for name in sd if name.startswith("couplings.")}
        ls = {int(name.split(".")[3]) for name in sd if name.startswith("couplings.0.layers.")}
        m = cls(
            input_dim=sd["scale"].shape[0],
            hidden=sd["couplings.0.layers.0.weight"].shape[0],
            coupling_layers=len(ks),
            hidden_layers=len(ls) - 1,
            activation=activation,
        )
        m.load_state_dict(sd, strict=True)
        return m

    def split(self, x):
        x = x.reshape(x.shape[0], -1)
        return x[:, 0::2], x[:, 1::2]

    def merge(self, h0, h1):
        return torch.stack((h0, h1), dim=2).reshape(h0.shape[0], -1)

    def forward(self, x):
        """z = f(x), shape [n, d], in the permuted order (evens, then odds)."""
        h0, h1 = self.split(x)
        for c in self.couplings:
            h0, h1 = c(h0, h1)
        return torch.cat((h0, h1), dim=1) * torch.exp(self.scale)

    def inverse(self, z):
        """x = f^-1(z), shape [n, d]."""
        y = z.reshape(z.shape[0], -1) * torch.exp(-self.scale)
        half = self.input_dim // 2
        h0, h1 = y[:, :half], y[:, half:]
        for c in reversed(self.couplings):
            h0, h1 = c.inverse(h0, h1)
        return self.merge(h0, h1)

    def log_prob(self, x):
        """Exact log p(x), shape [n]."""
        z = self.forward(x)
        const = -0.5 * self.input_dim * math.log(2 * math.pi)
        return const - 0.5 * (z * z).sum(dim=1) + self.scale.sum()


def _self_check():
    m = NICE()
    n = sum(p.numel() for p in m.parameters())
    assert n == 15154352, n
    torch.manual_seed(0)
    small = NICE(input_dim=6, hidden=8, hidden_layers=2).double()
    with torch.no_grad():
        for p in small.parameters():
            p.normal_(0, 0.5)
    x = torch.randn(3, 6, dtype=torch.float64)
    err = (small.inverse(small(x)) - x).abs().max().item()
    assert err < 1e-12, err
    jac = torch.autograd.functional.jacobian(lambda v: small(v[None])[0], x[0])
    z = small(x[:1])[0]
    want = torch.slogdet(jac)[1] - 3 * math.log(2 * math.pi) - 0.5 * (z * z).sum()
    got = small.log_prob(x[:1])[0]
    assert abs(got.item() - want.item()) < 1e-10, (got.item(), want.item())
    print(f"ok: {n} parameters at defaults; inverse err {err:.1e}; log p {got.item():.12g} = {want.item():.12g}")


if __name__ == "__main__":
    _self_check()
    if len(sys.argv) > 1:
        from safetensors.torch import load_file

        model = NICE.from_state_dict(load_file(sys.argv[1])).double()
        print("loaded", sys.argv[1], "strictly; log p of 4 N(0,1) inputs:",
              model.log_prob(torch.randn(4, model.input_dim, dtype=torch.float64)).tolist())
