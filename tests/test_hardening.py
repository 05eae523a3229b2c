"""Input a hostile or careless user gives, each from the command line: exit 2 and one line naming the file,
option or URL, nothing run that should not run, nothing left behind. A SavedModel that writes a file, ONNX
metadata and model.json values out of their range, a spec key nothing reads, values that are not finite, a
manifest row outside its folder, a service that never finishes its answer."""

from __future__ import annotations

import json
import socket
import threading
import time
from pathlib import Path

import numpy as np
import pytest

from fasrobust.cli import main

SIZE = 8


def run_cli(capsys, *argv) -> tuple[int, str, str]:
    with pytest.raises(SystemExit) as exit_:
        main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return exit_.value.code or 0, out, err


def one_line(err: str) -> str:
    lines = [line for line in err.strip().splitlines() if line.startswith("fasrobust: error:")]
    assert len(lines) == 1 and "Traceback" not in err, err[-2000:]
    return lines[0]


# ----- a SavedModel is a program ---------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def writing_saved_model(tmp_path_factory):
    tf = pytest.importorskip("tensorflow")
    root = tmp_path_factory.mktemp("savedmodel")
    marker = root / "marker.txt"

    class Writes(tf.Module):
        @tf.function(input_signature=[tf.TensorSpec([None, SIZE, SIZE, 3], tf.float32)])
        def __call__(self, x):
            tf.io.write_file(str(marker), "this model ran")
            return {"p_live": tf.sigmoid(tf.reduce_mean(x, axis=[1, 2, 3]))[:, None]}

    module = Writes()
    tf.saved_model.save(module, str(root / "model"), signatures=module.__call__)
    assert not marker.exists()
    return root / "model", marker


def test_probing_a_saved_model_that_writes_a_file_runs_nothing_and_names_the_op(writing_saved_model, capsys):
    model, marker = writing_saved_model
    code, _, err = run_cli(capsys, "probe", "--keras", model, "--output", "probability", "--scale", 1)
    assert code == 2
    line = one_line(err)
    assert str(model) in line and "operation WriteFile" in line and "--trust-model" in line
    assert not marker.exists(), "nothing of the model ran"


def test_trust_model_runs_it_and_says_so(writing_saved_model, capsys):
    model, marker = writing_saved_model
    code, out, err = run_cli(capsys, "probe", "--keras", model, "--output", "probability", "--scale", 1,
                             "--trust-model")
    assert code == 0, err
    assert marker.exists(), "trusted, it ran as written"
    marker.unlink()
    code, _, err = run_cli(capsys, "probe", "--onnx", "x.onnx", "--trust-model")
    assert code == 2


def test_a_keras_exported_saved_model_passes_the_allow_list(tmp_path):
    keras = pytest.importorskip("keras")
    from fasrobust.targets.graph_check import unsafe_operations

    model = keras.Sequential([keras.Input((SIZE, SIZE, 3)), keras.layers.Conv2D(2, 3, activation="relu"),
                              keras.layers.GlobalAveragePooling2D(), keras.layers.Dense(1, activation="sigmoid")])
    model.export(str(tmp_path / "saved"), verbose=False)
    assert unsafe_operations(tmp_path / "saved") == []


# ----- values read from files and options --------------------------------------------------------------------------
def _onnx_with_metadata(path: Path, **meta: str) -> Path:
    onnx = pytest.importorskip("onnx")
    from onnx import TensorProto, helper

    graph = helper.make_graph(
        [helper.make_node("ReduceMean", ["x"], ["y"], keepdims=1, axes=[1, 2, 3])], "g",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [None, SIZE, SIZE, 3])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [None, 1, 1, 1])])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    for key, value in meta.items():
        entry = model.metadata_props.add()
        entry.key, entry.value = key, value
    onnx.save(model, str(path))
    return path


@pytest.mark.parametrize(("meta", "problem"), [
    ({"layout": "diagonal"}, "layout: Input should be 'nhwc' or 'nchw'"),
    ({"channels": "cmyk"}, "channels: Input should be 'rgb' or 'bgr'"),
    ({"input_size": "-4"}, "input_size: Input should be greater than or equal to 1"),
    ({"output": "sideways"}, "output: Input should be"),
])
def test_onnx_metadata_out_of_range_is_one_line_naming_the_file(tmp_path, capsys, meta, problem):
    pytest.importorskip("onnxruntime")
    path = _onnx_with_metadata(tmp_path / "bad.onnx", **meta)
    code, _, err = run_cli(capsys, "probe", "--onnx", path, "--scale", 1)
    line = one_line(err)
    assert code == 2 and str(path) in line and "the file's own metadata" in line and problem in line, line


