"""Migrations of the results store (experiments stage), run by `ResultsStore` on first open, each in one
transaction after a backup copy of the file: every row is kept, and a re-run of the same spec finds its
finished jobs under the ids the migrated settings give them.

- Schema 1 -> 2: schema 1 held the DE's own columns (pixels, iterations, population, generations, the
  fitness per generation); every row becomes a 'pixel' attack row with its settings as JSON and a
  trajectory indexed by queries.
- Schema 2 -> 3: an attack job's settings nest the attack as `{name, settings}` and the attacked model's
  identity under "system" (schema 2 flattened both beside each other); an `eot:K` layer that ended a
  defence stack becomes the attack's `eot` setting (a stack is only what is deployed); attack rows gain
  the answer kind ('score'), the pixels changed, an empty L0 trajectory and no start image. Attack job ids
  are derived again from the migrated settings, in the jobs, attacks and failures tables alike.
"""

from __future__ import annotations

import json
import sqlite3
from typing import Any

import pandas as pd

from ..errors import AttackError
from .store import job_id, settings_digest

#: Schema 2's attack columns, in order.
COLUMNS_2 = ("job_id", "image_id", "source", "split", "attack_type", "attack", "settings", "settings_hash", "seed",
             "threshold", "query_budget", "queries", "success", "already_live", "verified", "p_live_before",
             "p_live_after", "perturbation", "trajectory", "wall_s", "png", "note", "extra")
#: Keys of a schema-2 attack job's settings that were the attacked model's identity.
SYSTEM_KEYS = ("database", "augment", "steps", "train_seed", "model", "train_job", "variant", "train_database",
               "target_name")
#: Keys of a schema-2 attack job's settings that said which images and shard.
_SHARD_KEYS = ("target", "faceset", "split", "attack", "seed", "shard", "image_ids", "labels", "defences")
_EOT = "eot"


def migrate_1_to_2(db: sqlite3.Connection, create_attacks: str) -> int:
    """Schema 1's DE rows as schema-2 rows; returns how many."""
    old = pd.read_sql_query("SELECT * FROM attacks", db)
    job_settings = {j: json.loads(s) for j, s in db.execute("SELECT job_id, settings FROM jobs")}
    rows = [_row_from_schema1(r, job_settings.get(r["job_id"], {})) for r in old.to_dict("records")]
    db.execute("ALTER TABLE attacks RENAME TO attacks_schema1")
    db.execute(create_attacks)
    db.executemany(f"INSERT INTO attacks VALUES ({', '.join('?' * len(COLUMNS_2))})", rows)
    db.execute("DROP TABLE attacks_schema1")
    return len(rows)


def schema2_table(create_schema3: str) -> str:
    """Schema 2's CREATE TABLE, for the step from schema 1 (schema 3's without the columns it added)."""
    added = ("answer", "pixels_changed", "l0_trajectory", "start_image_id")
    lines = [line for line in create_schema3.splitlines() if line.strip().split(" ")[0] not in added]
    return "\n".join(lines).replace("threshold REAL,", "threshold REAL NOT NULL,")


def migrate_2_to_3(db: sqlite3.Connection, create_attacks: str, columns: tuple[str, ...]) -> int:
    """Schema 2's jobs and rows in schema 3's form (see the module doc); returns the attack rows kept."""
    jobs = db.execute("SELECT job_id, kind, settings FROM jobs").fetchall()
    old_rows = pd.read_sql_query("SELECT * FROM attacks", db)
    live_jobs = set(old_rows.loc[old_rows["attack_type"] == "bona_fide", "job_id"])
    renamed: dict[str, str] = {}
    draws: dict[str, int] = {}
    for old_id, kind, text in jobs:
        if kind != "attack":
            continue
        settings = json.loads(text)
        new, eot = nested_attack_settings(settings, labels="all" if old_id in live_jobs else "spoof")
        new_id = job_id("attack", new)
        renamed[old_id], draws[old_id] = new_id, eot
        db.execute("UPDATE jobs SET job_id=?, settings=? WHERE job_id=?",
                   (new_id, json.dumps(new, sort_keys=True, default=str), old_id))
    for old_id, new_id in renamed.items():
        db.execute("UPDATE failures SET job_id=? WHERE job_id=?", (new_id, old_id))
    rows = [_row_from_schema2(r, renamed, draws) for r in old_rows.to_dict("records")]
    db.execute("ALTER TABLE attacks RENAME TO attacks_schema2")
    db.execute(create_attacks)
    db.executemany(f"INSERT INTO attacks VALUES ({', '.join('?' * len(columns))})", rows)
    db.execute("DROP TABLE attacks_schema2")
    return len(rows)


