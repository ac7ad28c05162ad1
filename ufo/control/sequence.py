"""A sequence of samples: one experiment run per sample, each into its own scan folder.

A sample changer or a multi-sample holder puts several samples on one stage; the sequence
moves the stage to each sample's position, runs the experiment (a Tomography or any kind built
on it, a Radiography, ...) and names the sample everywhere the scan is recorded: the
experiment's `metadata["sample"]` (NXtomo `/entry/sample/name`) and a `sample` record (name,
stage, position) in the scan folder's walker metadata. A failing scan stops the sequence; the
scans done stay as they are, and the stage goes back where it was.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from ..core.errors import UsageError
from .experiment import Experiment


class SampleSequence:
    """Runs `experiment` once per (name, position) of `samples`, moving `stage` (a motor) there first."""

    def __init__(self, experiment: Experiment, stage: Any, samples: Iterable[tuple[str, Any]]):
        self.experiment = experiment
        self.stage = stage
        self.samples = [(str(name), position) for name, position in samples]
        if not self.samples:
            raise UsageError("a sample sequence needs at least one (name, position) pair")
        names = [name for name, _ in self.samples]
        for name in names:
            if not name.strip():
                raise UsageError(f"a sample sequence needs a name for every sample, got {names}")
        if len(set(names)) != len(names):
            raise UsageError(f"sample names must differ (they name the scans), got {names}")
        self.scans: dict[str, str] = {}  # sample name -> scan name of the last run

    async def run(self) -> dict[str, str]:
        """One scan per sample, in order; returns {sample: scan name}."""
        metadata = getattr(self.experiment, "metadata", None)
        if metadata is None:
            raise UsageError(f"{type(self.experiment).__name__} keeps no metadata to name its samples in; "
                             "use a Tomography (or a kind built on it) or a Radiography")
        before = metadata.get("sample")
        self.scans = {}
        await self.stage["position"].stash()
        try:
            for name, position in self.samples:
                await self.stage.set_position(position)
                metadata["sample"] = name
                scan = await self.experiment.run()
                self.scans[name] = scan
                walker = self.experiment.walker
                if walker is not None:  # the walker still stands in the scan's folder
                    walker.log({"name": name, "stage": self.stage.name, "position": position}, "sample")
        finally:
            if before is None:
                metadata.pop("sample", None)
            else:
                metadata["sample"] = before
            await self.stage["position"].restore()
        return dict(self.scans)
