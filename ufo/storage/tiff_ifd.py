"""The page chain of a TIFF or BigTIFF file, read from its IFDs with `struct`: where each page's
pixels are and whether one plain read gives them.

Why: counting the complete pages of a multi-page file (to report a file cut short) parsed every
page with tifffile, about 0.4 ms a page: 0.3 s before the first frame of a 720-page stack, more
than all its pixels cost. libtiff, which UFO reads with, walks the same chain in C. This reads
only the tags a reader needs (size, sample layout, compression, strips, tiles) from each IFD.
Anything it does not understand returns None and the caller keeps tifffile's way.
"""

from __future__ import annotations

import os
import struct
from collections.abc import Callable
from typing import BinaryIO, NamedTuple

import numpy as np

# tag numbers (TIFF 6.0)
WIDTH, LENGTH, BITS, COMPRESSION, FILL_ORDER, STRIP_OFFSETS, SAMPLES, STRIP_BYTES = 256, 257, 258, 259, 266, 273, 277, 279
PREDICTOR, TILE_WIDTH, TILE_OFFSETS, TILE_BYTES, SAMPLE_FORMAT = 317, 322, 324, 325, 339
_WANTED = {WIDTH, LENGTH, BITS, COMPRESSION, FILL_ORDER, STRIP_OFFSETS, SAMPLES, STRIP_BYTES, PREDICTOR,
           TILE_WIDTH, TILE_OFFSETS, TILE_BYTES, SAMPLE_FORMAT}
_TYPES = {1: "B", 3: "H", 4: "I", 16: "Q", 8: "h", 9: "i", 17: "q"}  # BYTE, SHORT, LONG, LONG8, signed kinds
_KINDS = {1: "u", 2: "i", 3: "f"}  # SampleFormat -> numpy kind
MAX_PAGES = 10_000_000


class Page(NamedTuple):
    """One IFD: its pixels' extent (`end`: the last byte + 1) and, when one read gives them, where.
    (A named tuple: a 720-page stack makes 720 of them before the first frame, and a frozen
    dataclass costs several times more to build.)"""

    end: int
    plain_offset: int | None  # None: compressed, tiled, several samples, ...: read it with tifffile
    shape: tuple[int, int]
    dtype: np.dtype | None


_NATIVE = "<" if np.little_endian else ">"
_DTYPES = {(kind, bits): np.dtype(f"{kind}{bits // 8}") for kind in "uif" for bits in (8, 16, 32, 64)
           if not (kind == "f" and bits == 8)}
_IFD_GUESS = 32  # entries read with the IFD's count in one call (a page from tifffile or libtiff has < 20)


def _reader(handle: BinaryIO) -> Callable[[int, int], bytes]:
    """`read(offset, n)`: positioned reads, one system call each where the handle is a file (the
    IFDs lie between the pages' pixels, so a buffered read would fetch a buffer's worth each time)."""
    try:
        fd = handle.fileno()
    except (AttributeError, OSError, ValueError):
        fd = -1
    if fd >= 0 and hasattr(os, "pread"):
        return lambda at, n: os.pread(fd, n, at)

    def read(at: int, n: int) -> bytes:
        handle.seek(at)
        return handle.read(n)

    return read


def scan(handle: BinaryIO, size: int) -> tuple[list[Page], bool] | None:
    """Every complete page of the main IFD chain, and whether the chain ended as a TIFF ends (a next
    offset of 0); None where the header is no TIFF this understands. The chain stops at a page
    whose tags or pixels lie beyond `size` or that has no pixels (a write cut short)."""
    read = _reader(handle)
    head = read(0, 16)
    if head[:2] not in (b"II", b"MM"):
        return None
    order = "<" if head[:2] == b"II" else ">"
    version = struct.unpack(order + "H", head[2:4])[0]
    if version == 42:
        big, (ifd,) = False, struct.unpack(order + "I", head[4:8])
    elif version == 43 and struct.unpack(order + "HH", head[4:8]) == (8, 0):
        big, (ifd,) = True, struct.unpack(order + "Q", head[8:16])
    else:
        return None
    pages: list[Page] = []
    seen: set[int] = set()
    while ifd and ifd not in seen and len(pages) < MAX_PAGES:
        seen.add(ifd)
        parsed = _ifd(read, ifd, order, big, size)
        if parsed is None:
            return pages, False
        tags, ifd = parsed
        page = _page(read, tags, order, big, size)
        if page is None:
            return pages, False
        pages.append(page)
        if ifd < 0:
            return pages, False
    return pages, ifd == 0


