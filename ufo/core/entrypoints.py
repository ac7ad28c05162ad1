"""Entry points of one group, read from the installed distributions without `importlib.metadata`.

Why: every `ufo run` looks its tasks up in the `ufo.tasks` entry-point group, and importing
`importlib.metadata` (it pulls in email, zipfile and csv) costs ~30 ms of a start-up budget of
0.3 s (issue 22), while the scan itself is a directory listing per `sys.path` entry and one small
file per distribution. This reads the same files in the same order with the same precedence
as `importlib.metadata.entry_points(group=...)`: distributions in `sys.path` order, the first
one of each normalized name wins, each one's `entry_points.txt` parsed by section.

Where the environment holds anything the plain reading would miss (a zip archive on `sys.path`,
an import finder that supplies its own distributions), `importlib.metadata` is asked instead,
so the answer is the same either way; tests/test_entrypoints.py compares the two.
"""

from __future__ import annotations

import functools
import importlib
import os
import re
import sys
from dataclasses import dataclass
from typing import Any

_NORMALIZE = re.compile(r"[-_.]+")
_VALUE = re.compile(r"(?P<module>[\w.]+)\s*(:\s*(?P<attr>[\w.]+)\s*)?((?P<extras>\[.*\])\s*)?$")


@dataclass(frozen=True)
class EntryPoint:
    """One entry point: `name = value` in section `group` (value 'package.module:Attribute')."""

    name: str
    value: str
    group: str

    def load(self) -> Any:
        """Import the module the value names and return its attribute (as importlib.metadata does)."""
        match = _VALUE.match(self.value)
        if match is None:
            raise ValueError(f"entry point '{self.name}' in group {self.group} has a malformed value {self.value!r}")
        return functools.reduce(getattr, filter(None, (match.group("attr") or "").split(".")),
                                importlib.import_module(match.group("module")))


def entry_points(group: str) -> list[EntryPoint]:
    """Every entry point of `group`, in the order `importlib.metadata.entry_points(group=group)` gives."""
    if not _plain_environment():
        from importlib.metadata import entry_points as scan

        return [EntryPoint(ep.name, ep.value, ep.group) for ep in scan(group=group)]
    return list(_all_groups(_path_state()).get(group, ()))


def _path_state() -> tuple[tuple[str, int], ...]:
    """`sys.path` with each directory's modification time: a package installed or removed changes it
    (importlib.metadata keys its own lookups the same way)."""
    state = []
    for entry in sys.path:
        try:
            state.append((entry, os.stat(entry or ".").st_mtime_ns))
        except OSError:
            state.append((entry, -1))
    return tuple(state)


@functools.lru_cache(maxsize=4)
def _all_groups(state: tuple[tuple[str, int], ...]) -> dict[str, tuple[EntryPoint, ...]]:
    """Every group's entry points for one state of the path, read in one pass: a run asks for its
    tasks and then for its backends, and each pass opens every distribution's metadata."""
    groups: dict[str, list[EntryPoint]] = {}
    seen: set[str] = set()
    for folder in _metadata_folders([entry for entry, _ in state]):
        name = _normalize(os.path.basename(folder).rpartition(".")[0].partition("-")[0])
        if name in seen:
            continue
        seen.add(name)
        for point in _read(folder):
            groups.setdefault(point.group, []).append(point)
    return {group: tuple(points) for group, points in groups.items()}


def _plain_environment() -> bool:
    """Whether every distribution is a folder in a `sys.path` directory: no zip archive or egg on the
    path and no import finder but the standard one that supplies distributions."""
    from importlib.machinery import PathFinder

    for finder in sys.meta_path:
        if finder is not PathFinder and getattr(finder, "find_distributions", None) is not None:
            return False
    return not any(entry and (os.path.isfile(entry) or entry.lower().endswith(".egg")) for entry in sys.path)


def _metadata_folders(path: list[str]) -> list[str]:
    """The `*.dist-info` and `*.egg-info` entries of each directory of `path`, in path then listing order,
    grouped by distribution name within a directory as importlib.metadata groups them."""
    folders: list[str] = []
    for root in path:
        try:
            children = os.listdir(root or ".")
        except OSError:
            continue
        groups: dict[str, list[str]] = {}
        for child in children:
            low = child.lower()
            if low.endswith((".dist-info", ".egg-info")):
                key = _normalize(low.rpartition(".")[0].partition("-")[0])
                groups.setdefault(key, []).append(os.path.join(root, child))
        for paths in groups.values():
            folders.extend(paths)
    return folders


def _normalize(name: str) -> str:
    """PEP 503 normalization with underscores, as importlib.metadata keys distributions."""
    return _NORMALIZE.sub("-", name).lower().replace("-", "_")


def _read(folder: str) -> list[EntryPoint]:
    """The entry points in `folder`'s entry_points.txt (none when it has no such file)."""
    try:
        with open(os.path.join(folder, "entry_points.txt"), encoding="utf-8") as f:
            text = f.read()
    except (OSError, UnicodeDecodeError):
        return []
    points = []
    section = None
    for line in map(str.strip, text.splitlines()):
        if not line or line.startswith("#"):
            continue
        if line.startswith("[") and line.endswith("]"):
            section = line.strip("[]")
        elif section is not None and "=" in line:
            name, value = (part.strip() for part in line.split("=", 1))
            points.append(EntryPoint(name, value, section))
    return points
