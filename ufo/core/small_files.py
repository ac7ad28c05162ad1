"""Files a user names for settings (a config, a JSON graph, a list of angles): read whole, so they
must be regular files of a size such a file has. `--json /dev/zero` grew to 24 GB before the
kernel killed it, `--config /dev/zero` ended in a MemoryError traceback, a FIFO hung for good."""

from __future__ import annotations

import os
import stat

from .errors import UsageError

#: more than any config, graph or angle list holds (a million angles as text: about 20 MB)
MAX_BYTES = 256 << 20


def check_small_file(path: str | os.PathLike[str], what: str) -> None:
    """UsageError naming `what` unless `path` is a regular file of at most MAX_BYTES."""
    try:
        info = os.stat(path)
    except OSError as err:
        raise UsageError(f"cannot read {what} '{os.fspath(path)}': {err.strerror}") from err
    if not stat.S_ISREG(info.st_mode):
        kind = "a folder" if stat.S_ISDIR(info.st_mode) else "a device, a pipe or a socket"
        raise UsageError(f"{what} '{os.fspath(path)}' is {kind}, not a file; give the file itself")
    if info.st_size > MAX_BYTES:
        raise UsageError(f"{what} '{os.fspath(path)}' is {info.st_size} bytes, more than such a file holds "
                         f"({MAX_BYTES >> 20} MiB); is it the right file?")


def check_report_file(path: str, option: str) -> None:
    """A file a command writes at its end (a trace, a graph, benchmark figures): a name, in a folder
    that is there and writable. Checked before the work, which a bad name threw away at the end
    ("[Errno 2] No such file or directory" after the whole benchmark), or was ignored ('')."""
    if not path.strip():
        raise UsageError(f"{option} '': give a file name")
    folder = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(folder):
        raise UsageError(f"{option} '{path}': the folder '{folder}' is not there; make it or choose another file")
    if not os.access(folder, os.W_OK | os.X_OK):
        raise UsageError(f"{option} '{path}': the folder '{folder}' is not writable; choose another file")
