"""Names of a package resolved on first use (PEP 562), so importing a light submodule does not
load the heavy ones (numpy, tifffile, h5py) behind the package's other public names."""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from typing import Any


def lazy_getattr(package: str, table: Mapping[str, str], namespace: dict[str, Any]) -> Callable[[str], Any]:
    """A module `__getattr__` for `package`: `table` maps a public name to the submodule that
    defines it; the first use imports that submodule and keeps the value in `namespace`."""

    def __getattr__(name: str) -> Any:
        if name in table:
            value = getattr(importlib.import_module(f"{package}.{table[name]}"), name)
            namespace[name] = value
            return value
        raise AttributeError(f"module {package!r} has no attribute {name!r}")

    return __getattr__
