"""Where control keeps its files on a beamline computer: the sessions folder (`UFO_SESSIONS`,
default ~/.local/share/ufo/sessions) with the session files, their logs, the session locks
and the run counter. One function, so that sessions and run ids never disagree about it."""

from __future__ import annotations

import os
from pathlib import Path


def folder() -> Path:
    path = Path(os.environ.get("UFO_SESSIONS", Path.home() / ".local" / "share" / "ufo" / "sessions"))
    path.mkdir(parents=True, exist_ok=True)
    return path
