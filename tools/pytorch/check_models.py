"""Load fdsm checkpoints written by tools/modelcheck into the equivalent
PyTorch modules of this folder (load_state_dict(strict=True)) and compare
their outputs with fdsm's. Exit status 1 on any mismatch.

    python3 check_models.py DIR

Uses the safetensors package where installed, else a reader of its own
(Debian's python3-torch comes without safetensors).
"""
import json
import os
import struct
import sys

import torch

try:
    from safetensors import safe_open
    from safetensors.torch import load_file

    def read_safetensors(path):
        """(name -> tensor, metadata) of a safetensors file."""
        with safe_open(path, "pt") as f:
            meta = f.metadata()
        return load_file(path), meta
except ImportError:
    _DTYPES = {"F64": torch.float64, "F32": torch.float32}

    def read_safetensors(path):
        """(name -> tensor, metadata): an 8-byte little-endian header length,
        the JSON header, then the tensors' bytes at their data_offsets."""
        with open(path, "rb") as f:
            data = f.read()
        (hlen,) = struct.unpack("<Q", data[:8])
        header = json.loads(data[8:8 + hlen])
        meta = header.pop("__metadata__", {})
        body = data[8 + hlen:]
        out = {}
        for name, t in header.items():
            lo, hi = t["data_offsets"]
            buf = bytearray(body[lo:hi])
            out[name] = torch.frombuffer(buf, dtype=_DTYPES[t["dtype"]]).reshape(t["shape"]).clone() \
                if hi > lo else torch.empty(t["shape"], dtype=_DTYPES[t["dtype"]])
        return out, meta

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from dae import DAE  # noqa: E402
from dkef import DKEF  # noqa: E402
from mlp import MLP  # noqa: E402
from mlp_score import MLPScore  # noqa: E402
from ncsn import NCSN  # noqa: E402
from nice import NICE  # noqa: E402
from resnet_ebm import ResNetEBM  # noqa: E402

# fdsm kind -> (PyTorch module, whether it is a score network s(x, level)).
BUILD = {"mlp": (MLP, False), "resnet_ebm": (ResNetEBM, False), "nice": (NICE, False), "dkef": (DKEF, False),
         "ncsn": (NCSN, True), "dae": (DAE, False), "mlp-score": (MLPScore, True)}
# The cases tools/modelcheck writes: file name -> fdsm kind.
CASES = {"mlp": "mlp", "mlp-quadratic": "mlp", "resnet_ebm": "resnet_ebm", "nice": "nice", "nice-tanh": "nice",
         "dkef": "dkef", "dkef-2k": "dkef", "ncsn": "ncsn", "ncsn-gray": "ncsn", "dae": "dae",
         "dae-linear": "dae", "mlp-score": "mlp-score", "mlp-score-pca": "mlp-score"}


def check(dir_, name, kind):
    state, meta = read_safetensors(os.path.join(dir_, name + ".safetensors"))
    spec = json.loads(meta["fdsm.spec"])
    assert spec.pop("kind") == kind
    cls, is_score = BUILD[kind]
    module = cls(**spec).double()
    module.load_state_dict(state, strict=True)
    io, _ = read_safetensors(os.path.join(dir_, name + ".io.safetensors"))
    with torch.no_grad():
        if is_score:
            got = module(io["x"], io["levels"].long())
        else:
            got = module.log_prob(io["x"])
    want = io["out"]
    err = ((got - want).abs().max() / want.abs().max().clamp_min(1e-300)).item()
    ok = got.shape == want.shape and err < 1e-9
    print(f"{name:13s} {sum(p.numel() for p in module.parameters()):8d} params  max rel diff {err:.2e}  {'ok' if ok else 'MISMATCH'}")
    return ok


def main(dir_):
    results = []
    for name, kind in CASES.items():
        try:
            results.append(check(dir_, name, kind))
        except Exception as e:  # report every case, then fail
            print(f"{name:13s} ERROR {type(e).__name__}: {e}")
            results.append(False)
    sys.exit(0 if all(results) else 1)


if __name__ == "__main__":
    main(sys.argv[1])
