"""One tiny liveness model, written several ways: as a PyTorch module (the reference) and as the files
teams ship (ONNX graphs built with onnx.helper in every layout and output style; Keras, in
test_targets_keras_tflite.py). Same weights everywhere, so every adapter must give the reference's
P(live) up to float rounding, and an attack through it the reference's results."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from torch import nn

SIZE = 8
SCALE = 1 / 255


#: Seeds whose weights spread the scores of varied crops across 0.5 (class 0 live), so attacks have work.
SEEDS = {1: 7, 2: 11, 3: 7}


class Net(nn.Module):
    """conv 3x3 (3 -> 4) -> ReLU -> global average pool -> linear (4 -> classes)."""

    def __init__(self, classes: int = 1, seed: int | None = None):
        super().__init__()
        torch.manual_seed(SEEDS.get(classes, 7) if seed is None else seed)
        self.conv = nn.Conv2d(3, 4, 3, padding=1)
        self.fc = nn.Linear(4, classes)
        with torch.no_grad():  # large enough weights that a few pixels move the score
            self.conv.weight.mul_(4.0)
            self.fc.weight.mul_(6.0)
            self.fc.bias.fill_(-0.5)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        return torch.relu(self.conv(x)).mean(dim=(2, 3))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(self.features(x))


class Head(nn.Module):
    """The reference's P(live) for a head: 'sigmoid', 'spoof-sigmoid' (the model scores spoof), or
    'softmax' (class `live` of the softmax)."""

    def __init__(self, net: Net, head: str, live: int = 0):
        super().__init__()
        self.net, self.head, self.live = net, head, live

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.net(x)
        if self.head == "softmax":
            return torch.softmax(out, dim=1)[:, self.live]
        if self.head == "spoof-sigmoid":
            return 1 - torch.sigmoid(out[:, 0])
        return torch.sigmoid(out[:, 0])


def reference(net: Net, head: str = "sigmoid", live: int = 0):
    from fasrobust.models import Preprocessing
    from fasrobust.targets import TorchTarget

    return TorchTarget(Head(net, head, live).eval(), preprocessing=Preprocessing(SCALE, (0, 0, 0), (1, 1, 1)),
                       output="probability", input_size=SIZE, device="cpu")


def onnx_graph(net: Net, path: Path, *, layout: str = "nchw", uint8: bool = False, bgr: bool = False,
               head: str | None = None, batch: int | None = None, two_outputs: bool = False,
               square: bool = True, size: int = SIZE) -> Path:
    """The net as an ONNX graph made with onnx.helper, in a chosen input contract. `head`: None (raw
    logits out), 'sigmoid' or 'softmax' (a final op of that name). A uint8 graph scales inside itself."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    weight = net.conv.weight.detach().numpy()
    if bgr:
        weight = weight[:, ::-1]  # the same filters, reading channels in BGR order
    inits = [numpy_helper.from_array(np.ascontiguousarray(weight), "W"),
             numpy_helper.from_array(net.conv.bias.detach().numpy(), "B"),
             numpy_helper.from_array(net.fc.weight.detach().numpy(), "FW"),
             numpy_helper.from_array(net.fc.bias.detach().numpy(), "FB")]
    nodes, current = [], "x"
    if uint8:
        inits.append(numpy_helper.from_array(np.array(SCALE, dtype=np.float32), "S"))
        nodes += [helper.make_node("Cast", ["x"], ["xf"], to=TensorProto.FLOAT),
                  helper.make_node("Mul", ["xf", "S"], ["xs"])]
        current = "xs"
    if layout == "nhwc":
        nodes.append(helper.make_node("Transpose", [current], ["xt"], perm=[0, 3, 1, 2]))
        current = "xt"
    nodes += [helper.make_node("Conv", [current, "W", "B"], ["c"], pads=[1, 1, 1, 1]),
              helper.make_node("Relu", ["c"], ["r"]),
              helper.make_node("GlobalAveragePool", ["r"], ["g"]),
              helper.make_node("Flatten", ["g"], ["features"]),
              helper.make_node("Gemm", ["features", "FW", "FB"], ["logits"], transB=1)]
    out_name = "logits"
    if head == "sigmoid":
        nodes.append(helper.make_node("Sigmoid", ["logits"], ["prob"]))
        out_name = "prob"
    elif head == "softmax":
        nodes.append(helper.make_node("Softmax", ["logits"], ["prob"], axis=1))
        out_name = "prob"
    n = batch or "N"
    side = size if square else size + 1
    shape = [n, size, side, 3] if layout == "nhwc" else [n, 3, size, side]
    classes = net.fc.out_features
    outputs = [helper.make_tensor_value_info(out_name, TensorProto.FLOAT, [n, classes])]
    if two_outputs:
        outputs.insert(0, helper.make_tensor_value_info("features", TensorProto.FLOAT, [n, 4]))
    graph = helper.make_graph(nodes, "liveness", [helper.make_tensor_value_info(
        "x", TensorProto.UINT8 if uint8 else TensorProto.FLOAT, shape)], outputs, inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    onnx.save(model, str(path))
    return path


def pick_images(target, rng: np.random.Generator, spoof: int = 6, live: int = 2) -> np.ndarray:
    """Crops the target calls spoof (the attack searches them) and a few it calls live (one query each)."""
    # Crops of varied colour and contrast, so the scores spread across the threshold.
    base = rng.integers(0, 256, (200, 1, 1, 3))
    noise = rng.integers(-60, 61, (200, SIZE, SIZE, 3))
    pool = np.clip(base + noise, 0, 255).astype(np.uint8)
    scores = target(pool)
    target.reset_queries()
    called_live = scores >= target.threshold
    chosen = np.concatenate([np.flatnonzero(~called_live)[:spoof], np.flatnonzero(called_live)[:live]])
    assert (~called_live).sum() >= spoof, "the test model must call some random crops spoof"
    return pool[chosen]


def attack_signature(target, images: np.ndarray) -> list[tuple]:
    """What must agree between two targets of the same weights: per image, success, queries and the pixels."""
    from fasrobust.attacks import create_attack

    results = create_attack("pixel", pixels=1, population=8, iterations=3).run(target, images, seed=0)
    return [(r.success, r.queries, r.perturbation.tolist()) for r in results]


_LIVENESS: list = []


def liveness(batch: np.ndarray) -> np.ndarray:
    """The net as a plain Python function (for `python:target_models:liveness`): uint8 NHWC -> P(live)."""
    if not _LIVENESS:
        _LIVENESS.append(Net().eval())
    x = torch.from_numpy(np.asarray(batch)).permute(0, 3, 1, 2).to(torch.float32)
    x.mul_(SCALE)
    with torch.no_grad():
        return torch.sigmoid(_LIVENESS[0](x)[:, 0]).numpy()


def write_faceset(target, root: Path, rng: np.random.Generator, n: int = 24) -> Path:
    """A FaceSet (test split) whose labels are what `target` calls each crop, so the live direction is right."""
    import pandas as pd

    from fasrobust.data.faceset import META_COLUMNS, FaceSet

    base = rng.integers(0, 256, (n, 1, 1, 3))
    images = np.clip(base + rng.integers(-60, 61, (n, SIZE, SIZE, 3)), 0, 255).astype(np.uint8)
    live = target(images) >= target.threshold
    rows = [dict(id=i, label="live" if live[i] else "spoof", attack_type="bona_fide" if live[i] else "print",
                 subject=f"s{i % 4}", split="test", source=f"clip{i}.mov", frame=0, box_x=0, box_y=0,
                 box_w=SIZE, box_h=SIZE, detector="test") for i in range(n)]
    return FaceSet(images, pd.DataFrame(rows, columns=list(META_COLUMNS)), {"database": "unit"}).write(root)


def near_threshold_faceset(target, root, rng: np.random.Generator):
    """Spoofs the model scores just below 0.5 (a few pixels can cross it) and lives above it."""
    import pandas as pd

    from fasrobust.data.faceset import META_COLUMNS, FaceSet

    base = rng.integers(0, 256, (3000, 1, 1, 3))
    pool = np.clip(base + rng.integers(-60, 61, (3000, SIZE, SIZE, 3)), 0, 255).astype(np.uint8)
    p_live = target(pool)
    spoof, live = pool[(p_live > 0.4) & (p_live < 0.5)][:8], pool[p_live >= 0.55][:4]
    images = np.concatenate([spoof, live])
    rows = [dict(id=i, label="spoof" if i < len(spoof) else "live",
                 attack_type="print" if i < len(spoof) else "bona_fide", subject=f"s{i % 3}", split="test",
                 source=f"clip{i}.mov", frame=0, box_x=0, box_y=0, box_w=SIZE, box_h=SIZE, detector="test")
            for i in range(len(images))]
    return FaceSet(images, pd.DataFrame(rows, columns=list(META_COLUMNS)), {"database": "unit"}).write(root)


def tensorflow_style_model(root: Path) -> tuple[Path, Path]:
    """What a team exports from TensorFlow: an ONNX graph with float NHWC input in 0..1 and a 2-class
    softmax whose live class is index 0; with a FaceSet of spoofs just below its threshold and lives above."""
    net = Net(classes=2).eval()
    path = onnx_graph(net, root / "tf_liveness.onnx", layout="nhwc", head="softmax")
    faces = near_threshold_faceset(reference(net, "softmax", live=0), root / "faces", np.random.default_rng(0))
    return path, faces
