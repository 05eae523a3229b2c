"""The steps-based trainer on tiny synthetic FaceSets built here (live = bright noise, spoof = dark
noise): it learns, resumes to the same weights, stops cleanly on divergence, refuses impossible
settings, imports ImageNet weights under a freeze policy, and runs from the command line."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
import torch
from safetensors.torch import load_file

from fasrobust.cli import main
from fasrobust.data.faceset import META_COLUMNS, FaceSet
from fasrobust.errors import ConfigError, DataError
from fasrobust.models import load_checkpoint
from fasrobust.models.vgg import vgg16_parameter_shapes
from fasrobust.training.trainer import TrainingDiverged, TrainSettings, train

TINY = {"model": "tiny-cnn", "batch_size": 16, "lr": 0.05, "eval_every": 10, "checkpoint_every": 10}


def make_faceset(n: int = 24, size: int = 16, seed: int = 0, splits=("train", "dev"), labels=("live", "spoof")):
    """n images per split and label: live pixels drawn from 140..255, spoof from 0..115."""
    rng = np.random.default_rng(seed)
    rows, images = [], []
    for split in splits:
        for label in labels:
            low, high = (140, 256) if label == "live" else (0, 116)
            for i in range(n):
                images.append(rng.integers(low, high, (size, size, 3), dtype=np.uint8))
                rows.append({"id": len(rows), "label": label, "attack_type": "bona_fide" if label == "live" else "print",
                             "subject": str(i % 3), "split": split, "source": f"{split}/{label}/{i}.mov", "frame": 0,
                             "box_x": 0, "box_y": 0, "box_w": size, "box_h": size, "detector": "annotations"})
    return FaceSet(np.stack(images), pd.DataFrame(rows, columns=list(META_COLUMNS)), {"name": "synthetic"})


def weights(run) -> dict[str, torch.Tensor]:
    return load_file(str(run / "model.safetensors"))


def log(run) -> list[dict]:
    return [json.loads(line) for line in (run / "train_log.jsonl").read_text().splitlines()]


def test_trainer_learns_bright_live_vs_dark_spoof(tmp_path):
    run = train(TrainSettings(steps=40, **TINY), make_faceset(), tmp_path / "run")
    evals = [e for e in log(run) if e["kind"] == "eval"]
    assert [e["step"] for e in evals] == [10, 20, 30, 40]
    assert evals[-1]["dev_accuracy"] >= 0.9
    checkpoint = load_checkpoint(run)
    dev = make_faceset(seed=1).split("dev")
    x = checkpoint.preprocessing.apply(torch.from_numpy(dev.images).permute(0, 3, 1, 2).float())
    with torch.no_grad():
        scores = torch.sigmoid(checkpoint.model(x)).numpy()
    assert ((scores >= 0.5) == dev.is_live).mean() >= 0.9  # unseen images, P(live) >= 0.5 called live
    info = checkpoint.info
    assert info["steps"] == 40 and info["imagenet_weights"] == "none (trained from scratch)"
    assert info["freeze"] == "none" and info["preprocessing"]["mean"] == [0.0, 0.0, 0.0]
    assert len(info["training_data"]["train_sha256"]) == 64 and info["augmentation"]["setting"] == "none"
    resolved = TrainSettings.load(run / "config.yaml")
    assert resolved.model_kwargs == {"input_size": 16} and resolved.preprocessing == "lucena"


def test_interrupted_then_resumed_run_ends_with_the_same_weights(tmp_path):
    faceset = make_faceset()
    common = {**TINY, "augment": "all", "model_kwargs": {"dropout": 0.3}, "optimizer": "adam", "lr": 0.01}
    straight = train(TrainSettings(steps=6, **common), faceset, tmp_path / "straight")
    resumed = tmp_path / "resumed"
    train(TrainSettings(steps=3, **common), faceset, resumed)
    train(TrainSettings(steps=6, **common), faceset, resumed)
    a, b = weights(straight), weights(resumed)
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    assert [e["step"] for e in log(resumed) if e["kind"] == "train"] == [3, 6]
    assert json.loads((resumed / "model.json").read_text())["steps"] == 6


def test_resume_refuses_other_settings_or_data(tmp_path):
    run = train(TrainSettings(steps=2, **TINY), make_faceset(), tmp_path / "run")
    with pytest.raises(ConfigError, match="other settings.*lr"):
        train(TrainSettings(steps=4, **{**TINY, "lr": 0.5}), make_faceset(), run)
    with pytest.raises(ConfigError, match="other data"):
        train(TrainSettings(steps=4, **TINY), make_faceset(seed=7), run)


def test_diverging_loss_stops_with_one_line_and_keeps_last_good_checkpoint(tmp_path):
    settings = TrainSettings(steps=30, **{**TINY, "lr": 1e30, "checkpoint_every": 1})
    with pytest.raises(TrainingDiverged, match=r"loss became nan at step \d+ .*last good checkpoint") as caught:
        train(settings, make_faceset(), tmp_path / "run")
    assert "\n" not in str(caught.value)
    checkpoint = load_checkpoint(tmp_path / "run")  # still loads, and only finite weights were kept
    assert all(torch.isfinite(p).all() for p in checkpoint.model.parameters())
    assert log(tmp_path / "run")[-1]["kind"] == "diverged"


@pytest.mark.parametrize("settings, faceset, error, message", [
    ({"batch_size": 100}, {}, ConfigError, "batch_size: 100 is larger than the training split"),
    ({}, {"labels": ("live",)}, DataError, "no spoof images"),
    ({}, {"splits": ("dev",)}, DataError, "no images in split 'train'"),
    ({"model_kwargs": {"input_size": 32}}, {}, ConfigError, "prepare the FaceSet at the model's size"),
    ({"model": "fasnet", "freeze": "lucena-3conv"}, {"size": 16}, ConfigError, "input_size >= 32"),
])
def test_impossible_settings_are_one_line_errors(tmp_path, settings, faceset, error, message):
    with pytest.raises(error, match=message) as caught:
        train(TrainSettings(steps=5, **{**TINY, **settings}), make_faceset(**faceset), tmp_path / "run")
    assert "\n" not in str(caught.value)


@pytest.mark.parametrize("data, message", [
    ({"steps": 0}, "steps: Input should be greater than 0"),
    ({"model": "resnet"}, "unknown model 'resnet'"),
    ({"augment": "blur"}, "unknown augmentation 'blur'"),
    ({"optimizer": "rmsprop"}, "optimizer"),
    ({"model_kwargs": {"freeze": "none"}}, "top-level 'freeze'"),
])
def test_bad_settings_are_config_errors(data, message):
    with pytest.raises(ConfigError, match=message):
        TrainSettings.build(data, source="train.yaml")


def test_imagenet_weights_train_only_the_unfrozen_layers(tmp_path):
    generator = torch.Generator().manual_seed(0)
    state = {k: torch.randn(s, generator=generator) * 0.05 for k, s in vgg16_parameter_shapes().items()}
    torch.save(state, tmp_path / "vgg16.pth")
    settings = TrainSettings(model="fasnet", imagenet_weights=tmp_path / "vgg16.pth", steps=2, batch_size=4,
                             eval_every=0, checkpoint_every=0, lr=0.01)
    run = train(settings, make_faceset(n=4, size=32, splits=("train",)), tmp_path / "run")
    trained, info = weights(run), load_checkpoint(run).info
    assert info["freeze"] == "ftweights-7conv" and info["imagenet_weights"]["tensors"] == 26
    assert info["preprocessing"]["std"] == [0.229, 0.224, 0.225]  # ImageNet filters get ImageNet inputs
    assert torch.equal(trained["features.14.weight"], state["features.14.weight"])  # conv3_3: frozen
    assert not torch.equal(trained["features.17.weight"], state["features.17.weight"])  # conv4_1: trained


def test_cli_trains_resumes_and_exports(tmp_path, capsys):
    make_faceset().write(tmp_path / "faces")
    args = ["train", "--faceset", str(tmp_path / "faces"), "--out", str(tmp_path / "run"), "--model", "tiny-cnn",
            "--steps", "4", "--batch-size", "8", "--seed", "5", "--augment", "flip"]
    with pytest.raises(SystemExit) as done:
        main(args)
    assert done.value.code == 0 and (tmp_path / "run" / "model.safetensors").is_file()
    assert capsys.readouterr().out.strip() == str(tmp_path / "run")
    (tmp_path / "train.yaml").write_text("model: tiny-cnn\nbatch_size: 8\nseed: 5\naugment: flip\nsteps: 2\n")
    with pytest.raises(SystemExit) as done:  # the config file plus an override resumes the same run
        main(["train", "--faceset", str(tmp_path / "faces"), "--out", str(tmp_path / "run"),
              "--config", str(tmp_path / "train.yaml"), "--steps", "6"])
    assert done.value.code == 0 and load_checkpoint(tmp_path / "run").info["steps"] == 6
    with pytest.raises(SystemExit) as done:
        main(args[:-2] + ["--augment", "spin"])
    assert done.value.code == 2
    assert capsys.readouterr().err.strip().splitlines()[-1].startswith("fasrobust: error: command line: augment:")
    pytest.importorskip("onnxruntime")
    with pytest.raises(SystemExit) as done:
        main(["export", str(tmp_path / "run"), "--onnx", str(tmp_path / "model.onnx")])
    assert done.value.code == 0 and (tmp_path / "model.onnx").is_file()