def _ifd(read: Callable[[int, int], bytes], at: int, order: str, big: bool,
         size: int) -> tuple[dict[int, tuple[int, int, bytes]], int] | None:
    """The wanted entries of the IFD at `at` as {tag: (type, count, value field)} and the next IFD's offset."""
    count_size, entry_size, field = (8, 20, 8) if big else (2, 12, 4)
    if at + count_size > size:
        return None
    block = read(at, count_size + _IFD_GUESS * entry_size + field)
    if len(block) < count_size:
        return None
    (count,) = struct.unpack_from(order + ("Q" if big else "H"), block)
    want = count_size + count * entry_size + field
    if len(block) < want and count > _IFD_GUESS:
        block = read(at, want)
    if len(block) < count_size + count * entry_size:
        return None
    entries = struct.unpack_from(order + ("HHQ8s" if big else "HHI4s") * count, block, count_size)
    tags = {entries[k]: (entries[k + 1], entries[k + 2], entries[k + 3])
            for k in range(0, 4 * count, 4) if entries[k] in _WANTED}
    tail = block[count_size + count * entry_size:want]
    following = struct.unpack(order + ("Q" if big else "I"), tail)[0] if len(tail) == field else -1
    return tags, following  # -1: the next offset itself was cut off (the page may still be whole)


_ONE = {(order, kind): struct.Struct(order + code) for order in "<>" for kind, code in _TYPES.items()}


def _values(read: Callable[[int, int], bytes], entry: tuple[int, int, bytes], order: str, big: bool,
            size: int) -> tuple[int, ...] | None:
    kind, count, field = entry
    if count == 1:  # the common case: one value in the entry itself
        one = _ONE.get((order, kind))
        if one is not None and one.size <= len(field):
            return one.unpack_from(field)
    code = _TYPES.get(kind)
    if code is None or count > MAX_PAGES:
        return None
    nbytes = struct.calcsize(code) * count
    if nbytes <= len(field):
        return struct.unpack_from(f"{order}{count}{code}", field)
    (at,) = struct.unpack(order + ("Q" if big else "I"), field)
    if at + nbytes > size:
        return None
    return struct.unpack(f"{order}{count}{code}", read(at, nbytes))  # short (the file shrank): struct.error


def _page(read: Callable[[int, int], bytes], tags: dict[int, tuple[int, int, bytes]], order: str, big: bool,
          size: int) -> Page | None:
    def first(tag: int, default: int) -> int:
        values = _values(read, tags[tag], order, big, size) if tag in tags else None
        return values[0] if values else default

    width, length = first(WIDTH, 0), first(LENGTH, 0)
    offsets_tag, counts_tag = (TILE_OFFSETS, TILE_BYTES) if TILE_OFFSETS in tags else (STRIP_OFFSETS, STRIP_BYTES)
    offsets = _values(read, tags[offsets_tag], order, big, size) if offsets_tag in tags else None
    counts = _values(read, tags[counts_tag], order, big, size) if counts_tag in tags else None
    if not width or not length or not offsets or not counts or len(offsets) != len(counts):
        return None  # a page without image data: a write cut short
    end = max(o + n for o, n in zip(offsets, counts)) if len(offsets) > 1 else offsets[0] + counts[0]
    if end > size:
        return None  # pixels beyond the end of the file
    bits, samples = first(BITS, 1), first(SAMPLES, 1)
    kind = _KINDS.get(first(SAMPLE_FORMAT, 1))
    dtype = _DTYPES.get((kind, bits)) if kind else None
    plain = None
    contiguous = len(offsets) == 1 or all(offsets[i] + counts[i] == offsets[i + 1] for i in range(len(offsets) - 1))
    if (dtype is not None and offsets_tag == STRIP_OFFSETS and TILE_WIDTH not in tags and samples == 1
            and first(COMPRESSION, 1) == 1 and first(PREDICTOR, 1) == 1 and first(FILL_ORDER, 1) == 1
            and contiguous and sum(counts) >= width * length * dtype.itemsize
            and (dtype.itemsize == 1 or order == _NATIVE)):
        plain = offsets[0]
    return Page(end, plain, (length, width), dtype)
