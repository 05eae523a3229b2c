"""Metrics, each against a case computed by hand (bob conventions: P(live), a tie is accepted as live)."""

from __future__ import annotations

import numpy as np
import pytest

from fasrobust import metrics as m
from fasrobust.labels import BONA_FIDE, Label

# live first, then spoof; 0.5 appears in both classes to exercise the tie rule at the threshold.
SCORES = np.array([0.9, 0.5, 0.3, 0.5, 0.2, 0.1, 0.4])
LIVE = np.array([True, True, True, False, False, False, False])


def test_far_frr_accepts_a_score_equal_to_the_threshold():
    far, frr = m.far_frr(SCORES, LIVE, 0.5)
    assert far == pytest.approx(1 / 4)  # the spoof at exactly 0.5 is accepted
    assert frr == pytest.approx(1 / 3)  # only the live 0.3 is rejected; the live 0.5 is accepted
    assert m.hter(SCORES, LIVE, 0.5) == pytest.approx((1 / 4 + 1 / 3) / 2)
    assert m.far_frr(SCORES, [Label.LIVE] * 3 + ["attack"] * 4, 0.5) == (far, frr)  # labels, aliases


def test_paper_metrics_at_fixed_half_with_spoof_as_the_recalled_class():
    # called live: 0.9, 0.5 (live) and 0.5 (spoof); called spoof: 0.3 (live), 0.2, 0.1, 0.4
    assert m.accuracy(SCORES, LIVE) == pytest.approx(5 / 7)
    assert m.spoof_precision(SCORES, LIVE) == pytest.approx(3 / 4)
    assert m.spoof_recall(SCORES, LIVE) == pytest.approx(3 / 4)


def test_eer_threshold_is_the_midpoint_that_balances_far_and_frr():
    scores = [0.9, 0.7, 0.4, 0.6, 0.3, 0.2]  # midpoints 0.25, 0.35, 0.5, 0.65, 0.8
    live = [True, True, True, False, False, False]
    assert m.eer_threshold(scores, live) == pytest.approx(0.5)  # FAR = FRR = 1/3 there
    assert m.eer(scores, live) == pytest.approx(1 / 3)
    assert m.eer_threshold([0.8, 0.6, 0.3, 0.1], [True, True, False, False]) == pytest.approx(0.45)


def test_eer_threshold_breaks_ties_as_bob_measure_does():
    # live [0, 1], spoof [0.5]: |FAR - FRR| = 1/2 at 0.25 (FAR 1, FRR 1/2) and at 0.75 (FAR 0, FRR 1/2).
    # bob's scan keeps 0.25: 0.75 comes after the spoofs run out and must be strictly better to win.
    assert m.eer_threshold([0.0, 1.0, 0.5], [True, True, False]) == 0.25
    with pytest.raises(ValueError, match="both live and spoof"):
        m.eer_threshold([0.1, 0.2], [True, True])


def bob_scan_reference(live: list[float], spoof: list[float]) -> float:
    """bob.measure's eer_threshold from its documented algorithm (bob/measure/_library.py docstrings,
    `_minimizing_threshold`), written as a list of candidates: start at the lowest score with FAR 1 and
    FRR 0; step to each next unique score, taking out its spoofs (FAR -= 1/n_spoof, one by one) and its
    live scores (FRR += 1/n_live), the threshold moving to the midpoint above it. While both classes
    still have a score above, a candidate replaces the best when |FAR - FRR| <= best; the first
    candidate after that replaces it only when strictly smaller."""
    values = sorted(set(live) | set(spoof))
    far, frr = 1.0, 0.0
    candidates = [(values[0], far, frr, True)]
    for k, value in enumerate(values):
        for _ in range(spoof.count(value)):
            far -= 1.0 / len(spoof)
        for _ in range(live.count(value)):
            frr += 1.0 / len(live)
        both_left = any(s > value for s in spoof) and any(s > value for s in live)
        threshold = (value + values[k + 1]) / 2 if k + 1 < len(values) else value
        candidates.append((threshold, far, frr, both_left))
        if not both_left:
            break
    best_threshold, best_gap = None, float("inf")
    for threshold, far, frr, in_scan in candidates:
        gap = abs(far - frr)
        if gap <= best_gap if in_scan else gap < best_gap:
            best_threshold, best_gap = threshold, gap
    return best_threshold


def test_eer_threshold_follows_bobs_rule_on_random_score_sets_with_ties():
    rng = np.random.default_rng(14)
    for _ in range(500):
        n_live, n_spoof = rng.integers(1, 7, size=2)
        levels = rng.integers(2, 6)  # few distinct scores: many ties within and across classes
        scores = rng.integers(0, levels, size=n_live + n_spoof) / (levels - 1)
        live = np.arange(scores.size) < n_live
        expected = bob_scan_reference(scores[live].tolist(), scores[~live].tolist())
        assert m.eer_threshold(scores, live) == expected, (scores[live], scores[~live])


def test_eer_threshold_equals_the_real_bob_measure():
    bob = pytest.importorskip("bob.measure")  # its numpy pin keeps it out of our environment
    rng = np.random.default_rng(15)
    for _ in range(200):
        scores = rng.integers(0, 5, size=9) / 4
        live = rng.random(9) < 0.5
        if live.all() or not live.any():
            continue
        assert m.eer_threshold(scores, live) == bob.eer_threshold(scores[~live], scores[live])