def nested_attack_settings(old: dict[str, Any], *, labels: str = "spoof") -> tuple[dict[str, Any], int]:
    """A schema-2 attack job's flat settings in schema 3's form, and the eot draws its stack asked for."""
    stack = [dict(d) for d in old.get("defences") or [] if isinstance(d, dict)]
    eot = max((int(d.get("draws") or 1) for d in stack if d.get("name") == _EOT), default=1)
    deployed = [d for d in stack if d.get("name") != _EOT]
    name = str(old.get("attack") or "pixel")
    own = {k: v for k, v in old.items() if k not in (*_SHARD_KEYS, *SYSTEM_KEYS)}
    new = {"target": old.get("target"), "faceset": old.get("faceset"), "split": old.get("split"),
           "labels": old.get("labels") or labels, "attack": complete_attack(name, {**own, "eot": eot}),
           "seed": int(old.get("seed", 0)), "shard": int(old.get("shard", 0)),
           "image_ids": list(old.get("image_ids") or [])}
    system = {k: old[k] for k in SYSTEM_KEYS if old.get(k) is not None}
    if system:
        new["system"] = system
    if deployed:
        new["defences"] = deployed
    return new, eot


def complete_attack(name: str, settings: dict[str, Any]) -> dict[str, Any]:
    """{name, settings} completed by the attack's settings model; as stored for an attack this fasrobust
    does not have (its rows still read, by name)."""
    from ..attacks.spec import AttackSpec

    try:
        return AttackSpec(name=name, settings=settings).as_json()
    except AttackError:
        return {"name": name, "settings": settings}


def _row_from_schema2(row: dict[str, Any], renamed: dict[str, str], draws: dict[str, int]) -> tuple:
    old_settings = json.loads(row["settings"])
    settings = complete_attack(row["attack"], {**old_settings, "eot": draws.get(row["job_id"], 1)})["settings"]
    perturbation = json.loads(row["perturbation"])
    changed = len({(int(p[0]), int(p[1])) for p in perturbation})
    return (renamed.get(row["job_id"], row["job_id"]), row["image_id"], row["source"], row["split"],
            row["attack_type"], row["attack"], json.dumps(settings, sort_keys=True), settings_digest(settings),
            row["seed"], "score", row["threshold"], row["query_budget"], row["queries"], row["success"],
            row["already_live"], row["verified"], row["p_live_before"], row["p_live_after"], changed,
            row["perturbation"], row["trajectory"], "[]", None, row["wall_s"], row["png"], row["note"], row["extra"])


def _row_from_schema1(row: dict[str, Any], job: dict[str, Any]) -> tuple:
    """A schema-1 row (the DE attack) in schema 2's columns; nothing of it is dropped. The DE's own
    settings model gives its query budget and the queries at which each generation's best was known."""
    from ..attacks import attack_settings

    settings = attack_settings("pixel", {"pixels": int(row["pixels"]), "population": int(row["population"]),
                                         "iterations": int(row["iterations"]), "f": job.get("f", 0.5),
                                         "cr": job.get("cr", 1.0), "strategy": job.get("strategy", "rand1")})
    history = json.loads(row["fitness_history"])
    if row["already_live"]:
        trajectory = [[1, history[0] if history else round(1.0 - row["p_live_before"], 6)]]
    else:
        trajectory = [[1, round(1.0 - row["p_live_before"], 6)]]
        trajectory += [[settings.queries_at(g), h] for g, h in enumerate(history)]
    extra = {"generations": int(row["generations"]), "migrated_from_schema": 1}
    stored = {k: v for k, v in settings.as_json().items() if k != "eot"}
    return (row["job_id"], row["image_id"], row["source"], row["split"], row["attack_type"],
            job.get("attack", "pixel"), json.dumps(stored, sort_keys=True), settings_digest(stored),
            row["seed"], 0.5, settings.query_budget(), row["queries"], row["success"], row["already_live"],
            row["verified"], row["p_live_before"], row["p_live_after"], row["perturbation"],
            json.dumps(trajectory), row["wall_s"], row["png"], row["note"], json.dumps(extra))
