"""Load fdsm checkpoints written by tools/modelcheck into the equivalent
PyTorch modules of this folder (load_state_dict(strict=True)) and compare
their outputs with fdsm's. Exit status 1 on any mismatch.

    python3 check_models.py DIR
"""
import json
import os
import sys

import torch
from safetensors import safe_open
from safetensors.torch import load_file

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from dkef import DKEF  # noqa: E402
from mlp import MLP  # noqa: E402
from ncsn import NCSN  # noqa: E402
from nice import NICE  # noqa: E402
from resnet_ebm import ResNetEBM  # noqa: E402

BUILD = {"mlp": MLP, "resnet_ebm": ResNetEBM, "nice": NICE, "dkef": DKEF, "ncsn": NCSN}


def check(dir_, kind):
    path = os.path.join(dir_, kind + ".safetensors")
    with safe_open(path, "pt") as f:
        meta = f.metadata()
    spec = json.loads(meta["fdsm.spec"])
    assert spec.pop("kind") == kind
    module = BUILD[kind](**spec).double()
    module.load_state_dict(load_file(path), strict=True)
    io = load_file(os.path.join(dir_, kind + ".io.safetensors"))
    with torch.no_grad():
        if kind == "ncsn":
            got = module(io["x"], io["levels"].long())
        else:
            got = module.log_prob(io["x"])
    want = io["out"]
    err = ((got - want).abs().max() / want.abs().max().clamp_min(1e-300)).item()
    ok = got.shape == want.shape and err < 1e-9
    print(f"{kind:10s} {sum(p.numel() for p in module.parameters()):8d} params  max rel diff {err:.2e}  {'ok' if ok else 'MISMATCH'}")
    return ok


def main(dir_):
    results = []
    for kind in BUILD:
        try:
            results.append(check(dir_, kind))
        except Exception as e:  # report every kind, then fail
            print(f"{kind:10s} ERROR {type(e).__name__}: {e}")
            results.append(False)
    sys.exit(0 if all(results) else 1)


if __name__ == "__main__":
    main(sys.argv[1])
