"""Errors a user can cause and fix. The CLI prints them as one line and exits non-zero;
anything else is a bug and keeps its traceback."""

from __future__ import annotations

from pathlib import Path


class FasrobustError(Exception):
    """A user-facing error: bad input, bad settings, a missing file. Its message is one line."""

    def __init__(self, message: str, path: str | Path | None = None):
        self.path = None if path is None else str(path)
        text = " ".join(str(message).split())  # one line, always
        super().__init__(f"{self.path}: {text}" if self.path else text)


class ConfigError(FasrobustError):
    """A settings file or option that does not validate."""


class DataError(FasrobustError):
    """A database, video, image, manifest or FaceSet that cannot be read as asked."""


class ModelError(FasrobustError):
    """A checkpoint or weights file that does not fit the model."""


class TargetError(FasrobustError):
    """A target (model, ONNX file, HTTP endpoint) that answered something unusable."""


class TransientTargetError(TargetError):
    """A target failure that may pass if asked again (a refused connection, a timeout, HTTP 5xx, a query
    budget that a later run may have again). Any other TargetError is a contract error: the target answers
    every call the same way, so repeating the job cannot help and the job stops with that one line."""


class AttackError(FasrobustError):
    """Attack settings or inputs that cannot be attacked."""


class MissingExtraError(FasrobustError):
    """An optional dependency is needed for what was asked."""

    def __init__(self, module: str, extra: str, purpose: str):
        super().__init__(
            f"{purpose} needs the '{module}' package: pip install 'fasrobust[{extra}]'"
        )


def require(module: str, extra: str, purpose: str):
    """Import an optional dependency, or raise a one-line error naming the extra that provides it."""
    import importlib

    try:
        return importlib.import_module(module)
    except ImportError as exc:
        raise MissingExtraError(module, extra, purpose) from exc
