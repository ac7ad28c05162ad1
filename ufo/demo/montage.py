"""Pictures of a result: a grey-value montage of slices beside the truth, saved as PNG.

PNG because every browser, viewer and README shows it. None of ufo's dependencies writes
PNG (tifffile writes TIFF only), and an 8-bit grey PNG is a zlib stream with three chunks,
so it is written here; the tests read it back with Pillow.
"""

from __future__ import annotations

import struct
import zlib
from collections.abc import Sequence

import numpy as np


def to_bytes(image: np.ndarray, low: float, high: float) -> np.ndarray:
    """Grey values in [low, high] to 0..255 (clipped)."""
    scaled = (np.asarray(image, np.float64) - low) / max(high - low, 1e-30)
    return np.clip(np.rint(scaled * 255), 0, 255).astype(np.uint8)


def write_png(path: str, image: np.ndarray) -> None:
    """An 8-bit greyscale (2-D) or RGB (rows x columns x 3) uint8 image as PNG."""
    data = np.ascontiguousarray(image, np.uint8)
    if data.ndim == 2:
        colour = 0
    elif data.ndim == 3 and data.shape[2] == 3:
        colour = 2
    else:
        raise ValueError(f"write_png: a 2-D grey or rows x columns x 3 RGB image is needed, got shape {data.shape}")
    rows, cols = data.shape[:2]
    raw = np.concatenate([np.zeros((rows, 1), np.uint8), data.reshape(rows, -1)], axis=1)  # filter type 0 per row

    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body) & 0xFFFFFFFF)

    header = struct.pack(">IIBBBBB", cols, rows, 8, colour, 0, 0, 0)
    with open(path, "wb") as f:
        f.write(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(raw.tobytes(), 6))
                + chunk(b"IEND", b""))


def montage(rows: Sequence[Sequence[np.ndarray]], low: float, high: float, gap: int = 4) -> np.ndarray:
    """Images in a grid (a list of rows), one grey scale for all, `gap` white pixels between them."""
    if not rows or not rows[0]:
        raise ValueError("montage: no images")
    height = max(im.shape[0] for row in rows for im in row)
    width = max(im.shape[1] for row in rows for im in row)
    columns = max(len(row) for row in rows)
    out = np.full((len(rows) * (height + gap) - gap, columns * (width + gap) - gap), 255, np.uint8)
    for r, row in enumerate(rows):
        for c, image in enumerate(row):
            y, x = r * (height + gap), c * (width + gap)
            out[y: y + image.shape[0], x: x + image.shape[1]] = to_bytes(image, low, high)
    return out