def test_roc_auc_counts_ties_as_half():
    assert m.roc_auc([0.9, 0.5, 0.5, 0.1], [True, True, False, False]) == pytest.approx(3.5 / 4)
    assert np.isnan(m.roc_auc([0.9, 0.5], [True, True]))


def test_all_correct():
    scores, live, types = [0.99, 0.8, 0.1, 0.3], [True, True, False, False], [BONA_FIDE, BONA_FIDE, "print", "replay"]
    t = m.eer_threshold(scores, live)
    assert 0.3 < t < 0.8
    assert m.accuracy(scores, live) == m.spoof_precision(scores, live) == m.spoof_recall(scores, live) == 1.0
    assert m.eer(scores, live) == m.hter(scores, live, t) == m.acer(scores, live, types, 0.5) == 0.0
    assert m.roc_auc(scores, live) == 1.0


def test_apcer_per_type_takes_the_worst_type():
    scores = [0.9, 0.3, 0.6, 0.2, 0.7, 0.8, 0.1]
    types = [BONA_FIDE, BONA_FIDE, "print", "print", "replay", "replay", "replay"]
    live = [t == BONA_FIDE for t in types]
    assert m.apcer_per_type(scores, types, 0.5) == pytest.approx({"print": 1 / 2, "replay": 2 / 3})
    assert m.apcer(scores, types, 0.5) == pytest.approx(2 / 3)
    assert m.bpcer(scores, live, 0.5) == pytest.approx(1 / 2)
    assert m.acer(scores, live, types, 0.5) == pytest.approx(7 / 12)


def test_recall_drop_is_in_percentage_points():
    assert f"{m.recall_drop(1.0, 0.81):.2f}" == "19.00"
    assert m.recall_drop(1.0, 0.81) == 19.0
    spoofs = np.zeros(100, dtype=bool)
    before = np.full(100, 0.1)  # every spoof detected
    after = np.where(np.arange(100) < 81, 0.2, 0.5)  # 19 pushed to exactly 0.5: accepted as live
    assert m.recall_drop(m.spoof_recall(before, spoofs), m.spoof_recall(after, spoofs)) == 19.0
    with pytest.raises(ValueError, match="fraction"):
        m.recall_drop(100, 81)


def _frames(name: str = "test") -> m.ScoreSet:
    return m.ScoreSet(name, scores=[0.9, 0.6, 0.3, 0.2, 0.4, 0.8],
                      is_live=["live", "live", "live", "spoof", "spoof", "spoof"],
                      attack_types=[BONA_FIDE] * 3 + ["print", "print", "replay"],
                      sources=["a", "a", "a", "b", "b", "c"])


def test_video_scores_average_frames_and_keep_label_and_type():
    videos = m.video_scores(_frames())
    assert videos.sources.tolist() == ["a", "b", "c"]
    assert videos.scores == pytest.approx([0.6, 0.3, 0.8])
    assert videos.is_live.tolist() == [True, False, False]
    assert videos.attack_types.tolist() == [BONA_FIDE, "print", "replay"]
    mixed = m.ScoreSet("x", [0.1, 0.9], [True, False], [BONA_FIDE, "print"], ["v", "v"])
    with pytest.raises(ValueError, match="both live and spoof"):
        m.video_scores(mixed)


def test_pad_report_names_every_threshold_and_its_source():
    dev = m.ScoreSet("dev", [0.8, 0.7, 0.3, 0.1], [True, True, False, False], [BONA_FIDE] * 2 + ["print"] * 2,
                     ["d1", "d2", "d3", "d4"])
    report = m.pad_report(_frames(), dev)
    assert report["threshold_source"] == "EER on dev" and not report["threshold_warning"]
    frame = report["metrics"]["frame"]
    assert {k: frame["hter_eer"][k] for k in ("value", "threshold", "source")} == {
        "value": pytest.approx((1 / 3 + 1 / 3) / 2), "threshold": 0.5,
        "source": "EER on dev"}  # dev EER threshold 0.5 = midpoint of 0.3 and 0.7
    assert {k: frame["recall"][k] for k in ("value", "threshold", "source")} == {
        "value": pytest.approx(2 / 3), "threshold": 0.5, "source": "fixed 0.5"}
    assert frame["auc"]["threshold"] is None and frame["auc"]["source"] == "threshold-free"
    video = report["metrics"]["video"]
    assert video["recall"]["value"] == pytest.approx(1 / 2)  # videos b (0.3) and c (0.8)
    assert video["apcer_per_type_fixed"]["value"] == {"print": 0.0, "replay": 1.0}
    assert report["counts"]["video"]["test"] == {"live": 1, "spoof": 2}
    for level in ("frame", "video"):
        for entry in report["metrics"][level].values():
            assert set(entry) == {"value", "threshold", "source", "interval", "interval_method"} and entry["source"]
            assert entry["interval_method"] in ("wilson", "bootstrap over videos, 2000 resamples")


def test_pad_report_without_dev_says_where_the_threshold_came_from():
    train = _frames("train")
    report = m.pad_report(_frames(), fallback=train)
    assert report["threshold_source"] == "EER on train (no dev split)" and report["threshold_warning"]
    alone = m.pad_report(_frames())
    assert alone["threshold_source"] == "EER on test (no dev split)" and alone["threshold_warning"]
    assert "optimistic" in alone["warning"]
