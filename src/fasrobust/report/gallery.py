"""The adversarial gallery's pictures and facts, one card per attacked image shown.

Report stage: attack rows (the results reader) -> cards for html.py. A success already has a side-by-side PNG
(original | adversarial | changed pixels ringed) written by the attack under run_dir/adversarial/; for
the others (failures, already-live faces, rows from a store whose PNGs are gone) the same picture is
drawn here from the FaceSet and the stored perturbation, enlarged with nearest-neighbour scaling so a
32x32 face and its single changed pixels are visible. Cards per setting are capped so a full paper
run (~29,000 attacked images) still gives a page a browser opens quickly.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ..attacks.result import apply_perturbation
from ..attacks.verify import encode_png
from ..attacks.visual import side_by_side
from ..data.faceset import FaceSet
from ..errors import FasrobustError
from .columns import augment_rank
from .results import Results

GALLERY_DIR = "gallery"
PER_GROUP = 12  # cards per (database, augmentation, steps, defence stack, attack configuration, pixels, budget)
NO_DEFENCE = "none"
LIMIT = 400  # cards in all


class Outcome:
    SUCCESS = "success"
    FAILED = "failed"
    ALREADY_LIVE = "already live"


@dataclass(frozen=True)
class Card:
    image: str | None  # path relative to index.html; None when no picture can be made
    facts: dict[str, Any]  # database, augment, steps, attack, pixels, budget, outcome, p_live_before/after, ...


def gallery_cards(data: Results, out: Path, *, per_group: int = PER_GROUP, limit: int = LIMIT) -> list[Card]:
    rows = _chosen(data.attacks, per_group, limit)
    facesets: dict[str, FaceSet | None] = {}
    cards = []
    for row in rows.itertuples(index=False):
        image = _picture(data, row, out, facesets)
        cards.append(Card(image, _facts(row)))
    return cards


def outcome(row: Any) -> str:
    if row.already_live:
        return Outcome.ALREADY_LIVE
    return Outcome.SUCCESS if row.success else Outcome.FAILED


def _chosen(rows: pd.DataFrame, per_group: int, limit: int) -> pd.DataFrame:
    """Per setting, `per_group` cards taken in turn from each outcome (successes with the fewest queries,
    failures closest to success, already-live faces), so every outcome is seen; `limit` in all."""
    if rows.empty:
        return rows
    order = [0 if s and not a else 2 if a else 1 for s, a in zip(rows["success"], rows["already_live"], strict=True)]
    rows = rows.assign(_order=order, _rank=rows["augment"].map(augment_rank))
    keys = ["database", "_rank", "augment", "steps", *(["defence"] if "defence" in rows.columns else []), "attack",
            "setting", "pixels", "budget"]
    rows = rows.sort_values(["_order", "queries", "p_live_after"], ascending=[True, True, False], kind="stable")
    rows = rows.assign(_turn=rows.groupby([*keys, "_order"], dropna=False).cumcount())
    rows = rows.sort_values([*keys, "_turn", "_order"], kind="stable", na_position="first")
    picked = rows.groupby(keys, dropna=False, sort=False).head(per_group)
    picked = picked.sort_values([*keys, "_order", "queries"], kind="stable", na_position="first")
    return picked.head(limit).drop(columns=["_order", "_rank", "_turn"])


def _picture(data: Results, row: Any, out: Path, facesets: dict[str, FaceSet | None]) -> str | None:
    png = row.png if isinstance(row.png, str) and row.png else None  # SQLite NULL may read back as NaN
    if png:
        side = data.png(png.replace(".png", "_side.png"))
        if side.is_file():
            return _relative(side, out)
    faceset = _faceset(data, row.database, facesets)
    drawn = _draw(faceset, row, out) if faceset is not None else None
    if drawn is not None:
        return _relative(drawn, out)
    if png and data.png(png).is_file():  # the bare adversarial PNG, enlarged by CSS
        return _relative(data.png(png), out)
    return None


def _draw(faceset: FaceSet, row: Any, out: Path) -> Path | None:
    ids = faceset.meta["id"].to_numpy()
    where = np.flatnonzero(ids == int(row.image_id))
    if where.size == 0:
        return None
    original = np.asarray(faceset.images[int(where[0])])
    perturbation = np.asarray(row.perturbation, dtype=np.int64).reshape(-1, 5)
    h, w = original.shape[:2]
    if perturbation.size and ((perturbation[:, 0] >= w).any() or (perturbation[:, 1] >= h).any()):
        return None  # not this FaceSet's image (a store copied next to another FaceSet)
    adversarial = apply_perturbation(original, perturbation)
    path = out / GALLERY_DIR / f"{_safe(row.job_id)[-16:]}-{int(row.image_id)}.png"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(encode_png(side_by_side(original, adversarial, perturbation)))  # regenerable: no fsync
    return path


def _faceset(data: Results, database: str, cache: dict[str, FaceSet | None]) -> FaceSet | None:
    if database not in cache:
        info = data.databases.get(database)
        cache[database] = None
        if info is not None and info.faceset is not None and info.faceset.is_dir():
            try:
                cache[database] = FaceSet.load(info.faceset)
            except (FasrobustError, OSError, ValueError):
                cache[database] = None
    return cache[database]


def _facts(row: Any) -> dict[str, Any]:
    return {"database": row.database, "augment": row.augment,
            "steps": None if pd.isna(row.steps) else int(row.steps), "pixels": int(row.pixels),
            "attack": row.attack, "budget": f"{int(row.budget)} {row.budget_field}", "outcome": outcome(row),
            "p_live_before": float(row.p_live_before), "p_live_after": float(row.p_live_after),
            "queries": int(row.queries), "query_budget": int(row.query_budget), "attack_type": row.attack_type,
            "source": row.source, "image_id": int(row.image_id),
            "verified": None if pd.isna(row.verified) else bool(row.verified),
            "note": row.note if isinstance(row.note, str) else "",
            "defence": str(getattr(row, "defence", None) or NO_DEFENCE)
            + (f" (eot {int(row.eot_draws)})" if int(row.eot_draws) > 1 else ""),
            "pixels_changed": int(row.pixels_changed), "answer": str(row.answer),
            "threshold": None if pd.isna(row.threshold) else float(row.threshold)}


def _relative(path: Path, out: Path) -> str:
    return Path(os.path.relpath(path.resolve(), out.resolve())).as_posix()


def _safe(text: str) -> str:
    return "".join(c if c.isalnum() or c in "-_" else "-" for c in str(text))
