"""Keras (.keras, .h5), TensorFlow SavedModel and TFLite targets: the test net rebuilt in Keras with the
same weights (NHWC float, scaled outside the model, as Keras models are), saved in each format and
converted to .tflite here. Each scores like the PyTorch reference and an attack through it gives the
same results. TensorFlow is slow to import, so every TensorFlow test lives in this one module."""

from __future__ import annotations

import numpy as np
import pytest

from fasrobust.errors import TargetError
from fasrobust.targets import KerasTarget, TfliteTarget, load_target
from target_models import SCALE, SIZE, Net, attack_signature, pick_images, reference

keras = pytest.importorskip("keras")
tf = pytest.importorskip("tensorflow")

SCALED = {"input": {"scale": SCALE}}
# Keras' own saving code trips numpy 2's copy-keyword deprecation; it is theirs, not ours.
pytestmark = pytest.mark.filterwarnings("ignore:__array__ implementation:DeprecationWarning")


def keras_model(net: Net, head: str = "sigmoid"):
    """The net in Keras: Conv2D 'same' + ReLU, global average pool, Dense with the head's activation."""
    inputs = keras.Input((SIZE, SIZE, 3), name="face")
    conv = keras.layers.Conv2D(4, 3, padding="same", activation="relu")
    dense = keras.layers.Dense(net.fc.out_features, activation=head)
    model = keras.Model(inputs, dense(keras.layers.GlobalAveragePooling2D()(conv(inputs))))
    conv.set_weights([net.conv.weight.detach().permute(2, 3, 1, 0).numpy(), net.conv.bias.detach().numpy()])
    dense.set_weights([net.fc.weight.detach().numpy().T, net.fc.bias.detach().numpy()])
    return model


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    root = tmp_path_factory.mktemp("keras")
    model = keras_model(Net())
    model.save(root / "net.keras")
    model.save(root / "net.h5")
    model.export(str(root / "saved"), verbose=False)
    converter = tf.lite.TFLiteConverter.from_saved_model(str(root / "saved"))
    (root / "net.tflite").write_bytes(converter.convert())
    softmax = keras_model(Net(classes=2), head="softmax")
    softmax.save(root / "softmax.keras")
    return root


@pytest.fixture(scope="module")
def want():
    return reference(Net())


@pytest.mark.parametrize("name", ["net.keras", "net.tflite"])
def test_scores_and_attacks_like_the_torch_model(files, want, name, rng):
    images = pick_images(want, rng)
    with load_target(files / name, SCALED) as target:
        assert isinstance(target, KerasTarget if name.endswith(".keras") else TfliteTarget)
        assert np.max(np.abs(target(images) - want(images))) < 1e-5
        described = target.describe()
        # NHWC from the input shape, a probability from the final sigmoid: only the scale had to be said.
        assert described["layout"] == "nhwc" and described["output_kind"] == "probability"
        assert attack_signature(target, images) == attack_signature(want, images)


def test_h5_and_saved_model_score_alike(files, want, rng):
    images = pick_images(want, rng)
    h5 = load_target(files / "net.h5", SCALED)
    assert np.max(np.abs(h5(images) - want(images))) < 1e-5
    with pytest.raises(TargetError, match="--output logit.*or --output probability") as info:
        load_target(files / "saved", SCALED)  # a SavedModel signature does not say what its output is
    assert "saved" in str(info.value)
    saved = load_target(files / "saved", {**SCALED, "output": {"kind": "probability"}})
    assert np.max(np.abs(saved(images) - want(images))) < 1e-5


def test_softmax_model_with_live_class_zero(files, rng):
    want = reference(Net(classes=2), "softmax", live=0)
    images = pick_images(want, rng, spoof=3)
    with pytest.raises(TargetError, match="--live-index"):
        load_target(files / "softmax.keras", SCALED)
    target = load_target(files / "softmax.keras", {**SCALED, "output": {"live_index": 0}})
    assert target.describe()["output_kind"] == "softmax"
    assert np.max(np.abs(target(images) - want(images))) < 1e-5


def test_keras_float_input_needs_the_scale(files):
    with pytest.raises(TargetError, match="--scale") as info:
        load_target(files / "net.tflite")
    assert "net.tflite" in str(info.value) and "\n" not in str(info.value)


def test_probe_tflite(files, want, capsys, tmp_path, rng):
    from fasrobust.cli import main
    from target_models import write_faceset

    faces = write_faceset(want, tmp_path / "faces", rng)
    with pytest.raises(SystemExit) as info:
        main(["probe", "--tflite", str(files / "net.tflite"), "--faceset", str(faces), "--scale", str(SCALE)])
    out, err = capsys.readouterr()
    assert info.value.code == 0, err
    assert "adapter: tflite" in out and "layout: nhwc" in out and "inverted" not in err
