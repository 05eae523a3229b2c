"""fasrobust from Python as a user calls it: the README's "From Python" block runs as written (beside a
`liveness.onnx` of the kind it names), and the public names give what the command line gives: validated
settings, exact queries, results that depend only on (seed, image), successes that verify."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest
import torch

import fasrobust
from fasrobust.errors import FasrobustError

README = Path(__file__).parents[1] / "README.md"


def readme_block() -> str:
    text = README.read_text(encoding="utf-8")
    section = text[text.index("## From Python"):]
    return re.search(r"```python\n(.*?)```", section, re.S).group(1)


def test_the_readme_example_runs_as_written(tmp_path, monkeypatch, capsys):
    from target_models import Net, onnx_graph

    # What a team exports from TensorFlow: float NHWC in 0..1, a 2-class softmax with live at index 0.
    onnx_graph(Net(classes=2).eval(), tmp_path / "liveness.onnx", layout="nhwc", head="softmax", size=32)
    monkeypatch.chdir(tmp_path)
    scope: dict = {}
    exec(compile(readme_block(), "README.md: From Python", "exec"), scope)  # noqa: S102  our own README
    out = capsys.readouterr().out
    assert out.count("pixels_changed") == 3, "one table per target"
    results, images = scope["results"], scope["images"]
    assert list(results["image"]) == list(range(len(images)))
    assert scope["adversarial"].dtype == np.uint8 and scope["adversarial"].shape == images.shape


class Brightness(torch.nn.Module):
    """A model that fails as the demo's does: a few bright pixels raise its score (logit of live)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return 40 * (x.amax(dim=(1, 2, 3)) - 0.9)


def dark(n: int = 6) -> np.ndarray:
    """Dark crops, each with its own brightest value (100-200), all called spoof."""
    rng = np.random.default_rng(1)
    return np.stack([rng.integers(0, 100 + 20 * i, (16, 16, 3), dtype=np.uint8) for i in range(n)])


def test_a_torch_module_is_attacked_with_the_same_guarantees_as_the_cli():
    images = dark()
    target = fasrobust.as_target(Brightness().eval(), scale=1 / 255, output="logit")
    results = fasrobust.attack(target, images, attack="sparse-rs", pixels=1, queries=40, seed=3)
    assert results.attrs["attack"]["name"] == "sparse-rs" and results.attrs["attack"]["settings"]["eot"] == 1
    assert results["success"].all() and results["verified"].all(), "one white pixel flips every image"
    assert (results["queries"] <= results["query_budget"]).all() and (results["pixels_changed"] == 1).all()
    again = fasrobust.attack(target, images[::-1].copy(), attack="sparse-rs", pixels=1, queries=40, seed=3,
                             ids=list(range(len(images)))[::-1])
    assert list(again.sort_values("image", ascending=False)["queries"]) == list(results["queries"]), \
        "an image's result depends on (seed, its id), not on the batch"
    adversarial = fasrobust.adversarial_images(images, results)
    assert (torch.sigmoid(Brightness()(torch.from_numpy(adversarial).permute(0, 3, 1, 2).float() / 255)) >= 0.5).all()


@pytest.mark.parametrize(("call", "message"), [
    (lambda: fasrobust.attack(lambda b: b.mean(axis=(1, 2, 3)) / 255, dark(), attack="nosuch"), "unknown attack"),
    (lambda: fasrobust.attack(lambda b: b.mean(axis=(1, 2, 3)) / 255, dark(), attack="sparse-rs", pixels=0),
     "pixels"),
    (lambda: fasrobust.attack(lambda b: b.mean(axis=(1, 2, 3)) / 255, dark().astype(np.float32)), "uint8"),
    (lambda: fasrobust.as_target(Brightness(), output="softmax"), "output"),
    (lambda: fasrobust.as_target(Brightness(), layout="nhwc"), "layout"),
    (lambda: fasrobust.as_target(object()), "cannot attack"),
])
def test_bad_calls_are_one_line_errors(call, message):
    with pytest.raises(FasrobustError) as err:
        call()
    assert message in str(err.value) and "\n" not in str(err.value)
