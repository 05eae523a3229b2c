"""The page's "Findings of the paper, tested on this run" section and report.json's `findings`: runs
`report.findings.judge_findings(data)` once, so that a judge that fails costs one line in the section and
never the report, and renders each finding (claim, verdict badge, estimate with its interval, the test's
name, the image set, the reason or what would decide it, the paper's number beside ours, the details as a
small table) with every string escaped. A finding the run was not designed to judge (it never varied the
axis) gets one line: the verdict, why, and what would decide it. Report stage: Results -> findings ->
html.py and report.json.
"""

from __future__ import annotations

import html
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from enum import Enum
from typing import Any

from .findings import judge_findings
from .results import Results

TITLE = "Findings of the paper, tested on this run"
MISSING = "—"


class VerdictStyle(Enum):
    """The badge colour of each verdict (`Finding.verdict.value`)."""

    HOLDS = "holds"
    DOES_NOT_HOLD = "does not hold"
    CANNOT_BE_JUDGED = "cannot be judged"

    @classmethod
    def css(cls, verdict: Any) -> str:
        value = str(getattr(verdict, "value", verdict))
        known = {v.value: v.name.lower().replace("_", "-") for v in cls}
        return known.get(value, "unknown")


@dataclass(frozen=True)
class JudgedFindings:
    findings: Sequence[Any] = field(default_factory=tuple)  # report.findings.Finding objects
    records: Sequence[dict[str, Any]] = field(default_factory=tuple)  # their as_json(), for report.json
    error: str | None = None  # one line when the judge is missing or failed


def judge_safely(data: Results, judge: Callable[[Results], Sequence[Any]] | None = None) -> JudgedFindings:
    """The findings of `judge` (default: report.findings.judge_findings), or the one-line reason there are none."""
    judge = judge or judge_findings
    try:
        findings = list(judge(data))
        records = [f.as_json() for f in findings]  # a finding that cannot be written counts as a failure
    except Exception as error:  # noqa: BLE001  any failure in the judge must leave the rest of the report intact
        return JudgedFindings(error=f"judging the findings failed: {type(error).__name__}: {_first_line(error)}")
    return JudgedFindings(findings, records)


def findings_html(judged: JudgedFindings) -> str:
    head = f'<section id="findings"><h2>{html.escape(TITLE)}</h2>'
    if judged.error:
        return f'{head}<p class="findings-error">{_esc(judged.error)}</p></section>'
    if not judged.findings:
        return f"{head}<p>No finding was judged (no attack rows yet).</p></section>"
    intro = ('<p class="caption">Each of the paper\'s findings is tested on this run\'s own rows with the named '
             "test; an estimate is ours with its 95 % interval, beside the paper's number where the database is one "
             "of the paper's. &ldquo;Cannot be judged&rdquo; says why and what would decide it.</p>")
    tested = [f for f in judged.findings if getattr(f, "designed", True)]
    others = [f for f in judged.findings if not getattr(f, "designed", True)]
    cards = '<div class="findings">' + "".join(_finding(f) for f in tested) + "</div>" if tested else ""
    lines = ""
    if others:
        lines = ('<ul class="not-designed">' + "".join(f"<li>{_one_line(f)}</li>" for f in others) + "</ul>")
    return head + intro + cards + lines + "</section>"


def _one_line(finding: Any) -> str:
    """ "Longer training ...: cannot be judged: this run trains one step count (100) per setting; a study
    whose grid varies steps ...": a finding the run never varied the axis of."""
    verdict = getattr(finding, "verdict", None)
    return (f'<span class="verdict {VerdictStyle.css(verdict)}">{_esc(getattr(verdict, "value", verdict))}</span> '
            f"{_esc(_get(finding, 'claim'))} {_esc(_get(finding, 'reason'))}; {_esc(_get(finding, 'decide'))}.")


def _finding(finding: Any) -> str:
    verdict = getattr(finding, "verdict", None)
    shown = str(getattr(verdict, "value", verdict))
    facts = [("Test", _get(finding, "test")), ("Estimate", _estimate(finding)),
             ("Images", _get(finding, "n_images")), ("Image set", _get(finding, "image_set")),
             ("Paper", _get(finding, "paper")), ("Reason", _get(finding, "reason")),
             ("What would decide it", _get(finding, "decide"))]
    rows = "".join(f"<dt>{_esc(k)}</dt><dd>{_esc(v)}</dd>" for k, v in facts if v != MISSING)
    details = details_table(getattr(finding, "details", None) or {})
    if details:
        rows += f"<dt>Details</dt><dd>{details}</dd>"
    return (f'<div class="finding" id="finding-{_esc(_get(finding, "key"))}">'
            f'<p class="claim"><span class="verdict {VerdictStyle.css(verdict)}">{_esc(shown)}</span> '
            f"{_esc(_get(finding, 'claim'))}</p><dl class=\"facts\">{rows}</dl></div>")


def details_table(details: Mapping[str, Any]) -> str:
    """A finding's details as a small table: one row per entry; an entry that maps settings to numbers
    (recall drop per pixel count ...) becomes a row of its own little table."""
    rows = []
    for key, value in details.items():
        if value is None or (isinstance(value, Mapping) and not value):
            continue
        if isinstance(value, Mapping):
            head = "".join(f"<th>{_esc(k)}</th>" for k in value)
            cells = "".join(f"<td>{_esc(_text(v))}</td>" for v in value.values())
            shown = f'<table class="mini"><tr>{head}</tr><tr>{cells}</tr></table>'
        else:
            shown = _esc(_text(value))
        rows.append(f"<tr><th>{_esc(key)}</th><td>{shown}</td></tr>")
    return f'<table class="details">{"".join(rows)}</table>' if rows else ""


def _estimate(finding: Any) -> str:
    value, interval = getattr(finding, "estimate", None), getattr(finding, "interval", None)
    unit = getattr(finding, "unit", None)
    text = _text(value) + (f" {unit}" if unit and value is not None else "")
    if interval is not None and _text(interval) != MISSING:
        text += f" (95 % interval {_text(interval)})"
    return text


def _get(finding: Any, name: str) -> str:
    return _text(getattr(finding, name, None))


def _text(value: Any) -> str:
    """A finding's value as text: numbers to 2 decimals, intervals as [lo, hi], mappings as 'k: v; ...'."""
    if value is None or value == "" or (isinstance(value, float) and value != value):
        return MISSING
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return f"{value:.2f}"
    if isinstance(value, Mapping):
        return "; ".join(f"{k}: {_text(v)}" for k, v in value.items()) or MISSING
    if isinstance(value, list | tuple):
        return "[" + ", ".join(_text(v) for v in value) + "]"
    return str(getattr(value, "value", value)) if isinstance(value, Enum) else str(value)


def _first_line(error: BaseException) -> str:
    lines = [line for line in str(error).strip().splitlines() if line.strip()]
    return lines[0] if lines else "(no message)"


def _esc(value: object) -> str:
    return html.escape(str(value), quote=True)
