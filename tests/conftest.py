from __future__ import annotations

import threading

import pytest

from . import exit_guard


@pytest.fixture
def no_leftover_threads():
    """Fail if a test leaves ufo worker threads running."""
    before = {t.ident for t in threading.enumerate()}
    yield
    left = [t.name for t in threading.enumerate() if t.ident not in before and t.name.startswith("ufo:")]
    assert not left, f"threads left behind: {left}"


def pytest_configure(config: pytest.Config) -> None:
    exit_guard.mark_environment()


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    session.config.stash[_STATUS] = int(exitstatus)


def pytest_unconfigure(config: pytest.Config) -> None:
    exit_guard.kill_strays()
    exit_guard.exit_watchdog(config.stash.get(_STATUS, 1))


_STATUS = pytest.StashKey[int]()
