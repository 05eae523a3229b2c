"""Intervals against hand-computed and known cases: Wilson, the cluster bootstrap, the vectorized PAD
statistics it drives, the intervals in metrics.json (`pad_report`) and the paired recall-drop interval
of `attack_stats`."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import stats as scipy_stats

from fasrobust import metrics as m
from fasrobust.experiments.attack_stats import attack_stats
from fasrobust.labels import BONA_FIDE
from fasrobust.stats import ClusterResampler, bootstrap_interval, bootstrap_replicates
from fasrobust.stats import weighted as w

Z = 1.959964  # the 97.5 % normal quantile


@pytest.mark.parametrize(("successes", "trials", "expected"), [
    # Wilson: centre = (p + z²/2n) / (1 + z²/n), half = z sqrt(p(1-p)/n + z²/4n²) / (1 + z²/n), z² = 3.8415
    # 0/10: centre = 0.19207 / 1.38415 = 0.13877 = half, so [0, 0.27753]
    (0, 10, (0.0, 0.27753)),
    # 5/10: centre 0.5, half = 1.96 sqrt(0.025 + 0.0096037) / 1.38415 = 0.26341
    (5, 10, (0.23659, 0.76341)),
    # 10/10: the mirror of 0/10
    (10, 10, (0.72247, 1.0)),
    # 1/3: centre = (0.33333 + 0.64024) / 2.28049 = 0.42692, half = 1.96 sqrt(0.074074 + 0.106707) / 2.28049
    # = 0.36542
    (1, 3, (0.06149, 0.79234)),
])
def test_wilson_interval_matches_the_hand_computation(successes, trials, expected):
    assert m.wilson_interval(successes, trials) == pytest.approx(expected, abs=1e-4)


def test_wilson_interval_of_no_trials_is_undefined():
    assert all(np.isnan(m.wilson_interval(0, 0)))


def test_bootstrap_of_constant_data_has_zero_width():
    assert bootstrap_interval(np.mean, np.full(40, 0.3), groups=np.arange(40) // 4, resamples=200) == (
        pytest.approx(0.3), pytest.approx(0.3))


def test_one_frame_per_group_is_the_ungrouped_bootstrap():
    x = np.random.default_rng(0).normal(size=50)
    labels = [f"video-{i:03d}" for i in np.random.default_rng(1).permutation(50)]  # any names, any order
    assert bootstrap_interval(np.mean, x, groups=labels, seed=7, resamples=500) == bootstrap_interval(
        np.mean, x, seed=7, resamples=500)


def test_bootstrap_of_a_mean_matches_the_normal_interval_and_scipy():
    x = np.random.default_rng(2).normal(10.0, 2.0, size=2000)
    lo, hi = bootstrap_interval(np.mean, x, resamples=2000)
    half = 1.96 * x.std(ddof=1) / np.sqrt(x.size)
    # An endpoint of a 2000-resample percentile interval has a Monte Carlo error of about 3 % of `half`
    # (sqrt(0.025 * 0.975 / 2000) / pdf(1.96) / 1.96): the tolerances are about 3 of those.
    assert lo == pytest.approx(x.mean() - half, abs=0.1 * half)
    assert hi == pytest.approx(x.mean() + half, abs=0.1 * half)
    reference = scipy_stats.bootstrap((x,), np.mean, method="percentile", n_resamples=2000, random_state=3)
    assert (lo, hi) == pytest.approx(tuple(reference.confidence_interval), abs=0.15 * half)  # two MC errors


def test_whole_videos_are_resampled_so_correlated_frames_widen_the_interval():
    rng = np.random.default_rng(4)
    video_effect = np.repeat(rng.normal(size=20), 10)  # 20 videos of 10 nearly identical frames
    frames = video_effect + rng.normal(scale=0.05, size=200)
    videos = np.repeat(np.arange(20), 10)
    by_frame = bootstrap_interval(np.mean, frames, resamples=1000)
    by_video = bootstrap_interval(np.mean, frames, groups=videos, resamples=1000)
    assert (by_video[1] - by_video[0]) > 2.5 * (by_frame[1] - by_frame[0])  # about sqrt(10) wider


def test_a_statistic_undefined_without_one_class_is_kept_defined_by_strata():
    scores = np.array([0.9, 0.8, 0.2, 0.1])
    live = np.array([True, True, False, False])
    sampler = ClusterResampler(4, seed=0)
    undefined = [np.isnan(m.roc_auc(scores[np.repeat(np.arange(4), r)], live[np.repeat(np.arange(4), r)]))
                 for r in sampler.weights(300)]
    assert any(undefined)  # without strata some resamples hold one class only
    assert bootstrap_interval(m.roc_auc, scores, live, strata=live, resamples=300) == (1.0, 1.0)
    lo, hi = bootstrap_interval(m.roc_auc, scores, live, resamples=300)  # the undefined ones are left out
    assert (lo, hi) == (1.0, 1.0)
    with pytest.raises(ValueError, match="spans several strata"):
        ClusterResampler(4, groups=["a", "a", "b", "b"], strata=[True, False, False, False])


def scored(n: int, seed: int, frames_per_video: int = 5) -> m.ScoreSet:
    rng = np.random.default_rng(seed)
    live = np.arange(n) < n // 2
    types = np.where(live, BONA_FIDE, np.where(np.arange(n) % 2, "print", "replay"))
    scores = np.clip(np.where(live, 0.65, 0.35) + rng.normal(0, 0.2, n), 0, 1)
    sources = np.array([f"{t}-{i // frames_per_video}" for i, t in enumerate(types)])
    return m.ScoreSet("test", scores, live, types, sources)


def test_vectorized_statistics_equal_the_plain_metrics_on_each_resample():
    test = scored(120, 5)
    weights = ClusterResampler(len(test), groups=test.sources, strata=test.attack_types).weights(25)
    ordered = w.SortedScores(test.scores, test.is_live)
    kinds = ["print", "replay"]
    for row, eer, auc, hter, acer in zip(weights, w.eer(ordered, weights), w.roc_auc(ordered, weights),
                                         w.hter(test.scores, test.is_live, 0.5, weights),
                                         w.acer(test.scores, test.is_live, test.attack_types, kinds, 0.5, weights),
                                         strict=True):
        index = np.repeat(np.arange(len(test)), row)
        s, live, types = test.scores[index], test.is_live[index], test.attack_types[index]
        assert eer == pytest.approx(m.eer(s, live))
        assert auc == pytest.approx(m.roc_auc(s, live))
        assert hter == pytest.approx(m.hter(s, live, 0.5))
        assert acer == pytest.approx(m.acer(s, live, types, 0.5))


def test_pad_report_intervals():
    test, dev = scored(200, 6), scored(200, 7)
    report = m.pad_report(test, dev, resamples=400)
    frame = report["metrics"]["frame"]
    spoofs = int((~test.is_live).sum())
    detected = int(np.sum((test.scores < 0.5) & ~test.is_live))
    assert frame["recall"]["interval"] == list(m.wilson_interval(detected, spoofs))
    assert frame["recall"]["interval_method"] == "wilson"
    # HTER at the dev threshold: the threshold stays where dev put it, only test videos are resampled
    t = frame["hter_eer"]["threshold"]
    expected = bootstrap_interval(lambda s, live: m.hter(s, live, t), test.scores, test.is_live, groups=test.sources,
                                  strata=test.attack_types, resamples=400)
    assert frame["hter_eer"]["interval"] == pytest.approx(list(expected))
    assert frame["hter_eer"]["interval_method"] == "bootstrap over videos, 400 resamples"
    # APCER's interval is the Wilson interval of the worst type's counts
    per_type = frame["apcer_per_type_fixed"]
    worst = max(per_type["value"], key=per_type["value"].get)
    assert frame["apcer_fixed"]["interval"] == per_type["interval"][worst]
    for level in ("frame", "video"):
        for key, entry in report["metrics"][level].items():
            if key.startswith("apcer_per_type"):
                continue
            lo, hi = entry["interval"]
            assert 0 <= lo <= hi <= 1, key
            if entry["interval_method"] == "wilson":
                assert lo <= entry["value"] <= hi, key


def test_attack_stats_recall_drop_interval_resamples_source_videos():
    n = 80
    rows = pd.DataFrame({"attack_type": "print", "threshold": 0.5, "p_live_before": 0.1, "already_live": False,
                         "success": np.arange(n) < 20, "verified": 1.0, "queries": 100,
                         "source": [f"v{i // 4}" for i in range(n)]})
    stats = attack_stats(rows, resamples=1000)
    assert stats["recall_drop"] == 25.0
    lo, hi = stats["recall_drop_ci"]
    assert lo < 25.0 < hi
    # the fooled images fill whole videos (5 of 20): by video the drop varies more than by image
    by_image = attack_stats(rows.assign(source=[f"i{i}" for i in range(n)]), resamples=1000)["recall_drop_ci"]
    assert hi - lo > 1.5 * (by_image[1] - by_image[0])
    assert stats["videos"] == 20 and {"recall_ci", "recall_after_ci", "success_ci"} <= set(stats)


def test_paired_bootstrap_replicates_are_seeded():
    values = np.arange(30, dtype=float)
    mean = lambda weights: (weights @ values) / weights.sum(axis=1)  # noqa: E731
    a = bootstrap_replicates(mean, 30, resamples=300, seed=1)
    assert np.array_equal(a, bootstrap_replicates(mean, 30, resamples=300, seed=1))
    assert not np.array_equal(a, bootstrap_replicates(mean, 30, resamples=300, seed=2))
