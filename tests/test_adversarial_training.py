"""Adversarial fine-tuning on a tiny synthetic FaceSet (live = bright noise, spoof = dark noise) and the
tiny CNN: it resumes to the same weights and pool, its pool holds real few-pixel adversarials of the
training spoofs, bad schedules are one-line errors, and leaving it off changes nothing."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from safetensors import safe_open

from fasrobust.attacks import ATTACKS, list_attacks
from fasrobust.errors import ConfigError
from fasrobust.training.state import STATE_FILE
from fasrobust.training.trainer import TrainSettings, train
from test_trainer import TINY, log, make_faceset, weights

#: Each registered attack's declared smoke settings: a new attack is tested the moment it exists.
SMALL_BUDGETS = {entry.name: entry.smoke for entry in ATTACKS.entries()}
COMMON = {**TINY, "batch_size": 8, "eval_every": 0, "checkpoint_every": 0}


def adversarial(attack: str, **schedule) -> dict:
    return {"attack": {"name": attack, "settings": SMALL_BUDGETS[attack]}, "start": 2, "every": 3, "images": 6,
            "mix": 0.5, **schedule}


def pool_and_rounds(run) -> tuple[torch.Tensor, list[dict]]:
    with safe_open(str(run / STATE_FILE), framework="pt") as handle:
        meta = json.loads(handle.metadata()["state"])
        return handle.get_tensor("adversarial.pool"), meta["adversarial"]["rounds"]


@pytest.mark.parametrize("attack", list_attacks())
def test_adversarial_fine_tuning_resumes_bit_identically(tmp_path, attack):
    faceset = make_faceset(n=12)
    settings = {**COMMON, "augment": "all", "adversarial": adversarial(attack)}
    straight = train(TrainSettings(steps=9, **settings), faceset, tmp_path / "straight")
    resumed = tmp_path / "resumed"
    # Stopped at step 4: between the rounds at steps 2 and 5, so steps 5.. need the saved pool.
    train(TrainSettings(steps=4, **settings), faceset, resumed)
    train(TrainSettings(steps=9, **settings), faceset, resumed)
    a, b = weights(straight), weights(resumed)
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    (pool_a, rounds_a), (pool_b, rounds_b) = pool_and_rounds(straight), pool_and_rounds(resumed)
    assert torch.equal(pool_a, pool_b) and rounds_a == rounds_b
    assert [r["step"] for r in rounds_a] == [2, 5, 8]
    assert [e["step"] for e in log(resumed) if e["kind"] == "adversarial"] == [2, 5, 8]
    info = json.loads((resumed / "model.json").read_text())["adversarial"]
    assert info["rounds"] == rounds_a and info["settings"]["attack"]["name"] == attack


def test_pool_holds_few_pixel_adversarials_of_the_training_spoofs(tmp_path):
    faceset = make_faceset(n=12)
    # Trained first, so the model calls the dark spoofs spoof and the attack has to change pixels.
    schedule = adversarial("sparse-rs", start=30, every=100, images=8)
    run = train(TrainSettings(steps=31, **{**COMMON, "adversarial": schedule}), faceset, tmp_path / "run")
    pool, rounds = pool_and_rounds(run)
    spoofs = faceset.split("train").images[~faceset.split("train").is_live]
    changed = (pool.numpy()[:, None] != spoofs[None]).any(axis=-1).sum(axis=(2, 3))  # (pool, spoof) pixels
    closest = changed.min(axis=1)
    assert len(pool) == 8 and (closest <= SMALL_BUDGETS["sparse-rs"]["pixels"]).all()
    assert (closest > 0).any()  # the attack wrote pixels; the pool is not just the clean crops
    assert len(set(changed.argmin(axis=1))) == 8  # eight different spoofs were attacked
    info = json.loads((run / "model.json").read_text())["adversarial"]
    assert info["rounds"] == rounds == [{"step": 30, "images": 8, "fooled": rounds[0]["fooled"],
                                         "queries": rounds[0]["queries"]}]
    assert 0 <= rounds[0]["fooled"] <= rounds[0]["images"]
    assert 8 <= rounds[0]["queries"] <= 8 * SMALL_BUDGETS["sparse-rs"]["queries"]
    assert info["totals"] == {k: rounds[0][k] for k in ("images", "fooled", "queries")}


@pytest.mark.parametrize("schedule, message", [
    ({"attack": "nosuch"}, r"adversarial\.attack: .*unknown attack 'nosuch'"),
    ({"attack": {"name": "sparse-rs", "settings": {"pixels": 0}}}, r"adversarial\.attack: .*pixels: .*must lie in"),
    ({"attack": "pixel", "settings": {"pixels": 0}}, r"adversarial\.attack: .*'pixel': pixels: .*must lie in"),
    ({"attack": {"name": "pixel", "settings": {"colour": "red"}}}, r"adversarial\.attack: .*colour: Extra inputs"),
    ({"every": 0}, r"adversarial\.every: .*greater than 0"),
    ({"mix": 1.5}, r"adversarial\.mix: .*less than or equal to 1"),
])
def test_bad_adversarial_settings_are_one_line_config_errors(schedule, message):
    with pytest.raises(ConfigError, match=message) as caught:
        TrainSettings.build({"adversarial": schedule}, source="train.yaml")
    assert "\n" not in str(caught.value)


@pytest.mark.parametrize("schedule, message", [
    ({"images": 13}, r"adversarial\.images: 13 is more than the training split's 12 spoof images"),
    ({"mix": 0.01}, r"adversarial\.mix: 0\.01 of a batch of 8 replaces no sample"),
])
def test_schedules_the_data_cannot_serve_are_one_line_config_errors(tmp_path, schedule, message):
    settings = TrainSettings(steps=3, **{**COMMON, "adversarial": adversarial("sparse-rs", **schedule)})
    with pytest.raises(ConfigError, match=message):
        train(settings, make_faceset(n=12), tmp_path / "run")


def test_adversarial_setting_is_part_of_the_runs_identity(tmp_path):
    run = train(TrainSettings(steps=2, **COMMON), make_faceset(n=12), tmp_path / "run")
    with pytest.raises(ConfigError, match="other settings.*adversarial"):
        train(TrainSettings(steps=4, **{**COMMON, "adversarial": adversarial("sparse-rs")}), make_faceset(n=12), run)


def test_without_adversarial_rounds_training_is_unchanged(tmp_path):
    faceset = make_faceset(n=12)
    common = {**COMMON, "augment": "all", "model_kwargs": {"dropout": 0.3}}
    plain = train(TrainSettings(steps=5, **common), faceset, tmp_path / "plain")
    explicit = train(TrainSettings(steps=5, adversarial=None, **common), faceset, tmp_path / "none")
    # A schedule whose first round would come after the last step: set up, never fired.
    idle = train(TrainSettings(steps=5, adversarial=adversarial("sparse-rs", start=5), **common), faceset,
                 tmp_path / "idle")
    reference = weights(plain)
    for other in (explicit, idle):
        assert all(torch.equal(reference[k], weights(other)[k]) for k in reference)
    plain_info, explicit_info = (json.loads((r / "model.json").read_text()) for r in (plain, explicit))
    assert plain_info.keys() == explicit_info.keys() and "adversarial" not in plain_info
    assert json.loads((idle / "model.json").read_text())["adversarial"]["rounds_run"] == 0
    assert np.array_equal(faceset.images, make_faceset(n=12).images)  # nothing wrote into the data
