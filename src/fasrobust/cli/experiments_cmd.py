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

        summary = run(spec, out, executor=ex, update=update)
    _finish(summary, report=report)


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


def _finish(summary, *, report: bool = True) -> None:
    """Say what was done, build the report from what is stored (also after failures: it lists what is
    missing), and end with its path on stdout (the one line a script wants)."""
    from ..experiments.run_dir import RunDir

    console.print(f"{summary.committed} jobs done, {summary.skipped} already done, "
                  f"{len(summary.failed)} failed, {len(summary.blocked)} waiting on failed ones "
                  f"({summary.wall_s:.0f} s); results in {RunDir(summary.run_dir).store_file}")
    for message in summary.failed.values():
        console.print(f"[red]failed:[/] {message.strip().splitlines()[-1]}")
    if report:
        from ..report import build_report

        index = build_report(summary.run_dir)
        _print_headline(index.parent / "report.json")
        _print_findings(index.parent / "report.json")
        typer.echo(str(index))
    if summary.bugs:
        print(next(iter(summary.bugs.values())), file=sys.stderr)  # the first bug's traceback
        raise typer.Exit(1)
    if summary.failed:
        console.print("fix the inputs named above and run the same command again: finished jobs are kept")
        raise typer.Exit(2)


def _print_headline(report_json: Path) -> None:
    """The answer, one line per model and attack, as the report's headline says it."""
    import json

    try:
        rows = json.loads(report_json.read_text()).get("headline") or []
    except (OSError, ValueError):
        return
    for row in rows:
        if not row.get("attacked"):
            continue
        lo, hi = row["share_ci"]
        queries = "" if row.get("median_queries") is None else f", median {row['median_queries']:,.0f} queries"
        behind = "" if row["defence"] == "none" else f" behind {row['defence']}"
        console.print(f"{row['database']} {row['model']}{behind}, {row['setting']}, {row['pixels']} px: {row['fooled']} of "
                      f"{row['attacked']} caught spoofs called live ({row['share']:.1f} %, 95 % CI {lo:.1f}-"
                      f"{hi:.1f}){queries}", highlight=False)


def _print_findings(report_json: Path) -> None:
    """The paper's findings as the report judged them, one line each (the details are in the report)."""
    import json

    try:
        findings = json.loads(report_json.read_text()).get("findings") or []
    except (OSError, ValueError):
        return
    for number, finding in enumerate(findings, 1):
        if finding.get("designed") is False:  # the run never varied its axis: say so, and what would
            console.print(f"finding {number} ({finding['key']}): not tested by this run: {finding['reason']}",
                          highlight=False)
            continue
        interval = finding.get("interval")
        value = "" if finding.get("estimate") is None else f": {finding['estimate']:.2f}"
        value += f" [{interval[0]:.2f}, {interval[1]:.2f}] {finding.get('unit', '')}" if interval else ""
        why = f" ({finding['reason']})" if finding.get("reason") else ""
        console.print(f"finding {number} ({finding['key']}): {finding['verdict']}{value}{why}", highlight=False)
