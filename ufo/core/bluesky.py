"""A Bluesky-style callback adapter: a ufo run watched by a `cb(name, doc)` of a Bluesky setup.

Bluesky callbacks (LiveTable, LivePlot, a databroker serializer) take event-model documents;
`bluesky_callback(cb)` is a `watch()` callback that turns ufo progress updates into such
documents, so no bluesky import is needed here and any callable of that shape works.
"""

from __future__ import annotations

import math
import time
import uuid
from collections.abc import Callable
from typing import Any

from .progress import Progress


def bluesky_callback(callback: Callable[..., Any], name: str = "ufo") -> Callable[[Progress], None]:
    """An adapter for `watch()`: turns updates into Bluesky event-model documents and calls
    `callback(name, doc)` ('start', 'descriptor', one 'event' per update, 'stop'), so a
    LiveTable or any `cb(name, doc)` of a Bluesky setup can follow a ufo run."""
    state: dict[str, Any] = {"seq": 0}

    def emit(update: Progress) -> None:
        now = time.time()
        if "start" not in state:
            state["start"] = str(uuid.uuid4())
            state["descriptor"] = str(uuid.uuid4())
            callback("start", {"uid": state["start"], "time": now, "plan_name": name, "counter": update.name,
                               "unit": update.unit, "target": update.target})
            keys = {key: {"source": f"ufo:{update.name}", "dtype": "number", "shape": []}
                    for key in ("current", "rate", "time_elapsed", "time_remaining")}
            keys["current"]["units"] = update.unit
            keys["stage"] = {"source": f"ufo:{update.name}", "dtype": "string", "shape": []}
            callback("descriptor", {"uid": state["descriptor"], "run_start": state["start"], "time": now,
                                    "name": "primary", "data_keys": keys})
        state["seq"] += 1
        data = {"current": update.current, "rate": update.rate, "time_elapsed": update.time_elapsed,
                "time_remaining": update.time_remaining if update.time_remaining is not None else math.nan,
                "stage": update.stage}
        callback("event", {"uid": str(uuid.uuid4()), "descriptor": state["descriptor"], "time": now,
                           "seq_num": state["seq"], "data": data, "timestamps": {k: now for k in data}})
        if update.final:
            status = {"done": "success", "cancelled": "abort"}.get(update.stage, "fail")
            callback("stop", {"uid": str(uuid.uuid4()), "run_start": state["start"], "time": now,
                              "exit_status": status, "reason": update.error or "",
                              "num_events": {"primary": state["seq"]}})

    return emit

