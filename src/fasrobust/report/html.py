"""index.html: the answer first (how many of the spoofs each model caught get through an attack, with how
many pixels and queries, and the success-against-queries figure), then the run summary, the paper's
findings tested on this run, what is missing, the tables with the paper's numbers beside ours, the other
figures and the adversarial gallery (filterable by database, augmentation, pixels and outcome).

Report stage, last step: Results + headline + tables + figures + gallery cards -> one self-contained page
(inline CSS and a few lines of plain JS, no CDN, so it works offline). Every string that comes from the run
(database names, attack types, sources, error messages, captions) goes through `esc`, so a subject
called `<script>` shows as text.
"""

from __future__ import annotations

import html
import os
import re
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from importlib import resources
from pathlib import Path

import pandas as pd

from .. import __version__
from ..paper import citation
from .columns import augment_label, augment_rank, criterion_text
from .figure_scope import UNDEFENDED
from .figures import Figure
from .findings_section import JudgedFindings, findings_html, judge_safely
from .gallery import Card
from .headline import HeadlineRow
from .results import Results
from .tables import Table

#: The figure shown with the headline, right below it.
HEADLINE_FIGURE = "success-vs-queries"


def esc(value: object) -> str:
    return html.escape(str(value), quote=True)


def render_page(data: Results, tables: Sequence[Table], figures: Sequence[Figure], skipped: Sequence[str],
                cards: Sequence[Card], out: Path, *, findings: JudgedFindings | None = None,
                headline: Sequence[HeadlineRow] = ()) -> str:
    """index.html's text; `findings` judged here when not given (build_report judges once for the page and
    report.json)."""
    template = (resources.files(__package__) / "templates" / "report.html").read_text(encoding="utf-8")
    findings = findings if findings is not None else judge_safely(data)
    first = [f for f in figures if f.key == HEADLINE_FIGURE]
    rest = [f for f in figures if f.key != HEADLINE_FIGURE]
    body = "\n".join([_synthetic_banner(data), _headline(headline, first, out), _summary(data, cards),
                      findings_html(findings), _missing(data, skipped), _tables(tables, out), _figures(rest, out),
                      _gallery(cards, data)])
    subtitle = data.spec.description or f"results of {data.run_dir}"
    marks = {"title": esc(f"fasrobust report: {data.name}"), "subtitle": esc(subtitle), "body": body,
             "footer": _footer(data)}
    # One pass over the template: a marker inside a substituted value (a description that says "{{body}}")
    # stays text, instead of being replaced by the next substitution.
    return re.sub(r"\{\{(\w+)\}\}", lambda m: marks.get(m.group(1), m.group(0)), template)


def _synthetic_banner(data: Results) -> str:
    if not data.synthetic:
        return ""
    return ('<div class="synthetic" role="alert"><strong>SYNTHETIC DATA.</strong> This run used the embedded '
            "sample database (faces from bundled photographs, simulated print and replay attacks). Its numbers "
            "show how the method behaves, not how robust any real anti-spoofing system is, and the paper's "
            "published numbers are not shown beside them.</div>")


def _headline(rows: Sequence[HeadlineRow], figures: Sequence[Figure], out: Path) -> str:
    """The answer: one row per model, defence and attack, then the success-against-queries figure. A column
    with one value in every row (one database, one model, no defence) is said once, in the caption."""
    if not rows:
        return ('<section id="headline"><h2>The answer</h2><p>No spoof image has been attacked yet: run the '
                "attacks, then build this report again.</p></section>")
    columns = {"Database": [r.database for r in rows], "Model": [r.model for r in rows],
               "Defence": [r.defence for r in rows], "Attack": _attack_labels(rows)}
    varying = {k: v for k, v in columns.items() if k == "Attack" or len(set(v)) > 1}
    fixed = [f"{k.lower()} {v[0]}" for k, v in columns.items() if k not in varying]
    head = [*varying, "Pixels", "Spoofs caught before the attack", "Called live after it (95 % interval)",
            "Median queries", "Median pixels changed", "Budget (queries)"]
    body = "".join(
        "<tr>" + "".join(f"<td>{esc(v)}</td>" for v in (
            *(values[i] for values in varying.values()), "searched per image" if r.open_pixels else r.pixels,
            f"{r.attacked} of {r.spoofs}", _share(r),
            _number(r.median_queries), _number(r.median_pixels), f"{r.query_budget:,}")) + "</tr>"
        for i, r in enumerate(rows))
    criteria = "; ".join(sorted({r.criterion for r in rows}))
    table = (f'<div class="scroll"><table class="headline"><thead><tr>{"".join(f"<th>{esc(h)}</th>" for h in head)}'
             f"</tr></thead><tbody>{body}</tbody></table></div>")
    caption = ((f"In every row: {', '.join(fixed)}. " if fixed else "")
               + "Of the spoof images each model caught (called spoof before the attack), the share the attack made "
               f"it call live, at the budget the attack ran with ({criteria}); successes re-verified from the saved "
               "PNG through the same pipeline. Median queries and pixels changed are over those successes. Wilson "
               "95 % intervals.")
    return (f'<section id="headline"><h2>The answer</h2><p class="caption">{esc(caption)}</p>{table}'
            f"{_figures(figures, out, section=False)}</section>")


