"""The one input/output discipline of every snnc command (issue 19).

Outputs: :func:`claim_output` is called before any work and refuses to write over an input of the same
command (same resolved path or inode, or a folder holding one), over an existing file without ``force``,
through a symbolic link, inside a deployment, or where the folder cannot be written; ``force`` replaces
only what snnc wrote (a deployment it recognises by its manifest, whose every file the manifest lists) and
never deletes other files. :func:`write_atomic` then writes through a temporary file in the same folder
and a rename, removed again on any failure (disk full, interrupt).

Inputs: :func:`read_input` refuses special files (FIFOs, devices, sockets) by type before reading -- a FIFO
is opened non-blocking and never read -- and files over a size bound. :func:`parse_int` and
:func:`parse_float` parse numbers with limits (ASCII digits only, finite); :func:`check_finite` guards
derived figures; :func:`sanitize` makes a name from a file safe to print on a terminal.
"""

from __future__ import annotations

import errno
import json
import math
import os
import re
import stat
import tempfile
from collections.abc import Iterable
from pathlib import Path

from snnc.errors import SnncError

PathLike = str | os.PathLike[str]

#: The largest single file snnc reads unless a reader asks for less (models, traces, hardware files).
MAX_INPUT_BYTES = 4 << 30
#: The deployment format's name in manifest.json (kept in step with ``backends/yoso/deploy.py``).
DEPLOYMENT_FORMAT = "snnc-yoso-deployment"
_MANIFEST_MAX = 64 << 20


# ------------------------------------------------------------------------------------------ outputs
def claim_output(path: PathLike, *, inputs: Iterable[PathLike | None] = (), force: bool = False,
                 kind: str = "file", option: str | None = None, error: type[SnncError] = SnncError) -> Path:
    """Check that ``path`` may be written by this command, before any work; returns it as a Path.

    Args:
        path: the output (a file, or with ``kind="deployment"`` a deployment directory).
        inputs: every file or folder the same command reads (None entries are skipped).
        force: the user passed ``--force``.
        kind: ``file`` or ``deployment``.
        option: the option naming the output, for the hint (e.g. ``--json``).
        error: the error class raised (a subclass of SnncError).

    Raises:
        error: the output would clobber an input, an existing file (without ``force``), a file snnc did
            not write, go through a symlink or inside a deployment, or cannot be written at all.
    """
    try:
        return _claim(Path(path), [Path(s) for s in inputs if s is not None], force, kind, option)
    except SnncError as err:
        if error is SnncError or isinstance(err, error):
            raise
        raise error(err.message, where=err.where, hint=err.hint) from None


def _claim(out: Path, inputs: list[Path], force: bool, kind: str, option: str | None) -> Path:
    where = str(out)
    hint = f"choose another {option or 'output'} path"
    try:
        info = os.lstat(out)
    except (FileNotFoundError, NotADirectoryError):
        info = None  # (below a file: _check_writable says which)
    except OSError as err:
        raise SnncError(f"cannot use the output path: {_reason(err)}", where=where, hint=hint) from None
    if info is not None and stat.S_ISLNK(info.st_mode):
        raise SnncError("the output path is a symbolic link; refusing to write through it", where=where, hint=hint)
    resolved = _resolve(out)
    for src in inputs:
        problem = _clobbers(resolved, info, src, kind)
        if problem:
            raise SnncError(f"refusing to write the output {problem} {src}", where=where, hint=hint)
    owner = _enclosing_deployment(resolved.parent if kind == "deployment" else resolved)
    if owner is not None and not (kind == "deployment" and owner == resolved):
        raise SnncError(f"refusing to write inside the deployment {owner}", where=where,
                        hint="a deployment holds only the files its manifest lists; write elsewhere")
    if info is not None:
        if kind == "deployment":
            _check_replaceable_deployment(out, info, force)
        else:
            if stat.S_ISDIR(info.st_mode):
                raise SnncError("output path is a directory", where=where, hint="give a file name")
            if not stat.S_ISREG(info.st_mode):
                raise SnncError(f"the output path is {_kind(info.st_mode)}, not a file; refusing to write over it",
                                where=where, hint=hint)
            if not force:
                raise SnncError("output file already exists", where=where,
                                hint=f"pass --force to overwrite it, or {hint}")
    _check_writable(out, "the deployment" if kind == "deployment" else "the output")
    return out


