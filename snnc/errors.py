"""Typed errors. Every user-facing failure in snnc is one of these.

Each error carries *what* went wrong, *where* (an op, a node, a file position, a key) and
a *hint* for the fix. The CLI prints them as one block and exits non-zero, without a
traceback; library users can catch :class:`SnncError`.
"""

from __future__ import annotations


class SnncError(Exception):
    """Base of every error snnc raises on bad input.

    Args:
        message: what is wrong, in one sentence.
        where: the location (op name, ONNX node, ``file:line:col``, hardware key), if known.
        hint: what the user can change to fix it, if we know.
    """

    exit_code: int = 1

    def __init__(self, message: str, *, where: str | None = None, hint: str | None = None) -> None:
        self.message = message
        self.where = where
        self.hint = hint
        super().__init__(self.format())

    def format(self) -> str:
        """The error as printed by the CLI: ``where: message`` plus an indented hint line."""
        text = f"{self.where}: {self.message}" if self.where else self.message
        if self.hint:
            text += f"\n  hint: {self.hint}"
        return text


class VerificationError(SnncError):
    """The IR breaks a structural, type or per-op rule."""


class IRParseError(SnncError):
    """An IR text dump could not be parsed (carries line and column)."""

    def __init__(self, message: str, *, line: int, column: int, source: str = "<text>",
                 hint: str | None = None) -> None:
        self.line = line
        self.column = column
        super().__init__(message, where=f"{source}:{line}:{column}", hint=hint)


class FrontendError(SnncError):
    """An ONNX (or other) model could not be imported."""


class UnsupportedOpError(FrontendError):
    """The model uses an operator the frontend does not know."""


class PassError(SnncError):
    """A compiler pass failed."""


class BackendError(SnncError):
    """A backend could not be found, loaded or run."""


class DatasetError(SnncError):
    """A dataset is missing, malformed or does not fit the model."""


class HardwareConfigError(SnncError):
    """A hardware description file is missing, malformed, or has unknown, missing or impossible values."""


class DesignRuleError(SnncError):
    """A model does not fit the hardware (a layer, a PE, the mesh), with the numbers and what to change."""


class DeploymentError(SnncError):
    """A deployment directory is incomplete, inconsistent, or would overwrite something."""
