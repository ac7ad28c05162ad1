"""UFO compatibility for people: the table of docs/ufo-compat.md and `ufo run --ufo-compat-report`.

Both are generated from the tasks' declarations (ufo.core.ufocompat), so they never disagree
with what `ufo run`, `--json` and the Python API accept.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING

from ..core.errors import PropertyError, UsageError
from ..core.ufocompat import kebab

if TYPE_CHECKING:
    from ..core.task import Task


#: ufo-filters tasks that ufo does not provide, and why (docs/ufo-compat.md)
NOT_PROVIDED = {
    "map-color": "display only",
    "segment": "random-walk segmentation, not a tomography step",
    "detect-edge": "UFO's kernel reads wrong pixels; use gradient",
    "duplicate": "ufo-filters' is an unfinished uPIV helper; use loop or buffer dup-count",
    "concatenate-result": "uPIV Hough-ring records, not images",
    "opencl": "use @ufo.jit or the calculate task", "ocl-1liner": "use @ufo.jit or the calculate task",
    "opencl-reduce": "use @ufo.jit or a Python reduction",
    "general-backproject": "general (tilted axis) back-projection is a later step",
    "lamino-backproject": "laminography back-projection is a later step",
    "cone-beam-projection-weight": "cone-beam weighting is a later step",
    "stacked-backproject": "backproject takes stacks of sinograms itself",
    "dump-ring": "uPIV ring records", "get-dup-circ": "uPIV ring records", "remove-circle": "uPIV ring records",
    "filter-particle": "uPIV particle records", "ring-pattern": "uPIV test patterns", "ringwriter": "uPIV records",
    "cv-show": "display only (OpenCV window)", "volume-render": "display only", "stamp": "display only (text)",
    "metaballs": "synthetic test images; use dummy-data", "sleep": "a timing aid, not a processing step",
    "gemm": "matrix products are not an imaging step; use @ufo.jit", "fftmult": "use @ufo.jit",
    "correlate-stacks": "not a tomography step", "cross-correlate": "use center-of-rotation for axis search",
    "contrast": "display only", "denoise": "use non-local-means or median-filter", "ordfilt": "use median-filter",
    "map-coordinates": "use rotate/rescale/@ufo.jit", "map-slice": "use stack and tile", "cut": "use crop",
    "replicate": "use loop", "refeed": "use buffer", "reduce": "use @ufo.jit", "stdin": "use read (raw files)",
    "unsplit": "use stack", "zmq-pub": "use zmq-send", "zmq-sub": "use zmq-receive",
}


def compat_markdown(names: Iterable[str], get: Callable[[str], type[Task]]) -> str:
    """docs/ufo-compat.md, generated from the tasks' declarations (a test checks it is current)."""
    lines = ["# UFO compatibility", "",
             "Generated from the tasks' `ufo_names` and `ufo_semantics` declarations (ufo/core/ufocompat.py) by",
             "`ufo tasks --ufo-compat > docs/ufo-compat.md`; a test checks that it is current.", "",
             "ufo-filters' property names are accepted by `ufo run`, `--json` graphs and the Python API alike.",
             "Where a UFO spelling means something else here, a pipeline (`ufo run`, `--json`) that uses a",
             "UFO-only name anywhere (`write filename=` too) is read as a UFO user's: every task of it gets UFO's",
             "behaviour (or with `ufo run --ufo`), and `ufo run` says so for each, also with `-q`; in the Python",
             "API only the task given a UFO-only name does. A UFO property without equivalent is refused with",
             "what to use instead. `ufo run --ufo-compat-report PIPELINE` shows the mapping of one pipeline.", ""]
    for name in names:
        cls = get(name)
        if not cls.ufo_names and cls.ufo_semantics is None:
            continue
        lines += [f"## {name}", "", "| UFO property | ufo | meaning |", "|---|---|---|"]
        for ufo_name, entry in cls.ufo_names.items():
            ours, meaning = entry.describe()
            lines.append(f"| `{ufo_name}` | `{ours}` | {meaning.replace('|', '&#124;')} |")
        if cls.ufo_semantics is not None:
            values = " ".join(f"{k}={v}" for k, v in cls.ufo_semantics.values.items())
            said = f"UFO's behaviour: `{values}`" if values else "Differs from UFO, said by `ufo run` where it applies"
            lines += ["", f"{said} ({cls.ufo_semantics.note})."]
        lines.append("")
    lines += ["## ufo-filters tasks not provided, and why", ""]
    lines += [f"- `{task}`: {why}" for task, why in NOT_PROVIDED.items()]
    return "\n".join(lines) + "\n"


def compat_report(text: str, is_json: bool = False) -> str:
    """How each property of a UFO pipeline (text or JSON graph) maps here: task, UFO property, ours, meaning."""
    import json

    from ..core import registry
    from ..core.pipeline import tokenize

    stages: list[tuple[str, list[str]]] = []
    if is_json:
        for node in json.loads(text).get("nodes", []):
            stages.append((str(node.get("plugin")), list(node.get("properties", {}) or {})))
    else:
        for token in tokenize(text):
            if token.kind != "word":
                continue
            key, eq, _ = token.text.partition("=")
            if eq and stages:
                stages[-1][1].append(key)
            elif not eq:
                stages.append((token.text, []))
    lines = ["task | UFO property | ufo | meaning"]
    for task, keys in stages:
        if task in NOT_PROVIDED:
            lines.append(f"{task} | - | - | not provided: {NOT_PROVIDED[task]}")
            continue
        try:
            cls = registry.get(task)
        except UsageError as exc:  # the report lists what it cannot map instead of stopping
            lines.append(f"{task} | - | - | unknown: {exc}")
            continue
        for key in keys:
            entry = cls.ufo_names.get(kebab(key))
            if entry is not None:
                ours, meaning = entry.describe()
                lines.append(f"{task} | {key} | {ours} | {meaning}")
            elif kebab(key).replace("-", "_") in cls.properties() or _known(cls, key):
                lines.append(f"{task} | {key} | {key} | ufo's own name")
            else:
                lines.append(f"{task} | {key} | - | unknown property")
        if cls.ufo_semantics is not None:
            values = " ".join(f"{k}={v}" for k, v in cls.ufo_semantics.values.items())
            how = "UFO's with UFO names or --ufo" if values else "said by ufo run where it applies"
            lines.append(f"{task} | (task) | {values or '-'} | differs: {cls.ufo_semantics.note} ({how})")
    return "\n".join(lines)


def _known(cls: type[Task], key: str) -> bool:
    try:
        cls.find_property(key)
        return True
    except PropertyError:
        return False