def check_output_path(path: PathLike, *, inputs: tuple[PathLike, ...] = (), force: bool = False) -> Path:
    """A file output: :func:`claim_output` with ``kind="file"`` (the name older callers use)."""
    return claim_output(path, inputs=inputs, force=force)


def claim_files(folder: PathLike, names: Iterable[str], *, inputs: Iterable[PathLike | None] = (),
                force: bool = False, option: str | None = None) -> list[Path]:
    """:func:`claim_output` for each of ``names`` in ``folder`` (a folder of outputs: plots, a sweep)."""
    base = Path(folder)
    try:
        info = os.lstat(base)
    except FileNotFoundError:
        info = None
    except OSError as err:
        raise SnncError(f"cannot use the output folder: {_reason(err)}", where=str(base)) from None
    if info is not None and stat.S_ISLNK(info.st_mode):
        raise SnncError("the output folder is a symbolic link; refusing to write through it", where=str(base),
                        hint=f"choose another {option or 'output'} folder")
    if info is not None and not stat.S_ISDIR(info.st_mode):
        raise SnncError("output path exists and is not a directory", where=str(base), hint="give a directory")
    srcs = [s for s in inputs if s is not None]
    return [claim_output(base / name, inputs=srcs, force=force, option=option) for name in names]


def _clobbers(out: Path, info: os.stat_result | None, src: Path, kind: str) -> str | None:
    """How writing ``out`` would destroy the input ``src`` (None: it would not)."""
    src_resolved = _resolve(src)
    try:
        s = os.stat(src)
    except OSError:  # not there (yet): a second output of the same command must still not be the same file
        return "over the input file" if src_resolved == out else None
    if src_resolved == out or (info is not None and (info.st_dev, info.st_ino) == (s.st_dev, s.st_ino)):
        return f"over the input {'folder' if stat.S_ISDIR(s.st_mode) else 'file'}"
    if kind == "deployment" and _inside(src_resolved, out):
        return "folder, which would delete the input"
    if stat.S_ISDIR(s.st_mode) and info is not None and _inside(out, src_resolved):
        return "over a file of the input folder"
    return None


def _enclosing_deployment(path: Path) -> Path | None:
    """The nearest existing folder at or above ``path`` that is a snnc deployment (None: there is none)."""
    for folder in (path, *path.parents):
        if is_deployment(folder):
            return folder
    return None


def is_deployment(folder: PathLike) -> bool:
    """Whether ``folder`` holds a snnc deployment manifest (a regular file, read with a size bound)."""
    try:
        data = _read_regular(Path(folder) / "manifest.json", _MANIFEST_MAX, nofollow=True)
        manifest = json.loads(data)
    except (OSError, ValueError, RecursionError):
        return False
    return isinstance(manifest, dict) and manifest.get("format") == DEPLOYMENT_FORMAT


def deployment_files(folder: PathLike) -> set[str] | None:
    """The files a deployment's manifest lists (with manifest.json itself), or None if it is not one."""
    try:
        manifest = json.loads(_read_regular(Path(folder) / "manifest.json", _MANIFEST_MAX, nofollow=True))
    except (OSError, ValueError, RecursionError):
        return None
    if not isinstance(manifest, dict) or manifest.get("format") != DEPLOYMENT_FORMAT:
        return None
    files = manifest.get("files")
    if not isinstance(files, dict):
        return None
    return {str(k) for k in files} | {"manifest.json"}


