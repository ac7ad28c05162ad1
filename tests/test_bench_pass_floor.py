"""ufo.bench.pass_floor on a small scan-shaped file: the schedule reads every pass and writes every slice."""

from __future__ import annotations

import os

import numpy as np
import pytest

from ufo.bench import band_reads, pass_floor


@pytest.fixture
def small(monkeypatch, tmp_path):
    """Frames of 64 x 64 uint16, 8 of them; slices of 64 x 64 float32."""
    for module in (band_reads, pass_floor):
        monkeypatch.setattr(module, "H", 64)
        monkeypatch.setattr(module, "W", 64)
        monkeypatch.setattr(module, "N", 8)
        monkeypatch.setattr(module, "FRAME", 64 * 64 * 2)
    monkeypatch.setattr(pass_floor, "SLICE", 64 * 64 * 4)
    band_reads.make(str(tmp_path))
    return str(tmp_path)


def test_the_schedule_marks_its_steps_in_order_and_leaves_no_file(small):
    marks = pass_floor.schedule(small, [16, 16, 16, 16], writers=2, files=2)
    assert 0 < marks["first pass read"] <= marks["last frame read"] <= marks["slices written"]
    assert sorted(os.listdir(small)) == ["scan.raw"]
    with pytest.raises(AssertionError):  # heights must cover the frame's rows
        pass_floor.schedule(small, [16, 16])


def test_the_passes_read_each_frames_band(small, monkeypatch):
    seen = []
    real = os.preadv

    def spy(fd, buffers, offset):
        seen.append((offset, sum(len(memoryview(b).cast("B")) for b in buffers)))
        return real(fd, buffers, offset)

    monkeypatch.setattr(pass_floor.os, "preadv", spy)
    pass_floor.schedule(small, [32, 32])
    frame, row = 64 * 64 * 2, 64 * 2
    assert sorted(seen) == sorted((i * frame + first * row, 32 * row) for first in (0, 32) for i in range(8))


def test_a_mapped_write_fills_the_file(small, monkeypatch):
    written = {}
    real = pass_floor.os.unlink

    def keep(path):  # the file's values before it goes
        if path.endswith("mapped.raw"):
            written["values"] = np.fromfile(path, np.float32)
        real(path)

    monkeypatch.setattr(pass_floor.os, "unlink", keep)
    done = band_reads.mapped_writes(small, 3, nbytes=64 * 64 * 64 * 4, piece=64 * 64 * 4, reserved=True, populate=True)
    assert done.endswith("ok=True")
    assert written["values"].size == 64 * 64 * 64 and (written["values"] == 1).all()
    assert pass_floor.write_alone(small, writers=2, files=2) > 0