def _attack_labels(rows: Sequence[HeadlineRow]) -> list[str]:
    """Each row's attack by name, with its other settings only where one attack ran with several."""
    settings = {}
    for r in rows:
        settings.setdefault(r.attack, set()).add(r.setting)
    return [r.setting if len(settings[r.attack]) > 1 else r.attack for r in rows]


def _share(row: HeadlineRow) -> str:
    if row.attacked == 0:
        return "no spoof to attack"
    lo, hi = row.share_ci
    return f"{row.fooled} ({row.share:.1f} %, {lo:.1f}-{hi:.1f})"


def _number(value: float) -> str:
    return "—" if value != value else f"{value:,.0f}"


def _summary(data: Results, cards: Sequence[Card]) -> str:
    attacks = data.attacks
    spoof = attacks[attacks["is_spoof"]] if len(attacks) else attacks
    kinds = data.job_counts
    facts = [("Run directory", esc(data.run_dir)), ("Experiment", esc(data.name)),
             ("Databases", _database_list(data)),
             ("Jobs finished", esc(", ".join(f"{n} {k}" for k, n in sorted(kinds.items())) or "none")),
             ("Models", esc(f"{len(data.systems)} model x test database x defence stack "
                            f"({int(data.systems['evaluated'].sum()) if len(data.systems) else 0} "
                            "evaluated)")),
             ("Attacked images", esc(f"{len(attacks):,} ({len(spoof):,} spoof), "
                                     f"{int(spoof['success'].sum()) if len(spoof) else 0:,} called live after "
                                     f"the attack, {int(spoof['already_live'].sum()) if len(spoof) else 0:,} "
                                     "already live before it")),
             ("Queries", esc(f"{int(attacks['queries'].sum()) if len(attacks) else 0:,}")),
             ("Failures recorded", esc(str(len(data.failures)))),
             ("Gallery", esc(f"{len(cards)} cards (capped per setting)")),
             ("Thresholds", _thresholds(data)),
             ("Defences", esc(_defences(data))),
             ("Cross-database", esc(_cross_database(data)))]
    items = "".join(f"<dt>{k}</dt><dd>{v}</dd>" for k, v in facts)
    return (f'<section id="summary"><h2>Summary</h2><dl class="facts">{items}</dl>'
            '<p class="caption">Every number and picture on this page is rendered from results.sqlite in the '
            "run directory; building the report re-runs nothing.</p></section>")


def _thresholds(data: Results) -> str:
    """The criteria in use: the attacks' stored ones, the paper's 0.5 for the clean metrics, and the EER
    thresholds the evaluations chose on a dev split."""
    systems = data.systems
    chosen = sorted({f"{t:.3g} ({source})" for t, source in zip(systems["eer_threshold"], systems["threshold_source"],
                                                               strict=True) if t == t})
    eer = ", ".join(chosen) if chosen else "none stored"
    attacks = criterion_text(data.attacks) if len(data.attacks) else "no attack stored"
    return esc(f"attacks: {attacks}. 0.5 for the paper's clean columns (ACC, precision, recall, HTER at 0.5, "
               "APCER/BPCER/ACER); the EER threshold chosen on the dev split (of the training database, for a "
               "cross-database row) for the field's HTER column only: " + eer)


def _defences(data: Results) -> str:
    stacks = set(data.systems["defence"]) | (set(data.attacks["defence"]) if len(data.attacks) else set())
    shown = sorted(stacks - {UNDEFENDED})
    return ("; ".join(shown) + " (and undefended)") if shown else "none: every model was attacked undefended"


