"""PyTorch equivalent of fdsm's `dae` kind (models/dae.go): same state_dict
names (layers.{i}.weight [out, in], layers.{i}.bias, log_scale [1]) and the
same math: E(x) = 1/2 exp(log_scale) ||x - r(x)||^2, r an MLP autoencoder
whose output is sigmoid or linear, log p~(x) = -E(x)."""
import math

import torch
import torch.nn as nn

from mlp import ACTIVATIONS


class DAE(nn.Module):
    def __init__(self, input_dim=784, hidden=(1024, 1024), activation="softplus", output="sigmoid", scale=100.0):
        super().__init__()
        dims = [input_dim, *hidden, input_dim]
        self.layers = nn.ModuleList(nn.Linear(a, b) for a, b in zip(dims[:-1], dims[1:]))
        self.act = ACTIVATIONS[activation]
        self.output = output
        self.log_scale = nn.Parameter(torch.full((1,), math.log(scale)))

    def reconstruct(self, x):
        h = x.reshape(x.shape[0], -1)
        for i, layer in enumerate(self.layers):
            h = layer(h)
            if i + 1 < len(self.layers):
                h = self.act(h)
        return torch.sigmoid(h) if self.output == "sigmoid" else h

    def energy(self, x):
        flat = x.reshape(x.shape[0], -1)
        return 0.5 * ((flat - self.reconstruct(x)) ** 2).sum(dim=1) * torch.exp(self.log_scale)

    def log_prob(self, x):
        return -self.energy(x)
