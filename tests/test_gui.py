"""The web GUI against a live server on 127.0.0.1: its API with real HTTP, and the pages in a
real browser (Debian's chromium driven by Playwright) on a simulated scan with a known phantom."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import threading
import time

import numpy as np
import pytest
import tifffile

httpx = pytest.importorskip("httpx")
pytest.importorskip("fastapi")
uvicorn = pytest.importorskip("uvicorn")

from ufo.gui.app import create_app  # noqa: E402
from ufo.tomo.phantom import Phantom  # noqa: E402

from .reference import assert_matches, line_integrals  # noqa: E402

N_PIX, ROWS, ANGLES = 96, 8, 180
TRUE_AXIS = N_PIX / 2 + 3.4
MU = 0.02
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
SHOTS = os.environ.get("UFO_GUI_SCREENSHOTS")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def root(tmp_path_factory):
    root = tmp_path_factory.mktemp("gui")
    rng = np.random.default_rng(2)
    phantom = Phantom(N_PIX, height=ROWS)
    dark = 100 + 5 * rng.random((ROWS, N_PIX))
    gain = 2000 + 200 * rng.random((ROWS, N_PIX))
    frames = [dark + gain * np.exp(-MU * phantom.projection(a, axis=TRUE_AXIS)) for a in np.arange(ANGLES) * np.pi / ANGLES]
    tifffile.imwrite(root / "proj.tif", np.stack(frames).astype(np.float32), photometric="minisblack")
    tifffile.imwrite(root / "darks.tif", np.stack([dark] * 3).astype(np.float32), photometric="minisblack")
    tifffile.imwrite(root / "flats.tif", np.stack([dark + gain] * 3).astype(np.float32), photometric="minisblack")
    return root


class Server:
    """A live server; the GUI wants its per-start token on loopback too (as Jupyter does):
    `get`/`post` send it, `page_url` is the URL `ufo gui` prints."""

    def __init__(self, root, token=None):
        self.port = free_port()
        app = create_app(str(root), token)
        self.token = app.state.token
        config = uvicorn.Config(app, host="127.0.0.1", port=self.port, log_level="warning")
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)
        self.thread.start()
        deadline = time.monotonic() + 20
        while not self.server.started:
            assert time.monotonic() < deadline, "gui server did not start"
            time.sleep(0.05)
        self.url = f"http://127.0.0.1:{self.port}"
        self.page_url = f"{self.url}/?token={self.token}"

    def get(self, url, headers=None, **kw):
        return httpx.get(url, headers={"Authorization": f"token {self.token}", **(headers or {})}, **kw)

    def post(self, url, headers=None, **kw):
        return httpx.post(url, headers={"Authorization": f"token {self.token}", **(headers or {})}, **kw)

    def stop(self):
        self.server.should_exit = True
        self.thread.join(10)


@pytest.fixture(scope="module")
def server(root):
    server = Server(root)
    yield server
    server.stop()


FORM = {"projections": "proj.tif", "darks": "darks.tif", "flats": "flats.tif", "output": "out/slice-%03i.tif",
        "filter": "ramp", "overwrite": True}


def truth(row: int) -> np.ndarray:
    return MU * Phantom(N_PIX, height=ROWS).slice(z=row - ROWS / 2)


def assert_slice_right(image: np.ndarray, root, row: int, axis: float) -> None:
    """The phantom's slice, as close as scikit-image's FBP of the same files at the same axis; a
    mirrored, shifted, scaled or constant slice fails the same tolerance (tests/reference.py)."""
    proj, darks, flats = (tifffile.imread(root / name)[:, row] for name in ("proj.tif", "darks.tif", "flats.tif"))
    assert_matches(image, truth(row), line_integrals(proj, darks, flats), np.arange(ANGLES) * np.pi / ANGLES, axis)


def decode(image: dict) -> np.ndarray:
    import base64

    return np.frombuffer(base64.b64decode(image["data"]), np.float32).reshape(image["shape"])


def test_schema_validation_and_the_file_browser(server):
    schema = server.get(f"{server.url}/api/schema").json()
    names = [f["name"] for f in schema["fields"]]
    for name in ("region", "projections", "absorption", "darks", "flats", "method", "axis", "offset", "angle",
                 "crop_width", "output", "show_images", "gpu_only", "filter", "energy", "remove_stripes"):
        assert name in names
    errors = server.post(f"{server.url}/api/validate", json={**FORM, "projections": "missing/"}).json()["errors"]
    assert "projections" in errors and "missing" in errors["projections"]
    errors = server.post(f"{server.url}/api/validate", json={**FORM, "axis": "left"}).json()["errors"]
    assert errors == {"axis": "axis: 'left' is not a number"}
    assert server.post(f"{server.url}/api/validate", json=FORM).json()["errors"] == {}
    listing = server.get(f"{server.url}/api/files").json()
    assert {"proj.tif", "darks.tif", "flats.tif"} <= {e["name"] for e in listing["entries"]}
    assert server.get(f"{server.url}/api/files", params={"path": ".."}).status_code == 403
    assert server.post(f"{server.url}/api/validate", json={**FORM, "projections": "/etc/passwd"}).status_code == 403


def test_axis_view_run_and_slices_over_http(server, root):
    view = server.post(f"{server.url}/api/axis", json=FORM, timeout=60).json()
    assert abs(view["estimate"] - TRUE_AXIS) < 0.3 and abs(view["best"] - TRUE_AXIS) < 0.3
    assert view["p0"]["shape"] == [ROWS, N_PIX] and len(view["candidates"]) >= 5
    run = server.post(f"{server.url}/api/runs", json={**FORM, "axis": f"{view['best']:.2f}"}, timeout=60).json()
    deadline = time.monotonic() + 60
    while (state := server.get(f"{server.url}/api/runs/{run['id']}").json())["state"] not in ("done", "failed"):
        assert time.monotonic() < deadline
        time.sleep(0.1)
    assert state["state"] == "done" and state["percent"] == 100.0, state
    image = server.get(f"{server.url}/api/runs/{run['id']}/slices/4").json()
    assert image["count"] == ROWS and sum(image["histogram"]) > 0
    assert_slice_right(decode(image), root, 4, float(f"{view['best']:.2f}"))
    assert server.get(f"{server.url}/api/runs/{run['id']}/slices/99").status_code == 400


def test_settings_are_the_config_file_of_ufo_reco(server, root, tmp_path):
    """Saved with absolute paths: `ufo reco --config` reads paths relative to its working folder,
    which is seldom the GUI's root (they were written as typed, relative to the root, and the
    command failed elsewhere: "'proj.tif' does not exist"). Loaded back relative to the root."""
    saved = server.post(f"{server.url}/api/config/save", json={"path": "mine.toml", "values": {**FORM, "axis": "51.4"}})
    assert saved.status_code == 200
    text = (root / "mine.toml").read_text()
    assert text.startswith("[reco]") and f'projections = "{root / "proj.tif"}"' in text
    loaded = server.post(f"{server.url}/api/config/load", json={"path": "mine.toml"}).json()["values"]
    assert loaded["axis"] == "51.4" and loaded["projections"] == "proj.tif"
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    done = subprocess.run([sys.executable, "-m", "ufo", "reco", "--config", str(root / "mine.toml"), "--dry-run"],
                          cwd=elsewhere, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert "slices: 8" in done.stdout and str(root / "out") in done.stdout


def test_a_token_guards_a_server_bound_for_others(root):
    server = Server(root, token="s3cret")
    try:
        assert httpx.get(f"{server.url}/api/schema").status_code == 403
        assert httpx.get(f"{server.url}/api/schema", params={"token": "wrong"}).status_code == 403
        response = httpx.get(f"{server.url}/", params={"token": "s3cret"})
        cookie = f"ufo_token-{server.port}"  # one per server: two GUIs on one host keep their own
        assert response.status_code == 200 and cookie in response.cookies
        assert httpx.get(f"{server.url}/api/schema", cookies={cookie: "s3cret"}).status_code == 200
    finally:
        server.stop()


@pytest.mark.skipif(CHROMIUM is None, reason="needs chromium (apt-get install chromium; .ci/run installs it)")
def test_the_pages_in_a_real_browser(server, root, tmp_path):
    playwright = pytest.importorskip("playwright.sync_api")
    shots = SHOTS or str(tmp_path)
    with playwright.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox", "--disable-gpu"])
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        page.goto(server.page_url)  # the URL ufo gui prints: ?token=, then a cookie
        page.click("#browse-projections")  # the file browser lists the root and fills the field
        page.click("#file-browser .file:text-is('proj.tif')")
        assert page.input_value("#field-projections") == "proj.tif"
        for name, value in (("darks", "darks.tif"), ("flats", "flats.tif"), ("output", "browser/slice-%03i.tif")):
            page.fill(f"#field-{name}", value)
        page.fill("#field-axis", "east")
        page.dispatch_event("#field-axis", "change")
        page.wait_for_selector("#error-axis:has-text('not a number')")
        page.fill("#field-axis", "")
        page.dispatch_event("#field-axis", "change")
        page.wait_for_selector("#form-status:has-text('ready')")
        page.screenshot(path=os.path.join(shots, "gui-form.png"), full_page=True)

        page.click("#tab-axis")
        page.click("#axis-compute")
        page.wait_for_selector("#axis-view:not([hidden])", timeout=60000)
        estimate = float(page.text_content("#axis-estimate"))
        assert abs(estimate - TRUE_AXIS) < 0.3
        page.click(".candidate.best")
        axis = float(page.input_value("#field-axis"))
        assert abs(axis - TRUE_AXIS) < 0.3
        page.screenshot(path=os.path.join(shots, "gui-axis.png"), full_page=True)

        page.click("#tab-run")
        page.click("#run-start")
        page.wait_for_selector("#run-percent:has-text('100 %')", timeout=60000)
        page.wait_for_selector("#viewer:not([hidden])", timeout=30000)
        page.fill("#slice-index", "4")
        page.dispatch_event("#slice-index", "input")
        page.wait_for_selector("#slice-label:has-text('row 4 (5 / 8)')")
        page.screenshot(path=os.path.join(shots, "gui-run.png"), full_page=True)
        browser.close()
    slices = tifffile.imread(sorted((root / "browser").glob("*.tif"))[4])
    assert_slice_right(slices, root, 4, axis)
    for name in ("gui-form.png", "gui-axis.png", "gui-run.png"):
        assert os.path.getsize(os.path.join(shots, name)) > 10_000


@pytest.mark.skipif(CHROMIUM is None, reason="needs chromium (apt-get install chromium; .ci/run installs it)")
def test_the_experiment_view_follows_a_scan_in_a_real_browser(tmp_path, monkeypatch):
    """A simulated tomography shown with `ufo.gui.serve`: the page's bar advances (seen mid-scan,
    where an addon holds the scan until the page showed it), the live frame is a frame of the scan,
    the latest slice comes from the online reconstruction."""
    import asyncio

    playwright = pytest.importorskip("playwright.sync_api")
    from ufo.control import Accumulator, Addon, OnlineReconstruction, SimulatedBeamline, Tomography
    from ufo.control.runinfo import RunRecord
    from ufo.gui.experiments import Board
    from ufo.gui.serve import serve

    monkeypatch.setenv("UFO_SESSIONS", str(tmp_path / "sessions"))
    board, ready, go, mid, done = Board(), threading.Event(), threading.Event(), threading.Event(), {}

    class Gate(Addon):  # holds the scan at its 10th projection until the page has shown a count mid-way
        async def consume(self, acquisition, frame):
            self.seen = getattr(self, "seen", 0) + (acquisition == "projections")
            if self.seen == 10:
                await asyncio.to_thread(mid.wait, 60)

    async def scan():
        async with SimulatedBeamline(width=48, height=4, axis_offset=1.0) as beamline:
            tomo = Tomography(beamline, None, projections=60, darks=2, flats=2, metadata={"sample": "gui sample"})
            record, frames = tomo.attach(RunRecord()), tomo.attach(Accumulator())
            reco = tomo.attach(OnlineReconstruction(axis=25.0))
            tomo.attach(Gate(queue_size=1))
            board.show(tomo, "tomo")
            ready.set()
            await asyncio.to_thread(go.wait, 60)
            await tomo.run()
            done.update(record=record, frames=frames, slices=reco.slices)

    worker = threading.Thread(target=asyncio.run, args=(scan(),), daemon=True)
    worker.start()
    assert ready.wait(60)
    gui = serve(board, str(tmp_path))
    try:
        with playwright.sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox", "--disable-gpu"])
            page = browser.new_page(viewport={"width": 1280, "height": 900})
            page.goto(gui.url)
            page.click("#tab-experiment")
            page.wait_for_selector("#exp-state[data-following='tomo']", state="attached")
            go.set()
            page.wait_for_function("window.expHistory.some((p) => p > 0 && p < 100)", timeout=60000)
            mid.set()
            page.wait_for_selector("#exp-percent:has-text('100 %')", timeout=60000)
            page.wait_for_selector("#exp-frame[data-index]", timeout=30000)
            page.wait_for_selector("#exp-slice-label:has-text('latest slice')", timeout=30000)
            page.wait_for_selector(".acquisition[data-name='projections'] span:has-text('60 / 60 [done]')")
            history = page.evaluate("window.expHistory")
            run_text = page.text_content("#exp-run")
            if SHOTS:
                page.screenshot(path=os.path.join(SHOTS, "gui-experiment.png"), full_page=True)
            browser.close()
        worker.join(60)
        assert history == sorted(history) and history[-1] == 100.0
        assert done["record"].info.run_id in run_text
        live = httpx.get(f"http://127.0.0.1:{gui.port}/api/experiments/tomo/frame",
                         headers={"Authorization": f"token {gui.app.state.token}"}).json()
        shown = decode(live)
        match = [f for name, fs in done["frames"].frames.items() for f in fs
                 if f.meta.get("image_key") == live["meta"]["image_key"] and f.meta.get("angle") == live["meta"].get("angle")]
        assert shown.shape == (4, 48) and match, live["meta"]
        np.testing.assert_array_equal(shown, np.asarray(match[-1], np.float32))
        latest = httpx.get(f"http://127.0.0.1:{gui.port}/api/experiments/tomo/slices",
                           headers={"Authorization": f"token {gui.app.state.token}"}).json()
        assert latest["count"] == 4 and latest["index"] == 2
        np.testing.assert_array_equal(decode(latest), np.asarray(done["slices"][2], np.float32))
    finally:
        go.set()
        mid.set()
        gui.stop()
