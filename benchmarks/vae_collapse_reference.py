#!/usr/bin/env python3
"""Owns: an independent PyTorch VAE with AtariARI's architecture, loss and sampling, trained on
a dimua dataset, to tell whether a posterior collapse seen in dimua is the method's or dimua's.

    python benchmarks/vae_collapse_reference.py DATASET --epochs 16 [--beta 1] [--seed 0]
        [--json OUT.json]

DATASET is a `dimua collect ... --split 8/2/0` directory (train and val episodes). Written from
the AtariARI VAE's description in docs/methods.md ("VAE (`vae`)"), not from dimua's Rust code:
 - encoder: AtariARI's NatureCNN without downsampling (conv 32 k8 s4, 64 k4 s2, 128 k4 s2,
   64 k3 s1, ReLU after each, flatten to 3456, Linear to 256 without activation), orthogonal
   weights with ReLU gain and zero biases; its output is the posterior mean mu;
 - log sigma^2 = Linear(3456 -> 256) (PyTorch's default init) on the flattened conv features;
 - decoder: Linear(256 -> 3456) + ReLU, view 64 x 9 x 6, transposed convs 64->128 (k3 s1),
   128->64 (k4 s2), 64->32 (k4 s2, output padding 1), 32->C (k8 s4, output padding (2, 0)),
   ReLU between them, sigmoid last; the ConvTs orthogonal with ReLU gain, zero biases;
 - loss: sum over batch and pixels of (x_hat - x)^2 + beta * KL (summed), x = frame / 255;
 - z = mu + eps * sigma in training steps, z = mu in validation passes;
 - Adam, lr 3e-4, eps 1e-5; batches of 64, each frame drawn by picking an episode uniformly
   with replacement and then a frame of it uniformly; an epoch draws as many frames as the
   split has (the last partial batch dropped).

Prints one JSON line per epoch: train and val loss per batch, val KL per batch (unweighted)
and the median over the 256 units of the std of mu over the val frames (near 0 = collapsed).
"""

import argparse
import json
import os
import sys
import time

import numpy as np
import torch
from safetensors.numpy import load_file
from torch import nn

RELU_GAIN = nn.init.calculate_gain("relu")


def orthogonal_relu(module):
    nn.init.orthogonal_(module.weight, gain=RELU_GAIN)
    nn.init.zeros_(module.bias)
    return module


class AtariAriVae(nn.Module):
    def __init__(self, channels, height, width, units=256):
        super().__init__()
        self.convs = nn.Sequential(
            orthogonal_relu(nn.Conv2d(channels, 32, 8, stride=4)), nn.ReLU(),
            orthogonal_relu(nn.Conv2d(32, 64, 4, stride=2)), nn.ReLU(),
            orthogonal_relu(nn.Conv2d(64, 128, 4, stride=2)), nn.ReLU(),
            orthogonal_relu(nn.Conv2d(128, 64, 3, stride=1)), nn.ReLU(),
            nn.Flatten(),
        )
        with torch.no_grad():
            conv_shape = self.convs[:-1](torch.zeros(1, channels, height, width)).shape[1:]
        flat = int(np.prod(conv_shape))
        self.conv_shape = tuple(conv_shape)
        self.mean = orthogonal_relu(nn.Linear(flat, units))
        self.log_var = nn.Linear(flat, units)
        self.decode_fc = nn.Linear(units, flat)
        # Output paddings that land exactly on the frame size (AtariARI hard-codes (2, 0) for
        # 210 x 160; computed here so the check also runs on other sizes).
        h, w = conv_shape[1], conv_shape[2]
        for k, s, pad in ((3, 1, 0), (4, 2, 0), (4, 2, 1)):
            h, w = (h - 1) * s + k + pad, (w - 1) * s + k + pad
        pad_last = (height - ((h - 1) * 4 + 8), width - ((w - 1) * 4 + 8))
        if not (0 <= min(pad_last) and max(pad_last) < 4):
            raise ValueError(f"no output padding reaches {height} x {width}: {pad_last}")
        self.deconvs = nn.Sequential(
            orthogonal_relu(nn.ConvTranspose2d(64, 128, 3, stride=1)), nn.ReLU(),
            orthogonal_relu(nn.ConvTranspose2d(128, 64, 4, stride=2)), nn.ReLU(),
            orthogonal_relu(nn.ConvTranspose2d(64, 32, 4, stride=2, output_padding=1)), nn.ReLU(),
            orthogonal_relu(
                nn.ConvTranspose2d(32, channels, 8, stride=4, output_padding=pad_last)
            ),
            nn.Sigmoid(),
        )

    def forward(self, x):
        features = self.convs(x)
        mu = self.mean(features)
        log_var = self.log_var(features)
        if self.training:
            z = mu + torch.randn_like(mu) * torch.exp(0.5 * log_var)
        else:
            z = mu
        hidden = torch.relu(self.decode_fc(z)).view(-1, *self.conv_shape)
        return self.deconvs(hidden), mu, log_var


