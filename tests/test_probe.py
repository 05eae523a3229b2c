"""`fasrobust probe` and the target options every command shares (`cli.target_options`): the contract as
understood, the sanity check, scores of live and spoof crops, a warning when the direction looks inverted;
bad input is one line and exit 2. On a fasrobust checkpoint, an ONNX file, a Python callable and an HTTP
service (TFLite: test_targets_keras_tflite.py, with the other TensorFlow tests)."""

from __future__ import annotations

import inspect

import numpy as np
import pytest
import typer

from fasrobust.cli import main
from fasrobust.cli.target_options import TARGET_PARAMETERS, open_target
from fasrobust.provenance import file_sha256
from target_models import SCALE, SIZE, Net, onnx_graph, reference, write_faceset

pytest.importorskip("onnxruntime")
pytest.importorskip("onnx")


@pytest.fixture(scope="module")
def faceset(tmp_path_factory):
    rng = np.random.default_rng(5)
    return write_faceset(reference(Net()), tmp_path_factory.mktemp("probe") / "faces", rng)


def probe(capsys, *args: str) -> tuple[int, str, str]:
    with pytest.raises(SystemExit) as info:
        main(["probe", *map(str, args)])
    out, err = capsys.readouterr()
    return info.value.code or 0, out, err


def test_probe_onnx_prints_the_contract_and_scores(capsys, faceset, tmp_path):
    path = onnx_graph(Net(), tmp_path / "tf.onnx", layout="nhwc", head="sigmoid")
    code, out, err = probe(capsys, path, "--faceset", faceset, "--scale", SCALE)
    assert code == 0, err
    for line in ("adapter: onnx", "layout: nhwc", "channels: rgb", "output_kind: probability",
                 "threshold: 0.5", "sanity check:", "live crops:", "spoof crops:"):
        assert line in out
    assert "inverted" not in err


def test_probe_warns_when_the_live_direction_looks_inverted(capsys, faceset, tmp_path):
    path = onnx_graph(Net(), tmp_path / "tf.onnx", layout="nhwc", head="sigmoid")
    code, out, err = probe(capsys, "--onnx", path, "--faceset", faceset, "--scale", SCALE, "--spoof-score")
    assert code == 0
    assert "live direction looks inverted" in err and "--spoof-score" in err


def test_probe_checkpoint_callable_and_service(capsys, faceset, tmp_path):
    from fasrobust.models import create_model, save_checkpoint
    from fasrobust.targets.server import start_server_in_thread

    save_checkpoint(tmp_path / "run", create_model("tiny-cnn", input_size=SIZE).eval(),
                    {"training_data": {"faceset": str(faceset)}})
    code, out, err = probe(capsys, tmp_path / "run", "--device", "cpu")  # the FaceSet model.json records
    assert code == 0 and "adapter: torch" in out and "live crops:" in out, err
    code, out, err = probe(capsys, "--python", "target_models:liveness", "--faceset", faceset)
    assert code == 0 and "adapter: python" in out and "inverted" not in err, err
    url, stop = start_server_in_thread(reference(Net()))
    try:
        code, out, err = probe(capsys, "--url", url, "--faceset", faceset)
    finally:
        stop()
    assert code == 0 and "adapter: http" in out and "inverted" not in err, err


