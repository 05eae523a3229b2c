"""The input and output contract on ONNX graphs as teams ship them (TensorFlow-style NHWC float, NCHW,
uint8, BGR, a 3-class softmax, two outputs, a fixed batch of 1): each scores like the same weights in
PyTorch and gives the same attack results; each ambiguity is one line naming the option to set."""

from __future__ import annotations

import numpy as np
import pytest

from fasrobust.errors import TargetError, TransientTargetError
from fasrobust.targets import Contract, OnnxTarget, QueryBudgetExceeded, TargetSpec, load_target
from target_models import SCALE, SIZE, Net, attack_signature, onnx_graph, pick_images, reference

pytest.importorskip("onnxruntime")
pytest.importorskip("onnx")

SOFTMAX_LIVE0 = {"input": {"scale": SCALE}, "output": {"kind": "softmax", "live_index": 0}}


@pytest.fixture
def images(rng) -> np.ndarray:
    return rng.integers(0, 256, (10, SIZE, SIZE, 3), dtype=np.uint8)


def contract(**parts) -> Contract:
    return Contract.build(parts)


# (graph options, contract, reference head, live class, what the graph itself tells)
CASES = {
    "nhwc-float-softmax-live0": (dict(layout="nhwc", head="softmax"), SOFTMAX_LIVE0, "softmax", 0, 2),
    "nchw-float-logit": (dict(layout="nchw"), {"input": {"scale": SCALE}}, "sigmoid", 0, 1),
    "uint8-nhwc-sigmoid": (dict(layout="nhwc", uint8=True, head="sigmoid"), {}, "sigmoid", 0, 1),
    "uint8-nchw-logit": (dict(layout="nchw", uint8=True), {}, "sigmoid", 0, 1),
    "bgr-nhwc": (dict(layout="nhwc", bgr=True, head="sigmoid"), {"input": {"scale": SCALE, "channels": "bgr"}},
                 "sigmoid", 0, 1),
    "3-class-softmax-live2": (dict(layout="nhwc", head="softmax"),
                              {"input": {"scale": SCALE}, "output": {"kind": "softmax", "live_index": 2}},
                              "softmax", 2, 3),
    "3-class-logits-live1": (dict(layout="nchw"), {"input": {"scale": SCALE}, "output": {"live_index": 1}},
                             "softmax", 1, 3),
    "two-outputs": (dict(layout="nhwc", head="sigmoid", two_outputs=True),
                    {"input": {"scale": SCALE}, "output": {"output_name": "prob"}}, "sigmoid", 0, 1),
    "fixed-batch-1": (dict(layout="nhwc", head="sigmoid", batch=1), {"input": {"scale": SCALE}}, "sigmoid", 0, 1),
    "spoof-score": (dict(layout="nhwc", head="sigmoid"), {"input": {"scale": SCALE}, "output": {"spoof_score": True}},
                    "spoof-sigmoid", 0, 1),
}


@pytest.mark.parametrize("case", list(CASES))
def test_graph_scores_and_attacks_like_the_torch_model(case, rng, tmp_path):
    graph, stated, head, live, classes = CASES[case]
    net = Net(classes=classes)
    path = onnx_graph(net, tmp_path / f"{case}.onnx", **graph)
    want = reference(net, head, live)
    images = pick_images(want, rng)
    with load_target(path, contract(**stated)) as target:
        assert isinstance(target, OnnxTarget)
        got = target(images)
        assert np.max(np.abs(got - want(images))) < 1e-5
        assert target.queries == len(images)  # padding of a fixed batch is not a query
        if graph.get("batch") == 1:
            assert target.max_batch == 1
        described = target.describe()
        assert described["layout"] == graph["layout"] and described["threshold"] == 0.5
        assert described["channels"] == ("bgr" if graph.get("bgr") else "rgb")
        signature = attack_signature(target, images)
    assert any(queries > 1 for _, queries, _ in signature), "the attack must have searched some image"
    assert signature == attack_signature(want, images)


def test_tensorflow_style_graph_is_read_from_its_shape_and_ops(tmp_path):
    """NHWC is read from the input shape, 'softmax' from the final op; only the live class must be said."""
    path = onnx_graph(Net(classes=2), tmp_path / "tf.onnx", layout="nhwc", head="softmax")
    with pytest.raises(TargetError, match="--live-index") as info:
        load_target(path, contract(input={"scale": SCALE}))
    assert "tf.onnx" in str(info.value) and "\n" not in str(info.value)
    target = load_target(path, contract(input={"scale": SCALE}, output={"live_index": 0}))
    described = target.describe()
    assert described["layout"] == "nhwc" and described["output_kind"] == "softmax"
    assert described["inputs"][0]["shape"] == ["N", SIZE, SIZE, 3]
    assert "class 0 of 2" in described["live_direction"]


def test_threshold_is_on_the_target_and_in_its_description(tmp_path, images):
    path = onnx_graph(Net(), tmp_path / "m.onnx", layout="nhwc", uint8=True, head="sigmoid")
    target = load_target(path, contract(output={"threshold": 0.8}))
    assert target.threshold == 0.8 and target.describe()["threshold"] == 0.8
    results = attack_signature(target, images)
    assert len(results) == len(images)
    assert load_target(path).threshold == 0.5


