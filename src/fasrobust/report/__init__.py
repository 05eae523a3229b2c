"""Report stage: tables (Markdown, CSV, LaTeX), figures (PNG, PDF) and index.html with the adversarial
gallery, all rendered from a run directory's results.sqlite (the last step of the flow:
results.sqlite -> report/). `build_report(run_dir)` is the entry point; `fasrobust report` calls it.

    data.py      stored rows -> tidy frames (attack rows + job settings + model metrics), what is missing
    summary.py   recall before/after/drop, curves over pixels and iteration budgets (from trajectories)
    tables.py    the paper's Tables 3-8 layout with extra columns and the published numbers beside ours
    formats.py   Markdown, CSV, LaTeX files
    figures.py   saves the figures: figures_paper.py (Figs. 3-5, success, queries; undefended, own database,
                 the settings each study asked for), figures_defences.py (recall drop against clean ACC)
    figure_scope.py, figure_parts.py   which rows a figure draws; intervals and captions from those rows
    findings_section.py   the paper's findings judged on this run (findings.py), safely, as HTML and JSON
    gallery.py   pictures of attacked faces
    html.py      index.html
"""

from __future__ import annotations

from pathlib import Path

from ..provenance import write_bytes_atomic, write_json_atomic

REPORT_DIR = "report"


def build_report(run_dir: str | Path, *, out: str | Path | None = None) -> Path:
    """Render the report of `run_dir` into `out` (default run_dir/report/); returns index.html's path.
    Works on a partly finished run: it shows what is stored and lists what is missing."""
    from .data import load_run
    from .figures import build_figures
    from .findings_section import judge_safely
    from .formats import write_tables
    from .gallery import gallery_cards
    from .html import render_page
    from .tables import build_tables

    run_dir = Path(run_dir)
    out = Path(out) if out is not None else run_dir / REPORT_DIR
    out.mkdir(parents=True, exist_ok=True)
    data = load_run(run_dir)
    tables = build_tables(data)
    write_tables(tables, out / "tables")
    figures, skipped = build_figures(data, out / "figures")
    cards = gallery_cards(data, out)
    findings = judge_safely(data)  # once, for the page and report.json; a failure is one line in both
    page = render_page(data, tables, figures, skipped, cards, out, findings=findings)
    index = out / "index.html"
    write_bytes_atomic(index, page.encode("utf-8"))
    write_json_atomic(out / "report.json", {
        "run_dir": str(run_dir), "synthetic": data.synthetic, "attack_rows": len(data.attacks),
        "tables": [t.key for t in tables], "figures": [f.key for f in figures], "figures_skipped": skipped,
        "gallery_cards": len(cards), "missing": data.missing, "findings": list(findings.records),
        "findings_error": findings.error})
    return index


__all__ = ["REPORT_DIR", "build_report"]
