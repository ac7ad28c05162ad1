"""ufo's own 8/16-bit outputs read back as the values they stand for (ufo.storage.scaled_frames).

Read as stored, the next step worked on the integers: `read ! calculate expression='x*2'` of a
slice of -50..50 gave 10786..120196, and a copy lost the scale for good. Each output format is
written by ufo, read by ufo and compared with the values written; a mirrored or rescaled decode
fails the comparison.
"""

from __future__ import annotations

import numpy as np
import pytest

import ufo
from ufo.core.registry import create


def _values() -> list[np.ndarray]:
    ramp = np.linspace(-50, 50, 24 * 20, dtype=np.float32).reshape(24, 20)
    return [ramp * (1 + k / 4) for k in range(3)]


def _write(path: str, bits: int) -> None:
    frames = _values()
    create("write", path=path, bits=bits, minimum=-100, maximum=100)(ufo.MemoryIn(data=frames)()).run().wait(30)


@pytest.mark.parametrize("bits", [8, 16])
@pytest.mark.parametrize("name", ["v.h5", "v.tif", "v.zarr", "s-%04i.tif"])
def test_an_output_of_8_or_16_bits_reads_back_as_its_values(tmp_path, name, bits):
    path = str(tmp_path / name)
    _write(path, bits)
    read = str(tmp_path / ("s-*.tif" if "%" in name else name))
    back = create("read", path=read)().collect()
    step = 200 / ((1 << bits) - 1)
    assert len(back) == 3
    for got, want in zip(back, _values()):
        assert got.dtype == np.float32
        assert np.abs(got - want).max() <= step / 2 + 1e-4  # half a step: the rounding of storing
    stored = create("read", path=read, decode=False)().collect()
    assert stored[0].dtype == (np.uint8 if bits == 8 else np.uint16)


def test_a_step_after_reading_works_on_values_and_a_copy_keeps_them(tmp_path):
    _write(str(tmp_path / "v.h5"), 16)
    doubled = create("calculate", expression="x*2")(create("read", path=str(tmp_path / "v.h5"))()).collect()
    assert np.abs(doubled[1] - 2 * _values()[1]).max() < 0.01


def test_a_camera_s_integers_without_a_recorded_scale_stay_as_stored(tmp_path):
    import h5py

    counts = np.arange(3 * 4 * 5, dtype=np.uint16).reshape(3, 4, 5) * 1000
    with h5py.File(tmp_path / "raw.h5", "w") as f:
        f["data"] = counts
        f["data"].attrs["bits"] = 16  # no scale: nothing to decode
    back = create("read", path=f"{tmp_path / 'raw.h5'}:/data")().collect()
    assert back[2].dtype == np.uint16 and np.array_equal(back[2], counts[2])
