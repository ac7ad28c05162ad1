"""An axis search by scan stops when asked: `ufo reco --axis auto --axis-method scan` back-projected
every candidate axis in one call, and a Ctrl-C or the GUI's Cancel waited for all of them (about
50 s at 1024 pixels). Now the candidates go in chunks with the run's stop looked at between."""

from __future__ import annotations

import threading

import numpy as np
import pytest

from ufo.core.errors import Cancelled
from ufo.tomo.axis import SCAN_CHUNK, axis_by_scan, scan, scan_slices


def test_a_stop_ends_the_scan_between_chunks_and_chunks_change_nothing():
    rng = np.random.default_rng(1)
    sino = rng.random((256, 512)).astype(np.float32)
    candidates = np.arange(240.0, 273.0)  # 33, as `--axis-method scan` searches +-16 px
    stop = threading.Event()
    threading.Timer(0.2, stop.set).start()
    with pytest.raises(Cancelled, match=r"stopped after \d+ of 33 candidate axes") as caught:
        scan(sino, candidates, stop)
    done = int(str(caught.value).split("after ")[1].split(" of")[0])
    assert 0 < done < 33 and done % SCAN_CHUNK == 0
    small = sino[:, 192:320]  # in chunks or in one call, the same slices
    axes = np.arange(60.0, 60.0 + SCAN_CHUNK + 3)
    np.testing.assert_allclose(scan(small, axes).slices, scan_slices(small, axes), rtol=1e-6, atol=1e-6)
    with pytest.raises(Cancelled):
        axis_by_scan(small, stop=stop)


def test_a_stop_ends_the_sample_that_sets_the_16_bit_scale(tmp_path):
    """`ufo reco --output-bits 16`: the slices that set the scale were reconstructed by a graph that
    nothing cancelled, so a Ctrl-C then took effect only after them (5.6 s late at 2048 px)."""
    import tifffile

    from ufo import reco
    from ufo.reco.outputs import with_output_scale
    from ufo.reco.running import graph

    rng = np.random.default_rng(0)
    tifffile.imwrite(tmp_path / "p.tif", (1000 + 100 * rng.random((90, 16, 64))).astype(np.float32))
    plan = reco.plan(reco.RecoOptions(projections=str(tmp_path / "p.tif"), axis="32", output_bits=16,
                                      output=str(tmp_path / "s.h5:/data"), gpus="cpu"))
    stop = threading.Event()
    assert with_output_scale(plan, 32.0, graph, stop).options.output_max is not None  # not stopped: a scale
    stop.set()
    with pytest.raises(Cancelled):
        with_output_scale(plan, 32.0, graph, stop)
