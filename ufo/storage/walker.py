"""Walkers: one API over directory trees, HDF5 groups and Zarr groups (as Concert has them).

A walker stands at a `current` place below its `root`; `descend`/`ascend`/`home` move it,
`create_writer(dsetname)` opens a frame writer there and `await write(stream, dsetname)`
stores a whole stream without blocking the event loop. `log(state, when)` keeps experiment
and device states next to the data: a JSON sidecar in directories, attributes in HDF5 and
Zarr groups.
"""

from __future__ import annotations

import asyncio
import json
import os
import posixpath
import time
from collections.abc import AsyncIterable, Iterable
from typing import Any

import numpy as np

from ..core.errors import InputError, UsageError
from .writers import FrameWriter, open_writer

SIDECAR = "metadata.json"


def _split(item: Any) -> tuple[np.ndarray, dict[str, Any]]:
    if isinstance(item, tuple) and len(item) == 2 and isinstance(item[1], dict):
        return np.asarray(item[0]), item[1]
    return np.asarray(item), dict(getattr(item, "meta", {}) or {})


def _jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, np.generic):
        return value.item()
    if hasattr(value, "magnitude") and hasattr(value, "units"):  # pint quantities keep their unit
        return {"value": _jsonable(value.magnitude), "unit": str(value.units)}
    if isinstance(value, (str, int, float, bool)) or value is None:
        return value
    return str(value)


class Walker:
    """Shared navigation; subclasses say how places map to storage."""

    def __init__(self, root: str, overwrite: bool = False):
        self.root = root
        self._path = ""  # relative to root, '/'-separated
        self.overwrite = overwrite

    @property
    def current(self) -> str:
        return self._place(self._path)

    def home(self) -> Walker:
        self._path = ""
        return self

    def descend(self, name: str) -> Walker:
        if not name or name in (".", "..") or "/" in name.strip("/"):
            raise UsageError(f"descend takes one level's name, got '{name}'")
        self._path = posixpath.join(self._path, name.strip("/"))
        self._make(self._path)
        return self

    def ascend(self) -> Walker:
        if not self._path:
            raise UsageError(f"the walker is at its root '{self.root}' and cannot ascend")
        self._path = posixpath.dirname(self._path)
        return self

    def create_writer(self, dsetname: str, **options: Any) -> FrameWriter:
        """A writer at the current place; HDF5 files record the frames a camera dropped (`record_drops`)."""
        options.setdefault("record_drops", True)
        return open_writer(self._writer_path(dsetname), overwrite=options.pop("overwrite", self.overwrite), **options)

    async def write(self, stream: AsyncIterable[Any] | Iterable[Any], dsetname: str, **options: Any) -> int:
        """Store every frame of `stream` (arrays, (array, meta) pairs or Images); returns the count."""
        writer = await asyncio.to_thread(self.create_writer, dsetname, **options)
        count = 0
        try:
            if hasattr(stream, "__aiter__"):
                async for item in stream:  # type: ignore[union-attr]
                    await asyncio.to_thread(writer.write, *_split(item))
                    count += 1
            else:
                for item in stream:  # type: ignore[union-attr]
                    await asyncio.to_thread(writer.write, *_split(item))
                    count += 1
        finally:
            await asyncio.to_thread(writer.close)
        return count

    def log(self, state: dict[str, Any], when: str = "start") -> None:
        """Record `state` (experiment and device parameters) under `when` at the current place."""
        record = {"time": time.strftime("%Y-%m-%dT%H:%M:%S%z"), **_jsonable(state)}
        self._log(self._path, when, record)

    def metadata(self) -> dict[str, Any]:
        return self._read_log(self._path)

    # -- per storage kind ----------------------------------------------------------------
    def _place(self, path: str) -> str:
        raise NotImplementedError

    def _make(self, path: str) -> None:
        raise NotImplementedError

    def exists(self, *paths: str) -> bool:
        raise NotImplementedError

    def _writer_path(self, dsetname: str) -> str:
        raise NotImplementedError

    def _log(self, path: str, when: str, record: dict[str, Any]) -> None:
        raise NotImplementedError

    def _read_log(self, path: str) -> dict[str, Any]:
        raise NotImplementedError


