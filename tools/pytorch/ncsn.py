"""PyTorch equivalent of fdsm's `ncsn` kind (models/ncsn.go, ncsn_blocks.go,
condnorm.go, upsample.go).

The noise-conditional score network of Song & Ermon 2019, the dilated
conditional RefineNet (CondRefineNetDilated) of their CIFAR-10 runs. Module
names, parameter shapes and even the state_dict order are those of the Go
model's Params(), which follow the NCSN reference's module names, so

    net = NCSN(channels=3, image_size=32, ngf=128, num_levels=10)
    net.load_state_dict(state, strict=True)

loads a name -> tensor dict read from an fdsm checkpoint, and net(x, y) with x
[n, C, S, S] and y the long level indices [n] (level 0 = the largest sigma)
computes NCSN.Score(x, levels): the raw network output, not divided by sigma
(NCSN v1). Checked against the Go model in float64 (ngf 3-4, 8x8 and 16x16):
outputs, first derivatives and second derivatives (d/dtheta of u.grad_x(u.s))
agree to about 1e-14 relative.

Run as a script to print the parameter count at the defaults (30,117,635).
"""
import math

import torch
import torch.nn as nn
import torch.nn.functional as F

EPS = 1e-5


def geometric_sigmas(begin=1.0, end=0.01, n=10):
    """sigma_0 > ... > sigma_{n-1}, constant ratio from begin to end."""
    if n == 1:
        return [begin]
    lb, le = math.log(begin), math.log(end)
    return [math.exp(lb + i / (n - 1) * (le - lb)) for i in range(n)]


class CondInstanceNorm2dPlus(nn.Module):
    """Conditional instance norm++: with per-channel spatial mean mu_c and
    biased variance s_c^2, and m, v the mean and unbiased variance of mu over
    channels, out = gamma[y] * ((h - mu)/sqrt(s^2+eps) + alpha[y] * (mu - m)/
    sqrt(v+eps)) + beta[y]. embed.weight [L, 3C] holds gamma | alpha | beta."""

    def __init__(self, num_features, num_levels):
        super().__init__()
        self.num_features = num_features
        self.embed = nn.Embedding(num_levels, 3 * num_features)
        with torch.no_grad():
            self.embed.weight[:, : 2 * num_features].normal_(1.0, 0.02)
            self.embed.weight[:, 2 * num_features:].zero_()

    def forward(self, x, y):
        c = self.num_features
        gamma, alpha, beta = self.embed(y).split(c, dim=1)  # each [n, C]
        mu = x.mean(dim=(2, 3), keepdim=True)
        xc = x - mu
        var = (xc * xc).mean(dim=(2, 3), keepdim=True)
        h = xc / torch.sqrt(var + EPS)
        mus = mu.flatten(1)
        d = mus - mus.mean(dim=1, keepdim=True)
        v = (d * d).sum(dim=1, keepdim=True) / (c - 1)
        mn = d / torch.sqrt(v + EPS)
        h = h + (alpha * mn)[:, :, None, None]
        return gamma[:, :, None, None] * h + beta[:, :, None, None]


