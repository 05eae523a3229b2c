"""A liveness service that answers only a decision, as Azure Face liveness does
(`{"livenessDecision": "realface" | "spoofface"}`), built with FastAPI on 127.0.0.1: `fasrobust probe` shows
the decision contract, a score attack is refused in one line, and `fasrobust attack --attack sparse-evo`
runs end to end from the command line. Its rule is known (live iff the mean brightness reaches 128), so
each spoof's true minimal pixel count is known too, and the test can say how close the attack came."""

from __future__ import annotations

import base64
import io
import json

import numpy as np
import pandas as pd
import pytest

from asgi_servers import serving
from fasrobust.attacks.verify import decode_png
from fasrobust.cli import main
from fasrobust.data.faceset import META_COLUMNS, FaceSet
from fasrobust.experiments.store import ResultsStore

fastapi = pytest.importorskip("fastapi")
uvicorn = pytest.importorskip("uvicorn")

SIZE = 16
BRIGHT = 128.0  # live iff the mean of all pixel values reaches this


def live(image: np.ndarray) -> bool:
    return float(image.astype(np.float64).mean()) >= BRIGHT


def minimal_pixels(image: np.ndarray) -> int:
    """The fewest pixels whose change makes `live(image)` true: each set to white, the darkest first."""
    gain = np.sort((255 - image.astype(np.float64)).sum(axis=-1).ravel())[::-1]
    missing = (BRIGHT - image.astype(np.float64).mean()) * image.size
    return int(np.searchsorted(np.cumsum(gain), missing) + 1)


def build_app(asked: list[int]):
    from PIL import Image

    app = fastapi.FastAPI()

    @app.post("/liveness")
    async def liveness(request: fastapi.Request):
        body = await request.json()
        image = np.asarray(Image.open(io.BytesIO(base64.b64decode(body["image"]))).convert("RGB"))
        asked.append(1)
        return {"livenessDecision": "realface" if live(image) else "spoofface", "requestId": len(asked)}

    @app.post("/uncertain")
    async def uncertain(request: fastapi.Request):
        await request.body()
        return {"livenessDecision": "uncertain"}

    return app


@pytest.fixture(scope="module")
def service():
    asked: list[int] = []
    with serving(build_app(asked)) as url:
        yield url, asked


@pytest.fixture(scope="module")
def faces(tmp_path_factory):
    """Test split: 6 dark spoofs (subjects s0-s2) and 6 bright lives (s0-s5); one train image."""
    rng = np.random.default_rng(3)
    dark = rng.integers(60, 120, (6, SIZE, SIZE, 3))
    bright = rng.integers(120, 250, (6, SIZE, SIZE, 3))
    images = np.concatenate([dark, bright, dark[:1]]).astype(np.uint8)
    rows = [dict(id=100 + i, label="spoof" if i < 6 or i == 12 else "live",
                 attack_type="print" if i < 6 or i == 12 else "bona_fide", subject=f"s{i % 6 if i >= 6 else i % 3}",
                 split="train" if i == 12 else "test", source=f"v{i}.mov", frame=0, box_x=0, box_y=0, box_w=SIZE,
                 box_h=SIZE, detector="test") for i in range(13)]
    faceset = FaceSet(images, pd.DataFrame(rows, columns=META_COLUMNS), {"database": "unit"})
    root = tmp_path_factory.mktemp("decision") / "faces"
    faceset.write(root)
    assert not any(live(im) for im in dark) and all(live(im) for im in bright)
    return root


def contract_args(url: str, path: str = "/liveness") -> list[str]:
    return ["--url", url + path, "--request", "json", "--image-key", "image", "--score-path", "livenessDecision",
            "--output", "decision", "--live-value", "realface", "--spoof-value", "spoofface"]


def run_cli(capsys, *argv) -> tuple[int, str, str]:
    with pytest.raises(SystemExit) as exit_:
        main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return exit_.value.code or 0, out, err


def test_probe_shows_the_decision_contract(service, faces, capsys):
    url, _ = service
    code, out, err = run_cli(capsys, "probe", *contract_args(url), "--faceset", faces)
    assert code == 0, err
    assert "answers: decision" in out and "live iff the label at 'livenessDecision' is one of realface" in out
    assert "live crops: 6, called live 6" in out and "spoof crops: 6, called live 0" in out


def test_a_score_attack_is_refused_in_one_line_naming_the_decision_attacks(service, faces, capsys, tmp_path):
    url, _ = service
    code, _, err = run_cli(capsys, "attack", *contract_args(url), "--faceset", faces, "--out", tmp_path / "run",
                           "--attack", "sparse-rs", "--queries", 50)
    assert code != 0
    line = err.strip().splitlines()[-1]
    assert "sparse-rs reads scores" in line and "answers only live or spoof" in line
    assert "pointwise" in line and "sparse-evo" in line and "Traceback" not in err


