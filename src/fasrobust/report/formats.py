"""Tables as files: Markdown (for a README or an issue), CSV (numbers, for a spreadsheet) and LaTeX (for
a paper; every special character escaped). Report stage: tables.py builds `Table`s, this writes them
under report/tables/, one file per table and format plus tables.md and tables.tex with all of them."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import pandas as pd

from ..provenance import write_bytes_atomic
from .tables import MISSING, Table

_LATEX_SPECIAL = {"\\": r"\textbackslash{}", "&": r"\&", "%": r"\%", "$": r"\$", "#": r"\#", "_": r"\_",
                  "{": r"\{", "}": r"\}", "~": r"\textasciitilde{}", "^": r"\textasciicircum{}",
                  "<": r"\textless{}", ">": r"\textgreater{}", MISSING: "--"}


def latex_escape(text: object) -> str:
    return "".join(_LATEX_SPECIAL.get(c, c) for c in str(text))


def markdown_escape(text: object) -> str:
    """Pipes would end a cell, newlines the row, and `<` could open an HTML tag where it is rendered."""
    return str(text).replace("\\", "\\\\").replace("|", "\\|").replace("\n", " ").replace("<", "&lt;")


def to_markdown(table: Table) -> str:
    lines = [f"### {markdown_escape(table.title)}", "", markdown_escape(table.caption), "",
             _markdown_grid(table.display)]
    if table.paper is not None:
        lines += ["", f"**{markdown_escape(table.paper.title)}.** {markdown_escape(table.paper.caption)}", "",
                  _markdown_grid(table.paper.display)]
    return "\n".join(lines) + "\n"


def _markdown_grid(frame: pd.DataFrame) -> str:
    header = "| " + " | ".join(markdown_escape(c) for c in frame.columns) + " |"
    rule = "|" + "|".join("---" if i == 0 else "---:" for i in range(len(frame.columns))) + "|"
    body = ["| " + " | ".join(markdown_escape(v) for v in row) + " |" for row in frame.itertuples(index=False)]
    return "\n".join([header, rule, *body])


def to_latex(table: Table) -> str:
    parts = [_latex_table(table.display, table.title, table.caption)]
    if table.paper is not None:
        parts.append(_latex_table(table.paper.display, table.paper.title, table.paper.caption))
    return "\n".join(parts)


def _latex_table(frame: pd.DataFrame, title: str, caption: str) -> str:
    text_columns = sum(1 for c in frame.columns if frame[c].map(_is_text).all())
    spec = "l" * max(1, text_columns) + "r" * (len(frame.columns) - max(1, text_columns))
    rows = [" & ".join(latex_escape(v) for v in row) + r" \\" for row in frame.itertuples(index=False)]
    return "\n".join([
        r"\begin{table}[htbp]", r"\centering", r"\small",
        rf"\caption{{\textbf{{{latex_escape(title)}}}. {latex_escape(caption)}}}",
        rf"\begin{{tabular}}{{{spec}}}", r"\hline",
        " & ".join(latex_escape(c) for c in frame.columns) + r" \\", r"\hline",
        *rows, r"\hline", r"\end{tabular}", r"\end{table}", ""])


def _is_text(value: object) -> bool:
    """Words, not a number: a number with its interval ("81.00 [72.2, 88.1]") or its count ("(n=20)")
    is still a number, right-aligned."""
    number = str(value).split(" [")[0].split(" (n=")[0]
    text = number.replace(",", "").replace(".", "", 1).replace("-", "", 1)
    return not (text.isdigit() or number == MISSING)


def write_tables(tables: Sequence[Table], directory: Path) -> list[Path]:
    """One .md, .csv and .tex per table (and per published table beside it), plus tables.md/.tex."""
    directory.mkdir(parents=True, exist_ok=True)
    written = []
    for table in tables:
        for suffix, text in ((".md", to_markdown(table)), (".tex", to_latex(table)),
                             (".csv", table.values.to_csv(index=False, float_format="%.4f"))):
            written.append(_write(directory / f"{table.key}{suffix}", text))
        if table.paper is not None:
            written.append(_write(directory / f"{table.paper.key}.csv", table.paper.values.to_csv(index=False)))
    header = "# fasrobust report tables\n\nEvery number comes from results.sqlite; see index.html for figures.\n\n"
    written.append(_write(directory / "tables.md", header + "\n".join(to_markdown(t) for t in tables)))
    written.append(_write(directory / "tables.tex", "% needs no LaTeX package beyond the standard classes\n"
                          + "\n".join(to_latex(t) for t in tables)))
    return written


def _write(path: Path, text: str) -> Path:
    write_bytes_atomic(path, text.encode("utf-8"))
    return path
