"""`python:package.module:function`: any callable from uint8 NHWC batches to scores is a target. Scores and
attack results equal the same weights in PyTorch; a callable that answers the wrong thing is one line."""

from __future__ import annotations

import textwrap

import numpy as np
import pytest

from fasrobust.errors import TargetError
from fasrobust.targets import PythonTarget, load_target
from target_models import Net, attack_signature, pick_images, reference

MODULE = '''
import numpy as np
import torch

from target_models import SCALE, Net

_net = Net().eval()


def score(batch):
    """P(live) of the test net, from uint8 NHWC RGB."""
    x = torch.from_numpy(np.asarray(batch)).permute(0, 3, 1, 2).to(torch.float32)
    x.mul_(SCALE)
    with torch.no_grad():
        return torch.sigmoid(_net(x)[:, 0]).numpy()


def spoof(batch):
    return 1 - score(batch)


def bgr_score(batch):
    return score(np.asarray(batch)[..., ::-1].copy())


def wrong_shape(batch):
    return np.zeros((len(batch), 2))


def words(batch):
    return ["live"] * len(batch)


def scribbles(batch):
    batch[0, 0, 0] = 0
    return score(batch)
'''


@pytest.fixture
def user_module(tmp_path, monkeypatch):
    """A module of the user's own in the current directory, as `python:my_liveness:score` finds it."""
    (tmp_path / "my_liveness.py").write_text(textwrap.dedent(MODULE))
    monkeypatch.chdir(tmp_path)
    monkeypatch.syspath_prepend(str(tmp_path))
    yield "my_liveness"


def test_callable_scores_and_attacks_like_the_torch_model(user_module, rng):
    want = reference(Net())
    images = pick_images(want, rng)
    with load_target(f"python:{user_module}:score") as target:
        assert isinstance(target, PythonTarget)
        assert np.max(np.abs(target(images) - want(images))) < 1e-6
        assert target.describe()["adapter"] == "python" and target.describe()["threshold"] == 0.5
        assert attack_signature(target, images) == attack_signature(want, images)


def test_contract_direction_and_channels_apply(user_module, rng):
    want = reference(Net())
    images = pick_images(want, rng)
    spoof = load_target(f"python:{user_module}:spoof", {"output": {"spoof_score": True}})
    assert np.max(np.abs(spoof(images) - want(images))) < 1e-6
    bgr = load_target(f"python:{user_module}:bgr_score", {"input": {"channels": "bgr"}})
    assert np.max(np.abs(bgr(images) - want(images))) < 1e-6


@pytest.mark.parametrize(("function", "stated", "fix"), [
    ("wrong_shape", {}, "must return (3,) scores"),
    ("words", {}, "not numbers"),
    ("score", {"input": {"layout": "nchw"}}, "--layout does not apply"),
    ("absent", {}, "no callable 'absent'"),
])
def test_wrong_answers_are_one_line(user_module, function, stated, fix, rng):
    images = rng.integers(0, 256, (3, 8, 8, 3), dtype=np.uint8)
    with pytest.raises(TargetError) as info:
        load_target(f"python:{user_module}:{function}", stated)(images)
    message = str(info.value)
    assert fix in message and "\n" not in message and user_module in message


def test_a_callable_that_writes_into_its_batch_changes_nothing(user_module, rng):
    images = rng.integers(1, 256, (3, 8, 8, 3), dtype=np.uint8)
    before = images.copy()
    first = load_target(f"python:{user_module}:scribbles")(images)
    assert np.array_equal(images, before) and first.shape == (3,)


def test_unimportable_module_is_one_line():
    with pytest.raises(TargetError, match="cannot import module 'no_such_module_here'"):
        load_target("python:no_such_module_here:score")
    with pytest.raises(TargetError, match="package.module:function"):
        load_target("python:just_a_module")
