"""The results store: one SQLite file per run directory (`results.sqlite`).

A job (a training run, an evaluation, an attack shard) is finished when its row and all of its
attack rows are committed in one transaction; a re-run skips finished jobs. Killing the process at
any moment loses at most the jobs in flight and never leaves half a job behind. Only one process
writes (the driver); workers hand results back to it.

Why stdlib sqlite3 and not an ORM: the schema is three tables, and a plain file that any SQLite
tool can open is what a user wants to keep next to their results."""

from __future__ import annotations

import hashlib
import json
import socket
import sqlite3
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ..attacks.result import AttackResult
from ..errors import DataError

SCHEMA_VERSION = 1

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS jobs (
    job_id TEXT PRIMARY KEY,
    kind TEXT NOT NULL,              -- 'train' | 'evaluate' | 'attack' | ...
    settings TEXT NOT NULL,          -- JSON: everything that defines the job
    result TEXT NOT NULL,            -- JSON: what it produced (metrics, paths, counts)
    wall_s REAL NOT NULL,
    host TEXT NOT NULL,
    finished_utc TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS attacks (
    job_id TEXT NOT NULL REFERENCES jobs(job_id),
    image_id INTEGER NOT NULL,       -- FaceSet id of the attacked image
    source TEXT NOT NULL,            -- recording it came from (video-level aggregation)
    split TEXT NOT NULL,
    attack_type TEXT NOT NULL,       -- presentation attack type of the image
    pixels INTEGER NOT NULL,
    iterations INTEGER NOT NULL,
    population INTEGER NOT NULL,
    seed INTEGER NOT NULL,
    success INTEGER NOT NULL,        -- 1 when called live after the attack (verified where checked)
    already_live INTEGER NOT NULL,   -- called live before any change (success with 0 queries)
    verified INTEGER,                -- PNG round trip result, NULL when not checked
    queries INTEGER NOT NULL,
    generations INTEGER NOT NULL,
    p_live_before REAL NOT NULL,
    p_live_after REAL NOT NULL,
    perturbation TEXT NOT NULL,      -- JSON [[x, y, r, g, b], ...]
    fitness_history TEXT NOT NULL,   -- JSON best spoof confidence per generation
    wall_s REAL NOT NULL,
    png TEXT,                        -- adversarial PNG, relative to the run directory
    note TEXT NOT NULL DEFAULT '',
    PRIMARY KEY (job_id, image_id)
);
CREATE TABLE IF NOT EXISTS failures (
    job_id TEXT NOT NULL,
    time_utc TEXT NOT NULL,
    message TEXT NOT NULL
);
"""


def job_id(kind: str, settings: Mapping[str, Any]) -> str:
    """A deterministic id: the same settings always name the same job, so re-runs find it."""
    canonical = json.dumps(settings, sort_keys=True, default=str, separators=(",", ":"))
    return f"{kind}-{hashlib.sha256(canonical.encode()).hexdigest()[:16]}"


@dataclass(frozen=True)
class AttackRow:
    """One attacked image as stored; built from an AttackResult plus where the image came from."""

    image_id: int
    source: str
    split: str
    attack_type: str
    iterations: int
    population: int
    result: AttackResult
    png: str | None = None

    def values(self, job: str) -> tuple:
        r = self.result
        verified = None if r.verified is None else int(r.verified)
        return (job, int(self.image_id), self.source, self.split, self.attack_type, int(r.pixels),
                int(self.iterations), int(self.population), int(r.seed), int(r.success),
                int(r.already_live), verified, int(r.queries), int(r.generations),
                float(r.p_live_before), float(r.p_live_after),
                json.dumps(np.asarray(r.perturbation, dtype=int).tolist()),
                json.dumps([round(float(v), 6) for v in np.asarray(r.fitness_history).ravel()]),
                float(r.wall_time_s), self.png, r.note)


class ResultsStore:
    """The run directory's SQLite file. Open one per process; only the driver writes."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        try:
            self._db = sqlite3.connect(self.path, timeout=60, isolation_level=None)
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=NORMAL")
            self._db.executescript(_SCHEMA)
            self._check_version()
        except sqlite3.DatabaseError as exc:
            raise DataError(f"not a fasrobust results store ({exc})", self.path) from None

    def _check_version(self) -> None:
        row = self._db.execute("SELECT value FROM meta WHERE key='schema_version'").fetchone()
        if row is None:
            self._db.execute("INSERT INTO meta VALUES ('schema_version', ?)", (str(SCHEMA_VERSION),))
        elif int(row[0]) != SCHEMA_VERSION:
            raise DataError(f"results store has schema {row[0]}, this fasrobust reads {SCHEMA_VERSION}", self.path)

    def close(self) -> None:
        self._db.close()

    def __enter__(self) -> ResultsStore:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # ----- writing ---------------------------------------------------------------------------
    def commit_job(self, job: str, kind: str, settings: Mapping[str, Any], result: Mapping[str, Any],
                   *, wall_s: float = 0.0, attack_rows: Iterable[AttackRow] = ()) -> bool:
        """Store a finished job and its attack rows in one transaction. Returns False (and writes
        nothing) when the job was already finished, so a resumed run never duplicates rows."""
        rows = [row.values(job) for row in attack_rows]
        now = datetime.now(UTC).isoformat(timespec="seconds")
        with self._transaction():
            if self._db.execute("SELECT 1 FROM jobs WHERE job_id=?", (job,)).fetchone():
                return False
            self._db.execute(
                "INSERT INTO jobs VALUES (?, ?, ?, ?, ?, ?, ?)",
                (job, kind, json.dumps(settings, sort_keys=True, default=str),
                 json.dumps(result, default=str), float(wall_s), socket.gethostname(), now))
            self._db.executemany(f"INSERT INTO attacks VALUES ({', '.join('?' * 21)})", rows)
        return True

    def record_failure(self, job: str, message: str) -> None:
        """Keep a failed attempt's reason (a flaky endpoint, a worker that died) for the report."""
        with self._transaction():
            self._db.execute("INSERT INTO failures VALUES (?, ?, ?)",
                             (job, datetime.now(UTC).isoformat(timespec="seconds"), message))

    def _transaction(self):
        return _Transaction(self._db)

    # ----- reading ---------------------------------------------------------------------------
    def is_done(self, job: str) -> bool:
        return self._db.execute("SELECT 1 FROM jobs WHERE job_id=?", (job,)).fetchone() is not None

    def done_jobs(self, kind: str | None = None) -> set[str]:
        query, args = "SELECT job_id FROM jobs", ()
        if kind is not None:
            query, args = query + " WHERE kind=?", (kind,)
        return {r[0] for r in self._db.execute(query, args)}

    def jobs(self, kind: str | None = None) -> pd.DataFrame:
        """One row per finished job; `settings` and `result` decoded to dicts."""
        query, args = "SELECT * FROM jobs", ()
        if kind is not None:
            query, args = query + " WHERE kind=?", (kind,)
        frame = pd.read_sql_query(query + " ORDER BY finished_utc, job_id", self._db, params=args)
        for column in ("settings", "result"):
            frame[column] = frame[column].map(json.loads)
        return frame

    def attacks(self, job: str | None = None) -> pd.DataFrame:
        """One row per attacked image; `perturbation` and `fitness_history` decoded to lists."""
        query, args = "SELECT * FROM attacks", ()
        if job is not None:
            query, args = query + " WHERE job_id=?", (job,)
        frame = pd.read_sql_query(query + " ORDER BY job_id, image_id", self._db, params=args)
        for column in ("perturbation", "fitness_history"):
            frame[column] = frame[column].map(json.loads)
        for column in ("success", "already_live"):
            frame[column] = frame[column].astype(bool)
        return frame

    def failures(self) -> pd.DataFrame:
        return pd.read_sql_query("SELECT * FROM failures ORDER BY time_utc", self._db)

    def export(self, directory: str | Path, fmt: str = "csv") -> list[Path]:
        """Write jobs, attacks and failures as CSV or Parquet files; returns their paths."""
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        written = []
        for name, frame in (("jobs", self.jobs()), ("attacks", self.attacks()), ("failures", self.failures())):
            frame = frame.copy()
            for column in frame.columns:
                if frame[column].map(lambda v: isinstance(v, dict | list)).any():
                    frame[column] = frame[column].map(json.dumps)
            path = directory / f"{name}.{fmt}"
            if fmt == "csv":
                frame.to_csv(path, index=False)
            elif fmt == "parquet":
                frame.to_parquet(path, index=False)
            else:
                raise DataError(f"unknown export format {fmt!r} (csv or parquet)")
            written.append(path)
        return written


class _Transaction:
    """BEGIN IMMEDIATE ... COMMIT, rolled back on any exception (KeyboardInterrupt included)."""

    def __init__(self, db: sqlite3.Connection):
        self._db = db

    def __enter__(self) -> None:
        self._db.execute("BEGIN IMMEDIATE")

    def __exit__(self, exc_type, exc, tb) -> None:
        self._db.execute("ROLLBACK" if exc_type else "COMMIT")
