"""`fasrobust run` (a spec or a preset, resumable, in-process or on Ray) and `fasrobust demo`."""

from __future__ import annotations

import sys
from pathlib import Path

import typer

from ..errors import ConfigError
from ..progress import console
from .app import app


@app.command("run")
def run_command(
    spec_file: Path = typer.Argument(None, help="Experiment spec (YAML); or use --preset.", show_default=False),
    preset: str = typer.Option(None, "--preset", "-p", help="A shipped spec: paper, paper-small, demo, defences "
                               "(what helps, ~15 min), study (the five findings tested, ~1 h)."),
    out: Path = typer.Option(..., "--out", "-o", help="Run directory (created; a re-run resumes it)."),
    executor: str = typer.Option("inprocess", "--executor", "-e", help="inprocess or ray."),
    workers: int = typer.Option(None, "--workers", "-w", help="Worker processes (inprocess; 0 = in this "
                                "process) or local Ray CPUs. Default: one per GPU when several, else 0 (inprocess); "
                                "every CPU (Ray)."),
    threads: int = typer.Option(None, "--threads", help="Torch threads per job. Default: cores / workers "
                             "(inprocess pool), all (inprocess, 0 workers), 1 (Ray)."),
    address: str = typer.Option(None, "--address", help="An existing Ray cluster, e.g. ray://head:10001."),
    data_root: Path = typer.Option(None, "--data-root", help="Folder holding the databases named by "
                                   "relative roots in the spec (the paper preset's 3dmad/, casia-fasd/, ...)."),
    update: bool = typer.Option(False, "--update", help="Let a changed spec add its jobs to this run directory."),
    report: bool = typer.Option(True, "--report/--no-report", help="Build the report at the end."),
) -> None:
    """Run an experiment grid: prepare, train, evaluate, attack, report; skips what is already done."""
    from ..experiments.executors import create_executor
    from ..experiments.spec import ExperimentSpec

    if (spec_file is None) == (preset is None):
        raise ConfigError("give a spec file or --preset NAME (one of them)")
    overrides = {"data_root": data_root} if data_root is not None else {}
    spec = (ExperimentSpec.preset(preset, **overrides) if preset
            else ExperimentSpec.load(spec_file, **overrides))
    with create_executor(executor, workers=workers, threads=threads, address=address) as ex:
        from ..experiments.runner import run

        summary = run(spec, out, executor=ex, update=update, report=report)
    _finish(summary)


@app.command("demo")
def demo_command(
    out: Path = typer.Option(Path("runs/demo"), "--out", "-o", help="Run directory."),
    workers: int = typer.Option(None, "--workers", "-w", help="Worker processes. Default: 0, every "
                             "job in this process with every core (the demo trains one model)."),
) -> None:
    """The whole flow on the embedded SYNTHETIC sample database; prints the report's index.html."""
    from ..experiments.demo import run_demo
    from ..experiments.executors import create_executor

    executor = None if workers is None else create_executor(workers=workers)
    try:
        summary = run_demo(out, executor=executor)
    finally:
        if executor is not None:
            executor.close()
    _finish(summary)


def _finish(summary) -> None:
    """Say what was done; end with the report's path on stdout (the one line a script wants)."""
    console.print(f"{summary.committed} jobs done, {summary.skipped} already done, "
                  f"{len(summary.failed)} failed, {len(summary.blocked)} waiting on failed ones "
                  f"({summary.wall_s:.0f} s); results in {summary.run_dir / 'results.sqlite'}")
    for message in summary.failed.values():
        console.print(f"[red]failed:[/] {message.strip().splitlines()[-1]}")
    if summary.report is not None:
        _print_findings(Path(summary.report).parent / "report.json")
        typer.echo(str(summary.report))
    if summary.bugs:
        print(next(iter(summary.bugs.values())), file=sys.stderr)  # the first bug's traceback
        raise typer.Exit(1)
    if summary.failed:
        console.print("fix the inputs named above and run the same command again: finished jobs are kept")
        raise typer.Exit(2)


def _print_findings(report_json: Path) -> None:
    """The paper's findings as the report judged them, one line each (the details are in the report)."""
    import json

    try:
        findings = json.loads(report_json.read_text()).get("findings") or []
    except (OSError, ValueError):
        return
    for number, finding in enumerate(findings, 1):
        interval = finding.get("interval")
        value = "" if finding.get("estimate") is None else f": {finding['estimate']:.2f}"
        value += f" [{interval[0]:.2f}, {interval[1]:.2f}] {finding.get('unit', '')}" if interval else ""
        why = f" ({finding['reason']})" if finding.get("reason") else ""
        console.print(f"finding {number} ({finding['key']}): {finding['verdict']}{value}{why}", highlight=False)