@pytest.mark.parametrize(("graph", "stated", "fix"), [
    (dict(layout="nhwc", square=True), {"input": {"scale": SCALE, "layout": "nchw"}}, "--layout"),
    (dict(layout="nhwc", head="sigmoid", two_outputs=True), {"input": {"scale": SCALE}}, "--output-name"),
    (dict(layout="nhwc", head="sigmoid", two_outputs=True),
     {"input": {"scale": SCALE}, "output": {"output_name": "score"}}, "--output-name to one of features, prob"),
    (dict(layout="nhwc", head="softmax"), {"input": {"scale": SCALE}, "output": {"live_index": 3}},
     "--live-index 0..2"),
    (dict(layout="nhwc"), {}, "--scale"),
    (dict(layout="nhwc", uint8=True), {"input": {"scale": SCALE}}, "drop it"),
    (dict(layout="nhwc", head="sigmoid"), {"input": {"scale": SCALE, "input_size": 16}}, f"--input-size {SIZE}"),
    (dict(layout="nhwc", head="softmax"), {"input": {"scale": SCALE}, "output": {"kind": "logit"}}, "--output"),
])
def test_contract_mistakes_are_one_line_naming_the_file_and_the_option(graph, stated, fix, tmp_path):
    net = Net(classes=3 if graph.get("head") == "softmax" else 1)
    path = onnx_graph(net, tmp_path / "model.onnx", **graph)
    with pytest.raises(TargetError) as info:
        load_target(path, contract(**stated))
    message = str(info.value)
    assert fix in message and "model.onnx" in message and "\n" not in message


def test_ambiguous_layout_names_the_option(tmp_path):
    """An input declared (N, 3, 8, 3) could be either layout; guessing would attack the wrong pixels."""
    import onnx
    from onnx import TensorProto, helper

    graph = helper.make_graph([helper.make_node("ReduceMean", ["x"], ["y"], keepdims=0)], "g",
                              [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 3, 8, 3])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N"])])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.save(model, str(tmp_path / "ambiguous.onnx"))
    with pytest.raises(TargetError, match="ambiguous layout.*--layout nhwc or --layout nchw") as info:
        load_target(tmp_path / "ambiguous.onnx", contract(input={"scale": SCALE}))
    assert "ambiguous.onnx" in str(info.value)


def test_size_mismatch_names_the_prepare_size(tmp_path, rng):
    path = onnx_graph(Net(), tmp_path / "m.onnx", layout="nhwc", uint8=True, head="sigmoid")
    target = load_target(path)
    with pytest.raises(TargetError, match=f"prepare --size {SIZE}"):
        target(rng.integers(0, 256, (2, 2 * SIZE, 2 * SIZE, 3), dtype=np.uint8))


def test_resize_only_when_asked_and_described(tmp_path, rng):
    path = onnx_graph(Net(), tmp_path / "m.onnx", layout="nhwc", uint8=True, head="sigmoid")
    big = rng.integers(0, 256, (3, 2 * SIZE, 2 * SIZE, 3), dtype=np.uint8)
    target = load_target(path, contract(input={"resize": True}))
    scores = target(big)
    assert scores.shape == (3,) and np.all((scores >= 0) & (scores <= 1))
    assert "before the resize" in target.describe()["resize"]


def test_runtime_errors_keep_every_line_of_the_diagnosis(tmp_path, rng):
    """onnxruntime's first line says 'invalid dimensions'; the lines after it say which one."""
    import dataclasses

    from fasrobust.targets.inputs import InputFeeder

    path = onnx_graph(Net(), tmp_path / "g.onnx", layout="nhwc", head="sigmoid")
    target = load_target(path, contract(input={"scale": SCALE}))
    # The contract checks refuse a wrong size before onnxruntime sees it; switch them off to reach it.
    target._feeder = InputFeeder(dataclasses.replace(target.resolved_input, input_size=None))
    target.input_size = None
    with pytest.raises(TargetError) as info:
        target(rng.integers(0, 256, (1, SIZE + 2, SIZE + 2, 3), dtype=np.uint8))
    message = str(info.value)
    assert "Expected: 8" in message and "\n" not in message


def test_non_square_inputs_are_refused(tmp_path):
    path = onnx_graph(Net(), tmp_path / "m.onnx", layout="nhwc", head="sigmoid", square=False)
    with pytest.raises(TargetError, match="square"):
        load_target(path, contract(input={"scale": SCALE}))


def test_failures_that_may_pass_are_transient():
    assert issubclass(QueryBudgetExceeded, TransientTargetError)


def test_target_spec_round_trips_and_loads(tmp_path, images):
    path = onnx_graph(Net(classes=2), tmp_path / "tf.onnx", layout="nhwc", head="softmax")
    spec = TargetSpec.build({"source": str(path), "contract": SOFTMAX_LIVE0})
    again = TargetSpec.model_validate_json(spec.model_dump_json())
    assert again == spec
    with again.load() as target:
        assert target(images).shape == (len(images),)
    assert Contract.build(SOFTMAX_LIVE0).digest() != Contract.build({**SOFTMAX_LIVE0, "output": {
        "kind": "softmax", "live_index": 1}}).digest()
