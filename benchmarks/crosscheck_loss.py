#!/usr/bin/env python3
"""Cross-checks the Rust loss against the reference-style PyTorch-eager computation.

Loads a case written by `crates/train/examples/loss_case.rs` (initial weights, a batch of
frames, the MMD prior samples, the Rust loss terms and the Rust weights after one Adam
step), rebuilds the model the reference way (separate per-head Linears, two encoder
forwards, the 88-location Python loops of PROTOCOL.md sections 4-5, `x_t` = later frame as
global side, `x_prev` = earlier frame), compares total, global-local, local-local,
membership and MMD terms, then takes one `torch.optim.Adam(lr=3e-4, eps=1e-5)` step and
compares every weight with the Rust step's.

    cargo build --release -p dimua-train --example loss_case
    for m in st-dim:1 dim-ua:4 minus-ua:4 plus-mmd:4; do
      target/release/examples/loss_case /tmp/case.safetensors ${m%:*} ${m#*:} 64
      .cache/venv/bin/python benchmarks/crosscheck_loss.py /tmp/case.safetensors ${m%:*}
    done
"""

import os
import sys

import torch
import torch.nn.functional as F
from safetensors.torch import load_file

sys.path.insert(0, os.path.dirname(__file__))
from pytorch_eager_step import AtlasEncoder, mmd_manifold, q_loss  # noqa: E402


def main():
    path, method = sys.argv[1], sys.argv[2]
    t = load_file(path)
    heads = int(t["case.heads"][0])
    coords_w = t["atlas.coords.weight"]
    units = coords_w.shape[0] // heads
    enc = AtlasEncoder(1, heads, units, 210, 160, dilated=method == "dim-ua")
    with torch.no_grad():
        for i in range(1, 5):
            getattr(enc, f"conv{i}").weight.copy_(t[f"encoder.conv{i}.weight"])
            getattr(enc, f"conv{i}").bias.copy_(t[f"encoder.conv{i}.bias"])
        if heads > 1:
            for h in range(heads):
                enc.coords[h].weight.copy_(coords_w[h * units:(h + 1) * units])
                enc.coords[h].bias.copy_(t["atlas.coords.bias"][h * units:(h + 1) * units])
            enc.q.weight.copy_(t["atlas.membership.weight"])
            enc.q.bias.copy_(t["atlas.membership.bias"])
        else:
            enc.output.weight.copy_(coords_w)
            enc.output.bias.copy_(t["atlas.coords.bias"])
    c1 = torch.nn.Linear(units, 128)
    c2 = torch.nn.Linear(128, 128)
    with torch.no_grad():
        c1.weight.copy_(t["stdim.classifier1.weight"])
        c1.bias.copy_(t["stdim.classifier1.bias"])
        c2.weight.copy_(t["stdim.classifier2.weight"])
        c2.bias.copy_(t["stdim.classifier2.bias"])

    frames = t["case.frames"]  # [2B, H, W, C] u8: earlier frames, then later frames
    b = frames.shape[0] // 2
    # As the reference: a stack of (C, H, W) uint8 frames, then float / 255 (NCHW layout).
    chw = torch.stack([f.permute(2, 0, 1) for f in frames]).float() / 255.0
    x_prev, x_t = chw[:b], chw[b:]
    maps_t = enc(x_t, use_v=True)
    maps_prev = enc(x_prev, use_v=False)
    f_t, f_prev = maps_t["out"], maps_prev["f5"]
    sy, sx = f_prev.size(1), f_prev.size(2)
    target = torch.arange(b)
    loss1 = sum(
        F.cross_entropy(c1(f_t) @ f_prev[:, y, x, :].t(), target) for y in range(sy) for x in range(sx)
    ) / (sx * sy)
    f_t5 = maps_t["f5"]
    loss2 = sum(
        F.cross_entropy(c2(f_t5[:, y, x, :]) @ f_prev[:, y, x, :].t(), target)
        for y in range(sy)
        for x in range(sx)
    ) / (sx * sy)
    lq = torch.tensor(0.0)
    mmd = torch.tensor(0.0)
    total = loss1 + loss2
    if heads > 1:
        lq = -0.5 * (q_loss(maps_t["q"]) + q_loss(maps_prev["q"]))
        total = total + 0.1 * lq
        if method == "plus-mmd":
            c = units / 6.0
            mmd = 0.5 * mmd_manifold(maps_t["q"], maps_t["coords"], c, t["case.prior_anchor"]) + 0.5 * mmd_manifold(
                maps_prev["q"], maps_prev["coords"], c, t["case.prior_target"]
            )
            total = total + mmd
    ours = t["case.terms"].tolist()
    ref = [float(x.detach()) for x in (total, loss1, loss2, lq, mmd)]
    names = ["total", "global_local", "local_local", "membership", "mmd"]
    ok = all(abs(a - r) <= 1e-4 * max(1.0, abs(r)) for a, r in zip(ours, ref))
    for n, a, r in zip(names, ours, ref):
        print(f"  {n:13s} rust {a:+.6f}  reference {r:+.6f}")
    # One Adam step, reference style, and the weights compared with the Rust step's.
    params = list(c1.parameters()) + list(enc.parameters()) + list(c2.parameters())
    opt = torch.optim.Adam(params, lr=3e-4, eps=1e-5)
    opt.zero_grad()
    total.backward()
    opt.step()
    worst = 0.0
    with torch.no_grad():
        for i in range(1, 5):
            for kind in ("weight", "bias"):
                a = getattr(getattr(enc, f"conv{i}"), kind)
                worst = max(worst, (a - t[f"after.encoder.conv{i}.{kind}"]).abs().max().item())
        for name, mod in (("classifier1", c1), ("classifier2", c2)):
            for kind in ("weight", "bias"):
                worst = max(worst, (getattr(mod, kind) - t[f"after.stdim.{name}.{kind}"]).abs().max().item())
        if heads > 1:
            w = torch.cat([enc.coords[h].weight for h in range(heads)])
            bb = torch.cat([enc.coords[h].bias for h in range(heads)])
            worst = max(worst, (enc.q.weight - t["after.atlas.membership.weight"]).abs().max().item())
        else:
            w, bb = enc.output.weight, enc.output.bias
        worst = max(worst, (w - t["after.atlas.coords.weight"]).abs().max().item())
        worst = max(worst, (bb - t["after.atlas.coords.bias"]).abs().max().item())
    # Adam's first step moves each weight by lr * g / (|g| + eps), about lr = 3e-4 unless |g| is
    # near eps, where float noise in g (two forwards vs one fused forward) shows most; allow
    # 3% of lr.
    step_ok = worst <= 1e-5
    print(f"  max |w_rust - w_torch| after one Adam step: {worst:.2e}")
    print(f"{method} {heads}x{units}: {'MATCH' if ok and step_ok else 'MISMATCH'}")
    sys.exit(0 if ok and step_ok else 1)


if __name__ == "__main__":
    main()
