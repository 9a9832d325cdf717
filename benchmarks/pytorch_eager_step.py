#!/usr/bin/env python3
"""Plain PyTorch-eager reference timing of one DIM-UA / ST-DIM pretraining step.

This is the comparison point for `dimua bench train` (crates/train `bench_train_steps`).
It does the step the way the authors' reference code does it (docs PROTOCOL.md sections
3-5), written from that spec, not copied:

* frames are uint8 (C, H, W) tensors; a batch is built by stacking 64 frames of the
  later time step ("x_t") and 64 of the earlier one ("x_prev"), then `.float() / 255`;
* two separate encoder forwards (x_t with the dilated/q-weighted global output, x_prev);
* the atlas is `n` separate `Linear(3456 -> d)` modules stacked, the membership head is
  `Linear(3456 -> n)` + softmax (both only when n > 1; n == 1 is a single Linear);
* the global-local and local-local InfoNCE losses loop over the 11 x 8 = 88 locations in
  Python, calling `classifier1` / `classifier2` and `cross_entropy` per location;
* `loss -= 0.1 * (0.5 q_loss(q_t) + 0.5 q_loss(q_prev))` for n > 1, `+ MMD` for plus-mmd;
* Adam(lr 3e-4, eps 1e-5), `zero_grad(); backward(); step()`, and `loss.item()`.

The timed region covers K steps including batch assembly from a pool of random frames,
after W warm-up steps. Prints one JSON line.

Example (the numbers in the crates/train report):
    OMP_NUM_THREADS=2 .cache/venv/bin/python benchmarks/pytorch_eager_step.py \
        --method dim-ua --heads 4 --units 512 --steps 20 --warmup 3 --threads 2
"""

import argparse
import json
import math
import platform
import time

import torch
import torch.nn as nn
import torch.nn.functional as F


def init_orthogonal_relu(module):
    """Orthogonal weights with gain sqrt(2), zero bias (the reference's `init_`)."""
    nn.init.orthogonal_(module.weight, gain=nn.init.calculate_gain("relu"))
    nn.init.constant_(module.bias, 0.0)
    return module


class AtlasEncoder(nn.Module):
    """Conv trunk (PROTOCOL.md section 3) plus atlas heads (section 5)."""

    def __init__(self, channels, heads, units, height, width, dilated):
        super().__init__()
        self.heads = heads
        self.units = units
        self.dilated = dilated
        self.conv1 = init_orthogonal_relu(nn.Conv2d(channels, 32, 8, stride=4))
        self.conv2 = init_orthogonal_relu(nn.Conv2d(32, 64, 4, stride=2))
        self.conv3 = init_orthogonal_relu(nn.Conv2d(64, 128, 4, stride=2))
        self.conv4 = init_orthogonal_relu(nn.Conv2d(128, 64, 3, stride=1))
        with torch.no_grad():
            flat = self.trunk(torch.zeros(1, channels, height, width))[1].shape[1]
        if heads > 1:
            self.coords = nn.ModuleList(
                [init_orthogonal_relu(nn.Linear(flat, units)) for _ in range(heads)]
            )
            self.q = init_orthogonal_relu(nn.Linear(flat, heads))
        else:
            self.output = init_orthogonal_relu(nn.Linear(flat, units))

    def trunk(self, x):
        h = F.relu(self.conv1(x))
        h = F.relu(self.conv2(h))
        f5 = F.relu(self.conv3(h))
        h = F.relu(self.conv4(f5))
        return f5, h.view(h.size(0), -1)

    def forward(self, x, use_v):
        f5, flat = self.trunk(x)
        out = {"f5": f5.permute(0, 2, 3, 1)}
        if self.heads > 1:
            coords = torch.stack([c(flat) for c in self.coords], 1)
            q = F.softmax(self.q(flat), dim=1)
            if self.dilated and use_v:
                out["out"] = coords.mean(dim=1)
            else:
                out["out"] = (q.unsqueeze(2) * coords).sum(1)
            out["coords"] = coords
            out["q"] = q
        else:
            out["out"] = self.output(flat)
        return out


def q_loss(q):
    """mean over the batch of sum_h (q_h - 1/H)^2."""
    return ((q - 1.0 / q.shape[1]) ** 2).sum(1).mean()


def imq_batch(x, y, c):
    """IMQ kernel C / (C + |a - b|^2) with the |a|^2 - 2ab + |b|^2 expansion, batched."""
    xn = (x**2).sum(2)
    yn = (y**2).sum(2)
    d2 = xn.unsqueeze(2) - 2 * torch.matmul(x, y.transpose(1, 2)) + yn.unsqueeze(1)
    return c / (c + d2)


def mmd_manifold(q, coords, c, prior=None):
    """PROTOCOL.md section 5 MMD with a logit-uniform prior (fresh sample per call unless
    `prior` [n, d] is given)."""
    n, heads, d = coords.shape
    qt = q.t()  # heads x n
    x = coords.transpose(0, 1)  # heads x n x d
    if prior is None:
        u = torch.rand(n, d, device=coords.device)
        prior = torch.clamp(torch.log(u / (1 - u)), -10000, 10000)
    y = prior.unsqueeze(0)
    qq = qt.unsqueeze(2) * qt.unsqueeze(1)
    off_diag = 1 - torch.eye(n, device=q.device).unsqueeze(0)
    ret = (imq_batch(x, x, c) * qq * off_diag).sum() / (n * (n - 1))
    ret = ret + (imq_batch(y, y, c).sum() - n) / (heads * n * (n - 1))
    ret = ret - 2 * (qt.unsqueeze(2) * imq_batch(x, y, c)).sum() / (heads * n**2)
    return ret


