"""Report stage: the answer, tables (Markdown, CSV, LaTeX), figures (PNG, PDF) and index.html with the
adversarial gallery, all rendered from a run directory's stored rows (the last step of the flow:
results.sqlite -> report/). `build_report(run_dir)` is the entry point; the `run`, `demo`, `attack` and
`report` commands call it.

    results/     the results reader: the only code that opens the store, plan, spec and metrics; tidy frames
    headline.py  the answer first: how many caught spoofs get through, with how many pixels and queries
    summary.py   recall before/after/drop, curves over pixels and budgets, the one budget policy
    tables.py    the paper's Tables 3-8 layout with extra columns and the published numbers beside ours;
                 defence_tables.py, cross_database.py
    goal.py      the countermeasure goal (the defence table's flag, the trade-off figure)
    findings/    the paper's five findings judged on this run, one module each; findings_section.py renders
    figures.py   saves the figures: figures_paper.py (Figs. 3-5, success, queries), figures_defences.py
    gallery.py   pictures of attacked faces
    formats.py   Markdown, CSV, LaTeX files
    html.py      index.html
"""

from __future__ import annotations

from pathlib import Path

from ..experiments.run_dir import RunDir
from ..provenance import write_bytes_atomic, write_json_atomic


def build_report(run_dir: str | Path, *, out: str | Path | None = None) -> Path:
    """Render the report of `run_dir` into `out` (default run_dir/report/); returns index.html's path.
    Works on a partly finished run: it shows what is stored and lists what is missing."""
    from .figures import build_figures
    from .findings_section import judge_safely
    from .formats import write_tables
    from .gallery import gallery_cards
    from .headline import headline_rows
    from .html import render_page
    from .results import load_results
    from .tables import build_tables

    data = load_results(run_dir)
    out = Path(out) if out is not None else RunDir(run_dir).report_dir
    out.mkdir(parents=True, exist_ok=True)
    headline = headline_rows(data)
    tables = build_tables(data)
    write_tables(tables, out / "tables")
    figures, skipped = build_figures(data, out / "figures")
    cards = gallery_cards(data, out)
    findings = judge_safely(data)  # once, for the page and report.json; a failure is one line in both
    page = render_page(data, tables, figures, skipped, cards, out, findings=findings, headline=headline)
    index = out / "index.html"
    write_bytes_atomic(index, page.encode("utf-8"))
    write_json_atomic(out / "report.json", {
        "run_dir": str(data.run_dir), "synthetic": data.synthetic, "attack_rows": len(data.attacks),
        "headline": [row.as_json() for row in headline],
        "tables": [t.key for t in tables], "figures": [f.key for f in figures], "figures_skipped": skipped,
        "gallery_cards": len(cards), "missing": data.missing, "findings": list(findings.records),
        "findings_error": findings.error})
    return index


__all__ = ["build_report"]
