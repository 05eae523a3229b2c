"""A plug-in distribution extends fasrobust with no edit here: a throwaway package, installed as a
distribution on the path (a `.dist-info` with `entry_points.txt`, what pip leaves behind), registers an
attack, a defence, a target adapter and a database reader through the entry-point groups. Each one is
listed by `--help`, used from a spec by `fasrobust run` (the reader prepares the data, the adapter opens the
model, the defence stands in front of it, the attack attacks it), stored, and named in the report."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

ATTACK = '''
"""A baseline: each query writes k random pixels with random colours into the original."""
from __future__ import annotations

import time
from typing import Annotated

import numpy as np
from pydantic import Field

from fasrobust.attacks import Attack, AttackSettings, Found, register_attack
from fasrobust.attacks.settings_model import Whole


class RandomPixelsSettings(AttackSettings):
    budget_field = "queries"
    smallest_budget = 2
    pixels: Annotated[Whole, Field(ge=1, description="pixels written per query")] = 2
    queries: Annotated[Whole, Field(ge=2, description="queries per image")] = 20

    def query_budget(self) -> int:
        return self.queries


@register_attack("random-pixels", description="k random pixels of random colours per query (a plug-in)",
                 smoke={"pixels": 2, "queries": 40})
class RandomPixels(Attack):
    Settings = RandomPixelsSettings

    def _search(self, target, originals, *, keys, p_before, criterion, on_found):
        import torch

        n, h, w, _ = originals.shape
        for i in range(n):
            start = time.perf_counter()
            rng = np.random.default_rng([int(k) & 0xFFFFFFFF for k in keys[i].reshape(-1).tolist()])
            best, best_p, trail = None, 0.0, []
            for q in range(1, self.config.queries):
                rows = np.column_stack([rng.integers(0, w, self.config.pixels), rng.integers(0, h, self.config.pixels),
                                        rng.integers(0, 256, (self.config.pixels, 3))])
                image = originals[i].clone()
                image[rows[:, 1], rows[:, 0]] = torch.as_tensor(rows[:, 2:], dtype=torch.uint8)
                p = float(target(image[None])[0])
                if best is None or p > best_p:
                    best, best_p = rows, p
                    trail.append((q, 1.0 - p))
                if criterion.is_live(p):
                    break
            on_found(Found(problem=i, perturbation=best, p_live=best_p, queries=q, trajectory=np.array(trail),
                           wall_time_s=time.perf_counter() - start))
'''
DEFENCE = '''
"""Downscale by an integer factor and scale back (nearest): a crude input transformation."""
from __future__ import annotations

from typing import Annotated

from pydantic import Field

from fasrobust.defences import DefenceSettings, Transform, register_defence
from fasrobust.defences.settings_model import Whole


class DownscaleSettings(DefenceSettings):
    positional = "factor"
    factor: Annotated[Whole, Field(ge=2, le=8, description="downscale factor")] = 2


@register_defence("downscale", description="downscale by a factor and back, nearest (a plug-in)",
                  smoke={"factor": 2})
class Downscale(Transform):
    Settings = DownscaleSettings

    def transform(self, images):
        f = self.config.factor
        return images[:, ::f, ::f].repeat_interleave(f, dim=1).repeat_interleave(f, dim=2)[:, :images.shape[1],
                                                                                              :images.shape[2]]
'''
ADAPTER = '''
"""A `.lin` file: JSON weights of a linear liveness score on the mean colour, P(live) = sigmoid(w . rgb + b)."""
from __future__ import annotations

import json

import numpy as np

from fasrobust.targets import Target, register_adapter


@register_adapter("linear-json", description="a linear model on the mean colour, as JSON (a plug-in)",
                  suffixes=(".lin",), option="lin")
class LinearJson(Target):
    def __init__(self, path, contract=None, **options):
        values = json.loads(open(path).read())
        self.w, self.b = np.asarray(values["w"], dtype=np.float64), float(values["b"])
        super().__init__(name=f"lin:{path}", threshold=contract.threshold if contract else 0.5, **options)

    def _predict(self, images):
        colour = images.double().mean(dim=(1, 2)).cpu().numpy() / 255.0
        return 1.0 / (1.0 + np.exp(-(colour @ self.w + self.b)))
'''
READER = '''
"""A folder of `<label>_<subject>_<n>.png` stills with a `.face` box beside each: split by subject."""
from __future__ import annotations

from pathlib import Path

from fasrobust.data.readers.base import DatabaseReader, ScanResult, register_reader
from fasrobust.data.records import Recording, Split
from fasrobust.labels import Label

SPLITS = {"0": Split.TRAIN, "1": Split.DEV, "2": Split.TEST}


@register_reader("stills", smoke={"files": {"live_0_0.png": "", "spoof_2_0.png": ""}, "recordings": 2})
class Stills(DatabaseReader):
    description = "stills named <label>_<subject>_<n>.png, a .face beside each (a plug-in)"
    layout = "one folder of live_<subject>_<n>.png and spoof_<subject>_<n>.png"

    def _scan(self, root, protocol):
        found = []
        for path in sorted(Path(root).glob("*.png")):
            label, subject, _ = path.stem.split("_")
            face = path.with_suffix(".face")
            found.append(Recording(source=path.stem, path=path, label=Label.parse(label),
                                   attack_type="bona_fide" if label == "live" else "print", subject=subject,
                                   split=SPLITS[str(int(subject) % 3)], database="stills",
                                   annotations=face if face.is_file() else None))
        return ScanResult(found)
'''
MODULES = {"myattack": ATTACK, "mydefence": DEFENCE, "myadapter": ADAPTER, "myreader": READER}
GROUPS = {"myattack": "fasrobust.attacks", "mydefence": "fasrobust.defences", "myadapter": "fasrobust.targets",
          "myreader": "fasrobust.readers"}


@pytest.fixture(scope="module")
def plugin(tmp_path_factory) -> Path:
    """The distribution `fasrobust-myplugins`, installed as pip would leave it: its package and its
    `.dist-info` (METADATA, entry_points.txt, RECORD) in one folder on the path."""
    site = tmp_path_factory.mktemp("site")
    package = site / "fasrobust_myplugins"
    package.mkdir()
    (package / "__init__.py").write_text('"""Plug-ins for fasrobust, in no way part of it."""\n')
    for name, source in MODULES.items():
        (package / f"{name}.py").write_text(textwrap.dedent(source))
    info = site / "fasrobust_myplugins-0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: fasrobust-myplugins\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text("".join(f"[{group}]\n{name} = fasrobust_myplugins.{name}\n\n"
                                                   for name, group in GROUPS.items()))
    (info / "RECORD").write_text("")
    return site


def _cli(plugin: Path, *args: str, cwd: Path | None = None) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(plugin), os.environ.get("PYTHONPATH", "")]),
           "FASROBUST_QUIET": "1", "COLUMNS": "2000"}
    return subprocess.run([sys.executable, "-m", "fasrobust", *args], capture_output=True, text=True, env=env,
                          cwd=cwd, timeout=300)


def test_every_plug_in_is_listed_in_the_help_it_belongs_to(plugin):
    attack = _cli(plugin, "attack", "--help")
    assert attack.returncode == 0, attack.stderr
    text = " ".join(attack.stdout.split())
    assert "random-pixels (k random pixels of random colours per query" in text
    assert "downscale:2 (downscale by a factor and back" in text
    assert "--lin" in text and "linear model on the mean colour" in text
    prepare = _cli(plugin, "prepare", "--help")
    assert "stills" in " ".join(prepare.stdout.split())


def _stills(root: Path) -> Path:
    """Six subjects, live stills bright and spoof stills dark, each with its face box."""
    rng = np.random.default_rng(0)
    root.mkdir()
    for subject in range(6):
        for label, level in (("live", 170), ("spoof", 90)):
            for n in range(3):
                image = np.clip(rng.normal(level, 12, (40, 40, 3)), 0, 255).astype(np.uint8)
                Image.fromarray(image).save(root / f"{label}_{subject}_{n}.png")
                (root / f"{label}_{subject}_{n}.face").write_text("0 4 4 32 32\n")
    return root


def test_a_spec_runs_each_plug_in_and_the_report_names_them(plugin, tmp_path):
    data = _stills(tmp_path / "stills")
    (tmp_path / "model.lin").write_text(json.dumps({"w": [6.0, 6.0, 6.0], "b": -6.4}))
    spec = {"name": "plugins", "data_root": str(tmp_path),
            "databases": [{"name": "stills", "prepare": {"database": "stills", "root": str(data), "size": 16,
                                                          "frames_per_video": 1, "detector": "annotations"}}],
            "grid": {"augment": [], "attacks": [{"name": "random-pixels", "pixels": [4], "queries": [40]}],
                     "defences": [[], ["downscale:2"]]},
            "targets": [{"name": "lin", "source": "model.lin", "database": "stills"}],
            "images": {"split": "test", "labels": "spoof"}, "outputs": {"tables": [], "figures": []}}
    (tmp_path / "spec.json").write_text(json.dumps(spec))
    done = _cli(plugin, "run", str(tmp_path / "spec.json"), "--out", str(tmp_path / "run"), cwd=tmp_path)
    assert done.returncode == 0, done.stderr[-2000:]
    db = sqlite3.connect(tmp_path / "run" / "results.sqlite")
    rows = db.execute("SELECT attack, COUNT(*), SUM(success) FROM attacks GROUP BY attack").fetchall()
    stacks = {s for (s,) in db.execute("SELECT json_extract(settings, '$.defences') FROM jobs WHERE kind='attack'")}
    db.close()
    assert rows and rows[0][0] == "random-pixels" and rows[0][1] == 2 * 6, rows  # 6 test spoofs, two stacks
    assert rows[0][2] >= 1, "the dark spoofs are close enough to the threshold for 4 pixels to flip some"
    assert {None if s is None else json.dumps(json.loads(s), sort_keys=True) for s in stacks} == \
        {None, json.dumps([{"factor": 2, "name": "downscale"}], sort_keys=True)}
    page = (tmp_path / "run" / "report" / "index.html").read_text()
    assert "random-pixels" in page and "downscale:2" in page and "lin (external)" in page
