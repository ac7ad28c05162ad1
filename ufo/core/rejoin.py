"""Streams that split and meet again through a reduction: how much the meeting node's inputs hold.

Why: `[average, calculate expression=x] ! calculate expression='x0-x1'` hung for good on 50
frames of 2048^2. The node where the branches meet reads its inputs in step; `average` gives its
frame only once it took the whole stream, so the other branch's frames pile up at the meeting
node, its channel (4 frames of 8 MiB) fills, the source blocks and `average` never ends. Such
inputs hold the whole stream now, where its frames are known and fit in memory; otherwise the
graph is refused before it runs, naming the branches and what to do.
"""

from __future__ import annotations

from typing import Any

from .errors import GraphError
from .resources import available_memory
from .task import Kind, Task

#: the share of the free memory the frames piling up at meeting nodes may take
SHARE = 0.5


def rejoin_capacities(tasks: list[Task], edges: list[tuple[Task, Task, int]], specs: dict[int, Any],
                      names: dict[int, str]) -> dict[tuple[int, int], int]:
    """{(id of the meeting node, input index): frames its channel must hold} for every node whose
    inputs split from one node and meet again with a reduction between (GraphError where that
    cannot be held: an unknown count, or more than SHARE of the free memory)."""
    ups: dict[int, list[tuple[int, Task]]] = {id(t): [] for t in tasks}
    for src, dst, index in edges:
        ups[id(dst)].append((index, src))
    seen: dict[int, set[int]] = {}

    def above(task: Task) -> set[int]:  # the task and everything upstream of it
        if id(task) not in seen:
            seen[id(task)] = {id(task)}.union(*(above(src) for _, src in ups[id(task)]))
        return seen[id(task)]

    kinds = {id(t): t.kind for t in tasks}
    needed: dict[tuple[int, int], int] = {}
    held = 0
    for task in tasks:
        inputs = sorted(ups[id(task)], key=lambda pair: pair[0])
        for a, (i, first) in enumerate(inputs):
            for j, second in inputs[a + 1:]:
                common = above(first) & above(second)
                between = (above(first) | above(second)) - common
                reductions = [n for n in between if kinds[n] is Kind.REDUCE]
                if not common or not reductions:
                    continue
                for index, src in ((i, first), (j, second)):
                    spec = specs.get(id(src))
                    count = getattr(spec, "count", None)
                    nbytes = getattr(spec, "nbytes", None)
                    if count is None or nbytes is None:
                        raise GraphError(_refusal(task, first, second, reductions, names, "(the stream's length is not "
                                                  "known)"))
                    if (id(task), index) not in needed:
                        needed[(id(task), index)] = count + 2
                        held += count * nbytes
    if held > SHARE * available_memory():
        task = next(t for t in tasks if any(key[0] == id(t) for key in needed))
        raise GraphError(f"node '{names[id(task)]}' reads branches of one stream that meet again after a reduction: "
                         f"the frames waiting for it ({held / 2**30:.1f} GiB) do not fit in memory; run the "
                         "branches as two graphs (write one, read it back)")
    return needed


def _refusal(task: Task, first: Task, second: Task, reductions: list[int], names: dict[int, str], why: str) -> str:
    return (f"node '{names[id(task)]}' reads '{names[id(first)]}' and '{names[id(second)]}', branches of one stream "
            f"that meet again after a reduction ('{names[reductions[0]]}' takes the whole stream before it gives): "
            f"the other branch's frames would wait for it without end {why}; run the branches as two graphs "
            "(write one, read it back)")
