"""The pass manager: runs passes in order on a copy, verifies after each, prints and times them.

Example:
    >>> from snnc.passes import PassManager
    >>> pm = PassManager(["canonicalize", "dce"], print_after_all=False)
    >>> # result = pm.run(graph); result.timings -> [("canonicalize", 0.0001), ("dce", 0.00005)]
"""

from __future__ import annotations

import copy
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TextIO

from snnc.errors import PassError, SnncError
from snnc.ir import Graph
from snnc.passes.base import MissingPassError, Pass, PassState
from snnc.passes.registry import get_pass


@dataclass
class PassResult:
    """The transformed graph, the wall time of each pass in seconds, and the state the passes handed on
    (e.g. a backend's compile plan; give it to the next ``run`` to continue the pipeline)."""

    graph: Graph
    timings: list[tuple[str, float]] = field(default_factory=list)
    state: PassState = field(default_factory=PassState)


class PassManager:
    """Run a pipeline of passes.

    Args:
        passes: pass instances or registered pass names.
        print_after: names of passes after which the IR is printed.
        print_after_all: print the IR after every pass.
        elide_weights: elide weights in those prints.
        stream: where prints go (default stderr, so stdout stays the command's result).
        printer: graph -> text (defaults to the IR text format).
    """

    def __init__(self, passes: Sequence[Pass | str], *, print_after: Sequence[str] = (),
                 print_after_all: bool = False, elide_weights: bool = True,
                 stream: TextIO | None = None, printer: Callable[..., str] | None = None) -> None:
        self.passes = [get_pass(p) if isinstance(p, str) else p for p in passes]
        names = {p.name for p in self.passes}
        unknown = [n for n in print_after if n not in names]
        if unknown:
            raise PassError(f"--print-after names passes that are not in the pipeline: {', '.join(unknown)}",
                            hint=f"the pipeline is: {', '.join(p.name for p in self.passes)}")
        self.print_after = set(print_after)
        self.print_after_all = print_after_all
        self.elide_weights = elide_weights
        self.stream = stream
        self._printer = printer

    def run(self, graph: Graph, state: PassState | None = None) -> PassResult:
        """Apply every pass to a copy of ``graph``; the input graph is never modified.

        ``state`` (e.g. ``PassResult.state`` of an earlier run on ``graph``) is copied with the graph, so
        that the objects in it refer to the copy's ops.
        """
        if state:
            copied, state = copy.deepcopy((graph, state))
            result = PassResult(copied, state=state)
        else:
            result = PassResult(graph.copy())
        done: list[str] = []
        for p in self.passes:
            start = time.perf_counter()
            try:
                if isinstance(p, Pass):
                    p.run(result.graph, result.state)
                else:
                    p.apply(result.graph)
                result.graph.verify()
            except MissingPassError as err:
                ran = ", ".join(done) or "none"
                raise MissingPassError(f"{err.message} (passes run before it: {ran})", where=err.where,
                                       hint=err.hint, needed_by=err.needed_by, missing=err.missing) from err
            except SnncError as err:
                raise PassError(f"pass {p.name} failed after [{', '.join(done)}]: {err.format()}") from err
            except Exception as err:  # an internal bug: still name the pass
                raise PassError(f"pass {p.name} failed after [{', '.join(done)}] with an internal error: "
                                f"{type(err).__name__}: {err}", hint="please report this with the model") from err
            result.timings.append((p.name, time.perf_counter() - start))
            done.append(p.name)
            if self.print_after_all or p.name in self.print_after:
                self._print(f"// ----- IR after {p.name}", result.graph)
        return result

    def _print(self, banner: str, graph: Graph) -> None:
        if self._printer is None:
            from snnc.ir.printer import print_graph

            self._printer = print_graph
        stream = self.stream or sys.stderr
        stream.write(f"{banner}\n{self._printer(graph, elide_weights=self.elide_weights)}")
        if not stream.isatty():
            stream.flush()
