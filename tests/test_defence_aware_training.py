"""Defence-aware training: a model trained through the input transform it is deployed behind sees exactly
the images that transform makes (its weights equal those of a model trained on pre-filtered crops), records
the transform in model.json, and a transform that cannot be trained through is one line."""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pytest
import torch

from fasrobust.defences import create_defence
from fasrobust.errors import ConfigError
from fasrobust.training.trainer import TrainSettings, train
from test_trainer import TINY, make_faceset, weights

COMMON = {**TINY, "batch_size": 8, "eval_every": 4, "checkpoint_every": 0, "steps": 6}


def test_training_through_a_median_equals_training_on_filtered_crops(tmp_path):
    faceset = make_faceset(n=16)
    through = train(TrainSettings(input_transform="median:3", **COMMON), faceset, tmp_path / "through")
    median = create_defence("median", size=3)
    filtered = dataclasses.replace(faceset, images=median.transform(torch.from_numpy(faceset.images)).numpy())
    plain = train(TrainSettings(**COMMON), filtered, tmp_path / "plain")
    unfiltered = train(TrainSettings(**COMMON), faceset, tmp_path / "unfiltered")
    a, b, c = weights(through), weights(plain), weights(unfiltered)
    assert all(torch.equal(a[k], b[k]) for k in a), "it saw exactly the filtered crops"
    assert any(not torch.equal(a[k], c[k]) for k in a), "and not the raw ones"
    info = json.loads((through / "model.json").read_text())
    assert info["input_transform"] == ["median:3"] and "input_transform" not in json.loads(
        (unfiltered / "model.json").read_text())


@pytest.mark.parametrize(("transform", "problem"), [
    ("smooth:sigma=8,n=4", "not a deterministic input transform"),
    ("squeeze:0.2", "not a deterministic input transform"),
    ("median:4", "median"),
    ("nosuch:1", "nosuch"),
])
def test_a_transform_that_cannot_be_trained_through_is_one_line(transform, problem):
    with pytest.raises(ConfigError) as err:
        TrainSettings.build({**COMMON, "input_transform": [transform]})
    assert "input_transform" in str(err.value) and problem in str(err.value) and "\n" not in str(err.value)


class MagentaNet(torch.nn.Module):
    """A network that calls an image live when any pixel is near magenta (logit +4), spoof otherwise (-4):
    isolated magenta pixels fool it bare, and a 3x3 median removes them."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        near = (x[:, 0] > 200) & (x[:, 1] < 60) & (x[:, 2] > 200)
        return torch.where(near.flatten(1).any(dim=1), 4.0, -4.0).unsqueeze(1)


@pytest.mark.parametrize(("attack", "deployed", "fooled"), [
    ("sparse-rs", [], 4),  # isolated pixels fool the bare model ...
    ("sparse-rs", ["median:3"], 0),  # ... and none gets through the median the model is trained behind
    ("patch", ["median:3"], 4),  # a solid square does
])
def test_the_adversary_of_a_defence_aware_model_attacks_the_pipeline_it_is_trained_through(attack, deployed, fooled):
    from fasrobust.defences import defend
    from fasrobust.models.preprocessing import Preprocessing
    from fasrobust.targets.torch_target import TorchTarget
    from fasrobust.training.adversarial import AdversarialPool, AdversarialTraining

    rng = np.random.default_rng(0)
    spoofs = (128 + rng.integers(-10, 11, (4, 12, 12, 3))).astype(np.uint8)
    plain = Preprocessing(1.0, (0.0, 0.0, 0.0), (1.0, 1.0, 1.0))
    settings = AdversarialTraining(attack={"name": attack, "settings": {"pixels": 9, "queries": 200}}, images=4)
    pool = AdversarialPool(settings, spoof_images=spoofs, spoof_ids=np.arange(4), preprocessing=plain, batch_size=8,
                           device=torch.device("cpu"), deployed=deployed)
    record = pool.refresh(MagentaNet().eval(), step=0, round_index=0)
    assert record["fooled"] == fooled
    pipeline = defend(TorchTarget(MagentaNet().eval(), preprocessing=plain, device="cpu"), deployed)
    assert int((pipeline(pool.pool.numpy()) >= 0.5).sum()) == fooled, "the pool is what fooled the pipeline"
