"""How many replicas (threads, each with its own buffers) one node may have."""

from __future__ import annotations

import os
from typing import Any

from .errors import PropertyError


def max_replicas() -> int:
    """The most replicas one node may have (each a thread with its own buffers): 4 per CPU core, at
    least 64, at most 1024. UFO_MAX_REPLICAS overrides it (capped at 1024)."""
    override = os.environ.get("UFO_MAX_REPLICAS", "").strip()
    if override.isdigit() and int(override) > 0:
        return min(1024, int(override))
    return min(1024, max(64, 4 * (os.cpu_count() or 1)))


def check_replicas(task_name: str, replicas: Any) -> int:
    """`replicas` as a valid count, or PropertyError naming the task and the limit."""
    if isinstance(replicas, bool) or not isinstance(replicas, int) or replicas < 1:
        raise PropertyError(f"task '{task_name}': replicas must be an integer >= 1, got {replicas!r}")
    limit = max_replicas()
    if replicas > limit:
        raise PropertyError(f"task '{task_name}': replicas={replicas} is too many; at most {limit} "
                            f"(4 per CPU core, at least 64, at most 1024; UFO_MAX_REPLICAS changes it)")
    return replicas
