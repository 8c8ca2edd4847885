"""PyTorch equivalent of fdsm's `mlp` kind (models/mlp.go): same state_dict
names (layers.{i}.weight [out, in], layers.{i}.bias; with head "quadratic"
head.{l1,l2,lq}; with base_precision base.log_precision [1]) and the same
math."""
import math

import torch
import torch.nn as nn
import torch.nn.functional as F

ACTIVATIONS = {
    "softplus": F.softplus,
    "shifted_softplus": lambda x: F.softplus(x) - 0.6931471805599453,
    "elu": F.elu,
    "tanh": torch.tanh,
    "sigmoid": torch.sigmoid,
    "swish": lambda x: x * torch.sigmoid(x),
}


class QuadraticHead(nn.Module):
    """l1(h) l2(h) + lq(h^2), each a Linear(n -> 1): one energy per sample."""

    def __init__(self, n):
        super().__init__()
        self.l1, self.l2, self.lq = nn.Linear(n, 1), nn.Linear(n, 1), nn.Linear(n, 1)

    def forward(self, h):
        return (self.l1(h) * self.l2(h) + self.lq(h * h)).reshape(-1)


class _Base(nn.Module):
    def __init__(self, precision):
        super().__init__()
        self.log_precision = nn.Parameter(torch.full((1,), math.log(precision)))


class MLP(nn.Module):
    def __init__(self, input_dim=784, hidden=(512, 512), activation="softplus", head="linear", base_precision=0.0):
        super().__init__()
        dims = [input_dim, *hidden]
        if head in ("", "linear"):
            dims.append(1)
        self.layers = nn.ModuleList(nn.Linear(a, b) for a, b in zip(dims[:-1], dims[1:]))
        self.head = QuadraticHead(dims[-1]) if head == "quadratic" else None
        self.base = _Base(base_precision) if base_precision > 0 else None
        self.act = ACTIVATIONS[activation]

    def energy(self, x):
        flat = x.reshape(x.shape[0], -1)
        h = flat
        for i, layer in enumerate(self.layers):
            h = layer(h)
            if i + 1 < len(self.layers) or self.head is not None:
                h = self.act(h)
        e = self.head(h) if self.head is not None else h.reshape(-1)
        if self.base is not None:
            e = e + 0.5 * (flat * flat).sum(dim=1) * torch.exp(self.base.log_precision)
        return e

    def log_prob(self, x):
        return -self.energy(x)
