#!/usr/bin/env python3
"""Which atlas head wins `argmax q` at initialisation, built the reference way.

DIM-UA's membership head is `softmax(Linear(3456 -> n))` on the flattened conv trunk, every
layer orthogonal with gain sqrt(2) and zero bias (PROTOCOL.md section 5). This script builds
that trunk and head in plain PyTorch for a few seeds, feeds real frames from a dataset
written by `dimua collect`, and prints, per seed, the share of frames each head wins, the
mean of max q and the spread of the membership logits. It shows whether a one-head atlas at
probing time comes from the reference's initialisation rather than from our trainer.

    dimua collect --game pong --frames 3000 --out /tmp/pong
    .cache/venv/bin/python benchmarks/membership_at_init.py /tmp/pong [heads] [seeds]
"""

import glob
import os
import sys

import numpy as np
import torch
from safetensors.numpy import load_file
from torch import nn


def reference_init(module):
    if isinstance(module, (nn.Conv2d, nn.Linear)):
        nn.init.orthogonal_(module.weight, gain=nn.init.calculate_gain("relu"))
        nn.init.zeros_(module.bias)


def trunk(channels):
    return nn.Sequential(
        nn.Conv2d(channels, 32, 8, 4), nn.ReLU(),
        nn.Conv2d(32, 64, 4, 2), nn.ReLU(),
        nn.Conv2d(64, 128, 4, 2), nn.ReLU(),
        nn.Conv2d(128, 64, 3, 1), nn.ReLU(),
        nn.Flatten(),
    )


def main():
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    dataset = sys.argv[1]
    heads = int(sys.argv[2]) if len(sys.argv) > 2 else 4
    seeds = int(sys.argv[3]) if len(sys.argv) > 3 else 5
    shards = sorted(glob.glob(os.path.join(dataset, "*.safetensors")))
    if not shards:
        sys.exit(f"no safetensors shards in {dataset}: write one with `dimua collect`")
    frames = load_file(shards[0])["frames"][:512]
    x = torch.from_numpy(frames).float().permute(0, 3, 1, 2) / 255.0
    print(f"{len(x)} frames of {tuple(x.shape[1:])}, {heads} heads")
    for seed in range(seeds):
        torch.manual_seed(seed)
        body, q_head = trunk(x.shape[1]), nn.Linear(3456, heads)
        body.apply(reference_init)
        reference_init(q_head)
        with torch.no_grad():
            logits = q_head(body(x))
            q = torch.softmax(logits, -1)
        share = np.bincount(q.argmax(-1).numpy(), minlength=heads) / len(x)
        print(
            f"seed {seed}: head share {np.round(share, 3).tolist()}, "
            f"mean max q {q.max(-1).values.mean():.3f}, "
            f"logit std per frame {logits.std(-1).mean():.2f}"
        )


if __name__ == "__main__":
    main()
