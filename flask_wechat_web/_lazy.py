"""Names a package exports but imports only on first use (PEP 562)."""

from __future__ import annotations

import importlib
import sys
import typing as t


def lazy_exports(package: str, modules: dict[str, str]) -> t.Callable[[str], t.Any]:
    """A module ``__getattr__`` for ``package``: each name from its module in ``modules``.

    Keeps importing the package cheap for whoever needs only part of it, such
    as the pytest plugin, which pytest loads in every project that has
    Flask-WeChat-Web installed.
    """

    def __getattr__(name: str) -> t.Any:
        if name not in modules:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(modules[name], package), name)
        setattr(sys.modules[package], name, value)
        return value

    return __getattr__