def losses(x, x_hat, mu, log_var, beta):
    kl = -0.5 * torch.sum(1 + log_var - mu.pow(2) - log_var.exp())
    reconstruction = ((x_hat - x) ** 2).sum()
    return reconstruction + beta * kl, kl


def load_episodes(directory):
    manifest = json.load(open(os.path.join(directory, "manifest.json")))
    parts = [load_file(os.path.join(directory, s["file"])) for s in manifest["shards"]]
    frames = np.concatenate([p["frames"] for p in parts])
    episode = np.concatenate([p["episode"] for p in parts])
    split = np.concatenate([p["split"] for p in parts])
    out = {0: [], 1: []}
    for e in np.unique(episode):
        rows = np.nonzero(episode == e)[0]
        s = int(split[rows[0]])
        if s in out:
            out[s].append(frames[rows])
    return out[0], out[1]


def batches(episodes, batch_size, rng):
    total = sum(len(e) for e in episodes)
    picks = rng.integers(0, len(episodes), size=total)
    for start in range(0, total - batch_size + 1, batch_size):
        chosen = [episodes[i] for i in picks[start:start + batch_size]]
        x = np.stack([e[rng.integers(0, len(e))] for e in chosen])
        yield torch.from_numpy(x).permute(0, 3, 1, 2).float() / 255.0


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("dataset")
    parser.add_argument("--epochs", type=int, default=16)
    parser.add_argument("--beta", type=float, default=1.0)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--json", help="also write the epochs here as a JSON list")
    args = parser.parse_args()

    torch.manual_seed(args.seed)
    torch.set_num_threads(args.threads)
    rng = np.random.default_rng(args.seed)
    train_eps, val_eps = load_episodes(args.dataset)
    if not train_eps or not val_eps:
        sys.exit(f"{args.dataset}: needs train and val episodes (collect with --split 8/2/0)")
    h, w, c = train_eps[0].shape[1:]
    model = AtariAriVae(c, h, w)
    optimizer = torch.optim.Adam(model.parameters(), lr=3e-4, eps=1e-5)
    val_frames = torch.from_numpy(np.concatenate(val_eps)).permute(0, 3, 1, 2).float() / 255.0
    history = []
    for epoch in range(args.epochs):
        started = time.time()
        model.train()
        train_loss, n = 0.0, 0
        for x in batches(train_eps, 64, rng):
            x_hat, mu, log_var = model(x)
            loss, _ = losses(x, x_hat, mu, log_var, args.beta)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            train_loss += loss.item()
            n += 1
        model.eval()
        val_loss, val_kl, m = 0.0, 0.0, 0
        with torch.no_grad():
            for x in batches(val_eps, 64, rng):
                x_hat, mu, log_var = model(x)
                loss, kl = losses(x, x_hat, mu, log_var, args.beta)
                val_loss += loss.item()
                val_kl += kl.item()
                m += 1
            mus = torch.cat([model(val_frames[i:i + 256])[1] for i in range(0, len(val_frames), 256)])
        row = {
            "epoch": epoch,
            "train_loss": train_loss / n,
            "val_loss": val_loss / m,
            "val_kl": val_kl / m,
            "median_feature_std": float(mus.std(dim=0).median()),
            "seconds": round(time.time() - started, 1),
        }
        history.append(row)
        print(json.dumps(row), flush=True)
    if args.json:
        with open(args.json, "w") as f:
            json.dump(history, f, indent=1)


if __name__ == "__main__":
    main()
