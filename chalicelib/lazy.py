"""Modules imported when a request first needs them, not when the function starts.

A Lambda cold start pays for every module ``app.py`` reaches before the first request. The
routes reach the whole service layer (services, stores, notifications, adapters: ~50
dataclasses and their generated methods), yet a request uses one route's slice of it. So the
route modules name their services with ``lazy("chalicelib.services.catalog")`` and the module
is imported on the first attribute read: ``GET /products`` imports the catalog's slice only.

Why not ``importlib.util.LazyLoader``: on Python 3.11 a module it loads can be seen half
initialised by a second thread (CPython gh-114763, fixed in 3.12), and the local stack serves
requests on threads. ``importlib.import_module`` takes the module's import lock, so a second
thread waits for the first to finish; once imported it is a ``sys.modules`` look-up.

Writes go to the module too, so a test's ``monkeypatch.setattr(api.catalog.catalog, ...)``
patches what every caller sees.
"""

import importlib
from types import ModuleType
from typing import Any


class LazyModule:
    """Stands for the module ``name``; imports it on the first attribute read."""

    __slots__ = ("_name",)

    def __init__(self, name: str) -> None:
        object.__setattr__(self, "_name", name)

    def _module(self) -> ModuleType:
        return importlib.import_module(self._name)

    def __getattr__(self, attr: str) -> Any:
        return getattr(self._module(), attr)

    def __setattr__(self, attr: str, value: Any) -> None:
        setattr(self._module(), attr, value)

    def __delattr__(self, attr: str) -> None:
        delattr(self._module(), attr)

    def __repr__(self) -> str:
        return f"<lazy module {self._name!r}>"


def lazy(name: str) -> Any:
    """The module ``name``, imported on first use (typed ``Any``: callers use it as the module)."""
    return LazyModule(name)
