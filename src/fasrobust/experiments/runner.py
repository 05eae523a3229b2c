"""`run(spec, run_dir)`: the experiments stage's entry point.

Plan the spec, skip every job the results store already holds, run the rest in dependency order on
an executor, and commit each finished job (with its attack rows) in one transaction, here in the
driver, the store's only writer. Killing the driver at any moment loses at most the jobs in flight;
running the same command again resumes. Ctrl-C (or SIGTERM) stops the workers and keeps what was
committed. A job that fails with a user error is recorded in the store and the run goes on without
the jobs that need it; a worker that dies under a job gets the job again, up to `max_attempts`.

When an attack group's FaceSet is ready, its image ids and shard jobs go into plan.json, so the report
tells what is missing by a set difference. The report is built by the command that ran the spec (the
CLI), not here: the report stage sits above this one."""

from __future__ import annotations

import signal
import time
from collections import Counter
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from ..data.faceset import FaceSet
from ..errors import ConfigError, FasrobustError
from ..progress import console, progress_bar
from ..provenance import environment, write_bytes_atomic, write_json_atomic
from .executors import Executor, create_executor
from .jobs import Outcome, Task
from .plan import AttackGroup, Job, JobKind, make_plan, select_images, shard_jobs
from .run_dir import RunDir
from .spec import ExperimentSpec, ImageSelection
from .store import ResultsStore

#: Ready jobs start in this order: finish what a trained model enables before training the next one,
#: so a run stopped halfway has complete table rows rather than many models and no attacks.
_PRIORITY = {JobKind.PREPARE: 0, JobKind.EVALUATE: 1, JobKind.ATTACK: 2, JobKind.TRAIN: 3}


@dataclass
class RunSummary:
    run_dir: Path
    total: int = 0  # jobs known at the end (attack shards are known once their FaceSet exists)
    skipped: int = 0  # already committed before this run
    committed: int = 0
    failed: dict[str, str] = field(default_factory=dict)  # job id -> last error
    bugs: dict[str, str] = field(default_factory=dict)  # the failures that are not user errors
    blocked: dict[str, str] = field(default_factory=dict)  # job id -> the failed job it needed
    #: target id -> (the first failure's one line, "contract" or "transient"): a target that failed
    #: gets no further jobs in this run
    target_failures: dict[str, tuple[str, str]] = field(default_factory=dict)
    wall_s: float = 0.0


def run(spec: ExperimentSpec, run_dir: str | Path, *, executor: Executor | None = None,
        update: bool = False, max_attempts: int = 3) -> RunSummary:
    """Run (or resume) `spec` in `run_dir`. `update=True` lets a changed spec add its new jobs to a
    run directory made with another version of it (the committed jobs stay and are reused)."""
    layout = RunDir(run_dir)
    plan = make_plan(spec)  # first: a spec that cannot be planned leaves the run directory alone
    layout.root.mkdir(parents=True, exist_ok=True)
    _save_spec(spec, layout, update=update)
    layout.replace_plan(plan.describe())
    owned = executor is None
    executor = executor or create_executor()
    summary = RunSummary(layout.root)
    start = time.perf_counter()
    try:
        with ResultsStore(layout.store_file) as store, _sigterm_as_interrupt():
            write_json_atomic(layout.run_file, {"spec": spec.name, "executor": executor.describe(),
                                                "environment": environment()})
            _Scheduler(plan.jobs, plan.groups, spec.images, spec.name, store, executor, layout, summary,
                       max_attempts).run()
    except BaseException:
        executor.close(cancel=True)
        raise
    if owned:
        executor.close()
    summary.wall_s = time.perf_counter() - start
    return summary


def run_jobs(jobs: list[Job], run_dir: str | Path, *, store: ResultsStore, executor: Executor, name: str,
             max_attempts: int = 3) -> RunSummary:
    """Run (or resume) a list of planned jobs into an open store: what `run` does for a spec, for jobs
    planned elsewhere (`fasrobust attack`'s shards, through `evaluation.evaluate_attack`)."""
    summary = RunSummary(Path(run_dir))
    start = time.perf_counter()
    with _sigterm_as_interrupt():
        _Scheduler({j.id: j for j in jobs}, [], None, name, store, executor, RunDir(run_dir), summary,
                   max_attempts).run()
    summary.wall_s = time.perf_counter() - start
    return summary


