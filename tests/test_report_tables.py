"""Report tables from a results store filled by the test itself (no training, no attacking): the paper's
recall-drop arithmetic, recall after at a smaller budget read from the stored queries, Tables 7-8, the
published numbers beside ours, the file formats, a partly finished run, and `fasrobust report`."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from fasrobust.attacks import AttackSpec
from fasrobust.attacks.result import AttackResult, apply_perturbation
from fasrobust.attacks.verify import encode_png
from fasrobust.attacks.visual import side_by_side
from fasrobust.data.faceset import FaceSet
from fasrobust.experiments.store import AttackRow, ResultsStore, job_id
from fasrobust.metrics import wilson_interval
from fasrobust.paper import published
from fasrobust.report.formats import latex_escape, to_latex, to_markdown, write_tables
from fasrobust.report.results import load_results as load_run
from fasrobust.report.summary import budget_curve
from fasrobust.report.tables import build_tables

SIZE = 32
N_SPOOF, N_LIVE = 100, 20
EVIL_TYPE = "<script>alert('type')</script>"
EVIL_SOURCE = "spoof/<img src=x onerror=alert(1)>.avi"
POPULATION = 40


# ----- a run directory as `fasrobust run` leaves it, built directly --------------------------------------
def make_faceset(root: Path, database: str, synthetic: bool) -> FaceSet:
    rng = np.random.default_rng(0)
    n = N_SPOOF + N_LIVE
    yy, xx = np.mgrid[0:SIZE, 0:SIZE]
    base = np.stack([120 + 60 * np.sin(xx / 5), 100 + 50 * np.cos(yy / 6), 90 + 0 * xx], -1)
    images = np.clip(base[None] + rng.normal(0, 25, (n, SIZE, SIZE, 3)), 0, 255).astype(np.uint8)
    spoof = np.arange(n) < N_SPOOF
    meta = pd.DataFrame({
        "id": np.arange(n), "label": np.where(spoof, "spoof", "live"),
        "attack_type": [EVIL_TYPE if i < 5 else "mask" if s else "bona_fide" for i, s in enumerate(spoof)],
        "subject": [str(13 + i % 5) for i in range(n)], "split": "test",
        "source": [EVIL_SOURCE if i < 5 else f"{'spoof' if s else 'live'}/v{i // 5}.avi" for i, s in enumerate(spoof)],
        "frame": np.arange(n) % 5, "box_x": 0, "box_y": 0, "box_w": SIZE, "box_h": SIZE, "detector": "annotations"})
    faces = FaceSet(images, meta, {"database": database, "synthetic": synthetic})
    faces.write(root)
    return FaceSet.load(root)


def trajectory(first_hit: int | None, iterations: int) -> np.ndarray:
    """(queries, best spoof confidence) after the clean query and each generation, as the DE stores it:
    reaches <= 0.5 exactly at generation `first_hit` (None: never)."""
    history = (np.linspace(0.95, 0.6, iterations + 1) if first_hit is None
               else np.append(np.linspace(0.95, 0.55, first_hit), 0.45))
    queries = 1 + POPULATION * (np.arange(len(history)) + 1)
    return np.vstack([[1, 0.95], np.column_stack([queries, history])])


def commit_attack(store: ResultsStore, run_dir: Path, faces: FaceSet, model: dict, *, pixels: int,
                  iterations: int, hits: dict[int, int], already_live: set[int] = frozenset(),
                  model_calls_per_query: int = 1, attack_name: str = "pixel") -> str:
    """One attack job over the N_SPOOF spoofs of `faces`, with its settings as `fasrobust run` writes them;
    `model` holds the attacked system (train_job, train_database, ..., and `defences`, where an "eot" entry
    stands for the attack's eot draws); image i succeeds at generation hits[i] (another `attack_name` at the
    queries the DE's generation hits[i] ends with)."""
    rng = np.random.default_rng(pixels * 1000 + iterations)
    ids = list(range(N_SPOOF))
    stack = list(model.get("defences") or [])
    eot = max((d["draws"] for d in stack if d["name"] == "eot"), default=1)
    deployed = [d for d in stack if d["name"] != "eot"]
    budget = 1 + POPULATION * (iterations + 1)
    attack = (AttackSpec(name="pixel", settings={"pixels": pixels, "population": POPULATION, "f": 0.5, "cr": 1.0,
                                                 "strategy": "rand1", "iterations": iterations, "eot": eot})
              if attack_name == "pixel" else  # another attack at the DE's query budget, successes at the same queries
              AttackSpec(name=attack_name, settings={"pixels": pixels, "queries": budget, "eot": eot}))
    system = {k: v for k, v in model.items() if k != "defences"}
    settings = {"system": system, "attack": attack.as_json(), "seed": 0,
                "target": model.get("train_job", "torch:0123456789abcdef"), "faceset": "fs", "split": "test",
                "shard": 0, "image_ids": ids, "labels": "spoof", **({"defences": deployed} if deployed else {})}
    job = job_id("attack", settings)
    rows = []
    for i in ids:
        perturbation = np.column_stack([rng.integers(0, SIZE, (pixels, 2)), rng.integers(0, 256, (pixels, 3))])
        live, hit = i in already_live, hits.get(i)
        history = np.array([[1, 0.3]]) if live else trajectory(hit, iterations)
        success = live or hit is not None
        png = None
        if success and not live:
            png = f"adversarial/{job[-8:]}/{i}.png"
            adversarial = apply_perturbation(faces.images[i], perturbation)
            (run_dir / png).parent.mkdir(parents=True, exist_ok=True)
            (run_dir / png).write_bytes(encode_png(adversarial))
            side = side_by_side(faces.images[i], adversarial, perturbation)
            (run_dir / png.replace(".png", "_side.png")).write_bytes(encode_png(side))
        result = AttackResult(
            index=i, success=success, queries=int(history[-1, 0]), query_budget=budget,
            p_live_before=0.7 if live else 0.05, p_live_after=0.7 if live else (0.55 if success else 0.4),
            perturbation=np.zeros((0, 5), int) if live else perturbation, trajectory=history, wall_time_s=0.01,
            seed=0, threshold=0.5, already_live=live, verified=True if png else None,
            extra={"model_queries": int(history[-1, 0]) * model_calls_per_query} if model_calls_per_query > 1 else {})
        meta = faces.meta.iloc[i]
        rows.append(AttackRow(i, str(meta["source"]), "test", str(meta["attack_type"]), attack, result, png))
    store.commit_job(job, "attack", settings, {"images": len(rows)}, attack_rows=rows)
    return job


def metrics_record(acc: float, hter: float, *, hter_fixed: float | None = None, threshold: float = 0.42,
                   half_width: float | None = None, test_images: int = 120) -> dict:
    """A metrics.json record: rates at 0.5, HTER at the dev EER `threshold`; with `half_width`, every
    entry carries a 95 % interval value +- half_width (as pad_report stores it), without it none (old runs)."""
    def entry(value: float, t: float = 0.5, source: str = "fixed 0.5") -> dict:
        out = {"value": value, "threshold": t, "source": source}
        if half_width is not None:
            out |= {"interval": [value - half_width, value + half_width], "interval_method": "wilson"}
        return out

    frame = {"accuracy": entry(acc), "precision": entry(acc), "recall": entry(acc),
             "hter_eer": entry(hter, threshold, "EER on dev"),
             "hter_fixed": entry(1 - acc if hter_fixed is None else hter_fixed),
             "eer_test": entry(0.5 * hter, 0.77, "EER on test"),
             "apcer_fixed": entry(1 - acc), "bpcer_fixed": entry(1 - acc), "acer_fixed": entry(1 - acc)}
    counts = {"test": {"live": test_images // 2, "spoof": test_images - test_images // 2}}
    return {"threshold_source": "EER on dev", "metrics": {"frame": frame, "video": frame},
            "counts": {"frame": counts, "video": counts}}


def make_run(run_dir: Path, *, synthetic: bool = False) -> Path:
    """3DMAD (or the synthetic sample): models without and with all augmentations at 50,000 steps and
    with all at 10,000; 'shift' planned but never trained (its failure recorded)."""
    database = "sample" if synthetic else "3dmad"
    faces = make_faceset(run_dir / "facesets" / database, database, synthetic)
    store = ResultsStore(run_dir / "results.sqlite")
    prepare = {"database": database, "prepare": {"database": database}}
    prepare_id = job_id("prepare", prepare)
    store.commit_job(prepare_id, "prepare", prepare, {"faceset": f"facesets/{database}", "database": database,
                                                      "synthetic": synthetic, "counts": faces.counts()})
    models, plan_jobs, groups = {}, [{"id": prepare_id, "kind": "prepare", "label": f"prepare {database}"}], []
    for augment, steps, acc, hter in (("none", 50000, 1.0, 0.0), ("all", 50000, 1.0, 0.0), ("all", 10000, 0.95, 0.04),
                                      ("shift", 50000, None, None)):
        settings = {"database": database, "augment": augment, "steps": steps, "train_seed": 0, "model": "fasnet"}
        train_id, eval_id = job_id("train", settings), job_id("evaluate", settings)
        models[(augment, steps)] = {**settings, "train_job": train_id}
        plan_jobs += [{"id": train_id, "kind": "train", "label": f"train {database} {augment} {steps} steps"},
                      {"id": eval_id, "kind": "evaluate", "label": f"evaluate {database} {augment} {steps} steps"}]
        groups.append({"key": f"g-{augment}-{steps}", "database": database, "system": models[(augment, steps)],
                       "budgets": [200], "budget_field": "iterations", "seed": 0, "image_ids": list(range(N_SPOOF)),
                       "shards": [], "attack": {"name": "pixel", "settings": {
                           "pixels": 9, "population": POPULATION, "f": 0.5, "cr": 1.0, "strategy": "rand1",
                           "iterations": 200, "eot": 1}}})
        if acc is None:
            store.record_failure(train_id, f"train {database} shift: <b>out of memory</b>")
            continue
        store.commit_job(train_id, "train", settings, {"model_dir": f"models/{augment}-{steps}"})
        half_width = 0.03 if steps == 10000 else None  # one evaluation with intervals, the others as old runs
        store.commit_job(eval_id, "evaluate", {**settings, "train_job": train_id},
                         {"metrics": metrics_record(acc, hter, half_width=half_width)})
    nineteen = {i: 3 + 9 * i for i in range(19)}  # ids 0-18 succeed, at generations 3 ... 165
    groups[0]["shards"] = [commit_attack(store, run_dir, faces, models[("none", 50000)], pixels=9, iterations=200,
                                         hits=nineteen)]
    spread = dict(zip(range(2, 40), [0, 5, 20, 50, 120, 180, 199, 200, 201, 250, 390, 400] * 4, strict=False))
    groups[1]["shards"] = [commit_attack(store, run_dir, faces, models[("all", 50000)], pixels=9, iterations=400,
                                         hits=spread, already_live={0, 1})]
    groups[1]["budgets"], groups[1]["attack"]["settings"]["iterations"] = [100, 200, 400], 400
    for pixels, n in ((1, 5), (3, 20)):
        commit_attack(store, run_dir, faces, models[("all", 50000)], pixels=pixels, iterations=200,
                      hits={i: 10 + i for i in range(n)})
    groups[2]["shards"] = [commit_attack(store, run_dir, faces, models[("all", 10000)], pixels=9, iterations=200,
                                         hits={i: 40 + i for i in range(30)})]
    store.close()
    spec = {"name": "paper-mini", "synthetic": synthetic, "description": "a <small> spec & its test",
            "databases": [{"name": database, "prepare": {"database": database}}],
            "grid": {"augment": ["none", "shift", "all"], "steps": [50000],
                     "attacks": [{"name": "pixel", "pixels": [9], "iterations": [200]}]},
            "images": {"split": "test", "labels": "spoof", "limit": None, "seed": 0},
            "outputs": {"trajectory_images": 40, "trajectory_seed": 0}}
    (run_dir / "spec.yaml").write_text(yaml.safe_dump(spec))
    (run_dir / "plan.json").write_text(json.dumps({"jobs": plan_jobs, "attack_groups": groups}))
    return run_dir


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory) -> Path:
    return make_run(tmp_path_factory.mktemp("run"))


@pytest.fixture(scope="module")
def tables(run_dir):
    return {t.key: t for t in build_tables(load_run(run_dir))}


# ----- tests -------------------------------------------------------------------------------------------------
def test_published_numbers_keep_the_papers_arithmetic():
    for section, key in (("augmentation", "rows"), ("training_steps", "columns")):
        for database, entry in published()[section].items():
            for name, v in entry[key].items():
                assert v["recall"] - v["recall_after"] == pytest.approx(v["recall_drop"], abs=0.011), (database, name)
    assert published()["augmentation"]["3dmad"]["rows"]["none"]["recall_drop"] == 19.0


def test_table_reproduces_the_papers_recall_drop_arithmetic(tables):
    table = tables["augmentation-3dmad-pixel"]
    none = table.values[table.values["augment"] == "none"].iloc[0]
    assert none["Recall before (%)"] == 100.0
    assert none["Recall after (%)"] == 81.0  # 19 of 100 spoof rows succeed
    assert none["Recall drop (%)"] == 19.0
    assert none["ACC @ 0.5 (%)"] == 100.0 and none["HTER @ 0.5 (%)"] == 0.0 and none["HTER @ dev EER thr. (%)"] == 0.0
    assert none["Spoofs attacked"] == 100
    assert none["Median queries to success"] == np.median([1 + POPULATION * (3 + 9 * i + 1) for i in range(19)])
    shown = table.display.set_index("DA used")
    lo, hi = (100 * v for v in wilson_interval(81, 100))
    assert shown.loc["None DA", "Recall after, 100 attacked spoofs (%)"] == f"81.00 [{lo:.1f}, {hi:.1f}]"
    assert shown.loc["None DA", "Recall drop, 100 attacked spoofs (%)"].startswith("19.00")
    lo, hi = (100 * v for v in wilson_interval(120, 120))  # an old record's accuracy: Wilson on its test images
    assert shown.loc["None DA", "ACC @ 0.5 (%)"] == f"100.00 [{lo:.1f}, {hi:.1f}]"
    assert list(shown.index) == ["None DA", "Shift", "All"]  # the paper's order; shift planned, not run
    assert shown.loc["Shift", "Recall after, 100 attacked spoofs (%)"] == "—"
    assert shown.loc["Shift", "Paper recall drop (%)"] == "2.00"  # the published number beside ours
    assert shown.loc["All", "Paper recall drop (%)"] == "52.00"
    paper = table.paper.display.set_index("DA used")
    assert paper.loc["None DA", "Recall drop (%)"] == "19.00" and paper.loc["Rotation", "Recall after (%)"] == "0.00"
    assert "Table 3" in table.paper.title


def first_hit(trajectory) -> float:
    """The generation after which the stored DE trajectory first reaches <= 0.5 (inf: never)."""
    rows = np.asarray(trajectory, dtype=float)
    hits = rows[rows[:, 1] <= 0.5, 0]
    return (hits[0] - 1) / POPULATION - 1 if hits.size else np.inf


def test_smaller_budget_is_read_from_the_stored_queries(run_dir, tables):
    row = tables["augmentation-3dmad-pixel"].values.set_index("augment").loc["all"]
    frame = load_run(run_dir).attacks
    rows = frame[(frame["augment"] == "all") & (frame["pixels"] == 9) & (frame["steps"] == 50000)]
    within = sum(bool(a) or first_hit(t) <= 200 for t, a in zip(rows["trajectory"], rows["already_live"], strict=True))
    assert row["Recall after (%)"] == pytest.approx(100 * (1 - within / 100))
    assert row["Recall before (%)"] == 98.0  # two spoofs were already called live
    assert "no extra attack" in tables["augmentation-3dmad-pixel"].caption
    assert "400" in tables["augmentation-3dmad-pixel"].caption


def test_budget_curve_counts_images_fooled_within_each_budget(run_dir):
    frame = load_run(run_dir).attacks
    rows = frame[(frame["augment"] == "all") & (frame["pixels"] == 9) & (frame["steps"] == 50000)]
    budgets = [0, 1, 5, 19, 20, 199, 200, 201, 399, 400, 500]
    curve = budget_curve(rows, budgets).set_index("budget")
    assert list(curve.index) == budgets[:-1]  # 500 generations never ran
    for k in budgets[:-1]:
        expected = sum(bool(a) or first_hit(t) <= k
                       for t, a in zip(rows["trajectory"], rows["already_live"], strict=True))
        assert curve.at[k, "successes"] == expected, k
        assert curve.at[k, "recall_after"] == pytest.approx(100 * (1 - expected / len(rows)))
    assert curve.at[400, "successes"] == int(rows["success"].sum())  # the full budget is the stored result


def test_training_steps_table_and_published_table_8_shape(tables):
    table = tables["training-steps-3dmad-pixel-all"]
    assert list(table.values.columns) == ["Stage", "Metric", "10,000", "50,000"]
    by_metric = table.values.set_index("Metric")
    assert by_metric.at["Recall after (%)", "10,000"] == 70.0  # 30 of 100 succeed
    assert by_metric.at["ACC @ 0.5 (%)", "10,000"] == 95.0 and by_metric.at["HTER @ dev EER thr. (%)", "10,000"] == 4.0
    assert by_metric.at["HTER @ 0.5 (%)", "10,000"] == pytest.approx(5.0)  # the paper's HTER, beside ACC at 0.5
    shown = table.display.set_index("Metric")
    assert shown.at["ACC @ 0.5 (%)", "10,000"] == "95.00 [92.0, 98.0]"
    assert shown.at["HTER @ 0.5 (%)", "10,000"] == "5.00 [2.0, 8.0]"
    assert shown.at["HTER @ dev EER thr. (%)", "10,000"] == "4.00 [1.0, 7.0]"
    assert "Recall after, 100 attacked spoofs (%)" in shown.index  # the set recall is taken over, by name
    assert "the same 100 spoof images" in table.caption and "paired across settings" in table.caption
    assert table.paper is None  # the paper has Tables 7-8 for CASIA and Replay-Attack only


def test_markdown_latex_and_csv(tmp_path, tables):
    table = tables["augmentation-3dmad-pixel"]
    assert latex_escape("a_b & 50% {x} #1 $ ~ ^ \\") == (r"a\_b \& 50\% \{x\} \#1 \$ \textasciitilde{} "
                                                        r"\textasciicircum{} \textbackslash{}")
    tex = to_latex(table)
    assert r"None DA & 100.00 [96.9, 100.0] & 0.00" in tex and r"\begin{tabular}" in tex and "Recall drop, 100 attacked spoofs (\\%)" in tex
    markdown = to_markdown(table)
    assert ("| DA used | ACC @ 0.5 (%) | HTER @ 0.5 (%) | Precision @ 0.5 (%) | Recall before, 100 attacked spoofs (%) "
            "| Recall after, 100 attacked spoofs (%) | Paper recall after (%) |") in markdown
    assert "| None DA | 100.00 [96.9, 100.0] | 0.00 | 100.00 | 100.00 [96.3, 100.0] | 81.00 [72.2, 87.5] | 81.00 | 19.00" \
        in markdown
    assert "| None DA | 100.00 | 0.00 | 100.00 | 100.00 | 81.00 | 19.00 |" in markdown  # the published table
    paths = write_tables(list(tables.values()), tmp_path)
    assert {p.name for p in paths} >= {"augmentation-3dmad-pixel.csv", "tables.md", "tables.tex", "paper-table3.csv"}
    csv = pd.read_csv(tmp_path / "augmentation-3dmad-pixel.csv")
    assert csv.set_index("augment").at["none", "Recall drop (%)"] == 19.0


def test_partly_finished_run_lists_what_is_missing(run_dir):
    missing = load_run(run_dir).missing
    assert "train 3dmad shift 50000 steps: failed (train 3dmad shift: <b>out of memory</b>)" in missing
    assert any(m.startswith("evaluate 3dmad shift 50000 steps: not finished") for m in missing)
    assert any("pixel attacks on 3dmad (shift, 50000 steps), 9 px, 200 iterations: 0 of 100 images" in m
               for m in missing)
    assert not any("(none, 50000 steps)" in m for m in missing)  # finished groups are not listed


def test_store_of_a_standalone_attack_groups_by_what_is_there(tmp_path):
    """`fasrobust attack` stores only the target and the attack settings: no database, augmentation or
    steps. The rows still make a table, under 'unknown', with recall from the rows themselves."""
    faces = make_faceset(tmp_path / "faces", "3dmad", False)
    with ResultsStore(tmp_path / "run" / "results.sqlite") as store:
        commit_attack(store, tmp_path / "run", faces, {}, pixels=3, iterations=50,
                      hits={i: i for i in range(25)})
    data = load_run(tmp_path / "run")
    assert set(data.attacks["database"]) == {"unknown"} and set(data.attacks["augment"]) == {"unknown"}
    (table,) = build_tables(data)
    row = table.values.iloc[0]
    assert row["Recall after (%)"] == 75.0 and row["Recall drop (%)"] == 25.0
    assert np.isnan(row["ACC @ 0.5 (%)"]) and table.paper is None
    assert "without an evaluation" in table.caption
