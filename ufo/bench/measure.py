"""One benchmark figure: ufo's value beside its peer's, measured in the same run."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class Measure:
    area: str  # runtime, storage, camera, reco, gpu
    what: str
    ufo: float
    peer: str
    peer_value: float | None  # None: the peer is not installed here (see note)
    unit: str
    note: str = ""
    higher_is_better: bool = True

    @property
    def ratio(self) -> float | None:
        """How many times better ufo is (> 1: ufo wins)."""
        if not self.peer_value or not self.ufo:
            return None
        return self.ufo / self.peer_value if self.higher_is_better else self.peer_value / self.ufo
