"""The session guards of tests/exit_guard.py find a stray child and end a blocked exit."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import time

from . import exit_guard


def test_a_stray_child_is_found_by_its_marker_and_killed():
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        deadline = time.monotonic() + 10
        while child.pid not in [pid for pid, _ in exit_guard.stray_processes()] and time.monotonic() < deadline:
            time.sleep(0.05)
        assert child.pid in [pid for pid, _ in exit_guard.stray_processes()]
        exit_guard.kill_strays(only={child.pid})  # not a module fixture's server
        assert child.wait(timeout=10) == -9
    finally:
        child.kill()


def test_a_blocked_exit_ends_with_the_stacks_and_the_session_status():
    script = textwrap.dedent(f"""
        import sys, threading
        sys.path.insert(0, {os.path.dirname(os.path.dirname(__file__))!r})
        from tests import exit_guard
        exit_guard.EXIT_GRACE_S = 1.0
        threading.Thread(target=threading.Event().wait, name="blocked-for-ever").start()  # joined at exit: a hang
        exit_guard.exit_watchdog(3)
    """)
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60)
    assert result.returncode == 3
    assert "did not exit 1 s after the session" in result.stderr and "blocked-for-ever" in result.stderr
