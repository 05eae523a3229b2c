"""The paper's five findings, each tested on the run's own attack rows (report stage): data in, verdicts
out; nothing here draws or formats a page. One module per finding, each declaring its claim and its test;
`common.py` holds what they share (the rows, paired per-image changes, the verdict arithmetic).

Rows used: spoof images of undefended targets attacked on one answer per query, each model on its own
database. Every finding is judged per attack: the paper's DE speaks for it when its rows can judge it,
otherwise the first attack whose rows can (a study may vary pixels or models with Sparse-RS and keep the DE
for its own generations); the others are reported beside it."""

from __future__ import annotations

from collections.abc import Callable
from enum import StrEnum

import pandas as pd

from ...paper import PAPER_ATTACK
from ...stats.resample import DEFAULT_RESAMPLES
from ..results import Results
from . import augmentation, fitness, iterations, pixels, steps
from .common import MIN_IMAGES, Claim, Finding, Verdict, cannot, eligible_rows

Judge = Callable[[Results, pd.DataFrame, int, int], Finding]

#: The findings in the paper's order: (claim, judge).
FINDINGS: tuple[tuple[Claim, Judge], ...] = tuple((m.CLAIM, m.judge) for m in (pixels, iterations, steps,
                                                                              augmentation, fitness))


#: The findings' keys, in the paper's order.
FindingKey = StrEnum("FindingKey", {claim.key.upper(): claim.key for claim, _ in FINDINGS})


def judge_findings(data: Results, *, resamples: int = DEFAULT_RESAMPLES, seed: int = 0) -> list[Finding]:
    """The five findings, in the paper's order, on the run's undefended same-database spoof rows."""
    rows = eligible_rows(data.attacks)
    return [_per_attack(claim, judge, data, rows, resamples, seed) for claim, judge in FINDINGS]


def _per_attack(claim: Claim, judge: Judge, data: Results, rows: pd.DataFrame, resamples: int,
                seed: int) -> Finding:
    attacks = sorted(set(rows["attack"]), key=lambda a: (a != PAPER_ATTACK, a)) if len(rows) else []
    if not attacks:
        return cannot(claim, "no undefended spoof image was attacked in this run", "attack spoof images of an "
                      f"undefended model, >= {MIN_IMAGES} per setting", designed=False)
    found = {attack: judge(data, rows[rows["attack"] == attack], resamples, seed) for attack in attacks}
    chosen = (next((a for a in attacks if found[a].verdict is not Verdict.CANNOT_BE_JUDGED), None)
              or next((a for a in attacks if found[a].estimate is not None), attacks[0]))
    main = found[chosen]
    others = {a: f"{f.verdict.value}" + (f", {f.estimate:.2f} {f.unit}" if f.estimate is not None else "")
              for a, f in found.items() if a != chosen}
    details = {**main.details, "judged on the attack": chosen, **({"the other attacks": others} if others else {})}
    return Finding(**{**main.__dict__, "details": details})


__all__ = ["FINDINGS", "MIN_IMAGES", "Finding", "FindingKey", "Verdict", "eligible_rows", "judge_findings"]
