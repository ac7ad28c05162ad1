"""Reading and writing frames: TIFF (sequences and BigTIFF stacks), HDF5 and raw files."""

from .formats import FileKind, parse_output_path
from .readers import FrameSource, open_source
from .writers import FrameWriter, open_writer

__all__ = ["FileKind", "FrameSource", "FrameWriter", "open_source", "open_writer", "parse_output_path"]
