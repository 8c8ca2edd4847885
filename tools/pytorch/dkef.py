"""PyTorch twin of fdsm's `dkef` kind (models/dkef.go): the deep kernel
exponential family of Wenliang et al. as in the FD-SM paper's reference code.

Same state_dict names and shapes as fdsm's checkpoint (parameters plus the
buffer `alpha`), so an fdsm checkpoint loads with load_state_dict(strict=True):

    features.{j}.l1.weight [F, d]   features.{j}.l1.bias [F]
    features.{j}.l2.weight [F, F]   features.{j}.l2.bias [F]
    features.{j}.l3.weight [F, F]   features.{j}.l3.bias [F]
    features.{j}.skip.weight [F, d] (no bias)            for j < K
    log_sigma [K]  kernel_weights [K]  inducing_points [M, d]  log_lambda [1]
    alpha [M] (buffer: the last fitted coefficients)

Math (x flattened to d values per sample):
    phi_j(x) = l3(softplus(l2(softplus(l1(x))))) + skip(x)
    k_j(x, z) = exp(-|phi_j(x) - phi_j(z)|^2 / (2 * 10^log_sigma_j))
    K(x)[m] = sum_j softmax(kernel_weights)_j k_j(x, z_m)
    log p~(x) = -|x|^2 / (2 q0_std^2) + K(x) . alpha
    alpha = solve(G + 10^log_lambda I, -b), with J(a) = 0.5 a'Ga + a'b + const
    the exact score-matching objective mean_i sum_d [0.5 (d_d log p~)^2 + d_d^2 log p~].

Defaults: d = 11, M = 200, F = 30, K = 3, q0_std = 2, log_sigma (0, 0.5185, 1),
log_lambda -2: 9,857 parameters.

Run as a script for self-checks (float64):
    python dkef.py                      # size; analytic G, b against autograd
    python dkef.py CKPT.safetensors     # also load an fdsm checkpoint strictly
                                        # (needs the safetensors package) and
                                        # print log p~ of a few N(0, 1) inputs
"""
import math
import sys

import torch
import torch.nn.functional as F
from torch import nn


class Feature(nn.Module):
    def __init__(self, d, f):
        super().__init__()
        self.l1 = nn.Linear(d, f)
        self.l2 = nn.Linear(f, f)
        self.l3 = nn.Linear(f, f)
        self.skip = nn.Linear(d, f, bias=False)

    def forward(self, x):
        return self.l3(F.softplus(self.l2(F.softplus(self.l1(x))))) + self.skip(x)

    def derivs(self, x):
        """phi(x) [n, F], jac[i, d] = d phi(x_i)/dx_d and hess[i, d] =
        d^2 phi(x_i)/dx_d^2 [n, d, F] by forward-mode propagation."""
        w1t = self.l1.weight.t()[None]  # [1, d, H]
        h1 = self.l1(x)
        s1 = torch.sigmoid(h1)[:, None]
        da = s1 * w1t
        dda = s1 * (1 - s1) * w1t**2
        h2 = self.l2(F.softplus(h1))
        dh, ddh = da @ self.l2.weight.t(), dda @ self.l2.weight.t()
        s2 = torch.sigmoid(h2)[:, None]
        da2 = s2 * dh
        dda2 = s2 * (1 - s2) * dh**2 + s2 * ddh
        phi = self.l3(F.softplus(h2)) + self.skip(x)
        jac = da2 @ self.l3.weight.t() + self.skip.weight.t()[None]
        hess = dda2 @ self.l3.weight.t()
        return phi, jac, hess


def default_log_sigma(k):
    if k == 3:
        return [0.0, 0.5185, 1.0]
    return [j / max(k - 1, 1) for j in range(k)]