def _cross_database(data: Results) -> str:
    frames = [data.systems[["train_database", "database"]]]
    if len(data.attacks):
        frames.append(data.attacks[["train_database", "database"]])
    pairs = {(t, d) for frame in frames for t, d in zip(frame["train_database"], frame["database"], strict=True)
             if isinstance(t, str) and t and t != d}
    shown = [f"trained on {t}, tested on {d}" for t, d in sorted(pairs, key=str)]
    return "; ".join(shown) if shown else "none: every model was tested on its own database"


def _database_list(data: Results) -> str:
    names = sorted(set(data.databases) | set(attacks_db for attacks_db in data.attacks.get("database", [])))
    parts = []
    for name in names:
        info = data.databases.get(name)
        text = name
        if info is not None:
            text += "" if info.source == name else f" (from {info.source})"
            text += " SYNTHETIC" if info.synthetic else ""
            splits = info.counts if isinstance(info.counts, dict) else {}
            text += "".join(f"; {split}: " + ", ".join(f"{n:,} {label}" for label, n in sorted(c.items()))
                            for split, c in splits.items() if isinstance(c, dict))
        parts.append(esc(text))
    return "<br>".join(parts) or "none"


def _missing(data: Results, skipped: Sequence[str]) -> str:
    items = [*data.missing, *(f"figure {s}" for s in skipped)]
    failures = [f"{row.job_id}: {str(row.message).strip().splitlines()[-1] if str(row.message).strip() else ''}"
                for row in data.failures.itertuples()]
    if not items and not failures:
        return ('<section id="missing"><h2>Missing</h2><p>Nothing: every planned job is finished.</p></section>')
    parts = ['<section id="missing"><h2>Missing</h2>',
             "<p>This run is not complete: what is shown comes from the jobs that finished. Run the same "
             "command again to resume.</p>" if data.missing else ""]
    if items:
        parts.append('<ul class="missing">' + "".join(f"<li>{esc(i)}</li>" for i in items) + "</ul>")
    if failures:
        parts.append("<h3>Failed attempts</h3><ul>" + "".join(f"<li>{esc(f)}</li>" for f in failures[-30:])
                     + "</ul>")
    return "".join(parts) + "</section>"


def _tables(tables: Sequence[Table], out: Path) -> str:
    if not tables:
        return '<section id="tables"><h2>Tables</h2><p>No attack rows yet, so no table.</p></section>'
    parts = ['<section id="tables"><h2>Tables</h2>']
    for table in tables:
        links = " ".join(f'<a href="tables/{esc(table.key)}{suffix}">{label}</a>'
                         for suffix, label in ((".csv", "CSV"), (".md", "Markdown"), (".tex", "LaTeX"))
                         if (out / "tables" / f"{table.key}{suffix}").is_file())
        parts += [f'<h3 id="table-{esc(table.key)}">{esc(table.title)}</h3>',
                  f'<p class="caption">{esc(table.caption)}</p>', _html_table(table.display),
                  f'<p class="downloads">{links}</p>']
        if table.paper is not None:
            parts += [f"<h3>{esc(table.paper.title)}</h3>", f'<p class="caption">{esc(table.paper.caption)}</p>',
                      _html_table(table.paper.display, css="paper")]
    return "".join(parts) + "</section>"


def _html_table(frame: pd.DataFrame, css: str = "") -> str:
    classes = ["text" if c in ("Stage", "Metric", "DA used") else "paper-col" if str(c).startswith("Paper")
               else "" for c in frame.columns]
    attr = [f' class="{c}"' if c else "" for c in classes]
    head = "".join(f"<th{a}>{esc(c)}</th>" for a, c in zip(attr, frame.columns, strict=True))
    rows = "".join("<tr>" + "".join(f"<td{a}>{esc(v)}</td>" for a, v in zip(attr, row, strict=True)) + "</tr>"
                   for row in frame.itertuples(index=False))
    return f'<div class="scroll"><table class="{css}"><thead><tr>{head}</tr></thead><tbody>{rows}</tbody></table></div>'


def _figures(figures: Sequence[Figure], out: Path, *, section: bool = True) -> str:
    if not section:
        return "".join(_figure(fig, out) for fig in figures)
    if not figures:
        return '<section id="figures"><h2>Figures</h2><p>No figure yet.</p></section>'
    parts = ['<section id="figures"><h2>Figures</h2>', *(_figure(fig, out) for fig in figures)]
    return "".join(parts) + "</section>"


