"""Reading and writing frames: TIFF (sequences and BigTIFF stacks), HDF5 and raw files.

The names are resolved on first use (PEP 562 `__getattr__`): the readers and writers import
tifffile and h5py, which `ufo run` checking its output paths (ufo.storage.guard) and a
pipeline that writes nothing need not load.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..core.lazy import lazy_getattr

if TYPE_CHECKING:
    from .formats import FileKind, parse_output_path
    from .readers import FrameSource, open_source
    from .writers import FrameWriter, open_writer

_LAZY = {"FileKind": "formats", "parse_output_path": "formats", "FrameSource": "readers", "open_source": "readers",
         "FrameWriter": "writers", "open_writer": "writers"}

__all__ = ["FileKind", "FrameSource", "FrameWriter", "open_source", "open_writer", "parse_output_path"]


__getattr__ = lazy_getattr(__name__, _LAZY, globals())