class DKEF(nn.Module):
    def __init__(self, input_dim=11, num_inducing=200, feature_dim=30, num_kernels=3, q0_std=2.0,
                 log_sigma_init=None, log_lambda_init=-2.0):
        super().__init__()
        if log_sigma_init is None or len(log_sigma_init) == 0:
            log_sigma_init = default_log_sigma(num_kernels)
        if len(log_sigma_init) != num_kernels:
            raise ValueError(f"log_sigma_init has {len(log_sigma_init)} values but num_kernels is {num_kernels}")
        if min(input_dim, num_inducing, feature_dim, num_kernels) <= 0 or not q0_std > 0:
            raise ValueError("sizes and q0_std must be positive")
        self.input_dim, self.q0_std = input_dim, q0_std
        self.features = nn.ModuleList(Feature(input_dim, feature_dim) for _ in range(num_kernels))
        self.log_sigma = nn.Parameter(torch.tensor(log_sigma_init, dtype=torch.float32))
        self.kernel_weights = nn.Parameter(torch.zeros(num_kernels))
        self.inducing_points = nn.Parameter(torch.randn(num_inducing, input_dim))
        self.log_lambda = nn.Parameter(torch.full((1,), float(log_lambda_init)))
        self.register_buffer("alpha", torch.zeros(num_inducing))

    @classmethod
    def from_state_dict(cls, sd, q0_std=2.0):
        """Builds the module whose sizes match state_dict sd and loads it strictly."""
        k = len({int(n.split(".")[1]) for n in sd if n.startswith("features.")})
        m, d = sd["inducing_points"].shape
        mod = cls(input_dim=d, num_inducing=m, feature_dim=sd["features.0.l1.weight"].shape[0],
                  num_kernels=k, q0_std=q0_std)
        mod = mod.to(sd["inducing_points"].dtype)  # before loading, so float64 values stay exact
        mod.load_state_dict(sd, strict=True)
        return mod

    def flat(self, x):
        return x.reshape(x.shape[0], self.input_dim)

    def mixture_weights(self):
        return torch.softmax(self.kernel_weights, dim=0)

    @staticmethod
    def gram(fx, fz, inv):
        d2 = (fx * fx).sum(1, keepdim=True) + (fz * fz).sum(1)[None] - 2 * fx @ fz.t()
        return torch.exp(-0.5 * inv * d2)

    def inv_bandwidth(self, j):
        return torch.exp(-math.log(10) * self.log_sigma[j])

    def kernel_matrix(self, x):
        """K [n, M]."""
        x, w = self.flat(x), self.mixture_weights()
        return sum(w[j] * self.gram(f(x), f(self.inducing_points), self.inv_bandwidth(j))
                   for j, f in enumerate(self.features))

    def log_prob_alpha(self, x, alpha):
        """log p~(x) [n] for coefficients alpha [M]."""
        x = self.flat(x)
        return -0.5 * (x * x).sum(1) / self.q0_std**2 + self.kernel_matrix(x) @ alpha

    def log_prob(self, x):
        """log p~(x) [n] with the alpha buffer (unnormalised)."""
        return self.log_prob_alpha(x, self.alpha)

    def solve_alpha(self, g, b):
        lam = torch.exp(math.log(10) * self.log_lambda)
        eye = torch.eye(g.shape[0], dtype=g.dtype, device=g.device)
        return torch.linalg.solve(g + lam * eye, -b)

    def sm_system(self, x):
        """G [M, M] and b [M] of the exact score-matching objective on x."""
        x = self.flat(x)
        n, d = x.shape
        w, z = self.mixture_weights(), self.inducing_points
        a = bb = 0
        for j, f in enumerate(self.features):
            fx, jac, hess = f.derivs(x)
            fz, inv = f(z), self.inv_bandwidth(j)
            k = self.gram(fx, fz, inv)[:, None]  # [n, 1, M]

            def proj(t):  # t[i, d] . (phi(x_i) - phi(z_m)) -> [n, d, M]
                return (t * fx[:, None]).sum(2, keepdim=True) - t @ fz.t()

            p, q = proj(jac), proj(hess)
            jj = (jac * jac).sum(2, keepdim=True)
            a = a - w[j] * inv * k * p
            bb = bb + w[j] * inv * k * (inv * p * p - jj - q)
        af = a.reshape(n * d, -1)
        g = af.t() @ af / n
        dq = -x.reshape(-1) / self.q0_std**2
        b = (bb.reshape(n * d, -1).sum(0) + dq @ af) / n
        return g, b

    def fit_alpha_sm(self, x):
        return self.solve_alpha(*self.sm_system(x))


def brute_sm(model, x, alpha):
    """The score-matching objective by autograd (d backward passes)."""
    x = x.clone().requires_grad_(True)
    g = torch.autograd.grad(model.log_prob_alpha(x, alpha).sum(), x, create_graph=True)[0]
    j = 0.5 * (g * g).sum()
    for c in range(x.shape[1]):
        j = j + torch.autograd.grad(g[:, c].sum(), x, retain_graph=True)[0][:, c].sum()
    return j / x.shape[0]


def _self_check():
    n = sum(p.numel() for p in DKEF().parameters())
    assert n == 9857, n
    torch.manual_seed(0)
    m = DKEF(input_dim=3, num_inducing=5, feature_dim=4).double()
    x = torch.randn(7, 3, dtype=torch.float64)
    g, b = m.sm_system(x)
    zero = torch.zeros(5, dtype=torch.float64)
    j0 = brute_sm(m, x, zero)
    for _ in range(3):
        a = torch.randn(5, dtype=torch.float64)
        want = (brute_sm(m, x, a) - j0).item()
        got = (0.5 * a @ g @ a + a @ b).item()
        assert abs(got - want) < 1e-10, (got, want)
    alpha = m.fit_alpha_sm(x)
    assert alpha.shape == (5,) and torch.isfinite(alpha).all()
    print(f"dkef: {n} parameters at the defaults; analytic G, b match autograd")


if __name__ == "__main__":
    _self_check()
    if len(sys.argv) > 1:
        from safetensors.torch import load_file

        model = DKEF.from_state_dict(load_file(sys.argv[1]))
        d = model.input_dim
        print(model.log_prob(torch.randn(4, d, dtype=model.alpha.dtype)).tolist())
