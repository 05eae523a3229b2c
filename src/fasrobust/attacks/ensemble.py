"""The declared worst-case ensemble (AutoAttack's habit, Croce and Hein 2020): the attacks a defence is
judged by, for k pixels and a query budget per image, in the order they run:
1. `sparse-rs` at k isolated pixels (the strongest score-based attack here at equal queries);
2. `patch`, the structured attack: the largest square of at most k pixels (3x3 for k = 9), solid corner
   colours, what survives a filter that removes isolated pixels;
3. the paper's DE (`pixel`) at k pixels, population 20, as many generations as the budget allows.

One name for it in a spec (`attacks: [{name: ensemble, pixels: [9], queries: [201]}]` expands into these
three entries, `spec.Grid`) and in `fasrobust robustness`, so both run the same attacks. An attack's `eot` is
chosen for the pipeline it attacks like any other's."""

from __future__ import annotations

import itertools
import math
from typing import Any

from .spec import AttackSpec

#: The name a spec's attack entry gives the ensemble.
ENSEMBLE = "ensemble"
#: The DE's population in the ensemble: small, so its generations fit a few hundred queries.
DE_POPULATION = 20
#: The settings an ensemble entry takes (each a list in a spec), besides `seed`.
ENSEMBLE_AXES = ("pixels", "queries")


def ensemble_attacks(pixels: int, queries: int) -> list[AttackSpec]:
    """The declared ensemble for `pixels` and `queries` per image (see the module doc)."""
    side = max(1, math.isqrt(pixels))
    attacks = [AttackSpec(name="sparse-rs", settings={"pixels": pixels, "queries": queries}),
               AttackSpec(name="patch", settings={"pixels": side * side, "side": side, "queries": queries,
                                                  "fill": "solid", "colours": "corners"})]
    generations = (queries - 1) // DE_POPULATION - 1
    if generations >= 1:
        attacks.append(AttackSpec(name="pixel", settings={"pixels": pixels, "population": DE_POPULATION,
                                                          "iterations": generations}))
    return attacks


def expand_entry(entry: dict[str, Any]) -> list[dict[str, Any]]:
    """A spec's `{name: ensemble, pixels: [...], queries: [...], seed: [...]}` as the grid entries of its
    attacks, one per attack and (pixels, queries) point, each with single-value lists."""
    unknown = sorted(set(entry) - {"name", "seed", *ENSEMBLE_AXES})
    if unknown:
        raise ValueError(f"attacks: the ensemble takes only {', '.join(ENSEMBLE_AXES)} and seed, not {unknown[0]!r} "
                         "(its attacks' settings are declared: fasrobust.attacks.ensemble)")
    axes = []
    for key in ENSEMBLE_AXES:
        values = entry.get(key)
        if not isinstance(values, list) or not values or not all(
                isinstance(v, int) and not isinstance(v, bool) and v >= 1 for v in values):
            raise ValueError(f"attacks: the ensemble needs {key}: a non-empty list of positive whole numbers, "
                             f"e.g. {key}: [{9 if key == 'pixels' else 201}]")
        axes.append(values)
    seed = {"seed": entry["seed"]} if "seed" in entry else {}
    return [{"name": spec.name, **{k: [v] for k, v in spec.settings.items()}, **seed}
            for pixels, queries in itertools.product(*axes) for spec in ensemble_attacks(pixels, queries)]


def expand_ensembles(entries: Any) -> Any:
    """A spec's attack list with every ensemble entry expanded (anything else as given)."""
    if not isinstance(entries, list):
        return entries
    out = []
    for entry in entries:
        named = isinstance(entry, dict) and entry.get("name") == ENSEMBLE
        out += expand_entry(entry) if named else [entry]
    return out
