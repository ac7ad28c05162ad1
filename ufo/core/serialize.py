"""Graphs as JSON, in the layout UFO's ufo-launch and ufo-runjson use.

``{"nodes": [{"plugin": "read", "name": "read", "properties": {...}}],
"edges": [{"from": {"name": "read"}, "to": {"name": "write", "input": 0}}]}``
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from . import registry
from .api import Graph
from .errors import GraphError, PropertyError, UsageError
from .pipeline import MAX_TASKS
from .task import Kind
from .ufocompat import apply

if TYPE_CHECKING:
    from .task import Stream


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


def _int(value: Any, what: str, source: str) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, str)):
        raise UsageError(f"{source}: {what} must be an integer, got {value!r}")
    try:
        return int(value)
    except ValueError as err:
        raise UsageError(f"{source}: {what} must be an integer, got {value!r}") from err


def _in_node(exc: UsageError, source: str, name: str) -> UsageError:
    """`exc` with the file and node named in front (same class where it takes a message)."""
    message = f"{source}: node '{name}': {exc}"
    try:
        return type(exc)(message)
    except TypeError:
        return UsageError(message)


def _node_name(end: Any, what: str, source: str) -> str:
    """The node name an edge end gives: a string or {"name": ...}."""
    name = end.get("name") if isinstance(end, dict) else end
    if not isinstance(name, str):
        raise UsageError(f"{source}: an edge's '{what}' must be a node name or {{\"name\": ...}}, got {end!r}")
    return name


def from_dict(data: dict[str, Any], source: str = "graph") -> Graph:
    """Build a graph from the JSON layout; every malformed part is one UsageError or GraphError."""
    if not isinstance(data, dict) or not isinstance(data.get("nodes"), list):
        raise UsageError(f"{source}: a JSON graph is an object with a 'nodes' list (and an 'edges' list)")
    edges_data = data.get("edges", [])
    if not isinstance(edges_data, list):
        raise UsageError(f"{source}: 'edges' must be a list, got {type(edges_data).__name__}")
    if len(data["nodes"]) > MAX_TASKS:
        raise UsageError(f"{source}: a graph holds at most {MAX_TASKS} nodes, got {len(data['nodes'])}")
    tasks = {}
    for entry in data["nodes"]:
        if not isinstance(entry, dict):
            raise UsageError(f"{source}: each node is an object with a 'plugin', got {entry!r}")
        plugin = entry.get("plugin") or entry.get("task")
        name = entry.get("name", plugin)
        if not plugin:
            raise UsageError(f"{source}: node {entry!r} has no 'plugin'")
        if not isinstance(plugin, str) or not isinstance(name, str):
            raise UsageError(f"{source}: a node's 'plugin' and 'name' must be strings, got {entry!r}")
        if name in tasks:
            raise UsageError(f"{source}: two nodes are named '{name}'")
        properties = entry.get("properties", {})
        if properties is None:
            properties = {}
        if not isinstance(properties, dict) or not all(isinstance(k, str) for k in properties):
            raise UsageError(f"{source}: node '{name}': 'properties' must be an object, got {properties!r}")
        if "replicas" in properties:
            raise UsageError(f"{source}: node '{name}': 'replicas' belongs to the node, not to its properties")
        replicas = _int(entry.get("replicas", 1), f"node '{name}': replicas", source)
        try:
            tasks[name] = registry.get(plugin)(replicas=replicas, **properties)
        except UsageError as exc:
            raise _in_node(exc, source, name) from exc
        except (TypeError, ValueError) as exc:  # a task's own __init__ refusing an argument
            raise PropertyError(f"{source}: node '{name}': {exc}") from exc
    inputs: dict[str, dict[int, str]] = {name: {} for name in tasks}
    for edge in edges_data:
        if not isinstance(edge, dict) or "from" not in edge or "to" not in edge:
            raise UsageError(f"{source}: each edge is an object with 'from' and 'to', got {edge!r}")
        src = _node_name(edge["from"], "from", source)
        dst_entry = edge["to"]
        dst = _node_name(dst_entry, "to", source)
        index = _int(dst_entry.get("input", 0), f"the input of edge to '{dst}'", source) if isinstance(dst_entry, dict) else 0
        for end in (src, dst):
            if end not in tasks:
                raise UsageError(f"{source}: edge refers to unknown node '{end}'")
        if not 0 <= index < len(tasks[dst].inputs):
            raise GraphError(f"{source}: node '{dst}' ({tasks[dst].name}) has inputs 0..{len(tasks[dst].inputs) - 1}, "
                             f"an edge feeds input {index}")
        if index in inputs[dst]:
            raise GraphError(f"{source}: input {index} of node '{dst}' is fed twice ('{inputs[dst][index]}' and '{src}')")
        inputs[dst][index] = src
    streams: dict[str, Stream] = {}

    def stream_of(name: str, path: tuple[str, ...] = ()) -> Stream:
        if name in path:
            raise GraphError(f"{source}: the graph has a cycle through '{name}'")
        if name not in streams:
            task = tasks[name]
            indices = sorted(inputs[name])
            if indices != list(range(len(indices))):
                raise GraphError(f"{source}: node '{name}' gets inputs {indices}; inputs are numbered 0, 1, ... without gaps")
            ups = [stream_of(inputs[name][i], path + (name,)) for i in indices]
            try:
                streams[name] = task() if task.kind is Kind.SOURCE and not ups else task(*ups)
            except UsageError as exc:
                raise _in_node(exc, source, name) from exc
        return streams[name]

    for name in tasks:  # every node, so that a cycle is found even where it feeds nothing
        stream_of(name)
    used = {src for ins in inputs.values() for src in ins.values()}
    graph = Graph([streams[name] for name in tasks if name not in used])
    apply(graph.nodes)  # a UFO graph (UFO's property names) gets UFO's semantics where they differ here
    return graph


def loads(text: str, source: str = "graph") -> Graph:
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise UsageError(f"{source} is not valid JSON: {exc}") from exc
    except RecursionError as err:
        raise UsageError(f"{source}: the JSON is nested too deeply") from err
    return from_dict(data, source)
