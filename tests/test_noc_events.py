"""The discrete-event core: ordering, time never going backwards, failures that never pass silently."""

from __future__ import annotations

import random

import pytest

from snnc.backends.yoso.sim.events import LATE, URGENT, Environment, SimulationError
from snnc.errors import SnncError


def test_events_run_in_time_then_priority_then_scheduling_order() -> None:
    env = Environment()
    log: list[str] = []
    for name, delay, prio in [("b", 5, 1), ("late", 5, LATE), ("a", 5, 1), ("first", 2, LATE),
                              ("urgent", 5, URGENT)]:
        env.call_later(delay, lambda ev, n=name: log.append(f"{n}@{ev.env.now}"), prio)
    env.run()
    assert log == ["first@2", "urgent@5", "b@5", "a@5", "late@5"]


def test_time_never_goes_backwards() -> None:
    env = Environment()
    with pytest.raises(SimulationError, match="past"):
        env.timeout(-1)
    with pytest.raises(SimulationError, match="whole number"):
        env.timeout(1.5)
    seen: list[int] = []
    rng = random.Random(3)

    def walker(env: Environment):
        for _ in range(200):
            seen.append(env.now)
            yield env.timeout(rng.randrange(0, 7))

    for _ in range(4):
        env.process(walker(env))
    env.run()
    assert len(seen) == 800 and seen == sorted(seen)
    with pytest.raises(SimulationError, match="until"):
        env.run(until=env.now - 1)
    env.run(until=env.now + 10)
    assert env.peek() is None


def test_a_corrupted_heap_is_caught() -> None:
    env = Environment()
    env.run(until=10)
    ev = env.event()
    ev._ok, ev._value = True, None
    env._queue.append((3, 1, 0, ev))  # an event in the past, bypassing schedule()
    with pytest.raises(SimulationError, match="time went backwards"):
        env.run()


def test_processes_wait_on_each_other_and_get_return_values() -> None:
    env = Environment()

    def child(env: Environment):
        yield env.timeout(4)
        return 42

    def parent(env: Environment, out: list):
        value = yield env.process(child(env))
        out.append((env.now, value))

    out: list = []
    env.process(parent(env, out))
    env.run()
    assert out == [(4, 42)]


def test_a_failed_event_nobody_handles_ends_the_run() -> None:
    env = Environment()
    env.event().fail(ValueError("boom"), delay=3)
    with pytest.raises(ValueError, match="boom"):
        env.run()
    assert env.now == 3


def test_an_exception_in_a_process_ends_the_run() -> None:
    env = Environment()

    def bad(env: Environment):
        yield env.timeout(2)
        raise KeyError("lost spike")

    env.process(bad(env))
    with pytest.raises(KeyError, match="lost spike"):
        env.run()


def test_a_process_may_catch_a_failure() -> None:
    env = Environment()
    ev = env.event()
    caught: list[str] = []

    def waiter(env: Environment):
        try:
            yield ev
        except RuntimeError as err:
            caught.append(str(err))

    env.process(waiter(env))
    ev.fail(RuntimeError("handled"), delay=1)
    env.run()
    assert caught == ["handled"]


def test_misuse_is_a_clear_error() -> None:
    env = Environment()
    ev = env.event().succeed(1)
    with pytest.raises(SimulationError, match="already triggered"):
        ev.succeed(2)
    with pytest.raises(SimulationError, match="generator"):
        env.process(lambda: None)  # type: ignore[arg-type]

    def yields_junk(env: Environment):
        yield 5

    env.process(yields_junk(env))
    with pytest.raises(SimulationError, match="not an event"):
        env.run()


def test_a_monitor_reports_a_deadlock_when_events_run_out() -> None:
    env = Environment()
    pending = ["core 3: 2 spikes waiting"]
    env.add_monitor(lambda: pending[0] if pending else None)
    env.timeout(5)
    with pytest.raises(SimulationError, match="deadlock at cycle 5") as info:
        env.run()
    assert "core 3: 2 spikes waiting" in str(info.value) and isinstance(info.value, SnncError)
    pending.clear()
    env.run()  # nothing pending: fine