class ConvMeanPool(nn.Module):
    """A same-size convolution followed by 2x2 mean pooling."""

    def __init__(self, cin, cout, k):
        super().__init__()
        self.conv = nn.Conv2d(cin, cout, k, stride=1, padding=k // 2)

    def forward(self, x):
        return F.avg_pool2d(self.conv(x), 2)


def conv3x3(cin, cout, dilation=1, bias=True):
    return nn.Conv2d(cin, cout, 3, stride=1, padding=dilation, dilation=dilation, bias=bias)


class CondResBlock(nn.Module):
    """out = shortcut(x) + conv2(act(normalize2(conv1(act(normalize1(x))))));
    see condResBlock in models/ncsn_blocks.go for the variants."""

    def __init__(self, cin, cout, num_levels, act, down=False, dilation=0):
        super().__init__()
        self.act = act
        d = max(dilation, 1)
        mid = cin if down else cout
        self.conv1 = conv3x3(cin, mid, d)
        self.normalize2 = CondInstanceNorm2dPlus(mid, num_levels)
        if down and dilation == 0:
            self.conv2 = ConvMeanPool(cin, cout, 3)
            self.shortcut = ConvMeanPool(cin, cout, 1)
        elif down:
            self.conv2 = conv3x3(cin, cout, d)
            self.shortcut = conv3x3(cin, cout, d)
        else:
            assert cin == cout
            self.conv2 = conv3x3(mid, cout, d)
            self.shortcut = None
        self.normalize1 = CondInstanceNorm2dPlus(cin, num_levels)

    def forward(self, x, y):
        h = self.conv1(self.act(self.normalize1(x, y)))
        h = self.conv2(self.act(self.normalize2(h, y)))
        sc = x if self.shortcut is None else self.shortcut(x)
        return sc + h


class CondRCU(nn.Module):
    """blocks x (x <- x + stages x (norm -> act -> conv3x3 without bias))."""

    def __init__(self, c, blocks, stages, num_levels, act):
        super().__init__()
        self.blocks, self.stages, self.act = blocks, stages, act
        for i in range(1, blocks + 1):
            for j in range(1, stages + 1):
                setattr(self, f"{i}_{j}_norm", CondInstanceNorm2dPlus(c, num_levels))
                setattr(self, f"{i}_{j}_conv", conv3x3(c, c, bias=False))

    def forward(self, x, y):
        for i in range(1, self.blocks + 1):
            h = x
            for j in range(1, self.stages + 1):
                h = getattr(self, f"{i}_{j}_norm")(h, y)
                h = getattr(self, f"{i}_{j}_conv")(self.act(h))
            x = h + x
        return x


class CondMSF(nn.Module):
    """Multi-resolution fusion: sum_i resize(conv_i(norm_i(x_i)))."""

    def __init__(self, in_planes, features, num_levels):
        super().__init__()
        self.convs = nn.ModuleList([conv3x3(c, features) for c in in_planes])
        self.norms = nn.ModuleList([CondInstanceNorm2dPlus(c, num_levels) for c in in_planes])

    def forward(self, xs, y, size):
        out = 0
        for x, conv, norm in zip(xs, self.convs, self.norms):
            h = conv(norm(x, y))
            if tuple(h.shape[2:]) != tuple(size):
                h = F.interpolate(h, size=size, mode="bilinear", align_corners=True)
            out = out + h
        return out


class CondCRP(nn.Module):
    """Chained residual pooling: x <- act(x); path <- conv(avgpool5(norm(path)));
    x <- x + path, twice."""

    def __init__(self, features, stages, num_levels, act):
        super().__init__()
        self.act = act
        self.convs = nn.ModuleList([conv3x3(features, features, bias=False) for _ in range(stages)])
        self.norms = nn.ModuleList([CondInstanceNorm2dPlus(features, num_levels) for _ in range(stages)])
        self.pool = nn.AvgPool2d(5, stride=1, padding=2, count_include_pad=True)

    def forward(self, x, y):
        x = self.act(x)
        path = x
        for conv, norm in zip(self.convs, self.norms):
            path = conv(self.pool(norm(path, y)))
            x = path + x
        return x


class CondRefineBlock(nn.Module):
    def __init__(self, in_planes, features, num_levels, act, end=False):
        super().__init__()
        self.adapt_convs = nn.ModuleList([CondRCU(c, 2, 2, num_levels, act) for c in in_planes])
        self.output_convs = CondRCU(features, 3 if end else 1, 2, num_levels, act)
        self.msf = CondMSF(in_planes, features, num_levels) if len(in_planes) > 1 else None
        self.crp = CondCRP(features, 2, num_levels, act)

    def forward(self, xs, y, size):
        hs = [rcu(x, y) for rcu, x in zip(self.adapt_convs, xs)]
        h = hs[0] if self.msf is None else self.msf(hs, y, size)
        return self.output_convs(self.crp(h, y), y)


_ACTS = {
    "elu": F.elu,
    "softplus": F.softplus,
    "shifted_softplus": lambda x: F.softplus(x) - math.log(2.0),
    "tanh": torch.tanh,
    "sigmoid": torch.sigmoid,
    "swish": lambda x: x * torch.sigmoid(x),
}


class NCSN(nn.Module):
    """CondRefineNetDilated; spatial sizes S (res1), S/2 (res2..res4, refine1..3), S (refine4)."""

    def __init__(self, channels=3, image_size=32, ngf=128, num_levels=10, sigma_begin=1.0,
                 sigma_end=0.01, activation="elu", rescale_input=True):
        super().__init__()
        act = _ACTS[activation]
        f, L = ngf, num_levels
        self.act = act
        self.rescale_input = rescale_input
        self.sigmas = geometric_sigmas(sigma_begin, sigma_end, num_levels)
        self.begin_conv = conv3x3(channels, f)
        self.normalizer = CondInstanceNorm2dPlus(f, L)
        self.end_conv = conv3x3(f, channels)
        self.res1 = nn.ModuleList([CondResBlock(f, f, L, act), CondResBlock(f, f, L, act)])
        self.res2 = nn.ModuleList([CondResBlock(f, 2 * f, L, act, down=True),
                                   CondResBlock(2 * f, 2 * f, L, act)])
        self.res3 = nn.ModuleList([CondResBlock(2 * f, 2 * f, L, act, down=True, dilation=2),
                                   CondResBlock(2 * f, 2 * f, L, act, dilation=2)])
        self.res4 = nn.ModuleList([CondResBlock(2 * f, 2 * f, L, act, down=True, dilation=4),
                                   CondResBlock(2 * f, 2 * f, L, act, dilation=4)])
        self.refine1 = CondRefineBlock([2 * f], 2 * f, L, act)
        self.refine2 = CondRefineBlock([2 * f, 2 * f], 2 * f, L, act)
        self.refine3 = CondRefineBlock([2 * f, 2 * f], f, L, act)
        self.refine4 = CondRefineBlock([f, f], f, L, act, end=True)

    def forward(self, x, y):
        h = 2 * x - 1 if self.rescale_input else x
        h = self.begin_conv(h)
        layers = []
        for blocks in (self.res1, self.res2, self.res3, self.res4):
            for block in blocks:
                h = block(h, y)
            layers.append(h)
        l1, l2, l3, l4 = layers
        r = self.refine1([l4], y, l4.shape[2:])
        r = self.refine2([l3, r], y, l3.shape[2:])
        r = self.refine3([l2, r], y, l2.shape[2:])
        r = self.refine4([l1, r], y, l1.shape[2:])
        return self.end_conv(self.act(self.normalizer(r, y)))


if __name__ == "__main__":
    net = NCSN()
    print("parameters:", sum(p.numel() for p in net.parameters()))
