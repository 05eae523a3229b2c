"""How a run records paths, so a run directory can be moved and used from any folder (a leaf, open to every
stage): a path inside the run is written relative to the folder of the file that records it; a path
outside the run (a FaceSet prepared elsewhere, a model file a team ships) is written absolute.

Files written before this rule hold paths relative to the folder the command was started in; reading
tries the recording file's folder first and that old base second, so they still load from where they
were made."""

from __future__ import annotations

import os
from pathlib import Path


def is_inside(path: str | Path, root: str | Path) -> bool:
    return Path(path).resolve().is_relative_to(Path(root).resolve())


def record_path(path: str | Path, *, base: str | Path, root: str | Path) -> str:
    """The text to store for `path` in a file whose folder is `base`, in a run rooted at `root`: relative
    to `base` (POSIX separators) when `path` lies inside `root`, else absolute."""
    target = Path(path).resolve()
    if not target.is_relative_to(Path(root).resolve()):
        return str(target)
    return Path(os.path.relpath(target, Path(base).resolve())).as_posix()


def resolve_recorded(value: str | Path, *, base: str | Path) -> Path:
    """A stored path back as an absolute path: absolute as stored, else against `base` (the recording
    file's folder); a path that exists only against the current folder is an old record, taken from there."""
    path = Path(value).expanduser()
    if path.is_absolute():
        return path
    beside = (Path(base) / path).resolve()
    if beside.exists() or not path.exists():
        return beside
    return path.resolve()
