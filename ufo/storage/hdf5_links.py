"""Where an HDF5 file's frames live in other files: external links and virtual datasets.

Why: a scan's `.nx` as nxtomomill or a Bliss writer makes it often holds no pixels itself; its
`detector/data` is an external link to, or a virtual dataset over, the raw files written beside
it. Copied without them, HDF5 still opens the `.nx`: an external link then fails with "Unable to
synchronously open object (can't open file)", naming no file, and a virtual dataset reads its
missing parts as its fill value (zeros), so a scan whose projections file was not copied was
reconstructed from zeros with no word. Here each is checked before a frame is read, and the
message names the missing file and where it was looked for.
"""

from __future__ import annotations

import os
from typing import Any

from ..core.errors import InputError
from .hdf5_cut import open_file

#: virtual sources checked at most (a VDS over a whole Bliss scan has a few thousand)
MOST_SOURCES = 4096


def linked_path(file: str, name: str) -> str | None:
    """Where HDF5 finds the file `name` that `file` links to, or None where it is nowhere: an
    absolute name as it is (else its base name beside `file`), a relative one under
    HDF5_VDS_PREFIX / HDF5_EXT_PREFIX's folders, beside `file`, then from the working folder."""
    here = os.path.dirname(os.path.abspath(file))
    prefixes = [p.replace("${ORIGIN}", here) for var in ("HDF5_VDS_PREFIX", "HDF5_EXT_PREFIX")
                for p in os.environ.get(var, "").split(os.pathsep) if p]
    if os.path.isabs(name):
        candidates = [name, os.path.join(here, os.path.basename(name))]
    else:
        candidates = [*(os.path.join(p, name) for p in prefixes), os.path.join(here, name), os.path.abspath(name)]
    return next((c for c in candidates if os.path.isfile(c)), None)


def check_virtual(dset: Any, filename: str) -> None:
    """InputError where the virtual dataset `dset` (of `filename`) maps a file that is not there, or a
    dataset its file does not hold: HDF5 would read that part as zeros without a word. A source
    named by a pattern (`%b`, HDF5's unlimited mappings) is left to HDF5."""
    if not getattr(dset, "is_virtual", False):
        return

    try:
        sources = dset.virtual_sources()
    except Exception:  # noqa: BLE001 - an h5py that cannot list them: read as HDF5 reads it
        return
    checked: dict[str, Any] = {}
    missing: list[str] = []
    shorts: list[str] = []  # sources holding fewer frames than mapped
    for source in sources[:MOST_SOURCES]:
        name, inner = source.file_name, source.dset_name
        if "%" in name or name == ".":  # a pattern, or this file itself (its datasets are checked as read)
            continue
        if name not in checked:
            checked[name] = linked_path(filename, name)
        found = checked[name]
        if found is None:
            missing.append(f"'{name}' (not found beside '{filename}' nor in the working folder)")
            continue
        try:
            with open_file(found) as f:
                if inner not in f:
                    missing.append(f"'{found}:{inner}' (the file holds no such dataset)")
                elif (short := _short(source, f[inner])) is not None:  # an acquisition stopped early: HDF5
                    missing.append(f"'{found}:{inner}' ({short})")  # failed at its first missing frame
                    shorts.append(f"{found}:{inner}")
        except Exception as exc:  # noqa: BLE001 - whatever HDF5 says: that part of the frames cannot be read
            missing.append(f"'{found}' (it does not open as HDF5: {exc})")
    if missing:
        more = f" and {len(missing) - 3} more" if len(missing) > 3 else ""
        raise InputError(f"'{filename}:{dset.name}' is a virtual dataset whose frames live in other files, and "
                         f"{len(missing)} of its sources cannot be read: {', '.join(missing[:3])}{more}; HDF5 "
                         "would read those frames as zeros. " + (
                             "Copy the raw files next to the scan file (as they were written) or set "
                             "HDF5_VDS_PREFIX to their folder" if len(shorts) < len(missing) else
                             f"An acquisition that stopped early? Read the frames there are from the source "
                             f"files themselves (e.g. '{shorts[0]}')"))


def _short(source: Any, stored: Any) -> str | None:
    """What a virtual source's dataset lacks of the region mapped from it, or None."""
    import h5py

    try:  # a selection of all of the source maps it whole onto the virtual region (its shape unrecorded)
        if source.src_space.get_select_type() == h5py.h5s.SEL_ALL:
            start, end = source.vspace.get_select_bounds()
            need = tuple(e - s + 1 for s, e in zip(start, end))
        else:
            need = tuple(e + 1 for e in source.src_space.get_select_bounds()[1])
    except Exception:  # noqa: BLE001 - no bounds to compare (an unlimited selection): left to HDF5
        return None
    if len(need) != len(stored.shape) or all(e <= n for e, n in zip(need, stored.shape)):
        return None
    return f"it holds {stored.shape[0]} frame(s) of shape {stored.shape}; {need[0]} are mapped from it"


def broken_link(h5file: Any, filename: str, path: str) -> str | None:
    """Why `path` in `h5file` cannot be opened where an external link on the way leads to a file
    that is not there or holds no such object; None where no link is to blame."""
    import h5py

    group, parts = h5file, [p for p in path.split("/") if p]
    for depth, part in enumerate(parts):
        try:
            link = group.get(part, getlink=True)
        except Exception:  # noqa: BLE001 - not a group to walk: HDF5's own message stands
            return None
        if isinstance(link, h5py.ExternalLink):
            where = "/" + "/".join(parts[: depth + 1])
            found = linked_path(filename, link.filename)
            if found is None:
                return (f"'{filename}:{where}' is an external link to '{link.filename}:{link.path}', and "
                        f"'{link.filename}' is not there (looked for beside '{filename}' and in the working folder): "
                        "copy it next to the scan file, or name the file that holds the frames")
            return (f"'{filename}:{where}' is an external link to '{found}:{link.path}', which cannot be opened "
                    "(no such dataset there, or not an HDF5 file)")
        if link is None:
            return None
        try:
            group = group[part]
        except Exception:  # noqa: BLE001 - a link HDF5 cannot follow, not an external one
            return None
    return None


def open_object(h5file: Any, filename: str, path: str) -> Any:
    """`h5file[path]`, with an InputError naming the missing file where an external link fails."""
    try:
        return h5file[path]
    except (KeyError, OSError, RuntimeError) as exc:
        why = broken_link(h5file, filename, path)
        if why is not None:
            raise InputError(why) from exc
        raise InputError(f"cannot open '{filename}:{path}': {exc}") from exc