class DirectoryWalker(Walker):
    """Directories; a data set is a TIFF sequence folder ('projections'), or a named file ('flats.tif', 'x.h5')."""

    def __init__(self, root: str, overwrite: bool = False, pattern: str = "frame-%05i.tif"):
        super().__init__(os.path.abspath(os.path.expanduser(root)), overwrite)
        self.pattern = pattern
        _make_folder(self.root, self.root)

    def _place(self, path: str) -> str:
        return os.path.join(self.root, *path.split("/")) if path else self.root

    def _make(self, path: str) -> None:
        os.makedirs(self._place(path), exist_ok=True)

    def exists(self, *paths: str) -> bool:
        return os.path.exists(os.path.join(self.current, *paths))

    def _writer_path(self, dsetname: str) -> str:
        parts = dsetname.replace("\\", "/").split("/")
        if os.path.isabs(dsetname) or ".." in parts or not dsetname.strip():  # it wrote /tmp/escape.tif, /abs
            raise UsageError(f"data set name '{dsetname}' leads out of the walker's folder {self.current}; give a "
                             "name inside it (e.g. 'projections' or 'flats.tif')")
        place = os.path.join(self.current, dsetname)
        if "." in os.path.basename(dsetname):  # a file name says its format
            return place
        return os.path.join(place, self.pattern)  # the frame number goes into the file's name only

    def _log(self, path: str, when: str, record: dict[str, Any]) -> None:
        sidecar = os.path.join(self._place(path), SIDECAR)
        data = self._read_log(path)
        data[when] = record
        partial = sidecar + ".part"
        with open(partial, "w") as f:
            json.dump(data, f, indent=2)
        os.replace(partial, sidecar)

    def _read_log(self, path: str) -> dict[str, Any]:
        sidecar = os.path.join(self._place(path), SIDECAR)
        if not os.path.exists(sidecar):
            return {}
        with open(sidecar) as f:
            return dict(json.load(f))


class Hdf5Walker(Walker):
    """Groups of one HDF5 file; a data set is a dataset of frames in the current group."""

    def __init__(self, filename: str, overwrite: bool = False):
        import h5py

        super().__init__(os.path.abspath(os.path.expanduser(filename)), overwrite)
        _make_folder(os.path.dirname(self.root) or ".", self.root)
        try:
            with h5py.File(self.root, "a", libver="latest", locking=False):  # superblock 3: SWMR writers
                pass
        except Exception as exc:
            raise InputError(f"cannot open HDF5 file '{self.root}': {exc}") from exc

    def _file(self, mode: str = "a") -> Any:
        import h5py

        return h5py.File(self.root, mode, locking=False, **({"libver": "latest"} if mode != "r" else {}))

    def _place(self, path: str) -> str:
        return "/" + path

    def _make(self, path: str) -> None:
        with self._file() as f:
            f.require_group(self._place(path))

    def exists(self, *paths: str) -> bool:
        with self._file("r") as f:
            return posixpath.join(self.current, *paths) in f

    def _writer_path(self, dsetname: str) -> str:
        return f"{self.root}:{posixpath.join(self.current, dsetname)}"

    def _log(self, path: str, when: str, record: dict[str, Any]) -> None:
        with self._file() as f:
            f.require_group(self._place(path)).attrs[f"ufo_{when}"] = json.dumps(record)

    def _read_log(self, path: str) -> dict[str, Any]:
        with self._file("r") as f:
            attrs = f[self._place(path)].attrs
            return {k[4:]: json.loads(v) for k, v in attrs.items() if k.startswith("ufo_")}


class ZarrWalker(Walker):
    """Groups of one Zarr v3 store; a data set is an array of frames in the current group."""

    def __init__(self, store: str, overwrite: bool = False):
        from .zarr_store import _zarr

        super().__init__(os.path.abspath(os.path.expanduser(store)), overwrite)
        try:
            _zarr().open_group(self.root, mode="a")
        except Exception as exc:  # noqa: BLE001 - zarr's errors vary with its version
            raise InputError(f"cannot open Zarr store '{self.root}': {exc}") from exc

    def _group(self, path: str) -> Any:
        from .zarr_store import _zarr

        root = _zarr().open_group(self.root, mode="a")
        return root.require_group(path) if path else root

    def _place(self, path: str) -> str:
        return "/" + path

    def _make(self, path: str) -> None:
        self._group(path)

    def exists(self, *paths: str) -> bool:
        return os.path.exists(os.path.join(self.root, *self._path.split("/"), *paths))

    def _writer_path(self, dsetname: str) -> str:
        return f"{self.root}:{posixpath.join(self._path, dsetname)}"

    def _log(self, path: str, when: str, record: dict[str, Any]) -> None:
        self._group(path).attrs[f"ufo_{when}"] = record

    def _read_log(self, path: str) -> dict[str, Any]:
        attrs = dict(self._group(path).attrs)
        return {k[4:]: v for k, v in attrs.items() if k.startswith("ufo_")}


def _make_folder(folder: str, root: str) -> None:
    """The folder a walker writes in; a root that is a file, a device or a link loop is named (the
    Tango walker server died with an OSError traceback and exit 0)."""
    try:
        os.makedirs(folder, exist_ok=True)
    except OSError as err:
        raise UsageError(f"walker root '{root}': cannot make the folder '{folder}' ({err.strerror}); give a folder, "
                         "an .h5/.nx file or a .zarr store") from err


def walker(root: str, overwrite: bool = False) -> Walker:
    """The walker for `root`: an .h5/.nx file, a .zarr store, or a directory."""
    from .formats import HDF5_SUFFIXES, ZARR_SUFFIXES

    if root.lower().endswith(HDF5_SUFFIXES):
        return Hdf5Walker(root, overwrite)
    if root.lower().rstrip("/").endswith(ZARR_SUFFIXES):
        return ZarrWalker(root, overwrite)
    return DirectoryWalker(root, overwrite)
