"""Sessions (`ufo session`): a script run non-interactively, Ctrl-C in one, and an interactive prompt,
each in a real subprocess."""

from __future__ import annotations

import re

import pytest


def test_a_session_runs_non_interactively(tmp_path):
    import subprocess
    import sys

    env = dict(__import__("os").environ, UFO_SESSIONS=str(tmp_path))
    ufo_cmd = [sys.executable, "-m", "ufo", "session"]
    assert subprocess.run(ufo_cmd + ["init", "demo"], env=env, capture_output=True).returncode == 0
    session_file = tmp_path / "demo.py"
    session_file.write_text(session_file.read_text() + (
        f"scan = Tomography(beamline, walker({str(tmp_path / 'data')!r}), projections=8, darks=1, flats=1)\n"
        "scan.attach(ImageWriter())\n"
        "print('wrote', await scan.run())\n"
        "await beamline.rotation.set_position(10 * q.deg)\n"))
    result = subprocess.run(ufo_cmd + ["start", "demo", "--non-interactive"], env=env, capture_output=True,
                            text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert "wrote scan_0000" in result.stdout and (tmp_path / "data" / "scan_0000" / "scan.nx").exists()
    log = subprocess.run(ufo_cmd + ["log", "demo"], env=env, capture_output=True, text=True).stdout
    assert "rotation: set position = 10 degree" in log
    assert subprocess.run(ufo_cmd + ["list"], env=env, capture_output=True, text=True).stdout.split() == ["demo"]
    missing = subprocess.run(ufo_cmd + ["start", "nope", "--non-interactive"], env=env, capture_output=True, text=True)
    assert missing.returncode == 2 and "ufo session init nope" in missing.stderr
    for line, said in (("x = 1 / 0", "ZeroDivisionError: division by zero"), ("raise ValueError('boom')", "boom")):
        (tmp_path / "bad.py").write_text(f"a = 1\n{line}\n")  # a traceback through asyncio, or no place at all
        bad = subprocess.run(ufo_cmd + ["start", "bad", "--non-interactive"], env=env, capture_output=True, text=True)
        assert bad.returncode == 1 and "Traceback" not in bad.stderr, bad.stderr
        assert "bad.py', line 2: " in bad.stderr and said in bad.stderr, bad.stderr


def test_ctrl_c_in_a_session_stops_devices_and_keeps_files(tmp_path):
    import os
    import signal
    import subprocess
    import sys
    import time

    import ufo

    env = dict(os.environ, UFO_SESSIONS=str(tmp_path))
    (tmp_path / "long.py").write_text(
        "from ufo.control import SimulatedBeamline, Tomography, ImageWriter\n"
        "from ufo.storage.walker import walker\n"
        "beamline = await SimulatedBeamline(width=32, height=4).connect()\n"
        f"scan = Tomography(beamline, walker({str(tmp_path / 'data')!r}), projections=100000, darks=1, flats=1)\n"
        "scan.attach(ImageWriter())\n"
        "try:\n"
        "    await scan.run()\n"
        "finally:\n"
        "    print('shutter', beamline.shutter.state, 'state', scan.state, flush=True)\n")
    proc = subprocess.Popen([sys.executable, "-m", "ufo", "session", "start", "long", "--non-interactive"], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    path = tmp_path / "data" / "scan_0000" / "scan.nx"
    deadline = time.time() + 60
    while time.time() < deadline and not path.exists():
        time.sleep(0.05)
    time.sleep(1.0)
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    assert "shutter closed state cancelled" in out
    taken = len(ufo.Reader(path=str(path))().collect())
    assert taken > 2
    # where the frames went and how many (it said 'interrupted' alone)
    said = re.search(r"scan_0000: stopped \(cancelled\) after darks 1 of 1, flats 1 of 1, projections (\d+) of 100000; "
                     r"the frames taken are in (\S+)", err)
    assert said and said.group(2) == str(tmp_path / "data" / "scan_0000"), err
    assert int(said.group(1)) + 2 >= taken, (said.group(1), taken)


def test_an_interactive_session_has_the_objects_and_autoawait(tmp_path):
    import os
    import subprocess
    import sys

    pytest.importorskip("IPython")
    env = dict(os.environ, UFO_SESSIONS=str(tmp_path))
    subprocess.run([sys.executable, "-m", "ufo", "session", "init", "live"], env=env, check=True, capture_output=True)
    typed = 'await beamline.rotation.set_position(30 * q.deg)\nprint("ANGLE", await beamline.rotation.get_position())\n'
    result = subprocess.run([sys.executable, "-m", "ufo", "session", "start", "live"], env=env, input=typed + "exit()\n",
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert "ANGLE 30.0 degree" in result.stdout and "SimulatedBeamline at" not in result.stdout
