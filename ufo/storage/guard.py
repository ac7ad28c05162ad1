"""Outputs never destroy inputs: checks made before anything starts.

`conflict(output, inputs)` says whether an output path is, contains or lies inside one of the
inputs (symbolic links and hard links followed), so `read path=x.tif ! write path=x.tif
overwrite=true` is refused instead of truncating the file it reads. `check_output` says
before any work whether an output can be written: not there (or overwrite/append given),
its directory creatable and writable. `check_dataset` keeps HDF5 and Zarr dataset names
inside their file or store.
"""

from __future__ import annotations

import glob
import os
import re
from collections.abc import Iterable
from dataclasses import dataclass

from ..core.errors import UfoError, UsageError
from .formats import HDF5_SUFFIXES, ZARR_SUFFIXES, FileKind, check_dataset, parse_output_path, split_dataset
from .stale import sequence_regex

_GLOB = re.compile(r"[*?\[]")


def inside(path: str, folder: str) -> bool:
    """Whether `path` lies strictly below `folder` (both already resolved)."""
    if path == folder:
        return False
    try:
        return os.path.commonpath([path, folder]) == folder
    except ValueError:
        return False


def _same(a: str, b: str) -> bool:
    if a == b:
        return True
    try:
        return os.path.samefile(a, b)  # hard links, bind mounts
    except OSError:
        return False


@dataclass(frozen=True)
class _Input:
    text: str  # as the user wrote it
    real: str  # resolved file, directory or store
    dataset: str | None
    container: bool  # an HDF5 file or a Zarr store (the dataset names a part of it)


def _inputs(paths: Iterable[str]) -> list[_Input]:
    found = []
    for text in paths:
        if not text:
            continue
        file, dataset = split_dataset(os.path.expanduser(str(text)))
        container = file.lower().rstrip("/").endswith(HDF5_SUFFIXES + ZARR_SUFFIXES)
        if _GLOB.search(file):
            for match in glob.glob(file):
                found.append(_Input(str(text), os.path.realpath(match), None, False))
            continue
        try:
            dataset = check_dataset(file, dataset)
        except UsageError:
            dataset = "/"
        found.append(_Input(str(text), os.path.realpath(file), dataset, container))
        if container and os.path.isfile(file):  # what its external links and virtual data sets read
            found += [_Input(f"{text} -> {linked}", os.path.realpath(linked), None, False) for linked in _linked(file)]
    return found


def _linked(file: str) -> list[str]:
    """The other files an HDF5 file reads through external links and virtual data sets (their frames
    may live there: writing one of them destroyed the projections read through the link), found
    where HDF5 finds them (`hdf5_links.linked_path`, which the readers' checks use too)."""
    try:
        import h5py

        from .hdf5_cut import open_file

        names: set[str] = set()
        with open_file(file) as f:
            def visit(group: h5py.Group, depth: int) -> None:
                for key in list(group.keys())[:10000]:
                    link = group.get(key, getlink=True)
                    if isinstance(link, h5py.ExternalLink):
                        names.add(link.filename)
                    elif isinstance(link, h5py.HardLink):
                        item = group.get(key)
                        if isinstance(item, h5py.Group) and depth < 16:
                            visit(item, depth + 1)
                        elif isinstance(item, h5py.Dataset) and item.is_virtual:
                            names.update(source.file_name for source in item.virtual_sources())
            visit(f, 0)
    except Exception:  # noqa: BLE001 - not an HDF5 file we can open: nothing linked to look at
        return []
    from .hdf5_links import linked_path

    return [found for name in names - {"."} if (found := linked_path(file, name)) is not None]


def _describe(relation: str, output: str, real_out: str, item: _Input) -> str:
    def shown(text: str, real: str) -> str:
        plain = os.path.abspath(split_dataset(os.path.expanduser(text))[0]).rstrip("/")
        return f"'{text}'" if plain == real else f"'{text}' (resolved: '{real}')"

    return (f"output {shown(output, real_out)} {relation} input {shown(item.text, item.real)}: writing it "
            "would destroy what is read; choose another output path")


