"""The pass interface: a pass is a small dataclass whose fields are its options.

A pass has a kebab-case ``name`` and an ``apply(graph)`` that transforms the graph in place.
The :class:`~snnc.passes.manager.PassManager` hands each pass a copy, so the caller's graph
is never modified, verifies the result, and can print the IR after any pass.

Passes that hand typed state to later passes (a backend's compile plan) override ``run(graph, state)``
instead: the :class:`PassState` travels with the graph through a pipeline (and is copied with it), while
``op.meta`` and ``graph.metadata`` keep only a printed mirror of it. A pass that needs state an earlier
pass produces raises :class:`MissingPassError`, naming that pass.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar, TypeVar

from snnc.errors import PassError
from snnc.ir import Graph

T = TypeVar("T")


class MissingPassError(PassError):
    """A pass ran before the pass whose results it needs (e.g. ``route`` before ``place``).

    Attributes:
        needed_by: the pass that could not run.
        missing: the pass that must run before it.
    """

    def __init__(self, message: str, *, needed_by: str, missing: str, where: str | None = None,
                 hint: str | None = None) -> None:
        super().__init__(message, where=where, hint=hint)
        self.needed_by = needed_by
        self.missing = missing


class PassState:
    """Typed state that passes hand on to later passes: at most one object per class.

    Example:
        >>> state = PassState()
        >>> state.put(plan)                          # doctest: +SKIP
        >>> state.get(type(plan)) is plan            # doctest: +SKIP
        True
    """

    def __init__(self) -> None:
        self._objects: dict[type, object] = {}

    def get(self, cls: type[T]) -> T | None:
        """The object of class ``cls``, or None."""
        obj = self._objects.get(cls)
        return obj if obj is None or isinstance(obj, cls) else None

    def put(self, obj: object) -> None:
        """Store ``obj`` (replacing the object of its class)."""
        self._objects[type(obj)] = obj

    def __contains__(self, cls: type) -> bool:
        return cls in self._objects

    def __bool__(self) -> bool:
        return bool(self._objects)

    def __repr__(self) -> str:
        return f"PassState({', '.join(c.__name__ for c in self._objects)})"


@dataclass
class Pass:
    """Base of every pass. Subclasses set ``name`` and implement ``apply`` (or ``run``)."""

    name: ClassVar[str]
    summary: ClassVar[str] = ""

    def apply(self, graph: Graph) -> None:
        """Transform ``graph`` in place."""
        raise NotImplementedError

    def run(self, graph: Graph, state: PassState) -> None:
        """Transform ``graph`` in place with the pipeline's ``state`` (default: ``apply(graph)``)."""
        self.apply(graph)
