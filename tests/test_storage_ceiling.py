"""benchmarks/storage.py's ceiling for the one-file-per-frame formats writes what a TIFF sequence
writes, byte for byte the frames, one new file each, and the interleaved runs use it when asked."""

from __future__ import annotations

import numpy as np

from ufo.bench import storage


def test_raw_files_ceiling_writes_every_frame_into_its_own_file(tmp_path):
    frames = [np.full((64, 64), i, np.uint16) + np.arange(64, dtype=np.uint16) for i in range(8)]  # 8 KiB each
    seconds, how = storage.raw_files_ceiling(str(tmp_path / "ref"), frames, 12)
    assert seconds > 0 and "one file per frame" in how and "fsynced" in how
    files = sorted((tmp_path / "ref").iterdir())
    assert [f.name for f in files] == [f"frame-{i:05d}.raw" for i in range(12)]
    for i, path in enumerate(files):
        assert np.array_equal(np.fromfile(path, np.uint16).reshape(64, 64), frames[i % 8])


def test_interleaved_runs_take_the_per_file_ceiling_and_leave_nothing(tmp_path):
    frames = [np.full((64, 64), i, np.uint16) for i in range(8)]
    ours, raws, how = storage.interleaved(str(tmp_path), str(tmp_path / "seq" / "f-%05i.tif"), frames, 8, 3,
                                          per_file=True)
    assert len(ours) == len(raws) == 3 and "one file per frame" in how
    assert not (tmp_path / "reference-files").exists()
