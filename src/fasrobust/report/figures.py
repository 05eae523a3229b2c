"""The report's figures (matplotlib, PNG and PDF): the paper's Figs. 3-5, success against queries and a
queries histogram (figures_paper.py, undefended models on their own database only), and the defence
trade-off (figures_defences.py, when the run attacked defended targets). Report stage: Results ->
report/figures/*.png|pdf -> index.html.

Figures are drawn on `matplotlib.figure.Figure` objects (no pyplot, no global backend state):
`draw_figures` returns them unsaved (tests count their curves), `build_figures` saves them, each with
its caption in its own image saying which data, model, threshold and budget produced it.
"""

from __future__ import annotations

import textwrap
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass
from pathlib import Path

from matplotlib.figure import Figure as MplFigure

from .figure_parts import Drawn
from .figure_scope import paper_scope
from .figures_defences import tradeoff_figure
from .figures_paper import (
    iterations_figure,
    pixels_figure,
    queries_figure,
    success_figure,
    trajectories_figure,
)
from .results import Results
from .robustness import robustness_figure
from .summary import selections


@dataclass(frozen=True)
class Figure:
    key: str
    title: str
    caption: str
    png: Path
    pdf: Path


#: The paper's figures and ours, in page order; each gets the paper scope's rows and main selections.
PAPER_FIGURES: tuple[tuple[str, Callable], ...] = (
    ("pixels", pixels_figure), ("iterations", iterations_figure), ("success-vs-queries", success_figure),
    ("trajectories", trajectories_figure), ("queries", queries_figure))


def draw_figures(data: Results, keys: Collection[str] | None = None) -> tuple[list[Drawn], list[str]]:
    """Every figure the stored rows allow (of `keys`, default all), unsaved; and, for the others, why not."""
    paper = paper_scope(data)
    attacks = paper.attacks
    chosen = {db: sels for db in (sorted(attacks["database"].unique()) if len(attacks) else [])
              if (sels := selections(paper, attacks[attacks["database"] == db], db))}
    drawn, skipped = [], []
    makers = [(key, lambda maker=maker: maker(paper, chosen) if chosen else "no undefended attack rows yet")
              for key, maker in PAPER_FIGURES]
    if _defended(data):
        makers.append(("defence-tradeoff", lambda: tradeoff_figure(data)))
    if len(data.attacks) and data.attacks["open_pixels"].astype(bool).any():
        makers.append(("robustness", lambda: robustness_figure(data.attacks)))
    for key, make in makers:
        if keys is not None and key not in keys:
            continue
        made = make()
        if isinstance(made, Drawn):
            drawn.append(made)
        else:
            skipped.append(f"{key}: {made}")
    return drawn, skipped


def _defended(data: Results) -> bool:
    return bool(len(data.attacks)) and bool((data.attacks["defence"] != "none").any())


def build_figures(data: Results, directory: Path) -> tuple[list[Figure], list[str]]:
    """Draw and save every figure the stored rows allow; returns the figures and, for the others, why not."""
    drawn, skipped = draw_figures(data)
    return save_figures(drawn, directory, synthetic=data.synthetic), skipped


def save_figures(drawn: Sequence[Drawn], directory: Path, *, synthetic: bool) -> list[Figure]:
    """PNG and PDF of each drawn figure, its title (flagged when the data is synthetic) and caption inside."""
    directory.mkdir(parents=True, exist_ok=True)
    return [_save(d, directory, synthetic) for d in drawn]


def _save(drawn: Drawn, directory: Path, synthetic: bool) -> Figure:
    fig: MplFigure = drawn.figure
    shown = ("SYNTHETIC DATA. " if synthetic else "") + drawn.title
    fig.suptitle(shown, fontsize=11, fontweight="bold", color="#a00000" if synthetic else "black")
    width, height = fig.get_size_inches()
    wrapped = "\n".join(textwrap.wrap(drawn.caption, int(width * 19)))  # ~19 characters per inch at 6.5 pt
    lines = wrapped.count("\n") + 1
    fig.set_size_inches(width, height + 0.11 * lines)  # room for the caption without squeezing the axes
    height += 0.11 * lines
    fig.text(0.01, 0.01, wrapped, fontsize=6.5, va="bottom", ha="left", color="#333333")
    caption_in = 0.11 * lines + 0.62  # caption lines + the axis label above them
    fig.subplots_adjust(bottom=caption_in / height, top=1 - 0.75 / height, hspace=0.55, wspace=0.25)
    png, pdf = directory / f"{drawn.key}.png", directory / f"{drawn.key}.pdf"
    fig.savefig(png, dpi=110)
    fig.savefig(pdf)
    return Figure(drawn.key, shown, drawn.caption, png, pdf)


__all__ = ["PAPER_FIGURES", "Drawn", "Figure", "build_figures", "draw_figures", "save_figures"]