def _check_replaceable_deployment(out: Path, info: os.stat_result, force: bool) -> None:
    """An existing deployment target: replaced only with ``force``, and only if snnc wrote all of it."""
    where = str(out)
    if not force:
        raise SnncError("output directory already exists", where=where,
                        hint="choose another directory, or pass --force (force=True) to replace it")
    if not stat.S_ISDIR(info.st_mode):
        raise SnncError("output path exists and is not a directory; refusing to replace it", where=where,
                        hint="choose another output directory")
    try:
        present = {str(p.relative_to(out)) for p in out.rglob("*") if p.is_symlink() or not p.is_dir()}
        empty = not any(out.iterdir())
    except OSError as err:
        raise SnncError(f"cannot list the output directory: {_reason(err)}", where=where) from None
    if empty:
        return
    listed = deployment_files(out)
    if listed is None:
        raise SnncError("output directory is not empty and is not a snnc deployment; refusing to replace it "
                        "even with --force", where=where, hint="choose another output directory")
    foreign = sorted(present - listed)
    if foreign:
        shown = ", ".join(sanitize(n) for n in foreign[:3]) + (" ..." if len(foreign) > 3 else "")
        raise SnncError(f"the deployment holds {len(foreign)} file(s) snnc did not write ({shown}); refusing to "
                        "replace it even with --force", where=where,
                        hint="move those files out of the deployment, or choose another output directory")


def _check_writable(out: Path, noun: str = "the output") -> None:
    """The nearest existing folder above ``out`` is a writable folder, and every name fits the file system."""
    ancestor = out.parent
    while not os.path.lexists(ancestor) and ancestor != ancestor.parent:
        ancestor = ancestor.parent
    where = str(out)
    hint = "choose an output path in a writable folder"
    if os.path.lexists(ancestor) and not ancestor.is_dir():
        raise SnncError(f"cannot write {noun}: {ancestor} is a file, not a folder", where=where,
                        hint="choose an output path in a folder")
    base = ancestor if str(ancestor) else Path(".")
    try:
        name_max = os.pathconf(base, "PC_NAME_MAX")
    except (OSError, ValueError):
        name_max = 255
    for part in out.parts:
        if len(os.fsencode(part)) > name_max:
            raise SnncError(f"cannot write {noun}: a file name is longer than the file system allows "
                            f"({len(os.fsencode(part))} > {name_max} bytes)", where=where,
                            hint="choose a shorter name")
    if not os.access(base, os.W_OK | os.X_OK):
        try:
            read_only = os.statvfs(base).f_flag & os.ST_RDONLY
        except OSError:
            read_only = False
        why = "its file system is read-only" if read_only else f"the folder {base} is not writable"
        raise SnncError(f"cannot write {noun}: {why}", where=where, hint=hint)


def _resolve(path: Path) -> Path:
    try:
        return path.resolve()
    except (OSError, RuntimeError):
        return Path(os.path.abspath(path))


def _inside(child: Path, parent: Path) -> bool:
    return child == parent or parent in child.parents


def write_atomic(path: PathLike, data: str | bytes) -> None:
    """Write ``data`` to a temporary file beside ``path``, then rename it into place.

    A reader never sees a half-written file, and an interrupted or failed write (disk full) leaves the old
    file intact and no temporary file behind. The rename replaces a symlink itself, never its target.
    """
    target = Path(path)
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{target.name[:200]}.", suffix=".tmp", dir=target.parent)
    except OSError as err:
        raise _write_error(target, err) from None
    mode = "wb" if isinstance(data, bytes) else "w"
    try:
        with os.fdopen(fd, mode, **({} if isinstance(data, bytes) else {"encoding": "utf-8"})) as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes 0600; give the file the permissions open() would
        os.replace(tmp, target)
    except BaseException as err:
        Path(tmp).unlink(missing_ok=True)
        if isinstance(err, OSError):
            raise _write_error(target, err) from None
        raise


