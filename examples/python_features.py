#!/usr/bin/env python3
"""Owns: loading a dimua encoder (encoder.safetensors + encoder.json) in plain PyTorch and
computing its inference features for frames stored in a .npy file.

    python examples/python_features.py ENCODER FRAMES.npy OUT.npy [--membership Q.npy]

ENCODER is a run directory holding encoder.safetensors + encoder.json, or either file.
FRAMES.npy holds uint8 frames [B, H, W, C] (or one frame [H, W, C]), raw 0..255, as
`Encoder::encode` takes them in Rust. OUT.npy receives float32 features [B, units] (or
[units]): the coordinates of the argmax-membership head, exactly what Rust's `encode`
returns. `--membership` also writes the soft membership q [B, heads] (ones with one head).

Only numpy, torch and safetensors are needed; nothing of dimua is imported. The network is
rebuilt from the sidecar's `architecture` block (docs/encoders.md documents the format);
tests/python_interop.rs checks it against Rust to 1e-5.
"""

import argparse
import json
import os
import sys

import numpy as np
import torch
from safetensors.torch import load_file
from torch import nn

FORMAT_VERSION = 1
ARCHITECTURE = "nature-cnn-atlas"
# (out_channels, kernel, stride) of conv1..conv4, no padding, ReLU after each
# (docs/protocol.md section 3). conv3's output is the 128-deep local map.
CONVS = [(32, 8, 4), (64, 4, 2), (128, 4, 2), (64, 3, 1)]


def encoder_paths(path):
    """(weights, sidecar) for a directory, a *.safetensors file or a *.json sidecar, as
    Rust's `encoder_paths` resolves them."""
    root, ext = os.path.splitext(path)
    if ext == ".safetensors":
        return path, root + ".json"
    if ext == ".json":
        return root + ".safetensors", path
    return os.path.join(path, "encoder.safetensors"), os.path.join(path, "encoder.json")


class Trunk(nn.Module):
    """NatureCNN conv trunk; parameter names `conv1..conv4.{weight,bias}`."""

    def __init__(self, channels):
        super().__init__()
        cin = channels
        for i, (cout, k, s) in enumerate(CONVS, start=1):
            setattr(self, f"conv{i}", nn.Conv2d(cin, cout, k, stride=s))
            cin = cout

    def forward(self, x):
        for i in range(1, len(CONVS) + 1):
            x = torch.relu(getattr(self, f"conv{i}")(x))
        return x


class Atlas(nn.Module):
    """`heads` charts of `units` coordinates as one fused Linear(flat -> heads * units)
    (`coords`), plus the membership Linear(flat -> heads) (`membership`) when heads > 1."""

    def __init__(self, flat_dim, heads, units):
        super().__init__()
        self.heads, self.units = heads, units
        self.coords = nn.Linear(flat_dim, heads * units)
        self.membership = nn.Linear(flat_dim, heads) if heads > 1 else None


class EncoderNet(nn.Module):
    """Trunk (`encoder.*`) + atlas (`atlas.*`): the keys of encoder.safetensors."""

    def __init__(self, arch):
        super().__init__()
        self.in_shape = tuple(arch["in_shape"])  # (H, W, C)
        h, w, c = self.in_shape
        if arch.get("channels", c) != c:
            raise ValueError(f"architecture: channels {arch['channels']} != in_shape[2] {c}")
        self.encoder = Trunk(c)
        with torch.no_grad():
            probe = self.encoder(torch.zeros(1, c, h, w))
        if probe.shape[1] * probe.shape[2] * probe.shape[3] != arch["flat_dim"]:
            raise ValueError(
                f"architecture: flat_dim {arch['flat_dim']} but the trunk gives "
                f"{tuple(probe.shape[1:])} for a {h}x{w}x{c} frame"
            )
        self.atlas = Atlas(arch["flat_dim"], arch["heads"], arch["units"])

    def forward(self, frames_u8):
        """u8 [B, H, W, C] -> (features [B, units], membership [B, heads])."""
        # The reference preprocessing: float NCHW in [0, 1].
        x = frames_u8.permute(0, 3, 1, 2).float() / 255.0
        flat = self.encoder(x).flatten(1)  # C-major, as PyTorch's view of NCHW
        b = flat.shape[0]
        coords = self.atlas.coords(flat).view(b, self.atlas.heads, self.atlas.units)
        if self.atlas.membership is None:
            return coords[:, 0], torch.ones(b, 1)
        q = torch.softmax(self.atlas.membership(flat), dim=-1)
        # Eq. 2: the coordinates of the head with the largest membership.
        idx = q.argmax(dim=1)
        return coords[torch.arange(b), idx], q


def load_encoder(path):
    """The encoder at `path` (see `encoder_paths`) and its sidecar dict."""
    weights, sidecar = encoder_paths(path)
    with open(sidecar) as f:
        meta = json.load(f)
    if meta.get("format_version") != FORMAT_VERSION:
        raise ValueError(
            f"{sidecar}: format_version {meta.get('format_version')}, this script reads "
            f"{FORMAT_VERSION}"
        )
    arch = meta["architecture"]
    if arch["name"] != ARCHITECTURE:
        raise ValueError(f"{sidecar}: architecture {arch['name']!r}, expected {ARCHITECTURE!r}")
    if meta.get("weights"):
        weights = os.path.join(os.path.dirname(sidecar), meta["weights"])
    net = EncoderNet(arch)
    # strict: every tensor of the file must be a parameter and vice versa.
    net.load_state_dict(load_file(weights), strict=True)
    net.eval()
    return net, meta


def main(argv):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("encoder", help="run directory, encoder.safetensors or encoder.json")
    ap.add_argument("frames", help="uint8 .npy, [B, H, W, C] or [H, W, C]")
    ap.add_argument("out", help="output .npy for float32 features [B, units]")
    ap.add_argument("--membership", help="also write the soft membership q [B, heads] here")
    args = ap.parse_args(argv)

    net, meta = load_encoder(args.encoder)
    frames = np.load(args.frames)
    single = frames.ndim == 3
    if frames.dtype != np.uint8:
        sys.exit(f"{args.frames}: dtype {frames.dtype}, expected uint8 (raw 0..255 pixels)")
    if single:
        frames = frames[None]
    if frames.ndim != 4 or tuple(frames.shape[1:]) != net.in_shape:
        sys.exit(
            f"{args.frames}: shape {frames.shape}, expected [B, {', '.join(map(str, net.in_shape))}]"
        )
    with torch.no_grad():
        z, q = net(torch.from_numpy(np.ascontiguousarray(frames)))
    z = z.numpy().astype(np.float32)
    np.save(args.out, z[0] if single else z)
    if args.membership:
        np.save(args.membership, q.numpy().astype(np.float32))
    heads = q.argmax(dim=1).tolist()
    print(
        f"{meta['method']} encoder ({meta['architecture']['heads']}x{meta['architecture']['units']}"
        f", game {meta.get('game')}): {len(frames)} frames -> features {tuple(z.shape)} -> {args.out}"
    )
    counts = np.bincount(heads, minlength=q.shape[1]).tolist()
    shown = " ".join(map(str, heads[:16])) + (" ..." if len(heads) > 16 else "")
    print(f"argmax heads: {shown} (frames per head: {counts})")
    for i, row in enumerate(z[:4]):
        print(f"  frame {i}: " + " ".join(f"{v:+.4f}" for v in row[:6]) + (" ..." if z.shape[1] > 6 else ""))


if __name__ == "__main__":
    main(sys.argv[1:])
