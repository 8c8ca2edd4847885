"""Time the objectives benchmark's MLP steps in PyTorch for comparison with
`fdsm bench objectives`: a float32 784-512-512-1 softplus MLP energy, batch 64,
loss + backward for SSM, FD-SSM, DSM, FD-DSM (sphere noise eps 0.05, sigma
0.1), medians of rounds after warm-up, device synchronised. Prints JSON.

    python3 torch_objectives_time.py cpu 2      # CPU with 2 threads
    python3 torch_objectives_time.py cuda
"""
import json
import statistics
import sys
import time

import torch
import torch.nn as nn
import torch.nn.functional as F

dev = sys.argv[1] if len(sys.argv) > 1 else "cpu"
if dev == "cpu" and len(sys.argv) > 2:
    torch.set_num_threads(int(sys.argv[2]))
torch.manual_seed(0)
B, D, EPS, SIGMA = 64, 784, 0.05, 0.1
net = nn.Sequential(nn.Linear(D, 512), nn.Softplus(), nn.Linear(512, 512), nn.Softplus(), nn.Linear(512, 1)).to(dev)
x = torch.rand(B, D, device=dev)


def logp(z):
    return -net(z).squeeze(-1)


def sphere():
    u = torch.randn(B, D, device=dev)
    return EPS * u / u.norm(dim=1, keepdim=True)


def ssm():
    xx = x.clone().requires_grad_(True)
    v = torch.randn_like(xx)
    g = torch.autograd.grad(logp(xx).sum(), xx, create_graph=True)[0]
    vg = (v * g).sum(1)
    hv = torch.autograd.grad(vg.sum(), xx, create_graph=True)[0]
    ((v * hv).sum(1) + 0.5 * vg ** 2).mean().backward()


def fd_ssm():
    v = sphere()
    f = logp(torch.cat([x, x + v, x - v]))
    f0, fp, fm = f[:B], f[B:2 * B], f[2 * B:]
    ((fp + fm - 2 * f0 + (fp - fm) ** 2 / 8).mean() / EPS ** 2).backward()


def dsm():
    xt = (x + SIGMA * torch.randn_like(x)).requires_grad_(True)
    g = torch.autograd.grad(logp(xt).sum(), xt, create_graph=True)[0]
    ((g + (xt - x) / SIGMA ** 2) ** 2).sum(1).mean().backward()


def fd_dsm():
    xt = x + SIGMA * torch.randn_like(x)
    v = sphere()
    f = logp(torch.cat([xt + v, xt - v]))
    t = f[:B] - f[B:] + 2 * (v * (xt - x)).sum(1) / SIGMA ** 2
    ((t ** 2 / 4).mean() / EPS ** 2).backward()


def timeit(fn, n):
    if dev == "cuda":
        torch.cuda.synchronize()
    t = time.perf_counter()
    for _ in range(n):
        fn()
        net.zero_grad(set_to_none=True)
    if dev == "cuda":
        torch.cuda.synchronize()
    return (time.perf_counter() - t) / n * 1e3


fns = {"ssm": ssm, "fd-ssm": fd_ssm, "dsm": dsm, "fd-dsm": fd_dsm}
for f in fns.values():
    for _ in range(5):
        f()
times = {k: [] for k in fns}
for _ in range(7):
    for k, f in fns.items():
        times[k].append(timeit(f, 20))
ms = {k: statistics.median(v) for k, v in times.items()}
print(json.dumps({"device": dev, "torch": torch.__version__, "threads": torch.get_num_threads(), "ms": ms,
                  "fd-ssm/ssm": ms["ssm"] / ms["fd-ssm"], "fd-dsm/dsm": ms["dsm"] / ms["fd-dsm"]}))
