"""`fasrobust demo`: the whole flow on the embedded SYNTHETIC sample database, in minutes on a CPU.

prepare the sample database -> train FASNet briefly -> evaluate -> attack a dozen spoof faces with 1 and 9
pixels, the paper's DE and Sparse-RS side by side -> report, ending with the path of index.html.
It is the `demo` preset run like any other spec, so it resumes like one: run it again after an
interruption and it continues. Everything it writes says the data is synthetic."""

from __future__ import annotations

from pathlib import Path

from ..progress import console
from .executors import Executor, create_executor
from .runner import RunSummary, run
from .spec import ExperimentSpec

DEMO_PRESET = "demo"
DEFAULT_OUT = Path("runs/demo")


def demo_spec(**overrides) -> ExperimentSpec:
    """The demo preset, with top-level keys replaced by `overrides` (tests shrink it further)."""
    return ExperimentSpec.preset(DEMO_PRESET, **overrides)


def default_executor() -> Executor:
    """Every job in this process with every core. The demo trains one model, and its jobs form a chain
    (prepare -> train -> evaluate -> attack): a pool of single-threaded workers would leave all but one
    core idle while that model trains. The sample database renders its clips in worker processes of its
    own, and a DE generation of 12 images x 20 candidates is a batch large enough for several threads."""
    return create_executor(workers=0)


def run_demo(out: str | Path = DEFAULT_OUT, *, spec: ExperimentSpec | None = None,
             executor: Executor | None = None) -> RunSummary:
    spec = spec or demo_spec()
    console.print(f"[bold]fasrobust demo[/]: {spec.description.strip()}")
    console.print("[yellow]The sample database is SYNTHETIC[/] (faces from bundled photographs, simulated "
                  "print and replay attacks): the numbers show the method, not a real system's robustness.")
    owned = executor is None
    executor = executor or default_executor()
    try:
        return run(spec, out, executor=executor, update=True)
    finally:
        if owned:
            executor.close()
