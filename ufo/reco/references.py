"""The dark and flat fields `ufo reco` is given, checked before any work: an NXtomo or DXchange
file's own darks or flats (by image_key), of the projections' frame shape."""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..core.errors import UsageError
from ..storage import open_source

if TYPE_CHECKING:
    from .options import RecoOptions


def check_references(o: RecoOptions, keys: dict[str, int | None], shape: tuple[int, ...],
                     runs: dict[str, int] | None = None) -> None:
    """--darks/--flats/--flats2 naming an NXtomo or DXchange file take its darks (image_key 2) or
    flats (1), not all its frames (only run `runs[name]` of them where given); each must hold
    frames of the projections' shape (UsageError)."""
    for name, key in (("darks", 2), ("flats", 1), ("flats2", 1)):
        path = getattr(o, name)
        if not path:
            continue
        source = open_source(path)
        if getattr(source, "layout", None) is not None:
            keys.setdefault(name, key)
        source.close()
        source = open_source(path, image_key=keys.get(name), image_key_run=(runs or {}).get(name))
        count, got = source.count, tuple(source.shape)
        source.close()
        key = f"image_key {keys[name]}" if keys.get(name) is not None else ""
        what = f"'{path}' (its {name}, {key})" if path == o.projections else f"--{name} '{path}'" + (f" ({key})" if key else "")
        if not count:
            raise UsageError(f"{what} holds no frames")
        if got != shape:
            rgb = " (frames saved as one RGB image? save them with photometric='minisblack')" if len(got) == 3 else ""
            raise UsageError(f"{what} holds frames of {' x '.join(map(str, got))} pixels, the projections "
                             f"{' x '.join(map(str, shape))}{rgb}")
