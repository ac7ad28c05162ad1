"""Options declared once, as dataclass fields carrying a typed `Option`.

A settings class (`RecoOptions`, or the GUI's own fields) is a dataclass whose fields are
made by `option(...)`: the field keeps the Python name, type annotation and default; the
`Option` it carries (a `ufo.core.properties.Property`, the machinery tasks and cameras use)
adds the unit, range, choices, one-line doc and group. The command line, the GUI form and its
server-side checks, config files, output metadata and the docs table are all generated from
these declarations (`options_of`), so they cannot drift apart: one `Option.convert` accepts
or refuses a value, with one message, wherever it came from.
"""

from __future__ import annotations

import dataclasses
import json
import math
import re
from collections.abc import Mapping
from typing import Any

from ..core.errors import PropertyError, suggest
from ..core.properties import Property
from ..core.units import is_quantity, to_unit

GROUPS = ("input", "geometry", "filter", "phase", "rings/outliers", "output", "resources")
#: a number followed by a unit ('20keV', '1.2 um', '6.5e-6m'); '1e-6' alone is a plain number (the
#: lookahead keeps the exponent's 'e' from being taken for a unit)
_WITH_UNIT = re.compile(r"^\s*[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?\s*(?![eE][-+]?\d)[A-Za-zµ°%]")


class OptionError(PropertyError):
    """A value an option refuses; `option` names it and `reason` says why without the name, so
    the CLI ("Invalid value for '--energy': ..."), the GUI (next to the field) and config files
    show the same reason."""

    def __init__(self, option: str, reason: str):
        self.option = option
        self.reason = reason
        super().__init__(f"{option}: {reason}")


def _show(value: Any) -> str:
    """A value as a message quotes it (JSON for what came over HTTP, cut short)."""
    if isinstance(value, str):
        return repr(value)
    try:
        return json.dumps(value)[:80]
    except (TypeError, ValueError):
        return repr(value)[:80]


class Option(Property):
    """One setting: a Property plus what the front-ends need to show it.

    `group` sorts it in help, form and docs; `label` titles the GUI field; `cli` replaces the
    flag's name (`replicas` is `--threads`) and `short` adds one ('-o'); `path` makes it a file
    field in the GUI; `keywords` are words accepted besides numbers ('auto' for the axis);
    `positive` refuses 0 and below (a range is inclusive); `default_text` shows a default that
    depends on the machine. Values are stricter than task properties on types: a bool takes
    true/false only and a text field takes text only, because a form field sent as the wrong
    JSON type is the request's fault, not something to guess at.
    """

    owner_kind = "option"

    def __init__(self, type: type, default: Any = None, *, doc: str, group: str, label: str | None = None,
                 cli: str | None = None, short: str | None = None, path: bool = False,
                 keywords: tuple[str, ...] = (), positive: bool = False, default_text: str | None = None,
                 **kwargs: Any):
        if group not in GROUPS:
            raise ValueError(f"option group must be one of {', '.join(GROUPS)}, not '{group}'")
        self.group = group
        self.label = label
        self.cli = cli
        self.short = short
        self.path = path
        self.keywords = keywords
        self.positive = positive
        self.default_text = default_text
        super().__init__(type, default, doc=doc, nullable=default is None, **kwargs)

    @property
    def flag(self) -> str:
        """The command-line flag, '--pixel-size'."""
        return "--" + (self.cli or self.cli_name)

    @property
    def title(self) -> str:
        return self.label or self.name.replace("_", " ").capitalize()

    @property
    def kind(self) -> str:
        """The GUI field kind: bool, select, path, integer, number or text."""
        if self.type is bool:
            return "bool"
        if self.choices is not None:
            return "select"
        if self.path:
            return "path"
        if self.array or self.keywords or self.type is str:
            return "text"
        return "integer" if self.type is int else "number"

    def _fail(self, task: str | None, message: str) -> OptionError:
        return OptionError(self.name, message)

    def _scalar(self, value: Any, task: str | None) -> Any:
        if isinstance(value, (list, tuple, dict, set)):
            raise self._fail(task, f"expected {self._expected()}, got {_show(value)}")
        if self.type is bool:
            if isinstance(value, str) and value.strip().lower() in ("true", "false"):
                value = value.strip().lower() == "true"
            if not isinstance(value, bool):
                raise self._fail(task, f"expected {self._expected()}, got {_show(value)}")
            return value
        if self.type is str:
            if not isinstance(value, str):
                raise self._fail(task, f"expected {self._expected()}, got {_show(value)}")
            return super()._scalar(value, task)
        if isinstance(value, bool) or not (isinstance(value, (int, float, str)) or is_quantity(value)
                                           or hasattr(value, "dtype")):
            raise self._fail(task, f"expected {self._expected()}, got {_show(value)}")
        if isinstance(value, str) and value.strip() in self.keywords:
            return value.strip()
        value = self._number(value, task)
        value = super()._scalar(value, task)  # int conversion, range and choices as for task properties
        if self.positive and not value > 0:
            raise self._fail(task, f"must be > 0{' ' + self.unit if self.unit else ''}, got {value!r}")
        return value

    def _expected(self) -> str:
        """What one value of this option is, in words ('a number or 'auto'', 'text')."""
        if self.type is bool:
            return "true or false"
        if self.type is str:
            return "text"
        return "a number" + "".join(f" or '{k}'" for k in self.keywords)

    def _number(self, value: Any, task: str | None) -> Any:
        """A number, text of one, or a quantity with its own unit ('20keV', '0.25 deg') in `unit`."""
        unit = f" (in {self.unit})" if self.unit else ""
        if self.unit is not None and (is_quantity(value) or (isinstance(value, str) and _WITH_UNIT.match(value))):
            try:
                return to_unit(value, self.unit, finite=self.finite)
            except ValueError as err:
                raise self._fail(task, str(err)) from err
        if is_quantity(value):
            raise self._fail(task, f"{value} has a unit; this option takes a plain number")
        if isinstance(value, str):
            text = value.strip()
            try:
                number = int(text) if self.type is int and re.fullmatch(r"[-+]?\d+", text) else float(text)
            except ValueError as err:
                raise self._fail(task, f"'{value}' is not a number{unit}") from err
        else:
            number = value
        if isinstance(number, float) and self.finite and not math.isfinite(number):
            raise self._fail(task, f"'{value}' is not a finite number{unit}")
        return number

    def describe(self) -> str:
        """Unit and constraint in a few words: 'keV, > 0', 'in [0.001, 1.0]'."""
        parts = [self.unit] if self.unit else []
        constraint = self.describe_constraint()
        if self.positive:
            constraint = "> 0"
        if self.keywords:
            parts.append("a number or " + " or ".join(f"'{k}'" for k in self.keywords))
        if constraint:
            parts.append(constraint)
        return ", ".join(parts)

    def to_dict(self) -> dict[str, Any]:
        data = super().to_dict()
        data.update(name=self.name, flag=self.flag, group=self.group, label=self.title, kind=self.kind,
                    keywords=list(self.keywords), positive=self.positive, constraint=self.describe(),
                    default=self.default if self.default_text is None else None, default_text=self.default_text)
        return data


