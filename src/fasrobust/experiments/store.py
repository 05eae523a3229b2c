"""The results store: one SQLite file per run directory (`results.sqlite`).

A job (a training run, an evaluation, an attack shard) is finished when its row and all of its
attack rows are committed in one transaction; a re-run skips finished jobs. Killing the process at
any moment loses at most the jobs in flight and never leaves half a job behind. Only one process
writes (the driver); workers hand results back to it.

Attack rows are the same for every attack: its name and its settings (the two parts of an `AttackSpec`;
JSON and a hash), the kind of answer the target gave (a score, or only a live/spoof decision) and the
criterion's threshold, the query budget and the queries used, success and verification, the perturbation
as (x, y, r, g, b) rows and the pixels it changes, the best-score trajectory indexed by queries spent (so
every attack's curve lies on one axis) and, for attacks that shrink the pixels changed, that curve too.
Older schemas are migrated in place on first open, after a backup copy (`store_migrations.py`); a file
that is not a fasrobust store is refused and left untouched.

Why stdlib sqlite3 and not an ORM: the schema is four tables, and a plain file that any SQLite
tool can open is what a user wants to keep next to their results."""

from __future__ import annotations

import hashlib
import json
import shutil
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
from ..attacks.spec import AttackSpec
from ..errors import DataError
from ..progress import console

SCHEMA_VERSION = 3

_TABLES = """
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
CREATE TABLE IF NOT EXISTS failures (
    job_id TEXT NOT NULL,
    time_utc TEXT NOT NULL,
    message TEXT NOT NULL
);
"""
_ATTACKS = """
CREATE TABLE IF NOT EXISTS attacks (
    job_id TEXT NOT NULL REFERENCES jobs(job_id),
    image_id INTEGER NOT NULL,       -- FaceSet id of the attacked image
    source TEXT NOT NULL,            -- recording it came from (video-level aggregation)
    split TEXT NOT NULL,
    attack_type TEXT NOT NULL,       -- presentation attack type of the image
    attack TEXT NOT NULL,            -- registered attack name ('pixel', 'sparse-rs', ...)
    settings TEXT NOT NULL,          -- JSON: the attack's settings (with `attack`, its AttackSpec)
    settings_hash TEXT NOT NULL,     -- AttackSettings.digest() of them
    seed INTEGER NOT NULL,
    answer TEXT NOT NULL,            -- what the target answers: 'score' (P(live)) or 'decision' (live or spoof)
    threshold REAL,                  -- the criterion on scores: called live iff P(live) >= threshold
    query_budget INTEGER NOT NULL,   -- queries per image at most, the clean query included
    queries INTEGER NOT NULL,        -- queries used on this image (verification not included)
    success INTEGER NOT NULL,        -- 1 when called live after the attack (verified where checked)
    already_live INTEGER NOT NULL,   -- called live before any change (success after the clean query)
    verified INTEGER,                -- PNG round trip result, NULL when not checked
    p_live_before REAL NOT NULL,     -- for a decision target: 1.0 when called live, else 0.0
    p_live_after REAL NOT NULL,
    pixels_changed INTEGER NOT NULL, -- L0: distinct pixels the perturbation changes
    perturbation TEXT NOT NULL,      -- JSON [[x, y, r, g, b], ...]
    trajectory TEXT NOT NULL,        -- JSON [[queries spent, best spoof confidence], ...] at its changes
    l0_trajectory TEXT NOT NULL,     -- JSON [[queries spent, pixels changed], ...] for attacks that shrink L0
    start_image_id INTEGER,          -- decision-based attacks: FaceSet id of the live image they started from
    wall_s REAL NOT NULL,
    png TEXT,                        -- adversarial PNG, relative to the run directory
    note TEXT NOT NULL DEFAULT '',
    extra TEXT NOT NULL DEFAULT '{}', -- JSON: attack-specific facts (DE generations), verification queries
    PRIMARY KEY (job_id, image_id)
);
"""
COLUMNS = ("job_id", "image_id", "source", "split", "attack_type", "attack", "settings", "settings_hash", "seed",
           "answer", "threshold", "query_budget", "queries", "success", "already_live", "verified",
           "p_live_before", "p_live_after", "pixels_changed", "perturbation", "trajectory", "l0_trajectory",
           "start_image_id", "wall_s", "png", "note", "extra")
#: The attack table's columns that hold JSON.
JSON_COLUMNS = ("settings", "perturbation", "trajectory", "l0_trajectory", "extra")


def job_id(kind: str, settings: Mapping[str, Any]) -> str:
    """A deterministic id: the same settings always name the same job, so re-runs find it."""
    canonical = json.dumps(settings, sort_keys=True, default=str, separators=(",", ":"))
    return f"{kind}-{hashlib.sha256(canonical.encode()).hexdigest()[:16]}"


