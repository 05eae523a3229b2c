"""TorchTarget: the scores an attack sees are exactly the model's P(live) on the normalised pixels; eval
mode is enforced; queries are counted exactly; chunking never changes a score. Also check_target."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import torch
from torch import nn

from fasrobust.errors import TargetError
from fasrobust.models import PRESETS, PreprocessingPreset, create_model, save_checkpoint
from fasrobust.targets import QueryBudgetExceeded, Target, TorchTarget, check_target, load_target
from fasrobust.targets.torch_target import CPU_MAX_BATCH, auto_max_batch

SIZE = 16
IMAGENET = PRESETS[PreprocessingPreset.IMAGENET]


@pytest.fixture
def model() -> nn.Module:
    torch.manual_seed(0)
    return create_model("tiny-cnn", input_size=SIZE).eval()


@pytest.fixture
def images(rng) -> np.ndarray:
    batch = rng.integers(0, 256, (9, SIZE, SIZE, 3), dtype=np.uint8)
    batch[0], batch[1] = 0, 255  # the extremes an attack can write
    return batch


def by_hand(module: nn.Module, images: np.ndarray, scale, mean, std) -> np.ndarray:
    x = torch.from_numpy(images).permute(0, 3, 1, 2).double()
    x = (x * scale - torch.tensor(mean).view(1, 3, 1, 1)) / torch.tensor(std).view(1, 3, 1, 1)
    with torch.no_grad():
        return torch.sigmoid(module(x.float()).double()).numpy()


@pytest.mark.parametrize("preset", [PreprocessingPreset.LUCENA, PreprocessingPreset.IMAGENET])
def test_scores_are_sigmoid_of_model_on_normalised_pixels(model, images, preset):
    pre = PRESETS[preset]
    target = TorchTarget(model, preprocessing=pre.to_dict(), input_size=SIZE)
    scores = target(images)
    assert scores.dtype == np.float64 and scores.shape == (len(images),)
    np.testing.assert_allclose(scores, by_hand(model, images, pre.scale, pre.mean, pre.std), atol=1e-6)
    assert scores.std() > 0  # the images really give different answers


def test_probability_and_softmax2_outputs(images):
    torch.manual_seed(1)
    features = nn.Sequential(nn.Flatten(), nn.Linear(SIZE * SIZE * 3, 2)).eval()
    two = TorchTarget(features, output="softmax2", live_index=0)
    x = torch.from_numpy(images).permute(0, 3, 1, 2).float() / 255
    with torch.no_grad():
        want = torch.softmax(features(x), dim=1)[:, 0].double().numpy()
    np.testing.assert_allclose(two(images), want, atol=1e-6)

    head = nn.Sequential(nn.Flatten(), nn.Linear(SIZE * SIZE * 3, 1), nn.Sigmoid()).eval()
    with torch.no_grad():
        want = head(x)[:, 0].double().numpy()
    np.testing.assert_allclose(TorchTarget(head, output="probability")(images), want, atol=1e-6)

    with pytest.raises(TargetError, match="softmax2"):
        TorchTarget(head, output="softmax2")(images)
    with pytest.raises(TargetError, match="unknown model output"):
        TorchTarget(head, output="logits")


def test_train_mode_is_switched_off_with_a_warning_and_guarded(images):
    torch.manual_seed(2)
    module = create_model("tiny-cnn", input_size=SIZE, dropout=0.5).train()
    with pytest.warns(RuntimeWarning, match="train mode"):
        target = TorchTarget(module)
    assert not any(m.training for m in module.modules())
    np.testing.assert_array_equal(target(images), target(images))  # dropout is off

    module.head[4].train()  # someone flips one submodule back
    with pytest.raises(TargetError, match="train mode"):
        target(images)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # an eval-mode module is taken without a warning
        TorchTarget(module.eval())


def test_queries_counted_exactly_for_numpy_and_tensor_input(model, images):
    target = TorchTarget(model, max_batch=4)
    target(images[:5])
    out = target(torch.from_numpy(images[:7]))
    assert isinstance(out, torch.Tensor) and out.dtype == torch.float32 and out.device == target.device
    assert target.queries == 12
    target.reset_queries()
    assert target.queries == 0


def test_chunking_and_layout_do_not_change_scores(model, images):
    whole = TorchTarget(model, max_batch=100, preprocessing=IMAGENET)(images)
    for options in ({"max_batch": 1}, {"max_batch": 4}, {"channels_last": False, "max_batch": 3}):
        np.testing.assert_allclose(TorchTarget(model, preprocessing=IMAGENET, **options)(images), whole,
                                   atol=1e-6)


def test_query_budget_refuses_the_call_that_would_exceed_it(model, images):
    target = TorchTarget(model, query_budget=10)
    target(images[:8])
    with pytest.raises(QueryBudgetExceeded, match="budget of 10"):
        target(images[:3])
    assert target.queries == 8
    target(images[:2])
    assert target.queries == 10


def test_input_contract_is_checked(model, images):
    target = TorchTarget(model, input_size=SIZE)
    with pytest.raises(TargetError, match="16x16"):
        target(np.zeros((2, 8, 8, 3), np.uint8))
    with pytest.raises(TargetError, match="uint8"):
        target(images.astype(np.float32))
    with pytest.raises(TargetError, match="Module"):
        TorchTarget(lambda x: x)


def test_auto_max_batch():
    assert TorchTarget(nn.Linear(3, 1).eval()).max_batch == CPU_MAX_BATCH
    assert auto_max_batch(torch.device("cuda"), 64) == 4096
    assert 64 <= auto_max_batch(torch.device("cuda"), 224) < 4096


def test_from_checkpoint_matches_the_model(model, images, tmp_path):
    save_checkpoint(tmp_path, model, {"preprocessing": IMAGENET})
    target = TorchTarget.from_checkpoint(tmp_path, device="cpu")
    assert target.input_size == SIZE and target.output.value == "logit"
    np.testing.assert_allclose(target(images), by_hand(model, images, IMAGENET.scale, IMAGENET.mean,
                                                       IMAGENET.std), atol=1e-6)
    assert isinstance(load_target(tmp_path / "model.json"), TorchTarget)
    with pytest.raises(TargetError, match="not found"):
        load_target(tmp_path / "missing")


# ----- check_target ---------------------------------------------------------------------------------
class NoisyTarget(Target):
    """Answers differently every time it is asked (e.g. a service with random test-time augmentation)."""

    def __init__(self):
        super().__init__()
        self.rng = np.random.default_rng(0)

    def _predict(self, images):
        return torch.from_numpy(self.rng.uniform(0, 1, len(images)))


class BatchDependentTarget(Target):
    """Scores relative to the batch mean: what batch statistics in train mode do."""

    def _predict(self, images):
        mean = images.float().mean(dim=(1, 2, 3))
        return torch.sigmoid((mean - mean.mean()) / 10)


def test_check_target_accepts_a_sound_target_and_spends_no_queries(model, images):
    target = TorchTarget(model, query_budget=3)
    target(images[:2])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        report = check_target(target, images)
    assert report.images == 8 and report.max_repeat_diff == 0 and not report.warnings
    assert target.queries == 2 and target.query_budget == 3


def test_check_target_catches_a_nondeterministic_target(images):
    with pytest.raises(TargetError, match="nondeterministic"):
        check_target(NoisyTarget(), images)


def test_check_target_warns_on_batch_dependence_and_refuses_train_mode(model, images):
    with pytest.warns(RuntimeWarning, match="depend on the batch"):
        report = check_target(BatchDependentTarget(), images)
    assert report.max_batch_diff > 1e-3
    with pytest.raises(TargetError, match="depend on the batch"):
        check_target(BatchDependentTarget(), images, strict=True)
    target = TorchTarget(model)
    model.train()
    with pytest.raises(TargetError, match="train mode"):
        check_target(target, images)
