"""What the machine has left: memory available to new allocations (for planning passes and buffers)."""

from __future__ import annotations

import os


def available_memory() -> int:
    """Bytes available to new allocations (MemAvailable), or a large number when unknown."""
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    try:
        return int(os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE"))
    except (ValueError, OSError, AttributeError):
        return 1 << 62
