"""Models: the registry's I/O contract, FASNet's VGG16 layout and input sizes, freeze policies,
and importing a user's ImageNet VGG16 file (built by the test, random values)."""

from __future__ import annotations

import pytest
import torch

from fasrobust.errors import ConfigError, ModelError
from fasrobust.models import FreezePolicy, create_model, list_models, load_imagenet_features
from fasrobust.models.vgg import vgg16_parameter_shapes

#: Conv layers each policy freezes in VGG16 (TRAINING-AND-METRICS.md).
FROZEN_CONVS = {"none": 0, "lucena-3conv": 3, "keras-blocks12": 4, "ftweights-7conv": 7, "all-conv": 13}


class NotAStateDict:
    """Pickled by a test: torch.load(weights_only=True) must refuse it."""

    def __init__(self):
        self.payload = torch.zeros(2)


def imagenet_state(seed: int = 0) -> dict[str, torch.Tensor]:
    """A torchvision-layout VGG16 state dict: all 26 conv tensors plus (small, ignored) classifier keys."""
    generator = torch.Generator().manual_seed(seed)
    state = {k: torch.randn(shape, generator=generator) * 0.05 for k, shape in vgg16_parameter_shapes().items()}
    state |= {"classifier.0.weight": torch.randn(8, 16), "classifier.0.bias": torch.randn(8),
              "classifier.6.weight": torch.randn(1000, 8), "classifier.6.bias": torch.randn(1000)}
    return state


@pytest.mark.parametrize("name", list_models())
def test_every_model_maps_images_to_one_logit_each(name):
    model = create_model(name, input_size=32).eval()
    x = torch.rand(3, 3, 32, 32)
    with torch.no_grad():
        logits = model(x)
    assert logits.shape == (3,) and logits.dtype == torch.float32 and torch.isfinite(logits).all()
    probability = torch.sigmoid(logits)
    assert ((probability >= 0) & (probability <= 1)).all()
    assert torch.equal(model(x), logits)  # eval mode: no dropout, same answer twice


@pytest.mark.parametrize("size", [32, 64, 96, 224])
def test_fasnet_flatten_size_follows_input_size(size):
    model = create_model("fasnet", input_size=size, freeze="none").eval()
    side = size // 32
    assert model.head[1].in_features == 512 * side * side
    with torch.no_grad():
        assert model(torch.rand(1, 3, size, size)).shape == (1,)


def test_fasnet_uses_torchvision_parameter_names_and_paper_head():
    model = create_model("fasnet")
    conv = {k: tuple(v.shape) for k, v in model.state_dict().items() if k.startswith("features.")}
    assert conv == vgg16_parameter_shapes()
    assert "features.0.weight" in conv and "features.28.bias" in conv and len(conv) == 26
    assert [type(m).__name__ for m in model.head] == ["Flatten", "Linear", "ReLU", "Dropout", "Linear"]
    assert model.head[1].out_features == 256 and model.head[3].p == 0.5 and model.head[4].out_features == 1


def test_fasnet_rejects_inputs_smaller_than_its_pools():
    with pytest.raises(ConfigError, match="input_size"):
        create_model("fasnet", input_size=16)


@pytest.mark.parametrize("policy", list(FROZEN_CONVS))
def test_gradients_reach_exactly_the_unfrozen_layers(policy):
    model = create_model("fasnet", input_size=32, freeze=policy)
    model(torch.rand(2, 3, 32, 32)).sum().backward()
    convs = [m for m in model.features if isinstance(m, torch.nn.Conv2d)]
    got_grad = [m.weight.grad is not None and bool(m.weight.grad.abs().sum() > 0) for m in convs]
    frozen = FROZEN_CONVS[policy]
    assert got_grad == [False] * frozen + [True] * (13 - frozen)
    assert all(not p.requires_grad for m in convs[:frozen] for p in m.parameters())
    assert all(p.grad is not None for p in model.head.parameters())  # the head always trains


def test_tiny_cnn_takes_only_generic_freeze_policies():
    with pytest.raises(ConfigError, match="VGG16"):
        create_model("tiny-cnn", freeze="lucena-3conv")
    model = create_model("tiny-cnn", freeze="all-conv")
    assert not any(p.requires_grad for p in model.features.parameters())
    assert all(p.requires_grad for p in model.head.parameters())


