"""UFO (ufo-filters) compatibility, declared once per task and resolved here.

A beamline's `ufo-launch` strings and JSON graphs use ufo-filters' property names
(`write filename=`, `backproject axis-pos=`). Each task declares, next to its properties, a
`ufo_names` mapping from every UFO property name to one of:

* `same("ours")`: the same meaning under our name (or under the same name);
* `differs("ours", note, convert)`: UFO's value is translated (`convert` returns our
  properties) and `note` says how the meanings relate;
* `missing(note)`: no equivalent; setting it raises an error whose message is `note` (what to
  use instead).

Where UFO's task computes something else under the very same spelling (bin sums, ours
averages), the task declares `ufo_semantics`: our property values that give UFO's result.
They are applied to a graph that uses UFO's spellings (or with `ufo run --ufo`), never
silently: `apply` returns a note for each. `Task.set` (core/task.py) calls `resolve`, so the
pipeline parser, the JSON loader and the Python API accept the same names.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

from .errors import PropertyError

if TYPE_CHECKING:
    from .task import Task


@dataclass(frozen=True)
class UfoName:
    """UFO's name for one property: what it sets here and whether the meaning is the same."""

    ours: str | None  # our property (kebab-case); None: no equivalent
    note: str = ""  # '' for the same meaning; else how UFO's differs, or what to use instead
    convert: Callable[[Any], dict[str, Any]] | None = None  # UFO's value -> our properties

    @property
    def same(self) -> bool:
        return self.ours is not None and not self.note

    def describe(self) -> tuple[str, str]:
        """(our property as people read it, the meaning) for the docs table and the report."""
        if self.ours is None:
            return "-", f"not provided: {self.note}"
        ours = self.ours or "(no effect)"
        return ours, "same" if self.same else f"differs: {self.note}"


@dataclass(frozen=True)
class UfoSemantics:
    """Our property values that give UFO's result where a UFO spelling means something else here."""

    values: dict[str, Any] = field(default_factory=dict)
    note: str = ""
    #: a difference no value of ours removes: returns the note to show for this task, or None
    check: Callable[[Any], str | None] | None = None


def same(ours: str) -> UfoName:
    return UfoName(ours)


def differs(ours: str, note: str, convert: Callable[[Any], dict[str, Any]] | None = None) -> UfoName:
    return UfoName(ours, note, convert)


def missing(note: str) -> UfoName:
    return UfoName(None, note)


def declare(names: dict[str, UfoName]) -> Mapping[str, UfoName]:
    """A task's `ufo_names`, read-only: declared once with the class, shared by every instance."""
    return MappingProxyType(names)


def ignored(note: str) -> UfoName:
    """A UFO property that does not change the result (accepted, no effect here)."""
    return UfoName("", note, lambda value: {})


def zero_is_default(ours: str, note: str = "0 (UFO's 'whole frame' or 'automatic') means our default") -> UfoName:
    """UFO's 0 (or -1) for 'not set': dropped so that ours takes its default. Other values, -3 too,
    go to our property, which checks its range (every negative was taken for 'whole frame')."""
    def convert(value: Any) -> dict[str, Any]:
        try:
            unset = float(value) in (0.0, -1.0)
        except (TypeError, ValueError):
            unset = False
        return {} if unset else {ours: value}
    return UfoName(ours, note, convert)


def only(values: dict[str, dict[str, Any]], refusal: str, ours: str = "") -> UfoName:
    """UFO's enum or flag whose listed values map to our properties; any other value is refused."""
    def convert(value: Any) -> dict[str, Any]:
        key = str(value).strip().lower()
        if key in values:
            return values[key]
        raise PropertyError(f"UFO's value {value!r} is not supported: {refusal}")
    accepted = ", ".join(values)
    return UfoName(ours, f"accepts {accepted}; {refusal}", convert)


def kebab(name: str) -> str:
    return name.replace("_", "-")


