"""A small discrete-event core in the style of SimPy (``simpy/core.py``, ``simpy/events.py``).

The environment keeps a heap of ``(time, priority, seq, event)``. Time is an integer cycle count and
never goes backwards (scheduling into the past is a :class:`SimulationError`, and so is popping an
event older than ``now``, which would mean a corrupted heap). ``seq`` is a monotone counter, so events
at the same time and priority are processed in the order they were scheduled: runs are deterministic.

An :class:`Event` is triggered once (``succeed`` or ``fail``) and processed when the environment pops
it: its callbacks run with the event as argument. A failed event never passes silently: if no callback
*defuses* it (a :class:`Process` waiting on it does, by throwing the exception into its generator),
:meth:`Environment.step` raises the exception. A process whose generator raises fails its own event, so
an unhandled error inside a process ends the run with that error.

Components that hold work (the network's flits, a core's queue) register a *monitor* with
:meth:`Environment.add_monitor`: when the heap runs empty, a monitor that still reports pending work
means nothing can ever finish it (a deadlock), and :meth:`Environment.run` raises a
:class:`SimulationError` with the monitor's description. Components that tick while blocked (the
network) also run their own no-progress watchdog.

Example:
    >>> env = Environment()
    >>> def clock(env, log):
    ...     for _ in range(3):
    ...         log.append(env.now)
    ...         yield env.timeout(5)
    >>> log = []
    >>> _ = env.process(clock(env, log))
    >>> env.run()
    >>> log, env.now
    ([0, 5, 10], 15)
"""

from __future__ import annotations

import heapq
import itertools
from collections.abc import Callable, Generator
from typing import Any

from snnc.errors import SnncError

#: event priorities at equal time: smaller runs first.
URGENT, NORMAL, LATE = 0, 1, 2

_PENDING = object()


class SimulationError(SnncError):
    """The simulation cannot go on: time would go backwards, a packet was lost or duplicated, a
    deadlock or a stuck FIFO, or a component failed (the message names what and where)."""


class Event:
    """Something that happens at one cycle; callbacks run when the environment processes it.

    Attributes:
        env: the environment.
        callbacks: functions ``f(event)`` run on processing; None once processed.
    """

    __slots__ = ("env", "callbacks", "_value", "_ok", "_defused")

    def __init__(self, env: Environment) -> None:
        self.env = env
        self.callbacks: list[Callable[[Event], None]] | None = []
        self._value: Any = _PENDING
        self._ok: bool | None = None
        self._defused = False

    @property
    def triggered(self) -> bool:
        """Whether ``succeed``/``fail`` was called (the event is scheduled or processed)."""
        return self._value is not _PENDING

    @property
    def processed(self) -> bool:
        """Whether its callbacks have run."""
        return self.callbacks is None

    @property
    def ok(self) -> bool:
        """True if it succeeded (raises if not triggered yet)."""
        if self._ok is None:
            raise SimulationError("event not triggered yet, it has no outcome")
        return self._ok

    @property
    def value(self) -> Any:
        """The value it succeeded with, or the exception it failed with."""
        if self._value is _PENDING:
            raise SimulationError("event not triggered yet, it has no value")
        return self._value

    def defuse(self) -> None:
        """Mark a failed event as handled, so that processing it does not raise."""
        self._defused = True

    def succeed(self, value: Any = None, *, delay: int = 0, priority: int = NORMAL) -> Event:
        """Trigger the event with ``value``; it is processed ``delay`` cycles from now."""
        self._trigger(True, value)
        self.env.schedule(self, delay, priority)
        return self

    def fail(self, exception: BaseException, *, delay: int = 0, priority: int = NORMAL) -> Event:
        """Trigger the event as failed; processing it raises ``exception`` unless someone defuses it."""
        if not isinstance(exception, BaseException):
            raise SimulationError(f"Event.fail needs an exception, got {exception!r}")
        self._trigger(False, exception)
        self.env.schedule(self, delay, priority)
        return self

    def _trigger(self, ok: bool, value: Any) -> None:
        if self._value is not _PENDING:
            raise SimulationError(f"{self!r} was already triggered", hint="an event happens once; make a new one")
        self._ok = ok
        self._value = value

    def __repr__(self) -> str:
        state = "pending" if not self.triggered else ("processed" if self.processed else "triggered")
        return f"<{type(self).__name__} {state}>"


class Timeout(Event):
    """An event that succeeds ``delay`` cycles from now (``delay`` an int >= 0)."""

    __slots__ = ()

    def __init__(self, env: Environment, delay: int, value: Any = None, priority: int = NORMAL) -> None:
        super().__init__(env)
        self._ok = True
        self._value = value
        env.schedule(self, delay, priority)


