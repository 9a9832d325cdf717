"""Reference values for dimua's SimCLR-UA / MSimCLR loss terms, computed with PyTorch on fixed
inputs; crates/images/tests/images.rs records its output (`ua_terms_match_pytorch`).

Inputs (B = 3 images, n = 2 charts, d = 3 units, two views):
  coords[v][b][i][k] = 12 * sin(1 + v*18 + b*6 + i*3 + k)   (some beyond the clamp range)
  logits[v][b][i]    = 2 * cos(1 + v*6 + b*2 + i)             (membership = softmax over i)
Printed: the clamped coordinates' sum, the dilated targets' NT-Xent (temperature 0.5), L_Q of
the two views' memberships, and the NT-Xent of the q-weighted targets (no clamp).

    python benchmarks/simclr_ua_reference.py
"""

import math

import torch
import torch.nn.functional as F

B, N, D = 3, 2, 3


def inputs():
    coords = torch.tensor(
        [[[[12 * math.sin(1 + v * 18 + b * 6 + i * 3 + k) for k in range(D)] for i in range(N)]
          for b in range(B)] for v in range(2)],
        dtype=torch.float64,
    )
    logits = torch.tensor(
        [[[2 * math.cos(1 + v * 6 + b * 2 + i) for i in range(N)] for b in range(B)] for v in range(2)],
        dtype=torch.float64,
    )
    return coords, logits.softmax(-1)


def nt_xent(a, b, t):
    z = F.normalize(torch.cat([a, b]), dim=1)
    sim = z @ z.T / t
    sim.fill_diagonal_(float("-inf"))
    n = a.shape[0]
    target = torch.cat([torch.arange(n, 2 * n), torch.arange(0, n)])
    return F.cross_entropy(sim, target)


def l_q(q1, q2):
    n = q1.shape[1]
    return -0.5 * (((q1 - 1 / n) ** 2).sum(1).mean() + ((q2 - 1 / n) ** 2).sum(1).mean())


def main():
    coords, q = inputs()
    clamped = coords.clamp(-10, 10)
    dilated = clamped.mean(2)
    weighted = (q.unsqueeze(-1) * coords).sum(2)
    print(f"clamped_sum {clamped.sum().item():.10f}")
    print(f"nt_xent_dilated {nt_xent(dilated[0], dilated[1], 0.5).item():.10f}")
    print(f"l_q {l_q(q[0], q[1]).item():.10f}")
    print(f"nt_xent_weighted {nt_xent(weighted[0], weighted[1], 0.5).item():.10f}")


if __name__ == "__main__":
    main()
