"""`fasrobust attack` end to end on a real (tiny) checkpoint and FaceSet built here: recall lines printed,
rows in results.sqlite, PNGs that re-verify, a second run that resumes instead of redoing; bad input
as one line."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch

from fasrobust.attacks.verify import decode_png
from fasrobust.cli import main
from fasrobust.data.faceset import META_COLUMNS, FaceSet
from fasrobust.experiments.store import ResultsStore
from fasrobust.models import create_model
from fasrobust.models.checkpoint import save_checkpoint
from fasrobust.targets.torch_target import TorchTarget

SIZE = 16


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A FaceSet (test split: 8 spoofs, 2 lives) and a tiny-cnn checkpoint made sensitive to its input
    (an untrained net's outputs are nearly constant, so the last layer is scaled up) with its output bias
    set so that every test image sits below P(live) = 0.5, the closest just below: 9 pixels can flip some."""
    root = tmp_path_factory.mktemp("cli")
    rng = np.random.default_rng(0)
    images = rng.integers(40, 200, (12, SIZE, SIZE, 3), dtype=np.uint8)
    rows = [dict(id=i, label="live" if i % 5 == 4 else "spoof", attack_type="bona_fide" if i % 5 == 4 else "replay",
                 subject=f"s{i % 3}", split="test" if i < 10 else "train", source=f"clip{i // 3}.mov", frame=i,
                 box_x=0, box_y=0, box_w=SIZE, box_h=SIZE, detector="test") for i in range(12)]
    faces = FaceSet(images, pd.DataFrame(rows, columns=META_COLUMNS), {"database": "unit"})
    faces.write(root / "faces")
    torch.manual_seed(0)
    model = create_model("tiny-cnn", input_size=SIZE).eval()
    target = TorchTarget(model, input_size=SIZE, device="cpu")
    with torch.no_grad():
        model.head[-1].weight *= 300.0
        logits = torch.logit(torch.as_tensor(target(images[:10])).clamp(1e-9, 1 - 1e-9))
        model.head[-1].bias -= float(logits.max()) + 0.05
    save_checkpoint(root / "run", model, {"training_data": {"faceset": str(root / "faces")}})
    return root


def run_cli(capsys, *argv) -> tuple[int, str, str]:
    with pytest.raises(SystemExit) as exit_:
        main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return exit_.value.code or 0, out, err


def test_attack_prints_recall_stores_rows_and_writes_pngs_that_reverify(trained, capsys):
    run = trained / "run"
    code, out, err = run_cli(capsys, "attack", run, "--pixels", 9, "--iterations", 6, "--population", 24,
                             "--shard-size", 3, "--seed", 1)
    assert code == 0, err
    lines = dict(line.split(": ", 1) for line in out.splitlines() if line.startswith("recall"))
    before, after, drop = (float(lines[k].split()[0].rstrip("%")) for k in ("recall before", "recall after",
                                                                             "recall drop"))
    assert "95% CI" in lines["recall after"] and "median queries to success" in out
    assert before == 100.0 and after < 100.0 and drop == pytest.approx(before - after, abs=0.02)
    with ResultsStore(run / "results.sqlite") as store:
        rows = store.attacks()
        assert len(rows) == 8 and set(rows["attack_type"]) == {"replay"} and len(store.jobs("attack")) == 3
    wins = rows[rows["success"]]
    assert len(wins) >= 1 and wins["verified"].eq(1).all()
    target = TorchTarget.from_checkpoint(run, device="cpu")
    adversarial = np.stack([decode_png((run / png).read_bytes()) for png in wins["png"]])
    assert (target(adversarial) >= 0.5).all(), "every stored PNG is still called live"
    generations = rows["extra"].map(lambda e: e["generations"])
    assert (rows["attack"] == "pixel").all() and (rows["threshold"] == 0.5).all()
    assert (rows["queries"] == 1 + 24 * (generations + 1)).all() and (rows["query_budget"] == 1 + 24 * 7).all()

    # The same command again resumes: nothing is attacked twice, the rows stay as they were.
    code, out, err = run_cli(capsys, "attack", "--run", run, "--pixels", 9, "--iterations", 6, "--population", 24,
                             "--shard-size", 3, "--seed", 1)
    assert code == 0 and "0 shard(s) run, 3 already done" in out
    with ResultsStore(run / "results.sqlite") as store:
        pd.testing.assert_frame_equal(store.attacks().drop(columns="wall_s"), rows.drop(columns="wall_s"))


