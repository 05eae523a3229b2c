"""Entry point of the `fasrobust` command. User errors print one line and exit 2; bugs keep their
traceback."""

from __future__ import annotations

import sys

from ..errors import FasrobustError
from .app import app

# Each import registers that stage's commands on `app` (stages add their module here).

__all__ = ["app", "main"]


def main(argv: list[str] | None = None) -> None:
    try:
        app(args=argv, standalone_mode=True)
    except FasrobustError as exc:
        print(f"fasrobust: error: {exc}", file=sys.stderr)
        sys.exit(2)
    except KeyboardInterrupt:
        print("fasrobust: interrupted; finished work is kept and a re-run resumes", file=sys.stderr)
        sys.exit(130)
