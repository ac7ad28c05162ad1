"""Online reconstructions larger than the host's memory: refused with a reason, not killed by the kernel."""

from __future__ import annotations

import re

import numpy as np
import pytest

from ufo.core.errors import UsageError
from ufo.demo.options import DemoOptions
from ufo.tomo.streaming import StreamingReconstructor


def test_slices_the_host_cannot_hold_are_refused_at_the_first_frame():
    """4000 rows of a 16384-pixel-wide detector are 4.3 TB of CPU slices, which NumPy takes lazily:
    before, the scan ran until the kernel killed the process (and the raw data's writer with it)."""
    engine = StreamingReconstructor(axis=8192.0, device="cpu")
    for _ in range(2):  # the next frame too: a lossy caller (keep_up) goes on after a failed frame
        with pytest.raises(MemoryError, match=r"4000 slices of 16384 x 16384 float32 need 4295\.0 GB.*rows="):
            engine.add(np.zeros((4000, 16384), np.uint16), {"image_key": 2})
    small = StreamingReconstructor(axis=8192.0, device="cpu", rows=[2000], roi=(8000, 8000, 64, 64))
    small.add(np.zeros((4000, 16384), np.uint16), {"image_key": 2})  # one slice of 64 x 64: taken


def test_rows_the_host_cannot_hold_are_refused_before_the_scan():
    """`ufo demo --size 8192 --rows all` (2.2 TB of CPU slices) is refused before any frame, with a
    --rows that fits; with --gpu the CPU's memory is not asked."""
    with pytest.raises(UsageError, match=r"all 8192 rows of 8192 x 8192 take 2\d{3}\.\d GB on the CPU") as info:
        DemoOptions(size=8192, rows="all").check()
    rows = re.search(r"--rows (0:8192:\d+)", str(info.value)).group(1)
    DemoOptions(size=8192, rows=rows).check()  # what it says fits
    DemoOptions(size=8192, rows="all", gpu=True).check()