def test_registry_errors_are_one_line():
    with pytest.raises(ConfigError, match="unknown model 'vgg99'.*fasnet"):
        create_model("vgg99")
    with pytest.raises(ConfigError, match="fasnet"):
        create_model("fasnet", colour="blue")
    with pytest.raises(ConfigError, match="unknown freeze policy"):
        create_model("fasnet", freeze="first-seven")
    assert {"fasnet", "tiny-cnn"} <= set(list_models())
    assert FreezePolicy("ftweights-7conv") is FreezePolicy.FTWEIGHTS_7CONV


def test_imagenet_file_in_torchvision_layout_loads_conv_weights(tmp_path):
    state = imagenet_state()
    path = tmp_path / "vgg16-397923af.pth"
    torch.save(state, path)
    model = create_model("fasnet", input_size=32)
    head_before = model.head[1].weight.clone()
    record = load_imagenet_features(model, path)
    assert record["tensors"] == 26 and len(record["sha256"]) == 64
    for key, value in model.state_dict().items():
        if key.startswith("features."):
            assert torch.equal(value, state[key]), key
    assert torch.equal(model.head[1].weight, head_before)  # classifier.* is not ours to take
    assert not model.features[0].weight.requires_grad  # the freeze policy still holds


def test_wrapped_and_safetensors_imagenet_files_load(tmp_path):
    from safetensors.torch import save_file

    state = imagenet_state(1)
    torch.save({"state_dict": state}, tmp_path / "wrapped.pth")
    save_file(state, str(tmp_path / "vgg16.safetensors"))
    for name in ("wrapped.pth", "vgg16.safetensors"):
        model = create_model("fasnet")
        load_imagenet_features(model, tmp_path / name)
        assert torch.equal(model.features[28].bias, state["features.28.bias"])


@pytest.mark.parametrize("change, message", [
    (lambda s: s | {"features.1.running_mean": torch.zeros(64)}, "unexpected features.1.running_mean"),
    (lambda s: {k: v for k, v in s.items() if k != "features.28.weight"}, "missing features.28.weight"),
    (lambda s: s | {"features.0.weight": torch.zeros(64, 1, 3, 3)}, r"features.0.weight \(64, 1, 3, 3\)"),
    (lambda s: {"conv1.weight": torch.zeros(64, 3, 7, 7), "fc.weight": torch.zeros(1000, 512)},
     "not a torchvision VGG16 state dict"),
])
def test_wrong_architecture_is_one_line_model_error(tmp_path, change, message):
    path = tmp_path / "weights.pth"
    torch.save(change(imagenet_state()), path)
    with pytest.raises(ModelError, match=message) as caught:
        load_imagenet_features(create_model("fasnet"), path)
    assert "\n" not in str(caught.value) and str(path) in str(caught.value)


def test_pickled_objects_are_refused_not_unpickled(tmp_path):
    path = tmp_path / "evil.pth"
    torch.save(NotAStateDict(), path)
    with pytest.raises(ModelError, match="only a plain state dict") as caught:
        load_imagenet_features(create_model("fasnet"), path)
    assert "\n" not in str(caught.value)


@pytest.mark.parametrize("content", [b"", b"this is not a weights file at all"])
def test_files_that_are_not_weights_are_one_line_errors(tmp_path, content):
    path = tmp_path / "weights.pth"
    path.write_bytes(content)
    with pytest.raises(ModelError, match="not a PyTorch weights file") as caught:
        load_imagenet_features(create_model("fasnet"), path)
    assert "\n" not in str(caught.value)
    with pytest.raises(ModelError, match="not found"):
        load_imagenet_features(create_model("fasnet"), tmp_path / "absent.pth")


def test_imagenet_weights_need_a_vgg16_model(tmp_path):
    path = tmp_path / "vgg16.pth"
    torch.save(imagenet_state(), path)
    with pytest.raises(ModelError, match="VGG16-backed"):
        load_imagenet_features(create_model("tiny-cnn"), path)
