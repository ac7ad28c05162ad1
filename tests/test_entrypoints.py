"""ufo.core.entrypoints reads entry points as importlib.metadata does, without importing it.

The reference is importlib.metadata itself, on this environment and on made-up distributions
that exercise its precedence rules: `sys.path` order, the first distribution of a normalized
name wins (a later copy of the same project is ignored), sections other than the group and
comments are skipped, and a zip archive on the path is still read.
"""

from __future__ import annotations

import importlib.metadata
import os.path
import sys
import zipfile
from pathlib import Path

import pytest

from ufo.core.entrypoints import EntryPoint, _all_groups, _path_state, _plain_environment, entry_points

GROUP = "ufo.test-entrypoints"


def reference(group: str) -> list[tuple[str, str]]:
    return [(ep.name, ep.value) for ep in importlib.metadata.entry_points(group=group)]


def ours(group: str) -> list[tuple[str, str]]:
    return [(ep.name, ep.value) for ep in entry_points(group)]


def fast(group: str) -> list[tuple[str, str]]:
    """The reader of a plain environment itself (entry_points goes through importlib.metadata when
    a package, importlib_metadata for one, installed a finder of its own)."""
    return [(ep.name, ep.value) for ep in _all_groups(_path_state()).get(group, ())]


def dist(root: Path, folder: str, text: str) -> None:
    (root / folder).mkdir(parents=True)
    (root / folder / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {folder.split('-')[0]}\nVersion: 1\n")
    (root / folder / "entry_points.txt").write_text(text)


@pytest.mark.parametrize("group", ["ufo.tasks", "ufo.backends", "ufo.cameras", "console_scripts"])
def test_this_environment_reads_the_same(group: str) -> None:
    # the fast path where it applies; a finder some other package installed (importlib_metadata's,
    # once anything imported that backport) sends both through importlib.metadata
    assert ours(group) == fast(group) == reference(group)
    assert ours("ufo.tasks"), "ufo's own tasks are registered"


def test_precedence_sections_and_comments_as_importlib_metadata(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    first, second = tmp_path / "first", tmp_path / "second"
    dist(first, "Alpha_Plugin-1.0.dist-info",
         f"# a comment\n[console_scripts]\nalpha = alpha:main\n\n[{GROUP}]\nblur = alpha.tasks:Blur\n"
         f"  shared =alpha.tasks : Shared  \n; kept as importlib keeps it = x:y\n")
    dist(first, "beta-2.0.egg-info", f"[{GROUP}]\nshared = beta.tasks:Shared\nzeta = beta.tasks:Zeta\n")
    dist(second, "alpha.plugin-0.9.dist-info", f"[{GROUP}]\nold = alpha_old:Old\n")  # same project: ignored
    dist(second, "gamma-1.dist-info", f"[other]\nnot = gamma:Not\n[{GROUP}]\ngamma = gamma.tasks:Gamma\n")
    monkeypatch.syspath_prepend(str(second))
    monkeypatch.syspath_prepend(str(first))
    got = fast(GROUP)
    assert got == ours(GROUP) == reference(GROUP)
    names = [name for name, _ in got]
    assert "old" not in names and "not" not in names
    assert {name: value for name, value in got}["shared"] == "beta.tasks:Shared"  # the later one of a name wins in a dict


def test_a_zip_on_the_path_is_read_through_importlib_metadata(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    archive = tmp_path / "plugins.zip"
    with zipfile.ZipFile(archive, "w") as z:
        z.writestr("zipped-1.0.dist-info/METADATA", "Metadata-Version: 2.1\nName: zipped\nVersion: 1.0\n")
        z.writestr("zipped-1.0.dist-info/entry_points.txt", f"[{GROUP}]\nzipped = zipped:Task\n")
    monkeypatch.syspath_prepend(str(archive))
    assert not _plain_environment()
    assert ours(GROUP) == reference(GROUP) == [("zipped", "zipped:Task")]


def test_load_returns_the_named_attribute() -> None:
    assert EntryPoint("join", "os.path:join", GROUP).load() is os.path.join
    assert EntryPoint("module", "os.path", GROUP).load() is sys.modules["os.path"]
    with pytest.raises(ValueError, match="malformed"):
        EntryPoint("bad", "not a value", GROUP).load()


def test_a_distribution_installed_after_a_first_read_is_found(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    site = tmp_path / "site"
    dist(site, "early-1.0.dist-info", f"[{GROUP}]\nearly = early:Task\n")
    monkeypatch.syspath_prepend(str(site))
    assert ours(GROUP) == [("early", "early:Task")]
    dist(site, "late-1.0.dist-info", f"[{GROUP}]\nlate = late:Task\n")  # as pip install does, while ufo runs
    assert ours(GROUP) == reference(GROUP)
    assert sorted(ours(GROUP)) == [("early", "early:Task"), ("late", "late:Task")]
