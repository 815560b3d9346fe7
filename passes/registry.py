"""The pass registry: name -> pass class, plus the ``snnc.passes`` entry-point group for plugins."""

from __future__ import annotations

from importlib.metadata import entry_points

from snnc.errors import PassError
from snnc.passes.base import Pass

PASSES: dict[str, type[Pass]] = {}


def register_pass(cls: type[Pass]) -> type[Pass]:
    """Class decorator: add a pass to :data:`PASSES` under its kebab-case ``name``."""
    if cls.name in PASSES and PASSES[cls.name] is not cls:
        raise ValueError(f"pass {cls.name} is registered twice")
    PASSES[cls.name] = cls
    return cls


def all_passes() -> dict[str, type[Pass]]:
    """Built-in passes and those installed through the ``snnc.passes`` entry-point group."""
    found = dict(PASSES)
    for ep in entry_points(group="snnc.passes"):
        if ep.name not in found:
            try:
                found[ep.name] = ep.load()
            except Exception as err:  # a broken plugin must not hide the others
                raise PassError(f"pass plugin '{ep.name}' ({ep.value}) failed to load: {err}",
                                hint="reinstall or remove the package that provides it") from err
    return found


def get_pass(name: str, **options: object) -> Pass:
    """Instantiate the pass called ``name`` with ``options`` (its dataclass fields)."""
    passes = all_passes()
    if name not in passes:
        raise PassError(f"unknown pass '{name}'", hint=f"available passes: {', '.join(sorted(passes))}")
    try:
        return passes[name](**options)
    except TypeError as err:
        raise PassError(f"bad options for pass '{name}': {err}") from None
