"""What ufo's Zarr arrays are made of, in either format: the compressors (zarr's v3 codecs, numcodecs'
for v2), the names of the axes, and which format a store has (ufo.storage.zarr_store writes them)."""

from __future__ import annotations

import os
from typing import Any

from ..core.errors import UsageError

COMPRESSIONS = ("none", "zstd", "blosc", "gzip")
GROUP_FILES = ("zarr.json", ".zgroup", ".zattrs", ".zmetadata")  # a group's metadata, v3 and v2


def _zarr() -> Any:
    try:
        import zarr
    except ImportError as err:
        raise UsageError("Zarr needs the zarr package: pip install 'ufo[zarr]'") from err
    return zarr


def compressors(name: str | None, zarr_format: int = 3) -> Any:
    """The compressor `name` (COMPRESSIONS) as the arrays of `zarr_format` take it; None for none."""
    zarr = _zarr()
    if name in (None, "none"):
        return None
    if zarr_format == 2:  # v2 arrays take numcodecs' codecs (zarr's v3 codecs are refused there)
        return _v2_compressor(name)
    if name == "zstd":
        return zarr.codecs.ZstdCodec(level=1)
    if name == "blosc":
        return zarr.codecs.BloscCodec(cname="lz4", clevel=5, shuffle="bitshuffle")
    if name == "gzip":
        return zarr.codecs.GzipCodec(level=1)
    raise UsageError(f"unknown Zarr compression '{name}'; choose one of {', '.join(COMPRESSIONS)}")


def _v2_compressor(name: str) -> Any:
    """The numcodecs codec of a v2 array for `name`: the same settings as the v3 codecs."""
    import numcodecs

    if name == "zstd":
        return numcodecs.Zstd(level=1)
    if name == "blosc":
        return numcodecs.Blosc(cname="lz4", clevel=5, shuffle=numcodecs.Blosc.BITSHUFFLE)
    if name == "gzip":
        return numcodecs.GZip(level=1)
    raise UsageError(f"unknown Zarr compression '{name}'; choose one of {', '.join(COMPRESSIONS)}")


def axes(ndim: int) -> list[str] | None:
    """The axis names of an array of frames of `ndim` dimensions, which napari and xarray label axes with."""
    return ["frame", *("z", "y", "x")[3 - ndim:]] if ndim <= 3 else None


def store_format(path: str) -> int | None:
    """The Zarr format of the group at `path` (3: zarr.json, 2: .zgroup), None where there is none yet."""
    if os.path.isfile(os.path.join(path, "zarr.json")):
        return 3
    return 2 if os.path.isfile(os.path.join(path, ".zgroup")) else None


def sole_member(path: str, array: str) -> bool:
    """Whether the store at `path` holds nothing but `array` (its top folder) besides its group's metadata."""
    try:
        names = set(os.listdir(path)) - set(GROUP_FILES)
    except OSError:
        return True
    return names <= {array.split("/")[0]}
