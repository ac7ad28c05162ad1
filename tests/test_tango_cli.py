"""`ufo tango`'s options refused before a server starts (real processes)."""

from __future__ import annotations

import subprocess
import sys

import pytest

pytest.importorskip("tango")

from .test_tango import free_port  # noqa: E402


@pytest.mark.parametrize("args, said", [
    (["walker", "--root", "{file}"], "walker root '{file}': cannot make the folder"),  # a traceback, exit 0
    (["walker", "--root", "/dev/null"], "walker root '/dev/null': cannot make the folder"),
    (["camera", "--stream-timeout", "nan"], "'nan' is not a finite number"),  # a NaN deadline never ends
    (["camera", "--stream-timeout", "-5"], "--stream-timeout"),
    (["motor", "--device", "bad name"], "a Tango device is named domain/family/member"),  # Tango's dump, exit 1
    (["motor", "--instance", ""], "a server instance is one word"),
    (["motor", "--root", "{tmp}"], "--root: not an option of the motor server"),  # ignored without a word
])
def test_bad_server_options_are_usage_errors_before_the_server_starts(tmp_path, args, said):
    (tmp_path / "proj.tif").write_bytes(b"II*\0")
    values = {"file": str(tmp_path / "proj.tif"), "tmp": str(tmp_path)}
    result = subprocess.run([sys.executable, "-m", "ufo", "tango", *[a.format(**values) for a in args], "--port",
                             str(free_port())], capture_output=True, text=True, timeout=60)
    assert result.returncode == 2 and said.format(**values) in result.stderr, result.stderr
    assert "Traceback" not in result.stderr
