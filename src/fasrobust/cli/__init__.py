"""Entry point of the `fasrobust` command. User errors print one line and exit 2; bugs keep their
traceback."""

from __future__ import annotations

import sys

from ..errors import FasrobustError
from .app import app

# Each import registers that stage's commands on `app` (stages add their module here).
from . import inspect_cmd  # noqa: E402,F401
from . import serve_cmd  # noqa: E402,F401
from . import prepare_cmd  # noqa: E402,F401
from . import train_cmd  # noqa: E402,F401
from . import evaluate_cmd  # noqa: E402,F401
from . import attack_cmd  # noqa: E402,F401
from . import robustness_cmd  # noqa: E402,F401
from . import probe_cmd  # noqa: E402,F401
from . import experiments_cmd  # noqa: E402,F401
from . import report_cmd  # noqa: E402,F401

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
