"""The benchmark suite behind `ufo bench`: ufo and its peers measured in the same run.

Each area's `measure()` returns `Measure`s; the scripts under benchmarks/ call the same
functions with larger sizes and print their detailed tables (docs/benchmarks.md).
"""

from __future__ import annotations

from collections.abc import Callable

from .measure import Measure

AREAS = ("runtime", "storage", "camera", "reco", "gpu")


def measure(area: str, scale: float = 1.0, directory: str | None = None) -> list[Measure]:
    """Run one area's benchmarks (imported on demand: the GPU one needs CuPy)."""
    if area == "runtime":
        from .runtime import measure as run
        return run(scale)
    if area == "storage":
        from .storage import measure as store
        return store(scale, directory)
    if area == "camera":
        from .camera import measure as grab
        return grab(scale)
    if area == "reco":
        from .reco import measure as reconstruct
        return reconstruct(scale)
    if area == "gpu":
        from ..core.resources import available

        if not available():
            return [Measure("gpu", "FBP on a GPU", 0.0, "-", None, "GUPS", "no GPU here (CuPy and CUDA needed)")]
        from .reco import measure_gpu
        return measure_gpu(scale)
    raise ValueError(f"unknown benchmark area '{area}'; choose from {', '.join(AREAS)}")


def run_all(areas: tuple[str, ...] = AREAS, scale: float = 1.0, directory: str | None = None,
            on_area: Callable[[str], None] | None = None) -> list[Measure]:
    results: list[Measure] = []
    for area in areas:
        if on_area is not None:
            on_area(area)
        results.extend(measure(area, scale, directory))
    return results


__all__ = ["AREAS", "Measure", "measure", "run_all"]