def resolve(cls: type[Task], key: str, value: Any) -> dict[str, Any]:
    """Our property attributes and (unconverted) values that `key=value` sets on a `cls` task.

    Our own names and aliases win; then UFO's name from `cls.ufo_names`. An unknown name keeps
    the usual error (with suggestions) unless UFO knows it, whose note then says what to use.
    A name both spell takes UFO's value where ours refuses it (crop width=0: UFO's 'whole frame');
    where UFO's reading fails too, our message stands.
    """
    entry = cls.ufo_names.get(kebab(key))
    ours_error: PropertyError | None = None
    try:
        prop = cls.find_property(key)
        if entry is not None and entry.convert is not None:  # the same name, UFO's values: ours first
            prop.convert(value, cls.name)
        return {prop.name: value}
    except PropertyError as exc:
        if entry is None:
            raise
        if kebab(key).replace("-", "_") in cls.properties():
            ours_error = exc
    if entry.ours is None:
        raise PropertyError(f"task '{cls.name}': UFO's property '{kebab(key)}' has no equivalent in ufo: {entry.note}")
    try:
        mapped = entry.convert(value) if entry.convert is not None else {entry.ours: value}
        resolved = {cls.find_property(name).name: val for name, val in mapped.items()}
        for attribute, val in resolved.items():
            cls.properties()[attribute].convert(val, cls.name)
    except PropertyError as exc:
        if ours_error is not None:  # both spell the name: say what ours takes and why UFO's reading fails too
            if str(exc) == str(ours_error):  # the same complaint both ways: said once
                raise ours_error from exc
            raise PropertyError(f"{ours_error} (read as UFO's: {exc})") from exc
        raise PropertyError(f"task '{cls.name}': UFO's property '{kebab(key)}': {exc}") from exc
    return resolved


def spelling(cls: type[Task], key: str, value: Any) -> str:
    """'ufo' where only UFO reads `key=value` (its name, or a value only its convert takes), 'both' where both
    read it and UFO's convert may read it otherwise (pad addressing-mode=clamp), else 'ours'."""
    entry = cls.ufo_names.get(kebab(key))
    if entry is None:
        return "ours"
    try:
        cls.find_property(key).convert(value, cls.name)
    except PropertyError:
        return "ufo"
    return "both" if entry.convert is not None else "ours"


def apply(tasks: Iterable[Task], force: bool = False) -> list[str]:
    """Give UFO's meaning to the tasks of a graph written with UFO's spellings; a note for each change.

    With `force` (ufo run --ufo) always; else only where some task was given a UFO-only name. A value
    given in a spelling both read (pad addressing-mode=clamp) is read as UFO reads it; a task's
    `ufo_semantics` set what the user did not set. Properties are set directly (not through
    Task.set), so applying twice changes nothing more.
    """
    tasks = list(tasks)
    if not force and not any(t.ufo_spelled for t in tasks):
        return []
    notes = []
    for task in tasks:
        cls = type(task)
        shared, task.ufo_shared = task.ufo_shared, MappingProxyType({})
        for key, value in shared.items():
            entry = cls.ufo_names[kebab(key)]
            try:
                mapped = entry.convert(value) if entry.convert is not None else {}
            except PropertyError as exc:
                raise PropertyError(f"task '{cls.name}': in a UFO graph, {kebab(key)}={value!r}: {exc}") from exc
            before = task.property_values()
            for name, val in mapped.items():
                setattr(task, cls.find_property(name).name, val)
            if task.property_values() != before:
                notes.append(_note(task, f"{kebab(key)}={value} as UFO reads it ({entry.note})"))
        semantics = cls.ufo_semantics
        if semantics is None:
            continue
        warning = semantics.check(task) if semantics.check is not None else None
        if warning and not any(warning in n for n in task.ufo_notes):
            notes.append(_note(task, warning))
        changed = {k: v for k, v in semantics.values.items() if cls.find_property(k).name not in task.__dict__}
        for name, val in changed.items():
            setattr(task, cls.find_property(name).name, val)
        if changed:
            settings = " ".join(f"{k}={v}" for k, v in changed.items())
            notes.append(_note(task, f"UFO's meaning ({settings}): {semantics.note}"))
    return notes


def _note(task: Task, text: str) -> str:
    """Record a note on the task (ufo run prints them), tell it to a script (`Backproject(axis_pos=...)`
    gave UFO's unfiltered sums without a word) and return it."""
    from .tell import tell

    note = f"{task.name}: {text}"
    task.ufo_notes = [*task.ufo_notes, note]
    tell(f"UFO: {note}")
    return note
