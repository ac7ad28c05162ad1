"""HDF5 frames for readers: a dataset's frames, or those an NXtomo/DXchange layout lists.

Its own module beside ufo.storage.readers (which re-exports `Hdf5Frames` and `find_dataset`):
uncompressed frames are read with positioned reads past HDF5 (ufo.storage.hdf5_direct), and a
volume whose writer stopped is read up to its last whole frame (ufo.storage.hdf5_volume).
"""

from __future__ import annotations

import os
import threading
from typing import Any

import numpy as np

from ..core.errors import InputError, UsageError
from .formats import FRAME_PLACES
from .hdf5_blocks import FrameBlocks, blocks_for, read_error
from .hdf5_chunks import frames_written, spans, stored_frames, stored_parts
from .hdf5_cut import file_size, is_cut, open_cut, open_file, whole_frames
from .hdf5_direct import DirectFrames
from .hdf5_links import broken_link, check_virtual, open_object
from .layouts import image_datasets, refuse_frame_per_dataset
from .unchanged import FileWatch


def find_dataset(h5file: Any, filename: str) -> str:
    """The frames' dataset when the path names none: an NXtomo's or DXchange's frames, the dataset
    NeXus's default-plot attributes lead to (as nabu and silx write reconstructions), or the one
    image stack in the file. With several and none of those, the error names them, largest first."""
    import h5py

    for known in ("/" + place for place in FRAME_PLACES):
        if known in h5file and isinstance(h5file[known], h5py.Dataset):
            return known
    from .layouts import nexus_default

    chosen = nexus_default(h5file)
    if chosen is not None:
        return chosen
    found: list[tuple[int, str]] = []
    h5file.visititems(lambda name, obj: found.append((-int(obj.size), "/" + name))
                      if isinstance(obj, h5py.Dataset) and obj.ndim >= 2 else None)
    found += _linked_stacks(h5file)  # visititems follows no external link: an Eiger master's frames
    names = [name for _, name in sorted(found)]
    if len(names) == 1:
        return names[0]
    refuse_frame_per_dataset(h5file, filename, names)
    if not names:
        raise InputError(f"HDF5 file '{filename}' holds no image dataset (2 or more dimensions)")
    shown = ", ".join(names[:8]) + (f", ... ({len(names)} in all)" if len(names) > 8 else "")  # a file of one data
    raise UsageError(f"HDF5 file '{filename}' holds several image datasets; name one: {filename}:{names[0]} "  # set a
                     f"(candidates, largest first: {shown})")  # frame (ALS 8.3.2) listed 12,345 characters


def _linked_stacks(h5file: Any) -> list[tuple[int, str]]:
    """(-size, path) of the image data sets the file reaches through external links (a Dectris Eiger
    master's /entry/data/data_000001 ...): unseen, its 2-D pixel mask was read as the scan (exit 0)."""
    import h5py

    found: list[tuple[int, str]] = []

    def see(name: str, link: Any) -> None:
        if isinstance(link, h5py.ExternalLink):
            try:
                obj = h5file["/" + name]
            except Exception:  # noqa: BLE001 - a link to a file or data set not there: nothing to read
                return
            if isinstance(obj, h5py.Dataset) and obj.ndim >= 2:
                found.append((-int(obj.size), "/" + name))

    try:
        h5file.visititems_links(see)
    except Exception:  # noqa: BLE001 - an h5py without it, or a broken group: the hard links alone
        pass
    return found


def _layout_entry(h5file: Any, dataset: str) -> str | None:
    """The NXtomo entry that `dataset` is, or holds the frames of (its image_key and angles then hold
    for them, so that its darks and flats are not read as projections), or None: a dataset of its own."""
    from .layouts import entry_of

    try:
        return entry_of(h5file, dataset)
    except Exception:  # noqa: BLE001 - no layout to be sure of (odd groups, broken links): a dataset of its own
        return None


