"""The frame wire format: a JSON header part and the raw pixels as a second part, sent without copies.

Header of a frame: {"type": "frame", "dtype", "shape", "frame_number", "timestamp", "meta"}.
The stream ends with {"type": "end", "frames": N}; a failure is {"type": "error", "message"}.
"""

from __future__ import annotations

import json
from typing import Any

import numpy as np

from ..core.frame import scalar_meta

END = "end"


def frame_parts(frame: np.ndarray, meta: dict[str, Any]) -> list[Any]:
    header = {"type": "frame", "dtype": frame.dtype.str, "shape": list(frame.shape),
              "frame_number": meta.get("frame_number"), "timestamp": meta.get("timestamp"), "meta": scalar_meta(meta)}
    return [json.dumps(header).encode(), np.ascontiguousarray(frame)]


def end_parts(frames: int) -> list[bytes]:
    return [json.dumps({"type": END, "frames": frames}).encode()]


def error_parts(message: str) -> list[bytes]:
    return [json.dumps({"type": "error", "message": message}).encode()]


def decode(parts: list[Any]) -> tuple[dict[str, Any], np.ndarray | None]:
    """(header, frame view into the received buffer or None)."""
    header = json.loads(bytes(parts[0].buffer if hasattr(parts[0], "buffer") else parts[0]))
    if header.get("type") != "frame":
        return header, None
    payload = parts[1].buffer if hasattr(parts[1], "buffer") else parts[1]
    frame = np.frombuffer(payload, dtype=np.dtype(header["dtype"])).reshape(header["shape"])
    return header, frame
