"""Graphs as JSON, in the layout UFO's ufo-launch and ufo-runjson use.

``{"nodes": [{"plugin": "read", "name": "read", "properties": {...}}],
"edges": [{"from": {"name": "read"}, "to": {"name": "write", "input": 0}}]}``
"""

from __future__ import annotations

import json
from typing import Any

from . import registry
from .errors import GraphError, UsageError
from .graph import Graph, Stream
from .task import Kind


def to_dict(graph: Graph) -> dict[str, Any]:
    names = graph.names()
    nodes = []
    for task in graph.nodes:
        if task.name in ("memory-in", "memory-out", "iterate"):
            raise GraphError(f"task '{task.name}' holds Python data and cannot be saved as JSON")
        node: dict[str, Any] = {"plugin": task.name, "name": names[id(task)], "properties": task.property_values(only_set=True)}
        if task.replicas > 1:
            node["replicas"] = task.replicas
        nodes.append(node)
    edges = [{"from": {"name": names[id(src)]}, "to": {"name": names[id(dst)], "input": index}}
             for src, dst, index in graph.edges]
    return {"nodes": nodes, "edges": edges}


def dumps(graph: Graph) -> str:
    return json.dumps(to_dict(graph), indent=2)


def from_dict(data: dict[str, Any], source: str = "graph") -> Graph:
    if not isinstance(data, dict) or "nodes" not in data:
        raise UsageError(f"{source}: a JSON graph needs a 'nodes' list (and 'edges')")
    tasks = {}
    for entry in data["nodes"]:
        plugin = entry.get("plugin") or entry.get("task")
        name = entry.get("name", plugin)
        if not plugin:
            raise UsageError(f"{source}: node {entry!r} has no 'plugin'")
        if name in tasks:
            raise UsageError(f"{source}: two nodes are named '{name}'")
        tasks[name] = registry.get(plugin)(replicas=int(entry.get("replicas", 1)), **entry.get("properties", {}))
    inputs: dict[str, dict[int, str]] = {name: {} for name in tasks}
    for edge in data.get("edges", []):
        src = edge["from"]["name"] if isinstance(edge["from"], dict) else edge["from"]
        dst_entry = edge["to"]
        dst = dst_entry["name"] if isinstance(dst_entry, dict) else dst_entry
        index = int(dst_entry.get("input", 0)) if isinstance(dst_entry, dict) else 0
        for end in (src, dst):
            if end not in tasks:
                raise UsageError(f"{source}: edge refers to unknown node '{end}'")
        inputs[dst][index] = src
    streams: dict[str, Stream] = {}

    def stream_of(name: str, path: tuple[str, ...] = ()) -> Stream:
        if name in path:
            raise GraphError(f"{source}: the graph has a cycle through '{name}'")
        if name not in streams:
            task = tasks[name]
            ups = [stream_of(inputs[name][i], path + (name,)) for i in sorted(inputs[name])]
            streams[name] = task() if task.kind is Kind.SOURCE and not ups else task(*ups)
        return streams[name]

    used = {src for ins in inputs.values() for src in ins.values()}
    leaves = [stream_of(name) for name in tasks if name not in used]
    return Graph(leaves)


def loads(text: str, source: str = "graph") -> Graph:
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise UsageError(f"{source} is not valid JSON: {exc}") from None
    return from_dict(data, source)
