"""Error types.

Two families matter to users: *usage* errors (the request itself is wrong: unknown task or
property, bad value, pipeline syntax, shapes that cannot connect) which the CLI reports with
exit code 2, and *runtime* errors (a file vanished, a task raised while frames flowed),
reported with exit code 1. Every message names the thing at fault and says how to fix it.
"""

from __future__ import annotations

import contextlib
import difflib
from collections.abc import Iterable, Iterator


class UfoError(Exception):
    """Base of every error ufo raises on purpose."""


class UsageError(UfoError):
    """The request is wrong; fixing the command or code fixes it (CLI exit code 2)."""


class UnknownTaskError(UsageError):
    pass


class PropertyError(UsageError):
    pass


class PipelineSyntaxError(UsageError):
    pass


class GraphError(UsageError):
    """A graph cannot run as built: missing inputs, cycles, shapes that do not connect."""


class InputError(UfoError):
    """Data that ufo was asked to read is missing, unreadable or malformed."""


class MissingInput(InputError, UsageError):
    """An input path that names no frames (a glob matching nothing, a folder without frame files): a
    path to fix, exit 2 as a path that does not exist (a glob matching nothing exited 1, as a failed run)."""


class TaskError(UfoError):
    """A task failed while the graph ran; names the node and keeps the original cause."""

    def __init__(self, node: str, cause: BaseException):
        self.node = node
        self.cause = cause
        super().__init__(f"task '{node}' failed: {type(cause).__name__}: {cause}")


class Cancelled(UfoError):
    """The run was cancelled (by `cancel()`, Ctrl-C or an error elsewhere in the graph)."""


@contextlib.contextmanager
def ctrl_c_kept() -> Iterator[None]:
    """Around a wait on a lock's condition in the main thread (`threading.Event.wait`, a
    `Condition` in `with`): Ctrl-C stays a KeyboardInterrupt.

    Why: `Condition.wait` gives its lock up and then enters the `try` that takes it back; a Ctrl-C
    landing between the two leaves the lock not held, and the `with` around the wait then fails
    "RuntimeError: cannot release un-acquired lock" (a Lock's: "release unlocked lock") instead
    (a camera grab stopped by SIGINT: 1 in 40 runs, exit 1)."""
    try:
        yield
    except RuntimeError as exc:
        ctrl_c = exc.__context__
        if isinstance(ctrl_c, KeyboardInterrupt) and ("un-acquired" in str(exc) or "unlocked" in str(exc)):
            raise ctrl_c from None
        raise


def suggest(name: str, choices: Iterable[str], n: int = 3) -> str:
    """A ' Did you mean ...?' hint, or '' when nothing is close."""
    close = difflib.get_close_matches(name, list(choices), n=n, cutoff=0.6)
    if not close:
        return ""
    return " Did you mean " + " or ".join(f"'{c}'" for c in close) + "?"
