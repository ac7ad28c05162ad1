"""An input file watched while it is read: cut short or rewritten since it was opened is an error.

Why: HDF5 reads the bytes past a file's end as zeros. An HDF5 scan truncated while `ufo run` or
`ufo reco` read it (a copy replaced in place, a disk cleaned up) gave zero frames and garbage
slices with exit 0, and one overwritten by another writer (`write overwrite=true` on the file
being read) mixed zeros into the output without a word; TIFF, raw and EDF readers already said
"truncated since it was opened". A stat after each read (a microsecond) tells: the file shorter
than when it was opened, or (a closed file) modified since. A file replaced by a rename is
another inode: the open one is still read whole, as it was.
"""

from __future__ import annotations

import os
from typing import TypeVar

from ..core.errors import InputError

T = TypeVar("T")


class FileWatch:
    """`check()` raises InputError where `path` was cut short or (unless `growing`: a writer in
    SWMR mode still adds to it) modified since this object was made."""

    def __init__(self, path: str, growing: bool = False):
        self.path = path
        self.growing = growing
        self._at = self._stat()

    def _stat(self) -> tuple[int, int, int] | None:
        try:
            found = os.stat(self.path)
        except OSError:  # removed: the open file is still read whole
            return None
        return found.st_ino, found.st_size, found.st_mtime_ns

    def check(self) -> None:
        now = self._stat()
        if self._at is None or now is None or now[0] != self._at[0]:
            return  # not watched, or removed or replaced by another file: the open one is read as it was
        if now[1] < self._at[1]:
            raise InputError(f"'{self.path}' was cut short while it was read ({self._at[1]} bytes when opened, now "
                             f"{now[1]}): another program truncated or rewrote it; frames past the cut would read as "
                             "zeros. Read it again once it is whole")
        if not self.growing and now[2] != self._at[2]:
            raise InputError(f"'{self.path}' was modified while it was read (another program wrote it): its frames "
                             "may mix the old and the new; read it again once that program is done")

    def checked(self, value: T) -> T:
        """`value`, after `check()`: for a read's result."""
        self.check()
        return value
