"""Who ran what: a run id for every experiment run, with sample, proposal and operator.

A scan file is only useful later if it says which run it is and whose: the `RunRecord` addon
gives each run an id made of a counter people can say aloud (`run00042`) and a uuid that is
unique everywhere, and puts it with the user's `sample`, `proposal` and `operator` where
readers look: the experiment's `metadata` (what `Tomography.scan_metadata()` hands the
writers, so the NXtomo gets `/entry/title`, `entry_identifier`, `experiment_identifier`,
`/entry/sample/name` and an NXuser) and the walker's metadata.json (`run`).
"""

from __future__ import annotations

import os
import uuid
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from ..core.errors import UsageError
from .experiment import Addon, Experiment

#: the user metadata a run records besides its id (docs/conventions.md, "Output metadata")
USER_KEYS = ("sample", "proposal", "operator")


@dataclass(frozen=True)
class RunInfo:
    """One run: `run_id` ('run00042-1a2b3c4d': counter and the uuid's start), `run_number`,
    `run_uuid`, the experiment's scan name and the user's sample, proposal and operator."""

    run_id: str
    run_number: int
    run_uuid: str
    scan: str | None = None
    sample: str | None = None
    proposal: str | None = None
    operator: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return {key: value for key, value in asdict(self).items() if value is not None}


def next_number(counter: Path) -> int:
    """Increment the counter in `counter` (a text file; created at 1) under an exclusive lock, so
    two processes never get one number."""
    import fcntl

    counter.parent.mkdir(parents=True, exist_ok=True)
    with open(counter, "a+") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        f.seek(0)
        text = f.read().strip()
        number = (int(text) if text.isdigit() else 0) + 1
        f.seek(0)
        f.truncate()
        f.write(f"{number}\n")
        f.flush()
        os.fsync(f.fileno())
    return number


def default_counter() -> Path:
    """The run counter beside the sessions (one numbering per beamline computer)."""
    from .places import folder

    return folder() / "run-counter"


def new_run(user: dict[str, Any], scan: str | None = None, counter: Path | None = None) -> RunInfo:
    """A fresh RunInfo with the next number of `counter` and the user's keys from `user`."""
    number = next_number(counter or default_counter())
    ident = uuid.uuid4().hex
    values = {key: (None if user.get(key) is None else str(user[key])) for key in USER_KEYS}
    return RunInfo(f"run{number:05d}-{ident[:8]}", number, ident, scan, **values)


class RunRecord(Addon):
    """Gives every run of the experiment it is attached to a run id (see the module doc).

    User metadata comes from the experiment's `metadata` (Tomography(metadata=...)) and then
    the keyword arguments here (sample='...', proposal='...', operator='...'), which win.
    `info` is the RunInfo of the current (or last) run.
    """

    lossy = True  # it wants no frames: never let it slow a scan down

    def __init__(self, counter: str | Path | None = None, **user: Any):
        super().__init__(queue_size=1)
        unknown = set(user) - set(USER_KEYS)
        if unknown:
            raise UsageError(f"RunRecord takes {', '.join(USER_KEYS)} as keywords, not {', '.join(sorted(unknown))}; "
                             "other metadata goes to Tomography(metadata=...) or ImageWriter(metadata=...)")
        self.counter = None if counter is None else Path(counter)
        self.user = user
        self.info: RunInfo | None = None

    async def start(self, experiment: Experiment) -> None:
        metadata = getattr(experiment, "metadata", None)
        given = {**(metadata if isinstance(metadata, dict) else {}), **self.user}
        self.info = new_run(given, experiment.current, self.counter)
        if isinstance(metadata, dict):  # where scan_metadata() and so the writers find it
            metadata.update(self.info.as_dict())
        if experiment.walker is not None:
            experiment.walker.log(self.info.as_dict(), "run")

    async def consume(self, acquisition: str, frame: Any) -> None:
        """Frames are not this addon's business."""
