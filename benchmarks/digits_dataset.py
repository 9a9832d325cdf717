"""Writes scikit-learn's 8x8 handwritten digits (1,797 images, 10 classes; shipped inside the
scikit-learn package, nothing downloaded) in both image formats dimua reads:

  OUT/cifar/   CIFAR-10 binary: data_batch_1.bin, test_batch.bin, batches.meta.txt
               (each digit upscaled 4x by pixel repetition to 32x32, gray in all three channels)
  OUT/folder/  train/<digit>/NNNN.png and test/<digit>/NNNN.png, the 8x8 originals

Pixel values 0..16 become round(v * 255 / 16). The split is scikit-learn's
train_test_split(test_size=0.2, stratify=y, random_state=0): 1,437 train, 360 test.

    python benchmarks/digits_dataset.py --out data/digits
"""

import argparse
import os
import struct
import zlib

import numpy as np
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split


def png_gray(path, img):
    """Writes a uint8 [H, W] array as an 8-bit grayscale PNG (no external imaging library)."""
    h, w = img.shape
    raw = b"".join(b"\x00" + img[r].tobytes() for r in range(h))

    def chunk(kind, data):
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body) & 0xFFFFFFFF)

    with open(path, "wb") as f:
        f.write(b"\x89PNG\r\n\x1a\n")
        f.write(chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 0, 0, 0, 0)))
        f.write(chunk(b"IDAT", zlib.compress(raw, 9)))
        f.write(chunk(b"IEND", b""))


def cifar_records(images, labels):
    """CIFAR-10 binary records: label byte, then the R, G and B planes of a 32x32 image."""
    out = bytearray()
    for img, label in zip(images, labels):
        big = np.repeat(np.repeat(img, 4, axis=0), 4, axis=1)
        out.append(int(label))
        plane = big.astype(np.uint8).tobytes()
        out += plane * 3
    return bytes(out)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", required=True)
    args = parser.parse_args()
    digits = load_digits()
    images = np.round(digits.images * 255.0 / 16.0).astype(np.uint8)
    idx = np.arange(len(images))
    train_idx, test_idx = train_test_split(
        idx, test_size=0.2, stratify=digits.target, random_state=0
    )
    cifar = os.path.join(args.out, "cifar")
    os.makedirs(cifar, exist_ok=True)
    for name, rows in (("data_batch_1.bin", train_idx), ("test_batch.bin", test_idx)):
        with open(os.path.join(cifar, name), "wb") as f:
            f.write(cifar_records(images[rows], digits.target[rows]))
    with open(os.path.join(cifar, "batches.meta.txt"), "w") as f:
        f.write("".join(f"digit{d}\n" for d in range(10)))
    for split, rows in (("train", train_idx), ("test", test_idx)):
        for i in rows:
            d = os.path.join(args.out, "folder", split, str(digits.target[i]))
            os.makedirs(d, exist_ok=True)
            png_gray(os.path.join(d, f"{i:04d}.png"), images[i])
    print(f"wrote {len(train_idx)} train and {len(test_idx)} test digits to {args.out}")


if __name__ == "__main__":
    main()
