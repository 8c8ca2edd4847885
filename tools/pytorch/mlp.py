"""PyTorch equivalent of fdsm's `mlp` kind (models/mlp.go): same state_dict
names (layers.{i}.weight [out, in], layers.{i}.bias) and the same math."""
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


class MLP(nn.Module):
    def __init__(self, input_dim=784, hidden=(512, 512), activation="softplus"):
        super().__init__()
        dims = [input_dim, *hidden, 1]
        self.layers = nn.ModuleList(nn.Linear(a, b) for a, b in zip(dims[:-1], dims[1:]))
        self.act = ACTIVATIONS[activation]

    def energy(self, x):
        h = x.reshape(x.shape[0], -1)
        for i, layer in enumerate(self.layers):
            h = layer(h)
            if i + 1 < len(self.layers):
                h = self.act(h)
        return h.reshape(-1)

    def log_prob(self, x):
        return -self.energy(x)