def settings_digest(settings: Mapping[str, Any]) -> str:
    canonical = json.dumps(dict(settings), sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()[:16]


@dataclass(frozen=True)
class AttackRow:
    """One attacked image as stored: an AttackResult, the attack that produced it, and where the image came
    from (`start_image_id`: the live image a decision-based attack started from)."""

    image_id: int
    source: str
    split: str
    attack_type: str
    attack: AttackSpec
    result: AttackResult
    png: str | None = None
    start_image_id: int | None = None

    def values(self, job: str) -> tuple:
        r = self.result
        verified = None if r.verified is None else int(r.verified)
        settings = self.attack.settings
        return (job, int(self.image_id), self.source, self.split, self.attack_type, self.attack.name,
                json.dumps(settings, sort_keys=True), settings_digest(settings), int(r.seed), r.answer,
                None if r.threshold is None else float(r.threshold), int(r.query_budget), int(r.queries),
                int(r.success), int(r.already_live), verified, float(r.p_live_before), float(r.p_live_after),
                int(r.pixels_changed), json.dumps(np.asarray(r.perturbation, dtype=int).tolist()),
                json.dumps(_curve(r.trajectory, 6)), json.dumps(_curve(r.l0_trajectory, 0)),
                self.start_image_id, float(r.wall_time_s), self.png, r.note, json.dumps(r.extra, default=_plain))


def _curve(points: Any, digits: int) -> list[list[float]]:
    rows = np.asarray(points, dtype=np.float64).reshape(-1, 2)
    return [[int(q), round(float(v), digits) if digits else int(v)] for q, v in rows]


def _plain(value: Any) -> Any:
    return value.item() if isinstance(value, np.generic) else str(value)


class ResultsStore:
    """The run directory's SQLite file. Open one per process; only the driver writes."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise DataError(f"cannot create the results folder ({exc.strerror or exc})", self.path.parent) from None
        existed = self.path.is_file() and self.path.stat().st_size > 0
        try:
            self._db = sqlite3.connect(self.path, timeout=60, isolation_level=None)
            if existed:
                self._refuse_foreign()  # before anything writes: a foreign file is left exactly as it was
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=NORMAL")
            self._db.executescript(_TABLES)
            self._check_version()
            self._db.executescript(_ATTACKS)
        except sqlite3.OperationalError as exc:
            raise DataError(f"cannot open the results store ({exc})", self.path) from None
        except sqlite3.DatabaseError as exc:
            raise DataError(f"not a fasrobust results store ({exc})", self.path) from None

    def _tables(self) -> set[str]:
        return {r[0] for r in self._db.execute("SELECT name FROM sqlite_master WHERE type='table'")}

    def _refuse_foreign(self) -> None:
        tables = self._tables()
        if tables and "meta" not in tables:
            self._db.close()
            raise DataError(f"a SQLite file, but not a fasrobust results store (its tables: "
                            f"{', '.join(sorted(tables)[:6])}); it was left untouched: choose another output",
                            self.path)

    def _check_version(self) -> None:
        row = self._db.execute("SELECT value FROM meta WHERE key='schema_version'").fetchone()
        if row is None:
            if "attacks" in self._tables():
                raise DataError("results store without a schema version: not written by fasrobust", self.path)
            self._db.execute("INSERT INTO meta VALUES ('schema_version', ?)", (str(SCHEMA_VERSION),))
            return
        version = int(row[0])
        if version > SCHEMA_VERSION:
            raise DataError(f"results store has schema {version}, this fasrobust reads {SCHEMA_VERSION} "
                            "(newer fasrobust wrote it: upgrade fasrobust to read it)", self.path)
        if version < SCHEMA_VERSION:
            self._migrate(version)

    def _migrate(self, version: int) -> None:
        """Bring an older store to this schema in one transaction, after a copy of the file is kept beside
        it (`store_migrations.py` says what each step changes); every row is kept."""
        from .store_migrations import migrate_1_to_2, migrate_2_to_3, schema2_table

        backup = self.path.with_name(f"{self.path.stem}.schema{version}-backup{self.path.suffix}")
        if not backup.exists():
            self._db.execute("PRAGMA wal_checkpoint(FULL)")
            shutil.copy2(self.path, backup)
        kept = []
        with self._transaction():
            if version == 1:
                kept.append(f"{migrate_1_to_2(self._db, schema2_table(_ATTACKS))} rows from schema 1")
            kept.append(f"{migrate_2_to_3(self._db, _ATTACKS, COLUMNS)} attack rows")
            self._db.execute("UPDATE meta SET value=? WHERE key='schema_version'", (str(SCHEMA_VERSION),))
            self._db.execute("INSERT OR REPLACE INTO meta VALUES (?, ?)",
                             (f"migrated_from_schema_{version}", f"{kept[-1]}; backup {backup.name}"))
        console.print(f"[yellow]note:[/] {self.path}: results store migrated from schema {version} to "
                      f"{SCHEMA_VERSION} ({kept[-1]} kept; the old file is copied to {backup.name})")

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
            self._db.executemany(f"INSERT INTO attacks VALUES ({', '.join('?' * len(COLUMNS))})", rows)
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
        """One row per attacked image; the JSON columns decoded to lists and dicts."""
        query, args = "SELECT * FROM attacks", ()
        if job is not None:
            query, args = query + " WHERE job_id=?", (job,)
        frame = pd.read_sql_query(query + " ORDER BY job_id, image_id", self._db, params=args)
        for column in JSON_COLUMNS:
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