class Process(Event):
    """Runs a generator that yields events; it resumes when each yielded event is processed.

    A failed event is thrown into the generator (which may catch it). The process is itself an event:
    it succeeds with the generator's return value, or fails with the exception the generator raised.
    """

    __slots__ = ("generator", "name", "_target")

    def __init__(self, env: Environment, generator: Generator[Event, Any, Any], name: str | None = None) -> None:
        if not hasattr(generator, "send") or not hasattr(generator, "throw"):
            raise SimulationError(f"env.process needs a generator, got {generator!r}",
                                  hint="call the generator function: env.process(f(env)), not env.process(f)")
        super().__init__(env)
        self.generator = generator
        self.name = name or getattr(generator, "__name__", "process")
        start = Event(env)
        start._ok, start._value = True, None
        start.callbacks.append(self._resume)  # type: ignore[union-attr]
        env.schedule(start, 0, URGENT)
        self._target: Event | None = start

    @property
    def is_alive(self) -> bool:
        """Whether the generator has not finished yet."""
        return self._value is _PENDING

    def _resume(self, event: Event) -> None:
        while True:
            try:
                if event._ok:
                    nxt = self.generator.send(event._value)
                else:
                    event._defused = True
                    nxt = self.generator.throw(event._value)
            except StopIteration as stop:
                self._finish(True, stop.value)
                return
            except BaseException as err:  # noqa: BLE001 - the failure is carried by this process's event
                self._finish(False, err)
                return
            if not isinstance(nxt, Event):
                self.generator.close()
                self._finish(False, SimulationError(f"process {self.name!r} yielded {nxt!r}, not an event",
                                                    hint="yield env.timeout(n), another process, or an Event"))
                return
            if nxt.callbacks is not None:
                nxt.callbacks.append(self._resume)
                self._target = nxt
                return
            event = nxt  # already processed: go on at once with its outcome

    def _finish(self, ok: bool, value: Any) -> None:
        self._target = None
        self._trigger(ok, value)
        self.env.schedule(self, 0, NORMAL)

    def __repr__(self) -> str:
        return f"<Process {self.name} {'alive' if self.is_alive else 'finished'}>"


class Environment:
    """The simulation clock and the event heap.

    Args:
        initial_time: the first cycle (an int >= 0).
    """

    def __init__(self, initial_time: int = 0) -> None:
        if type(initial_time) is not int or initial_time < 0:
            raise SimulationError(f"initial time must be an int >= 0, got {initial_time!r}")
        self._now = initial_time
        self._queue: list[tuple[int, int, int, Event]] = []
        self._seq = itertools.count()
        self._monitors: list[Callable[[], str | None]] = []
        self.events_processed = 0

    @property
    def now(self) -> int:
        """The current cycle."""
        return self._now

    # ---------------------------------------------------------------------------------- scheduling
    def schedule(self, event: Event, delay: int = 0, priority: int = NORMAL) -> None:
        """Put a triggered event on the heap, ``delay`` cycles from now.

        Raises:
            SimulationError: ``delay`` is not an integer >= 0 (time never goes backwards).
        """
        if delay.__class__ is not int:
            try:
                as_int = int(delay)
            except (TypeError, ValueError):
                as_int = None
            if as_int is None or as_int != delay:
                raise SimulationError(f"delay must be a whole number of cycles, got {delay!r}")
            delay = as_int
        if delay < 0:
            raise SimulationError(f"cannot schedule {delay} cycles in the past (now = {self._now})",
                                  hint="time never goes backwards: delays are >= 0")
        heapq.heappush(self._queue, (self._now + delay, priority, next(self._seq), event))

    def event(self) -> Event:
        """A new untriggered event (trigger it with ``succeed`` or ``fail``)."""
        return Event(self)

    def timeout(self, delay: int, value: Any = None, priority: int = NORMAL) -> Timeout:
        """An event processed ``delay`` cycles from now."""
        return Timeout(self, delay, value, priority)

    def process(self, generator: Generator[Event, Any, Any], name: str | None = None) -> Process:
        """Start a process running ``generator`` (first step at the current cycle)."""
        return Process(self, generator, name)

    def call_later(self, delay: int, fn: Callable[[Event], None], priority: int = NORMAL,
                   value: Any = None) -> Timeout:
        """Run ``fn(event)`` ``delay`` cycles from now; returns the event."""
        ev = Timeout(self, delay, value, priority)
        ev.callbacks.append(fn)  # type: ignore[union-attr]
        return ev

    def add_monitor(self, monitor: Callable[[], str | None]) -> None:
        """Register ``monitor() -> None | description`` of pending work (checked when the heap runs empty)."""
        self._monitors.append(monitor)

    # ---------------------------------------------------------------------------------- running
    def peek(self) -> int | None:
        """The time of the next event, or None when the heap is empty."""
        return self._queue[0][0] if self._queue else None

    def step(self) -> None:
        """Process the next event (raises its exception if it failed and nobody defused it)."""
        time, _, _, event = heapq.heappop(self._queue)
        if time < self._now:
            raise SimulationError(f"time went backwards: event at cycle {time} after cycle {self._now}",
                                  hint="the event heap was modified outside Environment.schedule")
        self._now = time
        callbacks, event.callbacks = event.callbacks, None
        self.events_processed += 1
        if callbacks:
            for callback in callbacks:
                callback(event)
        if not event._ok and not event._defused:
            exc = event._value
            if isinstance(exc, BaseException):
                raise exc
            raise SimulationError(f"{event!r} failed with {exc!r}")

    def run(self, until: int | None = None) -> None:
        """Process events; with ``until``, every event before that cycle, then set ``now = until``.

        Without ``until``, run until the heap is empty; then every monitor must report no pending work.

        Raises:
            SimulationError: ``until`` is in the past, or work is pending with nothing left to do it.
            Exception: the exception of any failed event nobody handled.
        """
        if until is not None:
            if until.__class__ is not int or until < self._now:
                raise SimulationError(f"run(until={until!r}): must be an int >= now ({self._now})")
            queue = self._queue
            while queue and queue[0][0] < until:
                self.step()
            self._now = until
            return
        while self._queue:
            self.step()
        stuck = [d for d in (m() for m in self._monitors) if d]
        if stuck:
            raise SimulationError(f"deadlock at cycle {self._now}: no event is left but work is pending:\n"
                                  + "\n".join(stuck),
                                  hint="a component waits for something that never happens")
