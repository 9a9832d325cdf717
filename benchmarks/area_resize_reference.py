"""Reference outputs of OpenCV's INTER_AREA resize for dimua-env's tests.

Builds the test images of crates/env/tests/resize.rs from the same formulas, resizes them
with cv2.resize(..., interpolation=cv2.INTER_AREA) and prints, per case, the checksums the
test compares with (sum of bytes, and sum of (index % 65521 + 1) * byte over the row-major
output) plus the first 8 bytes.

    pip install opencv-python-headless numpy && python benchmarks/area_resize_reference.py
"""
import cv2
import numpy as np


def formula(h, w, c):
    y, x, k = np.meshgrid(np.arange(h), np.arange(w), np.arange(c), indexing="ij")
    return ((y * 31 + x * 17 + k * 101 + ((y * x) % 7) * 13) % 256).astype(np.uint8)


def blocks(h, w, c):
    y, x, k = np.meshgrid(np.arange(h), np.arange(w), np.arange(c), indexing="ij")
    return np.where(((y // 3) + (x // 5) + k) % 2 == 0, 0, 255).astype(np.uint8)


def lcg(h, w, c):
    n = h * w * c
    out = np.empty(n, dtype=np.uint8)
    s = 12345
    for i in range(n):
        s = (s * 1103515245 + 12345) % (1 << 31)
        out[i] = (s >> 16) & 0xFF
    return out.reshape(h, w, c)


def checksums(a):
    flat = a.reshape(-1).astype(np.int64)
    idx = np.arange(flat.size) % 65521 + 1
    return int(flat.sum()), int((idx * flat).sum()), flat[:8].tolist()


CASES = [
    ("formula", 210, 160, 1, 84, 84),
    ("blocks", 210, 160, 1, 84, 84),
    ("lcg", 210, 160, 1, 84, 84),
    ("formula", 210, 160, 3, 84, 84),
    ("lcg", 250, 160, 1, 84, 84),
    ("lcg", 210, 160, 1, 64, 48),
    # Integer factors: OpenCV's fast path (2x2: (sum + 2) >> 2; otherwise sum * (1/area)
    # rounded to nearest even).
    ("blocks", 210, 160, 1, 105, 80),
    ("lcg", 210, 160, 1, 105, 80),
    ("lcg", 210, 160, 3, 105, 80),
    ("lcg", 210, 160, 1, 70, 80),
    ("lcg", 210, 160, 3, 105, 160),
    ("formula", 210, 160, 1, 42, 32),
]

if __name__ == "__main__":
    print("cv2", cv2.__version__)
    for name, h, w, c, oh, ow in CASES:
        img = {"formula": formula, "blocks": blocks, "lcg": lcg}[name](h, w, c)
        src = img[:, :, 0] if c == 1 else img
        out = cv2.resize(src, (ow, oh), interpolation=cv2.INTER_AREA)
        print(name, h, w, c, oh, ow, *checksums(out))
