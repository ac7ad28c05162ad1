"""EDF frames: the ESRF Data Format of ESRF beamlines and their tools (fabio, PyHST2, nabu's
EDF datasets, UFO's `read` task).

An EDF file holds one or more frames, each an ASCII header between '{' and '}\\n' of
'Key = value ;' lines (its writers pad it to a multiple of 512 bytes) followed by the frame's
`Size` bytes: `Dim_1` pixels a row (the fast axis), `Dim_2` rows (`Dim_3` planes make as many
frames), `DataType` and `ByteOrder`. Uncompressed pixels are read straight into the caller's
buffer, a band of rows at a time; frames compressed by their writer (`Compression = gzip` or
`z`) and files compressed whole (`.edf.gz`, as fabio writes them) are decompressed in memory.

Why our own reader: a header is a few lines of text and the pixels one positioned read; fabio
would be a dependency for that, reading each frame whole. A file cut short (a writer killed,
a full disk) reads up to its last complete frame with a warning, as TIFF and HDF5 files do.
"""

from __future__ import annotations

import gzip
import os
import re
import zlib
from typing import Any, NamedTuple

import numpy as np

from ..core.errors import InputError

BLOCK = 512
MAX_HEADER = 1 << 20  # bytes: a header this long without its closing '}' is not EDF
END = re.compile(rb"}\r?\n")
DATA_TYPES = {
    **dict.fromkeys(("signedbyte", "signed8"), "i1"),
    **dict.fromkeys(("unsignedbyte", "unsigned8"), "u1"),
    **dict.fromkeys(("signedshort", "signed16", "signedshortinteger"), "i2"),
    **dict.fromkeys(("unsignedshort", "unsigned16", "unsignedshortinteger"), "u2"),
    **dict.fromkeys(("signedinteger", "signed32", "signedlong"), "i4"),
    **dict.fromkeys(("unsignedinteger", "unsigned32", "unsignedlong"), "u4"),
    "signed64": "i8", "unsigned64": "u8",
    **dict.fromkeys(("floatvalue", "float", "floatieee32", "float32", "real"), "f4"),
    **dict.fromkeys(("doublevalue", "double", "floatieee64", "doubleieee64", "float64"), "f8"),
}
ORDERS = {"lowbytefirst": "<", "highbytefirst": ">"}
PLAIN = ("", "none", "nocompression")
COMPRESSED = {"gzip": "gzip", "gzipcompression": "gzip", "z": "zlib", "zcompression": "zlib"}


class EdfFrame(NamedTuple):
    """Where a frame's bytes lie (`offset`, `size` of them), what they are and how they are packed."""

    offset: int
    size: int
    shape: tuple[int, int]
    dtype: np.dtype  # in the file's byte order
    compression: str  # '', 'gzip' or 'zlib'


def parse_header(text: bytes) -> dict[str, str]:
    """'Key = value ;' pairs of a header (between its braces), keys as written."""
    header: dict[str, str] = {}
    for line in text.decode("latin-1").split(";"):
        key, equal, value = line.partition("=")
        if equal and key.strip():
            header[key.strip()] = value.strip()
    return header


