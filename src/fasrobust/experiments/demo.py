"""`fasrobust demo`: the whole flow on the embedded SYNTHETIC sample database, in minutes on a CPU.

prepare the sample database -> train FASNet briefly without and with all augmentations -> evaluate
-> attack a few dozen spoof faces with 1 and 9 pixels -> report, ending with the path of index.html.
It is the `demo` preset run like any other spec, so it resumes like one: run it again after an
interruption and it continues. Everything it writes says the data is synthetic."""

from __future__ import annotations

from pathlib import Path

from ..progress import console
from .executors import Executor, cpu_count, create_executor
from .runner import RunSummary, run
from .spec import ExperimentSpec

DEMO_PRESET = "demo"
DEFAULT_OUT = Path("runs/demo")


def demo_spec(**overrides) -> ExperimentSpec:
    """The demo preset, with top-level keys replaced by `overrides` (tests shrink it further)."""
    return ExperimentSpec.preset(DEMO_PRESET, **overrides)


def default_executor() -> Executor:
    """One single-threaded worker process per core (up to 4): on 32x32 faces a batch is too small to
    keep two threads busy, so two jobs side by side (two models trained, two shards attacked) beat
    one job with two threads (see benchmarks/campaign_scaling.py)."""
    cores = cpu_count()
    if cores < 2:
        return create_executor(workers=0)
    workers = min(cores, 4)
    return create_executor(workers=workers, threads=max(1, cores // workers))


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