def write_failure(target: Path, err: OSError) -> str:
    """Why writing ``target`` failed, in words (a file where a folder should be is named)."""
    for folder in target.parents:
        if folder.exists():
            return _reason(err) if folder.is_dir() else f"{folder} is a file, not a folder"
    return _reason(err)


def _reason(err: OSError) -> str:
    if err.errno == errno.ENOSPC:
        return "no space left on the disk"
    if err.errno == errno.EROFS:
        return "the file system is read-only"
    if err.errno == errno.ENAMETOOLONG:
        return "a file name is longer than the file system allows"
    return err.strerror or str(err)


def _write_error(target: Path, err: OSError) -> SnncError:
    """A failed write (no such folder, not a folder, read-only, disk full) as a user-facing error."""
    return SnncError(f"cannot write the output: {write_failure(target, err)}", where=str(target),
                     hint="check that the output folder exists, is a folder and is writable, and that the disk "
                          "has room")


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


# ------------------------------------------------------------------------------------------- inputs
def _kind(mode: int) -> str:
    if stat.S_ISFIFO(mode):
        return "a FIFO (named pipe)"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "a device"
    if stat.S_ISSOCK(mode):
        return "a socket"
    if stat.S_ISDIR(mode):
        return "a directory"
    if stat.S_ISLNK(mode):
        return "a symbolic link"
    return "not a regular file"


def check_input(path: PathLike, *, what: str = "input file", max_bytes: int = MAX_INPUT_BYTES,
                error: type[SnncError] = SnncError) -> os.stat_result:
    """Refuse anything but a regular file of at most ``max_bytes`` (stat only: nothing is opened).

    Raises:
        error: missing, a FIFO / device / socket / directory, or too large (the message names ``what``).
    """
    p = Path(path)
    try:
        info = os.stat(p)
    except FileNotFoundError:
        raise error(f"{what} not found", where=str(p), hint="check the path") from None
    except OSError as err:
        raise error(f"cannot read the {what}: {_reason(err)}", where=sanitize(str(p))[:300]) from None
    if not stat.S_ISREG(info.st_mode):
        raise error(f"the {what} is {_kind(info.st_mode)}, not a regular file", where=str(p),
                    hint="give a regular file")
    if info.st_size > max_bytes:
        raise error(f"the {what} has {info.st_size} bytes, more than the {max_bytes} snnc reads", where=str(p))
    return info


def read_input(path: PathLike, *, what: str = "input file", max_bytes: int = MAX_INPUT_BYTES,
               error: type[SnncError] = SnncError) -> bytes:
    """The bytes of a regular file of at most ``max_bytes`` (a FIFO or device is refused before it is read)."""
    check_input(path, what=what, max_bytes=max_bytes, error=error)
    try:
        return _read_regular(Path(path), max_bytes)
    except _NotRegular as err:
        raise error(f"the {what} is {err.args[0]}, not a regular file", where=str(path)) from None
    except _TooBig:
        raise error(f"the {what} has more than the {max_bytes} bytes snnc reads", where=str(path)) from None
    except OSError as err:
        raise error(f"cannot read the {what}: {_reason(err)}", where=str(path)) from None


class _NotRegular(OSError):
    pass


class _TooBig(OSError):
    pass


def _read_regular(path: Path, max_bytes: int, *, nofollow: bool = False, dir_fd: int | None = None) -> bytes:
    """Open without blocking (a FIFO opens at once), check the type on the open file, then read the bytes."""
    flags = os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0) | (os.O_NOFOLLOW if nofollow else 0)
    fd = os.open(path, flags, dir_fd=dir_fd)
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise _NotRegular(_kind(info.st_mode))
        if info.st_size > max_bytes:
            raise _TooBig(path)
        os.set_blocking(fd, True)
        chunks, total = [], 0
        while True:
            chunk = os.read(fd, min(1 << 24, max_bytes + 1 - total))
            if not chunk:
                break
            chunks.append(chunk)
            total += len(chunk)
            if total > max_bytes:
                raise _TooBig(path)
        return b"".join(chunks)
    finally:
        os.close(fd)


