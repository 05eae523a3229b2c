"""Replay-Attack reader on a full stand-in tree with the release's exact file names."""

from __future__ import annotations

from collections import Counter

import pytest

from fasrobust.data.readers import get_reader
from fasrobust.errors import ConfigError, DataError
from fasrobust.labels import BONA_FIDE, Label
from standin_trees import make_replay_attack_tree


@pytest.fixture(scope="module")
def replay_root(tmp_path_factory):
    return make_replay_attack_tree(tmp_path_factory.mktemp("replay"), full=True)


def counts(scan):
    return Counter((r.split.value, r.label.value) for r in scan.recordings)


def test_full_tree_has_the_published_split_counts(replay_root):
    scan = get_reader("replay-attack").scan(replay_root)
    assert counts(scan) == {("train", "live"): 60, ("dev", "live"): 60, ("test", "live"): 80,
                            ("train", "spoof"): 300, ("dev", "spoof"): 300, ("test", "spoof"): 400}
    assert scan.unplaced == [], "enrolment clips are skipped, not reported"
    per_type = Counter(r.attack_type for r in scan.recordings)
    assert per_type == {BONA_FIDE: 200, "print": 200, "mobile": 400, "highdef": 400}
    assert len({r.subject for r in scan.recordings}) == 50


@pytest.mark.parametrize(("protocol", "attacks"), [("grandtest", 1000), ("print", 200), ("mobile", 400),
                                                   ("highdef", 400), ("photo", 600), ("video", 400)])
def test_protocols_keep_the_published_attack_totals_and_all_real_clips(replay_root, protocol, attacks):
    scan = get_reader("replay").scan(replay_root, protocol=protocol)
    labels = Counter(r.label for r in scan.recordings)
    assert labels[Label.SPOOF] == attacks
    assert labels[Label.LIVE] == 200


def test_file_name_fields_become_attack_type_and_extras(replay_root):
    scan = get_reader("replay-attack").scan(replay_root, protocol="video")
    by_source = {r.source: r for r in scan.recordings}
    attack = by_source["devel/attack/hand/attack_highdef_client003_session01_highdef_video_controlled.mov"]
    assert (attack.label, attack.attack_type, attack.subject, attack.split.value) == (Label.SPOOF, "highdef", "3",
                                                                                      "dev")
    assert dict(attack.extras) == {"support": "hand", "session": "session01", "medium": "video",
                                   "capture_device": "highdef", "light": "controlled"}
    real = by_source["test/real/client117_session01_webcam_authenticate_adverse_2.mov"]
    assert (real.attack_type, real.extras["light"], real.extras["take"]) == (BONA_FIDE, "adverse", "2")
    assert real.path == replay_root.resolve() / real.source


def test_support_and_lighting_options_filter(replay_root):
    hand = get_reader("replay-attack", support="hand").scan(replay_root, protocol="print")
    assert Counter(r.label for r in hand.recordings) == {Label.LIVE: 200, Label.SPOOF: 100}
    assert all(r.extras["support"] == "hand" for r in hand.recordings if r.label is Label.SPOOF)
    dark = get_reader("replay-attack", lighting="adverse").scan(replay_root)
    assert Counter(r.label for r in dark.recordings) == {Label.LIVE: 100, Label.SPOOF: 500}
    with pytest.raises(ConfigError, match="support"):
        get_reader("replay-attack", support="tripod")


def test_misplaced_clients_and_odd_names_are_reported_not_used(tmp_path):
    root = make_replay_attack_tree(tmp_path)  # one client per split
    (root / "train/real/client009_session01_webcam_authenticate_adverse_1.mov").touch()  # a test client
    (root / "train/real/client999_session01_webcam_authenticate_adverse_1.mov").touch()
    (root / "test/attack/fixed/attack_print_client009_session01_highdef_photo_sunny.mov").touch()
    (root / "test/attack/notes.txt").write_text("not a video: ignored")
    scan = get_reader("replay-attack").scan(root)
    assert len(scan.recordings) == 3 * 24
    reasons = dict(scan.unplaced)
    assert "belongs to the test split" in reasons["train/real/client009_session01_webcam_authenticate_adverse_1.mov"]
    assert "not a Replay-Attack client" in reasons["train/real/client999_session01_webcam_authenticate_adverse_1.mov"]
    assert "lighting" in reasons["test/attack/fixed/attack_print_client009_session01_highdef_photo_sunny.mov"]
    assert len(scan.unplaced) == 3


def test_face_locations_mirror_is_found(tmp_path):
    root = make_replay_attack_tree(tmp_path, face_locations=True)
    scan = get_reader("replay-attack").scan(root)
    first = scan.recordings[0]
    assert first.annotations == root.resolve() / "face-locations" / first.source.replace(".mov", ".face")
    assert all(r.annotations is not None and r.annotations.is_file() for r in scan.recordings)


def test_unknown_protocol_and_empty_root_are_one_line_errors(tmp_path):
    with pytest.raises(ConfigError, match="known: grandtest"):
        get_reader("replay-attack").scan(tmp_path, protocol="tablet")
    with pytest.raises(DataError, match="expected train/, devel/ and test/") as err:
        get_reader("replay-attack").scan(tmp_path)
    assert "\n" not in str(err.value)
