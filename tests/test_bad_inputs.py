"""Every command on a table of bad inputs the test builds (a decompression-bomb PNG, a 1x1 image, a
binary settings file, an unknown opset, a dev split that does not exist, a meta.csv with a text id, a
report --out that is a file, a port already taken ...): each exits 2 with exactly one stderr line that
names the input, no traceback, and every file that was there before is byte for byte unchanged."""

from __future__ import annotations

import hashlib
import socket
import struct
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from PIL import Image

from fasrobust.cli import main
from fasrobust.data.faceset import META_COLUMNS, FaceSet
from fasrobust.models import create_model, save_checkpoint

SIZE = 16
BINARY = bytes(range(256)) * 8  # not UTF-8 from byte 128 on


def bomb_png(width: int = 20000, height: int = 20000) -> bytes:
    """A valid PNG header declaring width x height RGB, with a few bytes of data: a decompression bomb
    as a reader that decodes first would meet it."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(b"\0" * 64))
            + chunk(b"IEND", b""))


def folder_database(root: Path, bad_name: str | None = None, bad: bytes = b"") -> Path:
    """live/ and spoof/ with one ordinary image each, plus the bad file under live/ if one is named."""
    rng = np.random.default_rng(0)
    for label in ("live", "spoof"):
        (root / label).mkdir(parents=True)
        Image.fromarray(rng.integers(0, 256, (64, 64, 3), dtype=np.uint8)).save(root / label / "face.png")
    if bad_name is not None:
        (root / "live" / bad_name).write_bytes(bad)
    return root


def faceset_and_run(root: Path) -> tuple[Path, Path]:
    """A FaceSet (train/dev/test, both classes) and a tiny-cnn checkpoint for it."""
    rng = np.random.default_rng(1)
    splits = ["train"] * 4 + ["dev"] * 4 + ["test"] * 4
    rows = [dict(id=i, label="live" if i % 2 else "spoof", attack_type="bona_fide" if i % 2 else "print",
                 subject=f"s{i}", split=split, source=f"clip{i}.mov", frame=0, box_x=0, box_y=0, box_w=SIZE,
                 box_h=SIZE, detector="test") for i, split in enumerate(splits)]
    images = rng.integers(0, 256, (len(rows), SIZE, SIZE, 3), dtype=np.uint8)
    faces = FaceSet(images, pd.DataFrame(rows, columns=META_COLUMNS), {"database": "unit"}).write(root / "faces")
    torch.manual_seed(0)
    save_checkpoint(root / "run", create_model("tiny-cnn", input_size=SIZE))
    return faces, root / "run"


@dataclass
class Case:
    argv: list[str]
    names: str  # what the one line must name (the file, the option value)
    says: str  # and what it must say about it


def _prepare_folder(tmp: Path, bad_name: str, bad: bytes, *extra: str) -> Case:
    root = folder_database(tmp / "db", bad_name, bad)
    return Case(["prepare", "--database", "folder", "--root", str(root), "--out", str(tmp / "out"),
                 "--detector", "cascade", "--size", str(SIZE), *extra], str(root / "live" / bad_name), "")


def decompression_bomb(tmp: Path) -> Case:
    case = _prepare_folder(tmp, "bomb.png", bomb_png(), "--on-error", "stop")
    case.says = "decompression bomb"
    return case


def decompression_bomb_continue(tmp: Path) -> Case:
    """Under --on-error continue the bomb is one of the unreadable inputs; with nothing else usable
    (the two noise images hold no face) the run ends naming it."""
    case = _prepare_folder(tmp, "bomb.png", bomb_png())
    case.says = "decompression bomb"
    return case


def one_pixel_image(tmp: Path) -> Case:
    buffer = tmp / "tiny.png"
    Image.fromarray(np.zeros((1, 1, 3), np.uint8)).save(buffer)
    case = _prepare_folder(tmp, "tiny.png", buffer.read_bytes(), "--on-error", "stop")
    case.says = "minimum face size"
    return case


def annotations_without_any(tmp: Path) -> Case:
    root = folder_database(tmp / "db")
    return Case(["prepare", "--database", "folder", "--root", str(root), "--out", str(tmp / "out"),
                 "--detector", "annotations"], str(root), "none of the 2 recordings")


def binary_prepare_config(tmp: Path) -> Case:
    (tmp / "prepare.yaml").write_bytes(BINARY)
    return Case(["prepare", "--config", str(tmp / "prepare.yaml")], str(tmp / "prepare.yaml"), "UTF-8")


def binary_train_config(tmp: Path) -> Case:
    faces, _ = faceset_and_run(tmp)
    (tmp / "train.yaml").write_bytes(BINARY)
    return Case(["train", "--faceset", str(faces), "--out", str(tmp / "new-run"), "--config", str(tmp / "train.yaml")],
                str(tmp / "train.yaml"), "UTF-8")


def prepare_out_is_a_file(tmp: Path) -> Case:
    (tmp / "taken").write_text("mine\n")
    root = folder_database(tmp / "db")
    return Case(["prepare", "--database", "folder", "--root", str(root), "--out", str(tmp / "taken")], str(tmp / "taken"),
                "not a folder")


def export_opset_3(tmp: Path) -> Case:
    _, run = faceset_and_run(tmp)
    return Case(["export", str(run), "--onnx", str(tmp / "model.onnx"), "--opset", "3"], "opset 3", "choose")


def evaluate_unknown_dev_split(tmp: Path) -> Case:
    faces, run = faceset_and_run(tmp)
    return Case(["evaluate", str(run), "--faceset", str(faces), "--dev-split", "nosuch"], "'nosuch'",
                "no such split")


def evaluate_text_id(tmp: Path) -> Case:
    faces, run = faceset_and_run(tmp)
    meta = (faces / "meta.csv").read_text().splitlines()
    meta[3] = "x" + meta[3][meta[3].index(","):]
    (faces / "meta.csv").write_text("\n".join(meta) + "\n")
    return Case(["evaluate", str(run), "--faceset", str(faces)], str(faces / "meta.csv"), "'id' must hold integers")


def evaluate_out_under_a_file(tmp: Path) -> Case:
    """An OSError naming a file, from deep in a stage: mapped to one line in one place (cli.app)."""
    faces, run = faceset_and_run(tmp)
    (tmp / "blocker").write_text("a file, not a folder\n")
    return Case(["evaluate", str(run), "--faceset", str(faces), "--out", str(tmp / "blocker" / "m.json")],
                str(tmp / "blocker"), "in the way")


def export_onnx_under_a_file(tmp: Path) -> Case:
    _, run = faceset_and_run(tmp)
    (tmp / "blocker").write_text("a file, not a folder\n")
    return Case(["export", str(run), "--onnx", str(tmp / "blocker" / "model.onnx")], str(tmp / "blocker"),
                "in the way")


def report_out_is_a_file(tmp: Path) -> Case:
    (tmp / "run").mkdir()
    (tmp / "run" / "results.sqlite").write_bytes(b"")
    (tmp / "page.html").write_text("<p>mine</p>\n")
    return Case(["report", str(tmp / "run"), "--out", str(tmp / "page.html")], str(tmp / "page.html"), "names a file")


def inspect_missing_root(tmp: Path) -> Case:
    return Case(["inspect", str(tmp / "nowhere"), "--database", "folder"], str(tmp / "nowhere"), "")


def serve_port_taken(tmp: Path) -> Case:
    _, run = faceset_and_run(tmp)
    taken = socket.socket()
    taken.bind(("127.0.0.1", 0))
    taken.listen(1)
    serve_port_taken.socket = taken  # held open until the case has run
    port = taken.getsockname()[1]
    return Case(["serve", str(run), "--port", str(port), "--device", "cpu"], f"127.0.0.1:{port}", "cannot listen")


CASES: dict[str, Callable[[Path], Case]] = {f.__name__: f for f in (
    decompression_bomb, decompression_bomb_continue, one_pixel_image, annotations_without_any,
    binary_prepare_config, binary_train_config, prepare_out_is_a_file, export_opset_3,
    evaluate_unknown_dev_split, evaluate_text_id, evaluate_out_under_a_file, export_onnx_under_a_file,
    report_out_is_a_file, inspect_missing_root, serve_port_taken)}


def digests(root: Path) -> dict[str, str]:
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file()}


@pytest.mark.parametrize("name", sorted(CASES))
def test_bad_input_is_one_line_exit_2_and_changes_no_file(name, tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("FASROBUST_QUIET", "1")
    case = CASES[name](tmp_path)
    before = digests(tmp_path)
    capsys.readouterr()
    try:
        with pytest.raises(SystemExit) as done:
            main(case.argv)
    finally:
        taken = getattr(serve_port_taken, "socket", None)
        if taken is not None:
            taken.close()
            del serve_port_taken.socket
    out, err = capsys.readouterr()
    lines = [line for line in err.splitlines() if line.strip()]
    assert done.value.code == 2, (name, err)
    assert len(lines) == 1, (name, lines)
    assert lines[0].startswith("fasrobust: error: ") and "Traceback" not in err, (name, err)
    assert case.names in lines[0] and case.says in lines[0], (name, lines[0])
    after = digests(tmp_path)
    assert {k: after.get(k) for k in before} == before, f"{name} changed files that were there before"


def test_the_bomb_is_never_decoded(tmp_path):
    """The header check comes first: the 20000x20000 PNG costs no pixel memory (PIL would refuse it only
    after a warning, and a 9000x9000 one it would decode)."""
    from fasrobust.data.frames import read_image
    from fasrobust.errors import DataError

    (tmp_path / "bomb.png").write_bytes(bomb_png(9000, 9000 * 2))
    with pytest.raises(DataError, match="9000x18000 pixels"):
        read_image(tmp_path / "bomb.png")
