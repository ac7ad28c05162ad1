"""Config files of `ufo reco` (TOML or JSON), read and written through the option declarations.

A file holds a `[reco]` table or top-level keys named as the options are (dashes or
underscores, `threads` for `replicas`). Reading checks every value with the option that
declares it, so a file is refused with the message the command line and the GUI give for
the same value. Writing needs no TOML library (tomli-w is not a dependency): the values are
plain scalars, written by hand.
"""

from __future__ import annotations

import json
import math
import tomllib
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from ..core.errors import UsageError, suggest
from ..core.small_files import check_small_file
from . import nabu_config, schema
from .options import RecoOptions


def read(path: str | Path) -> dict[str, Any]:
    """The raw table of a config file: its `[reco]` table, else its top-level keys; a nabu
    configuration (INI, told by its sections) mapped to ours (ufo.reco.nabu_config)."""
    check_small_file(path, "config")
    if nabu_config.is_nabu(path):
        return nabu_config.read(path)
    try:
        with open(path, "rb") as f:
            data = json.load(f) if str(path).lower().endswith(".json") else tomllib.load(f)
    except OSError as err:
        raise UsageError(f"cannot read config '{path}': {err}") from err
    except ValueError as err:  # UnicodeDecodeError too
        kind = "JSON" if str(path).lower().endswith(".json") else "TOML"
        raise UsageError(f"cannot read config '{path}' ({kind}: {err}); ufo reads TOML or JSON configs (a [reco] "
                         "table or top-level option keys) and nabu configurations (INI, .conf)") from err
    table = data.get("reco", data) if isinstance(data, dict) else None
    if not isinstance(table, dict):
        raise UsageError(f"config '{path}' holds no [reco] table")
    others = [k for k, v in table.items() if isinstance(v, dict)] if table is data else []
    if others:  # `[reconstruction]` was read as a nabu file naming no dataset, or each of its keys unknown
        raise UsageError(f"config '{path}' has the table{'s' if len(others) > 1 else ''} "
                         f"{', '.join(f'[{k}]' for k in others)}; ufo reads its options from a [reco] table or from "
                         "top-level keys")
    return table


def load(path: str | Path, cls: Any = RecoOptions, extra: Iterable[str] = ()) -> tuple[dict[str, Any], dict[str, Any]]:
    """(option values converted by their declarations, values of the `extra` keys) from a file.

    `extra` names keys that are not options but that the caller takes (the command line's
    `cluster` or `quiet`). An unknown key is refused with a suggestion; a bad value with the
    option's own message, prefixed by the file."""
    names = schema.lookup(cls)
    others = {k.replace("-", "_") for k in extra}
    declared = schema.options_of(cls)
    values: dict[str, Any] = {}
    rest: dict[str, Any] = {}
    table = read(path)
    for note in getattr(table, "notes", ()):  # a nabu configuration: what was taken, what was not
        nabu_config.say(note)
    for key, value in table.items():
        under = key.replace("-", "_")
        if under in others:
            rest[under] = value
        elif key in names:
            option = declared[names[key]]
            try:
                values[option.name] = option.convert(value)
            except schema.OptionError as err:
                raise UsageError(f"config '{path}': {key}: {err.reason}") from err
        else:
            known = sorted({n.replace("_", "-") for n in names} | {k.replace("_", "-") for k in others})
            raise UsageError(f"config '{path}' has an unknown key '{key}'.{suggest(key.replace('_', '-'), known)}"
                             .rstrip("."))
    return values, rest


def options(path: str | Path, cls: Any = RecoOptions, **overrides: Any) -> Any:
    """The options a config file sets, `overrides` on top (as the command line wins over the file)."""
    values, _ = load(path, cls)
    return cls(**{**values, **overrides})


def _scalar(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if not math.isfinite(value):
            raise UsageError(f"config values must be finite numbers, not {value}")
        return repr(value)
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_scalar(v) for v in value) + "]"
    text = str(value)
    if any(0xD800 <= ord(c) <= 0xDFFF for c in text):  # undecodable bytes of a file name (surrogateescape)
        raise UsageError(f"{text.encode('utf-8', 'surrogateescape')!r} is no UTF-8 text: a TOML config file cannot "
                         "hold it; rename the file or folder")
    # a TOML basic string: JSON's escapes, the characters themselves (JSON's \ud835\udeff pairs for a
    # character past U+FFFF are no TOML: the GUI saved configs that `--config` refused), and DEL escaped
    return json.dumps(text, ensure_ascii=False).replace("\x7f", "\\u007f")


def dumps(values: Mapping[str, Any], cls: Any = RecoOptions) -> str:
    """A `[reco]` table of `values` (option names; None left out), keys as the command line names them."""
    declared = schema.options_of(cls)
    lines = ["[reco]"]
    for name, value in values.items():
        if value is None:
            continue
        key = declared[name].cli_name if name in declared else name.replace("_", "-")
        lines.append(f"{key} = {_scalar(value)}")
    return "\n".join(lines) + "\n"


def to_toml(options: Any, changed_only: bool = True) -> str:
    """The config file that gives `options` back (`ufo reco --config`); by default only what
    differs from the defaults, so a file stays short and follows later changes of defaults."""
    values = schema.metadata(options, changed_only)["values"]
    return dumps(values, type(options))


def write(options: Any, path: str | Path, changed_only: bool = True) -> None:
    """Write `options` as a TOML config file at `path`."""
    Path(path).write_text(to_toml(options, changed_only), encoding="utf-8")
