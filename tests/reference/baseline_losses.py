"""Recomputes the VAE, pixel-prediction, CPC and supervised losses of dimua's objectives in plain
PyTorch, from the formulas of AtariARI's baselines (docs/methods.md), on the weights and
frames `tests/baseline_losses.rs` wrote. Prints one JSON object: method -> total loss."""
import json
import sys

import torch
import torch.nn.functional as F
from safetensors.torch import load_file

TRUNK = [(8, 4), (4, 2), (4, 2), (3, 1)]


def trunk(w, x):
    h = x.permute(0, 3, 1, 2).float() / 255.0
    for i, (_, s) in enumerate(TRUNK, start=1):
        h = F.relu(F.conv2d(h, w[f"encoder.conv{i}.weight"], w[f"encoder.conv{i}.bias"], stride=s))
    return h.flatten(1)


def encode(w, x):
    return trunk(w, x) @ w["atlas.coords.weight"].T + w["atlas.coords.bias"]


def sizes(side):
    out = [side]
    for k, s in TRUNK:
        out.append((out[-1] - k) // s + 1)
    return out


def decode(w, prefix, code, frame_hw):
    hs, ws = sizes(frame_hw[0]), sizes(frame_hw[1])
    h = F.relu(code @ w[f"{prefix}.fc.weight"].T + w[f"{prefix}.fc.bias"])
    h = h.view(code.shape[0], 64, hs[4], ws[4])
    for j in range(4):
        k, s = TRUNK[3 - j]
        pad = (hs[3 - j] - ((hs[4 - j] - 1) * s + k), ws[3 - j] - ((ws[4 - j] - 1) * s + k))
        h = F.conv_transpose2d(
            h, w[f"{prefix}.deconv{j + 1}.weight"], w[f"{prefix}.deconv{j + 1}.bias"],
            stride=s, output_padding=pad)
        h = torch.sigmoid(h) if j == 3 else F.relu(h)
    return h


def target(x):
    return x.permute(0, 3, 1, 2).float() / 255.0


def vae(w, x, beta=1.0):
    flat = trunk(w, x)
    mu = flat @ w["atlas.coords.weight"].T + w["atlas.coords.bias"]
    logvar = flat @ w["vae.logvar.weight"].T + w["vae.logvar.bias"]
    x_hat = decode(w, "vae.decoder", mu, x.shape[1:3])  # validation pass: z = mu
    rec = ((x_hat - target(x)) ** 2).sum()
    kl = -0.5 * (1 + logvar - mu ** 2 - logvar.exp()).sum()
    return (rec + beta * kl).item()


def pixel_pred(w, x):
    b = x.shape[0] // 2
    code = encode(w, x[:b]) @ w["pixel_pred.fc.weight"].T + w["pixel_pred.fc.bias"]
    pred = decode(w, "pixel_pred.decoder", code, x.shape[1:3])
    return F.mse_loss(pred, target(x[b:])).item()


def cpc(w, x, t=100):
    b = x.shape[0] // t
    z = encode(w, x).view(t, b, -1)
    gru = torch.nn.GRU(z.shape[-1], 256, num_layers=2)
    with torch.no_grad():
        for layer in range(2):
            for ours, theirs in [("w_ih", "weight_ih"), ("w_hh", "weight_hh"),
                                 ("b_ih", "bias_ih"), ("b_hh", "bias_hh")]:
                getattr(gru, f"{theirs}_l{layer}").copy_(w[f"cpc.gru.{ours}_l{layer}"])
    context, _ = gru(z, torch.zeros(2, b, 256))
    total = 0.0
    for k, i in enumerate(range(0, 99, 4)):
        ahead = i + 1
        pred = context[: t - ahead] @ w[f"cpc.predict{k}.weight"].T + w[f"cpc.predict{k}.bias"]
        pred = pred.reshape(-1, z.shape[-1])
        tgt = z[ahead:].reshape(-1, z.shape[-1])
        logits = pred @ tgt.T
        total = total + F.cross_entropy(logits, torch.arange(logits.shape[0]))
    return total.item()


def supervised(w, x, labels):
    logits = encode(w, x) @ w["supervised.heads.weight"].T + w["supervised.heads.bias"]
    logits = logits.view(x.shape[0], labels.shape[1], 256)
    per_label = [F.cross_entropy(logits[:, k], labels[:, k].long()) for k in range(labels.shape[1])]
    return torch.stack(per_label).mean().item()


def main():
    out = {}
    for method, fn in [("vae", vae), ("pixel-pred", pixel_pred), ("cpc", cpc),
                       ("supervised", supervised)]:
        tensors = load_file(f"{sys.argv[1]}/{method}.safetensors")
        frames = tensors.pop("frames")
        if "labels" in tensors:
            labels = tensors.pop("labels")
            fn = (lambda f: lambda w, x: f(w, x, labels))(fn)
        with torch.no_grad():
            out[method] = fn(tensors, frames)
            if method == "vae":
                out["vae (beta 0.25)"] = vae(tensors, frames, beta=0.25)
    print(json.dumps(out))


if __name__ == "__main__":
    main()
