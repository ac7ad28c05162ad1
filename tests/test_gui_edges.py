"""The GUI's edges found by a probe: a config of a path past the Basic Multilingual Plane, an IPv6
host in the printed URL, an axis view that a stopping server ends."""

from __future__ import annotations

import socket
import subprocess
import sys
import threading

import numpy as np
import pytest
import tifffile

from ufo.core.errors import Cancelled, UsageError
from ufo.reco import config
from ufo.reco.options import RecoOptions


@pytest.mark.parametrize("name", ["scan \U0001d6ff", "kr\u00e4ftig \u6570\u636e", 'quote " back\\slash', "del\x7fete"])
def test_a_config_of_any_path_is_read_back_as_written(tmp_path, name):
    """json.dumps wrote "\\ud835\\udeff" for U+1D6FF: no TOML (`ufo reco --config` exit 2)."""
    folder = tmp_path / name
    folder.mkdir()
    options = RecoOptions(projections=str(folder / "proj.tif"), output=str(folder / "out.tif"))
    path = tmp_path / "reco.toml"
    config.write(options, path)
    values, _ = config.load(path)
    assert values["projections"] == str(folder / "proj.tif") and values["output"] == str(folder / "out.tif")


def test_a_path_of_undecodable_bytes_is_refused_by_name(tmp_path):
    with pytest.raises(UsageError, match="no UTF-8 text"):
        config.dumps({"projections": "/data/scan\udcff/proj.tif"})


def _ipv6_loopback() -> bool:
    try:
        with socket.socket(socket.AF_INET6) as s:
            s.bind(("::1", 0))
        return True
    except OSError:
        return False


@pytest.mark.skipif(not _ipv6_loopback(), reason="no IPv6 loopback here")
def test_the_url_of_an_ipv6_host_has_its_brackets(tmp_path):
    pytest.importorskip("uvicorn")
    with socket.socket(socket.AF_INET6) as s:
        s.bind(("::1", 0))
        port = s.getsockname()[1]
    proc = subprocess.Popen([sys.executable, "-m", "ufo", "gui", "--host", "::1", "--port", str(port), "--root",
                             str(tmp_path), "--token", "abc"], stderr=subprocess.PIPE, text=True)
    try:
        line = proc.stderr.readline()
    finally:
        proc.terminate()
        proc.wait(60)
    assert f"http://[::1]:{port}/?token=abc" in line, line


def test_the_axis_view_ends_when_its_server_stops(tmp_path):
    """`ufo gui` stopped by Ctrl-C waited for an axis view to end (minutes at 2048 px on 2 cores):
    the view looks at the server's stop event between its candidates."""
    from ufo.gui import engine

    rng = np.random.default_rng(1)
    tifffile.imwrite(tmp_path / "p.tif", rng.random((720, 2, 1024), dtype=np.float32))
    stop = threading.Event()
    threading.Timer(1.0, stop.set).start()  # the whole view is many stacked back-projections of 1024^2
    with pytest.raises(Cancelled, match="stopped"):
        engine.axis_view({"projections": str(tmp_path / "p.tif"), "output": str(tmp_path / "o.tif")}, stop)
