"""The `fasrobust` Typer application; each stage's commands live in their own module of this package."""

from __future__ import annotations

import typer

from .. import __version__

app = typer.Typer(
    name="fasrobust",
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
