"""Tables from the logs of `ufo reco --profile` runs: for each variant, its wall times and, from
its `timeline` lines, when the first pass was read, the first slices reached the writer, the
last frame was read and the last slice was written (seconds after the reconstruction started).

Why: an A/B of the resident path (benchmarks/reco_server_ab_gpu.sh) is decided by where the
time went, not by the wall time alone; reading the timelines by hand lost runs before.
A log holds, per run, a line `=== ROUND CACHE: VARIANT`, then the command's `timeline ...` line
and `wall S s (exit N)` (from /usr/bin/time).
"""

from __future__ import annotations

import re
import statistics
import sys
from dataclasses import dataclass

_EVENT = re.compile(r"([a-z][a-z0-9 \-()]+?) (\d+\.\d+)")


@dataclass(frozen=True)
class Run:
    wall: float
    first_pass: float  # last frame of the first pass read (one pass: the only one)
    to_writer: float  # first slices handed to the writer
    last_read: float  # last frame of the last pass read
    written: float  # last slice written


def events(line: str) -> dict[str, float]:
    """The events of a `timeline (...): name 1.23 · name 4.56` line, in seconds after the reconstruction started."""
    found = {m.group(1).strip(): float(m.group(2)) for m in _EVENT.finditer(line.split(":", 1)[1])}
    start = found.get("reconstruction started", 0.0)
    return {name: at - start for name, at in found.items()}


def runs(lines: list[str]) -> dict[str, list[Run]]:
    """{variant: its runs, in log order}; a run without its timeline (a failure) is left out."""
    table: dict[str, list[Run]] = {}
    variant, seen = None, None
    for line in lines:
        if line.startswith("=== "):
            variant = line[4:].split(":", 1)[1].strip() if ":" in line else line[4:].strip()
            variant, seen = variant or "(default)", None
        elif line.startswith("timeline") and variant is not None:
            seen = events(line)
        elif line.startswith("wall ") and variant is not None and seen is not None:
            reads = [at for name, at in seen.items() if name.startswith("last frame read")]
            first = [at for name, at in seen.items() if name.startswith("last frame read") and "pass 1 " in name]
            table.setdefault(variant, []).append(Run(
                float(line.split()[1]), (first or reads or [float("nan")])[0],
                seen.get("first slices to the writer", float("nan")), max(reads, default=float("nan")),
                seen.get("slices written", float("nan"))))
            seen = None
    return table


def markdown(table: dict[str, list[Run]]) -> list[str]:
    """One row a variant: walls, their median, then the ranges of the timeline's events (over the
    runs that had them)."""
    out = ["| variant | wall (s) | median | first pass read | first slices to the writer | last frame read | slices written |",
           "|---|---|---|---|---|---|---|"]
    for variant, got in table.items():
        def span(values: list[float]) -> str:
            known = [v for v in values if v == v]  # not NaN: an event a run did not have
            return f"{min(known):.2f}-{max(known):.2f}" if known else "-"

        walls = [r.wall for r in got]
        out.append(f"| {variant} | {', '.join(f'{w:.2f}' for w in walls)} | **{statistics.median(walls):.2f}** | "
                   f"{span([r.first_pass for r in got])} | {span([r.to_writer for r in got])} | "
                   f"{span([r.last_read for r in got])} | {span([r.written for r in got])} |")
    return out


def main(argv: list[str] | None = None) -> int:
    """python -m ufo.bench.timelines LOG: the table of a log."""
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1:
        print("usage: python -m ufo.bench.timelines LOG", file=sys.stderr)
        return 2
    with open(args[0], encoding="utf-8", errors="replace") as f:
        print("\n".join(markdown(runs(f.read().splitlines()))))
    return 0


if __name__ == "__main__":
    sys.exit(main())
