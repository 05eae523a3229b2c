"""`evaluate` and `fasrobust evaluate` on a tiny FaceSet scored by a tiny checkpoint whose decision the test
knows: bright crops are live, dark crops are spoof. One spoof type (replay) is bright, so it is missed."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
import torch

from fasrobust.cli import main
from fasrobust.data.faceset import META_COLUMNS, FaceSet
from fasrobust.errors import DataError
from fasrobust.labels import BONA_FIDE
from fasrobust.models import create_model, save_checkpoint
from fasrobust.training.evaluate import evaluate

SIZE = 16
FRAMES = 3
BRIGHT, DARK = 200, 50


def _brightness_model() -> torch.nn.Module:
    """tiny-cnn wired so that its logit grows with the mean brightness and is 0 for mid-grey."""
    model = create_model("tiny-cnn", input_size=SIZE)
    with torch.no_grad():
        for parameter in model.parameters():
            parameter.zero_()
        model.features[0].weight[0].fill_(1 / 27)  # channel 0: local mean of all colours
        model.features[3].weight[0, 0, 1, 1] = 1.0  # passes it on
        model.head[2].weight[0, 0] = 1.0
        model.head[5].weight[0, 0] = 40.0
        grey = torch.full((1, 3, SIZE, SIZE), 0.5)
        model.head[5].bias[0] = -model(grey)[0]  # logit 0 at mid-grey
    return model


@pytest.fixture
def run_dir(tmp_path):
    save_checkpoint(tmp_path / "run", _brightness_model(), {"steps": 0, "seed": 0})
    return tmp_path / "run"


def _faceset(root, videos: list[tuple[str, str, str, int]]) -> FaceSet:
    """videos: (split, label, attack type, brightness); FRAMES frames each, brightness jittered a little."""
    rng = np.random.default_rng(0)
    images, rows = [], []
    for v, (split, label, attack_type, level) in enumerate(videos):
        for frame in range(FRAMES):
            images.append(np.clip(level + rng.integers(-10, 11, (SIZE, SIZE, 3)), 0, 255).astype(np.uint8))
            rows.append({"id": len(rows), "label": label, "attack_type": attack_type, "subject": str(v % 2),
                         "split": split, "source": f"{split}/video{v}.mov", "frame": frame, "box_x": 0,
                         "box_y": 0, "box_w": SIZE, "box_h": SIZE, "detector": "annotations"})
    faceset = FaceSet(np.stack(images), pd.DataFrame(rows, columns=list(META_COLUMNS)), {"database": "test"})
    return FaceSet.load(faceset.write(root))


def _videos(split: str, with_replay: bool = True) -> list[tuple[str, str, str, int]]:
    out = [(split, "live", BONA_FIDE, BRIGHT), (split, "live", BONA_FIDE, BRIGHT - 20),
           (split, "spoof", "print", DARK), (split, "spoof", "print", DARK + 20)]
    return out + [(split, "spoof", "replay", BRIGHT)] if with_replay else out


def test_metrics_json_has_every_metric_with_its_threshold_source(tmp_path, run_dir):
    faces = _faceset(tmp_path / "faces", _videos("train", False) + _videos("dev", False) + _videos("test"))
    record = evaluate(run_dir, faces)
    written = json.loads((run_dir / "metrics.json").read_text())
    assert written["metrics"] == record["metrics"]
    assert record["threshold_source"] == "EER on dev" and record["threshold_warning"] is False
    for level, n in (("frame", FRAMES), ("video", 1)):
        metrics = record["metrics"][level]
        assert metrics["accuracy"]["value"] == pytest.approx(4 / 5)  # the bright replay video is missed
        assert metrics["recall"]["value"] == pytest.approx(2 / 3)
        assert metrics["precision"]["value"] == 1.0
        assert metrics["apcer_per_type_fixed"]["value"] == {"print": 0.0, "replay": 1.0}
        assert metrics["hter_eer"]["value"] == pytest.approx((1 / 3 + 0) / 2)  # dev separates perfectly
        assert metrics["hter_eer"]["source"] == "EER on dev"
        assert metrics["recall"]["source"] == "fixed 0.5" and metrics["recall"]["threshold"] == 0.5
        for name in ("eer", "eer_test", "auc", "far_eer", "frr_eer", "apcer_eer", "bpcer_eer", "acer_eer",
                     "far_fixed", "frr_fixed", "hter_fixed", "apcer_fixed", "bpcer_fixed", "acer_fixed"):
            assert metrics[name]["source"] and "value" in metrics[name]
        assert record["counts"][level]["test"] == {"live": 2 * n, "spoof": 3 * n}
    assert record["model"]["model"] == "tiny-cnn" and record["faceset"]["threshold_split"] == "dev"


def test_without_dev_the_threshold_comes_from_train_and_says_so(tmp_path, run_dir):
    faces = _faceset(tmp_path / "faces", _videos("train", False) + _videos("test"))
    record = evaluate(run_dir, faces, out=tmp_path / "elsewhere")
    assert (tmp_path / "elsewhere" / "metrics.json").is_file() and not (run_dir / "metrics.json").exists()
    assert record["threshold_source"] == "EER on train (no dev split)" and record["threshold_warning"] is True
    assert record["metrics"]["frame"]["hter_eer"]["source"] == "EER on train (no dev split)"


def test_a_split_missing_a_class_is_a_one_line_error(tmp_path, run_dir):
    only_live = [v for v in _videos("test") if v[1] == "live"]
    faces = _faceset(tmp_path / "faces", _videos("dev") + only_live)
    with pytest.raises(DataError, match="split 'test' has no spoof images") as caught:
        evaluate(run_dir, faces)
    assert "\n" not in str(caught.value)


def test_cli_prints_the_table_and_the_path(tmp_path, run_dir, capsys):
    faces = _faceset(tmp_path / "faces", _videos("dev", False) + _videos("test"))
    with pytest.raises(SystemExit) as done:
        main(["evaluate", str(run_dir), "--faceset", str(faces.root)])
    assert done.value.code in (0, None)
    out = capsys.readouterr().out
    assert "APCER replay" in out and "EER on dev" in out and "fixed 0.5" in out
    assert out.strip().splitlines()[-1] == str(run_dir / "metrics.json")


def test_cli_error_for_a_missing_class_and_a_wrong_crop_size(tmp_path, run_dir, capsys):
    faces = _faceset(tmp_path / "faces", [v for v in _videos("test") if v[1] == "spoof"])
    with pytest.raises(SystemExit) as done:
        main(["evaluate", str(run_dir), "--faceset", str(faces.root)])
    assert done.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1].startswith("fasrobust: error: ") and "has no live images" in err[-1]
    small = FaceSet(faces.images[:, :8, :8], faces.meta, {}).write(tmp_path / "small")
    with pytest.raises(SystemExit):
        main(["evaluate", str(run_dir), "--faceset", str(small)])
    assert "crops are 8x8 but the model" in capsys.readouterr().err