# ------------------------------------------------------------------------------------------ numbers
_INT = re.compile(r"[+-]?[0-9]{1,40}")


def parse_int(text: str, *, what: str, lo: int | None = None, hi: int | None = None,
              error: type[SnncError] = SnncError) -> int:
    """An integer written in ASCII digits (no Unicode digits, no underscores) within ``[lo, hi]``."""
    s = text.strip() if isinstance(text, str) else ""
    if not _INT.fullmatch(s):
        raise error(f"expected an integer, got {sanitize(str(text))[:60]!r}", where=what)
    value = int(s)
    check_range(value, what=what, lo=lo, hi=hi, error=error)
    return value


_FLOAT = re.compile(r"[+-]?([0-9]{1,400}(\.[0-9]{0,400})?|\.[0-9]{1,400})([eE][+-]?[0-9]{1,5})?")


def parse_float(text: str, *, what: str, lo: float | None = None, hi: float | None = None,
                error: type[SnncError] = SnncError) -> float:
    """A finite number written in ASCII (no inf, nan or Unicode digits) within ``[lo, hi]``."""
    s = text.strip() if isinstance(text, str) else ""
    if not _FLOAT.fullmatch(s):
        raise error(f"expected a finite number, got {sanitize(str(text))[:60]!r}", where=what)
    value = float(s)
    if not math.isfinite(value):
        raise error(f"expected a finite number, got {sanitize(str(text))[:60]!r}", where=what)
    check_range(value, what=what, lo=lo, hi=hi, error=error)
    return value


def check_range(value: float, *, what: str, lo: float | None = None, hi: float | None = None,
                error: type[SnncError] = SnncError) -> None:
    """Raise unless ``lo <= value <= hi`` (either bound may be None)."""
    if (lo is not None and value < lo) or (hi is not None and value > hi):
        span = (f"between {lo} and {hi}" if lo is not None and hi is not None
                else f"at least {lo}" if lo is not None else f"at most {hi}")
        raise error(f"must be {span}, got {value}", where=what)


def check_finite(value: float, *, what: str, where: str | None = None, hint: str | None = None) -> float:
    """A derived figure (a rate, an energy, a mean) must be finite before it is printed."""
    if not math.isfinite(float(value)):
        raise SnncError(f"{what} is not a finite number ({value})", where=where,
                        hint=hint or "check the inputs it is derived from (zero images, a zero clock, huge values)")
    return value


def first_non_finite(obj: object, path: str = "") -> tuple[str, float] | None:
    """The first float in nested dicts / lists that is inf or nan, with its key path (None: all finite)."""
    if isinstance(obj, float):
        return None if math.isfinite(obj) else (path or "value", obj)
    if isinstance(obj, dict):
        items = obj.items()
    elif isinstance(obj, list | tuple):
        items = ((f"[{i}]", v) for i, v in enumerate(obj))
    else:
        return None
    for key, value in items:
        found = first_non_finite(value, f"{path}.{key}" if path and not str(key).startswith("[") else f"{path}{key}")
        if found:
            return found
    return None


# ------------------------------------------------------------------------------------------ printing
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u200e\u200f\u202a-\u202e\u2066-\u2069]")


def sanitize_text(text: str) -> str:
    """Printable text of many lines (a report): :func:`sanitize` each line, keeping newlines and tabs."""
    return "\n".join("\t".join(sanitize(part) for part in line.split("\t")) for line in text.split("\n"))


def sanitize(name: object) -> str:
    """``name`` safe to print on a terminal: control characters (ANSI escapes, bidi overrides) as ``\\xNN``."""
    return _CONTROL.sub(lambda m: f"\\x{ord(m.group()):02x}" if ord(m.group()) < 0x100
                        else f"\\u{ord(m.group()):04x}", str(name))