def option(type: type, default: Any = None, **kwargs: Any) -> Any:
    """A dataclass field declared by an Option (`energy: float | None = option(float, unit="keV", ...)`)."""
    declared = Option(type, default, **kwargs)
    return dataclasses.field(default=declared.default, metadata={"option": declared})


def options_of(cls: Any) -> dict[str, Option]:
    """The Options a settings dataclass (or an instance of one) declares, in declaration order, named."""
    found: dict[str, Option] = {}
    for f in dataclasses.fields(cls):
        declared = f.metadata.get("option")
        if isinstance(declared, Option):
            declared.name = f.name
            declared.task_name = getattr(cls, "__name__", type(cls).__name__)
            found[f.name] = declared
    return found


def check_all(instance: Any) -> None:
    """Convert every field of `instance` through its Option (called by `__post_init__`)."""
    for name, declared in options_of(instance).items():
        value = declared.convert(getattr(instance, name))
        object.__setattr__(instance, name, tuple(value) if declared.array and value is not None else value)


def lookup(cls: Any) -> dict[str, str]:
    """Every name a key may take (field name, flag name, `cli` alias, dashes or underscores) -> field name."""
    names: dict[str, str] = {}
    for name, declared in options_of(cls).items():
        for alias in (name, declared.cli_name, declared.cli or name, *declared.aliases):
            names[alias] = names[alias.replace("-", "_")] = names[alias.replace("_", "-")] = name
    return names


def from_mapping(cls: Any, values: Mapping[str, Any], source: str = "options") -> Any:
    """`cls(**values)` where keys may use dashes or aliases; an unknown key is refused with a suggestion."""
    names = lookup(cls)
    clean: dict[str, Any] = {}
    for key, value in values.items():
        if not isinstance(key, str) or key not in names:
            raise OptionError(str(key), f"unknown {source} key.{suggest(str(key), options_of(cls))}".rstrip("."))
        clean[names[key]] = value
    return cls(**clean)


def metadata(instance: Any, changed_only: bool = False) -> dict[str, Any]:
    """The settings as JSON-able scalars keyed by field name, with units in a second dict
    (`{"values": {...}, "units": {"energy": "keV"}}`): what a result stores to say how it was made."""
    values: dict[str, Any] = {}
    units: dict[str, str] = {}
    for name, declared in options_of(instance).items():
        value = getattr(instance, name)
        if changed_only and value == declared.default:
            continue
        values[name] = list(value) if isinstance(value, tuple) else value
        if declared.unit:
            units[name] = declared.unit
    return {"values": values, "units": units}


def markdown(cls: Any, title: str, intro: str = "") -> str:
    """The docs table of a settings class: one row per option, by group."""
    lines = [f"# {title}", "", *([intro.strip(), ""] if intro else [])]
    by_group: dict[str, list[Option]] = {}
    for declared in options_of(cls).values():
        by_group.setdefault(declared.group, []).append(declared)
    for group in GROUPS:
        if group not in by_group:
            continue
        lines += [f"## {group}", "", "| option | type | unit / range | default | what |", "|---|---|---|---|---|"]
        for o in by_group[group]:
            flags = f"`{o.flag}`" + (f", `{o.short}`" if o.short else "")
            default = o.default_text or ("" if o.default is None else f"`{o.default}`")
            lines.append(f"| {flags} | {o.type_name()} | {o.describe()} | {default} | {o.doc.replace('|', '/')} |")
        lines.append("")
    return "\n".join(lines)