def conflict(output: str, inputs: Iterable[str], bytes_per_file: int = 0) -> str | None:
    """A message when `output` is, contains or lies inside one of `inputs`; None when it is apart."""
    target = parse_output_path(os.path.expanduser(output))
    items = _inputs(inputs)
    if target.kind is FileKind.TIFF_SEQUENCE:
        folder = os.path.realpath(os.path.dirname(os.path.abspath(target.path)))
        names = sequence_regex(target)
        for item in items:
            if os.path.isdir(item.real) or item.container and item.real.lower().endswith(ZARR_SUFFIXES):
                if folder == item.real or inside(folder, item.real):
                    return _describe("lies inside", output, folder, item)
            elif os.path.dirname(item.real) == folder and names.fullmatch(os.path.basename(item.real)):
                return _describe("is", output, item.real, item)
        return None
    real = os.path.realpath(os.path.abspath(target.path))
    parts: re.Pattern[str] | None = None
    if target.kind is FileKind.BIGTIFF and bytes_per_file:
        stem, suffix = os.path.splitext(os.path.basename(real))
        parts = re.compile(re.escape(stem) + r"-\d{4}" + re.escape(suffix))
    dataset = check_dataset(target.path, target.dataset)
    if target.kind is FileKind.ZARR:
        dataset = dataset or "/data"
    for item in items:
        if _same(real, item.real) or parts is not None and os.path.dirname(item.real) == os.path.dirname(real) \
                and parts.fullmatch(os.path.basename(item.real)):
            if target.kind is FileKind.ZARR and item.container and item.dataset not in (None, "/"):
                a, b = dataset, item.dataset
                if not (a == b or inside(a, b) or inside(b, a)):  # type: ignore[arg-type]
                    continue  # another array of the same store
                return _describe("is" if a == b else "contains" if inside(b, a) else "lies inside",  # type: ignore[arg-type]
                                 f"{output}", real, item)
            return _describe("is", output, real, item)
        if inside(real, item.real):
            return _describe("lies inside", output, real, item)
        if inside(item.real, real):
            return _describe("contains", output, real, item)
    return None


def refuse_conflict(output: str, inputs: Iterable[str], bytes_per_file: int = 0) -> None:
    message = conflict(output, inputs, bytes_per_file)
    if message:
        raise UsageError(message)


def _broken_link(path: str, error: type[UfoError]) -> None:
    """A symbolic link that leads nowhere (a loop, a target not there): the writer failed on it only
    after the work, with "Too many levels of symbolic links" or "File exists"."""
    if os.path.islink(path) and not os.path.exists(path):
        try:
            os.stat(path)
            why = "it leads nowhere"
        except OSError as err:
            why = err.strerror
        raise error(f"cannot write '{path}': it is a symbolic link to '{os.readlink(path)}' that cannot be "
                    f"followed ({why}); remove the link or write elsewhere")


def _writable_folder(path: str, error: type[UfoError]) -> None:
    """The folder that will hold `path` exists and is writable, or can be created."""
    folder = os.path.dirname(os.path.abspath(path))
    probe = folder
    _broken_link(os.path.abspath(path), error)
    while not os.path.exists(probe):
        _broken_link(probe, error)
        parent = os.path.dirname(probe)
        if parent == probe:
            break
        probe = parent
    if not os.path.isdir(probe):
        raise error(f"cannot write '{path}': '{probe}' is not a directory")
    if not os.access(probe, os.W_OK | os.X_OK):
        raise error(f"cannot write '{path}': the directory '{probe}' is not writable")
    try:
        longest = os.pathconf(probe, "PC_NAME_MAX")
    except (OSError, ValueError):
        longest = 255
    relative = os.path.relpath(os.path.abspath(path), probe)
    for name in relative.split(os.sep):  # a name too long failed only at the first write, after the work
        if len(os.fsencode(name)) > longest:
            raise error(f"cannot write '{path}': the name '{name[:40]}...' has {len(os.fsencode(name))} bytes, more "
                        f"than the {longest} this file system allows")