def describe(header: dict[str, str], where: str) -> tuple[list[EdfFrame], int]:
    """The frame(s) a header announces, at offsets from where its bytes start, and how many bytes
    it announces (`Size`: the next header follows them)."""
    keys = {k.lower(): v for k, v in header.items()}
    try:
        width, height = int(keys["dim_1"]), int(keys.get("dim_2", "1"))
        planes = int(keys.get("dim_3", "1"))
    except (KeyError, ValueError) as exc:
        raise InputError(f"{where}: the EDF header has no valid Dim_1/Dim_2 ({exc}); is it an EDF file?") from exc
    kind = keys.get("datatype", "unsignedshort").lower()
    order = keys.get("byteorder", "LowByteFirst").lower()
    if kind not in DATA_TYPES:
        raise InputError(f"{where}: EDF DataType '{keys.get('datatype')}' is not supported (known: "
                         "UnsignedShort, SignedInteger, FloatValue, DoubleValue and the like)")
    if order not in ORDERS:
        raise InputError(f"{where}: EDF ByteOrder '{keys.get('byteorder')}' is neither LowByteFirst nor HighByteFirst")
    compression = keys.get("compression", "").lower()
    if compression not in PLAIN and compression not in COMPRESSED:
        raise InputError(f"{where}: EDF Compression '{keys['compression']}' is not supported (none, gzip or z); "
                         "convert the file, e.g. with fabio-convert")
    if width < 1 or height < 1 or planes < 1:
        raise InputError(f"{where}: an EDF frame of {width} x {height} x {planes} pixels holds no image")
    dtype = np.dtype(ORDERS[order] + DATA_TYPES[kind])
    plane = width * height * dtype.itemsize
    try:
        size = int(keys.get("size", keys.get("edf_binarysize", planes * plane)))
    except ValueError as exc:
        raise InputError(f"{where}: EDF Size '{keys.get('size')}' is not a number of bytes") from exc
    packed = COMPRESSED.get(compression, "")
    if packed:
        if planes != 1:
            raise InputError(f"{where}: compressed EDF frames of {planes} planes are not supported")
        return [EdfFrame(0, size, (height, width), dtype, packed)], size
    if size < planes * plane:
        raise InputError(f"{where}: EDF Size {size} is less than its {width} x {height} x {planes} {dtype.name} "
                         f"pixels ({planes * plane} bytes)")
    return [EdfFrame(k * plane, plane, (height, width), dtype, "") for k in range(planes)], size


class EdfFile:
    """The frames of one EDF file (`frames`, in order) and `truncated`: whether it ends inside one."""

    def __init__(self, path: str):
        self.path = path
        self.memory: bytes | None = None  # a whole-file-compressed file, decompressed
        self.fd = -1
        try:
            if path.lower().endswith(".gz"):
                with gzip.open(path, "rb") as f:
                    self.memory = f.read()
                self.length = len(self.memory)
            else:
                self.fd = os.open(path, os.O_RDONLY)
                self.length = os.fstat(self.fd).st_size
        except (OSError, EOFError, zlib.error) as exc:
            raise InputError(f"cannot read EDF file '{path}': {exc}") from exc
        self.frames: list[EdfFrame] = []
        self.truncated = False
        try:
            self._scan()
        except BaseException:
            self.close()
            raise

    def read_at(self, offset: int, size: int) -> bytes:
        if self.memory is not None:
            return self.memory[offset: offset + size]
        return os.pread(self.fd, size, offset)

    def _scan(self) -> None:
        at = 0
        while at < self.length:
            text = self.read_at(at, BLOCK)
            if not text.strip(b" \t\r\n\0"):
                break  # padding at the end
            begin = text.find(b"{")
            if begin < 0 or text[:begin].strip():
                if not self.frames:
                    raise InputError(f"'{self.path}' is not an EDF file (no '{{' opens its header)")
                self.truncated = True  # bytes after the last frame that no header explains
                break
            end = END.search(text, begin)
            while end is None and len(text) < MAX_HEADER and at + len(text) < self.length:
                text += self.read_at(at + len(text), BLOCK)
                end = END.search(text, begin)
            if end is None:
                if not self.frames and at + len(text) < self.length:
                    raise InputError(f"'{self.path}' is not an EDF file (its header does not end within 1 MiB)")
                self.truncated = True
                break
            start = at + end.end()
            announced, size = describe(parse_header(text[begin + 1: end.start()]),
                                       f"'{self.path}' frame {len(self.frames)}")
            self.frames += [f._replace(offset=start + f.offset) for f in announced
                            if start + f.offset + f.size <= self.length]
            if start + size > self.length:
                self.truncated = True
                break
            at = start + size

    def read(self, frame: EdfFrame, rows: slice, out: np.ndarray | None, label: str) -> np.ndarray:
        """Rows `rows` of `frame`, in native byte order, into `out` when it fits."""
        height, width = frame.shape
        start, stop, step = rows.indices(height)
        native = frame.dtype.newbyteorder("=")
        if frame.compression:
            packed = self.read_at(frame.offset, frame.size)
            try:
                raw = gzip.decompress(packed) if frame.compression == "gzip" else zlib.decompress(packed)
            except (OSError, EOFError, zlib.error) as exc:
                raise InputError(f"cannot decompress '{label}': {exc}") from exc
            if len(raw) < height * width * frame.dtype.itemsize:
                raise InputError(f"'{label}' decompresses to {len(raw)} bytes, fewer than its pixels")
            data = np.frombuffer(raw, frame.dtype, height * width).reshape(height, width)[start:stop:step]
            return _deliver(data.astype(native, copy=False), out)
        count = len(range(start, stop, step))
        if step != 1 or count == 0:
            whole = self.read(frame, slice(None), None, label)
            return _deliver(whole[start:stop:step], out)
        target = out if (out is not None and out.dtype == native and out.shape == (count, width)
                         and out.flags.c_contiguous) else np.empty((count, width), native)
        view = memoryview(target).cast("B")
        at = frame.offset + start * width * frame.dtype.itemsize
        if self.memory is not None:
            chunk = self.memory[at: at + len(view)]
            got = len(chunk)
            if got == len(view):
                view[:] = chunk
        else:
            got = os.preadv(self.fd, [view], at)
        if got != len(view):
            raise InputError(f"cannot read '{label}': the file ended inside it (truncated since it was opened?)")
        if not frame.dtype.isnative:
            target.byteswap(inplace=True)
        return _deliver(target, out)

    def close(self) -> None:
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1