def test_model_json_values_are_checked_before_use(tmp_path, capsys):
    from fasrobust.models import create_model, save_checkpoint

    run = tmp_path / "run"
    save_checkpoint(run, create_model("tiny-cnn", input_size=SIZE), {})
    info = json.loads((run / "model.json").read_text())
    for change, problem in (({"input_size": -3}, "model.json input_size: Input should be greater than or equal"),
                            ({"output": "sideways"}, "model.json output: Input should be"),
                            ({"model_kwargs": {"bogus_kwarg": 1}}, "model.json cannot rebuild its model")):
        (run / "model.json").write_text(json.dumps({**info, **change}))
        code, _, err = run_cli(capsys, "probe", run)
        line = one_line(err)
        assert code == 2 and str(run / "model.json") in line and problem in line, line


def test_a_spec_key_nothing_reads_is_refused_where_the_spec_is_read(tmp_path, capsys):
    spec = tmp_path / "spec.yaml"
    spec.write_text("name: x\nsynthetic: true\ndatabases:\n  - name: sample\n    prepare: {database: sample}\n"
                    "evaluate:\n  bogus_kwarg: 1\n")
    started = time.monotonic()
    code, _, err = run_cli(capsys, "run", spec, "--out", tmp_path / "run")
    line = one_line(err)
    assert code == 2 and str(spec) in line and "evaluate.bogus_kwarg: Extra inputs are not permitted" in line
    assert time.monotonic() - started < 10 and not (tmp_path / "run" / "results.sqlite").exists()


@pytest.mark.parametrize(("option", "problem"), [
    (["--scale", "inf"], "--scale: Input should be a finite number"),
    (["--mean", "nan,0,0"], "--mean: Input should be a finite number"),
    (["--std", "inf,1,1"], "--std: Input should be a finite number"),
    (["--threshold", "nan"], "--threshold: Input should be a finite number"),
    (["--deadline", "inf", "--url", "http://127.0.0.1:9/"], "--deadline: give a finite number of seconds"),
])
def test_values_that_are_not_finite_are_refused_where_they_are_parsed(tmp_path, capsys, option, problem):
    source = [] if "--url" in option else ["--python", "numpy:mean"]
    code, _, err = run_cli(capsys, "probe", *source, *option)
    line = one_line(err)
    assert code == 2 and problem in line, line


# ----- a manifest's rows stay inside its folder --------------------------------------------------------------------
def test_a_manifest_row_outside_its_folder_is_refused_naming_the_row(tmp_path, capsys):
    root = tmp_path / "db"
    (root / "live").mkdir(parents=True)
    (root / "live" / "a.png").write_bytes(b"")
    (tmp_path / "outside.png").write_bytes(b"")
    (root / "manifest.csv").write_text("path,label,split\nlive/a.png,live,train\n../outside.png,spoof,train\n")
    code, _, err = run_cli(capsys, "inspect", "--database", "csv", root)
    line = one_line(err)
    assert code == 2 and "line 3" in line and "'../outside.png' leads outside the manifest's folder" in line
    code, out, err = run_cli(capsys, "inspect", "--database", "csv", root, "--option", "allow_outside=true")
    assert code == 0, err


# ----- a service that never finishes ------------------------------------------------------------------------------
@pytest.fixture
def trickling():
    """A raw socket server that sends headers and then one byte a second, for ever."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(8)
    stop = threading.Event()

    def serve():
        server.settimeout(0.2)
        while not stop.is_set():
            try:
                conn, _ = server.accept()
            except OSError:
                continue
            threading.Thread(target=trickle, args=(conn,), daemon=True).start()

    def trickle(conn):
        with conn:
            conn.recv(1 << 16)
            conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n")
            while not stop.is_set():
                try:
                    conn.sendall(b"1\r\n \r\n")
                except OSError:
                    return
                time.sleep(0.3)

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.getsockname()[1]}"
    stop.set()
    server.close()


def test_a_service_that_never_finishes_is_a_transient_failure_within_its_deadline(trickling, tmp_path, capsys):
    import pandas as pd

    from fasrobust.data.faceset import META_COLUMNS, FaceSet

    images = np.random.default_rng(0).integers(0, 256, (4, SIZE, SIZE, 3), dtype=np.uint8)
    rows = [dict(id=i, label="spoof" if i else "live", attack_type="print" if i else "bona_fide", subject="s",
                 split="test", source=f"v{i}", frame=0, box_x=0, box_y=0, box_w=SIZE, box_h=SIZE, detector="t")
            for i in range(4)]
    FaceSet(images, pd.DataFrame(rows, columns=META_COLUMNS), {"database": "unit"}).write(tmp_path / "faces")
    started = time.monotonic()
    code, _, err = run_cli(capsys, "attack", "--url", trickling, "--request", "json", "--score-path", "score",
                           "--faceset", tmp_path / "faces", "--out", tmp_path / "run", "--deadline", 1.5,
                           "--attack", "sparse-rs", "--queries", 20)
    elapsed = time.monotonic() - started
    line = one_line(err)
    assert code == 2 and trickling in line and "answer still arriving after 1.5 s" in line, line
    assert elapsed < 4 * 1.5 * 4 + 10, f"{elapsed:.0f} s: every attempt stopped at its deadline"
