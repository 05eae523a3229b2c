"""What `fasrobust train` does without being told: an optimizer that learns from scratch (Adam 1e-4) and
the paper's SGD on ImageNet weights, both recorded; a one-line warning when the model ends at chance;
and a run directory that still finds its FaceSet after it is moved and used from another folder."""

from __future__ import annotations

import json
import shutil

import pytest

from fasrobust.cli import main
from fasrobust.models.checkpoint import read_info, recorded_faceset
from fasrobust.training.loop import chance_warning
from fasrobust.training.train_settings import OptimizerName, TrainSettings
from fasrobust.training.trainer import train
from test_trainer import TINY, make_faceset


def test_auto_optimizer_is_adam_from_scratch_and_the_papers_sgd_on_imagenet_weights():
    settings = TrainSettings()
    assert settings.optimizer is OptimizerName.AUTO and settings.lr is None
    assert settings.resolved_optimizer(pretrained=False)[:2] == (OptimizerName.ADAM, 1e-4)
    assert settings.resolved_optimizer(pretrained=True)[:2] == (OptimizerName.SGD, 1e-3)
    assert TrainSettings(optimizer="sgd").resolved_optimizer(pretrained=False)[:2] == (OptimizerName.SGD, 1e-3)
    assert TrainSettings(lr=0.01).resolved_optimizer(pretrained=False)[:2] == (OptimizerName.ADAM, 0.01)


def test_the_resolved_optimizer_is_recorded_in_model_json_and_config(tmp_path):
    run = train(TrainSettings(model="tiny-cnn", steps=2, batch_size=8, eval_every=0), make_faceset(), tmp_path / "run")
    info = read_info(run)
    assert (info["optimizer"], info["lr"]) == ("adam", 1e-4)
    assert info["optimizer_choice"].startswith("auto: Adam")
    assert "optimizer: adam" in (run / "config.yaml").read_text()


@pytest.mark.parametrize(("accuracy", "n", "warned"), [(0.5, 480, True), (0.53, 480, True), (0.6, 480, False),
                                                       (0.9, 20, False), (0.6, 20, True)])
def test_chance_warning_when_the_dev_accuracy_does_not_clear_the_larger_class(accuracy, n, warned):
    last = {"step": 300, "dev_accuracy": accuracy, "n": n, "majority_share": 0.5}
    message = chance_warning(last, TrainSettings(optimizer="sgd", lr=1e-3))
    assert (message is not None) is warned
    if warned:
        assert "at chance" in message and "--lr (0.001)" in message and "--optimizer (sgd)" in message


def test_a_model_left_at_chance_is_warned_about_in_one_line_and_recorded(tmp_path, capsys):
    faces = make_faceset()
    faces.write(tmp_path / "faces")
    code = _cli(["train", "--faceset", str(tmp_path / "faces"), "--out", str(tmp_path / "stuck"), "--model", "tiny-cnn",
                 "--steps", "2", "--batch-size", "8", "--lr", "1e-9", "--optimizer", "sgd"])
    err = capsys.readouterr().err
    assert code == 0
    lines = [line for line in err.splitlines() if "at chance" in line]
    assert len(lines) == 1 and lines[0].startswith("warning: dev accuracy"), err
    assert "at chance" in read_info(tmp_path / "stuck")["chance_warning"]

    learnt = train(TrainSettings(steps=40, **TINY), faces, tmp_path / "learnt")
    assert read_info(learnt)["chance_warning"] is None


def test_a_moved_run_directory_finds_its_faceset_from_any_folder(tmp_path, monkeypatch):
    """A FaceSet inside the run is recorded relative to model.json; the run moves as one folder."""
    run = tmp_path / "runs" / "demo"
    faces = make_faceset(splits=("train", "dev", "test"))
    faces.write(run / "facesets" / "tiny")
    model_dir = train(TrainSettings(model="tiny-cnn", steps=2, batch_size=8), faces.load(run / "facesets" / "tiny"),
                      run / "models" / "tiny" / "none", run_root=run)
    assert read_info(model_dir)["training_data"]["faceset"] == "../../../facesets/tiny"
    moved = tmp_path / "elsewhere" / "demo"
    shutil.move(run, moved)
    monkeypatch.chdir(tmp_path / "elsewhere")
    assert recorded_faceset(moved / "models" / "tiny" / "none") == (moved / "facesets" / "tiny").resolve()

    other = tmp_path / "another"
    other.mkdir()
    monkeypatch.chdir(other)
    code = _cli(["attack", str(moved / "models" / "tiny" / "none"), "--attack", "sparse-rs", "--pixels", "1",
                 "--queries", "4", "--limit", "2"])
    assert code == 0
    assert (moved / "models" / "tiny" / "none" / "results.sqlite").is_file()


def test_a_faceset_outside_the_run_is_recorded_absolute_and_old_relative_records_still_load(tmp_path, monkeypatch):
    faces = make_faceset()
    faces.write(tmp_path / "faces")
    run = train(TrainSettings(model="tiny-cnn", steps=1, batch_size=8, eval_every=0), faces.load(tmp_path / "faces"),
                tmp_path / "run")
    recorded = read_info(run)["training_data"]["faceset"]
    assert recorded == str((tmp_path / "faces").resolve())

    # Before paths were recorded relative to model.json, they were relative to the folder of the command.
    info = json.loads((run / "model.json").read_text())
    info["training_data"]["faceset"] = "faces"
    (run / "model.json").write_text(json.dumps(info))
    monkeypatch.chdir(tmp_path)
    assert recorded_faceset(run) == (tmp_path / "faces").resolve()


def _cli(argv: list[str]) -> int:
    try:
        main(argv)
    except SystemExit as exit_:
        return int(exit_.code or 0)
    return 0