def _deliver(data: np.ndarray, out: np.ndarray | None) -> np.ndarray:
    if out is None or out is data:
        return data
    np.copyto(out, data, casting="unsafe")
    return out


class EdfFrames:
    """The frames of one or more EDF files, in natural file order, then frame order.

    A sequence of single-frame files (the common case) is counted from the first file and the
    last (the one a killed writer leaves incomplete): each other file's header is read when its
    frame is."""

    def __init__(self, files: list[str]):
        self.files = files
        self.warnings: list[str] = []
        self._open: EdfFile | None = None
        first = self._file(files[0])
        if not first.frames:
            raise InputError(f"EDF file '{files[0]}' holds no complete frame (truncated?)")
        self.shape: tuple[int, int] = first.frames[0].shape
        self.dtype = first.frames[0].dtype.newbyteorder("=")
        counts = [len(first.frames)]
        if first.truncated:
            self.warnings.append(f"'{files[0]}' is truncated or damaged; reading its {counts[0]} complete frame(s)")
        if len(first.frames) > 1 or first.truncated:
            for f in files[1:]:
                edf = self._file(f)
                counts.append(len(edf.frames))
                if edf.truncated:
                    self.warnings.append(f"'{f}' is truncated or damaged; reading its {counts[-1]} complete frame(s)")
        elif len(files) > 1:
            counts += [1] * (len(files) - 1)
            last = self._file(files[-1])  # the file a writer may still be (or have been killed) writing
            if not last.frames:
                counts[-1] = 0
                self.warnings.append(f"'{files[-1]}' holds no complete frame (truncated: a writer killed or still "
                                     "writing?); reading the frames before it")
        self.locations = [(f, k) for f, n in zip(files, counts) for k in range(n)]
        self.count = len(self.locations)

    def _file(self, path: str) -> EdfFile:
        if self._open is None or self._open.path != path:
            self.close()
            self._open = EdfFile(path)
        return self._open

    def meta(self, index: int) -> dict[str, Any]:
        return {}

    def label(self, index: int) -> str:
        file, k = self.locations[index]
        return file if k == 0 and len(self.files) > 1 else f"{file}[{k}]"

    def read(self, index: int, rows: slice, out: np.ndarray | None) -> np.ndarray:
        file, k = self.locations[index]
        edf = self._file(file)
        if k >= len(edf.frames):
            raise InputError(f"'{self.label(index)}': the file holds {len(edf.frames)} complete frame(s) "
                             "(truncated, or not one frame a file as the first is)")
        frame = edf.frames[k]
        if frame.shape != self.shape or frame.dtype.newbyteorder("=") != self.dtype:
            raise InputError(f"'{self.label(index)}' is a {frame.shape} {frame.dtype.name} frame, the first "
                             f"{self.shape} {self.dtype.name}: all frames of one stream must have one shape and type")
        return edf.read(frame, rows, out, self.label(index))

    def close(self) -> None:
        if self._open is not None:
            self._open.close()
            self._open = None
