"""The GUI on a scan that records a half acquisition (an NXtomo written by the `nxtomo` package).

The form's 'Half acquisition' was a checkbox: untouched it sent false, and the GUI reconstructed
the scan as a full field (a 256 px slice where `ufo reco` gave 452 px), without a word. Options of
three states (as the scan records, yes, no) are a choice of three now. The axis view searched a
full-field slice of the first half turn (its best 38 px off); a crop width was centred on the
detector's width, not the stitched slice's.
"""

from __future__ import annotations

import h5py
import numpy as np
import pytest

pytest.importorskip("httpx")
pytest.importorskip("fastapi")
pytest.importorskip("uvicorn")
nxtomo = pytest.importorskip("nxtomo")

from tests.test_gui import CHROMIUM, Server  # noqa: E402
from tests.test_gui_runs import page_of, wait_ended  # noqa: E402
from ufo.tomo.phantom import Phantom  # noqa: E402

W, H, N = 128, 4, 360
AXIS = W - 17.5  # near the right edge: a stitched slice of 2 x 110.5 + 1 = 222 px


@pytest.fixture(scope="module")
def root(tmp_path_factory):
    import pint
    from nxtomo.nxobject.nxdetector import ImageKey

    root = tmp_path_factory.mktemp("half")
    units = pint.get_application_registry()
    phantom = Phantom(W, height=H)
    angles = np.arange(N) * 360.0 / N
    frames = [np.full((H, W), 100.0), np.full((H, W), 4000.0)]
    frames += [100 + 3900 * np.exp(-0.02 * phantom.projection(np.radians(a), axis=AXIS)) for a in angles]
    nx = nxtomo.NXtomo()
    nx.instrument.detector.data = np.rint(np.stack(frames)).astype(np.uint16)
    nx.instrument.detector.image_key_control = [ImageKey.DARK_FIELD, ImageKey.FLAT_FIELD] + [ImageKey.PROJECTION] * N
    nx.sample.rotation_angle = np.concatenate([[0.0, 0.0], angles]) * units.degree
    nx.instrument.detector.x_pixel_size = 1e-6 * units.meter
    nx.instrument.detector.y_pixel_size = 1e-6 * units.meter
    nx.instrument.detector.half_acquisition = True
    nx.save(str(root / "half.nx"), data_path="entry0000")
    return root


@pytest.fixture(scope="module")
def server(root):
    server = Server(root)
    yield server
    server.stop()


def _run(server, root, **values):
    form = {"projections": "half.nx", "region": "2:3", "overwrite": True, **values}
    started = server.post(f"{server.url}/api/runs", json=form)
    assert started.status_code == 200, started.text
    state = wait_ended(server, started.json()["id"])
    assert state["state"] == "done", state
    with h5py.File(root / values["output"].split(":")[0]) as f:
        return f["data"][0]


def test_a_form_that_leaves_half_acquisition_open_takes_the_scan_s_record(server, root):
    as_recorded = _run(server, root, axis=str(AXIS), half_acquisition=None, output="rec.h5:/data")
    assert as_recorded.shape == (222, 222)  # stitched; a full field is 128 x 128
    full = _run(server, root, axis=str(AXIS), half_acquisition=False, output="full.h5:/data")
    assert full.shape == (W, W)
    cropped = _run(server, root, axis=str(AXIS), half_acquisition=None, crop_width="100", output="crop.h5:/data")
    start = (222 - 100) // 2  # the centre of the stitched slice, not of the detector (14)
    np.testing.assert_allclose(cropped, as_recorded[start:start + 100, start:start + 100], atol=1e-5)


def test_the_axis_view_of_a_half_acquisition_finds_its_axis(server):
    for axis in ("", "auto"):  # the axis field empty: the view finds it (refused before: "give --axis")
        view = server.post(f"{server.url}/api/axis", json={"projections": "half.nx", "axis": axis})
        assert view.status_code == 200, view.text
        found = view.json()
        assert abs(found["estimate"] - AXIS) < 0.3 and abs(found["best"] - AXIS) < 0.3, found  # 169.8 / 187.3 of 225.5


def test_use_gpu_exclusively_keeps_the_gpus_chosen():
    from ufo.gui import engine
    from ufo.reco.schema import OptionError

    assert engine.options({"gpus": "1", "gpu_only": True})[0].gpus == "1"
    assert engine.options({"gpu_only": True})[0].gpus == "all"
    with pytest.raises(OptionError, match="contradicts GPUs 'cpu'"):
        engine.options({"gpus": "cpu", "gpu_only": True})


@pytest.mark.skipif(CHROMIUM is None, reason="needs chromium (apt-get install chromium; .ci/run installs it)")
def test_options_of_three_states_are_sent_as_the_page_shows_them(server):
    with page_of(server) as page:
        values = page.evaluate("values()")
        assert values["half_acquisition"] is None and values["absorption"] is None  # untouched: as the scan says
        page.locator("#field-half_acquisition").select_option("false")
        page.locator("#field-absorption").select_option("true")
        values = page.evaluate("values()")
        assert values["half_acquisition"] is False and values["absorption"] is True
        page.evaluate("setValues({half_acquisition: null, absorption: false})")
        values = page.evaluate("values()")
        assert values["half_acquisition"] is None and values["absorption"] is False
        assert page.locator("#field-overwrite").get_attribute("type") == "checkbox"  # two states stay a checkbox
