"""Warnings told to a Python caller at the line of their own code that led to them.

Why: a run's warnings (frames a `stack` or `transpose-projections` dropped, inputs of unequal
length, a UFO spelling taken with UFO's meaning) lived only in `RunHandle.warnings`, which
`ufo run` prints but `for frame in stream`, `stream.collect()` and `run().wait()` never showed: a
script lost frames without a word. And `warnings.warn` with a fixed stacklevel names a line
inside ufo ("tell_cpu_fallback(_why_none())" under every script's "no GPU" note). Here the
warning is attributed to the first frame outside the ufo package, as Python 3.12's
`skip_file_prefixes` does; the user's filters (-W, catch_warnings) still decide what is shown.
"""

from __future__ import annotations

import os
import sys
import warnings

_PACKAGE = os.path.dirname(os.path.dirname(os.path.abspath(__file__))) + os.sep


class RunWarning(UserWarning):
    """Something a run did that its caller should know (frames dropped, inputs cut short, ...):
    the text of one of `RunHandle.warnings`. The `ufo` commands print those themselves."""


def tell(message: str, category: type[Warning] = RunWarning) -> None:
    """`warnings.warn(message, category)` attributed to the caller's own code outside ufo."""
    level, frame = 2, sys._getframe(1)  # 2: the caller of this function
    while frame is not None and frame.f_code.co_filename.startswith(_PACKAGE):
        frame = frame.f_back
        level += 1
    warnings.warn(message, category, stacklevel=level)
