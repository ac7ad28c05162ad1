"""Row ranges: how the rows of a reconstruction are split into tasks, sized by the workers."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from .. import reco as reco_mod


@dataclass(frozen=True)
class Part:
    """One task: the slices `first:stop` of the plan's rows."""

    first: int
    stop: int

    @property
    def slices(self) -> int:
        return self.stop - self.first


def split(slices: int, rows_per_part: int) -> list[Part]:
    """Ranges of at most `rows_per_part` slices covering 0..slices."""
    step = max(1, rows_per_part)
    return [Part(a, min(a + step, slices)) for a in range(0, slices, step)]


def rows_per_part(plan: reco_mod.Plan, workers: dict[str, dict[str, Any]], parts_per_worker: int = 4,
                  gpu_memory: dict[str, list[int]] | None = None) -> int:
    """Slices per task: what the smallest worker's memory (and the smallest GPU's free memory,
    where workers have GPUs) holds, and small enough that every worker gets several tasks
    (balance, progress, cheap re-runs after a loss)."""
    per_row = plan.projections * plan.width * 4 * 3  # as reco.plan counts a pass
    memory = min((w.get("memory_limit") or 0) for w in workers.values()) if workers else 0
    fits = max(1, int(memory * plan.options.memory_fraction) // per_row) if memory else plan.slices
    gpus = [free for frees in (gpu_memory or {}).values() for free in frees]
    if gpus:  # on a GPU: the sinograms twice (raw, filtered) and the slices
        per_gpu_row = plan.projections * plan.width * 4 * 2 + plan.width * plan.width * 4
        fits = min(fits, max(1, int(min(gpus) * plan.options.memory_fraction) // per_gpu_row))
    balanced = math.ceil(plan.slices / max(1, len(workers) * parts_per_worker))
    size = min(fits, balanced)
    stack = plan.options.slices_per_pass  # whole back-projection stacks where two or more fit
    return max(1, size // stack * stack if size >= 2 * stack else size)


def gpu_memory_of_workers(client: Any) -> dict[str, list[int]]:
    """Free bytes of every GPU each worker sees (empty lists where there are none)."""
    return client.run(_free_gpu_memory)  # type: ignore[no-any-return]


def _free_gpu_memory() -> list[int]:
    from ..core.resources import available

    if not available():
        return []
    import cupy

    free = []
    for device in range(cupy.cuda.runtime.getDeviceCount()):
        with cupy.cuda.Device(device):
            free.append(int(cupy.cuda.runtime.memGetInfo()[0]))
    return free
