"""Names the report shows: augmentation settings in the paper's order and wording, and the columns of
the paper's tables (Tables 3-8) with our extra ones. Shared by the data layer, tables, figures and HTML."""

from __future__ import annotations

from typing import Any

#: The paper's eight settings, in the order of Tables 3-6, with the paper's row names.
AUGMENT_LABELS = {
    "none": "None DA",
    "shift": "Shift",
    "shear": "Shear",
    "zoom": "Zooming",
    "rotation": "Rotation",
    "channel_shift": "Channel shift",
    "flip": "Flipping",
    "all": "All",
}
UNKNOWN = "unknown"

#: The paper's columns (percent), all at the paper's fixed threshold 0.5: before the attack ACC, HTER,
#: precision, recall; after it recall; the drop.
PAPER_METRICS = ("acc", "hter_fixed", "precision", "recall", "recall_after", "recall_drop")
#: Our extra columns: the field's HTER at the dev EER threshold in its own column, ISO/IEC 30107-3 rates.
EXTRA_METRICS = ("hter_eer", "apcer", "bpcer", "acer", "success_verified", "median_queries", "spoofs")

TITLES = {
    "acc": "ACC @ 0.5 (%)",
    "hter_fixed": "HTER @ 0.5 (%)",
    "hter_eer": "HTER @ dev EER thr. (%)",
    "precision": "Precision @ 0.5 (%)",
    "recall": "Recall before (%)",
    "recall_after": "Recall after (%)",
    "recall_drop": "Recall drop (%)",
    "apcer": "APCER @ 0.5 (%)",
    "bpcer": "BPCER @ 0.5 (%)",
    "acer": "ACER @ 0.5 (%)",
    "success_verified": "Attack success, verified (%)",
    "median_queries": "Median queries to success",
    "model_queries": "Median model queries to success",
    "spoofs": "Spoofs attacked",
    "latency_ratio": "Inference time vs undefended (x)",
}
#: Where each metric's 95 % interval is found (tuple (lo, hi) in percent), for those that have one.
INTERVALS = {**{m: f"{m}_ci" for m in ("acc", "hter_fixed", "hter_eer", "precision", "apcer", "bpcer", "acer",
                                        "recall", "recall_after", "recall_drop", "eer", "auc")},
             "success_verified": "success_ci"}
#: Metrics counted over the attacked spoofs (their header names that set), the rest over the test split.
ATTACKED_SET = ("recall", "recall_after", "recall_drop")
#: Row names of Tables 7-8 (metrics down, training steps across), grouped as the paper groups them.
STEPS_ROWS = (
    ("Before attack", "acc"), ("Before attack", "hter_fixed"), ("Before attack", "precision"),
    ("Before attack", "recall"), ("After attack", "recall_after"), ("After attack", "recall_drop"),
    ("Extra", "hter_eer"), ("Extra", "apcer"), ("Extra", "bpcer"), ("Extra", "acer"),
    ("Extra", "success_verified"), ("Extra", "median_queries"), ("Extra", "spoofs"),
)


def title(metric: str, spoofs: int | None = None) -> str:
    """A column header; a metric over the attacked spoofs names that set ("Recall before, 20 attacked
    spoofs (%)") so it is never read as taken over the whole test split like ACC."""
    base = TITLES[metric]
    if metric not in ATTACKED_SET:
        return base
    where = f"{spoofs} attacked spoofs" if spoofs else "attacked spoofs"
    return base.replace(" (%)", f", {where} (%)")


def augment_label(name: object) -> str:
    return AUGMENT_LABELS.get(str(name), str(name))


def augment_rank(name: object) -> int:
    """Sort key: the paper's order first, then anything else."""
    order = list(AUGMENT_LABELS)
    return order.index(str(name)) if str(name) in order else len(order)


def criterion_text(rows: Any) -> str:
    """The stored criterion of attack rows, as the report says it everywhere: "called live iff P(live) >=
    0.5" (each threshold stored), or the target's own live/spoof decision for decision targets."""
    thresholds = sorted({float(t) for t in rows["threshold"] if t == t and t is not None}) if len(rows) else []
    decisions = len(rows) > 0 and "answer" in rows and (rows["answer"] == "decision").any()
    parts = [f"called live iff P(live) >= {', '.join(f'{t:g}' for t in thresholds)}"] if thresholds else []
    if decisions:
        parts.append("called live when the target's own decision says live")
    return "; ".join(parts) or "called live iff P(live) >= the target's threshold"