@pytest.mark.parametrize(("args", "message"), [
    ([], "give exactly one target"),
    (["{onnx}", "--onnx", "{onnx}"], "give exactly one target"),
    (["{onnx}"], "--scale"),
    (["{onnx}", "--scale", "0.1", "--layout", "sideways"], "--layout"),
    (["{onnx}", "--scale", "0.1", "--mean", "1,2"], "--mean"),
    (["{onnx}", "--scale", "0.1", "--score-path", "a.b"], "applies to an HTTP service"),
    (["{onnx}", "--scale", "0.1", "--faceset", "{big}"], f"prepare --size {SIZE}"),
    (["--url", "http://127.0.0.1:9", "--header-env", "X-Key"], "NAME=ENVVAR"),
])
def test_bad_input_is_one_line_and_exit_2(capsys, tmp_path, rng, args, message):
    onnx_path = onnx_graph(Net(), tmp_path / "m.onnx", layout="nhwc", head="sigmoid")
    big = tmp_path / "big"
    if "{big}" in args:
        import pandas as pd

        from fasrobust.data.faceset import META_COLUMNS, FaceSet

        rows = [dict(id=i, label="live", attack_type="bona_fide", subject="s", split="test", source="c", frame=i,
                     box_x=0, box_y=0, box_w=1, box_h=1, detector="t") for i in range(2)]
        FaceSet(rng.integers(0, 256, (2, 2 * SIZE, 2 * SIZE, 3), dtype=np.uint8),
                pd.DataFrame(rows, columns=list(META_COLUMNS)), {}).write(big)
    code, out, err = probe(capsys, *[a.format(onnx=onnx_path, big=big) for a in args])
    assert code == 2
    lines = err.strip().splitlines()
    assert len(lines) == 1 and message in lines[0], err


def test_target_parameters_build_a_typer_command():
    names = [p.name for p in TARGET_PARAMETERS]
    assert len(names) == len(set(names))
    reserved = {"pixels", "queries", "iterations", "population", "seed", "limit", "split", "labels", "faceset",
                "out", "attack", "shard_size", "max_active", "run"}
    assert not reserved & set(names)
    seen = {}

    def command(**kwargs):
        seen.update(kwargs)

    command.__signature__ = inspect.Signature(TARGET_PARAMETERS)
    app = typer.Typer()
    app.command()(command)
    app.command("other")(lambda: None)
    from typer.testing import CliRunner

    result = CliRunner().invoke(app, ["command", "--onnx", "m.onnx", "--mean", "0.5,0.5,0.5", "--header-env",
                                      "X-Key=KEY", "--threshold", "0.7", "--resize"])
    assert result.exit_code == 0, result.output
    assert seen["mean"] == "0.5,0.5,0.5" and seen["header_env"] == ["X-Key=KEY"] and seen["resize"] is True
    assert seen["threshold"] == 0.7 and seen["layout"] is None


def test_target_ids_name_the_file_and_the_contract(tmp_path):
    path = onnx_graph(Net(classes=2), tmp_path / "tf.onnx", layout="nhwc", head="softmax")
    live0 = {"scale": SCALE, "output": "softmax", "live_index": 0}
    first = open_target(path, live0)
    assert first.target_id.startswith(f"onnx:{file_sha256(path)[:16]}#")
    assert first.contract["output"]["live_index"] == 0 and first.description["layout"] == "nhwc"
    again = open_target(None, {**live0, "onnx": path})
    other = open_target(None, {**live0, "onnx": path, "live_index": 1})
    assert again.target_id == first.target_id != other.target_id
    assert open_target(None, {**live0, "onnx": path, "rate_limit": None}).target_id == first.target_id
    for opened in (first, again, other):
        opened.target.close()
    uint8 = onnx_graph(Net(), tmp_path / "u8.onnx", layout="nhwc", uint8=True, head="sigmoid")
    assert open_target(uint8, {}).target_id == f"onnx:{file_sha256(uint8)[:16]}"  # as before contracts existed
    url = open_target("http:/127.0.0.1:9", {})  # a URL that went through Path() keeps working
    assert url.target_id == "url:http://127.0.0.1:9" and url.source == "http://127.0.0.1:9"
    url.target.close()
    json_api = {"score_path": "live", "image_key": "img"}
    slow = open_target(None, {"url": "http://127.0.0.1:9", **json_api, "rate_limit": 2.0})
    fast = open_target(None, {"url": "http://127.0.0.1:9", **json_api})
    assert slow.target_id == fast.target_id != url.target_id  # the pace does not change a score; the contract does
    for opened in (slow, fast):
        opened.target.close()
