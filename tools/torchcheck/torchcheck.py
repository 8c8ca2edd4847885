"""Recompute torchcheck.json's quantities with PyTorch autograd (float64) and
compare fdsm's gradients with them. Exit status 1 on a mismatch."""
import json
import sys

import torch
import torch.nn.functional as F


def t(a):
    return torch.tensor(a["data"], dtype=torch.float64).reshape(a["shape"]).requires_grad_(True)


def mlp_ssm_third_order(p):
    x, v = p["x"], p["v"]
    h = F.softplus(x @ p["w0"].T + p["b0"])
    h = F.softplus(h @ p["w1"].T + p["b1"])
    e = (h @ p["w2"].T + p["b2"]).sum()
    g = torch.autograd.grad(e, x, create_graph=True)[0]
    hv = torch.autograd.grad((v * g).sum(), x, create_graph=True)[0]
    return (v * hv).sum()


def conv_score_norm(p):
    x = p["x"]
    h = F.elu(F.conv2d(x, p["w0"], stride=(2, 1), padding=(1, 2), dilation=(1, 2)))
    h = F.avg_pool2d(h, 2)
    h = F.softplus(F.conv2d(h, p["w1"], stride=1, padding=1, dilation=1))
    g = torch.autograd.grad(h.sum(), x, create_graph=True)[0]
    return (g * g).sum()


def solve_second_order(p):
    x = torch.linalg.solve(p["a"], p["b"])
    g = torch.autograd.grad(torch.tanh(x).sum(), p["b"], create_graph=True)[0]
    return (g * g).sum()


def main(path):
    ok = True
    for c in json.load(open(path)):
        p = {k: t(a) for k, a in c["inputs"].items()}
        val = globals()[c["name"]](p)
        names = list(p)
        grads = torch.autograd.grad(val, [p[k] for k in names], allow_unused=True)
        worst = abs(val.item() - c["value"]) / max(abs(val.item()), 1e-300)
        for k, g in zip(names, grads):
            ref = torch.zeros_like(p[k]) if g is None else g
            ours = torch.tensor(c["grads"][k]["data"], dtype=torch.float64).reshape(ref.shape)
            scale = max(ref.abs().max().item(), 1e-300)
            worst = max(worst, (ours - ref).abs().max().item() / scale)
        status = "ok" if worst < 1e-10 else "MISMATCH"
        ok &= worst < 1e-10
        print(f"{c['name']:24s} value {val.item(): .12g}  max rel diff {worst:.2e}  {status}")
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main(sys.argv[1])
