"""Backends by name: an explicit registry of factories plus the ``snnc.backends`` entry-point group.

A backend factory is any callable that returns a :class:`~snnc.backends.base.Backend` (usually the
backend class itself). Three sources, looked up in this order:

1. backends registered at runtime with :func:`register_backend`;
2. the built-in table :data:`BUILTIN_BACKENDS` (name -> ``"module:attribute"``, imported on first use);
3. plugins: entry points of the group ``snnc.backends`` of installed distributions, e.g. in a
   plugin's ``pyproject.toml``::

       [project.entry-points."snnc.backends"]
       mychip = "mychip_snnc:MyChipBackend"

Example:
    >>> from snnc.backends import get_backend, available_backends
    >>> "reference" in available_backends()
    True
    >>> get_backend("reference").name
    'reference'
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from importlib import metadata

from snnc.backends.base import Backend, RunResult, predict
from snnc.errors import BackendError

__all__ = [
    "BUILTIN_BACKENDS",
    "ENTRY_POINT_GROUP",
    "Backend",
    "BackendFactory",
    "RunResult",
    "available_backends",
    "get_backend",
    "predict",
    "register_backend",
    "unregister_backend",
]

#: The entry-point group plugins register backends under.
ENTRY_POINT_GROUP = "snnc.backends"

#: A callable returning a Backend (usually a Backend subclass).
BackendFactory = Callable[[], Backend]

#: Backends shipped with snnc: name -> ``"module:attribute"`` of the factory (imported lazily).
BUILTIN_BACKENDS: dict[str, str] = {
    "reference": "snnc.backends.reference:ReferenceBackend",
    "yoso": "snnc.backends.yoso:YosoBackend",
}

_registered: dict[str, BackendFactory] = {}


def register_backend(name: str, factory: BackendFactory, *, replace: bool = False) -> None:
    """Make ``factory`` available as ``get_backend(name)`` for the rest of the process.

    Args:
        name: the backend's name (non-empty, no whitespace).
        factory: a callable returning a :class:`Backend` (e.g. the class).
        replace: allow replacing a backend of the same name registered earlier or built in.

    Raises:
        BackendError: bad name or factory, or the name is taken and ``replace`` is False.
    """
    if not isinstance(name, str) or not name or any(c.isspace() for c in name):
        raise BackendError(f"backend name must be a non-empty string without spaces, got {name!r}",
                           where="register_backend")
    if not callable(factory):
        raise BackendError(f"the factory of backend {name!r} is not callable: {factory!r}", where="register_backend",
                           hint="pass the Backend subclass or a function returning a Backend")
    if not replace and (name in _registered or name in BUILTIN_BACKENDS):
        raise BackendError(f"a backend named {name!r} is already registered", where="register_backend",
                           hint="choose another name or pass replace=True")
    _registered[name] = factory


def unregister_backend(name: str) -> None:
    """Remove a backend registered with :func:`register_backend` (built-ins and plugins stay)."""
    if name not in _registered:
        raise BackendError(f"no backend named {name!r} was registered at runtime", where="unregister_backend")
    del _registered[name]


def _entry_points() -> dict[str, metadata.EntryPoint]:
    """The installed plugins of :data:`ENTRY_POINT_GROUP`, by name (first distribution wins)."""
    found: dict[str, metadata.EntryPoint] = {}
    for ep in metadata.entry_points(group=ENTRY_POINT_GROUP):
        found.setdefault(ep.name, ep)
    return found


def _import_target(target: str, name: str) -> BackendFactory:
    module_name, _, attr = target.partition(":")
    try:
        obj = importlib.import_module(module_name)
        for part in filter(None, attr.split(".")):
            obj = getattr(obj, part)
    except Exception as err:  # an import of plugin code may fail in any way
        raise BackendError(f"backend {name!r} ({target}) failed to load: {type(err).__name__}: {err}",
                           where=f"backend {name}", hint="check that the module is installed and imports") from err
    return obj  # type: ignore[return-value]


def _load_entry_point(ep: metadata.EntryPoint) -> BackendFactory:
    try:
        return ep.load()
    except Exception as err:  # plugin code may fail in any way; name it
        raise BackendError(
            f"backend plugin {ep.name!r} (entry point {ep.name} = {ep.value!r}) failed to load: "
            f"{type(err).__name__}: {err}",
            where=f"entry point {ENTRY_POINT_GROUP}:{ep.name}",
            hint="fix or reinstall the package that declares this entry point, or uninstall it",
        ) from err


def _factory(name: str) -> BackendFactory | None:
    if name in _registered:
        return _registered[name]
    if name in BUILTIN_BACKENDS:
        return _import_target(BUILTIN_BACKENDS[name], name)
    ep = _entry_points().get(name)
    return None if ep is None else _load_entry_point(ep)


def _names() -> list[str]:
    return sorted({*_registered, *BUILTIN_BACKENDS, *_entry_points()})


def get_backend(name: str) -> Backend:
    """The backend called ``name``, as a fresh instance.

    Args:
        name: a key of :func:`available_backends`, e.g. ``"reference"``.

    Raises:
        BackendError: no backend has this name (the message lists those available), a plugin failed to
            import (the message names its entry point and the original error), or the factory did not
            return a Backend.
    """
    factory = _factory(name) if isinstance(name, str) else None
    if factory is None:
        raise BackendError(f"unknown backend {name!r}; available backends: {', '.join(_names())}",
                           hint="pick one of those, or install the plugin that provides it")
    try:
        backend = factory()
    except BackendError:
        raise
    except Exception as err:
        raise BackendError(f"creating backend {name!r} failed: {type(err).__name__}: {err}",
                           where=f"backend {name}") from err
    if not isinstance(backend, Backend):
        raise BackendError(f"the factory of backend {name!r} returned {type(backend).__name__}, not a Backend",
                           where=f"backend {name}", hint="a backend factory must return a snnc.backends.Backend")
    return backend


def _describe(factory: object) -> str:
    text = getattr(factory, "description", "") or (getattr(factory, "__doc__", "") or "").strip()
    return text.splitlines()[0].strip() if text else ""


def available_backends() -> dict[str, str]:
    """Every backend name -> its one-line description, sorted by name.

    A plugin that fails to import is listed with ``"unavailable: <error>"`` instead of a description
    (:func:`get_backend` on it raises the full error).
    """
    out: dict[str, str] = {}
    for name in _names():
        try:
            factory = _factory(name)
        except BackendError as err:
            out[name] = f"unavailable: {err.message}"
            continue
        out[name] = _describe(factory)
    return out
