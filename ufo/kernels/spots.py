"""Region growing for find-large-spots (numba, GIL released).

UFO grows the spot mask one pixel ring per pass over the whole frame until nothing
changes; on a CPU that costs a pass per ring (hundreds of passes for a large spot). A
queue visits each masked pixel once instead and reaches the same mask: a pixel joins iff
some masked 4-neighbour differs from it by more than the threshold, whatever the order.
"""

from __future__ import annotations

import numba
import numpy as np


@numba.njit(nogil=True, cache=True)
def grow_mask(data, mask, threshold):  # pragma: no cover - compiled
    """Grow `mask` (bool, in place) into 4-neighbours, off the outer rows and columns, that differ
    from a masked neighbour by more than `threshold`; returns the mask."""
    rows, cols = data.shape
    queue = np.empty(rows * cols, np.int64)
    head = tail = 0
    for r in range(rows):
        for c in range(cols):
            if mask[r, c]:
                queue[tail] = r * cols + c
                tail += 1
    while head < tail:
        index = queue[head]
        head += 1
        r, c = index // cols, index % cols
        value = data[r, c]
        for k in range(4):
            nr = r + (1 if k == 0 else -1 if k == 1 else 0)
            nc = c + (1 if k == 2 else -1 if k == 3 else 0)
            if nr < 1 or nc < 1 or nr > rows - 2 or nc > cols - 2 or mask[nr, nc]:
                continue
            if abs(data[nr, nc] - value) > threshold:
                mask[nr, nc] = True
                queue[tail] = nr * cols + nc
                tail += 1
    return mask
