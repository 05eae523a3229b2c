"""What every registered reader promises, tested for each name the registry knows."""

from __future__ import annotations

import pytest

from fasrobust.data.readers import READERS, DatabaseReader, available_readers, get_reader
from fasrobust.errors import ConfigError, DataError


def test_the_papers_four_databases_and_the_two_generic_readers_are_registered():
    assert {"3dmad", "casia-fasd", "csv", "folder", "replay-attack", "rose-youtu"} <= set(available_readers())


@pytest.mark.parametrize("name", available_readers())
def test_each_reader_finds_its_declared_stand_in_tree(tmp_path, name):
    """A reader declares a tiny tree with its database's real file names (its smoke settings): scanning it
    finds every recording, live and spoof, and leaves nothing unplaced."""
    smoke = READERS.entry(name).smoke
    for relative, text in smoke["files"].items():
        (tmp_path / relative).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / relative).write_text(text)
    scan = get_reader(name).scan(tmp_path)
    assert len(scan.recordings) == smoke["recordings"] and scan.unplaced == []
    assert {r.label.value for r in scan.recordings} == {"live", "spoof"}


def test_unknown_name_lists_the_known_ones():
    with pytest.raises(ConfigError, match="unknown database 'replay-mobile' \\(known: 3dmad, casia-fasd"):
        get_reader("replay-mobile")


@pytest.mark.parametrize("name", available_readers())
def test_reader_metadata_and_unknown_option(name):
    reader = get_reader(name)
    assert isinstance(reader, DatabaseReader) and reader.name == name
    assert reader.description and reader.layout and reader.default_protocol in reader.protocols
    assert name in repr(reader) or type(reader).__name__ in repr(reader)
    with pytest.raises(ConfigError, match="no_such_option"):
        get_reader(name, no_such_option="1")


@pytest.mark.parametrize("name", available_readers())
def test_missing_and_empty_roots_are_one_line_data_errors(tmp_path, name):
    with pytest.raises(DataError, match="does not exist"):
        get_reader(name).scan(tmp_path / "nowhere")
    (tmp_path / "empty").mkdir()
    (tmp_path / "empty" / "manifest.csv").write_text("path,label,split\n")
    with pytest.raises(DataError) as err:
        get_reader(name).scan(tmp_path / "empty")
    assert "no " in str(err.value) and "\n" not in str(err.value)