def _figure(fig: Figure, out: Path) -> str:
    png, pdf = _rel(fig.png, out), _rel(fig.pdf, out)
    return (f'<figure id="figure-{esc(fig.key)}"><img src="{esc(png)}" alt="{esc(fig.title)}">'
            f"<figcaption><strong>{esc(fig.title)}.</strong> {esc(fig.caption)} "
            f'<a href="{esc(pdf)}">PDF</a></figcaption></figure>')


def _gallery(cards: Sequence[Card], data: Results) -> str:
    if not cards:
        return '<section id="gallery"><h2>Adversarial gallery</h2><p>No attacked image yet.</p></section>'
    filters = [("database", "database", None), ("augment", "augmentation", augment_label),
               ("defence", "defence", None), ("attack", "attack", None), ("pixels", "pixels", None),
               ("outcome", "outcome", None)]
    if len({c.facts["defence"] for c in cards}) < 2:  # an undefended run needs no defence filter
        filters = [f for f in filters if f[0] != "defence"]
    controls = "".join(_select(key, label, [c.facts[key] for c in cards], show) for key, label, show in filters)
    body = "".join(_card(c) for c in cards)
    return ('<section id="gallery"><h2>Adversarial gallery</h2>'
            '<p class="caption">Each picture: the original face | the adversarial face | the changed pixels '
            "ringed on the dimmed original, enlarged with nearest-neighbour scaling. Attack succeeded = the "
            f"spoof face is called live after the attack ({esc(criterion_text(data.attacks))}); successes were "
            "re-checked from the saved PNG through the same pipeline, defences included.</p>"
            f'<div id="gallery-filters">{controls}<span id="gallery-count"></span></div>'
            f'<div class="cards">{body}</div></section>')


def _select(key: str, label: str, values: Iterable[object], show=None) -> str:
    unique = sorted({str(v) for v in values}, key=lambda v: (augment_rank(v), _natural(v)))
    options = "".join(f'<option value="{esc(v)}">{esc(show(v) if show else v)}</option>' for v in unique)
    return f'<label>{esc(label)}<select name="{esc(key)}"><option value="">all</option>{options}</select></label>'


def _natural(text: str) -> tuple:
    return (0, int(text), "") if text.isdigit() else (1, 0, text)


def _card(card: Card) -> str:
    f = card.facts
    data_attrs = " ".join(f'data-{k}="{esc(f[k])}"' for k in ("database", "augment", "defence", "attack", "pixels",
                                                                 "outcome"))
    alt = f"image {f['image_id']}: original, adversarial, changed pixels"
    picture = (f'<img src="{esc(card.image)}" alt="{esc(alt)}">' if card.image
               else '<div class="noimg">no picture (FaceSet not found)</div>')
    badge_text = {"success": "attack succeeded", "failed": "attack failed"}.get(f["outcome"], f["outcome"])
    verified = {True: " · verified", False: " · NOT verified", None: ""}[f["verified"]]
    steps = f"{f['steps']:,} steps · " if f["steps"] is not None else ""
    lines = [f'<span class="badge {esc(f["outcome"].replace(" ", "-"))}">{esc(badge_text)}</span>{esc(verified)}',
             esc(f"P(live) {f['p_live_before']:.3f} → {f['p_live_after']:.3f} · {f['queries']:,} of "
                 f"{f['query_budget']:,} queries"),
             esc(f"{f['database']} · {augment_label(f['augment'])} · {steps}{f['attack']} · {f['pixels']} px · "
                 f"{f['budget']}" + (f" · behind {f['defence']}" if f["defence"] != UNDEFENDED else "")),
             f'<span class="muted">{esc(f["attack_type"])} · {esc(f["source"])} · id {f["image_id"]}</span>']
    if f["note"]:
        lines.append(f'<span class="muted">{esc(f["note"])}</span>')
    meta = "".join(f"<div>{line}</div>" for line in lines)
    return f'<div class="card" {data_attrs}>{picture}<div class="meta">{meta}</div></div>'


def _footer(data: Results) -> str:
    now = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    return esc(f"fasrobust {__version__} · built {now} from {data.store_file} · published numbers: {citation()}")


def _rel(path: Path, out: Path) -> str:
    return Path(os.path.relpath(Path(path).resolve(), out.resolve())).as_posix()