def _load_filters() -> None:
    """Register the compression filters of hdf5plugin (Blosc, Bitshuffle-LZ4 as Dectris detectors
    write, LZ4, Zstd, ...) where it is installed; HDF5 alone knows gzip, szip and shuffle."""
    try:
        import hdf5plugin  # noqa: F401
    except ImportError:
        pass


class Hdf5Frames:
    """Frames of an HDF5 file: along the first axis of a dataset, or as an NXtomo/DXchange layout says.

    For layouts every frame carries its `image_key` (0 projection, 1 flat, 2 dark) and
    `angle` (radians); `image_key` selects one kind of frame, `run` (with it) only its run-th run
    of consecutive frames (0 the first, -1 the last: the flats before and after a scan);
    `run_spans` gives each run's first and last acquisition positions.
    """

    def __init__(self, filename: str, dataset: str | None, image_key: int | None = None, run: int | None = None):

        from .layouts import check_image_dataset, detect, frame_shapes, keys_beside, plain_index, select

        _load_filters()
        self.warnings: list[str] = []
        self.short_of = 0  # frames of a plain stack recorded but not stored whole (`ufo reco` keeps the angle step)
        self._fd: int | None = None  # the file for positioned reads of uncompressed frames (hdf5_direct)
        self._direct: dict[str, DirectFrames | None] = {}
        self._blocks: dict[str, FrameBlocks | None] = {}  # compressed chunks across frames (hdf5_blocks)
        self._making = threading.Lock()  # a reader and ufo reco's read-ahead thread may ask at once
        self._settled = True  # False while a writer may still change the file: h5py only
        self._cut: int | None = None  # the size of a file cut short (hdf5_cut): frames past it are left out
        try:
            self._file = open_file(filename)
        except Exception as exc:
            if is_cut(exc):
                self._file, self._cut, self._settled = open_cut(filename, exc), file_size(filename), False
            elif "already open for write" not in str(exc):
                raise InputError(f"cannot open HDF5 file '{filename}': {exc}") from exc
            else:  # a writer in SWMR mode that never closed the file (still writing, or killed): SWMR reads it
                self._file = open_file(filename, swmr=True)
                self._settled = False
                self.warnings.append(f"'{filename}' was not closed by its writer (still open or crashed); "
                                     "reading the frames it had flushed")
        self.filename = filename
        self._watch = FileWatch(filename, growing=not self._settled)  # cut or rewritten while read: said
        self.layout = None
        self.angles_from = ""  # the dataset of the angles (NXtomo, DXchange), for messages about them
        try:
            if self._cut is not None:  # every group readable, or said (one past the cut lost its angles and keys)
                self._file.visititems(lambda name, item: None)
            entry = None if dataset is None else _layout_entry(self._file, dataset)
            index = detect(self._file) if dataset is None else None if entry is None else detect(self._file, entry)
            if index is None:  # a dataset of its own: read as it is, with the numbers `write` kept beside it
                index = plain_index(self._file, dataset or find_dataset(self._file, filename))
            if index is not None:
                self.warnings += index.notes
                self.layout = index.layout
                keep, self.run_spans = select(index.image_keys, image_key, run, filename)  # each run's places
                chosen = len(keep)
                keep = self._written(self._whole(keep, index.locations), index.locations, image_key)
                self.short_of = index.short + chosen - len(keep) if index.layout == "ufo" else 0  # as a plain stack's
                self._locations = [index.locations[i] for i in keep]
                self._positions = keep  # acquisition positions: flats of several runs interpolate by them
                self._keys = [index.image_keys[i] for i in keep]
                self._angles = [index.angles[i] for i in keep]
                if not index.locations:
                    raise InputError(f"'{filename}' ({index.layout}) holds no frames")
                self.angles_from = index.angles_from
                # the selected frames' dataset gives the shape and type (DXchange keeps darks, flats
                # and projections apart, and the darks may be of another detector region)
                first = self._file[(self._locations or index.locations)[0][0]]
                shapes = frame_shapes(self._file, self._locations, self._keys, filename, index.layout)
                if len(shapes) > 1:  # all frames of a DXchange file: darks of another region, say
                    self.warnings.append(f"'{filename}' ({index.layout}) holds frames of different shapes "
                                         f"({', '.join(' x '.join(map(str, s)) for s in sorted(shapes))}): select "
                                         "one kind with image-key (0 projections, 1 flats, 2 darks)")
                self.name = first.name
                self._dset = first
            else:
                if image_key is not None or run is not None:
                    raise UsageError(f"image-key selects frames of NXtomo or DXchange files; '{filename}' is neither")
                self.run_spans: list[tuple[int, int]] = []
                self.name = dataset or find_dataset(self._file, filename)
                if self.name not in self._file:  # a path to fix, as a file that does not exist: exit 2
                    why = broken_link(self._file, filename, self.name)
                    if why is not None:
                        raise InputError(why)
                    raise UsageError(f"HDF5 file '{filename}' has no dataset '{self.name}'{image_datasets(self._file)}")
                self._dset = open_object(self._file, filename, self.name)
                check_virtual(self._dset, filename)
                self._locations = None  # type: ignore[assignment]
                check_image_dataset(self._dset, filename, self.name)
                if (note := keys_beside(self._dset, filename)) is not None:
                    self.warnings.append(note)
        except Exception as exc:
            self._file.close()
            if self._cut is not None and not isinstance(exc, (InputError, UsageError)):  # its records lie past the cut
                raise InputError(f"'{filename}' is cut short ({self._cut} bytes, less than HDF5 recorded: a copy or a "
                                 f"write stopped part-way) before the records of its frames ({exc}); copy it again") from exc
            raise
        if self._dset.ndim < 2:
            self._file.close()
            raise InputError(f"'{filename}:{self.name}' has {self._dset.ndim} dimension(s); frames need 2 or more")
        self._single = self._dset.ndim == 2 and self._locations is None
        self.shape = tuple(self._dset.shape if self._single else
                           self._dset.shape[-2:] if self._locations is not None else self._dset.shape[1:])
        if self._locations is not None:
            self.count = len(self._locations)
        else:
            self.count = 1 if self._single else self._dset.shape[0]
            written = frames_written(self._file, self.name)
            if written is not None and written < self.count:  # a volume whose writer stopped (hdf5_volume)
                self.warnings.append(f"'{filename}:{self.name}' holds {written} complete frame(s) of the "
                                     f"{self.count} it was laid out for (its writer stopped); reading those")
                self.count = written
            elif not self._single:
                self.count = self._stored_frames(self.count)
            if self._cut is not None:  # a file cut short: its frames stored whole before the cut
                self.count = len(self._whole(list(range(self.count)), [(self.name, i) for i in range(self.count)]))
            self.short_of = (1 if self._single else self._dset.shape[0]) - self.count
        self.dtype = np.dtype(self._dset.dtype)

    def _whole(self, keep: list[int], locations: list[tuple[str, int]]) -> list[int]:
        """Of the frames `keep` (at `locations`), those before the cut of a file cut short, said."""
        if self._cut is None or not keep:
            return keep
        whole = {name: set(whole_frames(self._file[name], sorted({at for n, at in locations if n == name}), self._cut))
                 for name in {locations[i][0] for i in keep}}
        kept = [i for i in keep if locations[i][1] in whole[locations[i][0]]]
        self.warnings.append(f"'{self.filename}' is cut short ({self._cut} bytes, less than HDF5 recorded: a copy or "
                             f"a write stopped part-way); reading the {len(kept)} of its {len(keep)} frame(s) stored "
                             "whole before the cut")
        return kept

    def _stored_frames(self, count: int) -> int:
        """Up to the last frame with a stored chunk (`hdf5_chunks.stored_parts`), said; frames before
        it not written whole named (read as the fill value). Cutting at the first such frame
        dropped every frame after a skipped one, exit 0."""
        parts = stored_parts(self._dset)
        if parts is None or parts[0][:count].all():
            return count
        whole, some = parts[0][:count], parts[1][:count]
        last = int(np.flatnonzero(some)[-1]) + 1 if some.any() else 0
        said = []
        if last < count:
            said.append(f"records {count} frames, the last stored ends at frame {last}: reading those (a writer "
                        "stopped before the rest)")
        gaps = [int(k) for k in np.flatnonzero(~whole[:last])]
        if gaps:
            said.append(f"frames {spans(gaps)} ({len(gaps)} of {last}) were never written whole: they read as its "
                        f"fill value ({self._dset.fillvalue}) where not stored")
        self.warnings.append(f"'{self.filename}:{self.name}' " + "; ".join(said))
        return last

    def _written(self, keep: list[int], locations: list[tuple[str, int]], image_key: int | None) -> list[int]:
        """Of the frames `keep` of a layout (at `locations`), those whose data exist: each dataset
        opened (an external link to a missing file named), a virtual one's sources checked, and
        frames never written (a writer stopped) left out, said; each frame keeps its angle."""
        names = list(dict.fromkeys(locations[i][0] for i in keep))
        if len(names) > 16:  # a dataset a frame (ALS 8.3.2): each read as it is
            return keep
        written: dict[str, np.ndarray | None] = {}
        for name in names:
            dset = open_object(self._file, self.filename, name)
            check_virtual(dset, self.filename)
            written[name] = stored_frames(dset) if dset.ndim > 2 else None
        kept = [i for i in keep if (w := written[locations[i][0]]) is None or bool(w[locations[i][1]])]
        if len(kept) < len(keep):
            kind = {0: "projection", 1: "flat", 2: "dark"}.get(image_key if image_key is not None else -1, "frame")
            held = set(kept)
            lost = [locations[i][1] for i in keep if i not in held]
            self.warnings.append(f"'{self.filename}' ({names[0]}): {len(lost)} of its {len(keep)} {kind}(s) were never "
                                 f"written (frames {spans(lost)} of the dataset: a writer stopped?); reading the "
                                 f"{len(kept)} stored, each at its recorded angle (they would read as zeros)")
        return kept

    def label(self, index: int) -> str:
        if self._locations is not None:
            name, at = self._locations[index]
            return f"{self.filename}:{name}[{at}]"
        return f"{self.filename}:{self.name}[{index}]"

    def meta(self, index: int) -> dict[str, Any]:
        if self._locations is None:
            return {}
        meta: dict[str, Any] = {"image_key": self._keys[index], "file_index": self._positions[index]}
        if self._angles[index] is not None:
            meta["angle"] = self._angles[index]
        return meta

    def stored_attributes(self) -> dict[str, Any]:
        """The frames' data set's attributes (`cut_marks`: a volume cut short)."""
        return dict(self._dset.attrs)

    @property
    def angles(self) -> list[float | None]:
        return list(self._angles) if self._locations is not None else []

    def _direct_reader(self, dset: Any) -> DirectFrames | None:
        """The positioned-read path of `dset` (made once per dataset), None where h5py must read."""
        if not self._settled or os.path.realpath(dset.file.filename) != os.path.realpath(self.filename):
            return None  # reached through an external link: its offsets are in another file; h5py reads it
        with self._making:
            if dset.name not in self._direct:
                if self._fd is None:
                    self._fd = os.open(self.filename, os.O_RDONLY | getattr(os, "O_CLOEXEC", 0))
                self._direct[dset.name] = DirectFrames.open(dset, self._fd)
            return self._direct[dset.name]

    def read(self, index: int, rows: slice, out: np.ndarray | None) -> np.ndarray:
        if self._locations is not None:
            name, at = self._locations[index]
            dset = self._file[name]
            selection, frame = ((at, rows), at) if dset.ndim > 2 else ((rows,), 0)  # ALS 8.3.2: 2-D data sets
        else:
            dset, selection = self._dset, ((rows,) if self._single else (index, rows))
            frame = 0 if self._single else index
        direct = self._direct_reader(dset)
        if direct is not None:  # one positioned read instead of HDF5 reading the whole chunk
            count = len(range(*rows.indices(direct.height)))
            target = out if out is not None and out.dtype == self.dtype else np.empty((count, direct.width), self.dtype)
            if direct.read(frame, rows, target):
                self._watch.check()
                if target is not out and out is not None:
                    np.copyto(out, target, casting="unsafe")
                    return out
                return target
        try:
            if (blocks := blocks_for(self._blocks, dset)) is not None:  # chunks across frames: a block at a time
                return self._watch.checked(blocks.read(frame, rows, out))
            if out is not None and out.dtype == self.dtype:
                dset.read_direct(out, source_sel=selection)
                return self._watch.checked(out)
            data = dset[selection]
        except Exception as exc:
            raise read_error(self.label(index), exc, dset) from exc
        self._watch.check()
        if out is None:
            return data  # type: ignore[no-any-return]
        np.copyto(out, data, casting="unsafe")
        return out

    def read_run(self, index: int, outs: list[np.ndarray]) -> int:
        """Whole frames from `index` on into `outs` with one positioned read, as many as follow each
        other in the file (`DirectFrames.read_run`); 0 where they must be read one by one (`read`)."""
        dset, frame, n = self._frames_of_one_dataset(index, len(outs))
        direct = self._direct_reader(dset) if n else None
        return self._watch.checked(direct.read_run(frame, outs[:n])) if direct is not None else 0

    def read_bands(self, index: int, rows: slice, out: np.ndarray) -> int:
        """Rows `rows` of frames from `index` on into `out` (frames x rows x width) with one copy,
        as many as lie at one stride in one dataset (`DirectFrames.read_bands`); 0 where they
        must be read one by one (`read`)."""
        dset, frame, n = self._frames_of_one_dataset(index, len(out))
        direct = self._direct_reader(dset) if n else None
        if direct is None and n and (blocks := blocks_for(self._blocks, dset)) is not None:
            return self._watch.checked(blocks.band(frame, rows, out[:n]))  # one call: each chunk decompressed once
        return self._watch.checked(direct.read_bands(frame, rows, out[:n])) if direct is not None else 0

    def byte_ranges(self, rows: slice, count: int | None = None) -> list[tuple[str, int, int]] | None:
        """(file, offset, length) of rows `rows` (step 1) of the first `count` frames (all), where
        each lies in this file uncompressed (a prefetch child reads them ahead,
        `prefetch.start_ranges`); None where any must be read through h5py."""
        n = self.count if count is None else min(count, self.count)
        if self._locations is not None:
            names = [name for name, _ in self._locations[:n]]
            frames = np.array([at for _, at in self._locations[:n]], np.int64)
        else:
            names, frames = [self.name] * n, np.zeros(n, np.int64) if self._single else np.arange(n, dtype=np.int64)
        offsets = np.empty(n, np.int64)
        length = 0
        for name in dict.fromkeys(names):  # each dataset once, in order
            chosen = np.array([k for k, other in enumerate(names) if other == name], np.int64) \
                if len(set(names)) > 1 else np.arange(n, dtype=np.int64)
            direct = self._direct_reader(self._file[name])
            found = direct.band_offsets(frames[chosen], rows) if direct is not None else None
            if found is None:
                return None
            offsets[chosen], length = found
        return [(self.filename, int(offset), length) for offset in offsets]

    def _frames_of_one_dataset(self, index: int, limit: int) -> tuple[Any, int, int]:
        """(dataset, frame in it, n): up to `limit` frames from `index` on that follow each other in
        one dataset (an NXtomo's darks, flats and projections each are; n 0 for a single 2-D frame)."""
        if self._locations is not None:
            name, at = self._locations[index]
            n = 1
            while n < limit and index + n < len(self._locations) and tuple(self._locations[index + n]) == (name, at + n):
                n += 1
            return self._file[name], at, n
        if self._single:
            return self._dset, 0, 0
        return self._dset, index, min(limit, self.count - index)

    def close(self) -> None:
        for direct in self._direct.values():
            if direct is not None:
                direct.close()
        self._file.close()
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None
