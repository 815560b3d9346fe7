"""Safe file output: atomic writes that never clobber what the user gave us."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from snnc.errors import SnncError


def check_output_path(path: str | os.PathLike[str], *, inputs: tuple[str | os.PathLike[str], ...] = (),
                      force: bool = False) -> Path:
    """Refuse to write over an input file, or over an existing file without ``force``."""
    out = Path(path)
    for src in inputs:
        if out.exists() and Path(src).exists() and out.resolve() == Path(src).resolve():
            raise SnncError(f"refusing to write the output over the input file {src}", where=str(out),
                            hint="choose another output path")
    if out.exists() and not force:
        raise SnncError("output file already exists", where=str(out), hint="pass --force to overwrite it")
    if out.exists() and out.is_dir():
        raise SnncError("output path is a directory", where=str(out), hint="give a file name")
    ancestor = out.parent
    while not ancestor.exists() and ancestor != ancestor.parent:
        ancestor = ancestor.parent
    if ancestor.exists() and not ancestor.is_dir():
        raise SnncError(f"cannot write the output: {ancestor} is a file, not a folder", where=str(out),
                        hint="choose an output path in a folder")
    return out


def write_atomic(path: str | os.PathLike[str], data: str | bytes) -> None:
    """Write ``data`` to a temporary file beside ``path``, then rename it into place.

    A reader never sees a half-written file, and an interrupted write leaves the old file intact.
    """
    target = Path(path)
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
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
            return err.strerror or str(err) if folder.is_dir() else f"{folder} is a file, not a folder"
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
