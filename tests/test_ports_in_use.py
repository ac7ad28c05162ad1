"""A server started on a port another one holds: one clear line and exit 2, not a ZMQ traceback
(`ufo camera serve`) nor omniORB's complaint and exit 0 as if it had run (`ufo tango`)."""

from __future__ import annotations

import socket
import subprocess
import sys

import pytest


@pytest.fixture
def taken():
    """A port something listens on (127.0.0.1)."""
    with socket.socket() as held:
        held.bind(("127.0.0.1", 0))
        held.listen()
        yield held.getsockname()[1]


def run_ufo(*args):
    return subprocess.run([sys.executable, "-m", "ufo", *args], capture_output=True, text=True, timeout=120)


def test_camera_server_on_a_taken_port(taken):
    run = run_ufo("camera", "serve", "mock", "--port", str(taken))
    assert run.returncode == 2 and "Traceback" not in run.stderr
    assert f"camera server: cannot listen on 127.0.0.1:{taken}" in run.stderr and "--port" in run.stderr


def test_tango_server_on_a_taken_port(taken):
    pytest.importorskip("tango")
    run = run_ufo("tango", "motor", "--port", str(taken))
    assert run.returncode == 2 and "Traceback" not in run.stderr
    assert f"cannot listen on 127.0.0.1:{taken} (Address already in use)" in run.stderr


def test_gui_on_a_taken_port_or_a_host_of_no_machine(taken):
    """The GUI printed its URL, then uvicorn's own error, and exited 3."""
    pytest.importorskip("uvicorn")
    run = run_ufo("gui", "--port", str(taken))
    assert run.returncode == 2 and "Traceback" not in run.stderr and "http://" not in run.stderr
    assert f"cannot listen on 127.0.0.1:{taken} (Address already in use)" in run.stderr
    run = run_ufo("gui", "--host", "256.1.1.1", "--port", str(taken))
    assert run.returncode == 2 and "--host 256.1.1.1: not a name or address of this machine" in run.stderr
