"""PyTorch equivalent of fdsm's `mlp-score` kind (models/mlp_score.go): same
state_dict names (layers.{i}.weight [out, in], layers.{i}.bias,
embed.{i}.weight [hidden_i, L], and with pca the buffers pca.mean [d] and
pca.components [d, K]) and the same math. With y the level indices and
sigma_y their scales,

    h_0 = c_in(sigma_y) z,  h_{i+1} = act(L_i(h_i) + E_i(y)),  s_z = L_k(h_k) / sigma_y,

c_in(s) = 1/sqrt(s^2 + sigma_data^2). Without pca z = x and s = s_z; with pca
z = V^T (x - mu), r = (x - mu) - V z and s = V s_z - r / sigma_y^2."""

import torch
import torch.nn as nn
import torch.nn.functional as F

from mlp import ACTIVATIONS
from ncsn import geometric_sigmas


class _PCA(nn.Module):
    def __init__(self, input_dim, k):
        super().__init__()
        self.register_buffer("mean", torch.zeros(input_dim))
        self.register_buffer("components", torch.eye(input_dim, k))


class MLPScore(nn.Module):
    def __init__(self, input_dim=784, hidden=(1024, 1024), activation="swish", num_levels=20,
                 sigma_begin=10.0, sigma_end=0.1, sigma_data=1.0, pca=0, pca_samples=10000):
        super().__init__()
        width = pca if pca > 0 else input_dim
        dims = [width, *hidden, width]
        self.layers = nn.ModuleList(nn.Linear(a, b) for a, b in zip(dims[:-1], dims[1:]))
        self.embed = nn.ModuleList(nn.Linear(num_levels, h, bias=False) for h in hidden)
        self.act = ACTIVATIONS[activation]
        self.pca = _PCA(input_dim, pca) if pca > 0 else None
        self.register_buffer("sigmas", torch.tensor(geometric_sigmas(sigma_begin, sigma_end, num_levels), dtype=torch.float64),
                             persistent=False)
        self.sigma_data = sigma_data
        self.num_levels = num_levels

    def forward(self, x, y):
        """The score s(x, sigma_y) for x [n, ...] and level indices y [n]."""
        n = x.shape[0]
        flat = x.reshape(n, -1)
        sigma = self.sigmas.to(flat.dtype)[y][:, None]
        onehot = F.one_hot(y, self.num_levels).to(flat.dtype)
        z = flat
        if self.pca is not None:
            centred = flat - self.pca.mean
            z = centred @ self.pca.components
        h = z / torch.sqrt(sigma * sigma + self.sigma_data ** 2)
        for i, layer in enumerate(self.layers):
            h = layer(h)
            if i < len(self.embed):
                h = self.act(h + self.embed[i](onehot))
        s = h / sigma
        if self.pca is not None:
            outside = centred - z @ self.pca.components.T
            s = s @ self.pca.components.T - outside / (sigma * sigma)
        return s.reshape(x.shape)


if __name__ == "__main__":
    net = MLPScore(pca=40)
    print(sum(p.numel() for p in net.parameters()), "parameters at the main job's size")
