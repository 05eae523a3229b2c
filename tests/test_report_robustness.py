"""The report's robustness section, for a target that answers a score and for one that answers only a
decision: the share of spoofs still refused against the pixels changed, at each budget, and the median
pixels needed at fixed budgets, each number equal to what the stored rows say."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from attack_targets import BrightnessTarget
from fasrobust.attacks import AttackSpec
from fasrobust.data.faceset import META_COLUMNS, FaceSet
from fasrobust.experiments.evaluation import evaluate_attack
from fasrobust.experiments.spec import ImageSelection
from fasrobust.report import build_report
from fasrobust.report.figures import draw_figures
from fasrobust.report.results import load_results
from fasrobust.report.robustness import per_image, refused_share
from fasrobust.report.tables import build_tables

SIZE = 12


@pytest.fixture(scope="module")
def faces(tmp_path_factory):
    rng = np.random.default_rng(4)
    spoofs = rng.integers(110, 140, (6, SIZE, SIZE, 3))
    lives = rng.integers(150, 256, (4, SIZE, SIZE, 3))
    images = np.concatenate([spoofs, lives]).astype(np.uint8)
    rows = [dict(id=i, label="spoof" if i < 6 else "live", attack_type="print" if i < 6 else "bona_fide",
                 subject=f"s{i % 3}" if i < 6 else f"s{i}", split="test", source=f"v{i}.mov", frame=0, box_x=0,
                 box_y=0, box_w=SIZE, box_h=SIZE, detector="test") for i in range(10)]
    root = tmp_path_factory.mktemp("robust") / "faces"
    FaceSet(images, pd.DataFrame(rows, columns=META_COLUMNS), {"database": "unit"}).write(root)
    return FaceSet.load(root)


@pytest.mark.parametrize(("answers", "attacks"), [
    ("score", [{"name": "sparse-rs", "settings": {"pixels": "auto", "queries": 800}},
               {"name": "sparse-evo", "settings": {"queries": 300}}]),
    ("decision", [{"name": "sparse-evo", "settings": {"queries": 300}},
                  {"name": "pointwise", "settings": {"queries": 300}}]),
])
def test_the_robustness_curve_and_median_table_are_the_stored_rows(faces, tmp_path, answers, attacks):
    target = BrightnessTarget(bright=134.0, input_size=SIZE)
    if answers == "decision":
        target.hide_score()
    selection = ImageSelection.build({"split": "test", "labels": "spoof", "shard_size": 3})
    for attack in attacks:
        evaluate_attack(target, faces, attack=AttackSpec.of(attack), run_dir=tmp_path, target_id=f"bright-{answers}",
                        selection=selection, seed=0)
    index = build_report(tmp_path)
    page = index.read_text()
    assert "robustness.png" in page and "Median pixels needed at fixed budgets" in page
    assert "searched per image" in page  # the headline says these attacks chose the pixels per image
    data = load_results(tmp_path)
    rows = data.attacks
    assert rows["open_pixels"].all() and set(rows["answer"]) == {answers}
    (table,) = [t for t in build_tables(data) if t.key == "median-pixels"]
    drawn, _ = draw_figures(data, keys={"robustness"})
    (figure,) = drawn
    assert len(table.values) == len(attacks) == len([ax for ax in figure.figure.axes if ax.get_visible()])
    for record in table.values.to_dict("records"):
        attack = record["Configuration"].split("; ")[-1].split(" (")[0]
        group = rows[rows["attack"] == attack]
        own = int(group["query_budget"].max())
        needed = per_image(group, own)
        assert record["Median L0 @ own budget"] == pytest.approx(np.median(needed))
        assert record["Fooled @ own budget"] == int(np.isfinite(needed).sum()) == 6
        for i, row in enumerate(group.sort_values("image_id").itertuples()):
            assert needed[i] == row.pixels_changed, "at its own budget: the stored L0"
        # The curve at the pixels of the last image fooled: nothing is refused any more.
        share, low, high = refused_share(needed, [int(needed.max())])
        assert share[0] == 0 and low[0] == 0 and high[0] > 0
