"""Where control keeps its files on a beamline computer: the sessions folder (`UFO_SESSIONS`,
default ~/.local/share/ufo/sessions) with the session files, their logs, the session locks
and the run counter. One function, so that sessions and run ids never disagree about it."""

from __future__ import annotations

import os
from pathlib import Path

from ..core.errors import UsageError


def folder() -> Path:
    """The sessions folder, made if need be; a place that cannot be one (`HOME=/dev/null`,
    `UFO_SESSIONS` naming a file) is named with the variable that sets it (a traceback before)."""
    given = os.environ.get("UFO_SESSIONS")
    if given is not None and not given.strip():
        raise UsageError("UFO_SESSIONS is set but empty; set it to the sessions folder, or unset it for "
                         "~/.local/share/ufo/sessions")
    path = Path(given) if given else Path.home() / ".local" / "share" / "ufo" / "sessions"
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise UsageError(f"the sessions folder '{path}' cannot be made ({err.strerror}); set UFO_SESSIONS to a "
                         "folder you can write" + ("" if given else " (or HOME)")) from err
    return path
