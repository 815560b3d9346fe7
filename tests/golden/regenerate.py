"""Regenerate the golden outputs: ``python tests/golden/regenerate.py [--model NAME ...] [--check]``.

Compiles and simulates every shipped model (``models/*.onnx``) as :mod:`snnc.tests.golden.golden` describes
and writes ``tests/golden/<model>.json``. ``--check`` writes nothing and lists the differences instead
(what ``tests/test_golden.py`` does). Regenerate only for a change whose effect on these outputs is intended,
and state that effect in the commit message (``docs/testing.md``, "Golden outputs").
"""

from __future__ import annotations

import argparse
import sys
import time

from snnc.tests.golden import golden


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--model", action="append", default=None, choices=golden.model_names(),
                   help="regenerate only this model (repeatable; default: every shipped model)")
    p.add_argument("--check", action="store_true", help="compare with the committed files; write nothing")
    args = p.parse_args(argv)
    status = 0
    for name in args.model or golden.model_names():
        start = time.perf_counter()
        record = golden.compute(name)
        seconds = time.perf_counter() - start
        if args.check:
            diffs = golden.compare(golden.load(name), record) if golden.golden_path(name).exists() else ["(no file)"]
            print(golden.report(name, diffs) if diffs else f"{name}: unchanged ({seconds:.1f} s)")
            status = status or int(bool(diffs))
            continue
        old = golden.load(name) if golden.golden_path(name).exists() else None
        path = golden.write(name, record)
        changed = "new" if old is None else f"{len(golden.compare(old, record))} difference(s)"
        print(f"{name}: wrote {path.relative_to(golden.ROOT)} ({changed}; {seconds:.1f} s)")
    return status


if __name__ == "__main__":
    sys.exit(main())