def test_sparse_evo_from_the_command_line_stores_pngs_the_service_calls_live(service, faces, capsys, tmp_path):
    url, asked = service
    out_dir = tmp_path / "run"
    before = len(asked)
    code, out, err = run_cli(capsys, "attack", *contract_args(url), "--faceset", faces, "--out", out_dir,
                             "--attack", "sparse-evo", "--queries", 250, "--limit", 4, "--seed", 2)
    assert code == 0, err
    assert "successes 4 (of 4" in out and "median pixels changed" in out
    assert "threshold: none, the target answers only live or spoof" in out
    faceset = FaceSet.load(faces)
    meta = faceset.meta.set_index("id")
    with ResultsStore(out_dir / "results.sqlite") as store:
        rows = store.attacks()
    assert len(rows) == 4 and set(rows["answer"]) == {"decision"} and rows["threshold"].isna().all()
    assert rows["queries"].le(250).all()
    spent = int(rows["queries"].sum() + rows["extra"].map(lambda e: e["verification_queries"]).sum())
    assert len(asked) - before >= spent, "every query reached the service"
    for row in rows.itertuples():
        image = faceset.images[faceset.meta["id"].to_numpy() == row.image_id][0]
        adversarial = decode_png((out_dir / row.png).read_bytes())
        assert live(adversarial), "the stored PNG is called live"
        assert int((adversarial != image).any(axis=-1).sum()) == row.pixels_changed
        start = meta.loc[row.start_image_id]
        assert start["label"] == "live" and start["subject"] != meta.loc[row.image_id, "subject"]
        trail = np.asarray(json.loads(row.l0_trajectory) if isinstance(row.l0_trajectory, str) else row.l0_trajectory)
        assert np.all(np.diff(trail[:, 1]) <= 0) and trail[-1].tolist() == [row.queries, row.pixels_changed]
        # At least the true minimum, and (amplified pixels are white where the rule rewards it) near it.
        assert minimal_pixels(image) <= row.pixels_changed <= 2 * minimal_pixels(image) + 2, row.image_id


def test_an_unknown_label_stops_the_run_in_one_line_and_keeps_what_was_stored(service, faces, capsys, tmp_path):
    url, _ = service
    out_dir = tmp_path / "run"
    code, _, err = run_cli(capsys, "attack", *contract_args(url), "--faceset", faces, "--out", out_dir,
                           "--attack", "pointwise", "--queries", 60, "--limit", 2)
    assert code == 0, err
    code, _, err = run_cli(capsys, "attack", *contract_args(url, "/uncertain"), "--faceset", faces, "--out",
                           out_dir, "--attack", "pointwise", "--queries", 60, "--limit", 2)
    assert code != 0
    line = err.strip().splitlines()[-1]
    assert f"{url}/uncertain" in line and "unknown decision label 'uncertain'" in line
    with ResultsStore(out_dir / "results.sqlite") as store:
        assert len(store.attacks()) == 2, "the first attack's rows are kept"


def test_a_users_own_start_images_are_used_and_named_in_the_job(service, faces, capsys, tmp_path):
    from PIL import Image

    url, _ = service
    folder = tmp_path / "starts"
    folder.mkdir()
    for i, value in enumerate((200, 230)):
        Image.fromarray(np.full((SIZE, SIZE, 3), value, dtype=np.uint8)).save(folder / f"{i}.png")
    out_dir = tmp_path / "run"
    code, _, err = run_cli(capsys, "attack", *contract_args(url), "--faceset", faces, "--out", out_dir,
                           "--attack", "pointwise", "--queries", 40, "--limit", 2, "--starts", folder)
    assert code == 0, err
    with ResultsStore(out_dir / "results.sqlite") as store:
        rows, jobs = store.attacks(), store.jobs()
    assert set(rows["start_image_id"]) <= {0, 1} and rows["success"].all()
    attack_jobs = [s for s in jobs["settings"] if isinstance(s, dict) and "attack" in s]
    assert attack_jobs and all(len(s.get("starts", "")) == 16 for s in attack_jobs), "the starts name the job"
    (folder / "0.png").write_bytes(b"not a png")
    code, _, err = run_cli(capsys, "attack", *contract_args(url), "--faceset", faces, "--out", tmp_path / "other",
                           "--attack", "pointwise", "--queries", 40, "--limit", 2, "--starts", folder)
    assert code != 0 and "0.png" in err.strip().splitlines()[-1] and "not a readable image" in err
