"""Time the engine benchmark's MLP step in PyTorch (CPU, float32) the way
bench/engine.go does: forward + backward of the summed energy of a
784-512-512-1 softplus MLP at batch 192, against the same step's GEMMs alone,
in alternating rounds; medians. Prints JSON."""
import json
import statistics
import sys
import time

import torch
import torch.nn.functional as F

threads = int(sys.argv[1]) if len(sys.argv) > 1 else 2
torch.set_num_threads(threads)
torch.manual_seed(0)
B = 192
x = torch.rand(B, 784)
ws = [torch.randn(512, 784) / 784, torch.randn(512, 512) / 512, torch.randn(1, 512) / 512]
bs = [torch.zeros(512), torch.zeros(512), torch.zeros(1)]
params = [p.requires_grad_(True) for p in ws + bs]


def step():
    h = F.softplus(x @ ws[0].T + bs[0])
    h = F.softplus(h @ ws[1].T + bs[1])
    e = (h @ ws[2].T + bs[2]).sum()
    e.backward()


h1, h2, e1 = torch.empty(B, 512), torch.empty(B, 512), torch.empty(B, 1)
with torch.no_grad():
    W = [w.detach() for w in ws]

    def gemms():
        torch.mm(x, W[0].T, out=h1)
        torch.mm(h1, W[1].T, out=h2)
        torch.mm(h2, W[2].T, out=e1)
        e1.T @ h2
        g2 = e1 @ W[2]
        g2.T @ h1
        g1 = g2 @ W[1]
        g1.T @ x


def timeit(n, f):
    t = time.perf_counter()
    for _ in range(n):
        f()
    return (time.perf_counter() - t) / n * 1e3


for _ in range(5):
    step(); gemms()
steps, gs, ratios = [], [], []
for _ in range(7):
    s, g = timeit(20, step), timeit(20, gemms)
    steps.append(s); gs.append(g); ratios.append(s / g)
print(json.dumps({"torch": torch.__version__, "threads": threads, "step_ms": statistics.median(steps),
                  "gemm_ms": statistics.median(gs), "step_over_gemm": statistics.median(ratios)}))
