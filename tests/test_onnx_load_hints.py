"""A file that is not a binary ONNX model says what it looks like (issue 19: JSON and text-format protobuf got
the generic "not a valid ONNX file" hint)."""

from __future__ import annotations

from pathlib import Path

import pytest

from snnc.errors import FrontendError
from snnc.frontend import import_onnx


@pytest.mark.parametrize(("text", "hint"), [
    ('{"irVersion": "8", "graph": {}}', "looks like JSON"),
    ('ir_version: 8\ngraph { name: "g" }\n', "text-format protobuf"),
    ("<\n  ir_version: 8\n>\ng () => () {}\n", "onnx.parser"),
    ("snnc.ir 1\ngraph @g() {\n}\n", "snnc IR dump"),
    ("\x00\x01garbage", "truncated or not an ONNX model"),
])
def test_not_an_onnx_file_says_what_it_looks_like(tmp_path: Path, text: str, hint: str) -> None:
    path = tmp_path / "m.onnx"
    path.write_bytes(text.encode())
    with pytest.raises(FrontendError, match="not a valid ONNX file") as err:
        import_onnx(path)
    assert hint in (err.value.hint or ""), err.value.hint
