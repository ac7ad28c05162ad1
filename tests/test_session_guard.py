"""The session guard with real processes: a second session driving the same devices is refused
with the first one's name and pid; a lock left by a killed session is taken over, and said so."""

from __future__ import annotations

import os
import signal
import subprocess
import sys

import pytest

from ufo.control.session import SessionBusyError, claim, lock_key

HOLD = """
import sys
from ufo.control.session import claim
lock = claim(*sys.argv[2:], session=sys.argv[1])
print("ready", flush=True)
sys.stdin.readline()
"""


@pytest.fixture
def sessions(tmp_path, monkeypatch):
    monkeypatch.setenv("UFO_SESSIONS", str(tmp_path))
    return tmp_path


def hold(session, *names):
    """A real process that claims `names` for `session` and holds them until its stdin closes."""
    proc = subprocess.Popen([sys.executable, "-c", HOLD, session, *names], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=dict(os.environ))
    assert proc.stdout.readline().strip() == "ready", proc.stderr.read()
    return proc


def test_a_second_session_is_refused_naming_the_first_and_takes_over_after_it_died(sessions):
    first = hold("alpha", "id19-rotation", "id19-camera")
    try:
        with pytest.raises(SessionBusyError) as refused:
            claim("id19-camera", "id19-shutter", session="beta")
        message = str(refused.value)
        assert "'id19-camera' is driven by session 'alpha'" in message and f"pid {first.pid}" in message
        assert "end that session first" in message
        # nothing stays locked after a refusal: the shutter is free for a third session
        claim("id19-shutter", session="gamma").release()
        # another process is refused the same way (the check is not per process)
        other = subprocess.run([sys.executable, "-c", HOLD, "delta", "id19-rotation"], capture_output=True,
                               text=True, input="")
        assert other.returncode != 0 and "driven by session 'alpha'" in other.stderr
    finally:
        first.send_signal(signal.SIGKILL)  # a crash: no release, the lock file keeps alpha's pid
        first.wait()
    lock = claim("id19-rotation", "id19-camera", session="beta")
    try:
        assert len(lock.taken_over) == 2
        assert "stale lock of 'id19-rotation' from session 'alpha'" in lock.taken_over[0]
        assert f"pid {first.pid}, no longer running" in lock.taken_over[0]
    finally:
        lock.release()
    again = claim("id19-rotation", session="beta")  # a released lock is no stale one
    assert again.taken_over == []
    again.release()


def test_released_locks_let_the_next_session_in_without_a_warning(sessions):
    first = hold("alpha", "tomo-stage")
    first.stdin.close()  # the session ends normally and releases its lock
    assert first.wait() == 0
    lock = claim("tomo-stage", session="beta")
    assert lock.taken_over == [] and lock.keys == ["tomo-stage"]
    lock.release()


def test_lock_names_of_devices_and_beamlines():
    from ufo.control import LinearMotor, SimulatedBeamline

    class Remote:
        name = "x"
        backend = type("B", (), {"address": "tango://host:10000/ufo/motor/1"})()

    assert lock_key("bl") == ["bl"] and lock_key(LinearMotor("sample-x")) == ["sample-x"]
    assert lock_key(Remote()) == ["tango://host:10000/ufo/motor/1"]  # a remote device by its address
    Remote.backend.address = "tango://localhost:10000/UFO/Motor/1"  # one device, spelled otherwise: one lock
    assert lock_key(Remote()) == ["tango://127.0.0.1:10000/ufo/motor/1"]
    beamline = SimulatedBeamline(width=8, height=2)
    assert lock_key(beamline) == [device.name for device in beamline.devices]  # each of its devices
    assert {"rotation", "shutter", "camera"} <= set(lock_key(beamline))


def test_two_ufo_sessions_on_one_beamline(sessions):
    """`ufo session start` twice: the template claims the beamline; the second exits with the first's name."""
    env = dict(os.environ, UFO_SESSIONS=str(sessions))
    ufo = [sys.executable, "-m", "ufo", "session"]
    for name in ("first", "second"):
        assert subprocess.run(ufo + ["init", name], env=env, capture_output=True).returncode == 0
    path = sessions / "first.py"
    path.write_text(path.read_text() + "import sys\nprint('ready', flush=True)\nsys.stdin.readline()\n")
    first = subprocess.Popen(ufo + ["start", "first", "--non-interactive"], env=env, stdin=subprocess.PIPE,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert first.stdout.readline().strip() == "ready", first.stderr.read()
        second = subprocess.run(ufo + ["start", "second", "--non-interactive"], env=env, capture_output=True,
                                text=True, timeout=120)
        assert second.returncode == 2, second.stderr
        assert "driven by session 'first'" in second.stderr and f"pid {first.pid}" in second.stderr
        assert "Traceback" not in second.stderr
    finally:
        first.stdin.close()
        first.wait(60)
    assert first.returncode == 0


def test_a_killed_session_s_lock_taken_over_is_said_on_the_terminal(sessions):
    """After `kill -9` of a session the next one takes over its locks: said in the session's log only."""
    import signal

    env = dict(os.environ, UFO_SESSIONS=str(sessions))
    ufo = [sys.executable, "-m", "ufo", "session"]
    assert subprocess.run(ufo + ["init", "tomo"], env=env, capture_output=True).returncode == 0
    path = sessions / "tomo.py"
    template = path.read_text()
    path.write_text(template + "import sys\nprint('ready', flush=True)\nsys.stdin.readline()\n")
    first = subprocess.Popen(ufo + ["start", "tomo", "--non-interactive"], env=env, stdin=subprocess.PIPE,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert first.stdout.readline().strip() == "ready", first.stderr.read()
    first.send_signal(signal.SIGKILL)
    first.communicate(timeout=60)
    path.write_text(template)
    again = subprocess.run(ufo + ["start", "tomo", "--non-interactive"], env=env, capture_output=True, text=True,
                           timeout=120)
    assert again.returncode == 0, again.stderr
    assert "warning: took over the stale lock of" in again.stderr and f"(pid {first.pid}, no longer running)" in again.stderr
