#!/usr/bin/env python3
"""The strongest plain-PyTorch DIM-UA / ST-DIM pretraining step we could write, for
`benchmarks/precision.sh` (issue "Mixed precision").

Where `pytorch_eager_step.py` does the step as the reference code does (two encoder passes,
88 per-location cross-entropies in a Python loop), this one does the same mathematics the
fast way, written from docs/PROTOCOL.md sections 3-5:

* one encoder forward over the 2B frames of a batch (x_t and x_prev concatenated), u8
  frames converted on the fly, channels-last;
* the atlas as one fused Linear(3456 -> n*d) and, with n > 1, Linear(3456 -> n) + softmax;
* both InfoNCE terms for all 88 locations as batched matmuls ([L, B, B] scores) and one
  log-softmax each;
* the membership term (n > 1) as in the reference: loss -= 0.1 (0.5 L_Q(q_t) + 0.5 L_Q(q_prev));
* Adam(lr 3e-4, eps 1e-5).

Options: `--compile` wraps the step's forward + loss in `torch.compile`; `--precision bf16`
runs it under `torch.autocast(device, torch.bfloat16)` (bf16 convolutions and matmuls, fp32
softmax / cross-entropy, fp32 master weights and Adam state). Prints one JSON line with the
same keys as `dimua bench train` (steps_per_s, pairs_per_s, last_loss).

    .cache/venv/bin/python benchmarks/pytorch_fast_step.py --method dim-ua --heads 4 \
        --units 512 --precision bf16 --compile --steps 20 --warmup 5 --threads 2
"""

import json
import math
import platform
import time

import torch
import torch.nn as nn
import torch.nn.functional as F

from pytorch_eager_step import apply_step_arguments, step_arguments


def orthogonal_relu(module):
    """Orthogonal weights with gain sqrt(2), zero bias (the reference's initialisation)."""
    nn.init.orthogonal_(module.weight, gain=nn.init.calculate_gain("relu"))
    nn.init.zeros_(module.bias)
    return module


class FusedAtlasModel(nn.Module):
    """Trunk + fused atlas + the two InfoNCE projection heads, loss in one forward."""

    def __init__(self, channels, heads, units, height, width, dilated):
        super().__init__()
        self.heads, self.units, self.dilated = heads, units, dilated
        self.conv1 = orthogonal_relu(nn.Conv2d(channels, 32, 8, stride=4))
        self.conv2 = orthogonal_relu(nn.Conv2d(32, 64, 4, stride=2))
        self.conv3 = orthogonal_relu(nn.Conv2d(64, 128, 4, stride=2))
        self.conv4 = orthogonal_relu(nn.Conv2d(128, 64, 3, stride=1))
        with torch.no_grad():
            flat = self.trunk(torch.zeros(1, height, width, channels, dtype=torch.uint8))[1].shape[1]
        self.coords = orthogonal_relu(nn.Linear(flat, heads * units))
        self.q = orthogonal_relu(nn.Linear(flat, heads)) if heads > 1 else None
        self.classifier1 = nn.Linear(units, 128)
        self.classifier2 = nn.Linear(128, 128)

    def trunk(self, frames):
        x = frames.permute(0, 3, 1, 2).float().div(255.0).contiguous(memory_format=torch.channels_last)
        h = F.relu(self.conv1(x))
        h = F.relu(self.conv2(h))
        f5 = F.relu(self.conv3(h))
        h = F.relu(self.conv4(f5))
        return f5.permute(0, 2, 3, 1).flatten(1, 2), h.flatten(1)

    def forward(self, x_t, x_prev):
        b = x_t.shape[0]
        local, flat = self.trunk(torch.cat([x_t, x_prev]))  # [2B, L, 128], [2B, F]
        coords = self.coords(flat).view(2 * b, self.heads, self.units)
        loss = 0.0
        if self.heads > 1:
            q = F.softmax(self.q(flat).float(), dim=1)
            if self.dilated:
                glob = coords[:b].mean(1)
            else:
                glob = (q[:b].unsqueeze(2) * coords[:b]).sum(1)
            l_q = ((q - 1.0 / self.heads) ** 2).sum(1)
            loss = loss - 0.1 * (0.5 * l_q[:b].mean() + 0.5 * l_q[b:].mean())
        else:
            glob = coords[:b, 0]
        local_t, local_prev = local[:b], local[b:]
        targets = local_prev.transpose(0, 1).transpose(1, 2)  # [L, 128, B]
        pred1 = self.classifier1(glob)  # [B, 128]
        scores1 = torch.matmul(pred1.unsqueeze(0), targets)  # [L, B, B]
        pred2 = self.classifier2(local_t).transpose(0, 1)  # [L, B, 128]
        scores2 = torch.bmm(pred2, targets)  # [L, B, B]
        for scores in (scores1, scores2):
            logp = F.log_softmax(scores.float(), dim=2)
            loss = loss - logp.diagonal(dim1=1, dim2=2).mean()
        return loss


def main():
    ap = step_arguments(__doc__.splitlines()[0], ["st-dim", "dim-ua", "minus-ua"], 5)
    ap.add_argument("--precision", default="fp32", choices=["fp32", "bf16"])
    ap.add_argument("--compile", action="store_true", help="torch.compile the forward + loss")
    args = ap.parse_args()
    device = apply_step_arguments(args)

    model = FusedAtlasModel(
        args.channels, args.heads, args.units, args.height, args.width, args.method == "dim-ua"
    ).to(device)
    model = model.to(memory_format=torch.channels_last)
    optimizer = torch.optim.Adam(model.parameters(), lr=3e-4, eps=1e-5)
    forward = torch.compile(model) if args.compile else model

    pool = torch.randint(0, 256, (args.pool, args.height, args.width, args.channels), dtype=torch.uint8)
    gen = torch.Generator().manual_seed(args.seed)

    def step():
        idx = torch.randint(1, args.pool, (args.batch,), generator=gen)
        x_t, x_prev = pool[idx].to(device), pool[idx - 1].to(device)
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=args.precision == "bf16"):
            loss = forward(x_t, x_prev)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        return loss.detach().item()

    for _ in range(args.warmup):
        step()
    if device.type == "cuda":
        torch.cuda.synchronize()
    start = time.perf_counter()
    last = math.nan
    for _ in range(args.steps):
        last = step()
    if device.type == "cuda":
        torch.cuda.synchronize()
    elapsed = time.perf_counter() - start
    print(
        json.dumps(
            {
                "impl": "pytorch-fast" + ("-compiled" if args.compile else "-eager"),
                "precision": args.precision,
                "method": args.method,
                "heads": args.heads,
                "units": args.units,
                "batch": args.batch,
                "steps": args.steps,
                "device": str(device),
                "threads": torch.get_num_threads(),
                "torch": torch.__version__,
                "cpu": platform.processor() or platform.machine(),
                "elapsed_s": elapsed,
                "steps_per_s": args.steps / elapsed,
                "pairs_per_s": args.steps * args.batch / elapsed,
                "last_loss": last,
            }
        )
    )


if __name__ == "__main__":
    main()