def test_labels_all_and_limit_with_an_explicit_faceset_and_out(trained, capsys, tmp_path):
    code, out, err = run_cli(capsys, "attack", trained / "run", "--faceset", trained / "faces", "--labels", "all",
                             "--limit", 4, "--pixels", 1, "--iterations", 2, "--population", 8,
                             "--out", tmp_path / "out")
    assert code == 0, err
    with ResultsStore(tmp_path / "out" / "results.sqlite") as store:
        assert len(store.attacks()) == 4


@pytest.mark.parametrize(("args", "expected"), [
    (["--pixels", 0], "pixels"),
    (["--iterations", 0], "iterations"),
    (["--population", 3], "population"),
    (["--f", "x"], "f:"),
    (["--cr", 1.5], "cr:"),
    (["--attack", "nope"], "unknown attack 'nope'"),
    (["--attack", "sparse-rs", "--population", 4], "--population is a setting of pixel, not of --attack sparse-rs"),
    (["--split", "dev"], "no images in split 'dev'"),
    (["--labels", "both"], "label selection"),
    (["--defence", "meadian:3"], "unknown defence 'meadian'"),
    (["--defence", "jpeg:0"], "quality"),
    (["--defence", "eot:2", "--defence", "median:3"], "eot"),
])
def test_bad_options_are_one_line_errors(trained, capsys, tmp_path, args, expected):
    code, out, err = run_cli(capsys, "attack", trained / "run", "--out", tmp_path, *args)
    assert code == 2 and expected in err and len(err.strip().splitlines()) == 1


def test_sparse_rs_attacks_stores_and_resumes_like_the_de(trained, capsys):
    run = trained / "run"
    args = ["attack", run, "--attack", "sparse-rs", "--pixels", 9, "--queries", 60, "--limit", 6, "--shard-size", 3]
    code, out, err = run_cli(capsys, *args)
    assert code == 0, err
    assert "recall before" in out and "median queries to success" in out
    with ResultsStore(run / "results.sqlite") as store:
        rows = store.attacks()
    rows = rows[rows["attack"] == "sparse-rs"]
    assert len(rows) == 6 and (rows["query_budget"] == 60).all() and (rows["queries"] <= 60).all()
    assert rows["settings"].map(lambda s: s["pixels"]).eq(9).all()
    code, out, _ = run_cli(capsys, *args)
    assert code == 0 and "0 shard(s) run, 2 already done" in out


def test_bad_targets_are_one_line_errors(trained, capsys, tmp_path):
    code, _, err = run_cli(capsys, "attack", tmp_path, "--faceset", trained / "faces")
    assert code == 2 and "model.json" in err and len(err.strip().splitlines()) == 1
    code, _, err = run_cli(capsys, "attack", trained / "run", "--onnx", tmp_path / "m.onnx")
    assert code == 2 and "exactly one target" in err
    code, _, err = run_cli(capsys, "attack", "--url", "http://127.0.0.1:9", "--faceset", trained / "faces")
    assert code == 2 and "--out" in err


def test_a_defended_attack_is_stored_apart_and_every_png_reverifies_through_the_pipeline(trained, capsys, tmp_path):
    """`--defence median:3 --defence bits:5`: the attack queries the whole pipeline; its shards are not the
    undefended ones (a re-run of the undefended attack resumes nothing of it); each success's PNG is live
    through the same pipeline."""
    from fasrobust.defences import defend, parse_stack

    out = tmp_path / "defended"
    args = ["attack", trained / "run", "--attack", "sparse-rs", "--pixels", 9, "--queries", 120, "--out", out,
            "--shard-size", 4]
    code, _, err = run_cli(capsys, *args, "--defence", "median:3", "--defence", "bits:5")
    assert code == 0, err
    code, printed, err = run_cli(capsys, *args)
    assert code == 0 and "2 shard(s) run, 0 already done" in printed, err
    with ResultsStore(out / "results.sqlite") as store:
        jobs, rows = store.jobs("attack"), store.attacks()
    stacks = {j: s.get("defences", []) for j, s in zip(jobs["job_id"], jobs["settings"], strict=True)}
    defended = rows[[bool(stacks[j]) for j in rows["job_id"]]]
    assert len(defended) == 8
    assert {tuple(d["name"] for d in stacks[j]) for j in defended["job_id"]} == {("median", "bits")}
    pipeline = defend(TorchTarget.from_checkpoint(trained / "run"), parse_stack(["median:3", "bits:5"]))
    fooled = defended[defended["success"] & ~defended["already_live"]]
    assert len(fooled) >= 1, "the pipeline should still be attackable here: 9 pixels vs a near-threshold model"
    for row in fooled.itertuples():
        image = decode_png((out / row.png).read_bytes())
        assert pipeline(image[None])[0] >= 0.5
