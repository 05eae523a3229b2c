"""Names the report shows: augmentation settings in the paper's order and wording, and the columns of
the paper's tables (Tables 3-8) with our extra ones. Shared by the data layer, tables, figures and HTML."""

from __future__ import annotations

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

#: The paper's columns (percent): before the attack ACC, HTER, precision, recall; after it recall; drop.
PAPER_METRICS = ("acc", "hter", "precision", "recall", "recall_after", "recall_drop")
#: Our extra columns.
EXTRA_METRICS = ("apcer", "bpcer", "acer", "success_verified", "median_queries", "spoofs")

TITLES = {
    "acc": "ACC (%)",
    "hter": "HTER (%)",
    "precision": "Precision (%)",
    "recall": "Recall before (%)",
    "recall_after": "Recall after (%)",
    "recall_drop": "Recall drop (%)",
    "apcer": "APCER (%)",
    "bpcer": "BPCER (%)",
    "acer": "ACER (%)",
    "success_verified": "Attack success, verified (%)",
    "median_queries": "Median queries to success",
    "spoofs": "Spoofs attacked",
}
#: Row names of Tables 7-8 (metrics down, training steps across), grouped as the paper groups them.
STEPS_ROWS = (
    ("Before attack", "acc"), ("Before attack", "hter"), ("Before attack", "precision"),
    ("Before attack", "recall"), ("After attack", "recall_after"), ("After attack", "recall_drop"),
    ("Extra", "apcer"), ("Extra", "bpcer"), ("Extra", "acer"), ("Extra", "success_verified"),
    ("Extra", "median_queries"), ("Extra", "spoofs"),
)


def augment_label(name: object) -> str:
    return AUGMENT_LABELS.get(str(name), str(name))


def augment_rank(name: object) -> int:
    """Sort key: the paper's order first, then anything else."""
    order = list(AUGMENT_LABELS)
    return order.index(str(name)) if str(name) in order else len(order)
