"""index.html from a store filled by the test: every string escaped, tables, figures and gallery present
with every picture on disk, a synthetic run flagged and never set beside the paper, and the page opened
in headless Chromium with every image loaded and no console message (screenshot in test-artifacts/)."""

from __future__ import annotations

import contextlib
import io
import re
import shutil
import subprocess
from html.parser import HTMLParser
from pathlib import Path

import pandas as pd
import pytest

from fasrobust.report.gallery import gallery_cards
from fasrobust.report.html import render_page
from fasrobust.report.results import load_results as load_run
from fasrobust.report.tables import build_tables
from test_report_tables import N_SPOOF, make_run

ARTIFACTS = Path(__file__).resolve().parents[1] / "test-artifacts"


class _Tags(HTMLParser):
    def __init__(self):
        super().__init__()
        self.images: list[str] = []
        self.links: list[str] = []
        self.scripts = 0
        self.options: dict[str, list[str]] = {}
        self._select: str | None = None

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "img":
            self.images.append(attrs["src"])
        elif tag == "a" and not attrs.get("href", "#").startswith("#"):
            self.links.append(attrs["href"])
        elif tag == "script":
            self.scripts += 1
        elif tag == "select":
            self._select = attrs["name"]
            self.options[self._select] = []
        elif tag == "option" and self._select and attrs.get("value"):
            self.options[self._select].append(attrs["value"])


@pytest.fixture(scope="module")
def built(tmp_path_factory) -> tuple[Path, str]:
    """`fasrobust report RUN_DIR --out DIR --export csv` on the test's run: (index.html, stdout)."""
    run = make_run(tmp_path_factory.mktemp("html-run"))
    out = run.parent / f"{run.name}-report"
    code, stdout, _ = _cli("report", str(run), "--out", str(out), "--export", "csv")
    assert code == 0
    return out / "index.html", stdout


def _cli(*args: str) -> tuple[int, str, str]:
    """`fasrobust ARGS` in this process: (exit code, stdout, stderr)."""
    from fasrobust.cli import main

    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err), pytest.raises(SystemExit) as end:
        main(list(args))
    return end.value.code, out.getvalue(), err.getvalue()


@pytest.fixture(scope="module")
def report(built) -> Path:
    return built[0]


@pytest.fixture(scope="module")
def page(report) -> str:
    return report.read_text(encoding="utf-8")


def test_cli_prints_index_html_and_exports_rows(built, tmp_path):
    index, stdout = built
    assert stdout.strip().splitlines()[-1] == str(index) and index.is_file()
    attacks = pd.read_csv(index.parent / "export" / "attacks.csv")
    assert len(attacks) == 5 * N_SPOOF and {"trajectory", "perturbation", "png", "attack", "settings"} <= set(attacks.columns)
    code, _, stderr = _cli("report", str(tmp_path / "nothing"))
    assert code == 2
    assert stderr.startswith("fasrobust: error: ") and "nothing: no results.sqlite here" in stderr
    assert stderr.count("\n") == 1


def test_every_string_from_the_run_is_escaped(page):
    tags = _Tags()
    tags.feed(page)
    assert tags.scripts == 1  # our own filter script, nothing injected
    assert "<script>alert" not in page and "<img src=x" not in page and "<b>out of memory" not in page
    assert "&lt;script&gt;alert(&#x27;type&#x27;)&lt;/script&gt;" in page  # an attack type shown as text
    assert "spoof/&lt;img src=x onerror=alert(1)&gt;.avi" in page  # a source shown as text
    assert "a &lt;small&gt; spec &amp; its test" in page
    assert "&lt;b&gt;out of memory&lt;/b&gt;" in page


def test_page_has_tables_figures_gallery_and_what_is_missing(report, page):
    tags = _Tags()
    tags.feed(page)
    out = report.parent
    for src in [*tags.images, *tags.links]:
        assert (out / src).is_file(), src
    for key in ("pixels", "iterations", "trajectories", "queries"):
        assert f"figures/{key}.png" in tags.images and f"figures/{key}.pdf" in tags.links
    assert sum(src.endswith("_side.png") for src in tags.images) > 0  # the attack's own pictures
    assert sum(src.startswith("gallery/") for src in tags.images) > 0  # failures drawn from the FaceSet
    assert tags.options["pixels"] == ["1", "3", "9"]
    assert tags.options["outcome"] == ["already live", "failed", "success"]
    assert tags.options["augment"] == ["none", "all"]
    assert "Paper, Table 3: 3DMAD" in page and "SYNTHETIC" not in page
    assert '<section id="findings"><h2>Findings of the paper, tested on this run</h2>' in page
    assert "none: every model was attacked undefended" in page  # the summary says what the run did not do
    assert "attacks on 3dmad (shift, 50000 steps), 9 px, 200 iterations: 0 of 100 images attacked" in page
    assert "no extra attack" in page
    assert (out / "tables" / "tables.tex").is_file() and (out / "report.json").is_file()


def test_synthetic_run_is_flagged_and_not_set_beside_the_paper(tmp_path):
    data = load_run(make_run(tmp_path, synthetic=True))
    tables = build_tables(data)
    assert tables and all(t.paper is None for t in tables)
    out = tmp_path / "report"
    out.mkdir()
    page = render_page(data, tables, [], ["pixels: not drawn in this test"], gallery_cards(data, out, limit=3), out)
    assert "SYNTHETIC DATA" in page and "Paper, Table" not in page
    assert "figure pixels: not drawn in this test" in page


@pytest.mark.browser
def test_page_opens_in_headless_chromium(report, tmp_path):
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if chromium is None:
        pytest.skip("Debian package 'chromium' is not installed (apt-get install chromium)")
    ARTIFACTS.mkdir(exist_ok=True)
    common = [chromium, "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
              "--disable-component-update", "--disable-sync", "--no-first-run", "--enable-logging=stderr",
              "--v=0", "--virtual-time-budget=10000", "--window-size=1280,2000"]
    url = report.resolve().as_uri()
    dom = subprocess.run([*common, f"--user-data-dir={tmp_path / 'profile-dom'}", "--dump-dom", url],
                         capture_output=True, text=True, timeout=180)
    body = re.search(r"<body([^>]*)>", dom.stdout)
    assert body is not None, dom.stderr[-2000:]
    attrs = dict(re.findall(r'([\w-]+)="([^"]*)"', body.group(1)))
    loaded, total = (int(v) for v in attrs["data-images"].split("/"))
    assert total > 10 and loaded == total, attrs.get("data-broken-images")
    assert "data-errors" not in attrs
    assert re.search(r'id="gallery-count">\d+ of \d+ shown', dom.stdout)  # the filter script ran
    assert ":CONSOLE" not in dom.stderr, [line for line in dom.stderr.splitlines() if ":CONSOLE" in line]
    shot = ARTIFACTS / "report-index.png"
    shot.unlink(missing_ok=True)
    subprocess.run([*common, f"--user-data-dir={tmp_path / 'profile-shot'}", f"--screenshot={shot}", url],
                   capture_output=True, timeout=180)
    assert shot.is_file() and shot.stat().st_size > 10_000