class _Scheduler:
    def __init__(self, jobs: dict[str, Job], groups: list[AttackGroup], selection: ImageSelection | None,
                 name: str, store: ResultsStore, executor: Executor, layout: RunDir, summary: RunSummary,
                 max_attempts: int):
        self.name, self.selection = name, selection
        self.store, self.executor, self.layout = store, executor, layout
        self.summary, self.max_attempts = summary, max_attempts
        self.jobs: dict[str, Job] = dict(jobs)
        self.waiting: list[AttackGroup] = list(groups)  # not sharded yet
        self.done = store.done_jobs() & set(self.jobs)
        self.running: set[str] = set()
        self.attempts: Counter[str] = Counter()
        self.counts: Counter[str] = Counter()

    def run(self) -> None:
        self._expand()
        self.summary.skipped = len(self.done & set(self.jobs))
        with progress_bar() as bar:
            task = bar.add_task(f"run {self.name}", total=len(self.jobs),
                                completed=len(self.done), info="")
            while True:
                self._submit_ready()
                if not self.running:
                    break
                for outcome in self.executor.wait():
                    self._finish(outcome)
                    self._expand()
                    bar.update(task, total=len(self.jobs), completed=len(self.done) + len(self.summary.failed),
                               info=self._info())
        self.summary.total = len(self.jobs)
        self._mark_blocked()

    def _ready(self) -> list[Job]:
        free = [j for j in self.jobs.values() if j.id not in self.done and j.id not in self.running
                and j.id not in self.summary.failed and all(n in self.done for n in j.needs)
                and _target_of(j) not in self.summary.target_failures]
        return sorted(free, key=lambda j: _PRIORITY[j.kind])

    def _submit_ready(self) -> None:
        for job in self._ready()[: max(0, self.executor.slots - len(self.running))]:
            self.executor.submit(Task.of(job, self.layout.root, threads=self.executor.threads))
            self.running.add(job.id)
            self.attempts[job.id] += 1

    def _finish(self, outcome: Outcome) -> None:
        job = self.jobs[outcome.job_id]
        self.running.discard(job.id)
        if outcome.ok:
            self.store.commit_job(job.id, job.kind.value, job.settings, outcome.result,
                                  wall_s=outcome.wall_s, attack_rows=outcome.rows)
            self.done.add(job.id)
            self.summary.committed += 1
            self.counts[job.kind.value] += 1
            return
        self.store.record_failure(job.id, f"{job.label}: {outcome.error}")
        if outcome.target_failure and _target_of(job):
            # No other job on this target is sent: a contract error would repeat, a spent budget or a
            # service that is down would only fail again in this run.
            self.summary.target_failures.setdefault(_target_of(job), (outcome.error or "", outcome.target_failure))
        if outcome.retryable and self.attempts[job.id] < self.max_attempts:
            console.print(f"[yellow]retrying[/] {job.label}: {outcome.error}")
            return  # not done, not failed: submitted again by the next round
        self.summary.failed[job.id] = f"{job.label}: {outcome.error}"
        if not outcome.user_error and not outcome.retryable:
            self.summary.bugs[job.id] = outcome.error or ""
        console.print(f"[red]failed[/] {job.label}: {outcome.error.strip().splitlines()[-1]}")

    def _expand(self) -> None:
        """Shard the attack groups whose FaceSet is ready (its prepare job is committed), and record each
        one's image ids and shard jobs in plan.json."""
        still, sharded = [], []
        for group in self.waiting:
            if group.prepare_job not in self.done:
                still.append(group)
                continue
            try:
                faceset = FaceSet.load(self.layout.path(group.inputs["faceset"]))
                selection = group.selection or self.selection
                ids = select_images(faceset, selection)
            except FasrobustError as exc:  # e.g. no spoof images in the split: these attacks cannot run
                message = f"attacks on {group.database}: {exc}"
                self.store.record_failure(group.key, message)
                self.summary.failed[group.key] = message
                continue
            shards = shard_jobs(group, ids, selection)
            for job in shards:
                self.jobs.setdefault(job.id, job)
                if self.store.is_done(job.id):
                    self.done.add(job.id)
            sharded.append({"key": group.key, "image_ids": ids, "shards": [j.id for j in shards]})
        if sharded:
            self.layout.record_groups(sharded)
        self.waiting = still

    def _mark_blocked(self) -> None:
        for job in self.jobs.values():
            if job.id in self.done or job.id in self.summary.failed:
                continue
            missing = [n for n in job.needs if n not in self.done]
            dead = self.summary.target_failures.get(_target_of(job))
            why = f"its target failed ({dead[0]})" if dead else f"needs {', '.join(missing) or 'nothing'}"
            self.summary.blocked[job.id] = f"{job.label}: {why}"
        for group in self.waiting:  # never sharded: its database failed to prepare
            self.summary.blocked[group.key] = f"attacks on {group.database}: needs {group.prepare_job}"

    def _info(self) -> str:
        parts = [f"{kind} {n}" for kind, n in sorted(self.counts.items())]
        if self.summary.failed:
            parts.append(f"failed {len(self.summary.failed)}")
        return " | ".join(parts)


def _target_of(job: Job) -> str:
    return str((job.inputs.get("target") or {}).get("id") or "")


def _save_spec(spec: ExperimentSpec, layout: RunDir, *, update: bool) -> None:
    """Keep the resolved spec next to the results; refuse to mix two different specs silently."""
    path = layout.spec_file
    new = spec.model_dump(mode="json")
    if path.exists() and not update:
        old = yaml.safe_load(path.read_text()) or {}
        difference = _first_difference(old, new)
        if difference:
            raise ConfigError(f"this run directory holds another spec (first difference: {difference}); "
                              "use a new --out, or --update to add the new jobs to it", path)
    write_bytes_atomic(path, yaml.safe_dump(new, sort_keys=False).encode())


def _first_difference(old, new, key: str = "") -> str | None:
    if isinstance(old, dict) and isinstance(new, dict):
        for k in list(new) + [k for k in old if k not in new]:
            found = _first_difference(old.get(k), new.get(k), f"{key}.{k}" if key else str(k))
            if found:
                return found
        return None
    return None if old == new else (key or "(top level)")


@contextmanager
def _sigterm_as_interrupt():
    """SIGTERM (a scheduler's stop, `kill`) ends the run like Ctrl-C: workers stop, commits stay."""
    def interrupt(signum, frame):
        raise KeyboardInterrupt

    try:
        previous = signal.signal(signal.SIGTERM, interrupt)
    except ValueError:  # not the main thread: leave signals alone
        yield
        return
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)
