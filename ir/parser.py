"""Parse the versioned IR text format (``docs/text-format.md``) back into a verified :class:`~snnc.ir.Graph`.

The grammar (``grammar.lark``) is generic: an op is ``%r = name(%a, ...) {attrs} : type meta {...}`` for
every op in :data:`snnc.ir.ops.OPS`. Lark (LALR) builds a small tree, with each resource blob one
token; this module turns the tree into a graph through ``Graph.add_input`` / ``add_op`` /
``set_outputs`` and calls ``graph.verify()`` (its :class:`~snnc.errors.VerificationError` passes through).

Every other problem is an :class:`~snnc.errors.IRParseError` at ``source:line:column``: syntax errors
(what was found, what was expected), a wrong version, an undefined or duplicate value, an unknown or
malformed resource, an unknown dtype. Naming: ``try_x`` returns None, ``parse_x`` raises.

Example:
    >>> g = parse_graph('''snnc.ir 1
    ... graph @tiny(%x: tensor<Bx3xf32>) time_steps = 4 {
    ...   %s = snn.rate_encode(%x) {time_steps = 4, threshold = 0.5} : spikes<TxBx3>
    ...   %y = snn.spike_count_decode(%s) : tensor<Bx3xf32>
    ...   return %y
    ... }''')
    >>> [op.opname for op in g.ops]
    ['snn.rate_encode', 'snn.spike_count_decode']
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import functools
import json
import math
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
from lark import Lark, Token, Tree
from lark.exceptions import UnexpectedCharacters, UnexpectedInput, UnexpectedToken

from snnc.errors import IRParseError
from snnc.ir.graph import Graph, Value
from snnc.ir.printer import VERSION, ElidedArray
from snnc.ir.types import DTYPES, Kind, ValueType

#: how deep lists and dicts may nest in an attribute or meta value.
MAX_NESTING = 64
#: text format versions this parser reads.
SUPPORTED_VERSIONS: tuple[int, ...] = (VERSION,)

_NOT_BASE64 = re.compile(r"[^A-Za-z0-9+/=]")
_HEADER = re.compile(r"snnc\.ir[ \t]+(\S+)")
_TYPE = re.compile(r"(spikes|current|potential|tensor)<([^<>\s]*)>")
_TYPE_HINT = ("write spikes<TxBx...>, current<TxBx...xDTYPE>, potential<TxBx...xDTYPE> or tensor<Bx...xDTYPE>, "
              "e.g. current<TxBx800xf32>")
_DTYPE_HINT = f"known dtypes: {', '.join(sorted(DTYPES))}"
#: how a syntax error names the token kinds it expected (keywords and punctuation print quoted).
_TOKEN_NAMES = {
    "TYPE": "a value type (e.g. tensor<Bx10xf32>)",
    "VALUE_ID": "a value name (e.g. %x)",
    "GRAPH_ID": "a graph name (e.g. @main)",
    "OP_NAME": "an op name (e.g. snn.dense)",
    "NAME": "a name",
    "STRING": "a string",
    "FLOAT": "a float",
    "INT": "an integer",
    "$END": "end of input",
}


@functools.cache
def _lark() -> Lark:
    grammar = (Path(__file__).with_name("grammar.lark")).read_text(encoding="utf-8")
    return Lark(grammar, parser="lalr", maybe_placeholders=True, propagate_positions=True)


def parse_graph(text: str, source: str = "<text>", *, allow_elided: bool = False) -> Graph:
    """Parse an IR text dump into a verified graph.

    Args:
        text: the dump, as :func:`snnc.ir.printer.print_graph` writes it.
        source: the file name used in error positions (``source:line:column``).
        allow_elided: accept ``elided<...>`` arrays (a dump printed with ``elide_weights=True``); they
            become :class:`~snnc.ir.printer.ElidedArray` placeholders whose every element is the printed
            mean: the graph verifies and prints back to the same text, but running it is meaningless.

    Returns:
        The graph, after ``graph.verify()``.

    Raises:
        IRParseError: bad syntax, version, names, resources or dtypes (with line and column).
        VerificationError: the graph parses but breaks an IR rule (unknown op, type mismatch, ...).
    """
    text = text.removeprefix("\ufeff")  # a byte-order mark from an editor; columns then match what it shows
    _check_header(text, source)
    try:
        tree = _lark().parse(text)
    except UnexpectedInput as err:
        raise _syntax_error(err, text, source) from None
    return _Builder(source, allow_elided).build(tree)


def try_parse_type(text: str) -> ValueType | None:
    """The :class:`ValueType` printed as ``text`` (``spikes<TxBx784>``, ``tensor<Bx10xf32>``), or None."""
    m = _TYPE.fullmatch(text)
    if not m:
        return None
    kind, parts = Kind(m[1]), m[2].split("x")
    lead = ["T", "B"] if kind.time_major else ["B"]
    if parts[: len(lead)] != lead:
        return None
    dims, dtype = parts[len(lead):], "i1"
    if kind is not Kind.SPIKES:
        if not dims or dims[-1] not in DTYPES:
            return None
        dtype = dims.pop()
    if not all(d.isascii() and d.isdigit() for d in dims):
        return None
    vt = ValueType(kind, tuple(int(d) for d in dims), dtype)
    return vt if str(vt) == text else None


def parse_type(text: str, *, line: int = 1, column: int = 1, source: str = "<text>") -> ValueType:
    """Like :func:`try_parse_type`, but raise an :class:`IRParseError` (at ``line:column``) saying why."""
    vt = try_parse_type(text)
    if vt is not None:
        return vt
    m = _TYPE.fullmatch(text)
    last = m[2].split("x")[-1] if m else ""
    if m and m[1] != "spikes" and last[:1].isalpha() and last not in DTYPES and last not in ("T", "B"):
        raise IRParseError(f"unknown dtype '{last}' in value type '{text}'", line=line, column=column,
                           source=source, hint=_DTYPE_HINT)
    raise IRParseError(f"invalid value type '{text}'", line=line, column=column, source=source, hint=_TYPE_HINT)


# ------------------------------------------------------------------------------------------ errors
def _check_header(text: str, source: str) -> None:
    first = text.split("\n", 1)[0].rstrip()
    m = _HEADER.match(first)
    if not m:
        found = f"'{_clip(first)}'" if first.strip() else "an empty line" if text.strip() else "an empty input"
        raise IRParseError(f"expected the header 'snnc.ir {VERSION}' on line 1, found {found}", line=1, column=1,
                           source=source, hint="an IR dump starts with its format version, as print_graph writes it")
    found = m[1]
    if not (found.isascii() and found.isdigit() and int(found) in SUPPORTED_VERSIONS):
        supported = ", ".join(map(str, SUPPORTED_VERSIONS))
        raise IRParseError(f"unsupported IR text version '{found}'; this snnc reads version {supported}",
                           line=1, column=m.start(1) + 1, source=source,
                           hint="print the graph again with this snnc, or read it with the snnc that wrote it")


def _syntax_error(err: UnexpectedInput, text: str, source: str) -> IRParseError:
    """Turn a lark exception into an IRParseError: position, what was found, what was expected."""
    parser = getattr(err, "interactive_parser", None)
    expected = parser.accepts() if parser is not None else getattr(err, "expected", None) or err.allowed or set()
    if isinstance(err, UnexpectedCharacters):
        line, column = err.line, err.column
        char = text[err.pos_in_stream]
        rest = text[err.pos_in_stream + 1:].split("\n", 1)[0]
        found = "unterminated string" if char == '"' and '"' not in rest else f"character '{char}'"
    elif isinstance(err, UnexpectedToken) and err.token.type != "$END":
        line, column = err.line, err.column
        found = f"'{_clip(str(err.token))}'"
    else:  # end of input
        head = text.rstrip()
        line, column = head.count("\n") + 1, len(head) - head.rfind("\n")
        found = "end of input"
    names = sorted({_describe(t) for t in expected})
    wanted = names[0] if len(names) == 1 else "one of: " + ", ".join(names) if names else "nothing more"
    hint = "is the file truncated?" if found in ("end of input", "unterminated string") else None
    return IRParseError(f"unexpected {found}; expected {wanted}", line=line, column=column, source=source, hint=hint)


def _describe(terminal: str) -> str:
    if terminal in _TOKEN_NAMES:
        return _TOKEN_NAMES[terminal]
    pattern = _lark().get_terminal(terminal).pattern
    return f"'{pattern.value}'" if pattern.type == "str" else terminal


def _clip(text: str, width: int = 40) -> str:
    return text if len(text) <= width else text[: width - 3] + "..."


# ------------------------------------------------------------------------------------------ building
class _Builder:
    """Walks the lark tree: resources first (ops refer to them), then the graph."""

    def __init__(self, source: str, allow_elided: bool) -> None:
        self.source = source
        self.allow_elided = allow_elided
        self.resources: dict[str, tuple[bytes, str, tuple[int, ...]]] = {}
        self.depth = 0

    def error(self, message: str, at: Token | Tree, hint: str | None = None) -> IRParseError:
        line, column = (at.line, at.column) if isinstance(at, Token) else (at.meta.line, at.meta.column)
        return IRParseError(message, line=line, column=column, source=self.source, hint=hint)

    def build(self, tree: Tree) -> Graph:
        _, graph_tree, *rest = tree.children
        for res in rest[0].children if rest else []:
            self.resource(res)
        return self.graph(graph_tree)

    # ---------------------------------------------------------------- graph
    def graph(self, tree: Tree) -> Graph:
        name_tok, *items = tree.children
        time_steps = next(c for c in items if isinstance(c, Token))
        meta_tree = next((c for c in items if isinstance(c, Tree) and c.data == "metadata"), None)
        metadata = {}
        if meta_tree is not None:
            for entry in meta_tree.children[0].children:
                if entry is None:
                    continue
                key, value = self.entry(entry)
                if not isinstance(value, str):
                    raise self.error(f"metadata value for '{key}' must be a string", entry.children[1])
                metadata[key] = value
        graph = Graph(self.name(name_tok), int(time_steps), metadata)
        defined: dict[str, tuple[Value, Token]] = {}
        for item in items:
            if isinstance(item, Tree) and item.data == "input":
                name_tok, type_tok = item.children
                self.define(name_tok, defined, lambda n, t=type_tok: graph.add_input(n, self.type(t)))
            elif isinstance(item, Tree) and item.data == "op":
                self.op(item, graph, defined)
            elif isinstance(item, Tree) and item.data == "return":
                graph.set_outputs([self.use(tok, defined) for tok in item.children])
        graph.verify()
        return graph

    def op(self, tree: Tree, graph: Graph, defined: dict[str, tuple[Value, Token]]) -> None:
        result_tok, opname, *rest = tree.children
        operands = [self.use(t, defined) for t in rest if isinstance(t, Token) and t.type == "VALUE_ID"]
        type_tok = next(t for t in rest if isinstance(t, Token) and t.type == "TYPE")
        attrs_tree = next((t for t in rest if isinstance(t, Tree) and t.data == "dict"), None)
        meta_tree = next((t for t in rest if isinstance(t, Tree) and t.data == "meta"), None)
        attrs = self.value(attrs_tree) if attrs_tree is not None else {}
        meta = self.value(meta_tree.children[0]) if meta_tree is not None else {}
        result_type = self.type(type_tok)
        self.define(result_tok, defined,
                    lambda n: graph.add_op(str(opname), operands, attrs, name=n, type=result_type, meta=meta))

    def define(self, tok: Token, defined: dict[str, tuple[Value, Token]], make: Any) -> None:
        name = self.name(tok)
        if name in defined:
            first = defined[name][1]
            raise self.error(f"value %{name} is defined twice (first at line {first.line}:{first.column})", tok,
                             hint="every value needs its own name")
        defined[name] = (make(name), tok)

    def use(self, tok: Token, defined: dict[str, tuple[Value, Token]]) -> Value:
        name = self.name(tok)
        if name not in defined:
            raise self.error(f"undefined value %{name}", tok,
                             hint="a value must be a graph input or an earlier op's result")
        return defined[name][0]

    def name(self, tok: Token) -> str:
        """``%x`` / ``@x`` / ``%"a b"`` without the sigil."""
        body = str(tok)[1:]
        return self.string(tok, body) if body.startswith('"') else body

    def type(self, tok: Token) -> ValueType:
        return parse_type(str(tok), line=tok.line, column=tok.column, source=self.source)

    # ---------------------------------------------------------------- values
    def value(self, tree: Tree) -> Any:
        """A value subtree as Python: dispatch on the rule name to ``v_<rule>``."""
        return getattr(self, f"v_{tree.data}")(tree)

    def v_int(self, tree: Tree) -> int:
        return int(tree.children[0])

    def v_float(self, tree: Tree) -> float:
        return float(tree.children[0])

    def v_string(self, tree: Tree) -> str:
        return self.string(tree.children[0], str(tree.children[0]))

    def v_true(self, tree: Tree) -> bool:
        return True

    def v_false(self, tree: Tree) -> bool:
        return False

    def v_list(self, tree: Tree) -> list[Any]:
        with self.nested(tree):
            return [self.value(k) for k in tree.children if k is not None]

    def v_dict(self, tree: Tree) -> dict[str, Any]:
        out: dict[str, Any] = {}
        with self.nested(tree):
            for entry in (k for k in tree.children if k is not None):
                key, value = self.entry(entry)
                if key in out:
                    raise self.error(f"duplicate key '{key}'", entry)
                out[key] = value
        return out

    @contextlib.contextmanager
    def nested(self, tree: Tree) -> Iterator[None]:
        """Bound the nesting of lists and dicts (the walk is recursive)."""
        if self.depth >= MAX_NESTING:
            raise self.error(f"values nested deeper than {MAX_NESTING} levels", tree)
        self.depth += 1
        try:
            yield
        finally:
            self.depth -= 1

    def entry(self, tree: Tree) -> tuple[str, Any]:
        key_tok, value = tree.children
        key = self.string(key_tok, str(key_tok)) if key_tok.type == "STRING" else str(key_tok)
        return key, self.value(value)

    def string(self, tok: Token, literal: str) -> str:
        try:
            return json.loads(literal, strict=False)
        except json.JSONDecodeError as err:
            raise self.error(f"invalid string {_clip(literal)}: {err.msg.lower()}", tok,
                             hint='strings use JSON escapes: \\" \\\\ \\n \\t \\uXXXX') from None

    def array_type(self, tree: Tree) -> tuple[str, tuple[int, ...]]:
        dtype_tok, *dims = tree.children
        if str(dtype_tok) not in DTYPES:
            raise self.error(f"unknown dtype '{dtype_tok}'", dtype_tok, hint=_DTYPE_HINT)
        shape = tuple(int(d) for d in dims if d is not None)
        if any(d < 0 for d in shape):
            raise self.error(f"negative dimension in {dtype_tok}{list(shape)}", dtype_tok)
        return str(dtype_tok), shape

    def v_dense(self, tree: Tree) -> np.ndarray:
        list_tree, type_tree = tree.children
        dtype, shape = self.array_type(type_tree)
        items = [k for k in list_tree.children if k is not None]
        spelled = _spell(dtype, shape)
        if len(items) != math.prod(shape):
            raise self.error(f"dense<...> has {len(items)} values, {spelled} needs {math.prod(shape)}", list_tree)
        values = [self.element(item, dtype, spelled) for item in items]
        return np.array(values, dtype=DTYPES[dtype]).reshape(shape)

    def element(self, tree: Tree, dtype: str, spelled: str) -> int | float:
        """One number of an inline array, checked against the dtype (i1 takes 0 and 1)."""
        v = self.value(tree)
        if isinstance(v, bool) or not isinstance(v, int | float):
            raise self.error(f"{spelled} cannot hold {_clip(repr(v))}", tree, hint="inline arrays hold numbers")
        if dtype[0] == "f":
            with np.errstate(over="ignore"):
                overflows = math.isfinite(v) and not np.isfinite(np.array(v, DTYPES[dtype]))
            if overflows:
                raise self.error(f"{spelled} cannot hold {v!r}: beyond its largest value "
                                 f"{float(np.finfo(DTYPES[dtype]).max):g}", tree)
            return v
        low, high = (0, 1) if dtype == "i1" else (np.iinfo(DTYPES[dtype]).min, np.iinfo(DTYPES[dtype]).max)
        if not isinstance(v, int) or not low <= v <= high:
            raise self.error(f"{spelled} cannot hold {v!r}", tree,
                             hint=f"{dtype} values are integers in {low} .. {high}")
        return v

    def v_dense_resource(self, tree: Tree) -> np.ndarray:
        name_tok, type_tree = tree.children
        name = self.string(name_tok, str(name_tok))
        dtype, shape = self.array_type(type_tree)
        if name not in self.resources:
            known = ", ".join(f'"{n}"' for n in list(self.resources)[:5]) or "none"
            raise self.error(f'unknown resource "{name}"', name_tok,
                             hint=f"resources defined at the end of the file: {known}")
        raw, res_dtype, res_shape = self.resources[name]
        if (res_dtype, res_shape) != (dtype, shape):
            raise self.error(f'resource "{name}" is {_spell(res_dtype, res_shape)} but is used as '
                             f"{_spell(dtype, shape)}", name_tok)
        little = np.dtype(DTYPES[dtype]).newbyteorder("<")
        return np.frombuffer(raw, dtype=little).reshape(shape).astype(DTYPES[dtype])

    def v_elided(self, tree: Tree) -> np.ndarray:
        keyword, *entries, type_tree = tree.children
        if not self.allow_elided:
            raise self.error("array data is elided (this dump was printed with elide_weights=True)", keyword,
                             hint="parse with allow_elided=True to read the structure only, or print the "
                                  "graph again without elide_weights")
        dtype, shape = self.array_type(type_tree)
        summary = dict(self.entry(e) for e in entries if e is not None)
        if not all(isinstance(v, int | float) and not isinstance(v, bool) for v in summary.values()) \
                or "mean" not in summary:
            raise self.error("elided<...> needs numbers, including the mean", keyword)
        try:
            numbers = {k: float(v) for k, v in summary.items()}
        except OverflowError:
            raise self.error("elided<...> holds a number too large for a float", keyword) from None
        mean = numbers["mean"]
        if dtype[0] == "f":  # the mean printed to 6 digits may round past the largest finite value
            info = np.finfo(DTYPES[dtype])
            fill: float | int = mean if math.isnan(mean) else min(max(mean, float(info.min)), float(info.max))
        else:
            low, high = (0, 1) if dtype == "i1" else (np.iinfo(DTYPES[dtype]).min, np.iinfo(DTYPES[dtype]).max)
            if not math.isfinite(mean) or not low <= round(mean) <= high:
                raise self.error(f"elided mean {mean!r} does not fit {_spell(dtype, shape)}", keyword,
                                 hint=f"{dtype} values are integers in {low} .. {high}")
            fill = round(mean)
        array = np.full(shape, fill, dtype=DTYPES[dtype]).view(ElidedArray)
        array.summary = numbers
        return array

    # ---------------------------------------------------------------- resources
    def resource(self, tree: Tree) -> None:
        name_tok, type_tree, blob_tok = tree.children
        name = self.string(name_tok, str(name_tok))
        if name in self.resources:
            raise self.error(f'resource "{name}" is defined twice', name_tok)
        dtype, shape = self.array_type(type_tree)
        body = str(blob_tok)[1:-1]
        bad = _NOT_BASE64.search(body)
        if bad:
            raise IRParseError(f'resource "{name}" is not valid base64: unexpected character {bad[0]!r}',
                               line=blob_tok.line, column=blob_tok.column + 1 + bad.start(), source=self.source,
                               hint="the blob is the base64 (A-Z a-z 0-9 + / =) of the array's little-endian bytes")
        try:
            raw = base64.b64decode(body, validate=True)
        except (binascii.Error, ValueError) as err:
            reason = str(err).rstrip(".").lower()
            raise self.error(f'resource "{name}" is not valid base64: {reason}', blob_tok,
                             hint="the blob is the base64 of the array's little-endian bytes, C order") from None
        need = math.prod(shape) * np.dtype(DTYPES[dtype]).itemsize
        if len(raw) != need:
            raise self.error(f'resource "{name}" holds {len(raw)} bytes, {_spell(dtype, shape)} needs {need}',
                             blob_tok, hint="the blob is the base64 of the array's little-endian bytes, C order")
        self.resources[name] = (raw, dtype, shape)


def _spell(dtype: str, shape: tuple[int, ...]) -> str:
    return f"{dtype}[{','.join(map(str, shape))}]"
