"""`fasrobust inspect`: counts a user can trust before preparing anything, and one-line errors."""

from __future__ import annotations

import re

import pytest
from typer.testing import CliRunner

from fasrobust.cli import app, main
from standin_trees import make_casia_tree, make_replay_attack_tree


def rows(output: str) -> dict[tuple[str, str, str], tuple[int, int]]:
    """(split, label, attack type) -> (recordings, subjects) from the printed table."""
    found = {}
    for line in output.splitlines():
        cells = [c.strip() for c in re.split(r"[│|]", line) if c.strip()]
        if len(cells) == 5 and cells[3].isdigit():
            found[tuple(cells[:3])] = (int(cells[3]), int(cells[4]))
    return found


def test_inspect_prints_counts_per_split_label_and_attack_type(tmp_path):
    root = make_replay_attack_tree(tmp_path, full=True)
    (root / "train/real/client009_session01_webcam_authenticate_adverse_1.mov").touch()
    result = CliRunner().invoke(app, ["inspect", str(root), "--database", "replay-attack", "--protocol", "print",
                                      "--option", "lighting=controlled"])
    assert result.exit_code == 0, result.output
    table = rows(result.output)
    assert table[("train", "live", "bona_fide")] == (30, 15)
    assert table[("test", "spoof", "print")] == (40, 20)
    assert table[("dev", "all", "all")] == (30 + 30, 15)
    assert table[("all", "all", "all")] == (100 + 100, 50)
    assert "1 file(s) could not be placed" in result.output
    assert "client 9 belongs to the test split" in result.output


def test_inspect_lists_at_most_n_unplaced_files_with_a_count(tmp_path):
    root = make_casia_tree(tmp_path, train_subjects=[1], test_subjects=[2])
    for name in ("9.avi", "10.avi", "HR_5.avi"):
        (root / "train_release/1" / name).touch()
    result = CliRunner().invoke(app, ["inspect", str(root), "-d", "casia", "-o", "dev_split=none",
                                      "--show-unplaced", "1"])
    assert result.exit_code == 0, result.output
    assert rows(result.output)[("all", "all", "all")] == (24, 2)
    assert "3 file(s) could not be placed" in result.output
    assert "train_release/1/10.avi: unknown file code '10'" in result.output
    assert "... and 2 more" in result.output


@pytest.mark.parametrize(("args", "message"), [
    (["--database", "replay-attack"], "no replay-attack recordings found: expected train/, devel/ and test/"),
    (["--database", "nope"], "unknown database 'nope' (known: 3dmad"),
    (["--database", "casia", "--option", "dev_split"], "--option expects key=value"),
    (["--database", "casia", "--option", "dev_split=fold-9"], "casia-fasd reader options: dev_split"),
    (["--database", "3dmad", "--protocol", "grandtest"], "unknown 3dmad protocol 'grandtest'"),
])
def test_user_errors_are_one_line_and_exit_2(tmp_path, capsys, args, message):
    with pytest.raises(SystemExit) as exit_info:
        main(["inspect", str(tmp_path), *args])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert err.startswith("fasrobust: error: ") and message in err and err.count("\n") == 1