def check_output(path: str, overwrite: bool = False, append: bool = False, start: int = 0, layout: str = "auto",
                 error: type[UfoError] = UsageError, fix: str = "use overwrite=true / --overwrite") -> None:
    """Before any work: `path` can be written as the writer will (see `open_writer`).

    Refuses what exists unless `overwrite` (or `append`) is given, and folders that cannot
    be created or written. `error`: the type raised for what exists or cannot be written; `fix`:
    how the caller's user replaces an output (the option or property of that command).
    """
    target = parse_output_path(os.path.expanduser(path))
    check_dataset(target.path, target.dataset)
    if target.kind is FileKind.TIFF_SEQUENCE:
        first = target.frame_path(start)
        if os.path.exists(first) and not overwrite:
            raise error(f"'{first}' exists; refusing to overwrite it ({fix})")
        _writable_folder(first, error)
        return
    file = target.path.rstrip("/") if target.kind is FileKind.ZARR else target.path
    if target.kind is FileKind.ZARR:  # without the zarr extra: said before the graph runs, not by its writer
        from .zarr_codecs import _zarr

        _zarr()
    exists = os.path.exists(file)
    if target.kind in (FileKind.BIGTIFF, FileKind.RAW):
        if exists and os.path.isdir(file):
            raise error(f"cannot write '{file}': it is a directory")
        if exists and not (overwrite or append):
            raise error(f"'{file}' exists; refusing to overwrite it ({fix})")
        if exists and append and not overwrite and target.kind is FileKind.BIGTIFF:
            from .imagej import is_imagej, no_appending

            if is_imagej(file):  # its writer refused it only once the graph ran (exit 1)
                raise error(no_appending(file))
    elif target.kind is FileKind.HDF5 and exists:
        _check_hdf5(file, target.dataset, overwrite, append, layout, error, fix)
    elif target.kind is FileKind.ZARR and exists:
        if not os.path.isdir(file):
            raise error(f"'{file}' exists and is not a Zarr store (a directory); ufo will not overwrite it")
        array = os.path.join(file, *(check_dataset(file, target.dataset) or "/data").strip("/").split("/"))
        if os.path.exists(array) and not (overwrite or append):
            raise error(f"'{file}:/{os.path.relpath(array, file)}' exists; refusing to overwrite it ({fix})")
    if exists and not os.access(file, os.W_OK):
        raise error(f"cannot write '{file}': it is not writable")
    _writable_folder(file, error)


def _check_hdf5(file: str, dataset: str | None, overwrite: bool, append: bool, layout: str,
                error: type[UfoError], hint: str) -> None:

    from .hdf5 import DXCHANGE, NXTOMO_DATA

    if layout == "auto":
        layout = "nxtomo" if file.lower().endswith((".nx", ".nxs")) else "plain"
    from .hdf5_cut import damaged_hdf5, holders, left_open, left_open_error, open_file

    if overwrite and not append and damaged_hdf5(file):
        if writers := holders(file):  # a writer just starting: its file is not debris
            raise error(f"'{file}' is being written by process {', '.join(map(str, writers))}: wait for it, or "
                        "write another file")
        return  # an HDF5 file cut short before its metadata (a killed writer): nothing in it to keep
    try:
        f = open_file(file)
    except Exception as err:  # noqa: BLE001 - whatever h5py says, it is not a file ufo can add to
        if left_open(file):
            raise error(left_open_error(file)) from err
        if damaged_hdf5(file):
            raise error(f"'{file}' is an HDF5 file cut short (its writer was killed before it wrote its metadata) "
                        f"and opens nowhere; to replace it: {hint}") from err
        raise error(f"'{file}' exists and is not an HDF5 file; ufo will not overwrite it: remove it or choose "
                    "another output") from err
    with f:
        from .nexus import NXTOMOPROC_DATA

        name = dataset or {"plain": "/data", "nxtomo": NXTOMO_DATA, "nxdata": NXTOMOPROC_DATA}.get(layout, DXCHANGE[0])
        targets = list(DXCHANGE.values()) if layout == "dxchange" else [name]
        present = [t for t in targets if t in f]
    if present and not (overwrite or append):
        raise error(f"'{file}:{present[0]}' exists; refusing to overwrite it ({hint})")
