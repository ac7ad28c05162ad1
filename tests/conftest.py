from __future__ import annotations

import threading

import pytest


@pytest.fixture
def no_leftover_threads():
    """Fail if a test leaves ufo worker threads running."""
    before = {t.ident for t in threading.enumerate()}
    yield
    left = [t.name for t in threading.enumerate() if t.ident not in before and t.name.startswith("ufo:")]
    assert not left, f"threads left behind: {left}"
