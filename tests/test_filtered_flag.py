"""Filtering said once: the `filter` task marks its output `filtered`, and `backproject` / `dfi-sinc`
filter only input that is not marked, so a UFO-style chain equals the short form (real graphs)."""

from __future__ import annotations

import numpy as np
import pytest
import tifffile

import ufo
from ufo.tomo.phantom import Phantom

N, ANGLES, ROWS = 96, 150, 3
AXIS = N / 2 + 1.5
MASK = np.hypot(*(np.mgrid[:N, :N] - N / 2)) < 0.45 * N


@pytest.fixture(scope="module")
def sinograms(tmp_path_factory):
    """Three phantom sinograms in one TIFF stack, and the phantom slices they come from."""
    phantom = Phantom(N, height=ROWS + 2)
    angles = np.arange(ANGLES) * np.pi / ANGLES
    zs = np.arange(ROWS) - ROWS / 2
    sinos = np.stack([phantom.sinogram(angles, axis=AXIS, z=z) for z in zs]).astype(np.float32)
    path = tmp_path_factory.mktemp("sinos") / "sinos.tif"
    tifffile.imwrite(path, sinos, photometric="minisblack")
    truth = np.stack([phantom.slice(z=z) for z in zs])
    return str(path), truth


def rmse(a, b):
    return float(np.sqrt(np.mean((a - b)[..., MASK] ** 2)))


def read(path):
    return ufo.Reader(path=path)()


def test_ufo_chain_equals_short_form_and_both_match_the_phantom(sinograms):
    path, truth = sinograms
    short = ufo.Backproject(axis=AXIS)(read(path)).collect()
    spectra = ufo.Filter()(ufo.Fft()(read(path)))
    chain = ufo.Backproject(axis=AXIS)(ufo.Ifft(crop_width=N)(spectra)).collect()
    fused = ufo.Backproject(axis=AXIS)(ufo.Filter()(read(path))).collect()
    scale = float(np.abs(short).max())
    assert np.abs(chain - short).max() < 1e-4 * scale
    assert np.abs(fused - short).max() < 1e-4 * scale
    error = rmse(short, truth)
    assert error < 0.15 * float(np.abs(truth).max())  # a reconstruction, not noise
    assert rmse(chain, truth) < 1.01 * error
    # what the chain gave before the flag: filtered twice, clearly wrong (so this test can fail)
    twice = ufo.Backproject(axis=AXIS, filter="none")(ufo.Filter()(ufo.Filter()(read(path)))).collect()
    assert rmse(twice, truth) > 2 * error
    assert np.abs(twice - short).max() > 0.1 * scale


def test_dfi_skips_its_filter_on_filtered_input(sinograms):
    path, _ = sinograms
    short = ufo.DfiSinc(axis=AXIS)(read(path)).collect()
    chain = ufo.DfiSinc(axis=AXIS)(ufo.Ifft(crop_width=N)(ufo.Filter()(ufo.Fft()(read(path))))).collect()
    assert np.abs(chain - short)[..., MASK].max() < 1e-3 * float(np.abs(short).max())


def test_filter_none_still_means_none_and_is_not_marked(sinograms):
    path, _ = sinograms
    frames = list(ufo.Filter(filter="none")(read(path)))
    assert all(not f.meta.get("filtered") for f in frames)
    marked = list(ufo.Ifft(crop_width=N)(ufo.Filter()(ufo.Fft()(read(path)))))
    assert all(f.meta.get("filtered") is True for f in marked)  # ifft keeps the flag
    raw = ufo.Backproject(axis=AXIS, filter="none")(read(path)).collect()
    short = ufo.Backproject(axis=AXIS)(read(path)).collect()
    assert np.abs(raw - short).max() > 0.1 * float(np.abs(short).max())


def test_explicit_filter_on_filtered_input_warns_once(sinograms, tmp_path):
    path, _ = sinograms
    handle = ufo.Writer(path=str(tmp_path / "s.tif"))(
        ufo.Backproject(axis=AXIS, filter="shepp-logan", replicas=2)(ufo.Filter()(read(path)))).run()
    handle.wait()
    warned = [w for w in handle.warnings if "already filtered" in w]  # once, whatever the replicas or GPU streams
    assert len(warned) == 1 and "filter=shepp-logan was skipped" in warned[0]
    quiet = ufo.Writer(path=str(tmp_path / "q.tif"))(ufo.Backproject(axis=AXIS)(ufo.Filter()(read(path)))).run()
    quiet.wait()
    assert not [w for w in quiet.warnings if "already filtered" in w]  # the default filter: the ordinary chain


def test_filter_scale_scales_both_ways_of_filtering(sinograms):
    """`filter scale=2` (UFO's scale) on real rows ran as far as the graph's start and failed ("applies to fft
    output"); it scales the fused filter now as it scales the one on fft output."""
    path, _ = sinograms
    plain = ufo.Filter()(read(path)).collect()
    fused = ufo.Filter(scale=2.0)(read(path)).collect()
    chain = ufo.Ifft(crop_width=N)(ufo.Filter(scale=2.0)(ufo.Fft()(read(path)))).collect()
    scale = float(np.abs(plain).max())
    np.testing.assert_allclose(fused, 2 * plain, atol=1e-6 * scale)
    np.testing.assert_allclose(chain, 2 * plain, atol=1e-4 * scale)
    assert np.abs(fused - plain).max() > 0.5 * scale  # the comparison can fail