def step_arguments(description, methods, warmup):
    """The command line both PyTorch step benchmarks share (shapes, steps, threads, seed)."""
    ap = argparse.ArgumentParser(description=description)
    ap.add_argument("--method", default="dim-ua", choices=methods)
    ap.add_argument("--heads", type=int, default=4)
    ap.add_argument("--units", type=int, default=512)
    ap.add_argument("--steps", type=int, default=20, help="timed steps K")
    ap.add_argument("--warmup", type=int, default=warmup, help="untimed warm-up steps")
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--threads", type=int, default=0, help="torch intra-op threads (0 = keep)")
    ap.add_argument("--height", type=int, default=210)
    ap.add_argument("--width", type=int, default=160)
    ap.add_argument("--channels", type=int, default=1)
    ap.add_argument("--pool", type=int, default=1024, help="random frames to sample batches from")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--device", default="cpu")
    return ap


def apply_step_arguments(args):
    """ST-DIM has one head; threads and seed as asked. Returns the torch device."""
    if args.method == "st-dim":
        args.heads = 1
    if args.threads > 0:
        torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    return torch.device(args.device)


def main():
    ap = step_arguments(__doc__.splitlines()[0], ["st-dim", "dim-ua", "minus-ua", "plus-mmd"], 3)
    args = ap.parse_args()
    device = apply_step_arguments(args)

    encoder = AtlasEncoder(
        args.channels, args.heads, args.units, args.height, args.width, dilated=args.method == "dim-ua"
    ).to(device)
    classifier1 = nn.Linear(args.units, 128).to(device)
    classifier2 = nn.Linear(128, 128).to(device)
    params = list(classifier1.parameters()) + list(encoder.parameters()) + list(classifier2.parameters())
    optimizer = torch.optim.Adam(params, lr=3e-4, eps=1e-5)
    mmd_c = args.units / 6.0

    # A pool of random uint8 frames (C, H, W) standing in for episodes.
    pool = [
        torch.randint(0, 256, (args.channels, args.height, args.width), dtype=torch.uint8)
        for _ in range(args.pool)
    ]
    gen = torch.Generator().manual_seed(args.seed)

    def batch():
        idx = torch.randint(1, args.pool, (args.batch,), generator=gen).tolist()
        x_t = torch.stack([pool[i] for i in idx]).float().to(device) / 255.0
        x_prev = torch.stack([pool[i - 1] for i in idx]).float().to(device) / 255.0
        return x_t, x_prev

    def step():
        x_t, x_prev = batch()
        maps_t = encoder(x_t, use_v=True)
        maps_prev = encoder(x_prev, use_v=False)
        f_t, f_prev = maps_t["out"], maps_prev["f5"]
        sy, sx = f_prev.size(1), f_prev.size(2)
        n = f_t.size(0)
        loss1 = 0.0
        for y in range(sy):
            for x in range(sx):
                predictions = classifier1(f_t)
                logits = torch.matmul(predictions, f_prev[:, y, x, :].t())
                loss1 = loss1 + F.cross_entropy(logits, torch.arange(n).to(device))
        loss1 = loss1 / (sx * sy)
        f_t5 = maps_t["f5"]
        loss2 = 0.0
        for y in range(sy):
            for x in range(sx):
                predictions = classifier2(f_t5[:, y, x, :])
                logits = torch.matmul(predictions, f_prev[:, y, x, :].t())
                loss2 = loss2 + F.cross_entropy(logits, torch.arange(n).to(device))
        loss2 = loss2 / (sx * sy)
        loss = loss1 + loss2
        if args.heads > 1:
            loss = loss - 0.1 * (0.5 * q_loss(maps_t["q"]) + 0.5 * q_loss(maps_prev["q"]))
            if args.method == "plus-mmd":
                loss = loss + 0.5 * mmd_manifold(maps_t["q"], maps_t["coords"], mmd_c)
                loss = loss + 0.5 * mmd_manifold(maps_prev["q"], maps_prev["coords"], mmd_c)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        return loss.detach().item()

    for _ in range(args.warmup):
        step()
    if device.type == "cuda":
        torch.cuda.synchronize()
    cpu0 = time.process_time()
    start = time.perf_counter()
    last = math.nan
    for _ in range(args.steps):
        last = step()
    if device.type == "cuda":
        torch.cuda.synchronize()
    elapsed = time.perf_counter() - start
    cpu_s = time.process_time() - cpu0
    print(
        json.dumps(
            {
                "impl": "pytorch-eager",
                "method": args.method,
                "heads": args.heads,
                "units": args.units,
                "batch": args.batch,
                "steps": args.steps,
                "warmup": args.warmup,
                "device": str(device),
                "threads": torch.get_num_threads(),
                "torch": torch.__version__,
                "cpu": platform.processor() or platform.machine(),
                "elapsed_s": elapsed,
                "steps_per_s": args.steps / elapsed,
                "pairs_per_s": args.steps * args.batch / elapsed,
                "cpu_s": cpu_s,
                "steps_per_cpu_s": args.steps / cpu_s if cpu_s > 0 else None,
                "last_loss": last,
            }
        )
    )


if __name__ == "__main__":
    main()
