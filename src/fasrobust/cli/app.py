"""The `fasrobust` Typer application; each stage's commands live in their own module of this package.

Command modules import only light modules at the top (Typer, the Enums of `fasrobust.choices`, the
reader registry) and import torch, models, training, attacks, experiments and report inside the
command that runs: `fasrobust --help` then starts fast, and so does every spawn-context worker of
`prepare --workers`, which re-imports this package (tests/test_cli_startup.py checks it)."""

from __future__ import annotations

import errno
from typing import Any

import typer
from typer.core import TyperCommand, TyperGroup, TyperOption

from .. import __version__
from ..errors import FasrobustError


class _FlagsWithoutType:
    """Typer's rich help prints a value type after every option, flags included (`--help <bool>`);
    its plain help, like click's, prints none for an option that takes no value. An empty metavar
    is a flag's type for both."""

    def get_params(self, ctx: Any) -> list[Any]:
        params = super().get_params(ctx)  # type: ignore[misc]
        for param in params:
            if isinstance(param, TyperOption) and (param.is_flag or param.count) and param.metavar is None:
                param.metavar = ""
        return params


def as_user_error(exc: BaseException) -> FasrobustError | None:
    """The one place where an exception a library raised on the user's input becomes a one-line user
    error; None for anything else, which is a bug and keeps its traceback.

    What counts: an OSError that names a file (a path that exists where a new one is wanted, a folder
    that cannot be created, no permission, a read-only or full disk): the stage could not touch the
    file the user gave, and the file name plus the system's reason is the whole story. Stages raise
    their own DataError / ConfigError / ModelError where they know more (which file of a database, which
    key of a spec); those pass through unchanged."""
    if isinstance(exc, FasrobustError):
        return exc
    if isinstance(exc, OSError) and exc.filename is not None:
        reason = exc.strerror or errno.errorcode.get(exc.errno or 0) or type(exc).__name__
        hint = _OS_HINTS.get(type(exc), "")
        return FasrobustError(f"{reason}{hint}", exc.filename)
    return None


#: What the user can do about the commonest file errors, added to the system's reason.
_OS_HINTS: dict[type[OSError], str] = {
    FileExistsError: " (something is in the way there: move it, or choose another path)",
    NotADirectoryError: " (a file stands where a folder is needed)",
    IsADirectoryError: " (a folder stands where a file is needed)",
}


class _Command(_FlagsWithoutType, TyperCommand):
    """Every command runs through `as_user_error`, so no call site needs its own try/except."""

    def invoke(self, ctx: Any) -> Any:
        try:
            return super().invoke(ctx)
        except Exception as exc:
            error = as_user_error(exc)
            if error is None or error is exc:
                raise
            raise error from exc


class _Group(_FlagsWithoutType, TyperGroup):
    pass


class _App(typer.Typer):
    """A Typer whose commands (and itself) print flags without a type in their help."""

    def command(self, name: str | None = None, *, cls: type[TyperCommand] | None = None, **kwargs: Any) -> Any:
        return super().command(name, cls=cls or _Command, **kwargs)


app = _App(
    name="fasrobust",
    cls=_Group,
    help="How far can a face anti-spoofing model be fooled by a few pixels? "
    "prepare -> train -> evaluate -> attack -> report, or all of it with `demo`.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


def _show_version(value: bool) -> None:
    if value:
        typer.echo(f"fasrobust {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: bool = typer.Option(False, "--version", callback=_show_version, is_eager=True,
                                 help="Print the version and exit."),
) -> None:
    """fasrobust command line."""
